"""What a sender cannot do to the receiver (issue 13, point 6), pure: a negative
truncatedAlerts is a 400, an oversized severity label is quoted bounded, a start in the
future is recorded as now (the Incident's name still the episode's), and metric label
values are bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tourniquet.api.names import SEVERITY_SOURCE
from tourniquet.core import alert_intake as alerts
from tourniquet.core.label_budget import OTHER, LabelBudget

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def body(*alert_list: dict[str, Any], **fields: Any) -> bytes:
    doc = {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "status": "firing",
        "receiver": "tourniquet",
        "alerts": list(alert_list),
        **fields,
    }
    return json.dumps(doc).encode()


def firing(starts: str = "2026-12-01T09:00:00Z", **labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "X", **labels}, "startsAt": starts}


def test_a_negative_truncated_alerts_is_a_payload_error() -> None:
    with pytest.raises(alerts.PayloadError, match="truncatedAlerts"):
        alerts.parse_notification(body(firing(), truncatedAlerts=-1))


def test_an_invalid_alert_names_its_index() -> None:
    with pytest.raises(alerts.PayloadError, match=r"alerts\.3\.status"):
        alerts.parse_notification(body(*[firing()] * 3, {"status": "odd", "labels": {}}))


def test_an_oversized_severity_label_is_quoted_bounded() -> None:
    n = alerts.parse_notification(body(firing(severity="x" * 300_000)))
    d = alerts.declare(n, None, namespace="alerts", now=NOW)
    assert len(d.manifest["metadata"]["annotations"][SEVERITY_SOURCE]) < 300
    assert len(d.manifest["spec"]["alert"]["labels"]["severity"]) <= 1024


def test_a_start_in_the_future_is_now_but_the_name_is_the_episode() -> None:
    ahead = (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    n = alerts.parse_notification(body(firing(ahead)))
    first = alerts.declare(n, None, namespace="alerts", now=NOW)
    later = alerts.declare(n, None, namespace="alerts", now=NOW + timedelta(minutes=5))
    assert first.manifest["spec"]["startedAt"] == "2026-12-01T10:00:00Z"
    assert first.manifest["spec"]["alert"]["startsAt"] == "2026-12-01T10:00:00Z"
    assert first.name == later.name


def test_many_alerts_parse_in_steps() -> None:
    n = alerts.parse_notification(body(*[firing(shard=str(i)) for i in range(1000)]))
    assert len(n.firing) == 1000 and n.firing is n.firing


def test_a_label_budget_cuts_values_and_counts_the_rest_as_other() -> None:
    budget = LabelBudget(limit=2, max_length=5)
    assert [budget(v) for v in ("a", "b", "a", "c", "toolongvalue")] == [
        "a",
        "b",
        "a",
        OTHER,
        OTHER,
    ]
    assert LabelBudget(limit=5, max_length=5)("toolongvalue") == "tool…"
