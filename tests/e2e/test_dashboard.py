"""The Grafana dashboard against a real Prometheus (Debian's package, tests/e2e/promstack.py)
scraping the real operator after a few incidents went through the playbook: every panel's
query returns data, and no value is NaN.

Grafana is not needed: the dashboard's JSON is read as Grafana reads it, its variables
replaced the way Grafana would ($severity: all, $job: the scrape job, $window, $__range
and $__rate_interval: windows that cover this test), and each query sent to Prometheus.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from devkit.cluster import unavailable
from devkit.incidents import (
    approve,
    declare,
    good_then_bad,
    mitigation_is,
    patch_incident,
    resolve,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.manifests import operator_config_read
from devkit.net import free_port
from devkit.operator import OperatorProcess
from devkit.paths import REPO
from devkit.polling import wait_for
from promstack import PromStack, alertmanager_binary, prometheus_binary, version

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

StartOperator = Callable[..., OperatorProcess]
DASHBOARD = REPO / "config/grafana/tourniquet.json"
JOB = "tourniquet"
POLICY = "tourniquet-severity-policy"
SECRET = "alert-token"
#: Grafana's variables, as Grafana would expand them for this test's few minutes.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$window": "1h",
    "$severity": ".*",
    "$job": JOB,
}
#: Deadlines of seconds instead of minutes: comms, checklist, acknowledgement and
#: postmortem all go overdue while the test runs.
POLICY_BODY = {
    "severities": {
        severity: {"respondWithin": "3s", "commsEvery": "1h", "postmortemWithin": "2s"}
        for severity in ("SEV1", "SEV2", "SEV3")
    },
    "firstUpdateWithin": "1s",
    "checklistWithin": "2s",
}


def expand(expr: str) -> str:
    # Longest first: $__range must not be read as a prefix of something longer.
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


def panel_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [
        (f"{panel['title']} [{target['refId']}]", expand(target["expr"]))
        for panel in board["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


@pytest.fixture
def promstack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PromStack]:
    prometheus, alertmanager = prometheus_binary(), alertmanager_binary()
    if not (prometheus and alertmanager):
        unavailable(
            "Prometheus and Alertmanager are not installed: run hack/install-promstack.sh "
            "(make promstack; Debian packages prometheus and prometheus-alertmanager)"
        )
    print(version(prometheus))
    stack = PromStack(prometheus, alertmanager, tmp_path)
    request.node.tq_diagnostics = [
        *getattr(request.node, "tq_diagnostics", []),
        lambda: ("prometheus", stack.logs()),
    ]
    yield stack
    stack.stop()


def grant(cluster: Cluster, namespace: str, kind: str, name: str) -> None:
    for rbac in operator_config_read(
        namespace, kind, name, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
    ):
        cluster.apply(rbac)


def start_with_policy_and_receiver(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> tuple[OperatorProcess, str, str]:
    """The operator with the fast policy and its alert receiver; (it, receiver url, token)."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": POLICY},
            "data": {"policy.yaml": yaml.safe_dump(POLICY_BODY)},
        },
        namespace,
    )
    grant(cluster, namespace, "configmaps", POLICY)
    token = f"tq-{uuid.uuid4().hex}"
    cluster.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace, f"--from-literal=token={token}"
    )
    grant(cluster, namespace, "secrets", SECRET)
    port = free_port()
    op = start_operator(
        "--policy-configmap",
        f"{namespace}/{POLICY}",
        "--policy-refresh-seconds",
        "0.5",
        "--alerts-addr",
        f"127.0.0.1:{port}",
        "--alerts-token-secret",
        f"{namespace}/{SECRET}",
    )
    return op, f"http://127.0.0.1:{port}/alerts", token


def one_incident(cluster: Cluster, namespace: str, app: str) -> None:
    """Declared, acknowledged, approved, mitigated and resolved: every duration observed."""
    good_then_bad(cluster, namespace, app, labels={"app": app})
    name = f"{app}-errors"
    declare(cluster, namespace, name, severity="SEV2", selector={"matchLabels": {"app": app}})
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect", name=name
    )
    patch_incident(
        cluster,
        namespace,
        '{"status":{"acknowledgement":{"by":"alice"}}}',
        as_user="alice",
        status=True,
        name=name,
    )
    approve(cluster, namespace, status(incident)["suspect"]["revision"], name=name, target=app)
    wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "mitigated", name=name, timeout=90
    )
    resolve(cluster, namespace, name=name)
    wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i).get("timeToResolveSeconds") is not None),
        "resolved",
        name=name,
    )


def post_alert_without_runbook(url: str, token: str, alertname: str) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "severity": "warning"},
        "annotations": {"summary": "no runbook answers this"},
        "startsAt": "2026-11-27T09:58:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tourniquet",
        "groupLabels": {"alertname": alertname},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
        "alerts": [alert],
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201, 202), response.status


def scraped(stack: PromStack, metric: str, at_least: float) -> bool:
    """Prometheus has scraped `metric` (summed) at `at_least` already."""
    result = stack.prometheus.query(f"sum({metric})")
    return bool(result) and float(result[0]["value"][1]) >= at_least


def answers(stack: PromStack) -> dict[str, list[float]]:
    """Each panel query's values, as Prometheus answers them now."""
    return {
        title: [float(sample["value"][1]) for sample in stack.prometheus.query(expr)]
        for title, expr in panel_queries()
    }


def without_data(found: dict[str, list[float]]) -> dict[str, list[float]]:
    return {title: v for title, v in found.items() if not v or any(math.isnan(x) for x in v)}


def test_every_panel_of_the_dashboard_returns_data_from_the_real_prometheus(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    promstack: PromStack,
) -> None:
    op, receiver, token = start_with_policy_and_receiver(cluster, namespace, start_operator)
    # No rules and no alerting: Prometheus here only scrapes (the Alertmanager is not run).
    promstack.prometheus.start([], promstack.alertmanager, scrape={JOB: f"127.0.0.1:{op.port}"})
    wait_for(
        lambda: promstack.prometheus.targets_up().get(JOB) == "up",
        timeout=30,
        what="Prometheus scraping the operator",
    )

    # Two incidents one after the other: a mean over a window needs the histogram's count
    # to grow while Prometheus watches (a series first seen at 1 has increased by nothing).
    one_incident(cluster, namespace, "api")
    wait_for(
        lambda: scraped(promstack, "tourniquet_incident_time_to_resolve_seconds_count", 1),
        timeout=30,
        what="the first MTTR observation scraped",
    )
    one_incident(cluster, namespace, "web")
    post_alert_without_runbook(receiver, token, "NobodyWroteARunbook")
    op.wait_metric("tourniquet_alerts_without_runbook_total", 1, alertname="NobodyWroteARunbook")
    for metric, value in (
        ("tourniquet_incident_time_to_resolve_seconds_count", 2),
        ("tourniquet_incident_time_to_acknowledge_seconds_count", 2),
        ("tourniquet_postmortems_overdue", 1),
        ("tourniquet_checklist_items_late_total", 1),
        ("tourniquet_comms_updates_overdue_total", 1),
        ("tourniquet_acknowledgements_overdue_total", 1),
        ("tourniquet_alerts_without_runbook_total", 1),
    ):
        wait_for(
            lambda m=metric, v=value: scraped(promstack, m, v),
            timeout=60,
            what=f"{metric} >= {value} in Prometheus",
        )

    found = wait_for(
        lambda: (lambda now: now if not without_data(now) else None)(answers(promstack)),
        timeout=60,
        what="every panel's query to return data",
        describe=lambda: json.dumps(without_data(answers(promstack))),
    )
    for title, values in found.items():
        print(f"{title}: {values}")
    assert len(found) == len(panel_queries())
    # The panels say what happened: two SEV2 incidents mitigated by two undos, resolved.
    assert found["Rollbacks by result [A]"] and max(found["Rollbacks by result [A]"]) > 0
    assert all(v > 0 for v in found["MTTR by severity [A]"])
    assert found["Operator up [A]"] == [1.0]
    assert op.alive()


def test_a_query_the_operator_cannot_answer_is_caught(promstack: PromStack, tmp_path: Path) -> None:
    """The check above can fail: a misspelt metric returns nothing from the same Prometheus."""
    port = free_port()
    promstack.prometheus.start([], promstack.alertmanager, scrape={"nothing": f"127.0.0.1:{port}"})
    assert promstack.prometheus.query(expand('sum(tourniquet_incidents_opn{job=~"$job"})')) == []
    try:
        promstack.prometheus.query("sum(rate(")
    except (AssertionError, urllib.error.HTTPError):
        pass
    else:
        raise AssertionError("Prometheus accepted a malformed query")
