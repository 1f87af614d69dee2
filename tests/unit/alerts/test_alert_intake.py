"""Alertmanager notifications in: parsing, the Incident a group declares, dedup, the
receiver's HTTP answers, and the receiver's flags."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tourniquet.alerts.receiver import MAX_BODY, AlertReceiver, bearer
from tourniquet.alerts.settings import AlertSettings
from tourniquet.api.models import IncidentSpec, Severity
from tourniquet.api.names import ALERT_GROUP_LABEL
from tourniquet.core import alert_intake as alerts
from tourniquet.core.alert_intake import Notification, PayloadError, parse_notification
from tourniquet.core.runbooks import (
    ALERT_STATUS,
    ALERT_STATUS_AT,
    AUTO_RESOLVE,
    SEVERITY_SOURCE,
    find_runbook,
    runbook_view,
)
from tourniquet.shell.alert_intake import Intake
from tourniquet.shell.kube import ApiException

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
GROUP_KEY = '{}/{severity="critical"}:{alertname="ApiHighErrorRate"}'
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def webhook_alert(
    starts: str = "2026-11-27T09:58:00.123456789Z", status: str = "firing", **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "ApiHighErrorRate", "severity": "critical", **labels},
        "annotations": {"summary": "5xx above 5% on api"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T10:05:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
        "fingerprint": f"fp-{starts}",
    }


def payload(*alerts_: dict[str, Any], status: str = "firing", **extra: Any) -> dict[str, Any]:
    alerts_ = alerts_ or (webhook_alert(service="api"),)
    return {
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "tourniquet",
        "groupLabels": {"alertname": "ApiHighErrorRate"},
        "commonLabels": {"alertname": "ApiHighErrorRate", "severity": "critical"},
        "commonAnnotations": {"summary": "5xx above 5% on api"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts_),
        **extra,
    }


def parsed() -> Notification:
    return parse_notification(json.dumps(payload()).encode())


# --- parsing ------------------------------------------------------------------------------------


def test_alertmanager_payload_parses() -> None:
    n = parse_notification(
        json.dumps(
            payload(webhook_alert(), webhook_alert("2026-11-27T09:57:00Z"), future="ignored")
        ).encode()
    )
    assert n.group_key == GROUP_KEY and n.status == "firing"
    assert [a.fingerprint for a in n.firing] == ["fp-2026-11-27T09:57:00Z", n.alerts[0].fingerprint]
    assert n.alerts[0].generator_url.startswith("http://127.0.0.1:9090/graph")
    assert n.alerts[0].ends_at is not None and n.alerts[0].ends_at.year == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"garbage", "the body is not JSON: Expecting value"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object: an Alertmanager webhook notification"),
        (json.dumps({**payload(), "version": "3"}).encode(), "unsupported webhook payload version"),
        (json.dumps({**payload(), "alerts": []}).encode(), "alerts: List should have at least 1"),
        (json.dumps({k: v for k, v in payload().items() if k != "groupKey"}).encode(), "groupKey"),
        (json.dumps({**payload(), "status": "pending"}).encode(), "status: Input should be"),
        (
            json.dumps({**payload(), "alerts": [{"status": "firing", "labels": [1]}]}).encode(),
            "alerts.0.labels",
        ),
    ],
)
def test_malformed_payloads_say_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        parse_notification(raw)


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.SEV1),
        ("CRITICAL", Severity.SEV1),
        ("warning", Severity.SEV2),
        ("info", Severity.SEV3),
        ("sev2", Severity.SEV2),
        ("SEV1", Severity.SEV1),
        ("SEV4", None),
        ("urgent", None),
        ("", None),
        (None, None),
    ],
)
def test_severity_labels(label: str | None, severity: Severity | None) -> None:
    assert alerts.severity_from_label(label) is severity


# --- naming and dedup ---------------------------------------------------------------------------


def test_incident_name_is_stable_per_episode_and_a_dns_label() -> None:
    started = datetime(2026, 11, 27, 9, 58, tzinfo=UTC)
    name = alerts.incident_name("ApiHighErrorRate", GROUP_KEY, started)
    assert name.startswith("api-high-error-rate-") and DNS_LABEL.match(name)
    assert alerts.incident_name("ApiHighErrorRate", GROUP_KEY, started) == name
    later = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert alerts.incident_name("ApiHighErrorRate", GROUP_KEY, later) != name
    assert alerts.incident_name("ApiHighErrorRate", GROUP_KEY + "x", started) != name
    for odd in ("", "___", "Ünïcode alert!", "x" * 300):
        assert DNS_LABEL.match(alerts.incident_name(odd, GROUP_KEY, None))
        assert len(alerts.incident_name(odd, GROUP_KEY, None)) <= 63
    assert len(alerts.group_hash(GROUP_KEY)) <= 63


def incident(name: str, created: str, resolved: bool = False, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "production",
            "creationTimestamp": created,
            "annotations": annotations,
        },
        "spec": {"resolved": resolved},
    }


def test_current_and_latest_incident_of_a_group() -> None:
    old = incident("old", "2026-11-26T10:00:00Z", resolved=True)
    new = incident("new", "2026-11-27T10:00:00Z")
    assert alerts.current_incident([old, new]) == new
    assert alerts.current_incident([old]) is None
    assert alerts.latest_incident([old]) == old
    assert alerts.latest_incident([]) is None


def test_resolved_and_refiring_patches() -> None:
    firing = incident("i", "2026-11-27T10:00:00Z", **{ALERT_STATUS: "firing"})
    resolved = parse_notification(
        json.dumps(payload(webhook_alert(status="resolved"), status="resolved")).encode()
    )
    patch = alerts.status_patch(firing, resolved, now=NOW)
    assert patch == {
        "metadata": {
            "annotations": {ALERT_STATUS: "resolved", ALERT_STATUS_AT: "2026-11-27T10:05:00Z"}
        }
    }
    auto = alerts.status_patch(firing, resolved, now=NOW, auto_resolve=True)
    assert auto is not None and auto["spec"] == {"resolved": True}
    refused = alerts.auto_resolve_refused(auto, "only the commander")
    assert refused["metadata"]["annotations"][AUTO_RESOLVE] == "only the commander"
    assert "spec" not in refused
    was_resolved = incident("i", "2026-11-27T10:00:00Z", **{ALERT_STATUS: "resolved"})
    assert alerts.status_patch(was_resolved, resolved, now=NOW) is None
    again = alerts.status_patch(was_resolved, parsed(), now=NOW)
    assert again == {
        "metadata": {
            "annotations": {ALERT_STATUS: "firing", ALERT_STATUS_AT: "2026-11-27T10:00:00Z"}
        }
    }
    assert alerts.status_patch(firing, parsed(), now=NOW) is None  # a re-sent notification


# --- the Incident a group declares ---------------------------------------------------------------


def runbook(**spec: Any) -> Any:
    return runbook_view(
        {
            "metadata": {"name": "api-5xx", "namespace": "team-api", "generation": 3},
            "spec": {
                "title": "api 5xx",
                "severity": "SEV2",
                "alerts": [{"alertname": "ApiHighErrorRate"}],
                "scope": {"selector": {"matchLabels": {"app": "api"}}},
                "roles": {"commander": "alice", "comms": "bob"},
                **spec,
            },
        }
    )


def declared(n: Notification, rb: Any = None, **kw: Any) -> alerts.Declaration:
    match = find_runbook([rb], [n.common_labels], "team-api") if rb is not None else None
    if rb is not None:
        assert match is not None
    return alerts.declare(n, match, namespace="alerts", **kw)


def test_a_runbook_gives_severity_scope_roles_and_namespace() -> None:
    n = parse_notification(
        json.dumps(
            payload(
                webhook_alert("2026-11-27T09:59:00Z", pod="a"),
                webhook_alert("2026-11-27T09:58:00.5Z", pod="b"),
            )
        ).encode()
    )
    d = declared(n, runbook())
    m = d.manifest
    assert (d.namespace, d.severity, d.runbook) == ("team-api", "SEV2", "api-5xx")
    assert m["metadata"]["namespace"] == "team-api" and m["metadata"]["name"] == d.name
    spec = m["spec"]
    assert spec["severity"] == "SEV2"  # the runbook wins over severity=critical
    assert spec["scope"] == {"selector": {"matchLabels": {"app": "api"}}}
    assert spec["roles"] == {"commander": "alice", "comms": "bob"}
    assert spec["runbookRef"] == {"name": "api-5xx"}
    assert spec["title"] == "ApiHighErrorRate: 5xx above 5% on api"
    assert spec["startedAt"] == "2026-11-27T09:58:00Z"  # the earliest firing alert
    assert spec["alert"] == {
        "receiver": "tourniquet",
        "groupKey": GROUP_KEY,
        "alertname": "ApiHighErrorRate",
        "labels": {"alertname": "ApiHighErrorRate", "severity": "critical"},
        "annotations": {"summary": "5xx above 5% on api"},
        "startsAt": "2026-11-27T09:58:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
        "externalURL": "http://127.0.0.1:9093",
        "firing": 2,
    }
    labels = m["metadata"]["labels"]
    assert labels[ALERT_GROUP_LABEL] == alerts.group_hash(GROUP_KEY)
    assert labels[alerts.ALERTNAME_LABEL] == "ApiHighErrorRate"
    assert m["metadata"]["annotations"][SEVERITY_SOURCE] == "SEV2 from runbook api-5xx"
    IncidentSpec.model_validate(spec)  # the API's rules hold


def test_without_runbook_the_severity_label_decides() -> None:
    d = declared(parsed(), default_commander="oncall")
    assert (d.namespace, d.severity, d.runbook) == ("alerts", "SEV1", None)
    spec = d.manifest["spec"]
    assert spec["roles"] == {"commander": "oncall"}
    assert "runbookRef" not in spec and "scope" not in spec
    assert "severity=critical" in d.severity_source
    assert "--alerts-default-commander" in d.severity_source
    IncidentSpec.model_validate(spec)


def test_no_label_no_runbook_is_sev3() -> None:
    a = webhook_alert()
    del a["labels"]["severity"]
    n = parse_notification(json.dumps(payload(a, commonLabels={"alertname": "X"})).encode())
    d = declared(n)
    assert d.severity == "SEV3" and "no severity label" in d.severity_source
    assert d.manifest["spec"]["title"] == "X: 5xx above 5% on api"
    IncidentSpec.model_validate(d.manifest["spec"])


def test_sev1_without_any_commander_is_declared_sev3_with_a_warning() -> None:
    d = declared(parsed())
    assert d.severity == "SEV3"
    [warning] = d.warnings
    assert "SEV1 needs an Incident Commander" in warning
    IncidentSpec.model_validate(d.manifest["spec"])
    rb = runbook(severity="SEV1", roles=None)
    d = declared(parsed(), rb)
    assert d.severity == "SEV3" and "runbook api-5xx" in d.warnings[0]
    d = declared(parsed(), rb, default_commander="oncall")
    assert d.severity == "SEV1" and d.manifest["spec"]["roles"] == {"commander": "oncall"}


def test_long_labels_and_annotations_are_cut_to_the_api_bounds() -> None:
    a = webhook_alert()
    labels = {f"l{i:03d}": "v" * 2000 for i in range(100)}
    n = parse_notification(
        json.dumps(
            payload(
                a,
                commonLabels={"alertname": "A" * 300, **labels, "k" * 300: "v"},
                commonAnnotations={"summary": "s" * 5000, **{f"a{i}": "x" for i in range(40)}},
            )
        ).encode()
    )
    d = declared(n)
    alert = d.manifest["spec"]["alert"]
    assert len(alert["labels"]) == 64 and max(map(len, alert["labels"].values())) == 1024
    assert len(alert["annotations"]) == 32
    assert len(d.manifest["spec"]["title"]) == 200
    assert alerts.ALERTNAME_LABEL not in d.manifest["metadata"]["labels"]
    IncidentSpec.model_validate(d.manifest["spec"])


def test_the_same_group_declares_the_same_incident() -> None:
    first = declared(parsed())
    joined = declared(
        parse_notification(
            json.dumps(payload(webhook_alert(), webhook_alert("2026-11-27T09:59:30Z"))).encode()
        )
    )
    assert joined.name == first.name  # a later alert joined: same episode
    new_episode = declared(
        parse_notification(json.dumps(payload(webhook_alert("2026-11-27T12:00:00Z"))).encode())
    )
    assert new_episode.name != first.name


# --- the receiver over HTTP ----------------------------------------------------------------------


class Calls:
    def __init__(self, result: dict[str, Any] | Exception | None = None) -> None:
        self.notifications: list[Notification] = []
        self.result = result or {"incident": "ns/x", "created": True}

    async def __call__(self, n: Notification) -> dict[str, Any]:
        self.notifications.append(n)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def tokens(*values: str | None) -> Callable[[bool], Awaitable[str | None]]:
    """The first value until a refresh is asked for, then the next ones."""
    state = list(values)

    async def token(refresh: bool) -> str | None:
        if refresh and len(state) > 1:
            state.pop(0)
        return state[0]

    return token


async def post(
    receiver: AlertReceiver, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    async with TestClient(TestServer(receiver.app())) as client:
        response = await client.post("/alerts", data=data, headers=headers or {})
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, dict(response.headers)


AUTH = {"Authorization": "Bearer s3cret"}
GOOD = json.dumps(payload()).encode()


def test_a_notification_with_the_token_reaches_the_intake() -> None:
    calls = Calls()
    status, body, _ = asyncio.run(
        post(AlertReceiver("127.0.0.1:0", tokens("s3cret"), calls), GOOD, AUTH)
    )
    assert (status, body) == (200, {"incident": "ns/x", "created": True})
    assert [n.group_key for n in calls.notifications] == [GROUP_KEY]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic czNjcmV0"},
        {"Authorization": "s3cret"},
    ],
)
def test_wrong_or_missing_token_is_401_before_the_body_is_read(headers: dict[str, str]) -> None:
    calls = Calls()
    receiver = AlertReceiver("127.0.0.1:0", tokens("s3cret"), calls)
    status, body, response_headers = asyncio.run(post(receiver, b"garbage", headers))
    assert status == 401 and "bearer token" in body["error"]
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert calls.notifications == []


def test_a_rotated_token_is_picked_up() -> None:
    calls = Calls()
    receiver = AlertReceiver("127.0.0.1:0", tokens("old", "s3cret"), calls)
    status, _, _ = asyncio.run(post(receiver, GOOD, AUTH))
    assert status == 200 and len(calls.notifications) == 1


def test_no_token_yet_is_503_so_alertmanager_retries() -> None:
    calls = Calls()
    status, body, _ = asyncio.run(
        post(AlertReceiver("127.0.0.1:0", tokens(None), calls), GOOD, AUTH)
    )
    assert status == 503 and "not available" in body["error"]
    assert calls.notifications == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "the body is not JSON"),
        (b'{"hello": "world"}', "not an Alertmanager webhook notification"),
    ],
)
def test_garbage_is_400_with_a_message(data: bytes, message: str) -> None:
    calls = Calls()
    receiver = AlertReceiver("127.0.0.1:0", tokens("s3cret"), calls)
    status, body, _ = asyncio.run(post(receiver, data, AUTH))
    assert status == 400 and body["error"].startswith(message)
    assert calls.notifications == []


def test_a_huge_body_is_413() -> None:
    receiver = AlertReceiver("127.0.0.1:0", tokens("s3cret"), Calls())
    status, _, _ = asyncio.run(post(receiver, b"x" * (MAX_BODY + 1), AUTH))
    assert status == 413


def test_cluster_failure_is_500_so_alertmanager_retries() -> None:
    receiver = AlertReceiver("127.0.0.1:0", tokens("s3cret"), Calls(RuntimeError("etcd down")))
    status, body, _ = asyncio.run(post(receiver, GOOD, AUTH))
    assert status == 500 and body == {"error": "RuntimeError: etcd down"}


def test_bearer_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer   abc ") == "abc"
    assert bearer("Bearer ") is None
    assert bearer("Basic abc") is None
    assert bearer(None) is None


# --- the intake, against a fake cluster ----------------------------------------------------------


class FakeKube:
    """Incidents and runbooks in memory; creates refused on a name clash (409) like the
    API server, and the all-clear refused (403) like the approval policy."""

    def __init__(self, runbooks: list[dict[str, Any]] | None = None) -> None:
        self.runbooks = runbooks or []
        self.incidents: dict[tuple[str, str], dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.refuse_all_clear = True

    async def list_runbooks(self, namespaces: Any) -> list[dict[str, Any]]:
        return copy.deepcopy(self.runbooks)

    async def list_incidents(self, namespaces: Any, selector: str) -> list[dict[str, Any]]:
        key, _, value = selector.partition("=")
        return [
            copy.deepcopy(i)
            for i in self.incidents.values()
            if i["metadata"]["labels"].get(key) == value
        ]

    async def create_incident(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        key = (namespace, body["metadata"]["name"])
        if key in self.incidents:
            raise ApiException(status=409, reason="AlreadyExists")
        created = copy.deepcopy(body)
        created["metadata"]["creationTimestamp"] = f"2026-11-27T10:00:{len(self.incidents):02d}Z"
        created["spec"].setdefault("resolved", False)
        self.incidents[key] = created
        return created

    async def patch_incident(self, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        if "spec" in patch and self.refuse_all_clear:
            raise ApiException(status=403, reason="Forbidden")
        self.patches.append((name, patch))
        incident = self.incidents[(namespace, name)]
        incident["metadata"].setdefault("annotations", {}).update(
            patch.get("metadata", {}).get("annotations", {})
        )
        incident["spec"].update(patch.get("spec", {}))
        return incident


def intake(kube: FakeKube, **settings: Any) -> Intake:
    return Intake(kube, AlertSettings(watched=("alerts",), **settings))  # type: ignore[arg-type]


def note(
    status_: str = "firing", starts: str = "2026-11-27T09:58:00Z", **labels: str
) -> Notification:
    alert = webhook_alert(starts, status=status_, service="api", **labels)
    return parse_notification(json.dumps(payload(alert, status=status_)).encode())


def test_intake_declares_once_per_group_episode() -> None:
    kube = FakeKube()
    run = intake(kube, default_commander="oncall")
    first = asyncio.run(run(note()))
    assert first["created"] is True and first["severity"] == "SEV1"
    assert asyncio.run(run(note())) == {"incident": first["incident"], "created": False}
    assert len(kube.incidents) == 1
    # the commander resolved it; Alertmanager still re-sends the same episode: no new one
    next(iter(kube.incidents.values()))["spec"]["resolved"] = True
    assert asyncio.run(run(note()))["created"] is False
    assert len(kube.incidents) == 1
    # a new episode of the same group is a new incident
    assert asyncio.run(run(note(starts="2026-11-27T12:00:00Z")))["created"] is True
    assert len(kube.incidents) == 2


def test_intake_links_the_runbook_in_its_namespace() -> None:
    rb = {
        "metadata": {"name": "api-5xx", "namespace": "team-api"},
        "spec": {
            "title": "t",
            "severity": "SEV2",
            "alerts": [{"alertname": "ApiHighErrorRate", "matchers": {"service": "api"}}],
            "roles": {"commander": "alice"},
        },
    }
    kube = FakeKube([rb])
    result = asyncio.run(intake(kube)(note(namespace="team-api")))
    assert result == {
        "incident": result["incident"],
        "created": True,
        "severity": "SEV2",
        "runbook": "api-5xx",
    }
    assert result["incident"].startswith("team-api/api-high-error-rate-")


def test_a_runbook_never_captures_another_namespaces_alert() -> None:
    rb = {
        "metadata": {"name": "api-5xx", "namespace": "team-evil"},
        "spec": {
            "title": "t",
            "severity": "SEV3",
            "alerts": [{"alertname": "ApiHighErrorRate", "matchers": {"service": "api"}}],
            "scope": {"selector": {"matchLabels": {"app": "nothing"}}},
            "roles": {"commander": "mallory"},
        },
    }
    kube = FakeKube([rb])
    result = asyncio.run(intake(kube, default_commander="oncall")(note(namespace="team-api")))
    assert result["runbook"] is None
    assert result["incident"].startswith("alerts/")  # not team-evil's, not its commander
    (created,) = kube.incidents.values()
    assert created["spec"]["roles"]["commander"] == "oncall"


def test_intake_records_resolved_and_survives_a_refused_all_clear() -> None:
    kube = FakeKube()
    run = intake(kube, default_commander="oncall", resolve_on_alert_resolved=True)
    declared_ = asyncio.run(run(note()))
    name = declared_["incident"].split("/")[1]
    result = asyncio.run(run(note("resolved")))
    assert result == {"incident": declared_["incident"], "created": False, "outcome": "recorded"}
    [(patched, patch)] = kube.patches
    assert patched == name and "spec" not in patch
    assert patch["metadata"]["annotations"][ALERT_STATUS] == "resolved"
    assert "Forbidden" in patch["metadata"]["annotations"][AUTO_RESOLVE]
    assert asyncio.run(run(note("resolved")))["outcome"] == "unchanged"
    kube.refuse_all_clear = False
    asyncio.run(run(note()))  # firing again
    asyncio.run(run(note("resolved")))
    assert kube.incidents[("alerts", name)]["spec"]["resolved"] is True


def test_intake_resolved_for_an_unknown_group_does_nothing() -> None:
    kube = FakeKube()
    assert asyncio.run(intake(kube)(note("resolved"))) == {"incident": None, "created": False}
    assert kube.incidents == {} and kube.patches == []
