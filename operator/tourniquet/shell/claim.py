"""Claim the undo: fresh reads, the guards, and the intent written to status before the
patch, so a restart at any point knows the undo may have happened. Decisions are the
core's (guards, lifecycle); this module does the I/O."""

from __future__ import annotations

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal
from tourniquet.shell import faults, follow_rollout, gitops_owner, send_undo, undo_reads
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
    """The guarded undo: the reads (prefetched while the cache shows them current), the
    guards, the GitOps owner suspended, a claim in status, then the patch."""
    outcome, deployment = await undo_reads.read_and_check(
        d, rt, mitigation=d.mitigation, deployments=deployments
    )
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
    if await send_undo.send_undo(claimed, outcome, rt, deployments, read=deployment):
        # Only the status moved (the controller reporting progress after the prefetch).
        await follow_rollout.follow_again(d, claimed, rt, deployments)
    return After.WRITTEN
