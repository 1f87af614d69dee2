"""What the demo's steps share: the cluster, the operator, the files it writes, and
waits that fail at once when the operator dies meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from devkit.demo.narrator import DemoFailed, Narrator, Shell
from devkit.demo.script import INCIDENT, NAMESPACE, shown
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.paths import cache_root

T = TypeVar("T")


def required(part: T | None, missing: str) -> T:
    if part is None:
        raise DemoFailed(missing)
    return part


@dataclass
class Session:
    narrator: Narrator
    workdir: Path
    cluster: Cluster | None = None
    operator: OperatorProcess | None = None
    suspect_revision: int = 0

    @property
    def c(self) -> Cluster:
        """The cluster, for the demo's own (unprinted) checks and polls."""
        return required(self.cluster, "the control plane is not up (step 1 did not run)")

    @property
    def k(self) -> Shell:
        """kubectl, printed with its output: what the viewer is meant to see."""
        return Shell(self.c, self.narrator)

    @property
    def op(self) -> OperatorProcess:
        return required(self.operator, "the operator is not running (step 3 did not run)")

    @property
    def pidfile(self) -> Path:
        """Where the running demo's operator is recorded: a demo killed with SIGKILL
        leaves its operator running, and the next demo stops it."""
        return cache_root() / "demo-operator.pid"

    def operator_alive(self) -> None:
        op = self.operator
        if op is not None and op.process is not None and not op.running:
            raise DemoFailed(f"the operator exited unexpectedly (code {op.returncode})")

    def wait(self, what: str, probe: Callable[[], T | None], **kwargs: Any) -> T:
        """A narrated wait, failing at once if the operator dies meanwhile."""
        return self.narrator.wait(what, probe, on_tick=self.operator_alive, **kwargs)

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(text)
        return path

    def cat(self, path: Path) -> None:
        self.narrator.command(shown(["cat", str(path)]))
        self.narrator.output(path.read_text())

    def incident(self) -> dict[str, Any]:
        obj = self.c.find("incident", INCIDENT, NAMESPACE)
        return obj if isinstance(obj, dict) else {}

    def status(self) -> dict[str, Any]:
        value = self.incident().get("status")
        return value if isinstance(value, dict) else {}

    def stop_operator(self) -> int | None:
        """SIGTERM, at most 30 s (then SIGKILL: None); the exit code."""
        if self.operator is None or not self.operator.running:
            return self.operator.returncode if self.operator else None
        return self.operator.stop(timeout=30)

    def show_operator_log(self) -> None:
        if self.operator is not None:
            print(f"\nLast lines of the operator log ({self.operator.log_path}):", flush=True)
            self.narrator.output(self.operator.log_tail())
