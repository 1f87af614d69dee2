"""`tourniquet run`: the operator in the foreground (what `make run` and the image start)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from tourniquet.alerts import settings as alert_settings
from tourniquet.cli import runbooks as runbook_cli
from tourniquet.shell.settings import Settings


def _parser() -> argparse.ArgumentParser:
    defaults = Settings.from_env()
    parser = argparse.ArgumentParser(prog="tourniquet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current kubeconfig")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    run.add_argument(
        "--metrics-addr",
        default=defaults.metrics_addr,
        help="host:port for /metrics, /healthz, /readyz [%(default)s] (TOURNIQUET_METRICS_ADDR)",
    )
    run.add_argument(
        "--approval-policy",
        default=defaults.approval_policy,
        help="ValidatingAdmissionPolicy that verifies approvals [%(default)s]",
    )
    run.add_argument(
        "--trust-unverified-approvals",
        action="store_true",
        default=defaults.trust_unverified_approvals,
        help="act on approvals even when that policy is not installed (unsafe)",
    )
    run.add_argument(
        "--rollout-timeout",
        type=float,
        default=defaults.rollout_timeout_seconds,
        help="seconds an undo's rollout may take before it is Failed [%(default)s]",
    )
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=defaults.resync_seconds,
        help="how often open incidents are re-checked [%(default)s]",
    )
    run.add_argument(
        "--followup-seconds",
        type=float,
        default=defaults.followup_seconds,
        help="how often resolved incidents are checked for postmortem deadlines [%(default)s]",
    )
    run.add_argument(
        "--timeline-limit",
        type=int,
        default=defaults.timeline_limit,
        help="entries kept in status.timeline; older ones are archived for the postmortem "
        "[%(default)s]",
    )
    run.add_argument(
        "--policy-configmap",
        default=defaults.policy_configmap,
        metavar="NAMESPACE/NAME",
        help="severity policy ConfigMap (key policy.yaml); default: the built-in playbook",
    )
    run.add_argument(
        "--policy-refresh-seconds",
        type=float,
        default=defaults.policy_refresh_seconds,
        help="how often the policy ConfigMap is re-read [%(default)s]",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate several replicas through this KopfPeering "
        "(default: standalone, one replica)",
    )
    run.add_argument("-v", "--verbose", action="store_true")
    alert_settings.add_run_arguments(run)
    runbook_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "runbooks":
        sys.exit(runbook_cli.main(args))
    alert_settings.check(parser, args)
    # The handlers read their settings at import, from the environment.
    os.environ.update(
        {
            "TOURNIQUET_METRICS_ADDR": args.metrics_addr,
            "TOURNIQUET_APPROVAL_POLICY": args.approval_policy,
            "TOURNIQUET_TRUST_UNVERIFIED_APPROVALS": "true"
            if args.trust_unverified_approvals
            else "",
            "TOURNIQUET_ROLLOUT_TIMEOUT": str(args.rollout_timeout),
            "TOURNIQUET_RESYNC_SECONDS": str(args.resync_seconds),
            "TOURNIQUET_FOLLOWUP_SECONDS": str(args.followup_seconds),
            "TOURNIQUET_TIMELINE_LIMIT": str(max(10, min(args.timeline_limit, 200))),
            "TOURNIQUET_POLICY_CONFIGMAP": args.policy_configmap,
            "TOURNIQUET_POLICY_REFRESH_SECONDS": str(args.policy_refresh_seconds),
            **alert_settings.to_env(args, args.namespace),
        }
    )
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    import kopf

    from tourniquet.shell import registration as handlers  # registers the handlers

    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        ready_flag=handlers.READY,
    )


if __name__ == "__main__":
    main()
