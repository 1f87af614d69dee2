"""shell/status_writer.py: one merge patch with the read resourceVersion as precondition;
a conflict (409) or a deleted Incident (404) is None; Events and metrics only for what
was written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import NAMESPACE
from fake_kube import DEPLOYMENTS
from shell_scenario import INCIDENT, INCIDENT_STATUS, Scenario, rollbacks, run

from tourniquet.api.names import INCIDENTS, TIMELINE_ARCHIVE
from tourniquet.core import lifecycle as flow
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal
from tourniquet.core.severity_policy import NotificationTarget
from tourniquet.notifications import delivery
from tourniquet.shell import reconcile
from tourniquet.shell.kube import ApiException
from tourniquet.shell.outbox import Delivery
from tourniquet.shell.status_writer import commit

REFUSAL = Refusal("NoPreviousRevision", "Deployment api has no revision before 3 to return to.")


def refused(scenario: Scenario) -> Draft:
    """A draft with a status change, an Event and a metric observation to announce."""
    scenario.ready_for_undo()
    d = scenario.draft()
    flow.refuse(d, REFUSAL)
    flow.finish(d)
    assert d.notices and d.observations
    return d


def write(scenario: Scenario, d: Draft) -> dict[str, object] | None:
    return run(commit(d, scenario.rt, scenario.indexes().deployments))


def test_one_merge_patch_at_the_read_resource_version(scenario: Scenario) -> None:
    d = refused(scenario)
    read_at = d.resource_version
    before = rollbacks("refused", "NoPreviousRevision")

    written = write(scenario, d)

    (call,) = scenario.kube.writes()
    assert call.what == ("patch", INCIDENT_STATUS)
    assert call.body["metadata"] == {"resourceVersion": read_at}
    assert set(call.body) == {"metadata", "status"}
    assert call.body["status"]["mitigation"]["result"] == "Refused"
    assert "suspect" not in call.body["status"]  # only what changed
    stored = scenario.incident()
    assert written == stored
    assert stored["metadata"]["resourceVersion"] != read_at
    assert stored["status"]["mitigation"]["reason"] == "NoPreviousRevision"
    # Announced once written, and only then.
    assert [e.reason for e in scenario.events()] == ["NoPreviousRevision"]
    assert all(e.after_writes == 1 for e in scenario.events())
    assert rollbacks("refused", "NoPreviousRevision") == before + 1


def test_nothing_changed_writes_nothing(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    d = scenario.draft()

    written = write(scenario, d)

    assert scenario.kube.calls == []
    assert written == d.snapshot()


def test_a_conflict_writes_nothing_and_announces_nothing(scenario: Scenario) -> None:
    d = refused(scenario)
    # The Incident Commander writes first: the draft was read before that.
    scenario.kube.edit(
        INCIDENTS, NAMESPACE, INCIDENT, lambda b: b["status"].update(acknowledgement={"by": "x"})
    )
    before = rollbacks("refused", "NoPreviousRevision")

    assert write(scenario, d) is None

    (call,) = scenario.kube.writes()
    assert call.status == 409
    status = scenario.status()
    assert status["acknowledgement"] == {"by": "x"}  # theirs kept
    assert status["mitigation"]["result"] == "Pending"  # ours not written
    assert scenario.events() == []
    assert rollbacks("refused", "NoPreviousRevision") == before


def test_a_deleted_incident_writes_nothing_and_returns_none(scenario: Scenario) -> None:
    d = refused(scenario)
    scenario.kube.delete(INCIDENTS, NAMESPACE, INCIDENT)
    before = rollbacks("refused", "NoPreviousRevision")

    assert write(scenario, d) is None

    assert [c.status for c in scenario.kube.writes()] == [404]
    assert scenario.kube.get(INCIDENTS, NAMESPACE, INCIDENT) is None  # not recreated
    assert scenario.events() == []
    assert rollbacks("refused", "NoPreviousRevision") == before


def test_a_server_error_propagates_and_announces_nothing(scenario: Scenario) -> None:
    d = refused(scenario)
    scenario.kube.fail("patch", INCIDENT_STATUS, 500)
    before = rollbacks("refused", "NoPreviousRevision")

    with pytest.raises(ApiException) as raised:
        write(scenario, d)

    assert raised.value.status == 500
    assert scenario.status()["mitigation"]["result"] == "Pending"
    assert scenario.events() == []
    assert rollbacks("refused", "NoPreviousRevision") == before


def test_a_written_version_is_not_decided_on_again(scenario: Scenario) -> None:
    """A reconcile that waited for the lock with the version just written over would
    decide on stale status: it writes nothing."""
    d = refused(scenario)
    stale = scenario.incident()
    write(scenario, d)
    scenario.kube.calls.clear()

    run(reconcile.reconcile(scenario.rt, stale, scenario.indexes()))

    assert scenario.kube.calls == []


def test_an_event_about_the_deployment_names_it_with_its_uid(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    d = scenario.draft()
    d.notify("RolloutUndone", "undone", deployment="api")

    d.status["phase"] = "Mitigating"
    write(scenario, d)

    (event,) = scenario.events()
    assert (event.kind, event.name) == ("Deployment", "api")
    deployment = scenario.kube.get(DEPLOYMENTS, NAMESPACE, "api")
    assert deployment is not None
    assert scenario.kube.events[-1]["involvedObject"]["uid"] == deployment["metadata"]["uid"]


def test_a_spilled_timeline_is_archived_before_the_status_is_written(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo()
    now = datetime.now(UTC)
    d = Draft(scenario.incident(), now, timeline_limit=10)
    for n in range(12):
        d.record("IncidentUpdate", f"update {n}")
    assert d.archived

    assert write(scenario, d) is None  # the annotation changed the Incident first

    (call,) = scenario.kube.writes()
    assert call.what == ("patch", INCIDENTS)
    assert TIMELINE_ARCHIVE in scenario.incident()["metadata"]["annotations"]

    again = Draft(scenario.incident(), now, timeline_limit=10)
    for n in range(12):
        again.record("IncidentUpdate", f"update {n}")
    assert write(scenario, again) is not None
    assert [c.what for c in scenario.kube.writes()] == [
        ("patch", INCIDENTS),
        ("patch", INCIDENT_STATUS),
    ]
    assert len(scenario.status()["timeline"]) <= 10


def record_deliveries(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, Any]]:
    sent: list[Mapping[str, Any]] = []

    async def deliver(
        session: object, target: NotificationTarget, payload: Mapping[str, Any], **_: object
    ) -> delivery.DeliveryResult:
        sent.append(payload)
        return delivery.DeliveryResult(ok=True, status=200, error=None, attempts=1)

    monkeypatch.setattr(delivery, "deliver", deliver)
    return sent


@pytest.mark.parametrize(("answer", "delivered"), [(None, 1), (409, 0), (404, 0)])
def test_comms_go_out_only_once_their_status_is_written(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, answer: int | None, delivered: int
) -> None:
    sent = record_deliveries(monkeypatch)
    d = refused(scenario)
    target = NotificationTarget("chat", "https://hooks.invalid/x", "json")
    d.outgoing.append(Delivery(target, {"text": "update"}, {"metadata": {"name": INCIDENT}}))
    if answer is not None:
        scenario.kube.fail("patch", INCIDENT_STATUS, answer)

    async def write_and_drain() -> None:
        await commit(d, scenario.rt, scenario.indexes().deployments)
        await scenario.rt.outbox.drain()

    run(write_and_drain())

    assert len(sent) == delivered
