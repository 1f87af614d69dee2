"""Crash points for the restart tests: the operator kills itself with SIGKILL at a named step.

Set TOURNIQUET_CRASH_AT to a step name (e.g. after-claim, after-undo-patch). Unset,
as in production, every call is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys


def crash_point(step: str) -> None:
    if os.environ.get("TOURNIQUET_CRASH_AT") == step:
        print(f"tourniquet: crash point {step!r} reached: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


async def hold_point(step: str) -> None:
    """Wait at `step` while the file TOURNIQUET_HOLD_FILE exists (after creating
    `<file>.reached`), so a test can change the cluster at exactly that moment."""
    if os.environ.get("TOURNIQUET_HOLD_AT") != step:
        return
    hold = os.environ.get("TOURNIQUET_HOLD_FILE", "")
    if not hold:
        return
    with open(f"{hold}.reached", "w") as marker:
        marker.write(step)
    while os.path.exists(hold):
        await asyncio.sleep(0.05)
