"""shell/claim.py: fresh reads, the guards, and the claim written to status before the
Deployment is patched; nothing is patched when the claim cannot be written."""

from __future__ import annotations

import asyncio

import pytest
from factories import NAMESPACE
from fake_kube import DEPLOYMENTS, POLICIES, REPLICASETS
from shell_scenario import (
    DEPLOYMENT,
    INCIDENT_STATUS,
    Body,
    Scenario,
    conditions,
    rollbacks,
    run,
    status_patches,
)

from tourniquet.shell import claim, reconcile
from tourniquet.shell.actions import After


def images(deployment: Body) -> list[str]:
    return [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]


def test_the_claim_is_written_before_the_patch_with_both_preconditions(
    scenario: Scenario,
) -> None:
    approved = scenario.ready_for_undo()
    at_the_patch: list[Body] = []
    scenario.kube.before("patch", DEPLOYMENTS, lambda: at_the_patch.append(scenario.mitigation()))

    scenario.reconcile()

    # When the patch reaches the API server, the claim is already stored.
    (stored,) = at_the_patch
    assert stored["result"] == "InProgress" and "patchedAt" not in stored
    calls = [c.what for c in scenario.kube.calls]
    # The Deployment and its ReplicaSets were read ahead, while the undo awaited the
    # approval: the approved undo goes straight to the claim.
    assert calls[:2] == [("get", POLICIES), ("patch", INCIDENT_STATUS)]
    assert [c.what for c in scenario.kube.writes()] == [
        ("patch", INCIDENT_STATUS),  # the claim
        ("patch", DEPLOYMENTS),  # the undo
        ("patch", INCIDENT_STATUS),  # its result
    ]
    claimed, recorded = status_patches(scenario.kube)
    # The claim: written at the resourceVersion the Incident was read at...
    assert claimed["metadata"]["resourceVersion"] == approved["metadata"]["resourceVersion"]
    mitigation = claimed["status"]["mitigation"]
    assert mitigation["result"] == "InProgress"
    assert mitigation["preconditionResourceVersion"] == "4242"
    assert "patchedAt" not in mitigation
    # ...and the undo tests the resourceVersion the claim recorded.
    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.body[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "4242"}
    assert not undo.dry_run
    assert images(scenario.deployment()) == ["registry/api:1.4.2"]
    # The result is written over the claim, not over the Incident as first read.
    assert recorded["metadata"]["resourceVersion"] != claimed["metadata"]["resourceVersion"]
    assert recorded["status"]["mitigation"]["patchedAt"]
    assert scenario.status()["phase"] == "Mitigating"


def test_the_approval_events_are_posted_once_the_claim_is_written(scenario: Scenario) -> None:
    scenario.ready_for_undo()

    scenario.reconcile()

    started = {e.reason: e for e in scenario.events()}
    assert {"Approved", "MitigationStarted", "RolloutUndone"} <= set(started)
    assert started["MitigationStarted"].after_writes >= 1  # after the claim's write
    undone = [e for e in scenario.events() if e.reason == "RolloutUndone"]
    assert {(e.kind, e.name) for e in undone} == {("Incident", "api-errors"), ("Deployment", "api")}
    assert all(e.after_writes == 3 for e in undone)  # after the result's write


@pytest.mark.parametrize("status", [409, 404])
def test_no_patch_when_the_claim_cannot_be_written(scenario: Scenario, status: int) -> None:
    scenario.ready_for_undo()
    refused_before = rollbacks("refused")
    scenario.kube.fail("patch", INCIDENT_STATUS, status)

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    assert [c.status for c in scenario.kube.writes()] == [status]
    assert scenario.mitigation()["result"] == "Pending"
    assert images(scenario.deployment()) == ["registry/api:1.4.3"]
    assert scenario.events() == []
    assert rollbacks("refused") == refused_before
    # Nothing was lost: the next event claims and undoes, once.
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert scenario.mitigation()["patchedAt"]


def test_claim_undo_says_written_when_the_incident_changed_first(scenario: Scenario) -> None:
    approved = scenario.ready_for_undo()
    d = scenario.draft(approved)
    scenario.kube.fail("patch", INCIDENT_STATUS, 409)

    after = run(claim.undo(d, scenario.rt, scenario.indexes().deployments))

    assert after is After.WRITTEN  # the next event decides; the reconcile writes nothing
    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []


def test_an_unverifiable_approval_is_refused_without_touching_the_deployment(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo()
    scenario.kube.policy_enforced = False
    before = rollbacks("refused", "ApprovalUnverified")

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "ApprovalUnverified")
    assert conditions(scenario.incident())["Mitigated"]["reason"] == "ApprovalUnverified"
    assert "ApprovalUnverified" in scenario.reasons()
    assert rollbacks("refused", "ApprovalUnverified") == before + 1
    # Answered: the same approval is not acted on again, even once the policy is there.
    scenario.kube.policy_enforced = True
    scenario.restart()  # nothing remembered about the policy either
    scenario.reconcile()
    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []


def test_a_deployment_that_moved_on_since_the_approval_is_left_alone(scenario: Scenario) -> None:
    scenario.ready_for_undo()

    def new_rollout(body: Body) -> None:
        body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/api:1.4.4"

    scenario.change_deployment(new_rollout)

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "TargetChanged")
    assert images(scenario.deployment()) == ["registry/api:1.4.4"]


def test_a_paused_deployment_is_undone_once_it_is_resumed(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.change_deployment(lambda body: body["spec"].update(paused=True))

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    assert scenario.mitigation()["reason"] == "DeploymentPaused"
    scenario.reconcile()  # still paused: nothing new
    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []

    scenario.change_deployment(lambda body: body["spec"].pop("paused"))
    scenario.reconcile()

    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert scenario.mitigation()["result"] == "InProgress"
    assert scenario.mitigation()["patchedAt"]


def test_two_reconciles_of_one_version_make_one_claim_and_one_patch(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    body = scenario.incident()
    indexes = scenario.indexes()

    async def both() -> None:
        await asyncio.gather(
            reconcile.reconcile(scenario.rt, body, indexes),
            reconcile.reconcile(scenario.rt, body, indexes),
        )

    run(both())

    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    claims = [p for p in status_patches(scenario.kube) if "preconditionResourceVersion" in str(p)]
    assert len([p for p in claims if p["status"].get("mitigation", {}).get("startedAt")]) == 1


def test_without_a_current_prefetch_the_claim_reads_the_deployment_fresh(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo(prefetched=False)

    scenario.reconcile()

    calls = [c.what for c in scenario.kube.calls]
    assert calls[:2] == [("get", DEPLOYMENTS), ("list", REPLICASETS)]
    gets = scenario.kube.calls_to("get", DEPLOYMENTS)
    assert [(c.namespace, c.name) for c in gets] == [(NAMESPACE, DEPLOYMENT)]
    assert scenario.mitigation()["patchedAt"]


def test_a_prefetch_the_cache_shows_outdated_is_read_again(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    # The controller reports progress after the prefetch; the cache (relisted by the
    # scenario) shows the new resourceVersion, so the prefetched body is not used.
    moved = scenario.change_deployment(lambda b: b["status"].update(observedGeneration=9))

    scenario.reconcile()

    calls = [c.what for c in scenario.kube.calls]
    assert calls[:2] == [("get", DEPLOYMENTS), ("list", REPLICASETS)]
    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.status == 200
    assert undo.body[0]["value"] == moved["metadata"]["resourceVersion"]


def test_a_status_update_the_cache_had_not_shown_is_read_again_and_the_undo_sent(
    scenario: Scenario,
) -> None:
    """The prefetch looked current, but the controller wrote status just before the
    patch: the precondition fails, the operator reads again and sends the same undo."""
    scenario.ready_for_undo()
    scenario.status_written_before_the_next_patch()

    scenario.reconcile()

    first, second = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert (first.status, second.status) == (422, 200)
    assert images(scenario.deployment()) == ["registry/api:1.4.2"]
    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress" and mitigation["patchedAt"]
    assert second.body[0]["value"] == mitigation["preconditionResourceVersion"]
    assert "TargetChanged" not in scenario.reasons()
