"""shell/reconcile.py: the playbook in order, one incident at a time; a failure becomes a
ReconcileError condition, never a crash, and is retried after a backoff."""

from __future__ import annotations

import asyncio

from factories import NAMESPACE
from fake_kube import CONFIGMAPS, DEPLOYMENTS, REPLICASETS
from shell_scenario import (
    APPROVAL,
    INCIDENT,
    INCIDENT_STATUS,
    Body,
    Scenario,
    conditions,
    run,
    sample,
)

from tourniquet.api.names import INCIDENTS
from tourniquet.core.backoff import Backoff
from tourniquet.shell import reconcile


def image(deployment: Body) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def errors() -> float:
    return sample("tourniquet_reconcile_errors_total")


def test_the_playbook_from_declaration_to_the_postmortem(scenario: Scenario) -> None:
    scenario.seed()
    scenario.declare()

    scenario.reconcile()

    status = scenario.status()
    assert status["phase"] == "Declared"
    assert status["suspect"]["name"] == "api"
    assert (status["suspect"]["revision"], status["suspect"]["previousRevision"]) == (3, 2)
    assert status["mitigation"]["result"] == "Pending"
    assert {"Declared", "SuspectIdentified"} <= set(scenario.reasons())
    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []

    scenario.approve(APPROVAL)
    scenario.reconcile()
    assert scenario.status()["phase"] == "Mitigating"
    assert image(scenario.deployment()) == "registry/api:1.4.2"

    scenario.rollout_completes()
    scenario.reconcile()
    assert scenario.status()["phase"] == "Mitigated"

    scenario.kube.edit(INCIDENTS, NAMESPACE, INCIDENT, lambda b: b["spec"].update(resolved=True))
    scenario.reconcile()

    status = scenario.status()
    assert status["phase"] == "Resolved"
    assert status["resolvedAt"]
    (postmortem,) = scenario.kube.all(CONFIGMAPS, NAMESPACE)
    assert "postmortem.md" in postmortem["data"]
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    # Level-triggered: once nothing changes, a resync writes nothing.
    scenario.reconcile()
    scenario.kube.calls.clear()
    scenario.reconcile()
    assert scenario.kube.writes() == []


def test_a_server_error_on_the_status_write_becomes_a_reconcile_error(
    scenario: Scenario,
) -> None:
    scenario.seed()
    scenario.declare()
    scenario.kube.fail("patch", INCIDENT_STATUS, 500)
    before = errors()

    scenario.reconcile()  # does not raise

    assert errors() == before + 1
    ready = conditions(scenario.incident())["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileError")
    assert "(500)" in ready["message"]
    assert "ReconcileError" in scenario.reasons()
    assert "suspect" not in scenario.status()  # the playbook's own write did not happen

    scenario.reconcile()  # the next attempt goes through

    ready = conditions(scenario.incident())["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    assert scenario.status()["suspect"]["revision"] == 3


def test_a_failing_read_at_the_claim_claims_nothing_and_the_next_attempt_undoes(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo(prefetched=False)
    scenario.kube.fail("list", REPLICASETS, 500)

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    assert scenario.mitigation()["result"] == "Pending"
    assert conditions(scenario.incident())["Ready"]["reason"] == "ReconcileError"

    scenario.reconcile()

    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert scenario.mitigation()["patchedAt"]


def test_the_same_failure_writes_its_condition_once(scenario: Scenario) -> None:
    """Stable words: a failure that repeats does not rewrite the Incident every time."""
    scenario.ready_for_undo(prefetched=False)
    scenario.kube.fail("list", REPLICASETS, 500, times=2)

    scenario.reconcile()
    written = scenario.incident()["metadata"]["resourceVersion"]
    scenario.reconcile()

    assert scenario.incident()["metadata"]["resourceVersion"] == written


def test_a_failing_incident_waits_for_its_backoff(scenario: Scenario) -> None:
    scenario.backoff = Backoff(base=60.0, cap=60.0)
    scenario.restart()
    scenario.ready_for_undo(prefetched=False)
    scenario.kube.fail("list", REPLICASETS, 500)
    scenario.reconcile()
    scenario.kube.calls.clear()

    scenario.reconcile()  # held: not even a read

    assert scenario.kube.calls == []
    scenario.restart()  # a new process starts without a backoff
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1


def test_a_failure_after_the_claim_is_still_recorded_as_a_reconcile_error(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo()
    scenario.kube.fail("patch", DEPLOYMENTS, 500)

    scenario.reconcile()

    assert conditions(scenario.incident())["Ready"]["reason"] == "ReconcileError"


def test_no_incident_is_judged_before_the_caches_have_synced(scenario: Scenario) -> None:
    scenario.seed()
    scenario.declare()
    body = scenario.incident()

    async def scenario_run() -> None:
        indexes = scenario.rt.indexes  # empty, not synced
        task = asyncio.create_task(reconcile.reconcile(scenario.rt, body, indexes))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not task.done()
        assert scenario.kube.calls == []
        scenario.indexes()  # the first lists arrive
        await task

    run(scenario_run())

    assert scenario.status()["suspect"]["revision"] == 3


def test_a_watched_deployment_event_finishes_the_undo_without_a_get(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()  # claimed and patched
    scenario.reconcile()  # followed: waiting for the controller (written)
    scenario.reconcile()  # the Incident event for that write: nothing new
    followed = scenario.rt.followed[(NAMESPACE, "api")]
    assert followed == scenario.incident()  # the latest Incident, for the Deployment's events
    watched = scenario.rollout_completes()
    scenario.kube.calls.clear()

    # What the Deployment watch hands the reconcile (registration's listener).
    run(reconcile.reconcile(scenario.rt, followed, scenario.indexes(), watched=watched))

    assert scenario.kube.calls_to("get", DEPLOYMENTS) == []
    assert scenario.mitigation()["result"] == "Succeeded"
