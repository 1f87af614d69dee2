"""Which cluster: the local control plane (hack/cluster.sh: built from pinned sources on
first use, then started in seconds), kind, or an existing kubeconfig; and Tourniquet's
API installed into it the way `make install` does.

When something a test needs is missing, `unavailable` decides: a skip on a laptop, a
failure in CI (CI=true), where an e2e test never silently skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

from devkit.kubectl import Cluster
from devkit.paths import CLUSTER_SCRIPT, REPO

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# What `make install` runs (from the repository), in order: the CRDs, the approval
# policy, and the wait until the API server serves both kinds.
INSTALL: tuple[tuple[str, ...], ...] = (
    ("apply", "-f", "crds/"),
    ("apply", "-k", "config/policy"),
    ("apply", "-f", "config/default/namespace.yaml"),
    ("apply", "-k", "config/rbac"),
    (
        "wait",
        "--for=condition=Established",
        "crd/incidents.tourniquet.dev",
        "crd/runbooks.tourniquet.dev",
        "--timeout=60s",
    ),
)
APPROVAL_POLICY = "tourniquet-incident-approval"


class ClusterUnavailable(RuntimeError):
    """The local control plane could not be started."""


def unavailable(reason: str) -> NoReturn:
    """Something an e2e test needs is missing: a skip on a laptop, a failure in CI."""
    import pytest  # only the tests ask; the demo and the benchmarks fail plainly

    if IN_CI:
        pytest.fail(f"unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def toolchain_env() -> dict[str, str]:
    """`hack/cluster.sh env`: the binaries it built or found (KWOK_*_BINARY, HELM_BINARY)."""
    out = subprocess.run(
        [str(CLUSTER_SCRIPT), "env"], capture_output=True, text=True, check=False, cwd=REPO
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def kubectl_binary() -> str:
    """The pinned kubectl (the API server's version), else the one on PATH."""
    return toolchain_env().get("KWOK_KUBECTL_BINARY") or shutil.which("kubectl") or "kubectl"


def helm_binary() -> str | None:
    """The pinned helm (`make helm` builds it), else the one on PATH, else None."""
    return toolchain_env().get("HELM_BINARY") or shutil.which("helm")


def local_cluster(progress: IO[Any] | None = sys.stderr) -> Cluster:
    """`hack/cluster.sh up` (idempotent): its progress goes to `progress` (the terminal:
    the first build takes minutes), its last line names the kubeconfig."""
    proc = subprocess.run(
        [str(CLUSTER_SCRIPT), "up"], stdout=subprocess.PIPE, stderr=progress, text=True, cwd=REPO
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("export KUBECONFIG="):
        raise ClusterUnavailable(
            f"hack/cluster.sh up exited {proc.returncode} without a kubeconfig"
        )
    return Cluster(kubeconfig=lines[-1].split("=", 1)[1].strip(), kubectl_bin=kubectl_binary())


def stop_local_cluster() -> None:
    """`hack/cluster.sh down` for the cluster TOURNIQUET_CLUSTER_NAME names (its binaries and
    caches stay)."""
    subprocess.run([str(CLUSTER_SCRIPT), "down"], check=False, cwd=REPO)


def existing_cluster(context: str | None = None) -> Cluster:
    """The current kubeconfig ($KUBECONFIG, else ~/.kube/config) and context."""
    kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube/config"))
    return Cluster(kubeconfig, kubectl_binary(), context=context, backend="existing")


@contextmanager
def kind_cluster(name: str = "tourniquet-e2e") -> Iterator[Cluster]:
    """A kind cluster through pytest-kind (Docker), deleted afterwards unless
    TOURNIQUET_KEEP_KIND=1. ClusterUnavailable when it cannot be had."""
    try:
        from pytest_kind import KindCluster
    except ImportError:
        raise ClusterUnavailable(
            "pytest-kind is not installed (pip install -e '.[kind]')"
        ) from None
    kind = KindCluster(name)
    try:
        kind.create()
    except Exception as exc:
        raise ClusterUnavailable(
            f"kind could not create a cluster (is Docker running?): {exc}"
        ) from exc
    try:
        yield Cluster(str(kind.kubeconfig_path), kubectl_binary(), backend="kind")
    finally:
        if os.environ.get("TOURNIQUET_KEEP_KIND") != "1":
            kind.delete()


def install_tourniquet(cluster: Cluster) -> Cluster:
    """What `make install` does: the generated CRDs, both admission policies, the people
    roles, and the operator's ServiceAccount with its RBAC."""
    for args in INSTALL:
        cluster.kubectl(*args, timeout=90)
    return cluster


def approval_policy_enforced(cluster: Cluster, policy: str = APPROVAL_POLICY) -> bool:
    """What the operator checks before trusting an approval: the policy exists and a
    binding makes the API server deny what it rejects."""
    if cluster.find("validatingadmissionpolicy", policy) is None:
        return False
    bindings = cluster.get("validatingadmissionpolicybindings")["items"]
    return any(
        b.get("spec", {}).get("policyName") == policy
        and "Deny" in (b.get("spec", {}).get("validationActions") or [])
        for b in bindings
    )


SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


@contextlib.contextmanager
def bindings_removed(cluster: Cluster, *names: str) -> Iterator[None]:
    """These ValidatingAdmissionPolicyBindings removed for a while, restored afterwards
    (a test without the approval policy; a chart release whose own policies name its own
    ServiceAccount, next to `make install`'s policies that name another)."""
    saved = [cluster.get("validatingadmissionpolicybinding", name) for name in names]
    for name in names:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", name)
    try:
        yield
    finally:
        for binding in saved:
            for key in (
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "managedFields",
            ):
                binding["metadata"].pop(key, None)
            binding.pop("status", None)
            cluster.apply(binding)
