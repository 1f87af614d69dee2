"""Prometheus metrics (their names are part of the API: ../shared/DESIGN.md, "Metrics")
and the HTTP endpoint.

Counters and histograms are observed once per incident transition: the status
records that the transition happened, so a restarted operator never observes it twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from tourniquet.api.vocabulary import Observed

SEVERITIES = ("SEV1", "SEV2", "SEV3")
# Incident durations: minutes to days.
DURATION_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)

# *_created series double the output and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)


class DrillAware(Collector):
    """One metric family from two metric objects: real incidents' series carry exactly
    the labels the API contract names (e.g. {severity="SEV1"}), drills' series add
    drill="true". Dashboards that select {severity=...} keep working, and
    {drill!="true"} (or the absence of the label) is MTTR without game days."""

    def __init__(self, real: Any, drill: Any) -> None:
        self.real, self.drill = real, drill

    def collect(self):  # type: ignore[no-untyped-def]
        for family in self.real.collect():
            for drills in self.drill.collect():
                family.samples.extend(drills.samples)
            yield family


def _drill_aware(kind: type[Any], name: str, doc: str, labels: list[str], **kw: Any) -> Any:
    """The real metric object (registered, merged with its drill twin) and the twin."""
    real = kind(name, doc, labels, registry=None, **kw)
    drill = kind(name, doc, [*labels, "drill"], registry=None, **kw)
    REGISTRY.register(DrillAware(real, drill))
    return real, drill


INCIDENTS_DECLARED, INCIDENTS_DECLARED_DRILL = _drill_aware(
    Counter,
    "tourniquet_incidents_declared_total",
    'Incidents declared, by severity (drills: drill="true").',
    ["severity"],
)
TIME_TO_MITIGATE, TIME_TO_MITIGATE_DRILL = _drill_aware(
    Histogram,
    "tourniquet_incident_time_to_mitigate_seconds",
    'From impact start (spec.startedAt) to a Succeeded mitigation (drills: drill="true").',
    ["severity"],
    buckets=DURATION_BUCKETS,
)
TIME_TO_RESOLVE, TIME_TO_RESOLVE_DRILL = _drill_aware(
    Histogram,
    "tourniquet_incident_time_to_resolve_seconds",
    "From impact start (spec.startedAt) to the all-clear (spec.resolved): MTTR. "
    'Drills carry drill="true" so they never pollute it.',
    ["severity"],
    buckets=DURATION_BUCKETS,
)
ROLLBACKS, ROLLBACKS_DRILL = _drill_aware(
    Counter,
    "tourniquet_rollbacks_total",
    'Guarded rollout undos, by result: succeeded, failed, refused (drills: drill="true").',
    ["result"],
)
GITOPS_ACTIONS = Counter(
    "tourniquet_gitops_actions_total",
    "What the operator did to the GitOps owner of an undone workload: suspended, resumed, "
    "or refused (it may not suspend it), by owner kind (Kustomization, HelmRelease, "
    "Application).",
    ["action", "owner_kind", "drill"],
    registry=REGISTRY,
)
ROLLBACK_REASONS = Counter(
    "tourniquet_rollback_outcome_reasons_total",
    "Why undos failed or were refused (NoApproval, TargetChanged, ProgressDeadlineExceeded, ...).",
    ["result", "reason"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "tourniquet_api_requests_total",
    "Kubernetes API requests made by the operator's own logic (not kopf's watches).",
    ["verb", "resource"],
    registry=REGISTRY,
)
TIME_TO_ACKNOWLEDGE = Histogram(
    "tourniquet_incident_time_to_acknowledge_seconds",
    "From declaration to the Incident Commander's acknowledgement.",
    ["severity", "drill"],
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 14400, 86400),
    registry=REGISTRY,
)
ACKNOWLEDGEMENTS_OVERDUE = Counter(
    "tourniquet_acknowledgements_overdue_total",
    "Incidents whose commander had not acknowledged within the severity's response time.",
    ["severity", "drill"],
    registry=REGISTRY,
)
COMMS_OVERDUE = Counter(
    "tourniquet_comms_updates_overdue_total",
    "Times a comms update became overdue per the severity's cadence.",
    ["severity", "drill"],
    registry=REGISTRY,
)
CHECKLIST_LATE = Counter(
    "tourniquet_checklist_items_late_total",
    "First-15-minutes checklist items still open at the deadline.",
    ["severity", "drill", "item"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "tourniquet_notifications_total",
    "Comms updates forwarded to notification webhooks, by target and result.",
    ["target", "result"],
    registry=REGISTRY,
)
RECONCILES = Counter(
    "tourniquet_reconciles_total",
    "Incident reconciliations (events and resyncs); most write nothing.",
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "tourniquet_reconcile_errors_total",
    "Incident reconciliations that failed and will be retried on the next resync.",
    registry=REGISTRY,
)


@dataclass(frozen=True)
class IncidentGauges:
    """What one incident contributes to the gauges right now."""

    severity: str
    drill: bool = False
    open: bool = True
    comms_overdue: bool = False
    postmortem_overdue: bool = False
    action_items_open: int = 0
    action_items_overdue: int = 0


class IncidentState(Collector):
    """Gauges counted from what the operator sees now, not accumulated: a restarted
    operator rebuilds them from the Incidents it lists."""

    def __init__(self) -> None:
        self._by_uid: dict[str, IncidentGauges] = {}

    def set(self, uid: str, gauges: IncidentGauges | None) -> None:
        if gauges is None:
            self._by_uid.pop(uid, None)
        else:
            self._by_uid[uid] = gauges

    def collect(self):  # type: ignore[no-untyped-def]
        families = {
            "open": GaugeMetricFamily(
                "tourniquet_incidents_open",
                "Incidents not yet resolved, by severity.",
                labels=["severity"],
            ),
            "comms": GaugeMetricFamily(
                "tourniquet_incidents_comms_overdue",
                "Open incidents whose next comms update is overdue.",
                labels=["severity"],
            ),
            "postmortem": GaugeMetricFamily(
                "tourniquet_postmortems_overdue",
                "Resolved incidents whose postmortem is overdue.",
                labels=["severity"],
            ),
            "items_open": GaugeMetricFamily(
                "tourniquet_action_items_open",
                "Postmortem action items not done.",
                labels=["severity"],
            ),
            "items_overdue": GaugeMetricFamily(
                "tourniquet_action_items_overdue",
                "Postmortem action items past their due date.",
                labels=["severity"],
            ),
        }
        counts: dict[str, dict[tuple[str, str], int]] = {k: {} for k in families}
        for severity in SEVERITIES:
            for key in counts:
                counts[key][(severity, "false")] = 0
        for g in self._by_uid.values():
            labels = (g.severity, "true" if g.drill else "false")
            for key, value in (
                ("open", int(g.open)),
                ("comms", int(g.comms_overdue)),
                ("postmortem", int(g.postmortem_overdue)),
                ("items_open", g.action_items_open),
                ("items_overdue", g.action_items_overdue),
            ):
                counts[key][labels] = counts[key].get(labels, 0) + value
        for key, family in families.items():
            for (severity, drill), value in sorted(counts[key].items()):
                if drill == "true":
                    family.samples.append(
                        Sample(family.name, {"severity": severity, "drill": "true"}, value)
                    )
                else:
                    family.add_metric([severity], value)
            yield family


# Every known label value exported from the start, so rate() and absent() work at zero.
for _severity in SEVERITIES:
    INCIDENTS_DECLARED.labels(severity=_severity)
for _result in ("succeeded", "failed", "refused"):
    ROLLBACKS.labels(result=_result)

INCIDENT_STATE = IncidentState()
REGISTRY.register(INCIDENT_STATE)


def _split(real: Any, drill: Any, label: str, method: str) -> Callable[[Observation], None]:
    """Observe on the real metric, or on its drill="true" twin (see DrillAware)."""

    def apply(o: Observation) -> None:
        value = o.result if label == "result" else o.severity
        metric = drill.labels(value, "true") if o.drill else real.labels(value)
        getattr(metric, method)(*([] if method == "inc" else [o.value]))

    return apply


def _rollback(o: Observation) -> None:
    _split(ROLLBACKS, ROLLBACKS_DRILL, "result", "inc")(o)
    if o.reason:
        ROLLBACK_REASONS.labels(result=o.result, reason=o.reason).inc()


@dataclass(frozen=True)
class Observation:
    kind: Observed
    severity: str
    value: float
    result: str
    reason: str
    drill: bool

    @property
    def drill_label(self) -> str:
        return "true" if self.drill else "false"


# One place that maps the core's observations onto metric objects.
_OBSERVERS: dict[Observed, Callable[[Observation], None]] = {
    Observed.DECLARED: _split(INCIDENTS_DECLARED, INCIDENTS_DECLARED_DRILL, "severity", "inc"),
    Observed.TIME_TO_MITIGATE: _split(
        TIME_TO_MITIGATE, TIME_TO_MITIGATE_DRILL, "severity", "observe"
    ),
    Observed.TIME_TO_RESOLVE: _split(TIME_TO_RESOLVE, TIME_TO_RESOLVE_DRILL, "severity", "observe"),
    Observed.ROLLBACK: _rollback,
    Observed.TIME_TO_ACKNOWLEDGE: lambda o: TIME_TO_ACKNOWLEDGE.labels(
        severity=o.severity, drill=o.drill_label
    ).observe(o.value),
    Observed.ACKNOWLEDGEMENT_OVERDUE: lambda o: ACKNOWLEDGEMENTS_OVERDUE.labels(
        severity=o.severity, drill=o.drill_label
    ).inc(),
    Observed.COMMS_OVERDUE: lambda o: COMMS_OVERDUE.labels(
        severity=o.severity, drill=o.drill_label
    ).inc(),
    Observed.CHECKLIST_ITEM_LATE: lambda o: CHECKLIST_LATE.labels(
        severity=o.severity, drill=o.drill_label, item=o.reason
    ).inc(),
    Observed.GITOPS: lambda o: GITOPS_ACTIONS.labels(
        action=o.result, owner_kind=o.reason, drill=o.drill_label
    ).inc(),
}


def observe(
    kind: Observed,
    severity: str,
    value: float = 1.0,
    result: str = "",
    reason: str = "",
    drill: bool = False,
) -> None:
    _OBSERVERS[kind](Observation(kind, severity, value, result, reason, drill))


class MetricsServer:
    """/metrics, /healthz (the event loop answers) and /readyz (the operator is watching)."""

    def __init__(self, addr: str, ready: Callable[[], bool]) -> None:
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self._ready = ready
        self._runner: web.AppRunner | None = None
        self.started_at = time.monotonic()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="indexes not yet populated\n")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# --- alerts in and runbooks (issue 6) ----------------------------------------------------

ALERT_NOTIFICATIONS = Counter(
    "tourniquet_alert_notifications_total",
    "Alertmanager webhook notifications accepted, by group status (firing, resolved) and "
    "outcome (declared, duplicate, recorded, unchanged, unknown).",
    ["status", "outcome"],
    registry=REGISTRY,
)
ALERT_NOTIFICATIONS_REJECTED = Counter(
    "tourniquet_alert_notifications_rejected_total",
    "Alertmanager webhook notifications refused, by reason (unauthorized, malformed, "
    "too_large, unavailable, failed).",
    ["reason"],
    registry=REGISTRY,
)
INCIDENTS_FROM_ALERTS = Counter(
    "tourniquet_incidents_from_alerts_total",
    "Incidents declared by alert groups, by severity and whether a runbook answered.",
    ["severity", "runbook"],
    registry=REGISTRY,
)
ALERTS_WITHOUT_RUNBOOK = Counter(
    "tourniquet_alerts_without_runbook_total",
    "Alert groups that declared an incident no runbook answers, by alertname: a tuning "
    "problem, not a paging problem.",
    ["alertname"],
    registry=REGISTRY,
)
RUNBOOKS = Gauge(
    "tourniquet_runbooks",
    "Runbooks the operator sees, by validity (valid=true|false).",
    ["valid"],
    registry=REGISTRY,
)
for _status in ("firing", "resolved"):
    for _outcome in ("declared", "duplicate"):
        ALERT_NOTIFICATIONS.labels(status=_status, outcome=_outcome)
for _reason in ("unauthorized", "malformed"):
    ALERT_NOTIFICATIONS_REJECTED.labels(reason=_reason)
for _valid in ("true", "false"):
    RUNBOOKS.labels(valid=_valid).set(0)
