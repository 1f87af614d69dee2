"""Driving a cluster the way a user does: kubectl, with impersonation."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Something an e2e test needs is missing: a skip on a laptop, a failure in CI
    (CI=true), where an e2e test never silently skips."""
    if IN_CI:
        pytest.fail(f"unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class KubectlError(RuntimeError):
    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
        self.result = result
        self.stderr = result.stderr


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

    def kubectl(
        self,
        *args: str,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl_bin]
        if self.context:
            cmd += ["--context", self.context]
        if as_user:
            cmd += [f"--as={as_user}"]
        cmd += [f"--as-group={g}" for g in as_groups]
        cmd += list(args)
        result = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    def with_token(self, token: str, path: Path) -> Cluster:
        """The same API server, authenticated only by a bearer token (no client cert)."""
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
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return Cluster(kubeconfig=str(path), kubectl_bin=self.kubectl_bin, backend=self.backend)

    def apply(
        self, manifest: Mapping[str, Any] | str, namespace: str | None = None, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(dict(manifest))
        ns = ["-n", namespace] if namespace else []
        return self.kubectl("apply", *ns, "-f", "-", stdin=text, **kw)

    def get(
        self, kind: str, name: str | None = None, namespace: str | None = None, **kw: Any
    ) -> Any:
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return json.loads(self.kubectl(*args, **kw).stdout)


def metric_sum(text: str, name: str, exact: bool = False, **labels: str) -> float:
    """Sum of the samples of `name` in Prometheus text whose labels include `labels`
    (exactly `labels` with exact=True)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            wanted = all(sample.labels.get(k) == v for k, v in labels.items())
            if wanted and (not exact or sample.labels == labels):
                total += float(sample.value)
    return total


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy, or fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except KubectlError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def deployment(
    name: str,
    image: str,
    *,
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    progress_deadline: int | None = None,
) -> dict[str, Any]:
    """A Deployment whose pods land on the fake kwok nodes (or any real node on kind)."""
    labels = dict(labels or {"app": name})
    pod_spec: dict[str, Any] = {
        "containers": [{"name": name, "image": image}],
        # kwok nodes carry this taint-free label; on real clusters any node fits.
        "tolerations": [
            {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
        ],
        "terminationGracePeriodSeconds": 0,
    }
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": labels.get("app", name)}},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def replicasets_of(cluster: Cluster, namespace: str, deployment_name: str) -> list[dict[str, Any]]:
    dep = cluster.get("deployment", deployment_name, namespace)
    items = cluster.get("replicasets", namespace=namespace)["items"]
    return [
        rs
        for rs in items
        if any(
            ref.get("controller") and ref.get("uid") == dep["metadata"]["uid"]
            for ref in rs["metadata"].get("ownerReferences", [])
        )
    ]


def revision_of(obj: Mapping[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
