"""The guarded undo: every reason not to touch a Deployment, checked before the patch.

The order is the contract (../shared/DESIGN.md, "Guarded undo"): the first failing check names the
refusal, so an on-call engineer sees the most fundamental problem first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tourniquet.api.names import APPROVAL_POLICY_NAME
from tourniquet.api.vocabulary import UNDO_STARTED, Reason
from tourniquet.core.projections import mapping, revision_of, text
from tourniquet.core.rollback import (
    AlreadyAtRevision,
    NoRolloutHistory,
    RevisionNotFound,
    UndoPlan,
    equal_ignore_hash,
    select_revision,
    undo_plan,
)
from tourniquet.core.selectors import matches


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


@dataclass(frozen=True)
class UndoRequest:
    approval: Mapping[str, Any] | None
    suspect: Mapping[str, Any] | None
    mitigation: Mapping[str, Any] | None
    approval_verified: bool
    trust_unverified: bool
    deployment: Mapping[str, Any] | None
    replicasets: Sequence[Mapping[str, Any]] = ()
    approval_policy: str = APPROVAL_POLICY_NAME
    #: spec.scope.selector: the suspect must still be in the incident's scope.
    scope_selector: Mapping[str, Any] | None = None


def _revision(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _approval_refusal(request: UndoRequest) -> Refusal | None:
    approval = mapping(request.approval)
    approver = text(approval.get("approvedBy"))
    if not approver:
        return Refusal(
            Reason.NO_APPROVAL,
            "No approval yet: the Incident Commander must set status.approval "
            "(approvedBy, kind, name and revision) before the suspect rollout is undone.",
        )
    result = text(mapping(request.mitigation).get("result"))
    if result in UNDO_STARTED:
        return Refusal(
            Reason.ALREADY_MITIGATED,
            f"This incident already performed its undo (result {result}), "
            "and an incident never undoes a rollout twice.",
        )
    if not request.approval_verified and not request.trust_unverified:
        return Refusal(
            Reason.APPROVAL_UNVERIFIED,
            f"The approval by {approver} cannot be trusted because the "
            f"ValidatingAdmissionPolicy {request.approval_policy} is not installed; install it "
            "(Helm chart, `make install` or `kubectl apply -k config/policy`), then clear "
            "and re-approve; or run the operator with --trust-unverified-approvals "
            "(TOURNIQUET_TRUST_UNVERIFIED_APPROVALS=true) on clusters without admission "
            "policies.",
        )
    approved = _revision(approval.get("revision"))
    suspect = mapping(request.suspect)
    suspected = _revision(suspect.get("revision"))
    if suspected is None or suspected < 1:
        return Refusal(
            Reason.APPROVAL_REVISION_MISMATCH,
            f"The approval is for revision {approved} but no suspect rollout has been "
            "identified, so there is nothing approved to undo.",
        )
    kind, name = text(suspect.get("kind")), text(suspect.get("name"))
    if (text(approval.get("kind")), text(approval.get("name"))) != (kind, name):
        return Refusal(
            Reason.APPROVAL_TARGET_MISMATCH,
            f"The approval names {text(approval.get('kind')) or '?'}/"
            f"{text(approval.get('name')) or '?'} but the suspect is {kind}/{name}; approve "
            "the suspect by its kind, name and revision to undo it.",
        )
    if approved != suspected:
        return Refusal(
            Reason.APPROVAL_REVISION_MISMATCH,
            f"The approval is for revision {approved} but the suspect rollout is revision "
            f"{suspected}; approve revision {suspected} to undo it.",
        )
    return None


def _scope_refusal(request: UndoRequest) -> Refusal | None:
    """Defence in depth behind the admission policy: the suspect is only ever a workload in
    the incident's scope, whatever its status says."""
    labels = mapping(mapping(mapping(request.deployment).get("metadata")).get("labels"))
    if request.deployment is None or matches(labels, request.scope_selector):
        return None
    name = text(mapping(request.suspect).get("name"))
    return Refusal(
        Reason.SUSPECT_OUT_OF_SCOPE,
        f"Deployment {name} is not in the incident's scope (spec.scope.selector), so it is "
        "not undone.",
    )


def _target_refusal(
    deployment: Mapping[str, Any] | None,
    replicasets: Sequence[Mapping[str, Any]],
    suspect: Mapping[str, Any],
    revision: int,
) -> Refusal | None:
    name = text(suspect.get("name"))
    if deployment is None or text(mapping(deployment.get("metadata")).get("name")) != name:
        return Refusal(
            Reason.TARGET_CHANGED,
            f"Deployment {name} no longer exists, so revision {revision} cannot be undone.",
        )
    live = revision_of(deployment)
    if live != revision:
        return Refusal(
            Reason.TARGET_CHANGED,
            f"Deployment {name} is now at revision {live}, not the approved revision "
            f"{revision}; it moved on since, so it was left alone.",
        )
    try:
        suspect_rs = select_revision(deployment, replicasets, revision)
    except RevisionNotFound:
        suspect_rs = None
    expected_rs = text(suspect.get("replicaSet"))
    suspect_rs_name = text(mapping(suspect_rs.get("metadata")).get("name")) if suspect_rs else ""
    if suspect_rs is None or (expected_rs and suspect_rs_name != expected_rs):
        return Refusal(
            Reason.TARGET_CHANGED,
            f"The ReplicaSet of revision {revision} of Deployment {name} is gone or was "
            "replaced, so the approved rollout can no longer be identified; it was left alone.",
        )
    template = mapping(deployment.get("spec")).get("template")
    if not equal_ignore_hash(template, mapping(suspect_rs.get("spec")).get("template")):
        return Refusal(
            Reason.TARGET_CHANGED,
            f"The pod template of Deployment {name} no longer matches revision {revision}; "
            "someone changed it since the approval, so it was left alone.",
        )
    return None


def check_undo(request: UndoRequest) -> UndoPlan | Refusal:
    """The undo to perform, or the first reason (in contract order) not to."""
    refusal = _approval_refusal(request)
    if refusal is not None:
        return refusal
    suspect = mapping(request.suspect)
    # _approval_refusal has established a positive suspect revision equal to the approval's.
    revision = _revision(suspect.get("revision")) or 0
    refusal = _scope_refusal(request) or _target_refusal(
        request.deployment, request.replicasets, suspect, revision
    )
    if refusal is not None:
        return refusal
    deployment = mapping(request.deployment)
    name = text(suspect.get("name"))
    if mapping(deployment.get("spec")).get("paused") is True:
        return Refusal(
            Reason.DEPLOYMENT_PAUSED,
            f"Deployment {name} is paused, and kubectl refuses to undo a paused Deployment "
            f"too; resume it with `kubectl rollout resume deployment/{name}` to let the undo "
            "proceed.",
        )
    try:
        return undo_plan(deployment, request.replicasets)
    except NoRolloutHistory:
        return Refusal(
            Reason.NO_PREVIOUS_REVISION,
            f"Deployment {name} has no revision before {revision} to return to, "
            "so there is nothing to undo.",
        )
    except AlreadyAtRevision as already:
        return Refusal(
            Reason.ALREADY_AT_REVISION,
            f"Deployment {name} already runs the pod template of revision {already.revision}, "
            "so there is nothing to undo.",
        )


def only_status_moved(read: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> bool:
    """The workload changed since `read` only where its controller reports progress
    (status, and the resourceVersion that moved with it): nobody changed what an undo
    guards, so the undo may be sent again against the new resourceVersion. A change to
    its spec, labels or annotations is somebody's change, never overwritten."""
    if read is None or current is None:
        return False
    before, after = mapping(read.get("metadata")), mapping(current.get("metadata"))
    return (
        read.get("spec") == current.get("spec")
        and before.get("uid") == after.get("uid")
        and before.get("labels") == after.get("labels")
        and before.get("annotations") == after.get("annotations")
    )
