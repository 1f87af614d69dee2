"""The operator as a real process: started, stopped, SIGKILLed and restarted by tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from kubetest import REPO, Cluster, metric_sum, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        log_path: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log_path = log_path
        self.args = list(args)
        self.env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **extra_env: str) -> OperatorProcess:
        env = {**self.cluster.env, "PYTHONUNBUFFERED": "1", **self.env, **extra_env}
        cmd = [
            sys.executable,
            "-m",
            "tourniquet",
            "run",
            "-n",
            self.namespace,
            "--metrics-addr",
            f"127.0.0.1:{self.port}",
            "--resync-seconds",
            "0.5",
            "--followup-seconds",
            "1",
            *self.args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115  (the child owns it)
        log.write(f"\n=== start: {' '.join(cmd)} {extra_env or ''}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        log.close()
        wait_for(self._healthy, timeout=30, what="operator /healthz")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"operator exited {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, exact: bool = False, **labels: str) -> float:
        """Sum of the operator's samples of `name` whose labels include `labels`."""
        return metric_sum(self.metrics(), name, exact, **labels)

    def wait_metric(self, name: str, expected: float, **labels: str) -> None:
        """Metrics are observed just after the status write a test polls for: poll too."""
        wait_for(
            lambda: self.metric(name, **labels) == expected,
            timeout=15,
            what=f"{name}{labels} == {expected} (last {self.metric(name, **labels)})",
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

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
