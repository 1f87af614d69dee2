"""The e2e cluster: the local control plane by default, kind or an existing one on request.

Each test gets its own namespace, deleted afterwards. When a test fails, its
report carries the namespace's Events and the log of any operator it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from kubetest import REPO, Cluster, unavailable
from operatorproc import OperatorProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str) -> NoReturn:
    unavailable(f"e2e control plane unavailable: {reason}")


def _cluster_env() -> dict[str, str]:
    out = subprocess.run(
        [str(REPO / "hack/cluster.sh"), "env"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _kubectl_bin() -> str:
    built = _cluster_env().get("KWOK_KUBECTL_BINARY", "")
    return built or shutil.which("kubectl") or "kubectl"


def _local_cluster() -> Cluster:
    # Progress goes straight to the terminal: the first build takes minutes.
    proc = subprocess.run(
        [str(REPO / "hack/cluster.sh"), "up"], stdout=subprocess.PIPE, stderr=sys.stderr, text=True
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("export KUBECONFIG="):
        _unavailable(f"hack/cluster.sh up exited {proc.returncode}")
    return Cluster(kubeconfig=lines[-1].split("=", 1)[1], kubectl_bin=_kubectl_bin())


def _kind_cluster() -> Iterator[Cluster]:
    try:
        from pytest_kind import KindCluster  # type: ignore[import-not-found]
    except ImportError:
        _unavailable("pytest-kind is not installed (pip install -e '.[kind]')")
        raise
    kind = KindCluster("tourniquet-e2e")
    try:
        kind.create()
    except Exception as exc:
        _unavailable(f"kind could not create a cluster (is Docker running?): {exc}")
    try:
        yield Cluster(
            kubeconfig=str(kind.kubeconfig_path), kubectl_bin=_kubectl_bin(), backend="kind"
        )
    finally:
        if os.environ.get("TOURNIQUET_KEEP_KIND") != "1":
            kind.delete()


def _existing_cluster(config: pytest.Config) -> Cluster:
    if not config.getoption("--allow-existing-cluster"):
        _unavailable(
            "--cluster=existing needs --allow-existing-cluster (tests create and delete "
            "namespaces, CRDs and admission policies)"
        )
    kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube/config"))
    return Cluster(
        kubeconfig=kubeconfig,
        kubectl_bin=_kubectl_bin(),
        context=config.getoption("--kube-context"),
        backend="existing",
    )


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Iterator[Cluster]:
    backend = pytestconfig.getoption("--cluster")
    if backend == "kind":
        yield from _kind_cluster()
        return
    c = _existing_cluster(pytestconfig) if backend == "existing" else _local_cluster()
    ready = c.kubectl("get", "--raw=/readyz", check=False, timeout=30)
    if ready.returncode != 0:
        _unavailable(f"API server not ready: {ready.stderr.strip()}")
    yield c


Diagnostic = Callable[[], tuple[str, str]]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    diagnostics: list[Diagnostic] = getattr(item, "tq_diagnostics", [])
    if report.failed and report.when in ("setup", "call"):
        for diagnose in diagnostics:
            try:
                title, text = diagnose()
            except Exception as exc:  # diagnostics must never hide the real failure
                title, text = "diagnostics", f"could not collect: {exc}"
            report.sections.append((title, text))


def add_diagnostic(request: pytest.FixtureRequest, diagnose: Diagnostic) -> None:
    request.node.tq_diagnostics = [*getattr(request.node, "tq_diagnostics", []), diagnose]


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    short = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40]
    name = f"tq-{short}-{uuid.uuid4().hex[:5]}".strip("-")
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "tourniquet.dev/e2e=true")
    add_diagnostic(
        request,
        lambda: (
            f"events in {name}",
            cluster.kubectl(
                "get", "events", "-n", name, "--sort-by=.lastTimestamp", check=False
            ).stdout,
        ),
    )
    add_diagnostic(
        request,
        lambda: (
            f"incidents in {name}",
            cluster.kubectl("get", "incidents", "-n", name, "-o", "yaml", check=False).stdout,
        ),
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# --- Tourniquet on the cluster --------------------------------------------------------

PEOPLE_ROLE = "tourniquet-e2e-people"


@pytest.fixture(scope="session")
def tourniquet_installed(cluster: Cluster) -> Cluster:
    """What `make install` does: the generated CRDs and the approval policy."""
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    cluster.kubectl("apply", "-f", str(REPO / "config/policy/approval-policy.yaml"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/incidents.tourniquet.dev",
        "crd/runbooks.tourniquet.dev",
        "--timeout=60s",
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": PEOPLE_ROLE},
            "rules": [
                {
                    "apiGroups": ["tourniquet.dev"],
                    "resources": ["incidents", "incidents/status"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        }
    )
    return cluster


@pytest.fixture
def people(tourniquet_installed: Cluster, namespace: str) -> tuple[str, ...]:
    """Responders who may edit incidents here; whether they may approve is the policy's call."""
    users = ("alice", "bob", "mallory")
    cluster = tourniquet_installed
    cluster.kubectl(
        "create",
        "rolebinding",
        "responders",
        "-n",
        namespace,
        f"--clusterrole={PEOPLE_ROLE}",
        *(f"--user={u}" for u in users),
    )
    return users


@pytest.fixture
def start_operator(
    tourniquet_installed: Cluster,
    namespace: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Callable[..., OperatorProcess]]:
    cluster = tourniquet_installed
    started: list[OperatorProcess] = []
    log_path = tmp_path / "operator.log"
    add_diagnostic(
        request,
        lambda: (
            "operator log",
            log_path.read_text(errors="replace") if log_path.exists() else "(no operator started)",
        ),
    )

    def start(*args: str, **env: str) -> OperatorProcess:
        op = OperatorProcess(cluster, namespace, log_path, args=args, env=env)
        started.append(op)
        return op.start()

    yield start
    # Incidents go while an operator still runs, so nothing is left holding a finalizer.
    live = [op for op in started if op.running]
    if live:
        cluster.kubectl(
            "delete", "incidents", "--all", "-n", namespace, "--timeout=30s", check=False
        )
    for op in started:
        op.stop()
    leftovers = cluster.kubectl("get", "incidents", "-n", namespace, "-o", "name", check=False)
    for name in leftovers.stdout.split():
        cluster.kubectl(
            "patch",
            name,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
