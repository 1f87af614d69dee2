"""The incident playbook's pure steps, driven the way handlers.py drives them.

Every scenario starts from a realistic Incident body and Deployment/ReplicaSet history
(factories.py), runs the steps with an explicit `now`, and "commits" each draft by
applying its merge patch to the old status, exactly as the API server would, before the
next reconcile reads it back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from factories import NAMESPACE, REVISION, T0, apply_merge_patch, history, stamp

from tourniquet.api.vocabulary import ConditionType
from tourniquet.core import lifecycle as flow
from tourniquet.core.conditions import get_condition
from tourniquet.core.draft import Draft, Notice, Observation, merge_patch
from tourniquet.core.guards import Refusal
from tourniquet.core.projections import deployment_view, replicaset_view
from tourniquet.core.rollback import UndoPlan, undo_plan
from tourniquet.core.rollout_status import RolloutStatus, rollout_status
from tourniquet.core.suspect import Suspect, find_suspect

NAME = "api-errors"
IMPACT = T0 + timedelta(minutes=30)  # spec.startedAt: 09:30
CREATED = T0 + timedelta(hours=1)  # the Incident object: 10:00
NOW = T0 + timedelta(hours=2)  # 11:00
MINUTE = timedelta(minutes=1)
APPROVAL: dict[str, Any] = {
    "approvedBy": "alice",
    "kind": "Deployment",
    "name": "api",
    "revision": 2,
}
APPROVE_COMMAND = (
    f"kubectl patch incident {NAME} -n {NAMESPACE} --subresource=status --type=merge "
    """-p '{"status":{"approval":{"approvedBy":"alice","kind":"Deployment","name":"api","""
    """"revision":2}}}'"""
)
UNVERIFIED = Refusal("ApprovalUnverified", "The approval by alice cannot be trusted.")

Body = dict[str, Any]
Mutation = Callable[[Body], None]


# -- building blocks -------------------------------------------------------------------


def incident(
    status: Mapping[str, Any] | None = None,
    *,
    started_at: datetime | None = IMPACT,
    commander: str | None = "alice",
    resolved: bool = False,
    generation: int = 1,
    created_at: datetime | None = CREATED,
) -> Body:
    spec: Body = {
        "title": "Elevated 5xx on api",
        "severity": "SEV1",
        "roles": {"commander": commander} if commander is not None else {},
        "resolved": resolved,
    }
    if started_at is not None:
        spec["startedAt"] = stamp(started_at)
    metadata: Body = {
        "name": NAME,
        "namespace": NAMESPACE,
        "uid": "uid-incident-1",
        "resourceVersion": "100",
        "generation": generation,
    }
    if created_at is not None:
        metadata["creationTimestamp"] = stamp(created_at)
    body: Body = {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": metadata,
        "spec": spec,
    }
    if status is not None:
        body["status"] = copy.deepcopy(dict(status))
    return body


def committed(d: Draft) -> Body:
    """The Incident after the API server applied the draft's patch."""
    written = apply_merge_patch(d.old, d.patch())
    assert written == d.status, "the merge patch must reproduce the draft's status"
    body = copy.deepcopy(d.snapshot())
    body["status"] = written
    body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
    return body


def reread(d: Draft, at: datetime, *mutations: Mutation) -> Draft:
    """The next reconcile: the committed Incident, perhaps changed by the IC, read at `at`."""
    body = committed(d)
    for mutate in mutations:
        mutate(body)
    return Draft(body, at)


def approve(approval: Mapping[str, Any] | None = None) -> Mutation:
    def mutate(body: Body) -> None:
        body["status"]["approval"] = dict(approval if approval is not None else APPROVAL)

    return mutate


def clear_approval(body: Body) -> None:
    body["status"].pop("approval", None)


def all_clear(body: Body) -> None:
    body["spec"]["resolved"] = True
    body["metadata"]["generation"] += 1


def api_history(
    images: tuple[str, ...] = ("registry/api:1.4.2", "registry/api:1.4.3"),
) -> tuple[Body, list[Body]]:
    """deployment/api at revision len(images), one ReplicaSet per revision, before CREATED."""
    return history(
        "api", [{"api": image} for image in images], start=T0 - timedelta(hours=len(images))
    )


def suspect_in(api: Mapping[str, Any], rss: list[Body]) -> Suspect:
    found = find_suspect([deployment_view(api)], [replicaset_view(rs) for rs in rss], None)
    assert found is not None
    return found


def kinds(d: Draft) -> list[str]:
    return [entry["kind"] for entry in d.status.get("timeline", [])]


def cond(d: Draft, type_: str) -> dict[str, Any]:
    found = get_condition(d.status.get("conditions"), type_)
    assert found is not None, f"no {type_} condition in {d.status.get('conditions')}"
    return found


def quiet(d: Draft) -> bool:
    """Nothing to write, announce or count."""
    return d.patch() == {} and d.notices == [] and d.observations == []


# -- scenarios, each one reconcile further ---------------------------------------------


def declared(at: datetime = NOW, **incident_args: Any) -> Draft:
    d = Draft(incident(**incident_args), at)
    flow.declare(d)
    return d


def offered(**incident_args: Any) -> tuple[Draft, Body, list[Body]]:
    """Declared and suspecting deployment/api revision 2 (previous: 1), undo offered."""
    api, rss = api_history()
    d = declared(**incident_args)
    flow.identify_suspect(d, suspect_in(api, rss))
    return d, api, rss


def approved(
    approval: Mapping[str, Any] | None = None, **incident_args: Any
) -> tuple[Draft, Body, list[Body]]:
    """The next reconcile after the IC approved (by default alice, revision 2)."""
    d, api, rss = offered(**incident_args)
    return reread(d, NOW + MINUTE, approve(approval)), api, rss


def plan_for(api: Mapping[str, Any], rss: list[Body]) -> UndoPlan:
    return undo_plan(api, rss)


def claimed(**incident_args: Any) -> tuple[Draft, Body, list[Body]]:
    d, api, rss = approved(**incident_args)
    flow.claim_undo(d, plan_for(api, rss), "api", api["metadata"]["resourceVersion"])
    return d, api, rss


def patched(**incident_args: Any) -> tuple[Draft, Body, list[Body]]:
    d, api, rss = claimed(**incident_args)
    d = reread(d, NOW + 2 * MINUTE)
    flow.undo_patched(d)
    return d, api, rss


def following(at: datetime, **incident_args: Any) -> tuple[Draft, Body, list[Body]]:
    d, api, rss = patched(**incident_args)
    return reread(d, at), api, rss


def reconcile(d: Draft, found: Suspect | None, decide: Callable[[Draft], None]) -> None:
    """handlers._reconcile's order of steps, with the cluster-facing part given as `decide`."""
    flow.declare(d)
    flow.forget_cleared_approval(d)
    if flow.suspect_may_change(d):
        flow.identify_suspect(d, found)
    if flow.second_approval(d):
        flow.refuse_second_undo(d)
    if flow.awaiting_undo(d):
        decide(d)
    flow.resolve(d)
    flow.finish(d)


def never_asked(d: Draft) -> None:
    raise AssertionError("the operator acted on an approval it had already answered")


# -- Draft: facts, snapshot, patch -----------------------------------------------------


def test_draft_reads_the_incidents_facts() -> None:
    d = Draft(incident(generation=4), NOW)
    assert (d.name, d.namespace, d.uid) == (NAME, NAMESPACE, "uid-incident-1")
    assert (d.resource_version, d.generation, d.severity) == ("100", 4, "SEV1")
    assert d.commander == "alice"
    assert (d.api_version, d.kind) == ("tourniquet.dev/v1alpha1", "Incident")
    assert (d.suspect, d.approval, d.mitigation) == (None, None, None)
    assert d.status == d.old == {}


def test_draft_defaults_for_a_sparse_body() -> None:
    d = Draft({"metadata": {"name": NAME, "generation": "7"}}, NOW)
    assert d.resource_version is None
    assert d.generation is None  # not an int
    assert d.severity == "SEV3"
    assert d.commander is None
    assert d.impact_started_at == NOW


@pytest.mark.parametrize(
    ("started_at", "created_at", "expected"),
    [(IMPACT, CREATED, IMPACT), (None, CREATED, CREATED), (None, None, NOW)],
)
def test_impact_starts_at_spec_started_at_else_creation_else_now(
    started_at: datetime | None, created_at: datetime | None, expected: datetime
) -> None:
    d = Draft(incident(started_at=started_at, created_at=created_at), NOW)
    assert d.impact_started_at == expected


@pytest.mark.parametrize("commander", ["", None])
def test_an_empty_commander_is_no_commander(commander: str | None) -> None:
    assert Draft(incident(commander=commander), NOW).commander is None


def test_the_draft_is_a_snapshot_of_the_body() -> None:
    body = incident({"approval": dict(APPROVAL), "conditions": [{"type": "Ready"}]})
    body["metadata"]["labels"] = {"team": "api"}
    d = Draft(body, NOW)
    body["metadata"]["resourceVersion"] = "999"
    body["metadata"]["labels"]["team"] = "web"
    body["metadata"]["name"] = "renamed"
    body["spec"]["resolved"] = True
    body["spec"]["roles"]["commander"] = "mallory"
    body["status"]["approval"]["approvedBy"] = "mallory"
    body["status"]["conditions"].append({"type": "Mitigated"})
    body["status"]["phase"] = "Closed"
    assert d.resource_version == "100"
    assert d.metadata["labels"] == {"team": "api"}
    assert d.name == NAME
    assert d.spec["resolved"] is False
    assert d.commander == "alice"
    assert d.approval == APPROVAL
    assert d.status["conditions"] == [{"type": "Ready"}]
    assert "phase" not in d.status
    assert d.patch() == {}


def test_steps_change_neither_the_body_nor_the_old_status() -> None:
    body = incident({"approval": dict(APPROVAL)})
    pristine = copy.deepcopy(body)
    d = Draft(body, NOW)
    api, rss = api_history()
    flow.declare(d)
    flow.identify_suspect(d, suspect_in(api, rss))
    flow.finish(d)
    assert body == pristine
    assert d.old == pristine["status"]


def test_snapshot_is_the_object_as_the_draft_leaves_it() -> None:
    d = declared()
    snapshot = d.snapshot()
    assert snapshot["apiVersion"] == "tourniquet.dev/v1alpha1"
    assert snapshot["kind"] == "Incident"
    assert snapshot["metadata"]["name"] == NAME
    assert snapshot["status"]["declaredAt"] == stamp(CREATED)


def test_an_untouched_draft_patches_nothing() -> None:
    d = Draft(incident({"phase": "Declared", "timeline": [{"kind": "Declared"}]}), NOW)
    assert d.patch() == {}


def test_merge_patch_of_equal_objects_is_empty() -> None:
    status = {"phase": "Mitigating", "mitigation": {"result": "InProgress", "fromRevision": 2}}
    assert merge_patch(status, copy.deepcopy(status)) == {}
    assert merge_patch({}, {}) == {}


def test_merge_patch_diffs_nested_objects() -> None:
    old = {
        "phase": "Declared",
        "mitigation": {
            "result": "Pending",
            "kind": "Deployment",
            "name": "api",
            "reason": "NoApproval",
        },
    }
    new = {
        "phase": "Mitigating",
        "mitigation": {
            "result": "InProgress",
            "kind": "Deployment",
            "name": "api",
            "reason": "UndoStarted",
        },
    }
    assert merge_patch(old, new) == {
        "phase": "Mitigating",
        "mitigation": {"result": "InProgress", "reason": "UndoStarted"},
    }


def test_merge_patch_nulls_removed_keys_at_every_depth() -> None:
    old = {
        "suspect": {"kind": "Deployment", "name": "api", "previousRevision": 1},
        "mitigation": {"x": 1},
    }
    new = {"suspect": {"kind": "Deployment", "name": "api"}}
    assert merge_patch(old, new) == {"suspect": {"previousRevision": None}, "mitigation": None}


def test_merge_patch_replaces_lists_whole() -> None:
    old = {"timeline": [{"kind": "Declared"}], "conditions": [{"type": "A"}, {"type": "B"}]}
    new = {"timeline": [{"kind": "Declared"}, {"kind": "Resolved"}], "conditions": [{"type": "A"}]}
    assert merge_patch(old, new) == new


def test_merge_patch_replaces_a_value_that_changes_type() -> None:
    assert merge_patch({"a": {"b": 1}, "c": 1}, {"a": 2, "c": {"d": 3}}) == {
        "a": 2,
        "c": {"d": 3},
    }


def test_merge_patch_leaves_its_inputs_alone() -> None:
    old: dict[str, Any] = {"a": {"b": 1, "c": 2}}
    new: dict[str, Any] = {"a": {"b": 1}}
    merge_patch(old, new)
    assert old == {"a": {"b": 1, "c": 2}} and new == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({}, {"a": {"b": {"c": 1}}}),
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"c": 1}}}),
        ({"a": {"b": 1}, "x": [1, 2]}, {"x": [2]}),
        ({"a": 1}, {"a": {"b": 1}}),
        ({"mitigation": {"result": "Refused", "approvedBy": "a"}}, {"mitigation": {"r": 1}}),
    ],
)
def test_merge_patch_applied_by_the_api_server_yields_the_new_object(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert apply_merge_patch(old, merge_patch(old, new)) == new


# -- declare ---------------------------------------------------------------------------


def test_declare_on_first_sight() -> None:
    d = declared()
    message = "SEV1 declared: Elevated 5xx on api (Incident Commander: alice)"
    assert d.status["declaredAt"] == stamp(CREATED)
    assert d.status["timeline"] == [{"at": stamp(NOW), "kind": "Declared", "message": message}]
    assert d.notices == [Notice("Normal", "Declared", message)]
    assert d.observations == [Observation("declared")]
    assert d.patch() == {"declaredAt": stamp(CREATED), "timeline": d.status["timeline"]}


def test_declare_twice_records_nothing_new() -> None:
    d = declared()
    before = copy.deepcopy(d.status)
    flow.declare(d)
    assert d.status == before
    assert len(d.notices) == 1 and len(d.observations) == 1
    again = reread(d, NOW + MINUTE)
    flow.declare(again)
    assert quiet(again)


def test_declare_without_commander_or_creation_time() -> None:
    d = declared(commander=None, created_at=None)
    assert d.status["declaredAt"] == stamp(NOW)
    assert d.notices[0].message.endswith("(Incident Commander: none named)")


# -- identify_suspect ------------------------------------------------------------------


def test_identify_suspect_names_the_rollout_and_offers_its_undo() -> None:
    d, api, rss = offered()
    found = suspect_in(api, rss)
    what = (
        f"deployment/api revision 2 rolled out at {stamp(T0 - timedelta(hours=1))} "
        "(api: registry/api:1.4.2 -> registry/api:1.4.3)"
    )
    assert d.suspect == found.to_status()
    assert d.suspect["replicaSet"] == rss[1]["metadata"]["name"]
    identified = cond(d, ConditionType.SUSPECT_IDENTIFIED)
    assert (identified["status"], identified["reason"]) == ("True", "SuspectIdentified")
    assert identified["message"] == f"most recent rollout in scope: {what}"
    assert identified["observedGeneration"] == 1
    assert kinds(d) == ["Declared", "SuspectIdentified"]
    assert d.status["timeline"][-1]["message"] == f"suspect: {what}"
    assert d.notices[-1] == Notice("Normal", "SuspectIdentified", f"suspect: {what}")
    mitigation = d.mitigation
    assert mitigation is not None
    assert {k: v for k, v in mitigation.items() if k != "message"} == {
        "action": "RolloutUndo",
        "kind": "Deployment",
        "name": "api",
        "fromRevision": 2,
        "toRevision": 1,
        "result": "Pending",
        "reason": "NoApproval",
    }
    assert mitigation["message"] == (
        "rollout undo of deployment/api from revision 2 to 1 awaits the Incident "
        f"Commander's approval: {APPROVE_COMMAND}"
    )
    approved_ = cond(d, ConditionType.APPROVED)
    assert (approved_["status"], approved_["reason"]) == ("False", "NoApproval")
    assert approved_["message"].endswith(APPROVE_COMMAND)
    assert d.observations == [Observation("declared")]
    assert flow.phase(d) == "Declared"


def test_the_approve_command_names_a_placeholder_without_commander() -> None:
    d, _, _ = offered(commander=None)
    assert (
        '"approvedBy":"<commander>","kind":"Deployment","name":"api","revision":2'
        in ((d.mitigation or {})["message"])
    )


def test_a_first_rollout_offers_no_undo() -> None:
    api, rss = api_history(("registry/api:1.4.3",))
    d = declared()
    flow.identify_suspect(d, suspect_in(api, rss))
    assert d.suspect is not None and "previousRevision" not in d.suspect
    assert d.mitigation is None
    approved_ = cond(d, ConditionType.APPROVED)
    assert (approved_["status"], approved_["reason"]) == ("False", "NoApproval")
    assert "no previous revision" in approved_["message"]
    assert "kubectl patch" not in approved_["message"]


def test_a_replacing_suspect_without_previous_revision_withdraws_the_offer() -> None:
    d, _, _ = offered()
    d = reread(d, NOW + MINUTE)
    first = Suspect("worker", "worker-abc", 1, None, NOW, "first rollout: w=w:1")
    flow.identify_suspect(d, first)
    assert d.mitigation is None
    assert d.patch()["mitigation"] is None
    assert kinds(d)[-1] == "SuspectReplaced"


def test_no_rollout_in_scope_is_said_once() -> None:
    d = declared()
    flow.identify_suspect(d, None)
    message = "no Deployment, StatefulSet or DaemonSet rollout found in the incident's scope"
    identified = cond(d, ConditionType.SUSPECT_IDENTIFIED)
    assert (identified["status"], identified["reason"]) == ("False", "NoRecentRollout")
    assert identified["message"] == message
    assert kinds(d) == ["Declared", "NoRecentRollout"]
    assert d.notices[-1] == Notice("Normal", "NoRecentRollout", message)
    assert d.suspect is None and d.mitigation is None
    flow.identify_suspect(d, None)
    assert kinds(d) == ["Declared", "NoRecentRollout"] and len(d.notices) == 2
    again = reread(d, NOW + 5 * MINUTE)
    flow.identify_suspect(again, None)
    assert quiet(again)


def test_a_suspect_is_not_forgotten_when_its_rollout_leaves_the_scope() -> None:
    d, _, _ = offered()
    d = reread(d, NOW + MINUTE)
    flow.identify_suspect(d, None)
    assert quiet(d)
    assert d.suspect is not None


def test_the_same_suspect_again_writes_nothing() -> None:
    d, api, rss = offered()
    d = reread(d, NOW + MINUTE)
    flow.identify_suspect(d, suspect_in(api, rss))
    assert quiet(d)


def test_a_newer_rollout_replaces_the_suspect() -> None:
    d, _, _ = offered()
    api, rss = api_history(("registry/api:1.4.2", "registry/api:1.4.3", "registry/api:1.4.4"))
    newer = suspect_in(api, rss)
    d = reread(d, NOW + MINUTE)
    flow.identify_suspect(d, newer)
    assert d.suspect == newer.to_status()
    assert kinds(d) == ["Declared", "SuspectIdentified", "SuspectReplaced"]
    assert [n.reason for n in d.notices] == ["SuspectReplaced"]
    assert cond(d, ConditionType.SUSPECT_IDENTIFIED)["reason"] == "SuspectReplaced"
    mitigation = d.mitigation or {}
    assert (mitigation["fromRevision"], mitigation["toRevision"]) == (3, 2)
    assert mitigation["result"] == "Pending"
    assert '"revision":3}}}' in mitigation["message"]
    assert d.patch()["suspect"]["revision"] == 3


def frozen_by_approval(d: Draft) -> None:
    d.status["approval"] = dict(APPROVAL)


def started(result: str) -> Callable[[Draft], None]:
    def mutate(d: Draft) -> None:
        d.status["mitigation"] = {**(d.mitigation or {}), "result": result}

    return mutate


def resolved_by_ic(d: Draft) -> None:
    d.spec["resolved"] = True


@pytest.mark.parametrize(
    "freeze",
    [
        frozen_by_approval,
        started("InProgress"),
        started("Succeeded"),
        started("Failed"),
        resolved_by_ic,
    ],
    ids=["awaiting-approval", "in-progress", "succeeded", "failed", "resolved"],
)
def test_the_suspect_is_frozen(freeze: Callable[[Draft], None]) -> None:
    d, _, _ = offered()
    d = reread(d, NOW + MINUTE)
    freeze(d)
    assert not flow.suspect_may_change(d)
    before = copy.deepcopy(d.status)
    api, rss = api_history(("registry/api:1.4.2", "registry/api:1.4.3", "registry/api:1.4.4"))
    flow.identify_suspect(d, suspect_in(api, rss))
    flow.identify_suspect(d, None)
    assert d.status == before
    assert d.notices == [] and d.observations == []


@pytest.mark.parametrize("result", ["Pending", "Refused"])
def test_the_suspect_may_change_before_an_undo_started(result: str) -> None:
    d, _, _ = offered()
    d = reread(d, NOW + MINUTE)
    started(result)(d)
    assert flow.suspect_may_change(d)


def test_an_answered_approval_no_longer_freezes_the_suspect() -> None:
    d, _, _ = approved()
    assert not flow.suspect_may_change(d)
    flow.refuse(d, UNVERIFIED)
    assert flow.suspect_may_change(d)


# -- approvals and refusals ------------------------------------------------------------


def test_an_approval_awaits_an_answer() -> None:
    d, _, _ = offered()
    assert not flow.awaiting_undo(d) and not flow.approval_answered(d)
    d, _, _ = approved()
    assert flow.awaiting_undo(d)
    assert not flow.approval_answered(d)
    assert not flow.second_approval(d)


def test_a_refusal_answers_the_approval_and_says_why() -> None:
    d, _, _ = approved()
    flow.refuse(d, UNVERIFIED)
    assert flow.approval_answered(d)
    assert not flow.awaiting_undo(d)
    assert d.status["answeredApproval"] == APPROVAL
    assert d.mitigation == {
        "action": "RolloutUndo",
        "kind": "Deployment",
        "name": "api",
        "fromRevision": 2,
        "toRevision": 1,
        "result": "Refused",
        "reason": "ApprovalUnverified",
        "message": UNVERIFIED.message,
        "finishedAt": stamp(NOW + MINUTE),
        "approvedBy": "alice",
        "approvalRevision": 2,
    }
    text = (
        "undo refused (#1, ApprovalUnverified) for the approval by alice of revision 2: "
        f"{UNVERIFIED.message}"
    )
    assert d.status["timeline"][-1] == {
        "at": stamp(NOW + MINUTE),
        "kind": "UndoRefused",
        "message": text,
    }
    assert d.notices == [Notice("Warning", "ApprovalUnverified", text)]
    assert d.observations == [Observation("rollback", result="refused", reason=UNVERIFIED.reason)]
    mitigated = cond(d, ConditionType.MITIGATED)
    assert (mitigated["status"], mitigated["reason"], mitigated["message"]) == (
        "False",
        "ApprovalUnverified",
        UNVERIFIED.message,
    )
    assert flow.phase(d) == "Declared"


def test_a_refusal_without_suspect_keeps_the_offer_and_drops_unknowns() -> None:
    d = reread(declared(), NOW + MINUTE, approve({"revision": 2}))
    flow.refuse(d, Refusal("NoApproval", "No approval yet."))
    assert d.mitigation == {
        "action": "RolloutUndo",
        "result": "Refused",
        "reason": "NoApproval",
        "message": "No approval yet.",
        "finishedAt": stamp(NOW + MINUTE),
        "approvalRevision": 2,
    }
    assert d.status["answeredApproval"] == {"revision": 2}


def test_a_refused_approval_is_not_refused_again() -> None:
    d, api, rss = approved()
    reconcile(d, suspect_in(api, rss), lambda d: flow.refuse(d, UNVERIFIED))
    assert len(d.observations) == 1
    for minutes in (2, 3):
        d = reread(d, NOW + minutes * MINUTE)
        reconcile(d, suspect_in(api, rss), never_asked)
        assert quiet(d)
        assert not flow.awaiting_undo(d)


@pytest.mark.parametrize(
    "other",
    [
        {"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 3},
        {"approvedBy": "bob", "revision": 2},
    ],
    ids=["other-revision", "other-approver"],
)
def test_a_different_approval_awaits_again(other: dict[str, Any]) -> None:
    d, _, _ = approved()
    flow.refuse(d, UNVERIFIED)
    d = reread(d, NOW + 2 * MINUTE, approve(other))
    assert not flow.approval_answered(d)
    assert flow.awaiting_undo(d)
    assert not flow.suspect_may_change(d)


def test_clearing_and_approving_again_retries_a_refused_undo() -> None:
    d, api, rss = approved()
    found = suspect_in(api, rss)
    reconcile(d, found, lambda d: flow.refuse(d, UNVERIFIED))
    # The IC installs the policy, clears the approval; the operator sees it cleared...
    d = reread(d, NOW + 2 * MINUTE, clear_approval)
    reconcile(d, found, never_asked)
    # ...and approves again, as guards.py, models.py and approval_answered() tell them to.
    d = reread(d, NOW + 3 * MINUTE, approve())
    assert flow.awaiting_undo(d)


def test_every_refused_approval_gets_its_warning_event() -> None:
    d, _, _ = approved()
    flow.refuse(d, UNVERIFIED)
    # A newer rollout replaces the suspect; the IC approves it; the policy is still missing.
    api, rss = api_history(("registry/api:1.4.2", "registry/api:1.4.3", "registry/api:1.4.4"))
    d = reread(d, NOW + 2 * MINUTE)
    flow.identify_suspect(d, suspect_in(api, rss))
    d = reread(
        d,
        NOW + 3 * MINUTE,
        approve({"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 3}),
    )
    assert flow.awaiting_undo(d)
    flow.refuse(d, UNVERIFIED)
    assert d.observations == [Observation("rollback", result="refused", reason=UNVERIFIED.reason)]
    assert d.mitigation is not None and d.mitigation["approvalRevision"] == 3
    # ../shared/DESIGN.md, "Guarded undo": refused "with a condition reason, an Event and a metric".
    assert [n.reason for n in d.notices] == ["ApprovalUnverified"]


def test_claiming_answers_the_approval() -> None:
    d, _, _ = claimed()
    assert flow.approval_answered(d)
    assert flow.mitigation_started(d)
    assert not flow.awaiting_undo(d)
    assert not flow.second_approval(d)
    assert not flow.suspect_may_change(d)
    assert d.status["answeredApproval"] == APPROVAL


def mitigated(**incident_args: Any) -> Draft:
    d, api, _ = following(NOW + 5 * MINUTE, **incident_args)
    flow.follow_rollout(d, rollout_status(api), 600)
    assert (d.mitigation or {})["result"] == "Succeeded"
    return d


@pytest.mark.parametrize("result", ["InProgress", "Succeeded", "Failed"])
def test_second_approval_needs_a_started_undo_and_a_new_approval(result: str) -> None:
    d, _, _ = claimed()
    d = reread(d, NOW + 2 * MINUTE)
    started(result)(d)
    assert not flow.second_approval(d)  # the approval it acted on
    d.status["approval"] = {"approvedBy": "bob", "revision": 2}
    assert flow.second_approval(d)
    clear_approval({"status": d.status})
    assert not flow.second_approval(d)


def test_no_second_approval_before_an_undo_started() -> None:
    d, _, _ = approved()
    assert not flow.second_approval(d)


def test_a_second_approval_is_refused_and_the_undo_record_kept() -> None:
    d = mitigated()
    d = reread(d, NOW + 10 * MINUTE, approve({"approvedBy": "bob", "revision": 2}))
    record = copy.deepcopy(d.mitigation)
    assert flow.second_approval(d)
    flow.refuse_second_undo(d)
    assert d.mitigation == record
    assert (d.mitigation or {})["result"] == "Succeeded"
    approved_ = cond(d, ConditionType.APPROVED)
    assert (approved_["status"], approved_["reason"]) == ("False", "AlreadyMitigated")
    assert "deployment/api (revision 2 -> 1, Succeeded)" in approved_["message"]
    assert "the approval by bob for revision 2 was not acted on" in approved_["message"]
    assert kinds(d)[-1] == "UndoRefused"
    assert [(n.type, n.reason) for n in d.notices] == [("Warning", "AlreadyMitigated")]
    refused = [Observation("rollback", result="refused", reason="AlreadyMitigated")]
    assert d.observations == refused
    assert d.status["answeredApproval"] == {"approvedBy": "bob", "revision": 2}
    assert not flow.second_approval(d)
    assert flow.phase(d) == "Mitigated"
    flow.refuse_second_undo(d)
    assert d.observations == refused and len(d.notices) == 1
    flow.finish(d)
    d = reread(d, NOW + 11 * MINUTE)
    reconcile(d, None, never_asked)
    flow.refuse_second_undo(d)  # even if called again, nothing is counted twice
    assert quiet(d)


# -- claim, patch, follow --------------------------------------------------------------


def test_claim_writes_the_undo_down_before_making_it() -> None:
    d, _, rss = claimed()
    at = stamp(NOW + MINUTE)
    target = rss[0]["metadata"]["name"]
    message = (
        f"rolling back deployment/api from revision 2 to 1 (the template of replicaset/{target})"
    )
    assert d.mitigation == {
        "action": "RolloutUndo",
        "kind": "Deployment",
        "name": "api",
        "fromRevision": 2,
        "toRevision": 1,
        "replicaSet": target,
        "result": "InProgress",
        "reason": "UndoStarted",
        "message": message,
        "startedAt": at,
        "preconditionResourceVersion": "4242",
        "approvedBy": "alice",
        "approvalRevision": 2,
    }
    assert d.status["timeline"][-2:] == [
        {
            "at": at,
            "kind": "Approved",
            "message": "alice approved the undo of revision 2",
            "actor": "alice",
        },
        {"at": at, "kind": "MitigationStarted", "message": message},
    ]
    assert [(n.reason, n.deployment) for n in d.notices] == [
        ("Approved", None),
        ("MitigationStarted", None),
    ]
    assert d.observations == []
    approved_ = cond(d, ConditionType.APPROVED)
    assert (approved_["status"], approved_["reason"]) == ("True", "Approved")
    mitigated_ = cond(d, ConditionType.MITIGATED)
    assert (mitigated_["status"], mitigated_["reason"]) == ("False", "RolloutInProgress")
    assert flow.phase(d) == "Mitigating"


def test_undo_patched_is_announced_on_the_incident_and_the_deployment() -> None:
    d, _, _ = patched()
    at = stamp(NOW + 2 * MINUTE)
    assert (d.mitigation or {})["patchedAt"] == at
    assert d.patch() == {
        "mitigation": {"patchedAt": at},
        "timeline": d.status["timeline"],
    }
    entry = d.status["timeline"][-1]
    assert entry == {
        "at": at,
        "kind": "RolloutUndone",
        "message": "deployment/api set back to the template of revision 1",
    }
    incident_notice, deployment_notice = d.notices
    assert incident_notice == Notice("Normal", "RolloutUndone", entry["message"])
    assert deployment_notice == Notice(
        "Normal",
        "RolloutUndone",
        f"Tourniquet undid revision 2 (back to the template of revision 1) for incident "
        f"{NAMESPACE}/{NAME}, approved by alice",
        deployment="api",
    )


def test_undo_patched_twice_changes_nothing() -> None:
    d, _, _ = patched()
    flow.undo_patched(d)
    assert len(d.notices) == 2
    again = reread(d, NOW + 3 * MINUTE)
    flow.undo_patched(again, recovered=True)
    assert quiet(again)
    assert (again.mitigation or {})["patchedAt"] == stamp(NOW + 2 * MINUTE)


def test_undo_found_applied_after_a_restart_says_so() -> None:
    d, _, _ = claimed()
    d = reread(d, NOW + 2 * MINUTE)
    flow.undo_patched(d, recovered=True)
    assert d.status["timeline"][-1]["message"].endswith(
        "revision 1 (found applied after an operator restart)"
    )
    assert d.notices[1].deployment == "api"


@pytest.mark.parametrize(
    ("started_at", "expected_seconds"),
    [(IMPACT, 5700.0), (None, 3900.0)],  # 09:30 or creation at 10:00, to 11:05
    ids=["from-spec-startedAt", "from-creation"],
)
def test_a_completed_rollout_is_mitigation(
    started_at: datetime | None, expected_seconds: float
) -> None:
    at = NOW + 5 * MINUTE
    d, api, _ = following(at, started_at=started_at)
    status = rollout_status(api)
    assert status.done
    flow.follow_rollout(d, status, 600)
    mitigation = d.mitigation or {}
    assert (mitigation["result"], mitigation["reason"]) == ("Succeeded", "RolloutComplete")
    assert mitigation["message"] == 'deployment "api" successfully rolled out'
    assert mitigation["finishedAt"] == stamp(at)
    assert d.status["mitigatedAt"] == stamp(at)
    assert d.status["timeToMitigateSeconds"] == expected_seconds
    assert d.status["timeline"][-1]["message"] == (
        f'deployment "api" successfully rolled out; time to mitigate {expected_seconds:.0f}s'
    )
    assert [n.reason for n in d.notices] == ["Mitigated"]
    mitigated_ = cond(d, ConditionType.MITIGATED)
    assert (mitigated_["status"], mitigated_["reason"]) == ("True", "RolloutComplete")
    assert d.observations == [
        Observation("time_to_mitigate", expected_seconds),
        Observation("rollback", result="succeeded"),
    ]
    assert flow.phase(d) == "Mitigated"


def test_a_rollout_past_its_progress_deadline_fails_the_mitigation() -> None:
    d, api, _ = following(NOW + 5 * MINUTE)
    api["status"]["conditions"][1]["reason"] = "ProgressDeadlineExceeded"
    status = rollout_status(api)
    assert status.failed
    flow.follow_rollout(d, status, 600)
    mitigation = d.mitigation or {}
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "ProgressDeadlineExceeded")
    assert mitigation["message"] == status.message
    assert mitigation["finishedAt"] == stamp(NOW + 5 * MINUTE)
    assert kinds(d)[-1] == "MitigationFailed"
    assert [(n.type, n.reason) for n in d.notices] == [("Warning", "MitigationFailed")]
    assert cond(d, ConditionType.MITIGATED)["reason"] == "ProgressDeadlineExceeded"
    assert d.observations == [
        Observation("rollback", result="failed", reason="ProgressDeadlineExceeded")
    ]
    assert "mitigatedAt" not in d.status
    assert flow.phase(d) == "Mitigating"


WAITING = RolloutStatus(False, False, 'Waiting for deployment "api" rollout to finish: 1 of 3')


def test_a_rollout_still_going_only_updates_the_message() -> None:
    # claimed at NOW + 1 min; 600 s later exactly is not yet "older than the timeout".
    d, _, _ = following(NOW + MINUTE + timedelta(seconds=600))
    flow.follow_rollout(d, WAITING, 600)
    assert d.patch() == {"mitigation": {"message": WAITING.message}}
    assert d.notices == [] and d.observations == []
    assert (d.mitigation or {})["result"] == "InProgress"


def test_a_rollout_older_than_the_timeout_fails() -> None:
    d, _, _ = following(NOW + MINUTE + timedelta(seconds=601))
    flow.follow_rollout(d, WAITING, 600)
    mitigation = d.mitigation or {}
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "RolloutTimeout")
    assert mitigation["message"] == f"rollout not complete after 600s: {WAITING.message}"
    assert d.observations == [Observation("rollback", result="failed", reason="RolloutTimeout")]
    assert d.notices[0].type == "Warning"


def test_a_rejected_patch_is_a_refusal_that_leaves_the_deployment_alone() -> None:
    d, _, _ = claimed()
    d = reread(d, NOW + 2 * MINUTE)
    flow.patch_rejected(d)
    mitigation = d.mitigation or {}
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "TargetChanged")
    assert mitigation["replicaSet"] and mitigation["startedAt"]  # the claim is kept
    assert "was not overwritten" in mitigation["message"]
    assert [(n.type, n.reason) for n in d.notices] == [("Warning", "TargetChanged")]
    assert d.observations == [Observation("rollback", result="refused", reason="TargetChanged")]
    assert not flow.mitigation_started(d)
    assert flow.phase(d) == "Declared"


def test_undo_failed_records_the_reason() -> None:
    d, _, _ = claimed()
    flow.undo_failed(d, "UndoRejected", "the API server rejected the undo: nope")
    assert (d.mitigation or {})["result"] == "Failed"
    assert d.status["timeline"][-1]["message"] == (
        "mitigation failed (UndoRejected): the API server rejected the undo: nope"
    )
    assert d.observations[-1] == Observation("rollback", result="failed", reason="UndoRejected")


# -- undo_landed -----------------------------------------------------------------------


def after_undo(api: Mapping[str, Any], plan: UndoPlan) -> Body:
    """The Deployment once the undo patch landed and the controller bumped its revision."""
    landed = copy.deepcopy(dict(api))
    landed["spec"]["template"] = plan.patch[1]["value"]
    landed["metadata"]["annotations"] = {**plan.patch[2]["value"], REVISION: "3"}
    landed["metadata"]["resourceVersion"] = "4300"
    return landed


def test_undo_landed_when_the_deployment_runs_the_restored_template() -> None:
    d, api, rss = claimed()
    landed = after_undo(api, plan_for(api, rss))
    assert flow.undo_landed(d.mitigation or {}, d.suspect, landed, rss) is True


def test_undo_not_landed_when_the_suspect_revision_still_runs() -> None:
    d, api, rss = claimed()
    assert flow.undo_landed(d.mitigation or {}, d.suspect, api, rss) is False


def test_undo_landed_is_unknown_when_someone_else_changed_the_deployment() -> None:
    d, api, rss = claimed()
    changed = copy.deepcopy(api)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/api:hotfix"
    assert flow.undo_landed(d.mitigation or {}, d.suspect, changed, rss) is None
    moved_on = copy.deepcopy(api)
    moved_on["metadata"]["annotations"][REVISION] = "3"  # same template, another revision
    assert flow.undo_landed(d.mitigation or {}, d.suspect, moved_on, rss) is None


def test_undo_landed_is_unknown_when_the_deployment_is_gone() -> None:
    d, _, rss = claimed()
    assert flow.undo_landed(d.mitigation or {}, d.suspect, None, rss) is None


def test_undo_landed_is_unknown_without_the_replicasets() -> None:
    d, api, _ = claimed()
    assert flow.undo_landed(d.mitigation or {}, d.suspect, api, []) is None


# -- resolve, phase, finish ------------------------------------------------------------


def test_resolve_waits_for_the_all_clear() -> None:
    d = mitigated()
    d = reread(d, NOW + 30 * MINUTE)
    flow.resolve(d)
    assert quiet(d)


@pytest.mark.parametrize(
    ("started_at", "expected_seconds"),
    [(IMPACT, 7200.0), (None, 5400.0)],  # 09:30 or 10:00, to 11:30
    ids=["from-spec-startedAt", "from-creation"],
)
def test_the_all_clear_resolves_once(started_at: datetime | None, expected_seconds: float) -> None:
    at = NOW + 30 * MINUTE
    d = reread(mitigated(started_at=started_at), at, all_clear)
    flow.resolve(d)
    assert d.status["resolvedAt"] == stamp(at)
    assert d.status["timeToResolveSeconds"] == expected_seconds
    assert d.status["timeline"][-1] == {
        "at": stamp(at),
        "kind": "Resolved",
        "message": f"resolved; time to resolve {expected_seconds:.0f}s",
        "actor": "alice",
    }
    assert [n.reason for n in d.notices] == ["Resolved"]
    resolved = cond(d, ConditionType.RESOLVED)
    assert (resolved["status"], resolved["reason"], resolved["observedGeneration"]) == (
        "True",
        "Resolved",
        2,
    )
    assert d.observations == [Observation("time_to_resolve", expected_seconds)]
    assert flow.phase(d) == "Resolved"
    flow.resolve(d)
    assert len(d.observations) == 1 and len(d.notices) == 1
    again = reread(d, at + MINUTE)
    flow.resolve(again)
    assert quiet(again)


@pytest.mark.parametrize(
    ("mitigation", "resolved", "expected"),
    [
        (None, False, "Declared"),
        ({"result": "Pending"}, False, "Declared"),
        ({"result": "Refused"}, False, "Declared"),
        ({"result": "InProgress"}, False, "Mitigating"),
        ({"result": "Failed"}, False, "Mitigating"),
        ({"result": "Succeeded"}, False, "Mitigated"),
        (None, True, "Resolved"),
        ({"result": "InProgress"}, True, "Resolved"),
        ({"result": "Succeeded"}, True, "Resolved"),
    ],
)
def test_phase(mitigation: dict[str, Any] | None, resolved: bool, expected: str) -> None:
    status = {"mitigation": mitigation} if mitigation is not None else {}
    assert flow.phase(Draft(incident(status, resolved=resolved), NOW)) == expected


def test_finish_reports_phase_generation_and_readiness() -> None:
    d, _, _ = claimed(generation=3)
    flow.finish(d)
    assert d.status["phase"] == "Mitigating"
    assert d.status["observedGeneration"] == 3
    ready = cond(d, ConditionType.READY)
    assert ready == {
        "type": "Ready",
        "status": "True",
        "observedGeneration": 3,
        "lastTransitionTime": stamp(NOW + MINUTE),
        "reason": "Reconciled",
        "message": "phase Mitigating",
    }
    later = reread(d, NOW + 9 * MINUTE)
    flow.finish(later)
    assert quiet(later)  # lastTransitionTime moves only when the status flips


def test_failed_reconcile_says_so_on_the_incident() -> None:
    d = reread(declared(), NOW + MINUTE)
    error = "KeyError: " + "x" * 2000
    flow.failed_reconcile(d, error)
    ready = cond(d, ConditionType.READY)
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileError")
    assert ready["message"] == error[:1024]
    assert d.notices == [Notice("Warning", "ReconcileError", error[:1024])]
    assert d.observations == []
    assert set(d.patch()) == {"conditions"}


def test_a_failed_reconcile_after_a_good_one_flips_ready() -> None:
    d = declared()
    flow.finish(d)
    d = reread(d, NOW + MINUTE)
    flow.failed_reconcile(d, "RuntimeError: boom")
    assert cond(d, ConditionType.READY)["lastTransitionTime"] == stamp(NOW + MINUTE)
    assert d.status["phase"] == "Declared"  # untouched


# -- the whole playbook ----------------------------------------------------------------


def test_the_playbook_from_declaration_to_all_clear() -> None:
    api, rss = api_history()
    found = suspect_in(api, rss)
    notices: list[Notice] = []
    observations: list[Observation] = []

    def step(d: Draft, decide: Callable[[Draft], None] = never_asked) -> Draft:
        reconcile(d, found, decide)
        notices.extend(d.notices)
        observations.extend(d.observations)
        return d

    d = step(Draft(incident(), NOW))
    assert d.status["phase"] == "Declared"
    d = step(reread(d, NOW + MINUTE))
    assert quiet(d)
    plan = plan_for(api, rss)
    d = step(
        reread(d, NOW + 2 * MINUTE, approve()),
        lambda d: flow.claim_undo(d, plan, "api", api["metadata"]["resourceVersion"]),
    )
    assert d.status["phase"] == "Mitigating"
    d = reread(d, NOW + 3 * MINUTE)
    flow.undo_patched(d)
    flow.finish(d)
    notices.extend(d.notices)
    landed = after_undo(api, plan)
    landed["metadata"]["generation"] = 2
    landed["status"]["observedGeneration"] = 1  # the controller has not seen the undo yet
    d = reread(d, NOW + 4 * MINUTE)
    flow.follow_rollout(d, rollout_status(landed), 600)
    step(d)
    assert (d.mitigation or {})["message"].startswith("Waiting for deployment spec update")
    landed["status"]["observedGeneration"] = 2
    d = reread(d, NOW + 6 * MINUTE)
    flow.follow_rollout(d, rollout_status(landed), 600)
    step(d)
    assert d.status["phase"] == "Mitigated"
    d = step(reread(d, NOW + 30 * MINUTE, all_clear))
    assert d.status["phase"] == "Resolved"
    d = step(reread(d, NOW + 31 * MINUTE))
    assert quiet(d)

    assert kinds(d) == [
        "Declared",
        "SuspectIdentified",
        "Approved",
        "MitigationStarted",
        "RolloutUndone",
        "Mitigated",
        "Resolved",
    ]
    assert [(n.reason, n.deployment) for n in notices] == [
        ("Declared", None),
        ("SuspectIdentified", None),
        ("Approved", None),
        ("MitigationStarted", None),
        ("RolloutUndone", None),
        ("RolloutUndone", "api"),
        ("Mitigated", None),
        ("Resolved", None),
    ]
    assert observations == [
        Observation("declared"),
        Observation("time_to_mitigate", 5760.0),  # 09:30 -> 11:06
        Observation("rollback", result="succeeded"),
        Observation("time_to_resolve", 7200.0),  # 09:30 -> 11:30
    ]
    assert d.status["answeredApproval"] == APPROVAL
    assert (d.mitigation or {})["result"] == "Succeeded"
    assert d.status["observedGeneration"] == 2
