"""A real HTTP client for the operator's Alertmanager receiver, shared by the receiver's
e2e tests: the token Secret (readable by the operator by name, as the chart grants it),
Alertmanager-shaped notifications, and one POST with http.client."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any

from devkit.kubectl import Cluster
from devkit.manifests import operator_config_read
from test_alerts import SECRET, Receiver

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT


def make_token(cluster: Cluster, namespace: str) -> str:
    """The receiver's bearer token in a Secret the operator may read (as test_alerts)."""
    value = f"tq-{uuid.uuid4().hex}"
    cluster.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace, f"--from-literal=token={value}"
    )
    for grant in operator_config_read(
        namespace, "secrets", SECRET, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
    ):
        cluster.apply(grant)
    return value


def notification(alerts: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alerts[0]["labels"].get("alertname", "")}"}}',
        "status": "firing",
        "receiver": "tourniquet",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": alerts,
    }
    body.update(fields)
    return body


def alert(alertname: str, starts_at: str = "2026-12-01T09:00:00Z", **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, **labels},
        "annotations": {},
        "startsAt": starts_at,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def post(receiver: Receiver, body: dict[str, Any] | bytes, token: str) -> tuple[int, Any]:
    """One POST with http.client: status and the decoded JSON answer."""
    raw = body if isinstance(body, bytes) else encode(body)
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/alerts",
            body=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()
