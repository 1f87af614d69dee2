"""Prometheus metrics (names are part of the API: see DESIGN.md) and the HTTP endpoint.

Counters and histograms are observed once per incident transition: the status
records that the transition happened, so a restarted operator never observes it twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SEVERITIES = ("SEV1", "SEV2", "SEV3")
# Incident durations: minutes to days.
DURATION_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)

# *_created series double the output and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

INCIDENTS_DECLARED = Counter(
    "tourniquet_incidents_declared_total",
    "Incidents declared, by severity.",
    ["severity"],
    registry=REGISTRY,
)
TIME_TO_MITIGATE = Histogram(
    "tourniquet_incident_time_to_mitigate_seconds",
    "From impact start (spec.startedAt) to a Succeeded mitigation.",
    ["severity"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_RESOLVE = Histogram(
    "tourniquet_incident_time_to_resolve_seconds",
    "From impact start (spec.startedAt) to the all-clear (spec.resolved): MTTR.",
    ["severity"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "tourniquet_rollbacks_total",
    "Guarded rollout undos, by result: succeeded, failed, refused.",
    ["result"],
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


class OpenIncidents(Collector):
    """`tourniquet_incidents_open`: counted from what the operator sees now, not accumulated."""

    def __init__(self) -> None:
        self._severity_by_uid: dict[str, str] = {}

    def set(self, uid: str, severity: str | None) -> None:
        if severity is None:
            self._severity_by_uid.pop(uid, None)
        else:
            self._severity_by_uid[uid] = severity

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            "tourniquet_incidents_open",
            "Incidents not yet resolved, by severity.",
            labels=["severity"],
        )
        counts = dict.fromkeys(SEVERITIES, 0)
        for severity in self._severity_by_uid.values():
            counts[severity] = counts.get(severity, 0) + 1
        for severity, count in sorted(counts.items()):
            family.add_metric([severity], count)
        yield family


# Every known label value exported from the start, so rate() and absent() work at zero.
for _severity in SEVERITIES:
    INCIDENTS_DECLARED.labels(severity=_severity)
for _result in ("succeeded", "failed", "refused"):
    ROLLBACKS.labels(result=_result)

OPEN_INCIDENTS = OpenIncidents()
REGISTRY.register(OPEN_INCIDENTS)


def observe(
    kind: str, severity: str, value: float = 1.0, result: str = "", reason: str = ""
) -> None:
    """One place that maps the core's observations onto metric objects."""
    if kind == "declared":
        INCIDENTS_DECLARED.labels(severity=severity).inc()
    elif kind == "time_to_mitigate":
        TIME_TO_MITIGATE.labels(severity=severity).observe(value)
    elif kind == "time_to_resolve":
        TIME_TO_RESOLVE.labels(severity=severity).observe(value)
    elif kind == "rollback":
        ROLLBACKS.labels(result=result).inc()
        if reason:
            ROLLBACK_REASONS.labels(result=result, reason=reason).inc()
    else:
        raise ValueError(f"unknown observation {kind!r}")


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
