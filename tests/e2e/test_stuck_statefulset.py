"""A StatefulSet undo stuck on a broken pod (issue 11, point 4; kubernetes #67250), on the
real control plane: with OrderedReady, the StatefulSet controller waits for its pod of
the bad revision (it never schedules) to become Ready before it replaces any pod, so the
undo's template is restored but nothing rolls. The operator names the pod; the Incident
Commander approves deleting it as a step of its own; the controller recreates it at the
restored revision and the undo completes. Nobody else may approve it, and the operator's
identity may delete no other pod."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit import revisioned
from devkit.incidents import (
    BAD,
    GOOD,
    approve,
    condition,
    declare,
    mitigation_is,
    patch_incident,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.plugin import Plugin
from devkit.polling import next_second, wait_for

from tourniquet.api.names import DEFAULT_OPERATOR_IDENTITY

StartOperator = Callable[..., OperatorProcess]


def _pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(cluster.get("pod", name, namespace))


def _revision(cluster: Cluster, namespace: str, name: str) -> str:
    labels = _pod(cluster, namespace, name)["metadata"].get("labels") or {}
    return str(labels.get("controller-revision-hash", ""))


def test_an_ordered_statefulset_stuck_on_a_broken_pod_is_freed_by_an_approved_deletion(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    plugin: Plugin,
) -> None:
    revisioned.roll_out(cluster, namespace, revisioned.statefulset("db", GOOD, parallel=False))
    next_second()
    revisioned.roll_out(
        cluster,
        namespace,
        revisioned.statefulset("db", BAD, broken=True, parallel=False),
        wait=False,
    )
    # The rolling update replaced db-1 (the highest ordinal) with the bad revision: Pending.
    bad_revision = cluster.get("statefulset", "db", namespace)["status"]["updateRevision"]
    wait_for(
        lambda: (
            _pod(cluster, namespace, "db-1")["metadata"]["labels"].get("controller-revision-hash")
            == bad_revision
        ),
        what="db-1 at the bad revision",
    )
    start_operator()
    declare(cluster, namespace)
    wait_incident(
        cluster, namespace, lambda i: status(i).get("suspect", {}).get("name") == "db", "suspect"
    )
    approve(cluster, namespace, 2, target="db", target_kind="StatefulSet")
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i).get("mitigation", {}).get("stuckPod")),
        "the stuck pod named",
    )
    mitigation = status(incident)["mitigation"]
    assert mitigation["result"] == "InProgress"
    assert mitigation["stuckPod"] == {"name": "db-1", "revision": bad_revision}
    stuck = condition(incident, "Mitigated")
    assert stuck["reason"] == "StatefulSetPodStuck"
    assert f"kubectl incident delete-stuck-pod api-errors -n {namespace}" in stuck["message"]
    # The template is restored, but the controller does not replace the Pending pod.
    assert revisioned.image(cluster, namespace, "StatefulSet", "db") == GOOD
    assert _revision(cluster, namespace, "db-1") == bad_revision

    # A responder may not approve it, nor may anyone name another pod.
    for user, pod in (("bob", "db-1"), ("alice", "db-0")):
        forged = patch_incident(
            cluster,
            namespace,
            {"status": {"podDeletion": {"approvedBy": user, "pod": pod}}},
            status=True,
            as_user=user,
            check=False,
        )
        assert forged.returncode != 0 and "pod deletion rejected" in forged.stderr, (user, forged)
    # The operator's identity may delete no Ready pod, and no pod not of a StatefulSet.
    ready = cluster.kubectl(
        "delete", "pod", "db-0", "-n", namespace, "--wait=false",
        as_user=DEFAULT_OPERATOR_IDENTITY, check=False,
    )  # fmt: skip
    assert ready.returncode != 0 and "operator confined" in ready.stderr, ready
    assert _pod(cluster, namespace, "db-0")["metadata"].get("deletionTimestamp") is None

    # The Incident Commander approves; the operator deletes db-1; the undo completes.
    approved = plugin.run("delete-stuck-pod", "api-errors", "-n", namespace, as_user="alice")
    assert approved.returncode == 0, approved.stderr
    done = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "the undo completed", timeout=90
    )
    mitigation = status(done)["mitigation"]
    assert mitigation["stuckPod"]["deletedAt"] and mitigation["stuckPod"]["deletedBy"] == "alice"
    kinds = [t["kind"] for t in status(done)["timeline"]]
    assert "StatefulSetPodStuck" in kinds and "StuckPodDeleted" in kinds
    live = cluster.get("statefulset", "db", namespace)["status"]["updateRevision"]
    assert (
        _pod(cluster, namespace, "db-1")["metadata"]["labels"]["controller-revision-hash"] == live
    )
    cluster.kubectl("rollout", "status", "statefulset/db", "-n", namespace, "--timeout=5s")
