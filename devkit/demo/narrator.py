"""How the demo speaks: numbered steps with a why, every command printed before it runs
and followed by its real output, every wait announced with its deadline, and a verdict.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from devkit.demo.script import DEADLINE, shown
from devkit.kubectl import Cluster, KubectlError, impersonation
from devkit.polling import wait_for

T = TypeVar("T")
WIDTH = 88


class DemoFailed(Exception):
    """A step's check did not pass; the message says what was expected."""


# What ends a step with its message (a wait running out is an AssertionError too).
STEP_FAILURES = (DemoFailed, KubectlError, AssertionError)


class Narrator:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def _print(self, text: str = "") -> None:
        print(text, flush=True)

    def bold(self, text: str) -> None:
        self._print(f"\033[1m{text}\033[0m" if self.tty else text)

    def headline(self, number: int, total: int, title: str) -> None:
        text = f"{number}/{total}  {title}"
        self._print()
        self.bold(text)
        if not self.tty:
            self._print("=" * len(text))

    def why(self, text: str) -> None:
        self._print(textwrap.fill(" ".join(text.split()), WIDTH))
        self._print()

    def command(self, line: str) -> None:
        self._print(f"$ {line}")

    def output(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self._print(f"  {line}")

    def note(self, text: str) -> None:
        self._print(f"# {text}")

    def ok(self, text: str) -> None:
        self._print(f"ok: {text}")

    def blank(self) -> None:
        self._print()

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[None]:
        """Announce a wait (what, for how long at most) and, when it ends, how long it took."""
        self.note(f"waiting up to {timeout:.0f}s for {what}")
        started = time.monotonic()
        yield
        self.ok(f"done after {time.monotonic() - started:.1f}s")

    def wait(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float = DEADLINE,
        interval: float = 0.25,
        on_tick: Callable[[], None] | None = None,
        describe: Callable[[], str] | None = None,
    ) -> T:
        """devkit's wait_for, announced."""
        with self.waiting(what, timeout):
            return wait_for(
                probe,
                timeout=timeout,
                interval=interval,
                what=what,
                on_tick=on_tick,
                describe=describe,
            )


@dataclass
class Shell:
    """kubectl as the user types it: printed (`kubectl`, not the pinned binary's path;
    impersonation last, as people write it), run, its output streamed as it comes."""

    cluster: Cluster
    narrator: Narrator

    def show(
        self,
        *args: str,
        as_user: str | None = None,
        timeout: float = 60,
        expect_failure: bool = False,
    ) -> str:
        """Run it, print it, and fail the step unless it exits as expected; its output."""
        line = shown(["kubectl", *args, *impersonation(as_user)])
        self.narrator.command(line)
        proc = self.cluster.popen(*args, as_user=as_user)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        lines = []
        try:
            assert proc.stdout is not None
            for out in proc.stdout:
                lines.append(out)
                self.narrator.output(out)
            code = proc.wait()
        except BaseException:  # interrupted: leave no kubectl behind
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        if expired.is_set():
            raise DemoFailed(f"`{line}` did not finish within {timeout:.0f}s")
        if expect_failure and code == 0:
            raise DemoFailed(f"`{line}` was expected to fail, but it succeeded")
        if not expect_failure and code != 0:
            raise DemoFailed(f"`{line}` exited {code}")
        return "".join(lines)


@dataclass
class Step:
    title: str
    why: str
    run: Callable[[], None]


def run_steps(
    narrator: Narrator,
    steps: Sequence[Step],
    finally_: Callable[[], object],
    on_failure: Callable[[], None],
) -> int:
    """Every step in order until one fails; then `finally_` (always) and the verdict
    (with `on_failure` for the evidence). 0 passed, 1 failed, 130 interrupted."""
    started = time.monotonic()
    failed: tuple[int, str] | None = None
    interrupted = False
    current = 0
    try:
        for current, step in enumerate(steps, 1):
            narrator.headline(current, len(steps), step.title)
            narrator.why(step.why)
            try:
                step.run()
            except STEP_FAILURES as exc:
                failed = (current, str(exc))
                break
    except KeyboardInterrupt:
        failed, interrupted = (current, "interrupted"), True
    finally:
        finally_()
    elapsed = time.monotonic() - started
    narrator.blank()
    if failed is None:
        narrator.output(f"Demo passed: {len(steps)}/{len(steps)} steps in {elapsed:.0f}s.")
        return 0
    number, message = failed
    where = f"step {number}/{len(steps)} ({steps[number - 1].title})" if number else "setup"
    verdict = "INTERRUPTED" if interrupted else "FAILED"
    narrator.bold(f"DEMO {verdict} in {where} after {elapsed:.0f}s: {message}")
    on_failure()
    return 130 if interrupted else 1
