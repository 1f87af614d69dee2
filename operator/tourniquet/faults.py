"""Crash points for the restart tests: the operator kills itself with SIGKILL at a named step.

Set TOURNIQUET_CRASH_AT to a step name (e.g. after-claim, after-undo-patch). Unset,
as in production, every call is a no-op.
"""

from __future__ import annotations

import os
import signal
import sys


def crash_point(step: str) -> None:
    if os.environ.get("TOURNIQUET_CRASH_AT") == step:
        print(f"tourniquet: crash point {step!r} reached: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
