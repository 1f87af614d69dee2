"""The kopf shell for Runbooks and for alerts in.

- Runbooks: every event validates the runbook (runbooks.validate), writes its Valid and
  Ready conditions when they change, posts an Event when the verdict changes, and keeps
  the in-memory view (RUNBOOKS) the incident reconcile links runbooks from.
- Incidents that linked a runbook are recorded in the runbook's status.usedBy.
- The Alertmanager receiver (receiver.py) on --alerts-addr, whose intake declares
  Incidents from firing alert groups and records resolved ones (alerts.py decides).

A malformed Runbook never takes the operator down: it is reported in its status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet.alerts.receiver import AlertReceiver
from tourniquet.alerts.settings import TOKEN_KEY, AlertSettings
from tourniquet.api.names import ALERT_GROUP_LABEL, GROUP, INCIDENTS, VERSION
from tourniquet.api.names import RUNBOOKS as RUNBOOKS_PLURAL
from tourniquet.api.vocabulary import ConditionType
from tourniquet.core import alert_intake as alerts
from tourniquet.core.conditions import set_condition
from tourniquet.core.projections import mapping
from tourniquet.core.runbooks import (
    RunbookView,
    assess,
    find_runbook,
    record_use,
    runbook_view,
)
from tourniquet.observability.metrics import (
    ALERT_NOTIFICATIONS,
    ALERTS_WITHOUT_RUNBOOK,
    INCIDENTS_FROM_ALERTS,
)
from tourniquet.observability.metrics import (
    RUNBOOKS as RUNBOOKS_GAUGE,
)
from tourniquet.shell.kube import ApiException, Kube, load_config

log = logging.getLogger("tourniquet.core.runbooks")

ALERTS = AlertSettings.from_env()


class RunbookCache(dict[tuple[str, str], RunbookView]):
    """The runbooks the operator watches, by (namespace, name)."""

    def put(self, view: RunbookView) -> None:
        self[(view.namespace, view.name)] = view
        self._count()

    def drop(self, namespace: str, name: str) -> None:
        self.pop((namespace, name), None)
        self._count()

    def _count(self) -> None:
        valid = sum(1 for view in self.values() if view.valid)
        RUNBOOKS_GAUGE.labels(valid="true").set(valid)
        RUNBOOKS_GAUGE.labels(valid="false").set(len(self) - valid)


RUNBOOKS = RunbookCache()


def api_message(exc: ApiException) -> str:
    """The API server's own message in an error response."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


# --- Runbooks -------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, RUNBOOKS_PLURAL)
async def runbook_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await _runbook_event(event, body, memo)
    except Exception:  # one bad runbook must never take the operator down
        metadata = mapping(body.get("metadata"))
        log.exception(
            "runbook %s/%s: handling failed", metadata.get("namespace"), metadata.get("name")
        )


def _kube(memo: kopf.Memo) -> Kube:
    kube: Kube | None = memo.get("kube")
    if kube is None:  # before the incident shell's startup handler ran
        load_config()
        kube = memo["kube"] = Kube()
    return kube


async def _runbook_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo) -> None:
    metadata = mapping(body.get("metadata"))
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    if event.get("type") == "DELETED":
        RUNBOOKS.drop(namespace, name)
        return
    view = runbook_view(body)
    RUNBOOKS.put(view)
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
        await _kube(memo).patch_runbook_status(
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


def _linked_runbook(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    linked = mapping(status.get("runbook")).get("name")
    return bool(linked) and linked == mapping(spec.get("runbookRef")).get("name")


@kopf.on.event(GROUP, VERSION, INCIDENTS, when=_linked_runbook)
async def incident_used_runbook(
    body: kopf.Body, memo: kopf.Memo, name: str | None, namespace: str | None, **_: Any
) -> None:
    runbook = str(mapping(body.get("status")).get("runbook", {}).get("name"))
    cached = RUNBOOKS.get((str(namespace), runbook))
    if cached is None or name in cached.used_by:
        return
    alertname = mapping(mapping(body.get("spec")).get("alert")).get("alertname")
    kube = _kube(memo)
    for _attempt in range(3):  # the runbook's status may be written meanwhile: read again
        try:
            fresh = await kube.get_runbook(str(namespace), runbook)
            if fresh is None:
                return
            fields = record_use(fresh.get("status"), str(name), datetime.now(UTC), alertname)
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


# --- alerts in -------------------------------------------------------------------------------


class SecretToken:
    """The bearer token from a Secret's key `token`, re-read at most every
    ``min_interval`` seconds when a request does not match (so a rotation is picked up
    without letting wrong tokens hammer the API server)."""

    def __init__(self, kube: Kube, namespace: str, name: str, min_interval: float = 5.0):
        self.kube, self.namespace, self.name = kube, namespace, name
        self.min_interval = min_interval
        self._value: str | None = None
        self._read_at: float | None = None

    async def __call__(self, refresh: bool) -> str | None:
        now = time.monotonic()
        due = self._read_at is None or now - self._read_at >= self.min_interval
        if (self._value is None or refresh) and due:
            self._read_at = now
            try:
                self._value = await self.kube.read_secret_key(self.namespace, self.name, TOKEN_KEY)
            except ApiException as exc:
                log.warning("reading secret %s/%s failed: %s", self.namespace, self.name, exc)
            if self._value is None:
                log.warning(
                    "secret %s/%s has no key %r: the alert receiver refuses every notification",
                    self.namespace,
                    self.name,
                    TOKEN_KEY,
                )
        return self._value


def _ref(incident: Mapping[str, Any]) -> str:
    metadata = mapping(incident.get("metadata"))
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


class Intake:
    """What a notification does: declare, or record on the group's Incident."""

    def __init__(self, kube: Kube, settings: AlertSettings) -> None:
        self.kube = kube
        self.settings = settings

    async def __call__(self, n: alerts.Notification) -> dict[str, Any]:
        now = datetime.now(UTC)
        selector = f"{ALERT_GROUP_LABEL}={alerts.group_hash(n.group_key)}"
        existing = await self.kube.list_incidents(self.settings.watched, selector)
        if n.status == "firing":
            current = alerts.current_incident(existing)
            if current is not None:
                await self._record(current, n, now)
                ALERT_NOTIFICATIONS.labels(status="firing", outcome="duplicate").inc()
                return {"incident": _ref(current), "created": False}
            return await self._declare(n)
        target = alerts.latest_incident(existing)
        if target is None:
            ALERT_NOTIFICATIONS.labels(status="resolved", outcome="unknown").inc()
            return {"incident": None, "created": False}
        outcome = await self._record(target, n, now)
        ALERT_NOTIFICATIONS.labels(status="resolved", outcome=outcome).inc()
        return {"incident": _ref(target), "created": False, "outcome": outcome}

    async def _declare(self, n: alerts.Notification) -> dict[str, Any]:
        runbooks = [runbook_view(b) for b in await self.kube.list_runbooks(self.settings.watched)]
        match = find_runbook(runbooks, [n.common_labels, *(a.labels for a in n.firing)])
        decision = alerts.declare(
            n,
            match,
            namespace=self.settings.incident_namespace,
            default_commander=self.settings.default_commander or None,
        )
        ref = f"{decision.namespace}/{decision.name}"
        try:
            await self.kube.create_incident(decision.namespace, decision.manifest)
        except ApiException as exc:
            if exc.status != 409:
                raise
            ALERT_NOTIFICATIONS.labels(status="firing", outcome="duplicate").inc()
            return {"incident": ref, "created": False}
        ALERT_NOTIFICATIONS.labels(status="firing", outcome="declared").inc()
        INCIDENTS_FROM_ALERTS.labels(
            severity=decision.severity, runbook="true" if decision.runbook else "false"
        ).inc()
        if decision.runbook is None:
            ALERTS_WITHOUT_RUNBOOK.labels(alertname=decision.alertname or "").inc()
        for warning in decision.warnings:
            log.warning("%s: %s", ref, warning)
        log.info(
            "%s declared by alert %s (%s %s)",
            ref,
            decision.alertname,
            decision.severity,
            decision.severity_source,
        )
        return {
            "incident": ref,
            "created": True,
            "severity": decision.severity,
            "runbook": decision.runbook,
        }

    async def _record(
        self, incident: Mapping[str, Any], n: alerts.Notification, now: datetime
    ) -> str:
        patch = alerts.status_patch(
            incident, n, now=now, auto_resolve=self.settings.resolve_on_alert_resolved
        )
        if patch is None:
            return "unchanged"
        metadata = mapping(incident.get("metadata"))
        namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
        try:
            await self.kube.patch_incident(namespace, name, patch)
        except ApiException as exc:
            if "spec" not in patch or exc.status not in (400, 403, 422):
                raise
            # The all-clear is the Incident Commander's (the approval policy says so).
            reason = api_message(exc)
            log.warning("%s/%s: automatic all-clear refused: %s", namespace, name, reason)
            await self.kube.patch_incident(
                namespace, name, alerts.auto_resolve_refused(patch, reason)
            )
        return "recorded"


@kopf.on.startup()
async def start_alert_receiver(memo: kopf.Memo, **_: Any) -> None:
    if not ALERTS.addr:
        return
    secret_namespace, secret_name = ALERTS.secret_ref
    if not (secret_namespace and secret_name):
        raise kopf.PermanentError("--alerts-addr needs --alerts-token-secret NAMESPACE/NAME")
    kube = _kube(memo)
    token = SecretToken(kube, secret_namespace, secret_name)
    receiver = AlertReceiver(ALERTS.addr, token, Intake(kube, ALERTS))
    await token(True)
    await receiver.start()
    memo["alert_receiver"] = receiver
    if ALERTS.watched and ALERTS.incident_namespace not in ALERTS.watched:
        log.warning(
            "--alerts-namespace %s is not watched: incidents of alerts no runbook answers "
            "would never be handled",
            ALERTS.incident_namespace,
        )
    log.info(
        "Alertmanager webhook on http://%s/alerts (token: secret %s/%s key %r)",
        ALERTS.addr,
        secret_namespace,
        secret_name,
        TOKEN_KEY,
    )


@kopf.on.cleanup()
async def stop_alert_receiver(memo: kopf.Memo, **_: Any) -> None:
    receiver = memo.get("alert_receiver")
    if receiver is not None:
        await receiver.stop()
