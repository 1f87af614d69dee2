"""Claim the undo: fresh reads, the guards, and the intent written to status before the
patch, so a restart at any point knows the undo may have happened. Decisions are the
core's (guards, lifecycle); this module does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core.controller_revisions import REVISIONED_KINDS
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal, UndoRequest, check_undo
from tourniquet.core.projections import mapping
from tourniquet.core.rollback import UndoPlan
from tourniquet.core.rollback_revisions import RevisionUndoPlan
from tourniquet.core.selectors import selector_string
from tourniquet.shell import faults, gitops_owner, revisioned_undo, send_undo
from tourniquet.shell.actions import After
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import commit
from tourniquet.shell.workload_cache import DeploymentIndex


def paused_refusal_cleared(d: Draft, deployments: DeploymentIndex) -> bool:
    """An undo refused only because the Deployment was paused goes ahead once it is
    resumed: same approval, same target (the guards check that again)."""
    mitigation = d.mitigation or {}
    if not (flow.approval_answered(d) and mitigation.get("reason") == Reason.DEPLOYMENT_PAUSED):
        return False
    views = [v for v in deployments.get(d.namespace, []) if v.name == mitigation.get("name")]
    return bool(views) and not views[0].paused


async def undo(d: Draft, rt: Runtime, deployments: DeploymentIndex) -> After:
    """The guarded undo: fresh reads, the guards, a claim in status, then the patch."""
    outcome, deployment = await read_and_check(d, rt, mitigation=d.mitigation)
    if isinstance(outcome, Refusal):
        flow.refuse(d, outcome)
        return After.WRAP_UP
    assert deployment is not None
    # In a GitOps cluster the owner is suspended first, or the undo would not hold.
    gitops = await gitops_owner.suspend_first(d, rt)
    if isinstance(gitops, Refusal):
        flow.refuse(d, gitops)
        return After.WRAP_UP
    flow.claim_undo(
        d,
        outcome,
        str((d.suspect or {}).get("name")),
        str(deployment["metadata"]["resourceVersion"]),
        gitops,
    )
    flow.finish(d)
    claimed = await commit(d, rt, deployments)
    if claimed is None:
        return After.WRITTEN  # somebody wrote the Incident first; the next event decides
    faults.crash_point("after-claim")
    await send_undo.send_undo(claimed, outcome, rt, deployments)
    return After.WRITTEN


async def read_and_check(
    d: Draft, rt: Runtime, mitigation: Mapping[str, Any] | None
) -> tuple[UndoPlan | RevisionUndoPlan | Refusal, dict[str, Any] | None]:
    """The guards, on fresh reads of the suspect Deployment and its ReplicaSets (or the
    StatefulSet or DaemonSet and its ControllerRevisions)."""
    if (d.suspect or {}).get("kind") in REVISIONED_KINDS:
        return await revisioned_undo.read_and_check(d, rt, mitigation)
    kube, settings = rt.kube, rt.settings
    name = (d.suspect or {}).get("name")
    deployment = await kube.get_deployment(d.namespace, name) if name else None
    replicasets = (
        await kube.list_replicasets(d.namespace, selector_string(deployment)) if deployment else []
    )
    verified = await rt.approval_policy.is_enforced(kube) if d.approval else False
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
            scope_selector=mapping(d.spec.get("scope")).get("selector"),
        )
    )
    return outcome, deployment
