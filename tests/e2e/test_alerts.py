"""Alerts in, on the real control plane, with a real Prometheus and a real Alertmanager
(Debian's packages, started on loopback): a rule fires → Alertmanager → the operator's
receiver → one Incident with the runbook's severity, the runbook linked and the suspect
named; re-sent notifications declare nothing more; a wrong token is refused; Prometheus
scrapes the operator and answers PromQL over the MTTR histogram. Also: Runbooks rejected
by the API server, the sample library, coverage."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devkit.cluster import unavailable
from devkit.incidents import condition, get_incident, good_then_bad, resolve, status, wait_incident
from devkit.kubectl import Cluster, KubectlError
from devkit.manifests import operator_config_read
from devkit.net import free_port
from devkit.operator import OperatorProcess
from devkit.paths import REPO
from devkit.polling import wait_for
from promstack import PromStack, alertmanager_binary, prometheus_binary, version

from tourniquet.api.models import SPEC_ALERT_IMMUTABLE_MESSAGE
from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

StartOperator = Callable[..., OperatorProcess]

SECRET = "alert-token"
ALERT = "ApiHighErrorRate"
UNCOVERED = (sys.executable, "-m", "tourniquet", "runbooks", "uncovered")


# --- fixtures and helpers ------------------------------------------------------------------------


def _diagnose(request: pytest.FixtureRequest, title: str, text: Callable[[], str]) -> None:
    # The same hook as conftest.add_diagnostic: shown when the test fails.
    request.node.tq_diagnostics = [
        *getattr(request.node, "tq_diagnostics", []),
        lambda: (title, text()),
    ]


@pytest.fixture
def promstack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PromStack]:
    prometheus, alertmanager = prometheus_binary(), alertmanager_binary()
    if not (prometheus and alertmanager):
        reason = (
            "Prometheus and Alertmanager are not installed: run hack/install-promstack.sh "
            "(make promstack; Debian packages prometheus and prometheus-alertmanager)"
        )
        unavailable(reason)
    print(f"{version(prometheus)}; {version(alertmanager)}")
    stack = PromStack(prometheus, alertmanager, tmp_path)
    _diagnose(request, "prometheus and alertmanager", stack.logs)
    yield stack
    stack.stop()


@pytest.fixture
def token(cluster: Cluster, namespace: str) -> str:
    value = f"tq-{uuid.uuid4().hex}"
    cluster.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace, f"--from-literal=token={value}"
    )
    for grant in operator_config_read(
        namespace, "secrets", SECRET, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
    ):
        cluster.apply(grant)
    return value


class Receiver:
    """The operator started with its alert receiver on a free port."""

    def __init__(self, operator: OperatorProcess, port: int) -> None:
        self.operator = operator
        self.port = port
        self.url = f"http://127.0.0.1:{port}/alerts"

    def post(self, body: bytes, token: str | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def start_receiver(
    start_operator: StartOperator, namespace: str, *args: str, **env: str
) -> Receiver:
    port = free_port()
    op = start_operator(
        "--alerts-addr",
        f"127.0.0.1:{port}",
        "--alerts-token-secret",
        f"{namespace}/{SECRET}",
        *args,
        **env,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(healthy, timeout=30, what="alert receiver /healthz")
    return Receiver(op, port)


def runbook(name: str = "api-high-error-rate", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "api returns too many 5xx",
        "severity": "SEV1",
        "alerts": [{"alertname": ALERT, "matchers": {"service": "api"}}],
        "scope": {"selector": {"matchLabels": {"app": "api"}}},
        "roles": {"commander": "alice", "comms": "bob"},
        "diagnostics": [
            {
                "description": "5xx ratio by route",
                "query": 'sum by (route) (rate(http_requests_total{code=~"5.."}[5m]))',
            }
        ],
        "mitigations": [
            {"action": "RolloutUndo", "description": "undo the suspect rollout"},
            {"action": "Manual", "description": "fail over to the other region"},
        ],
        "owners": ["team-api"],
        "links": [{"title": "api dashboard", "url": "https://grafana.example.com/d/api"}],
    }
    body.update(spec)
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": name},
        "spec": body,
    }


def incidents_from_alerts(cluster: Cluster, namespace: str, alertname: str) -> list[Any]:
    items = cluster.get("incidents", namespace=namespace)["items"]
    return [i for i in items if (i["spec"].get("alert") or {}).get("alertname") == alertname]


def one_incident(cluster: Cluster, namespace: str, alertname: str) -> dict[str, Any]:
    found = wait_for(
        lambda: incidents_from_alerts(cluster, namespace, alertname),
        timeout=60,
        what=f"an Incident declared by {alertname}",
    )
    assert len(found) == 1, [i["metadata"]["name"] for i in found]
    return dict(found[0])


def events(cluster: Cluster, namespace: str, name: str, reason: str) -> list[Any]:
    items = cluster.get("events", namespace=namespace)["items"]
    return [
        e for e in items if e["involvedObject"].get("name") == name and e.get("reason") == reason
    ]


def firing_rule(alert: str, **labels: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": "vector(1) > 0",
        "for": "0s",
        "labels": labels,
        "annotations": {"summary": f"{alert} from the e2e rules", "runbook": "see Runbook"},
    }


def start_stack(
    stack: PromStack, receiver: Receiver, token: str, rules: list[dict[str, Any]]
) -> None:
    stack.alertmanager.start(
        receivers={
            "tourniquet": (receiver.url, token),
            "wrong-token": (receiver.url, "not-the-token"),
        },
        routes={"WrongTokenAlert": "wrong-token"},
    )
    stack.prometheus.start(
        rules,
        stack.alertmanager,
        scrape={"tourniquet": f"127.0.0.1:{receiver.operator.port}"},
    )


# --- a rule fires: Prometheus → Alertmanager → receiver → Incident -------------------------------


def test_a_firing_rule_declares_one_incident_with_runbook_and_suspect(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    token: str,
    promstack: PromStack,
) -> None:
    good_then_bad(cluster, namespace, "api", labels={"app": "api"})
    good_then_bad(cluster, namespace, "web", labels={"app": "web"})  # newer, out of scope
    cluster.apply(runbook(), namespace)
    receiver = start_receiver(start_operator, namespace)
    start_stack(
        promstack,
        receiver,
        token,
        [
            firing_rule(ALERT, severity="warning", service="api"),
            firing_rule("WrongTokenAlert", severity="critical"),
        ],
    )

    incident = one_incident(cluster, namespace, ALERT)
    name = incident["metadata"]["name"]
    spec = incident["spec"]
    # The runbook's severity wins over the alert's severity=warning (SEV2).
    assert spec["severity"] == "SEV1"
    assert spec["runbookRef"] == {"name": "api-high-error-rate"}
    assert spec["roles"] == {"commander": "alice", "comms": "bob"}
    assert spec["scope"] == {"selector": {"matchLabels": {"app": "api"}}}
    alert = spec["alert"]
    assert alert["receiver"] == "tourniquet"
    assert alert["labels"] == {"alertname": ALERT, "service": "api", "severity": "warning"}
    assert alert["annotations"]["summary"] == f"{ALERT} from the e2e rules"
    assert f":{promstack.prometheus.port}/graph?g0.expr=" in alert["generatorURL"]
    assert alert["firing"] == 1
    assert incident["metadata"]["labels"]["tourniquet.dev/source"] == "alertmanager"

    # The same suspect identification as any incident; the runbook at once.
    linked = wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i).get("suspect")) and bool(status(i).get("runbook")),
        "suspect and runbook",
        name=name,
    )
    suspect = status(linked)["suspect"]
    assert (suspect["name"], suspect["revision"]) == ("api", 2)
    copied = status(linked)["runbook"]
    assert copied["name"] == "api-high-error-rate"
    assert copied["diagnostics"] == runbook()["spec"]["diagnostics"]
    assert [m["action"] for m in copied["mitigations"]] == ["RolloutUndo", "Manual"]
    assert condition(linked, "RunbookLinked")["status"] == "True"
    [event] = wait_for(
        lambda: events(cluster, namespace, name, "RunbookLinked"), what="RunbookLinked Event"
    )
    assert 'http_requests_total{code=~"5.."}' in event["message"]
    assert "RolloutUndo: undo the suspect rollout" in event["message"]
    kinds = [e["kind"] for e in status(linked)["timeline"]]
    assert kinds[:3] == ["Declared", "AlertFiring", "RunbookLinked"]
    used = wait_for(
        lambda: (
            cluster.get("runbook", "api-high-error-rate", namespace).get("status", {}).get("usedBy")
        ),
        what="runbook status.usedBy",
    )
    assert [u["incident"] for u in used] == [name]
    assert used[0]["alertname"] == ALERT

    # Alertmanager re-sends the group every 2s: still one Incident.
    sent = promstack.alertmanager.notifications()
    wait_for(
        lambda: (
            receiver.operator.metric(
                "tourniquet_alert_notifications_total", status="firing", outcome="duplicate"
            )
            >= 3
        ),
        timeout=60,
        what="three re-sent notifications",
    )
    assert promstack.alertmanager.notifications() >= sent + 3
    assert len(incidents_from_alerts(cluster, namespace, ALERT)) == 1

    # The route with the wrong token: Alertmanager is refused (401), nothing declared.
    wait_for(
        lambda: (
            receiver.operator.metric(
                "tourniquet_alert_notifications_rejected_total", reason="unauthorized"
            )
            >= 1
        ),
        timeout=60,
        what="a refused notification",
    )
    assert promstack.alertmanager.failed_notifications() >= 1
    assert incidents_from_alerts(cluster, namespace, "WrongTokenAlert") == []
    assert len(cluster.get("incidents", namespace=namespace)["items"]) == 1


def test_resolved_alert_goes_on_the_timeline_and_prometheus_answers_mttr(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    token: str,
    promstack: PromStack,
) -> None:
    good_then_bad(cluster, namespace, "api", labels={"app": "api"})
    cluster.apply(runbook(), namespace)
    receiver = start_receiver(start_operator, namespace, "--alerts-default-commander", "alice")
    rules = [
        firing_rule(ALERT, severity="critical", service="api"),
        # No runbook answers this one: reported, and declared from its severity label.
        firing_rule("DiskAlmostFullE2E", severity="warning"),
    ]
    start_stack(promstack, receiver, token, rules)
    incident = one_incident(cluster, namespace, ALERT)
    name = incident["metadata"]["name"]
    wait_for(
        lambda: promstack.prometheus.targets_up().get("tourniquet") == "up",
        timeout=30,
        what="Prometheus scraping the operator",
    )

    # An alert with no runbook: an Incident with the label's severity, a Warning Event,
    # the metric (as Prometheus sees it) and the coverage command.
    unanswered = one_incident(cluster, namespace, "DiskAlmostFullE2E")
    other = unanswered["metadata"]["name"]
    assert unanswered["spec"]["severity"] == "SEV2"
    assert unanswered["spec"]["roles"] == {"commander": "alice"}  # --alerts-default-commander
    assert "runbookRef" not in unanswered["spec"]
    [warning] = wait_for(
        lambda: events(cluster, namespace, other, "NoRunbook"), what="NoRunbook Event"
    )
    assert warning["type"] == "Warning"
    sample = wait_for(
        lambda: promstack.prometheus.query(
            'tourniquet_alerts_without_runbook_total{alertname="DiskAlmostFullE2E"}'
        ),
        timeout=30,
        what="tourniquet_alerts_without_runbook_total in Prometheus",
    )
    assert float(sample[0]["value"][1]) == 1.0
    uncovered = subprocess.run(
        [*UNCOVERED, "-n", namespace, "-o", "json"],
        capture_output=True,
        text=True,
        env=cluster.env,
        cwd=REPO,
        check=True,
    )
    report = json.loads(uncovered.stdout)
    assert [(a["incident"], a["alertname"]) for a in report["alertsWithoutRunbook"]] == [
        (other, "DiskAlmostFullE2E")
    ]

    # The rule stops firing: Alertmanager sends the resolved group; the timeline has it,
    # and the incident stays open for the commander's all-clear.
    promstack.prometheus.reload([rules[1]])
    resolved = wait_incident(
        cluster,
        namespace,
        lambda i: any(e["kind"] == "AlertResolved" for e in status(i).get("timeline") or []),
        "AlertResolved on the timeline",
        name=name,
    )
    assert resolved["spec"]["resolved"] is False
    assert status(resolved)["phase"] != "Resolved"
    assert wait_for(lambda: events(cluster, namespace, name, "AlertResolved"), what="Event")

    # The commander resolves; Prometheus scrapes the MTTR histogram.
    resolve(cluster, namespace, name=name, as_user="alice")
    wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("resolvedAt")), "resolved", name=name
    )
    result = wait_for(
        lambda: promstack.prometheus.query(
            'sum by (severity) (tourniquet_incident_time_to_resolve_seconds_count{severity="SEV1"})'
        ),
        timeout=30,
        what="MTTR in Prometheus",
    )
    assert result[0]["metric"] == {"severity": "SEV1"}
    assert float(result[0]["value"][1]) == 1.0
    ttr = status(get_incident(cluster, namespace, name))["timeToResolveSeconds"]
    total = promstack.prometheus.query(
        'sum(tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV1"})'
    )
    assert abs(float(total[0]["value"][1]) - ttr) < 1.0


# --- the receiver's answers, without Prometheus --------------------------------------------------


def notification(status_: str = "firing", alertname: str = "HandMade", **labels: str) -> bytes:
    alert = {
        "status": status_,
        "labels": {"alertname": alertname, "severity": "info", **labels},
        "annotations": {"summary": "made by hand"},
        "startsAt": "2026-11-27T09:58:00Z",
        "endsAt": "2026-11-27T10:05:00Z" if status_ == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "f00d",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{alertname}"}}',
            "truncatedAlerts": 0,
            "status": status_,
            "receiver": "by-hand",
            "groupLabels": {"alertname": alertname},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.example",
            "alerts": [alert],
        }
    ).encode()


def test_wrong_token_and_garbage_create_nothing(
    cluster: Cluster, namespace: str, start_operator: StartOperator, token: str
) -> None:
    receiver = start_receiver(start_operator, namespace)
    assert receiver.post(notification(), "wrong") == (
        401,
        {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
    )
    assert receiver.post(notification(), None)[0] == 401
    code, body = receiver.post(b"garbage", token)
    assert code == 400 and body["error"].startswith("the body is not JSON")
    code, body = receiver.post(b'{"status": "firing"}', token)
    assert code == 400 and "not an Alertmanager webhook notification" in body["error"]
    assert "groupKey" in body["error"]
    assert cluster.get("incidents", namespace=namespace)["items"] == []
    assert (
        receiver.operator.metric(
            "tourniquet_alert_notifications_rejected_total", reason="malformed"
        )
        == 2
    )

    # The right token: declared once, whatever the number of notifications.
    code, body = receiver.post(notification(), token)
    assert code == 200 and body["created"] is True and body["severity"] == "SEV3"
    assert receiver.post(notification(), token) == (
        200,
        {"incident": body["incident"], "created": False},
    )
    assert len(cluster.get("incidents", namespace=namespace)["items"]) == 1
    # What the alert said is the record: it cannot be rewritten.
    changed = cluster.kubectl(
        "patch",
        "incident",
        body["incident"].split("/")[1],
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"alert":{"receiver":"someone-else"}}}',
        check=False,
    )
    assert changed.returncode != 0
    assert SPEC_ALERT_IMMUTABLE_MESSAGE in changed.stderr


def test_resolved_group_can_give_the_all_clear_only_if_the_policy_allows(
    cluster: Cluster, namespace: str, start_operator: StartOperator, token: str
) -> None:
    """--resolve-on-alert-resolved asks for the all-clear; the approval policy lets only
    the Incident Commander (or the approvers group) give it, so here it is refused and
    the refusal is on the record, not lost."""
    cluster.apply(runbook(alerts=[{"alertname": "HandMade"}], scope=None), namespace)
    receiver = start_receiver(start_operator, namespace, "--resolve-on-alert-resolved")
    code, body = receiver.post(notification(), token)
    assert (code, body["created"], body["runbook"]) == (200, True, "api-high-error-rate")
    name = body["incident"].split("/")[1]
    code, body = receiver.post(notification("resolved"), token)
    assert (code, body["outcome"]) == (200, "recorded")
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: (
            {"AlertResolved", "AutoResolveRefused"}
            <= {e["kind"] for e in status(i).get("timeline") or []}
        ),
        "the resolved alert and the refused all-clear on the timeline",
        name=name,
    )
    assert incident["spec"]["resolved"] is False
    refused = [e for e in status(incident)["timeline"] if e["kind"] == "AutoResolveRefused"]
    assert "resolve rejected" in refused[0]["message"]
    # again: nothing new
    assert receiver.post(notification("resolved"), token)[1]["outcome"] == "unchanged"


# --- Runbooks: the API server's rules, the operator's verdict, the library -----------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {
                "alerts": [
                    {
                        "alertname": ALERT,
                        "matchExpressions": [
                            {"label": "env", "operator": "Matches", "value": "prod(-eu"}
                        ],
                    }
                ]
            },
            "error parsing regexp: missing closing ): `prod(-eu` evaluating rule: operators "
            "Matches and NotMatches need a valid RE2 regular expression",
        ),
        (
            {"alerts": [{"alertname": ALERT, "matchers": {"service-name": "api"}}]},
            "label names must be Prometheus label names",
        ),
        (
            {
                "alerts": [
                    {
                        "alertname": ALERT,
                        "matchExpressions": [{"label": "env", "operator": "=~", "value": "x"}],
                    }
                ]
            },
            'Unsupported value: "=~"',
        ),
        (
            {"diagnostics": [{"description": "ratio", "query": "sum(rate(x[5m])"}]},
            "query is not PromQL: unbalanced parentheses",
        ),
        (
            {"diagnostics": [{"description": "ratio", "query": 'rate(x{a="b"[5m])'}]},
            "query is not PromQL: unbalanced braces",
        ),
        (
            {"diagnostics": [{"description": "ratio", "query": "  "}]},
            "query must be a PromQL expression, not blank",
        ),
    ],
    ids=["bad-regex", "bad-label-name", "bad-operator", "parens", "braces", "blank"],
)
def test_invalid_runbooks_are_rejected_by_the_api_server(
    tourniquet_installed: Cluster, namespace: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubectlError) as exc:
        tourniquet_installed.apply(runbook(**spec), namespace)
    assert message in exc.value.stderr
    assert tourniquet_installed.get("runbooks", namespace=namespace)["items"] == []


def test_the_sample_library_is_valid_for_the_api_server_and_the_operator(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-k", str(REPO / "config/samples"))
    samples = [
        d["metadata"]["name"]
        for path in (REPO / "config/samples").glob("tourniquet.dev_v1alpha1_runbook*.yaml")
        for d in yaml.safe_load_all(path.read_text())
        if d and d.get("kind") == "Runbook"
    ]
    assert len(samples) >= 5
    start_operator()

    def verdicts() -> dict[str, tuple[str, str, int]] | None:
        found = {}
        for rb in cluster.get("runbooks", namespace=namespace)["items"]:
            valid = [c for c in rb.get("status", {}).get("conditions", []) if c["type"] == "Valid"]
            if not valid:
                return None
            found[rb["metadata"]["name"]] = (
                valid[0]["status"],
                valid[0]["reason"],
                rb["status"].get("observedGeneration"),
            )
        return found

    seen = wait_for(verdicts, timeout=60, what="Valid conditions on every sample runbook")
    assert seen == {name: ("True", "Valid", 1) for name in samples}
    table = cluster.kubectl("get", "rb", "-n", namespace).stdout
    assert "VALID" in table and "True" in table


PROMETHEUS_RULE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "prometheusrules.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {
            "kind": "PrometheusRule",
            "listKind": "PrometheusRuleList",
            "plural": "prometheusrules",
            "singular": "prometheusrule",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_alert_rules_without_runbook_are_listed(
    tourniquet_installed: Cluster, namespace: str
) -> None:
    cluster = tourniquet_installed
    existed = (
        cluster.kubectl(
            "get", "crd", "prometheusrules.monitoring.coreos.com", check=False
        ).returncode
        == 0
    )
    if not existed:  # a minimal stand-in for the Prometheus Operator's CRD
        cluster.apply(PROMETHEUS_RULE_CRD)
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "crd/prometheusrules.monitoring.coreos.com",
            "--timeout=60s",
        )
    try:
        cluster.apply(runbook(), namespace)
        cluster.apply(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": "api"},
                "spec": {
                    "groups": [
                        {
                            "name": "api",
                            "rules": [
                                {"record": "job:errors:rate5m", "expr": "sum(rate(errors[5m]))"},
                                firing_rule(ALERT, service="api", severity="critical"),
                                firing_rule(ALERT, service="web", severity="critical"),
                                firing_rule("ApiDown", severity="critical"),
                            ],
                        }
                    ]
                },
            },
            namespace,
        )
        out = subprocess.run(
            [*UNCOVERED, "-n", namespace],
            capture_output=True,
            text=True,
            env=cluster.env,
            cwd=REPO,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.split("PrometheusRule alerts with no runbook:")[1].splitlines()
        rows = [line.split() for line in lines if line.startswith(namespace)]
        assert rows == [
            [namespace, "api", "api", "ApiDown", "critical"],
            [namespace, "api", "api", ALERT, "critical"],  # service=web: not the runbook's
        ]
        strict = subprocess.run(
            [*UNCOVERED, "-n", namespace, "--exit-code"],
            capture_output=True,
            env=cluster.env,
            cwd=REPO,
            check=False,
        )
        assert strict.returncode == 1
    finally:
        if not existed:
            cluster.kubectl("delete", "crd", "prometheusrules.monitoring.coreos.com", check=False)
