"""Send the claimed undo: one JSON patch whose first operation tests the resourceVersion
the claim recorded, so a concurrent change is never overwritten; then record the result."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core import playbook
from tourniquet.core.draft import Draft
from tourniquet.core.guards import only_status_moved
from tourniquet.core.rollback import UndoPlan
from tourniquet.core.rollback_revisions import RevisionUndoPlan
from tourniquet.shell import faults
from tourniquet.shell.failures import failure_of
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import commit
from tourniquet.shell.workload_cache import DeploymentIndex

log = logging.getLogger("tourniquet")


async def send_undo(
    claimed: Mapping[str, Any],
    plan: UndoPlan | RevisionUndoPlan,
    rt: Runtime,
    deployments: DeploymentIndex,
    *,
    read: Mapping[str, Any] | None = None,
) -> bool:
    """Send it and record the result. A patch refused because the workload's
    resourceVersion moved on from `read` (the body the plan was made from) while only its
    status changed records nothing and returns True: the caller reads it again and sends
    the same undo against the new resourceVersion. Any other change is refused."""
    d = Draft(claimed, datetime.now(UTC), rt.settings.timeline_limit)
    name = str((d.mitigation or {}).get("name"))
    await faults.hold_point("before-undo-patch")
    log.info(
        "%s/%s: undoing %s/%s revision %s -> %s",
        d.namespace,
        d.name,
        str((d.mitigation or {}).get("kind", "deployment")).lower(),
        name,
        plan.from_revision,
        plan.to_revision,
    )
    drill = playbook.is_drill(d)
    try:
        if isinstance(plan, RevisionUndoPlan):
            await rt.kube.strategic_patch_workload(
                plan.kind, d.namespace, name, plan.patch, dry_run=drill
            )
        else:
            await rt.kube.json_patch_deployment(d.namespace, name, plan.patch, dry_run=drill)
    except ApiException as exc:
        failure = failure_of(exc)
        if failure.retryable:
            raise  # no answer, or the server's trouble: retried after a backoff
        # A definite no (400, 403 from an admission policy, 409, 422): the same patch
        # would get the same answer, so the mitigation ends here, with the API's words.
        current = (
            await rt.kube.get_workload(plan.kind, d.namespace, name)
            if isinstance(plan, RevisionUndoPlan)
            else await rt.kube.get_deployment(d.namespace, name)
        )
        precondition = (d.mitigation or {}).get("preconditionResourceVersion")
        if current is None or current["metadata"]["resourceVersion"] != precondition:
            if only_status_moved(read, current):
                return True
            flow.patch_rejected(d)
        else:
            flow.undo_failed(
                d, Reason.UNDO_REJECTED, f"the API server rejected the undo: {failure.describe()}"
            )
    else:
        faults.crash_point("after-undo-patch")
        await faults.hold_point("after-undo-patch")
        if drill:
            flow.drill_rehearsed(d)
        else:
            flow.undo_patched(d)
    flow.finish(d)
    await commit(d, rt, deployments)
    return False
