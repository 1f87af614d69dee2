"""The core flow on the real control plane, driven with kubectl as a user would:
declare → suspect → the Incident Commander approves → guarded undo → MTTR."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from devkit.cluster import bindings_removed
from devkit.incidents import (
    BAD,
    GOOD,
    NEWER,
    approve,
    condition,
    declare,
    get_incident,
    good_then_bad,
    mitigation_is,
    resolve,
    roll_out,
    status,
    undo_events,
    wait_event,
    wait_incident,
)
from devkit.kubectl import Cluster, KubectlError
from devkit.operator import OperatorProcess
from devkit.polling import next_second, wait_for
from devkit.workloads import image_of, replicasets_of, revision_of, revisions, snapshot

StartOperator = Callable[..., OperatorProcess]


def has_suspect(incident: dict[str, Any]) -> bool:
    return bool(status(incident).get("suspect"))


# --- suspect identification --------------------------------------------------------


def test_suspect_is_the_most_recent_rollout_in_scope(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    backend = {"app": "billing", "tier": "backend"}
    roll_out(cluster, namespace, "billing", GOOD, labels=backend)
    roll_out(cluster, namespace, "billing", BAD, labels=backend)
    roll_out(cluster, namespace, "api", GOOD, labels={"app": "api", "tier": "backend"})
    next_second()
    roll_out(cluster, namespace, "api", BAD, labels={"app": "api", "tier": "backend"})
    # The newest rollout of all is outside the backend selector.
    roll_out(cluster, namespace, "web", GOOD, labels={"app": "web", "tier": "frontend"})
    next_second()
    roll_out(cluster, namespace, "web", NEWER, labels={"app": "web", "tier": "frontend"})
    start_operator()

    declare(cluster, namespace, "backend", selector={"matchLabels": {"tier": "backend"}})
    declare(cluster, namespace, "anything")
    backend_incident = wait_incident(
        cluster, namespace, has_suspect, "backend suspect", name="backend"
    )
    suspect = status(backend_incident)["suspect"]
    assert (suspect["kind"], suspect["name"]) == ("Deployment", "api")
    assert suspect["revision"] == 2
    assert suspect["previousRevision"] == 1
    assert suspect["change"] == f"api: {GOOD} -> {BAD}"
    live_rs = [rs for rs in replicasets_of(cluster, namespace, "api") if revision_of(rs) == 2]
    assert suspect["replicaSet"] == live_rs[0]["metadata"]["name"]
    assert suspect["rolledOutAt"] == live_rs[0]["metadata"]["creationTimestamp"]
    assert condition(backend_incident, "SuspectIdentified")["status"] == "True"

    everything = wait_incident(cluster, namespace, has_suspect, "unscoped suspect", name="anything")
    assert status(everything)["suspect"]["name"] == "web"
    wait_event(cluster, namespace, "SuspectIdentified", name="backend")


def test_rollouts_in_other_namespaces_are_not_suspects(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    other = f"{namespace}-other"
    cluster.kubectl("create", "namespace", other)
    try:
        roll_out(cluster, namespace, "api", GOOD)
        roll_out(cluster, other, "api", GOOD)
        roll_out(cluster, other, "api", NEWER)
        start_operator()
        declare(cluster, namespace)
        incident = wait_incident(cluster, namespace, has_suspect, "suspect")
        assert status(incident)["suspect"]["revision"] == 1
        assert "previousRevision" not in status(incident)["suspect"]
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_no_rollout_in_scope_is_a_normal_outcome(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    roll_out(cluster, namespace, "api", GOOD)
    start_operator()
    declare(cluster, namespace, selector={"matchLabels": {"app": "nothing-here"}})
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "SuspectIdentified").get("reason") == "NoRecentRollout",
        "NoRecentRollout",
    )
    assert condition(incident, "SuspectIdentified")["status"] == "False"
    assert condition(incident, "Ready")["status"] == "True"
    assert status(incident)["phase"] == "Declared"
    assert "suspect" not in status(incident)


def test_a_newer_rollout_replaces_the_suspect_while_unmitigated(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    roll_out(cluster, namespace, "api", NEWER, broken=True)
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: status(i).get("suspect", {}).get("revision") == 3,
        "suspect replaced by revision 3",
    )
    assert status(incident)["suspect"]["change"] == f"api: {BAD} -> {NEWER}"
    assert status(incident)["mitigation"]["fromRevision"] == 3
    assert [e["kind"] for e in status(incident)["timeline"]].count("SuspectReplaced") == 1


# --- the approved undo -------------------------------------------------------------


def test_approved_undo_mitigates_once_and_resolving_records_mttr(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace, startedAt="2026-01-01T00:00:00Z")
    incident = wait_incident(cluster, namespace, has_suspect, "suspect")
    offer = status(incident)["mitigation"]
    assert offer["result"] == "Pending" and offer["reason"] == "NoApproval"
    assert "--subresource=status" in offer["message"]
    revision1 = next(rs for rs in replicasets_of(cluster, namespace, "api") if revision_of(rs) == 1)

    approve(cluster, namespace, 2, as_user="alice")
    incident = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=90
    )

    dep = cluster.get("deployment", "api", namespace)
    template = dep["spec"]["template"]
    expected = revision1["spec"]["template"]
    expected["metadata"]["labels"].pop("pod-template-hash")
    assert template == expected, "the Deployment does not run revision 1's template"
    assert revision_of(dep) == 3
    assert revisions(cluster, namespace) == [2, 3]  # revision 1's ReplicaSet became 3
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")
    s = status(incident)
    assert s["phase"] == "Mitigated"
    assert s["mitigation"]["fromRevision"] == 2 and s["mitigation"]["toRevision"] == 1
    assert s["timeToMitigateSeconds"] > 0
    assert condition(incident, "Mitigated")["status"] == "True"
    assert condition(incident, "Ready")["observedGeneration"] == incident["metadata"]["generation"]
    op.wait_metric("tourniquet_rollbacks_total", 1, result="succeeded")
    op.wait_metric("tourniquet_incident_time_to_mitigate_seconds_count", 1, severity="SEV1")
    op.wait_metric("tourniquet_incidents_open", 1, severity="SEV1")
    # Quiet when nothing changes: no writes across several resyncs.
    assert op.writes_during(reconciles=6) == 0

    # The all-clear is the commander's call, enforced by the API server too.
    with pytest.raises(KubectlError, match='resolve rejected: user "mallory"'):
        resolve(cluster, namespace, as_user="mallory")
    resolve(cluster, namespace)
    incident = wait_incident(
        cluster, namespace, lambda i: status(i).get("phase") == "Resolved", "Resolved"
    )
    ttr = status(incident)["timeToResolveSeconds"]
    assert ttr > status(incident)["timeToMitigateSeconds"]
    # startedAt was long before the Incident was created: MTTR counts from impact start.
    assert ttr > 24 * 3600
    op.wait_metric("tourniquet_incident_time_to_resolve_seconds_count", 1, severity="SEV1")
    assert op.metric("tourniquet_incident_time_to_resolve_seconds_sum", severity="SEV1") == (
        pytest.approx(ttr, rel=1e-3)
    )
    op.wait_metric("tourniquet_incidents_open", 0, severity="SEV1")
    kinds = [e["kind"] for e in status(incident)["timeline"]]
    for step in (
        "Declared",
        "SuspectIdentified",
        "Approved",
        "MitigationStarted",
        "RolloutUndone",
        "Mitigated",
        "Resolved",
    ):
        assert kinds.count(step) == 1, (step, kinds)
    with pytest.raises(KubectlError, match="resolved cannot return to false"):
        cluster.kubectl(
            "patch",
            "incident",
            "api-errors",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"resolved":false}}',
        )
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")


def test_approval_must_come_from_the_commander_in_their_own_name(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    before = snapshot(cluster, namespace)

    as_herself = approve(cluster, namespace, 2, as_user="mallory", check=False)
    assert as_herself.returncode != 0
    assert 'user "mallory" is not the Incident Commander' in as_herself.stderr
    in_alices_name = approve(
        cluster, namespace, 2, as_user="mallory", approved_by="alice", check=False
    )
    assert in_alices_name.returncode != 0
    assert 'cannot approve in the name of "alice"' in in_alices_name.stderr
    # Even the IC cannot sign for somebody else.
    for_bob = approve(cluster, namespace, 2, as_user="alice", approved_by="bob", check=False)
    assert for_bob.returncode != 0

    incident = get_incident(cluster, namespace)
    assert "approval" not in status(incident)
    assert status(incident)["mitigation"]["result"] == "Pending"
    assert snapshot(cluster, namespace) == before
    assert undo_events(cluster, namespace) == 0


# --- refusals: each reason, and the Deployment untouched ---------------------------


def refused_with(reason: str) -> Callable[[dict[str, Any]], bool]:
    """The timeline holds a refusal for `reason` (conditions move on; the record stays)."""

    def ready(incident: dict[str, Any]) -> bool:
        return any(
            e["kind"] == "UndoRefused"
            and (f", {reason})" in e["message"] or f"({reason})" in e["message"])
            for e in status(incident).get("timeline") or []
        )

    return ready


def _refused(cluster: Cluster, namespace: str, reason: str) -> dict[str, Any]:
    """Refused with `reason`: a timeline entry, a Warning Event, no undo."""
    incident = wait_incident(cluster, namespace, refused_with(reason), f"Refused {reason}")
    wait_event(cluster, namespace, reason, name="api-errors", warning=True)
    assert undo_events(cluster, namespace) == 0
    return incident


def test_no_approval_means_no_undo(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    before = snapshot(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace)
    incident = wait_incident(
        cluster, namespace, mitigation_is("Pending", "NoApproval"), "undo offered"
    )
    assert condition(incident, "Approved") | {"lastTransitionTime": None} == {
        **condition(incident, "Approved"),
        "lastTransitionTime": None,
        "status": "False",
        "reason": "NoApproval",
    }
    # Several resyncs later, still nothing written, nothing touched.
    assert op.writes_during(reconciles=6) == 0
    assert snapshot(cluster, namespace) == before
    assert status(get_incident(cluster, namespace))["phase"] == "Declared"
    assert op.metric("tourniquet_api_requests_total", verb="patch", resource="deployments") == 0


def test_approval_for_another_revision_is_refused(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    before = snapshot(cluster, namespace)
    # The API server refuses it, saying what the suspect is (the operator's own
    # ApprovalRevisionMismatch guard stays for clusters without the policy: unit-tested).
    result = approve(cluster, namespace, 1, check=False)
    assert result.returncode != 0
    assert "the suspect is Deployment/api revision 2" in result.stderr
    assert status(get_incident(cluster, namespace)).get("approval") is None
    assert snapshot(cluster, namespace) == before
    assert op.metric("tourniquet_rollbacks_total", result="refused") == 0


def test_a_deployment_that_moved_on_is_not_undone(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    op.stop()
    approve(cluster, namespace, 2)
    roll_out(cluster, namespace, "api", NEWER)  # someone ships a fix while nobody watches
    before = snapshot(cluster, namespace)
    start_operator()
    _refused(cluster, namespace, "TargetChanged")
    assert snapshot(cluster, namespace) == before
    assert image_of(cluster, namespace) == NEWER


def test_a_paused_deployment_is_not_undone(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    cluster.kubectl("rollout", "pause", "deployment/api", "-n", namespace)
    before = snapshot(cluster, namespace)
    approve(cluster, namespace, 2)
    _refused(cluster, namespace, "DeploymentPaused")
    assert snapshot(cluster, namespace) == before
    # Resumed, the same approval goes ahead: same target, guards checked again.
    cluster.kubectl("rollout", "resume", "deployment/api", "-n", namespace)
    wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "Succeeded after resume", timeout=90
    )
    assert image_of(cluster, namespace) == GOOD
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")


def test_a_first_rollout_has_nothing_to_undo(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    roll_out(cluster, namespace, "api", BAD, broken=True)
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(cluster, namespace, has_suspect, "suspect")
    assert status(incident)["suspect"]["revision"] == 1
    before = snapshot(cluster, namespace)
    approve(cluster, namespace, 1)
    _refused(cluster, namespace, "NoPreviousRevision")
    assert snapshot(cluster, namespace) == before


def test_approvals_are_refused_without_the_admission_policy(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    # The operator is told to rely on a policy that is not installed.
    start_operator("--approval-policy", "tourniquet-not-installed")
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    before = snapshot(cluster, namespace)
    approve(cluster, namespace, 2)
    incident = _refused(cluster, namespace, "ApprovalUnverified")
    assert "tourniquet-not-installed" in status(incident)["mitigation"]["message"]
    assert snapshot(cluster, namespace) == before


@pytest.fixture
def without_policy_binding(cluster: Cluster) -> Any:
    """The approval policy's binding removed for one test, restored afterwards."""
    with bindings_removed(cluster, "tourniquet-incident-approval"):
        yield


def test_an_incident_never_undoes_twice(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    without_policy_binding: Any,
) -> None:
    good_then_bad(cluster, namespace)
    start_operator("--trust-unverified-approvals")
    declare(cluster, namespace)
    wait_incident(cluster, namespace, has_suspect, "suspect")
    approve(cluster, namespace, 2)
    wait_incident(cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=90)
    before = snapshot(cluster, namespace)
    assert before[2] == 3
    # Without the policy nothing stops a second approval; the operator still refuses.
    approve(cluster, namespace, 3)
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "Approved").get("reason") == "AlreadyMitigated",
        "AlreadyMitigated",
    )
    # The record of the undo that happened is kept as it was.
    assert status(incident)["mitigation"]["result"] == "Succeeded"
    assert condition(incident, "Mitigated")["status"] == "True"
    assert snapshot(cluster, namespace) == before
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")
