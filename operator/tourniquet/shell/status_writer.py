"""Writing an Incident's status: one merge patch with the resourceVersion the draft was
read at as precondition; Events and metrics only for what was written."""

from __future__ import annotations

import logging
from typing import Any

from tourniquet.api.vocabulary import OPEN_PHASES, ConditionType, Reason
from tourniquet.core import playbook
from tourniquet.core.conditions import get_condition
from tourniquet.core.draft import Draft, Notice
from tourniquet.observability import metrics
from tourniquet.observability.metrics import INCIDENT_STATE, IncidentGauges
from tourniquet.shell import events, timeline_record
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.workload_cache import DeploymentIndex

log = logging.getLogger("tourniquet")


async def commit(d: Draft, rt: Runtime, deployments: DeploymentIndex) -> dict[str, Any] | None:
    """Write the draft with the resourceVersion it was read at as precondition, then
    post its Events and observe its metrics: only what is written is announced.
    Returns the Incident as written, or None when it changed in the meantime."""
    INCIDENT_STATE.set(d.uid, _gauges(d))
    if d.archived and await _archive_timeline(d, rt):
        return None  # the Incident changed (its archive); the next event writes the status
    patch = d.patch()
    if not patch:
        return d.snapshot()
    log.debug(
        "%s/%s: status write at %s: %s",
        d.namespace,
        d.name,
        d.resource_version,
        {k: (v if v is None or k in ("phase",) else "...") for k, v in patch.items()},
    )
    try:
        written = await rt.kube.patch_incident_status(
            d.namespace,
            d.name,
            {"metadata": {"resourceVersion": d.resource_version}, "status": patch},
        )
    except ApiException as exc:
        if exc.status in (404, 409):
            log.debug(
                "%s/%s changed since it was read; the next event decides again", d.namespace, d.name
            )
            return None
        raise
    superseded = rt.superseded.setdefault(d.uid, [])
    superseded.append(d.resource_version)
    del superseded[:-16]
    rt.remember_written(d.uid, written)
    # Written: what it records as forwarded now goes out, apart from this reconcile.
    rt.outbox.post(d.outgoing)
    d.outgoing.clear()
    events.post_in_background(
        rt.kube,
        [(_target(n, d, deployments), n.type, n.reason, n.message) for n in d.notices],
        rt.background,
    )
    for o in d.observations:
        metrics.observe(o.kind, d.severity, o.value, o.result, o.reason, drill=playbook.is_drill(d))
    return written


def archived_timeline(d: Draft) -> list[dict[str, Any]]:
    return timeline_record.archived_entries(d)


async def _archive_timeline(d: Draft, rt: Runtime) -> bool:
    """Entries spilled out of the bounded status.timeline are archived first, so the
    postmortem still has the whole timeline; bounded per object (shell/timeline_record),
    so the Incident is never wedged by its own record. True when the Incident changed."""
    return await timeline_record.archive(d, rt)


def _gauges(d: Draft) -> IncidentGauges:
    pm = d.status.get("postmortem") or {}
    postmortem = get_condition(d.status.get("conditions"), ConditionType.POSTMORTEM_COMPLETE) or {}
    postmortem_overdue = postmortem.get("reason") == Reason.POSTMORTEM_OVERDUE
    return IncidentGauges(
        severity=d.severity,
        drill=playbook.is_drill(d),
        open=d.status.get("phase") in OPEN_PHASES,
        comms_overdue=bool((d.status.get("comms") or {}).get("overdue")),
        postmortem_overdue=postmortem_overdue,
        action_items_open=int(pm.get("actionItemsOpen") or 0),
        action_items_overdue=int(pm.get("actionItemsOverdue") or 0),
    )


def _target(notice: Notice, d: Draft, deployments: DeploymentIndex) -> Any:
    if notice.deployment is None:
        return d.snapshot()
    namespace = d.namespace
    # StatefulSets and DaemonSets are named without a uid (none is cached here).
    views = deployments.get(namespace, []) if notice.workload_kind == "Deployment" else []
    uid = next((v.uid for v in views if v.name == notice.deployment), "")
    return {
        "apiVersion": "apps/v1",
        "kind": notice.workload_kind,
        "metadata": {"name": notice.deployment, "namespace": namespace, "uid": uid},
    }
