"""Runbook status: every event validates the runbook (core.runbooks decides), writes its
Valid and Ready conditions when they change, posts an Event when the verdict changes, and
keeps the in-memory view the incident reconcile links runbooks from. Incidents that linked
a runbook are recorded in the runbook's status.usedBy.

A malformed Runbook never takes the operator down: it is reported in its status.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet.api.vocabulary import ConditionType
from tourniquet.core.conditions import set_condition
from tourniquet.core.projections import mapping
from tourniquet.core.runbooks import assess, runbook_view
from tourniquet.core.runbooks import record_use as record_use_fields
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime

log = logging.getLogger("tourniquet.runbooks")


async def on_event(rt: Runtime, event: kopf.RawEvent, body: kopf.Body) -> None:
    try:
        await _runbook_event(rt, event, body)
    except Exception:  # one bad runbook must never take the operator down
        metadata = mapping(body.get("metadata"))
        log.exception(
            "runbook %s/%s: handling failed", metadata.get("namespace"), metadata.get("name")
        )


async def _runbook_event(rt: Runtime, event: kopf.RawEvent, body: kopf.Body) -> None:
    metadata = mapping(body.get("metadata"))
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    if event.get("type") == "DELETED":
        rt.runbooks.drop(namespace, name)
        return
    view = runbook_view(body)
    rt.runbooks.put(view)
    status = mapping(body.get("status"))
    verdict = assess(view, status.get("conditions"))
    now = datetime.now(UTC)
    conditions = status.get("conditions")
    for type_ in (ConditionType.VALID, ConditionType.READY):
        conditions = set_condition(
            conditions,
            type_,
            "True" if verdict.valid else "False",
            verdict.reason,
            verdict.message,
            view.generation,
            now,
        )
    if conditions == status.get("conditions") and status.get("observedGeneration") == (
        view.generation
    ):
        return
    try:
        await rt.kube.patch_runbook_status(
            namespace,
            name,
            {
                "metadata": {"resourceVersion": view.resource_version},
                "status": {"conditions": conditions, "observedGeneration": view.generation},
            },
        )
    except ApiException as exc:
        if exc.status in (404, 409):
            return  # changed since: its next event decides again
        raise
    if verdict.event is not None:
        event_type, event_reason, message = verdict.event
        kopf.event(body, type=event_type, reason=event_reason, message=message)
    if not verdict.valid:
        log.warning("runbook %s/%s is not valid: %s", namespace, name, verdict.message)


# --- Incidents that used a runbook --------------------------------------------------------------


def links_runbook(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    """An Incident whose runbook is linked: it is recorded in the runbook's usedBy."""
    linked = mapping(status.get("runbook")).get("name")
    return bool(linked) and linked == mapping(spec.get("runbookRef")).get("name")


async def record_use(rt: Runtime, body: kopf.Body) -> None:
    namespace, name = body.metadata.namespace, body.metadata.name
    runbook = str(mapping(body.get("status")).get("runbook", {}).get("name"))
    cached = rt.runbooks.get((str(namespace), runbook))
    if cached is None or name in cached.used_by:
        return
    alertname = mapping(mapping(body.get("spec")).get("alert")).get("alertname")
    kube = rt.kube
    for _attempt in range(3):  # the runbook's status may be written meanwhile: read again
        try:
            fresh = await kube.get_runbook(str(namespace), runbook)
            if fresh is None:
                return
            fields = record_use_fields(fresh.get("status"), str(name), datetime.now(UTC), alertname)
            if fields is None:
                return
            await kube.patch_runbook_status(
                str(namespace),
                runbook,
                {
                    "metadata": {"resourceVersion": fresh["metadata"]["resourceVersion"]},
                    "status": fields,
                },
            )
            return
        except ApiException as exc:
            if exc.status == 409:
                continue
            log.warning("recording %s/%s in runbook %s failed: %s", namespace, name, runbook, exc)
            return
        except Exception:
            log.exception("recording %s/%s in runbook %s failed", namespace, name, runbook)
            return
