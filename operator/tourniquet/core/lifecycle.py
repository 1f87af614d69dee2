"""The incident playbook as pure steps on a draft of the Incident's status.

Each step reads the draft, decides, and writes status fields, timeline entries,
Events to post and metrics to observe (core/draft.py). The shell reads the cluster,
calls these steps in order and writes the result in one status patch, so what
the operator does is decided here and tested without a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.api.vocabulary import (
    UNDO_STARTED,
    ConditionType,
    MitigationAction,
    MitigationResult,
    Observed,
    Phase,
    Reason,
)
from tourniquet.core import conditions
from tourniquet.core.clock import format_time, parse_time, seconds_between
from tourniquet.core.conditions import get_condition
from tourniquet.core.draft import Draft
from tourniquet.core.gitops_mitigation import owner_note
from tourniquet.core.guards import Refusal
from tourniquet.core.projections import mapping, revision_of
from tourniquet.core.rollback import UndoPlan, equal_ignore_hash
from tourniquet.core.rollback_revisions import RevisionUndoPlan, ref
from tourniquet.core.rollout_status import RolloutStatus
from tourniquet.core.suspect import Suspect

# Condition types, per Kubernetes API conventions (positive polarity, CamelCase).


def declare(d: Draft) -> None:
    """First sight of the Incident: it is declared, and the clock is running."""
    if d.status.get("declaredAt"):
        return
    d.status["declaredAt"] = format_time(parse_time(d.metadata.get("creationTimestamp")) or d.now)
    commander = d.commander or "none named"
    d.record(
        Reason.DECLARED,
        f"{d.severity} declared: {d.spec.get('title', '')} (Incident Commander: {commander})",
        event=Reason.DECLARED,
    )
    d.observe(Observed.DECLARED)


def undo_in_flight(status: Mapping[str, Any]) -> bool:
    """An undo claimed or patched whose rollout has not finished: followed to the end."""
    return mapping(status.get("mitigation")).get("result") == MitigationResult.IN_PROGRESS


def undo_offered(d: Draft) -> bool:
    """An undo offered to the IC and not approved yet (status.mitigation Pending)."""
    return d.approval is None and (d.mitigation or {}).get("result") == MitigationResult.PENDING


def mitigation_started(d: Draft) -> bool:
    return (d.mitigation or {}).get("result") in UNDO_STARTED


APPROVAL_KEYS = ("approvedBy", "kind", "name", "revision", "acceptRevert")


def _key(approval: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    return tuple(approval.get(key) for key in APPROVAL_KEYS) if approval else None


def approval_answered(d: Draft) -> bool:
    """The operator already acted on, or refused, this very approval: a different
    approval (or clearing and approving again) is needed for it to act again."""
    answered = d.status.get("answeredApproval")
    return d.approval is not None and _key(d.approval) == _key(
        answered if isinstance(answered, dict) else None
    )


def answer(d: Draft) -> None:
    if d.approval is not None:
        answered = {key: d.approval.get(key) for key in APPROVAL_KEYS}
        d.status["answeredApproval"] = {k: v for k, v in answered.items() if v is not None}


def awaiting_undo(d: Draft) -> bool:
    """An approval the operator has not acted on yet."""
    return d.approval is not None and not approval_answered(d) and not mitigation_started(d)


def second_approval(d: Draft) -> bool:
    """A new approval after this incident's undo started."""
    return d.approval is not None and mitigation_started(d) and not approval_answered(d)


def refuse_second_undo(d: Draft) -> None:
    """An incident performs one undo. The record of that undo stays as it is."""
    approval, mitigation = d.approval or {}, d.mitigation or {}
    message = (
        "this incident already performed its undo of "
        f"{ref(str(mitigation.get('kind') or 'Deployment'), str(mitigation.get('name')))} "
        f"(revision {mitigation.get('fromRevision')} -> {mitigation.get('toRevision')}, "
        f"{mitigation.get('result')}); the approval by {approval.get('approvedBy')} for "
        f"revision {approval.get('revision')} was not acted on. Declare a new Incident for a "
        "new problem."
    )
    added = d.record(
        Reason.UNDO_REFUSED,
        f"undo refused (AlreadyMitigated): {message}",
        event=Reason.ALREADY_MITIGATED,
        warning=True,
    )
    d.condition(ConditionType.APPROVED, False, Reason.ALREADY_MITIGATED, message)
    answer(d)
    if added:
        d.observe(Observed.ROLLBACK, result="refused", reason=Reason.ALREADY_MITIGATED)


def suspect_may_change(d: Draft) -> bool:
    # An approval freezes the suspect: the IC approved undoing *that* rollout, and a
    # newer one must make the undo refuse (TargetChanged), not silently retarget it.
    return not d.spec.get("resolved") and not mitigation_started(d) and not awaiting_undo(d)


def approval_patch(approved_by: str, kind: str, name: str, revision: int) -> dict[str, Any]:
    """The status patch that approves undoing `kind/name` at `revision`: what the IC
    writes (the kubectl plugin writes exactly this)."""
    approval = {"approvedBy": approved_by, "kind": kind, "name": name, "revision": revision}
    return {"status": {"approval": approval}}


def approve_command(d: Draft, found: Suspect) -> str:
    patch = approval_patch(
        d.commander or "<commander>", found.kind, found.deployment, found.revision
    )
    return (
        f"kubectl patch incident {d.name} -n {d.namespace} --subresource=status "
        f"--type=merge -p '{json.dumps(patch, separators=(',', ':'))}'"
    )


def names_new_suspect(d: Draft, found: Suspect | None) -> bool:
    """identify_suspect would write a suspect that is not the one in status (so the shell
    confirms it against a fresh read first: a cache may lag a rollout by milliseconds)."""
    if not suspect_may_change(d) or found is None:
        return False
    current = d.suspect or {}
    return (current.get("name"), current.get("revision")) != (found.deployment, found.revision)


def suspect_never_judged(d: Draft) -> bool:
    """No suspect named and none ruled out yet: the first look is confirmed fresh too."""
    return (
        d.suspect is None
        and get_condition(d.status.get("conditions"), ConditionType.SUSPECT_IDENTIFIED) is None
    )


def identify_suspect(d: Draft, found: Suspect | None) -> None:
    """Name the most recent rollout in scope, and offer its undo to the IC."""
    if not suspect_may_change(d):
        return
    current = d.suspect
    if found is None:
        if current is None:
            message = (
                "no Deployment, StatefulSet or DaemonSet rollout found in the incident's scope"
            )
            d.condition(ConditionType.SUSPECT_IDENTIFIED, False, Reason.NO_RECENT_ROLLOUT, message)
            d.record(Reason.NO_RECENT_ROLLOUT, message, event=Reason.NO_RECENT_ROLLOUT)
        return
    new = found.to_status()
    if current and (current.get("kind"), current.get("name"), current.get("revision")) == (
        new["kind"],
        new["name"],
        new["revision"],
    ):
        return
    replaced = current is not None
    d.status["suspect"] = new
    what = (
        f"{ref(new['kind'], new['name'])} revision {new['revision']} "
        f"rolled out at {new['rolledOutAt']} ({new['change']})"
    )
    kind = Reason.SUSPECT_REPLACED if replaced else Reason.SUSPECT_IDENTIFIED
    d.record(kind, f"suspect: {what}", event=kind)
    d.condition(
        ConditionType.SUSPECT_IDENTIFIED, True, kind, f"most recent rollout in scope: {what}"
    )
    offer_undo(d, found)


def offer_undo(d: Draft, found: Suspect) -> None:
    if found.previous_revision is None:
        d.status.pop("mitigation", None)
        message = (
            f"{ref(found.kind, found.deployment)} has no previous revision to return to; "
            "mitigate by other means"
        )
        d.condition(ConditionType.APPROVED, False, Reason.NO_APPROVAL, message)
        return
    message = (
        f"rollout undo of {ref(found.kind, found.deployment)} from revision {found.revision} to "
        f"{found.previous_revision} awaits the Incident Commander's approval"
        f"{owner_note(d, found.owner, found.revision)}: {approve_command(d, found)}"
    )
    d.status["mitigation"] = {
        "action": MitigationAction.ROLLOUT_UNDO,
        "kind": found.kind,
        "name": found.deployment,
        "fromRevision": found.revision,
        "toRevision": found.previous_revision,
        "result": MitigationResult.PENDING,
        "reason": Reason.NO_APPROVAL,
        "message": message,
    }
    d.condition(ConditionType.APPROVED, False, Reason.NO_APPROVAL, message)
    d.condition(ConditionType.MITIGATED, False, Reason.NOT_STARTED, "no mitigation has started")


def _answering(d: Draft) -> dict[str, Any]:
    approval = d.approval or {}
    return {"approvedBy": approval.get("approvedBy"), "approvalRevision": approval.get("revision")}


def refuse(d: Draft, refusal: Refusal) -> None:
    """The guarded undo says no: recorded once per approval, the Deployment untouched."""
    suspect = d.suspect or {}
    previous = d.mitigation or {}
    d.status["mitigation"] = {
        "action": MitigationAction.ROLLOUT_UNDO,
        "kind": suspect.get("kind") or previous.get("kind"),
        "name": suspect.get("name") or previous.get("name"),
        "fromRevision": suspect.get("revision") or previous.get("fromRevision"),
        "toRevision": suspect.get("previousRevision") or previous.get("toRevision"),
        "result": MitigationResult.REFUSED,
        "reason": refusal.reason,
        "message": refusal.message,
        "finishedAt": format_time(d.now),
        **_answering(d),
        # A suspension already made stays on the record: it is still owed its resume.
        "gitops": previous.get("gitops"),
    }
    d.status["mitigation"] = {k: v for k, v in d.status["mitigation"].items() if v is not None}
    answer(d)
    # Numbered: the same approval may be refused again after the IC clears and re-approves,
    # and each refusal is its own entry and Event.
    ordinal = 1 + sum(
        1 for e in d.status.get("timeline") or [] if e.get("kind") == Reason.UNDO_REFUSED
    )
    who = (d.approval or {}).get("approvedBy", "nobody")
    revision = (d.approval or {}).get("revision", "?")
    d.record(
        Reason.UNDO_REFUSED,
        f"undo refused (#{ordinal}, {refusal.reason}) for the approval by {who} of revision "
        f"{revision}: {refusal.message}",
        event=refusal.reason,
        warning=True,
    )
    d.condition(ConditionType.MITIGATED, False, refusal.reason, refusal.message)
    d.observe(Observed.ROLLBACK, result="refused", reason=refusal.reason)


def forget_cleared_approval(d: Draft) -> None:
    """Clearing status.approval resets what was answered, so approving again acts."""
    if d.approval is None:
        d.status.pop("answeredApproval", None)


def claim_undo(
    d: Draft,
    plan: UndoPlan | RevisionUndoPlan,
    deployment: str,
    resource_version: str,
    gitops: Mapping[str, Any] | None = None,
) -> None:
    """Write down the undo before making it, so a restart knows it may have happened."""
    approval = d.approval or {}
    who = str(approval.get("approvedBy"))
    d.record(
        Reason.APPROVED,
        f"{who} approved the undo of revision {approval.get('revision')}",
        actor=who,
        event=Reason.APPROVED,
    )
    d.condition(
        ConditionType.APPROVED,
        True,
        Reason.APPROVED,
        f"approved by {who} (verified by the API server)",
    )
    if isinstance(plan, RevisionUndoPlan):
        kind, source = plan.kind, {"controllerRevision": plan.controller_revision}
        origin = f"controllerrevision/{plan.controller_revision}"
    else:
        kind, source = WorkloadKind.DEPLOYMENT, {"replicaSet": plan.replica_set}
        origin = f"replicaset/{plan.replica_set}"
    message = (
        f"rolling back {ref(kind, deployment)} from revision {plan.from_revision} to "
        f"{plan.to_revision} (the template of {origin})"
    )
    d.status["mitigation"] = {
        "action": MitigationAction.ROLLOUT_UNDO,
        "kind": kind,
        "name": deployment,
        "fromRevision": plan.from_revision,
        "toRevision": plan.to_revision,
        **source,
        "result": MitigationResult.IN_PROGRESS,
        "reason": Reason.UNDO_STARTED,
        "message": message,
        "startedAt": format_time(d.now),
        "preconditionResourceVersion": resource_version,
        **_answering(d),
    }
    if gitops is not None:
        d.status["mitigation"]["gitops"] = dict(gitops)
    answer(d)
    d.record(Reason.MITIGATION_STARTED, message, event=Reason.MITIGATION_STARTED)
    d.condition(ConditionType.MITIGATED, False, Reason.ROLLOUT_IN_PROGRESS, message)


def undo_patched(d: Draft, *, recovered: bool = False) -> None:
    mitigation = d.mitigation or {}
    if mitigation.get("patchedAt"):
        return
    mitigation["patchedAt"] = format_time(d.now)
    deployment = str(mitigation.get("name"))
    kind = str(mitigation.get("kind") or WorkloadKind.DEPLOYMENT)
    note = " (found applied after an operator restart)" if recovered else ""
    d.record(
        Reason.ROLLOUT_UNDONE,
        f"{ref(kind, deployment)} set back to the template of revision "
        f"{mitigation.get('toRevision')}{note}",
        event=Reason.ROLLOUT_UNDONE,
    )
    d.notify(
        Reason.ROLLOUT_UNDONE,
        f"Tourniquet undid revision {mitigation.get('fromRevision')} (back to the template of "
        f"revision {mitigation.get('toRevision')}) for incident {d.namespace}/{d.name}, "
        f"approved by {mitigation.get('approvedBy')}",
        deployment=deployment,
        workload_kind=kind,
    )


def drill_rehearsed(d: Draft) -> None:
    """A drill's undo is sent as a server-side dry run: validated and admitted by the API
    server, stored nowhere. That completes the rehearsal."""
    mitigation = d.mitigation or {}
    mitigation["patchedAt"] = format_time(d.now)
    deployment = mitigation.get("name")
    message = (
        f"drill: the undo of {ref(str(mitigation.get('kind') or 'Deployment'), str(deployment))} "
        f"(revision {mitigation.get('fromRevision')} "
        f"-> {mitigation.get('toRevision')}) passed the API server as a dry run; nothing changed"
    )
    d.record(Reason.ROLLOUT_UNDONE, message, event=Reason.DRILL_UNDO_REHEARSED)
    follow_rollout(d, RolloutStatus(done=True, failed=False, message=message), 0)


def undo_failed(d: Draft, reason: str, message: str) -> None:
    """The undo ended without a completed rollout."""
    mitigation = d.mitigation or {}
    mitigation.update(
        result=MitigationResult.FAILED,
        reason=reason,
        message=message,
        finishedAt=format_time(d.now),
    )
    d.record(
        Reason.MITIGATION_FAILED,
        f"mitigation failed ({reason}): {message}",
        event=Reason.MITIGATION_FAILED,
        warning=True,
    )
    d.condition(ConditionType.MITIGATED, False, reason, message)
    d.observe(Observed.ROLLBACK, result="failed", reason=reason)


def patch_rejected(d: Draft) -> None:
    """The undo patch's precondition failed: somebody changed the Deployment first."""
    mitigation = d.mitigation or {}
    message = (
        f"{ref(str(mitigation.get('kind') or 'Deployment'), str(mitigation.get('name')))} "
        "changed while the undo was being made; "
        "it was not overwritten"
    )
    mitigation.update(
        result=MitigationResult.REFUSED,
        reason=Reason.TARGET_CHANGED,
        message=message,
        finishedAt=format_time(d.now),
    )
    d.record(
        Reason.UNDO_REFUSED,
        f"undo refused (TargetChanged): {message}",
        event=Reason.TARGET_CHANGED,
        warning=True,
    )
    d.condition(ConditionType.MITIGATED, False, Reason.TARGET_CHANGED, message)
    d.observe(Observed.ROLLBACK, result="refused", reason=Reason.TARGET_CHANGED)


def undo_landed(
    mitigation: Mapping[str, Any],
    suspect: Mapping[str, Any] | None,
    deployment: Mapping[str, Any] | None,
    replicasets: Sequence[Mapping[str, Any]],
) -> bool | None:
    """After a restart: did the claimed undo reach the Deployment?

    True: the Deployment runs the restored template. False: it still runs the
    suspect revision untouched, so the patch never landed and may be sent (with a
    fresh precondition: at most one such patch can succeed). None: somebody else
    changed it; it must not be touched again.
    """
    if deployment is None:
        return None
    by_name = {str(mapping(rs.get("metadata")).get("name")): rs for rs in replicasets}
    template = mapping(deployment.get("spec")).get("template")
    target = by_name.get(str(mitigation.get("replicaSet")))
    if target is not None and equal_ignore_hash(
        template, mapping(target.get("spec")).get("template")
    ):
        return True
    live = by_name.get(str((suspect or {}).get("replicaSet")))
    if (
        live is not None
        and revision_of(deployment) == mitigation.get("fromRevision")
        and equal_ignore_hash(template, mapping(live.get("spec")).get("template"))
    ):
        return False
    return None


def follow_rollout(d: Draft, rollout: RolloutStatus, timeout_seconds: float) -> None:
    """kubectl rollout status, as a step: Succeeded, Failed, or still going."""
    mitigation = d.mitigation or {}
    if rollout.done:
        mitigation.update(
            result=MitigationResult.SUCCEEDED,
            reason=Reason.ROLLOUT_COMPLETE,
            message=rollout.message,
            finishedAt=format_time(d.now),
        )
        d.status["mitigatedAt"] = format_time(d.now)
        ttm = seconds_between(d.impact_started_at, d.now)
        d.status["timeToMitigateSeconds"] = ttm
        d.record(
            Reason.MITIGATED,
            f"{rollout.message}; time to mitigate {ttm:.0f}s",
            event=Reason.MITIGATED,
        )
        d.condition(ConditionType.MITIGATED, True, Reason.ROLLOUT_COMPLETE, rollout.message)
        d.observe(Observed.TIME_TO_MITIGATE, ttm)
        d.observe(Observed.ROLLBACK, result="succeeded")
    elif rollout.failed:
        undo_failed(d, Reason.PROGRESS_DEADLINE_EXCEEDED, rollout.message)
    else:
        started = parse_time(mitigation.get("startedAt")) or d.now
        if seconds_between(started, d.now) > timeout_seconds:
            undo_failed(
                d,
                Reason.ROLLOUT_TIMEOUT,
                f"rollout not complete after {timeout_seconds:.0f}s: {rollout.message}",
            )
        else:
            mitigation["message"] = rollout.message


def resolve(d: Draft) -> None:
    """The IC's all-clear: time to resolve (MTTR) is measured from impact start."""
    if not d.spec.get("resolved") or d.status.get("resolvedAt"):
        return
    d.status["resolvedAt"] = format_time(d.now)
    ttr = seconds_between(d.impact_started_at, d.now)
    d.status["timeToResolveSeconds"] = ttr
    d.record(
        Reason.RESOLVED,
        f"resolved; time to resolve {ttr:.0f}s",
        actor=d.commander,
        event=Reason.RESOLVED,
    )
    d.condition(
        ConditionType.RESOLVED, True, Reason.RESOLVED, "the Incident Commander gave the all-clear"
    )
    d.observe(Observed.TIME_TO_RESOLVE, ttr)


def phase(d: Draft) -> str:
    if d.spec.get("resolved"):
        # Closed once the postmortem is complete (see playbook.track_postmortem).
        return Phase.CLOSED if d.status.get("closedAt") else Phase.RESOLVED
    result = (d.mitigation or {}).get("result")
    if result == MitigationResult.SUCCEEDED:
        return Phase.MITIGATED
    if result in (MitigationResult.IN_PROGRESS, MitigationResult.FAILED):
        return Phase.MITIGATING
    return Phase.DECLARED


def finish(d: Draft) -> None:
    d.status["phase"] = phase(d)
    d.status["observedGeneration"] = d.generation
    d.condition(ConditionType.READY, True, Reason.RECONCILED, f"phase {d.status['phase']}")


def failed_reconcile(d: Draft, error: str) -> None:
    """Something unexpected: say so on the Incident instead of crashing or looping. The
    same failure again (a retry) is already said: no new Event."""
    before = conditions.get_condition(d.status.get("conditions"), ConditionType.READY) or {}
    d.condition(ConditionType.READY, False, Reason.RECONCILE_ERROR, error[:1024])
    if (before.get("reason"), before.get("message")) != (Reason.RECONCILE_ERROR, error[:1024]):
        d.notify(Reason.RECONCILE_ERROR, error[:1024], warning=True)
