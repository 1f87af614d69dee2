"""Driving a cluster the way a user does: kubectl, with impersonation (--as, --as-group).

`Cluster` is a reachable cluster: its kubeconfig and a kubectl of the API server's
version. Every call runs in the repository (so `-f crds/` means what it says there),
with KUBECONFIG set and nothing else of the caller's environment changed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from devkit.paths import REPO


class KubectlError(RuntimeError):
    """kubectl exited non-zero (or did not finish in time: exit code -9)."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
        self.result = result
        self.stderr = result.stderr


def impersonation(as_user: str | None = None, as_groups: Sequence[str] = ()) -> list[str]:
    """The flags that make a request on behalf of a user (and groups)."""
    return [*([f"--as={as_user}"] if as_user else []), *(f"--as-group={g}" for g in as_groups)]


@dataclass(frozen=True)
class Cluster:
    """A reachable cluster: its kubeconfig and a kubectl of a supported version."""

    kubeconfig: str
    kubectl_bin: str
    context: str | None = None
    backend: str = "local"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig}

    def argv(
        self, *args: str, as_user: str | None = None, as_groups: Sequence[str] = ()
    ) -> list[str]:
        """The command line of `kubectl ARGS` as the given user."""
        context = ["--context", self.context] if self.context else []
        return [self.kubectl_bin, *context, *impersonation(as_user, as_groups), *args]

    def kubectl(
        self,
        *args: str,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with check=True a non-zero exit raises KubectlError. A kubectl that
        does not finish within `timeout` is killed and reported with exit code -9."""
        cmd = self.argv(*args, as_user=as_user, as_groups=as_groups)
        try:
            result = subprocess.run(
                cmd,
                input=stdin,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=REPO,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            result = subprocess.CompletedProcess(cmd, -9, "", f"timed out after {timeout:g}s")
            if check:
                raise KubectlError(args, result) from None
            return result
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    def popen(
        self, *args: str, as_user: str | None = None, stderr: int = subprocess.STDOUT
    ) -> subprocess.Popen[str]:
        """kubectl running in the background, its output read line by line from stdout."""
        return subprocess.Popen(
            self.argv(*args, as_user=as_user),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=self.env,
            cwd=REPO,
        )

    def apply(
        self, manifest: Mapping[str, Any] | str, namespace: str | None = None, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` of one manifest (a mapping, or YAML text)."""
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(dict(manifest))
        ns = ["-n", namespace] if namespace else []
        return self.kubectl("apply", *ns, "-f", "-", stdin=text, **kw)

    def get(
        self, kind: str, name: str | None = None, namespace: str | None = None, **kw: Any
    ) -> Any:
        """`kubectl get -o json`, parsed; KubectlError when it fails (NotFound included)."""
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return json.loads(self.kubectl(*args, **kw).stdout)

    def find(self, kind: str, name: str, namespace: str | None = None, **kw: Any) -> Any:
        """The object, or None when it does not exist; any other failure raises."""
        ns = ["-n", namespace] if namespace else []
        out = self.kubectl("get", kind, name, *ns, "-o", "json", "--ignore-not-found", **kw)
        return json.loads(out.stdout) if out.stdout.strip() else None

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return self.find(kind, name, namespace) is not None

    def version(self) -> dict[str, Any]:
        """The API server's version (`kubectl version -o json`'s serverVersion)."""
        out = json.loads(self.kubectl("version", "-o", "json").stdout)
        return dict(out.get("serverVersion") or {})

    def with_token(self, token: str, path: Path) -> Cluster:
        """The same API server, authenticated only by a bearer token (no client cert):
        a kubeconfig written to `path`, e.g. for the operator's ServiceAccount."""
        current = json.loads(
            self.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout
        )
        server = current["clusters"][0]["cluster"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": server}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return replace(self, kubeconfig=str(path), context=None)
