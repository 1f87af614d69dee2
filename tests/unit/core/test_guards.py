from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from factories import REVISION, T0, history, pod_template, replicaset

from tourniquet.core.guards import Refusal, UndoRequest, check_undo
from tourniquet.core.projections import deployment_view, replicaset_view
from tourniquet.core.rollback import UndoPlan
from tourniquet.core.suspect import find_suspect


def scenario(**history_args: Any) -> UndoRequest:
    """api at revision 3 (1.4.3), suspected, approved by the IC, policy installed."""
    api, rss = history("api", **history_args)
    suspect = find_suspect([deployment_view(api)], [replicaset_view(rs) for rs in rss], None)
    assert suspect is not None
    return UndoRequest(
        approval={
            "approvedBy": "alice",
            "kind": "Deployment",
            "name": "api",
            "revision": suspect.revision,
        },
        suspect=suspect.to_status(),
        mitigation=None,
        approval_verified=True,
        trust_unverified=False,
        deployment=api,
        replicasets=rss,
    )


def refused(request: UndoRequest, reason: str) -> Refusal:
    result = check_undo(request)
    assert isinstance(result, Refusal), result
    assert result.reason == reason
    # One sentence an on-call engineer can act on.
    assert result.message.endswith(".") and "\n" not in result.message
    return result


def deployment_of(request: UndoRequest) -> dict[str, Any]:
    return copy.deepcopy(dict(request.deployment or {}))


def test_an_approved_undo_of_the_suspect_yields_kubectls_plan() -> None:
    request = scenario()
    plan = check_undo(request)
    assert isinstance(plan, UndoPlan)
    assert (plan.from_revision, plan.to_revision) == (3, 2)
    assert plan.patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "4242"}
    assert plan.patch[1]["value"]["spec"]["containers"][0]["image"] == "registry/api:1.4.2"


@pytest.mark.parametrize("approval", [None, {}, {"revision": 3}, {"approvedBy": "", "revision": 3}])
def test_no_approval(approval: dict[str, Any] | None) -> None:
    refused(replace(scenario(), approval=approval), "NoApproval")


def test_no_approval_comes_before_everything_else() -> None:
    request = replace(
        scenario(),
        approval=None,
        mitigation={"result": "Succeeded"},
        approval_verified=False,
        deployment=None,
    )
    refused(request, "NoApproval")


@pytest.mark.parametrize("result", ["InProgress", "Succeeded", "Failed"])
def test_an_incident_never_undoes_twice(result: str) -> None:
    mitigation = {"action": "RolloutUndo", "kind": "Deployment", "name": "api", "result": result}
    # Even with the approval unverified: the undo already happened, say so first.
    request = replace(scenario(), mitigation=mitigation, approval_verified=False)
    assert result in refused(request, "AlreadyMitigated").message


@pytest.mark.parametrize("result", ["Pending", "Refused"])
def test_a_pending_or_refused_mitigation_may_still_proceed(result: str) -> None:
    request = replace(scenario(), mitigation={"result": result, "reason": "NoApproval"})
    assert isinstance(check_undo(request), UndoPlan)


def test_an_unverified_approval_is_refused_unless_trusted() -> None:
    request = replace(scenario(), approval_verified=False)
    message = refused(request, "ApprovalUnverified").message
    assert "ValidatingAdmissionPolicy tourniquet-incident-approval is not installed" in message
    assert "config/policy" in message and "--trust-unverified-approvals" in message
    assert isinstance(check_undo(replace(request, trust_unverified=True)), UndoPlan)


def test_an_approval_for_another_revision_is_refused_with_both_numbers() -> None:
    request = replace(
        scenario(),
        approval={"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 2},
    )
    message = refused(request, "ApprovalRevisionMismatch").message
    assert "revision 2" in message and "revision 3" in message


@pytest.mark.parametrize(
    ("approval_revision", "suspect"),
    [
        ("3", {"kind": "Deployment", "name": "api", "revision": 3}),
        (True, {"kind": "Deployment", "name": "api", "revision": 1}),
        (3, None),
        (3, {"kind": "Deployment", "name": "api"}),
        (0, {"kind": "Deployment", "name": "api", "revision": 0}),
    ],
)
def test_mismatched_or_missing_suspect_revisions(
    approval_revision: object, suspect: dict[str, Any] | None
) -> None:
    request = replace(
        scenario(),
        approval={
            "approvedBy": "alice",
            "kind": "Deployment",
            "name": "api",
            "revision": approval_revision,
        },
        suspect=suspect,
    )
    refused(request, "ApprovalRevisionMismatch")


def test_a_deleted_deployment_is_a_changed_target() -> None:
    message = refused(replace(scenario(), deployment=None), "TargetChanged").message
    assert "no longer exists" in message


def test_a_newer_rollout_is_a_changed_target() -> None:
    request = scenario()
    moved = deployment_of(request)
    moved["spec"]["template"] = pod_template({"api": "registry/api:1.4.4"})
    moved["metadata"]["annotations"][REVISION] = "4"
    newer = replicaset(moved, revision=4, created_at=T0 + timedelta(hours=5))
    request = replace(request, deployment=moved, replicasets=[*request.replicasets, newer])
    message = refused(request, "TargetChanged").message
    assert "now at revision 4" in message and "revision 3" in message


def test_a_template_edited_since_the_approval_is_a_changed_target() -> None:
    # The edit is not yet observed by the controller: same revision, different template.
    request = scenario()
    edited = deployment_of(request)
    edited["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DEBUG", "value": "1"}]
    message = refused(replace(request, deployment=edited), "TargetChanged").message
    assert "no longer matches revision 3" in message


def test_a_vanished_suspect_replicaset_is_a_changed_target() -> None:
    request = scenario()
    remaining = [rs for rs in request.replicasets if rs["metadata"]["annotations"][REVISION] != "3"]
    refused(replace(request, replicasets=remaining), "TargetChanged")


def test_a_replaced_suspect_replicaset_is_a_changed_target() -> None:
    request = scenario()
    suspect = {**dict(request.suspect or {}), "replicaSet": "api-someoneelse"}
    refused(replace(request, suspect=suspect), "TargetChanged")


def test_a_different_deployment_than_the_suspect_is_a_changed_target() -> None:
    request = scenario()
    suspect = {**dict(request.suspect or {}), "kind": "Deployment", "name": "web"}
    approval = {**dict(request.approval or {}), "name": "web"}
    refused(replace(request, suspect=suspect, approval=approval), "TargetChanged")


@pytest.mark.parametrize(
    "named",
    [
        {"name": "web"},  # the right revision of the wrong Deployment
        {"kind": "StatefulSet"},
        {"kind": None, "name": None},  # the old shape, revision only
    ],
)
def test_an_approval_must_name_the_suspects_kind_and_name(named: dict[str, Any]) -> None:
    request = scenario()
    approval = {k: v for k, v in {**dict(request.approval or {}), **named}.items() if v}
    message = refused(replace(request, approval=approval), "ApprovalTargetMismatch").message
    assert "the suspect is Deployment/api" in message


def test_a_suspect_outside_the_incidents_scope_is_never_undone() -> None:
    # A forged status.suspect cannot aim the undo outside spec.scope: the labels of the
    # Deployment read fresh decide, not the status.
    request = replace(scenario(), scope_selector={"matchLabels": {"app": "checkout"}})
    refused(request, "SuspectOutOfScope")
    inside = replace(scenario(), scope_selector={"matchLabels": {"app": "api"}})
    assert isinstance(check_undo(inside), UndoPlan)


def test_a_paused_deployment_is_refused() -> None:
    request = scenario(paused=True)
    assert "kubectl rollout resume deployment/api" in refused(request, "DeploymentPaused").message


def test_a_changed_target_is_reported_before_a_pause() -> None:
    request = scenario(paused=True)
    refused(replace(request, deployment=None), "TargetChanged")


def test_no_previous_revision_is_refused_after_the_pause_check() -> None:
    single = scenario(images=({"api": "registry/api:1.0"},))
    assert "no revision before 1" in refused(single, "NoPreviousRevision").message
    paused = scenario(images=({"api": "registry/api:1.0"},), paused=True)
    refused(paused, "DeploymentPaused")


def test_a_previous_revision_with_the_same_template_is_refused() -> None:
    # Two revisions with one template (kubernetes/kubernetes#40415): kubectl would skip.
    request = scenario(images=({"api": "registry/api:1.4.3"}, {"api": "registry/api:1.4.3"}))
    request.replicasets[0]["metadata"]["name"] = "api-5d8c7f9b4x"
    message = refused(request, "AlreadyAtRevision").message
    assert "revision 1" in message


def test_check_undo_does_not_mutate_its_inputs() -> None:
    request = scenario()
    before = copy.deepcopy(request)
    check_undo(request)
    assert request == before


def test_an_unverified_approval_is_reported_before_a_revision_mismatch() -> None:
    request = replace(
        scenario(),
        approval={"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 2},
        approval_verified=False,
    )
    refused(request, "ApprovalUnverified")


def test_a_revision_mismatch_is_reported_before_a_changed_target() -> None:
    request = replace(
        scenario(),
        approval={"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 2},
        deployment=None,
    )
    refused(request, "ApprovalRevisionMismatch")
