"""A background process with its output in a log file: started, checked, stopped
(SIGTERM, then SIGKILL when it does not exit in time) or killed outright."""

from __future__ import annotations

import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class ProcessExited(AssertionError):
    """The process ended while it was expected to run; the message ends with its log."""


class LoggedProcess:
    """`argv` with stdout and stderr appended to `log_path`; each start is headed by a
    `=== start: ...` line, so one log tells the story of every restart."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        # Its own session: a Ctrl-C in the terminal reaches only the caller, which then
        # stops the process in its own order.
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, note: str = "") -> LoggedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start: {shlex.join(self.argv)} {note}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=self.new_session,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        """True while it runs; ProcessExited (with its log) once it has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise ProcessExited(f"{self.name} exited {self.proc.returncode}:\n{self.log_tail(60)}")
        return True

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """`sig`, then wait; its exit code, or None when it had to be SIGKILLed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self, limit: int | None = None) -> str:
        """The log (its last `limit` characters)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if limit is None else text[-limit:]

    def log_tail(self, lines: int = 40) -> str:
        tail = self.log().splitlines()[-lines:]
        return "\n".join(tail) or f"(the {self.name} log {self.log_path} is empty)"
