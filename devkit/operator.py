"""The operator as a real process, as `make run` starts it: `python -m tourniquet run -n
NAMESPACE`, started, stopped, SIGKILLed and restarted; /metrics, /healthz and /readyz
read on a free loopback port; its log kept in a file.

It runs as whoever the kubeconfig it is given says: a `Cluster` (its kubeconfig: cluster
admin on the local control plane) or an explicit kubeconfig path, e.g. one holding only
its ServiceAccount's token (`Cluster.with_token`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from devkit.kubectl import Cluster
from devkit.metrics import labelled_sum, metric_by
from devkit.net import answers, free_port, http_get
from devkit.paths import REPO
from devkit.polling import wait_for
from devkit.process import LoggedProcess

# Short resync and follow-up periods: tests see in seconds what takes minutes in production.
FAST_TUNING = ("--resync-seconds", "0.5", "--followup-seconds", "1")

RunAs = Cluster | str | os.PathLike[str]


def kubeconfig_path(run_as: RunAs) -> str:
    """The kubeconfig a process runs with: a Cluster's, or the path given."""
    return run_as.kubeconfig if isinstance(run_as, Cluster) else os.fspath(run_as)


class OperatorProcess:
    """One `tourniquet run`, watching one namespace.

    run_as:  a Cluster or a kubeconfig path: the identity the operator acts with.
    args:    more flags, after the namespace, the metrics address and `tuning`.
    env:     more environment (fault injection: TOURNIQUET_CRASH_AT, ...). The caller's own
             TOURNIQUET_* settings are never inherited: the flags and `env` say everything.
    tuning:  FAST_TUNING for tests; () runs with the operator's defaults (demo, benchmark).
    pidfile: where the pid is recorded while it runs, so that a later run can stop an
             operator a killed one left behind (`stop_orphan`).
    """

    def __init__(
        self,
        run_as: RunAs,
        namespace: str,
        log_path: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        tuning: Sequence[str] = FAST_TUNING,
        python: str = sys.executable,
        pidfile: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig_path(run_as)
        self.namespace = namespace
        self.log_path = log_path
        self.args = [*tuning, *args]
        self.env = dict(env or {})
        self.python = python
        self.pidfile = pidfile
        self.port = free_port()
        self.started_at = 0.0
        self.process: LoggedProcess | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "tourniquet",
            "run",
            *(["-n", self.namespace] if self.namespace else ["-A"]),  # "": every namespace
            "--metrics-addr",
            f"127.0.0.1:{self.port}",
            *self.args,
        ]

    def environment(self, extra_env: Mapping[str, str]) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("TOURNIQUET_")}
        return {
            **inherited,
            "KUBECONFIG": self.kubeconfig,
            "PYTHONUNBUFFERED": "1",
            **self.env,
            **extra_env,
        }

    # -- the process ---------------------------------------------------------------------

    def start(
        self,
        *,
        wait: bool = True,
        timeout: float = 30,
        extra_env: Mapping[str, str] | None = None,
    ) -> OperatorProcess:
        """Start it (with `extra_env` on top of `env`); with wait=True, until /healthz
        answers (an exit meanwhile fails at once, with the log)."""
        extra_env = dict(extra_env or {})
        self.process = LoggedProcess(
            "operator",
            self.command,
            self.log_path,
            env=self.environment(extra_env),
            cwd=REPO,
            new_session=True,
        ).start(note=" ".join(f"{k}={v}" for k, v in extra_env.items()))
        self.started_at = time.monotonic()
        if self.pidfile is not None:
            self.pidfile.parent.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{self.pid}\n")
        if wait:
            self.wait_healthy(timeout)
        return self

    def restart(self, extra_env: Mapping[str, str] | None = None) -> OperatorProcess:
        """SIGTERM, then the same operator again, on the same port."""
        self.stop()
        return self.start(extra_env=extra_env)

    @property
    def pid(self) -> int:
        assert self.process is not None, "the operator was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def alive(self) -> bool:
        """True while it runs; ProcessExited (an AssertionError, with the log) after."""
        return self.process is not None and self.process.alive()

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None, "the operator was never started"
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        if self.process is not None:
            self.process.kill()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (kopf stops gracefully), then wait; the exit code, or None when it had
        to be SIGKILLed after `timeout` seconds."""
        if self.process is None:
            return None
        code = self.process.stop(timeout)
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)
        return code

    def log(self) -> str:
        return self.process.log() if self.process is not None else ""

    def log_tail(self, lines: int = 40) -> str:
        if self.process is None:
            return "(the operator was never started)"
        return self.process.log_tail(lines)

    # -- its endpoints -------------------------------------------------------------------

    def get(self, path: str, timeout: float = 5) -> str:
        return http_get(f"{self.base_url}{path}", timeout)

    def healthy(self) -> bool:
        return answers(f"{self.base_url}/healthz")

    def ready(self) -> bool:
        return answers(f"{self.base_url}/readyz")

    def wait_healthy(self, timeout: float = 30) -> None:
        wait_for(
            lambda: self.alive() and self.healthy(),
            timeout=timeout,
            interval=0.05,
            what=f"operator /healthz (log: {self.log_path})",
        )

    def metrics(self) -> str:
        return self.get("/metrics")

    def metric(self, name: str, exact: bool = False, **labels: str) -> float:
        """Sum of the operator's samples of `name` whose labels include `labels`."""
        return labelled_sum(self.metrics(), name, labels, exact)

    def metric_by(self, name: str, *label_names: str) -> Counter[tuple[str, ...]]:
        return metric_by(self.metrics(), name, *label_names)

    def wait_metric(self, name: str, expected: float, **labels: str) -> None:
        """Metrics are observed just after the status write a test polls for: poll too."""
        wait_for(
            lambda: labelled_sum(self.metrics(), name, labels) == expected,
            timeout=15,
            what=f"{name}{labels} == {expected}",
            describe=lambda: str(labelled_sum(self.metrics(), name, labels)),
        )

    def writes_during(self, reconciles: int) -> float:
        """Status and Deployment writes made while `reconciles` more reconciles ran."""
        writes = self.metric("tourniquet_api_requests_total", verb="patch")
        target = self.metric("tourniquet_reconciles_total") + reconciles
        wait_for(
            lambda: self.metric("tourniquet_reconciles_total") >= target,
            timeout=60,
            what=f"{reconciles} reconciles",
        )
        return self.metric("tourniquet_api_requests_total", verb="patch") - writes


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def runs_operator_for(pid: int, namespace: str) -> bool:
    """Whether `pid` is a `tourniquet run -n NAMESPACE` (Linux /proc)."""
    args = _cmdline(pid)
    return "tourniquet" in args and "run" in args and namespace in args


def stop_orphan(pidfile: Path, namespace: str, timeout: float = 30) -> int | None:
    """Stop the operator a killed run left behind, recorded in `pidfile` and checked to be
    that very command line; the pid stopped, or None when there was none."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return None
    stopped = None
    if runs_operator_for(pid, namespace):
        os.kill(pid, signal.SIGTERM)
        wait_for(
            lambda: not runs_operator_for(pid, namespace),
            timeout=timeout,
            interval=0.1,
            what=f"the old operator (pid {pid}) to exit",
        )
        stopped = pid
    pidfile.unlink(missing_ok=True)
    return stopped
