"""Writes the Grafana dashboard (config/grafana/tourniquet.json and the chart's copy,
charts/tourniquet/dashboards/tourniquet.json) from the panel list below.

    python hack/grafana_dashboard.py          # rewrite both files
    python hack/grafana_dashboard.py --check  # exit 1 when a committed file differs

Every query selects real incidents only (drill!="true": drills carry drill="true").
The dashboard's variables: $datasource (a Prometheus), $severity (one, several or all),
$window (the trailing window of the "over time" panels: incidents are rare, so a mean
over a scrape interval would be empty) and $job (the scrape job of the operator).
tests/unit/test_grafana_dashboard.py keeps the metric names in step with the operator's registry;
tests/e2e/test_dashboard.py runs every query against a real Prometheus.
Standard library only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = (
    REPO / "config/grafana/tourniquet.json",
    REPO / "charts/tourniquet/dashboards/tourniquet.json",
)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
REAL = 'severity=~"$severity", drill!="true"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # timeseries | stat | bargauge
    unit: str = "short"
    width: int = 8
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)


def mean(metric: str, window: str, by: str = "severity") -> str:
    """Mean duration of a histogram's observations in `window`, per `by`."""
    return (
        f"sum by ({by}) (increase({metric}_sum{{{REAL}}}[{window}]))\n"
        f"/ sum by ({by}) (increase({metric}_count{{{REAL}}}[{window}]))"
    )


def p90(metric: str, window: str) -> str:
    return (
        f"histogram_quantile(0.9, sum by (le, severity) "
        f"(increase({metric}_bucket{{{REAL}}}[{window}])))"
    )


def durations(name: str, metric: str, what: str) -> list[Panel]:
    """Over time (trailing $window) and by severity (the dashboard's range)."""
    return [
        Panel(
            f"{name} over time",
            f"Mean {what}, over the trailing $window, by severity.",
            (Query(mean(metric, "$window"), "{{severity}}"),),
            unit="s",
        ),
        Panel(
            f"{name} by severity",
            f"Mean {what} of the incidents in the dashboard's time range.",
            (Query(mean(metric, "$__range"), "{{severity}}"),),
            kind="bargauge",
            unit="s",
            width=4,
        ),
    ]


ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Incidents",
        [
            Panel(
                "Open incidents by severity",
                "Incidents not yet resolved, now.",
                (
                    Query(
                        f"sum by (severity) (tourniquet_incidents_open{{{REAL}}})", "{{severity}}"
                    ),
                ),
                kind="stat",
                options={"colorMode": "background", "graphMode": "none"},
            ),
            Panel(
                "Open incidents over time",
                "Incidents not yet resolved, by severity.",
                (
                    Query(
                        f"sum by (severity) (tourniquet_incidents_open{{{REAL}}})", "{{severity}}"
                    ),
                ),
            ),
            Panel(
                "Incidents declared",
                "Incidents declared in the trailing $window, by severity.",
                (
                    Query(
                        "sum by (severity) "
                        f"(increase(tourniquet_incidents_declared_total{{{REAL}}}[$window]))",
                        "{{severity}}",
                    ),
                ),
            ),
        ],
    ),
    (
        "Time to acknowledge, mitigate, resolve (MTTA, MTTM, MTTR)",
        [
            *durations(
                "MTTA",
                "tourniquet_incident_time_to_acknowledge_seconds",
                "time from declaration to the commander's acknowledgement",
            ),
            *durations(
                "MTTM",
                "tourniquet_incident_time_to_mitigate_seconds",
                "time from impact start to a Succeeded mitigation",
            ),
            *durations(
                "MTTR",
                "tourniquet_incident_time_to_resolve_seconds",
                "time from impact start to the all-clear",
            ),
            Panel(
                "Time to resolve, 90th percentile",
                "9 in 10 incidents of the trailing $window were resolved within this.",
                (
                    Query(
                        p90("tourniquet_incident_time_to_resolve_seconds", "$window"),
                        "{{severity}}",
                    ),
                ),
                unit="s",
                width=12,
            ),
            Panel(
                "Rollbacks by result",
                "Guarded rollout undos in the dashboard's time range: succeeded, failed, refused.",
                (
                    Query(
                        'sum by (result) (increase(tourniquet_rollbacks_total{drill!="true"}'
                        "[$__range]))",
                        "{{result}}",
                    ),
                ),
                kind="bargauge",
                width=12,
            ),
        ],
    ),
    (
        "The playbook",
        [
            Panel(
                "Comms updates overdue now",
                "Open incidents whose next comms update is overdue.",
                (
                    Query(
                        f"sum by (severity) (tourniquet_incidents_comms_overdue{{{REAL}}})",
                        "{{severity}}",
                    ),
                ),
                kind="stat",
                width=6,
            ),
            Panel(
                "Comms updates that went overdue",
                "Times a comms update went overdue in the trailing $window.",
                (
                    Query(
                        "sum by (severity) "
                        f"(increase(tourniquet_comms_updates_overdue_total{{{REAL}}}[$window]))",
                        "{{severity}}",
                    ),
                ),
                width=6,
            ),
            Panel(
                "Checklist items late",
                "First-15-minutes checklist items still open at the deadline, in the range.",
                (
                    Query(
                        "sum by (item) "
                        f"(increase(tourniquet_checklist_items_late_total{{{REAL}}}[$__range]))",
                        "{{item}}",
                    ),
                ),
                kind="bargauge",
                width=6,
            ),
            Panel(
                "Acknowledgements overdue",
                "Incidents not acknowledged within the severity's response time, in the range.",
                (
                    Query(
                        "sum by (severity) "
                        f"(increase(tourniquet_acknowledgements_overdue_total{{{REAL}}}[$__range]))",
                        "{{severity}}",
                    ),
                ),
                kind="bargauge",
                width=6,
            ),
        ],
    ),
    (
        "Postmortems and alerts",
        [
            Panel(
                "Postmortems overdue",
                "Resolved incidents whose postmortem is overdue.",
                (
                    Query(
                        f"sum by (severity) (tourniquet_postmortems_overdue{{{REAL}}})",
                        "{{severity}}",
                    ),
                ),
                kind="stat",
                width=6,
            ),
            Panel(
                "Action items overdue",
                "Postmortem action items past their due date (and all those still open).",
                (
                    Query(
                        f"sum(tourniquet_action_items_overdue{{{REAL}}})",
                        "overdue",
                    ),
                    Query(f"sum(tourniquet_action_items_open{{{REAL}}})", "open"),
                ),
                width=6,
            ),
            Panel(
                "Alerts without runbooks",
                "Alert groups that declared an incident no Runbook answers, by alertname, in "
                "the range: write the runbook (`tourniquet runbooks uncovered` lists them).",
                (
                    Query(
                        "sum by (alertname) "
                        "(increase(tourniquet_alerts_without_runbook_total[$__range]))",
                        "{{alertname}}",
                    ),
                ),
                kind="bargauge",
                width=12,
            ),
        ],
    ),
    (
        "The operator",
        [
            Panel(
                "Operator up",
                "Whether Prometheus scrapes the operator.",
                (Query('up{job=~"$job"}', "{{instance}}"),),
                kind="stat",
                width=4,
            ),
            Panel(
                "Reconcile errors",
                "Incident reconciliations that failed (retried on the next resync), and all.",
                (
                    Query(
                        'sum(rate(tourniquet_reconcile_errors_total{job=~"$job"}[$__rate_interval]))',
                        "errors",
                    ),
                    Query(
                        'sum(rate(tourniquet_reconciles_total{job=~"$job"}[$__rate_interval]))',
                        "reconciles",
                    ),
                ),
                unit="ops",
                width=10,
            ),
            Panel(
                "API requests",
                "Kubernetes API requests of the operator's own logic, by verb and resource.",
                (
                    Query(
                        "sum by (verb, resource) "
                        '(rate(tourniquet_api_requests_total{job=~"$job"}[$__rate_interval]))',
                        "{{verb}} {{resource}}",
                    ),
                ),
                unit="reqps",
                width=10,
            ),
        ],
    ),
]


def variables() -> list[dict[str, Any]]:
    def query_variable(name: str, label: str, query: str, include_all: bool) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": query, "refId": name},
            "definition": query,
            "refresh": 2,
            "multi": include_all,
            "includeAll": include_all,
            "allValue": ".*" if include_all else None,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}
            if include_all
            else {},
            "sort": 1,
        }

    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
        },
        query_variable(
            "severity",
            "Severity",
            "label_values(tourniquet_incidents_declared_total, severity)",
            True,
        ),
        {
            "name": "window",
            "label": "Over time: trailing window",
            "type": "custom",
            "query": "1h,1d,7d,30d",
            "current": {"selected": True, "text": "7d", "value": "7d"},
            "options": [
                {"selected": value == "7d", "text": value, "value": value}
                for value in ("1h", "1d", "7d", "30d")
            ],
        },
        query_variable("job", "Job", "label_values(tourniquet_reconciles_total, job)", True),
    ]


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    options: dict[str, Any] = {"reduceOptions": {"calcs": ["lastNotNull"], "values": False}}
    if panel.kind == "timeseries":
        options = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["last"]}}
    elif panel.kind == "bargauge":
        options["displayMode"] = "gradient"
        options["orientation"] = "horizontal"
    options.update(panel.options)
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                # Bar gauges and stats show one value per series: the range's.
                "instant": panel.kind != "timeseries",
                "range": panel.kind == "timeseries",
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x, height = 0, 0
        for panel in row:
            if x + panel.width > 24:
                x, y = 0, y + height
            panels.append(panel_json(panel, len(panels) + 1, x, y))
            x, height = x + panel.width, max(height, panel.height)
        y += height
    return {
        "title": "Tourniquet: incident response",
        "uid": "tourniquet-incidents",
        "description": "Open incidents, MTTA/MTTM/MTTR, rollbacks, the playbook's deadlines, "
        "postmortems, alerts without runbooks and the operator's health (drills excluded).",
        "tags": ["tourniquet", "incidents", "sre"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": variables()},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        stale = [str(p.relative_to(REPO)) for p in OUTPUTS if p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}: run python hack/grafana_dashboard.py")
        return 1 if stale else 0
    for path in OUTPUTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
