"""Send the claimed undo: one JSON patch whose first operation tests the resourceVersion
the claim recorded, so a concurrent change is never overwritten; then record the result."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core import playbook
from tourniquet.core.rollback import UndoPlan
from tourniquet.shell import faults
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import commit

log = logging.getLogger("tourniquet")


async def send_undo(
    claimed: Mapping[str, Any],
    plan: UndoPlan,
    rt: Runtime,
    deployments: kopf.Index[str, Any],
) -> None:
    d = flow.Draft(claimed, datetime.now(UTC), rt.settings.timeline_limit)
    name = str((d.mitigation or {}).get("name"))
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
        await rt.kube.json_patch_deployment(d.namespace, name, plan.patch, dry_run=drill)
    except ApiException as exc:
        if exc.status not in (409, 422):
            raise
        current = await rt.kube.get_deployment(d.namespace, name)
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
    await commit(d, rt, deployments)
