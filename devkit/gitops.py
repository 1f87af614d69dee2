"""Real GitOps for the e2e tests and the demo: Flux's source-controller and
kustomize-controller and a loopback git server, started by `hack/gitops.sh up` for the
local cluster; a git repository the test pushes to; the Flux objects that deliver it.

`Flux.deliver()` makes a GitRepository and a Kustomization (short intervals, so a test
sees several reconciles in seconds) that apply a repository's manifests into a namespace.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from devkit.cluster import ClusterUnavailable
from devkit.kubectl import Cluster
from devkit.polling import wait_for

REPO = Path(__file__).resolve().parents[1]
GITOPS_SCRIPT = REPO / "hack" / "gitops.sh"


def gitops_up(progress: IO[Any] | None = None) -> str:
    """`hack/gitops.sh up` (idempotent; the first run builds Flux, minutes): the git
    server's base URL."""
    proc = subprocess.run(
        [str(GITOPS_SCRIPT), "up"], stdout=subprocess.PIPE, stderr=progress, text=True, cwd=REPO
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("export TOURNIQUET_GIT_URL="):
        raise ClusterUnavailable(f"hack/gitops.sh up exited {proc.returncode}")
    url = lines[-1].split("=", 1)[1].strip()
    return url.rsplit("/", 1)[0]


def _git(work: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=e2e", "-c", "user.email=e2e@localhost", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


class GitRepo:
    """A repository on the loopback git server, with a working copy to commit from."""

    def __init__(self, base_url: str, name: str) -> None:
        self.url = f"{base_url}/{name}.git"
        self.work = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        _git(self.work, "init", "-q", "-b", "main")

    def commit(self, files: Mapping[str, Any], message: str) -> str:
        """Write `files` (objects as YAML), commit and push: the commit."""
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            text = content if isinstance(content, str) else yaml.safe_dump(content)
            target.write_text(text)
        _git(self.work, "add", "-A")
        _git(self.work, "commit", "-q", "-m", message)
        self.push()
        return self.head()

    def revert(self) -> str:
        """`git revert HEAD`, pushed: the revert's commit."""
        _git(self.work, "revert", "--no-edit", "HEAD")
        self.push()
        return self.head()

    def head(self) -> str:
        return _git(self.work, "rev-parse", "HEAD")

    def push(self) -> None:
        _git(self.work, "push", "-q", self.url, "main")


@dataclass
class Flux:
    cluster: Cluster
    base_url: str

    def repository(self) -> GitRepo:
        return GitRepo(self.base_url, f"e2e-{uuid.uuid4().hex[:8]}")

    def deliver(self, repo: GitRepo, namespace: str, name: str, interval: str = "2s") -> None:
        """A GitRepository and a Kustomization in `namespace` applying the repository."""
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": interval, "url": repo.url, "ref": {"branch": "main"}},
        }
        kustomization = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "interval": interval,
                "path": "./",
                "prune": True,
                "targetNamespace": namespace,
                "sourceRef": {"kind": "GitRepository", "name": name},
            },
        }
        for obj in (source, kustomization):
            self.cluster.kubectl("apply", "-f", "-", stdin=json.dumps(obj))

    def kustomization(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.cluster.get("kustomization", name, namespace))

    def applied(self, namespace: str, name: str, commit: str) -> dict[str, Any]:
        """Wait until the Kustomization has applied `commit`."""

        def done() -> dict[str, Any] | None:
            k = self.kustomization(namespace, name)
            return (
                k
                if (k.get("status") or {}).get("lastAppliedRevision", "").endswith(commit)
                else None
            )

        return wait_for(done, timeout=90, what=f"Kustomization {name} applied {commit[:8]}")
