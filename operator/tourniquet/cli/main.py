"""`tourniquet`: `run` the operator in the foreground (what `make run` and the image
start), or `runbooks ...` (coverage and offline validation)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tourniquet.cli import flags
from tourniquet.cli import runbooks as runbook_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tourniquet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current kubeconfig")
    flags.add_run_arguments(run)
    runbook_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "runbooks":
        sys.exit(runbook_cli.main(args))
    flags.check(parser, args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    from tourniquet.shell import registration  # kopf is imported only to run the operator

    registration.run(flags.settings(args))


if __name__ == "__main__":
    main()
