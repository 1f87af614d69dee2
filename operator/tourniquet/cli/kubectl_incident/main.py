"""The executables: `kubectl-incident` (kubectl finds it on PATH: `kubectl incident ...`)
and `kubectl_complete-incident` (kubectl asks it for `kubectl incident <TAB>`).

Exit status: 0 done; kubectl's own (1) when kubectl or the API server refused, after
printing its message unchanged; 1 when the plugin declined before sending anything; 2 for
a bad command line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

COMPLETE = "__complete"


def _complete(words: Sequence[str]) -> int:
    # Imported here: a <TAB> must not pay for the API models unless it needs them.
    from tourniquet.cli.kubectl_incident.completion import answer
    from tourniquet.cli.kubectl_incident.listing import KubectlLister

    sys.stdout.write(answer(words, KubectlLister()))
    return 0


def run(argv: Sequence[str]) -> int:
    if argv[:1] == [COMPLETE]:
        return _complete(argv[1:])
    from tourniquet.cli.kubectl_incident.invocation import parse
    from tourniquet.cli.kubectl_incident.kubectl import Kubectl, KubectlFailed
    from tourniquet.cli.kubectl_incident.verbs import VERBS, Console, Refused

    invocation = parse(argv)
    try:
        return VERBS[invocation.verb](Kubectl(invocation.kubectl), Console(), invocation)
    except KubectlFailed as failed:
        # The API server's own words (e.g. 'approval rejected: user "mallory" is not the
        # Incident Commander ...'), as kubectl printed them.
        sys.stderr.write(failed.stderr if failed.stderr.endswith("\n") else failed.stderr + "\n")
        return failed.returncode
    except Refused as refused:
        sys.stderr.write(f"error: {refused}\n")
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    """kubectl-incident VERB ..."""
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


def complete_main() -> None:
    """kubectl_complete-incident WORDS...: what kubectl runs for `kubectl incident <TAB>`."""
    sys.exit(_complete(sys.argv[1:]))
