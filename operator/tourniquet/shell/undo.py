"""The guarded undo, as the shell performs it: fresh reads, the guards, a claim written
to status before the patch, the patch with its precondition, and the rollout followed to
the end. Every decision is made by guards and incident_flow; this module does the I/O."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core import playbook
from tourniquet.core.guards import Refusal, UndoRequest, check_undo
from tourniquet.core.rollback import UndoPlan
from tourniquet.core.rollout_status import rollout_status
from tourniquet.core.selectors import selector_string
from tourniquet.shell import faults
from tourniquet.shell.kube import ApiException, Kube
from tourniquet.shell.settings import current as current_settings
from tourniquet.shell.status_writer import commit

log = logging.getLogger("tourniquet")


def paused_refusal_cleared(d: flow.Draft, deployments: kopf.Index[str, Any]) -> bool:
    """An undo refused only because the Deployment was paused goes ahead once it is
    resumed: same approval, same target (the guards check that again)."""
    mitigation = d.mitigation or {}
    if not (flow.approval_answered(d) and mitigation.get("reason") == Reason.DEPLOYMENT_PAUSED):
        return False
    views = [v for v in deployments.get(d.namespace, []) if v.name == mitigation.get("deployment")]
    return bool(views) and not views[0].paused


async def undo(d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]) -> bool:
    """The guarded undo: fresh reads, the guards, a claim in status, then the patch."""
    kube: Kube = memo.kube
    outcome, deployment = await _check(d, memo, mitigation=d.mitigation)
    if isinstance(outcome, Refusal):
        flow.refuse(d, outcome)
        return True
    assert deployment is not None
    flow.claim_undo(
        d,
        outcome,
        str((d.suspect or {}).get("deployment")),
        str(deployment["metadata"]["resourceVersion"]),
    )
    flow.finish(d)
    claimed = await commit(d, memo, deployments)
    if claimed is None:
        return False  # somebody wrote the Incident first; the next event decides again
    faults.crash_point("after-claim")
    await _send_undo(claimed, outcome, kube, memo, deployments)
    return False


async def _check(
    d: flow.Draft, memo: kopf.Memo, mitigation: Mapping[str, Any] | None
) -> tuple[UndoPlan | Refusal, dict[str, Any] | None]:
    kube: Kube = memo.kube
    name = (d.suspect or {}).get("deployment")
    deployment = await kube.get_deployment(d.namespace, name) if name else None
    replicasets = (
        await kube.list_replicasets(d.namespace, selector_string(deployment)) if deployment else []
    )
    settings = current_settings()
    verified = (
        await kube.approval_policy_enforced(settings.approval_policy) if d.approval else False
    )
    outcome = check_undo(
        UndoRequest(
            approval=d.approval,
            suspect=d.suspect,
            mitigation=mitigation,
            approval_verified=verified,
            trust_unverified=settings.trust_unverified_approvals,
            deployment=deployment,
            replicasets=replicasets,
            approval_policy=settings.approval_policy,
        )
    )
    return outcome, deployment


async def _send_undo(
    claimed: Mapping[str, Any],
    plan: UndoPlan,
    kube: Kube,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
) -> None:
    d = flow.Draft(claimed, datetime.now(UTC), current_settings().timeline_limit)
    name = str((d.mitigation or {}).get("deployment"))
    await faults.hold_point("before-undo-patch")
    log.info(
        "%s/%s: undoing deployment/%s revision %s -> %s",
        d.namespace,
        d.name,
        name,
        plan.from_revision,
        plan.to_revision,
    )
    drill = playbook.is_drill(d)
    try:
        await kube.json_patch_deployment(d.namespace, name, plan.patch, dry_run=drill)
    except ApiException as exc:
        if exc.status not in (409, 422):
            raise
        current = await kube.get_deployment(d.namespace, name)
        precondition = (d.mitigation or {}).get("preconditionResourceVersion")
        if current is None or current["metadata"]["resourceVersion"] != precondition:
            flow.patch_rejected(d)
        else:
            flow.undo_failed(
                d, Reason.UNDO_REJECTED, f"the API server rejected the undo: {exc.body}"
            )
    else:
        faults.crash_point("after-undo-patch")
        if drill:
            flow.drill_rehearsed(d)
        else:
            flow.undo_patched(d)
    flow.finish(d)
    await commit(d, memo, deployments)


async def follow(
    d: flow.Draft,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    watched: Mapping[str, Any] | None = None,
) -> bool:
    """Follow the undo's rollout. After a restart, first find out whether the claimed
    undo reached the Deployment; send it only if it provably did not. `watched` is the
    Deployment as a watch event just delivered it: as fresh as a GET, and free."""
    kube: Kube = memo.kube
    mitigation = d.mitigation or {}
    name = str(mitigation.get("deployment"))
    if watched is not None and (watched.get("metadata") or {}).get("name") == name:
        deployment: dict[str, Any] | None = dict(watched)
    else:
        deployment = await kube.get_deployment(d.namespace, name)
    if not mitigation.get("patchedAt"):
        replicasets = (
            await kube.list_replicasets(d.namespace, selector_string(deployment))
            if deployment
            else []
        )
        landed = flow.undo_landed(mitigation, d.suspect, deployment, replicasets)
        if landed is False:
            outcome, fresh = await _check(d, memo, mitigation=None)
            if isinstance(outcome, Refusal):
                flow.refuse(d, outcome)
                return True
            assert fresh is not None
            mitigation["preconditionResourceVersion"] = str(fresh["metadata"]["resourceVersion"])
            claimed = await commit(d, memo, deployments)
            if claimed is not None:
                await _send_undo(claimed, outcome, kube, memo, deployments)
            return False
        if landed is None:
            flow.undo_failed(
                d,
                Reason.TARGET_CHANGED,
                "the Deployment was changed by someone else "
                "while the undo was in flight; it was not touched again",
            )
            return True
        log.info(
            "%s/%s: the claimed undo of deployment/%s had landed before a restart",
            d.namespace,
            d.name,
            mitigation.get("deployment"),
        )
        flow.undo_patched(d, recovered=True)
    if deployment is None:
        flow.undo_failed(d, Reason.TARGET_CHANGED, "the Deployment was deleted during the undo")
    else:
        flow.follow_rollout(
            d, rollout_status(deployment), current_settings().rollout_timeout_seconds
        )
    return True
