"""Alerts in: the Alertmanager receiver's intake declares Incidents from firing alert
groups and records resolved ones (core.alert_intake decides); the bearer token comes from
a Secret."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet.alerts.receiver import AlertReceiver
from tourniquet.alerts.settings import TOKEN_KEY, AlertSettings
from tourniquet.api.names import ALERT_GROUP_LABEL
from tourniquet.core import alert_intake as alerts
from tourniquet.core.label_budget import LabelBudget
from tourniquet.core.projections import mapping
from tourniquet.core.runbooks import find_runbook, runbook_view
from tourniquet.observability.metrics import (
    ALERT_NOTIFICATIONS,
    ALERTS_WITHOUT_RUNBOOK,
    INCIDENTS_FROM_ALERTS,
)
from tourniquet.shell.kube import ApiException, Kube
from tourniquet.shell.runtime import Runtime

log = logging.getLogger("tourniquet.alerts")


def api_message(exc: ApiException) -> str:
    """The API server's own message in an error response."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


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
        # alertname comes from the sender: a bounded set of bounded metric label values.
        self.alertnames = LabelBudget(limit=50)

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

    def _decide(
        self, n: alerts.Notification, bodies: list[dict[str, Any]], now: datetime
    ) -> alerts.Declaration:
        # Runs in a worker thread: matching thousands of alerts against many runbooks
        # takes seconds, which the event loop (kopf, /healthz, the undo) must not wait for.
        runbooks = [runbook_view(b) for b in bodies]
        match = find_runbook(
            runbooks,
            [n.common_labels, *(a.labels for a in n.firing)],
            self.settings.incident_namespace,
        )
        return alerts.declare(
            n,
            match,
            namespace=self.settings.incident_namespace,
            default_commander=self.settings.default_commander or None,
            now=now,
        )

    async def _declare(self, n: alerts.Notification) -> dict[str, Any]:
        bodies = await self.kube.list_runbooks(self.settings.watched)
        decision = await asyncio.to_thread(self._decide, n, bodies, datetime.now(UTC))
        ref = f"{decision.namespace}/{decision.name}"
        try:
            await self.kube.create_incident(decision.namespace, decision.manifest)
        except ApiException as exc:
            if exc.status in (400, 422):
                # Invalid as declared: the same notification would be refused forever.
                raise alerts.PayloadError(
                    f"the API server refused Incident {ref}: {api_message(exc)}"
                ) from None
            if exc.status != 409:
                raise
            ALERT_NOTIFICATIONS.labels(status="firing", outcome="duplicate").inc()
            return {"incident": ref, "created": False}
        ALERT_NOTIFICATIONS.labels(status="firing", outcome="declared").inc()
        INCIDENTS_FROM_ALERTS.labels(
            severity=decision.severity, runbook="true" if decision.runbook else "false"
        ).inc()
        if decision.runbook is None:
            ALERTS_WITHOUT_RUNBOOK.labels(alertname=self.alertnames(decision.alertname)).inc()
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


async def start(rt: Runtime) -> None:
    """The Alertmanager receiver on --alerts-addr, when configured."""
    cfg = rt.settings.alerts
    if not cfg.addr:
        return
    secret_namespace, secret_name = cfg.secret_ref
    if not (secret_namespace and secret_name):
        raise kopf.PermanentError("--alerts-addr needs --alerts-token-secret NAMESPACE/NAME")
    kube = rt.kube
    token = SecretToken(kube, secret_namespace, secret_name)
    receiver = AlertReceiver(cfg.addr, token, Intake(kube, cfg))
    await token(True)
    await receiver.start()
    rt.alert_receiver = receiver
    if cfg.watched and cfg.incident_namespace not in cfg.watched:
        log.warning(
            "--alerts-namespace %s is not watched: incidents of alerts no runbook answers "
            "would never be handled",
            cfg.incident_namespace,
        )
    log.info(
        "Alertmanager webhook on http://%s/alerts (token: secret %s/%s key %r)",
        cfg.addr,
        secret_namespace,
        secret_name,
        TOKEN_KEY,
    )


async def stop(rt: Runtime) -> None:
    receiver, rt.alert_receiver = rt.alert_receiver, None
    if receiver is not None:
        await receiver.stop()
