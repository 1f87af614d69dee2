"""`make demo` (python -m devkit.demo, from the repository)."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

from devkit.demo.narrator import Narrator, run_steps
from devkit.demo.plan import steps
from devkit.demo.session import Session


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    # SIGTERM (a CI timeout, `kill`) stops the demo like Ctrl-C: the operator is stopped too.
    signal.signal(signal.SIGTERM, _interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="tourniquet-demo-"))
    session = Session(Narrator(sys.stdout.isatty()), workdir)
    return run_steps(
        session.narrator,
        steps(session),
        finally_=session.stop_operator,
        on_failure=session.show_operator_log,
    )


if __name__ == "__main__":
    sys.exit(main())
