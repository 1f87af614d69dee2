"""The local control plane's own processes, for the tests where it fails: kill -9 one
component (kube-apiserver, etcd) of the kwokctl cluster this run uses, and start it again
exactly as kwokctl did (its command line, environment and working directory, read from
/proc before the kill; its log appended to; its pid file rewritten, so `hack/cluster.sh
down` still stops it). Only the cluster named by TOURNIQUET_CLUSTER_NAME is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from devkit.paths import cache_root
from devkit.polling import wait_for


def cluster_dir(cluster_name: str | None = None) -> Path:
    name = cluster_name or os.environ.get("TOURNIQUET_CLUSTER_NAME") or "tourniquet"
    return cache_root() / "kwok" / "clusters" / name


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str


class Component:
    """One process of the kwokctl binary runtime, by its component name."""

    def __init__(self, name: str, cluster_name: str | None = None) -> None:
        self.name = name
        self.dir = cluster_dir(cluster_name)
        self.pidfile = self.dir / "pids" / f"{name}.pid"
        self.logfile = self.dir / "logs" / f"{name}.log"
        self._launch: Launch | None = None

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except (OSError, ValueError):
            return False
        return Path(f"/proc/{self.pid}/cmdline").exists()

    def _read_launch(self, pid: int) -> Launch:
        proc = Path(f"/proc/{pid}")
        argv = proc.joinpath("cmdline").read_bytes().decode().rstrip("\0").split("\0")
        env = dict(
            item.split("=", 1)
            for item in proc.joinpath("environ").read_bytes().decode().split("\0")
            if "=" in item
        )
        assert str(self.dir) in " ".join(argv), f"pid {pid} is not {self.name} of {self.dir}"
        return Launch(argv, env, os.readlink(proc / "cwd"))

    def kill(self) -> None:
        """kill -9, and wait until it is gone."""
        pid = self.pid
        self._launch = self._read_launch(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
            ),
            timeout=10,
            interval=0.05,
            what=f"{self.name} (pid {pid}) gone",
        )

    def start(self) -> None:
        """Start it again as it was started, detached (it outlives this test run)."""
        assert self._launch is not None, f"{self.name} was not killed by this harness"
        with self.logfile.open("ab") as log:
            process = subprocess.Popen(
                self._launch.argv,
                env=self._launch.env,
                cwd=self._launch.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pidfile.write_text(f"{process.pid}\n")


COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)


class ControlPlane:
    """Every component of the cluster, supervised as kubelet or systemd would: one that
    exits (kube-controller-manager and kube-scheduler do when they lose their leader
    lease while etcd or the API server is down) is started again, unless this harness
    killed it on purpose and has not started it yet."""

    def __init__(self, cluster_name: str | None = None) -> None:
        self.components = {name: Component(name, cluster_name) for name in COMPONENTS}
        self._down: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kill(self, name: str) -> None:
        self._down.add(name)
        self.components[name].kill()

    def start(self, name: str) -> None:
        self.components[name].start()
        self._down.discard(name)

    def _revive(self) -> None:
        for name, component in self.components.items():
            if name not in self._down and component._launch is not None and not component.running():
                component.start()

    def _supervise(self) -> None:
        while not self._stop.wait(0.25):
            self._revive()

    def __enter__(self) -> ControlPlane:
        for component in self.components.values():
            if component.running():
                component._launch = component._read_launch(component.pid)
        self._thread = threading.Thread(target=self._supervise, name="control-plane", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for name in list(self._down):
            self.start(name)
        self._revive()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
