"""`kubectl incident ...` as a responder types it: the real kubectl binary, which finds the
`kubectl-incident` executable on PATH (installed with the package, next to this Python)
and which the plugin in turn calls as `kubectl` for its own requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devkit.kubectl import Cluster, impersonation
from devkit.paths import REPO

PLUGIN = "kubectl-incident"
COMPLETER = "kubectl_complete-incident"


class PluginMissing(RuntimeError):
    """The package's executables are not installed next to this Python."""


def scripts_dir() -> Path:
    """Where pip put the package's executables (the virtualenv's bin)."""
    here = Path(sys.executable).parent
    if not (here / PLUGIN).exists():
        raise PluginMissing(f"{PLUGIN} is not in {here}: pip install -e . first")
    return here


@dataclass(frozen=True)
class Plugin:
    """The real kubectl with the plugin on its PATH. `bin_dir` holds only a `kubectl` link
    to the cluster's kubectl, first on PATH, so the plugin's own calls use that one."""

    cluster: Cluster
    bin_dir: Path

    @classmethod
    def on_path(cls, cluster: Cluster, bin_dir: Path) -> Plugin:
        bin_dir.mkdir(parents=True, exist_ok=True)
        link = bin_dir / "kubectl"
        if not link.exists():
            link.symlink_to(shutil.which(cluster.kubectl_bin) or cluster.kubectl_bin)
        scripts_dir()
        return cls(cluster, bin_dir)

    @property
    def env(self) -> dict[str, str]:
        path = os.pathsep.join([str(self.bin_dir), str(scripts_dir()), os.environ["PATH"]])
        env = {**self.cluster.env, "PATH": path}
        env.pop("KUBECTL", None)  # the plugin must find kubectl on PATH, as in the field
        return env

    def argv(
        self, *args: str, as_user: str | None = None, as_groups: Sequence[str] = ()
    ) -> list[str]:
        context = [f"--context={self.cluster.context}"] if self.cluster.context else []
        return [
            self.cluster.kubectl_bin, "incident", *args, *context,
            *impersonation(as_user, as_groups),
        ]  # fmt: skip

    def run(
        self,
        *args: str,
        as_user: str | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl incident ARGS --as=USER`; the caller checks the exit status."""
        return subprocess.run(
            self.argv(*args, as_user=as_user),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=env or self.env,
            cwd=REPO,
            timeout=timeout,
        )

    def complete(self, *words: str) -> list[str]:
        """What kubectl's own completion offers for `kubectl incident WORDS<TAB>` (the
        last word is the one completed): kubectl asks kubectl_complete-incident."""
        out = subprocess.run(
            [self.cluster.kubectl_bin, "__complete", "incident", *words],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=30,
            check=True,
        ).stdout
        return [line for line in out.splitlines() if line and not line.startswith(":")]

    def follow(self, *args: str, as_user: str | None = None) -> Follower:
        """`kubectl incident ARGS` left running (e.g. `status -w`), its output collected."""
        proc = subprocess.Popen(
            self.argv(*args, as_user=as_user),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=REPO,
        )
        return Follower(proc)


class Follower:
    """A running command whose output is read in the background."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._chunks.append(line)

    @property
    def output(self) -> str:
        return "".join(self._chunks)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        return self.output
