"""The control plane itself fails (issue 13, point 5): kube-apiserver, and separately
etcd, are SIGKILLed while the operator is between its claim and the undo's patch, or just
after the patch; then started again. The approval is not lost, exactly one undo happens
(one new revision), and the watches recover: a new rollout and a new Incident afterwards
are handled (kopf's watch of Incidents and the lean cache of Deployments both resumed).

Only this run's own local control plane is touched (devkit.control_plane, the cluster
named by TOURNIQUET_CLUSTER_NAME); on any other cluster these tests skip (fail with CI).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from devkit.cluster import unavailable
from devkit.control_plane import ControlPlane, cluster_dir
from devkit.incidents import (
    approve,
    declare,
    good_then_bad,
    mitigation_is,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.workloads import revision_of

StartOperator = Callable[..., OperatorProcess]


def api_ready(cluster: Cluster) -> bool:
    return cluster.kubectl("get", "--raw=/readyz", check=False, timeout=5).returncode == 0


@pytest.mark.parametrize("moment", ["before-undo-patch", "after-undo-patch"])
@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_control_plane_dies_mid_undo_and_comes_back(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    tmp_path: Path,
    pytestconfig: pytest.Config,
    component: str,
    moment: str,
) -> None:
    if pytestconfig.getoption("--cluster") != "local" or not cluster_dir().is_dir():
        unavailable("the control plane's processes are this run's only on the local cluster")
    with ControlPlane() as control_plane:
        run(cluster, namespace, start_operator, tmp_path, control_plane, component, moment)


def run(
    cluster: Cluster,
    namespace: str,
    start_operator: StartOperator,
    tmp_path: Path,
    control_plane: ControlPlane,
    component: str,
    moment: str,
) -> None:
    assert control_plane.components[component].running(), f"{component} is not running"
    good_then_bad(cluster, namespace)
    hold = tmp_path / "hold"
    hold.write_text("")
    op = start_operator(TOURNIQUET_HOLD_AT=moment, TOURNIQUET_HOLD_FILE=str(hold))
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2, as_user="alice")
    wait_for(lambda: Path(f"{hold}.reached").exists(), timeout=30, what=f"the operator at {moment}")

    control_plane.kill(component)
    try:
        hold.unlink()  # the operator goes on into a dead control plane
        # Until it has tried and failed at least once: the outage is really in its way.
        wait_for(
            lambda: (
                op.metric("tourniquet_reconcile_errors_total") >= 1 or "failed" in op.log_tail(20)
            ),
            # With etcd down a request hangs until the client's 30 s read timeout.
            timeout=90,
            what="the operator's first failure against the dead control plane",
        )
    finally:
        control_plane.start(component)
    wait_for(lambda: api_ready(cluster), timeout=60, what=f"the API server ready after {component}")

    incident = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=75
    )
    assert status(incident)["approval"]["approvedBy"] == "alice"
    deployment = cluster.get("deployment", "api", namespace)
    assert revision_of(deployment) == 3, "exactly one undo: revision 1 came back as 3, once"
    kinds = [e["kind"] for e in status(incident)["timeline"]]
    assert kinds.count("RolloutUndone") == 1, kinds
    assert op.alive()

    # No frozen watch: a new rollout (the Deployment cache) and a new Incident (kopf's
    # watch) after the outage are both seen.
    good_then_bad(cluster, namespace, name="web", labels={"app": "web"})
    declare(cluster, namespace, name="web-errors", selector={"matchLabels": {"app": "web"}})
    after = wait_incident(
        cluster,
        namespace,
        lambda i: (status(i).get("suspect") or {}).get("name") == "web",
        "the next incident's suspect",
        name="web-errors",
        timeout=60,
    )
    assert status(after)["suspect"]["revision"] == 2
