"""The Grafana dashboard (config/grafana/tourniquet.json, the chart's copy) stays in step with
the operator: every metric a query names is one the operator's REGISTRY exports, with the
labels the query groups by; every metric the playbook cares about has a panel; drills stay
out; and the committed files are what hack/grafana_dashboard.py generates."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tourniquet.observability import metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "config/grafana/tourniquet.json"
CHART_COPY = REPO / "charts/tourniquet/dashboards/tourniquet.json"
#: What issue 12 asks the dashboard to show, as the metrics that carry it.
REQUIRED = {
    "tourniquet_incidents_open",
    "tourniquet_incident_time_to_acknowledge_seconds_sum",
    "tourniquet_incident_time_to_mitigate_seconds_sum",
    "tourniquet_incident_time_to_resolve_seconds_sum",
    "tourniquet_rollbacks_total",
    "tourniquet_incidents_comms_overdue",
    "tourniquet_comms_updates_overdue_total",
    "tourniquet_checklist_items_late_total",
    "tourniquet_postmortems_overdue",
    "tourniquet_action_items_overdue",
    "tourniquet_alerts_without_runbook_total",
    "tourniquet_reconcile_errors_total",
    "tourniquet_api_requests_total",
}
#: Series Prometheus itself adds to every scrape.
PROMETHEUS_OWN = {"up"}
NAME = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
RANGE = re.compile(r"\[[^\]]*\]")
GROUPING = re.compile(r"\bby\s*\(([^)]*)\)")
FUNCTIONS = {"sum", "rate", "increase", "histogram_quantile"}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "grafana_dashboard", REPO / "hack/grafana_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def exported() -> dict[str, set[str]]:
    """Every series name the operator exports -> its label names, from the REGISTRY."""
    labels_of: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            labels_of.setdefault(obj._name, set()).update(obj._labelnames)
    series: dict[str, set[str]] = {}
    for family in metrics.REGISTRY.collect():
        labels = set(labels_of.get(family.name, set()))
        for sample in family.samples:
            labels |= set(sample.labels)
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        for suffix in suffixes:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, {matchers}) of every series selector in a query: names not called as
    functions, once groupings and range windows are out of the way."""
    text = RANGE.sub("", GROUPING.sub("", expr))
    found = []
    for match in NAME.finditer(text):
        name, matchers = match[1], match[2] or ""
        if name in FUNCTIONS or text[match.end() :].lstrip().startswith("("):
            continue
        found.append((name, matchers))
    return found


def test_the_committed_dashboards_are_generated() -> None:
    text = generator().render()
    assert DASHBOARD.read_text() == text, "run python hack/grafana_dashboard.py"
    assert CHART_COPY.read_text() == text, "run python hack/grafana_dashboard.py"


def test_every_metric_on_the_dashboard_is_exported_by_the_operator() -> None:
    series = exported()
    for title, expr in queries():
        names = [name for name, _ in selectors(expr)]
        assert names, f"{title}: no metric in {expr!r}"
        for name in names:
            assert name in series or name in PROMETHEUS_OWN, f"{title}: {name} is not exported"


def test_every_grouping_label_is_a_label_of_the_metrics_grouped() -> None:
    series = exported()
    for title, expr in queries():
        for group in GROUPING.findall(expr):
            for label in (part.strip() for part in group.split(",")):
                for name, _ in selectors(expr):
                    assert label in series.get(name, set()), f"{title}: {name} has no {label}"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    shown = {name for _, expr in queries() for name, _ in selectors(expr)}
    assert shown >= REQUIRED, f"missing: {sorted(REQUIRED - shown)}"


def test_drills_never_count() -> None:
    series = exported()
    for title, expr in queries():
        for name, matchers in selectors(expr):
            if "drill" in series.get(name, set()):
                assert 'drill!="true"' in matchers, f"{title}: {name} counts drills"


def test_panels_are_laid_out_and_use_the_datasource_variable() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {"datasource", "severity", "window", "job"}
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["description"] and panel["targets"]


@pytest.mark.parametrize("source", ["chart", "kustomize"])
def test_the_dashboard_ships_labelled_for_the_grafana_sidecar(source: str) -> None:
    if source == "chart":
        values = yaml.safe_load((REPO / "charts/tourniquet/values.yaml").read_text())
        assert values["grafanaDashboard"]["enabled"] is False, "off by default"
        assert values["grafanaDashboard"]["labels"] == {"grafana_dashboard": "1"}
        template = (REPO / "charts/tourniquet/templates/grafana-dashboard.yaml").read_text()
        assert '.Files.Get "dashboards/tourniquet.json"' in template
        assert template.startswith("{{- if .Values.grafanaDashboard.enabled }}")
    else:
        kustomization = yaml.safe_load((REPO / "config/grafana/kustomization.yaml").read_text())
        assert kustomization["generatorOptions"]["labels"]["grafana_dashboard"] == "1"
        (generated,) = kustomization["configMapGenerator"]
        assert generated["files"] == ["tourniquet.json"]
