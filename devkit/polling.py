"""Waiting with a deadline: every wait in the harness is a poll that says, when it gives
up, what it waited for and what it saw last. Never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from devkit.kubectl import KubectlError

T = TypeVar("T")

POLL_INTERVAL = 0.25


class WaitTimeout(AssertionError, TimeoutError):
    """A wait ran out of time. An AssertionError, so pytest reports it as a test failure;
    a TimeoutError, so a script can catch it by its meaning."""


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 60,
    interval: float = POLL_INTERVAL,
    what: str = "condition",
    retry_on: tuple[type[BaseException], ...] = (KubectlError,),
    on_tick: Callable[[], None] | None = None,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns something truthy and return that, or raise
    WaitTimeout after `timeout` seconds with the last value seen (or `describe()`).

    An exception in `retry_on` from the probe counts as "not yet" (a kubectl call failing
    while the API server settles); any other exception ends the wait at once, which is how
    a probe fails fast (the operator exited, the undo was refused). `on_tick` runs between
    attempts, for checks of the same kind."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except retry_on as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            seen = describe() if describe is not None else repr(last)
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}; last: {seen}")
        if on_tick is not None:
            on_tick()
        time.sleep(interval)


def next_second() -> None:
    """Kubernetes timestamps have one-second resolution: rollouts in the same second tie
    (Tourniquet then orders them by name). Whatever relies on order crosses a second."""
    start = int(time.time())
    wait_for(lambda: int(time.time()) > start, timeout=2, interval=0.05, what="the next second")
