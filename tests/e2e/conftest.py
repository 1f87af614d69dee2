"""The e2e cluster: the local control plane by default, kind or an existing one on request.

Each test gets its own namespace, deleted afterwards. When a test fails, its report
carries the namespace's Events and Incidents and the log of any operator it started.
Everything that drives the cluster is devkit's (shared with the demo and the benchmarks);
this file holds only the fixtures and hooks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import (
    ClusterUnavailable,
    existing_cluster,
    install_tourniquet,
    kind_cluster,
    local_cluster,
    unavailable,
)
from devkit.identity import operator_kubeconfig
from devkit.incidents import delete_incidents, strip_finalizers
from devkit.kubectl import Cluster
from devkit.manifests import operator_extras, people_role
from devkit.operator import OperatorProcess, RunAs
from devkit.plugin import Plugin, PluginMissing

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

Diagnostic = Callable[[], tuple[str, str]]
PEOPLE_ROLE = "tourniquet-e2e-people"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
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
    """Shown in the report when the test fails."""
    request.node.tq_diagnostics = [*getattr(request.node, "tq_diagnostics", []), diagnose]


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Iterator[Cluster]:
    backend = pytestconfig.getoption("--cluster")
    try:
        if backend == "kind":
            with kind_cluster() as kind:
                yield kind
            return
        if backend == "existing":
            if not pytestconfig.getoption("--allow-existing-cluster"):
                unavailable(
                    "e2e control plane unavailable: --cluster=existing needs "
                    "--allow-existing-cluster (tests create and delete namespaces, CRDs and "
                    "admission policies)"
                )
            c = existing_cluster(pytestconfig.getoption("--kube-context"))
        else:
            c = local_cluster()
    except ClusterUnavailable as exc:
        unavailable(f"e2e control plane unavailable: {exc}")
    ready = c.kubectl("get", "--raw=/readyz", check=False, timeout=30)
    if ready.returncode != 0:
        unavailable(f"e2e control plane unavailable: API server not ready: {ready.stderr.strip()}")
    yield c


def _listing(cluster: Cluster, kind: str, namespace: str, *args: str) -> Diagnostic:
    return lambda: (
        f"{kind} in {namespace}",
        cluster.kubectl("get", kind, "-n", namespace, *args, check=False).stdout,
    )


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    short = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40]
    name = f"tq-{short}-{uuid.uuid4().hex[:5]}".strip("-")
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "tourniquet.dev/e2e=true")
    add_diagnostic(request, _listing(cluster, "events", name, "--sort-by=.lastTimestamp"))
    add_diagnostic(request, _listing(cluster, "incidents", name, "-o", "yaml"))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# --- Tourniquet on the cluster --------------------------------------------------------


@pytest.fixture(scope="session")
def tourniquet_installed(cluster: Cluster) -> Cluster:
    """What `make install` does, and a ClusterRole for the people in the tests."""
    install_tourniquet(cluster)
    for extra in operator_extras(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT):
        cluster.apply(extra)
    # The people of most tests hold `approve`: whether an approval is theirs to give is then
    # the policy's commander rule (test_forgery.py uses the shipped roles instead).
    verbs = ("get", "list", "watch", "create", "patch", "update", "approve")
    cluster.apply(people_role(PEOPLE_ROLE, verbs))
    return cluster


@pytest.fixture
def people(tourniquet_installed: Cluster, namespace: str) -> tuple[str, ...]:
    """Responders who may edit incidents here; whether they may approve is the policy's call."""
    users = ("alice", "bob", "mallory")
    tourniquet_installed.kubectl(
        "create",
        "rolebinding",
        "responders",
        "-n",
        namespace,
        f"--clusterrole={PEOPLE_ROLE}",
        *(f"--user={u}" for u in users),
    )
    return users


@pytest.fixture(scope="session")
def operator_identity(
    tourniquet_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> RunAs:
    """Whom `start_operator` runs the operator as: its ServiceAccount's token, as in
    production (never cluster admin), from the RBAC `make install` applies."""
    out = tmp_path_factory.mktemp("identity") / "operator.kubeconfig"
    return operator_kubeconfig(tourniquet_installed.kubectl_bin, tourniquet_installed.env, out)


@pytest.fixture
def start_operator(
    tourniquet_installed: Cluster,
    operator_identity: RunAs,
    namespace: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Callable[..., OperatorProcess]]:
    """start_operator(*flags, **env): the operator for this test's namespace, healthy.
    Restarts append to the same log, shown when the test fails."""
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
        op = OperatorProcess(operator_identity, namespace, log_path, args=args, env=env)
        started.append(op)
        return op.start()

    yield start
    # Incidents go while an operator still runs, so nothing is left holding a finalizer.
    if any(op.running for op in started):
        delete_incidents(cluster, namespace)
    for op in started:
        op.stop()
    strip_finalizers(cluster, namespace)


@pytest.fixture
def plugin(tourniquet_installed: Cluster, tmp_path: Path) -> Plugin:
    """The real kubectl with the kubectl-incident plugin on its PATH."""
    try:
        return Plugin.on_path(tourniquet_installed, tmp_path / "bin")
    except PluginMissing as exc:
        unavailable(str(exc))
