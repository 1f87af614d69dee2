"""shell/send_undo.py: the JSON patch that tests the claimed resourceVersion, and the
record of its answer. A changed Deployment is never overwritten, and never re-sent to."""

from __future__ import annotations

import pytest
from fake_kube import DEPLOYMENTS
from shell_scenario import (
    INCIDENT_STATUS,
    Body,
    Crash,
    Scenario,
    conditions,
    rollbacks,
    sample,
)


def image(deployment: Body) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def scale_to_five(body: Body) -> None:
    body["spec"]["replicas"] = 5


def test_a_deployment_changed_after_the_claim_is_refused_and_never_resent(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo()
    # Somebody scales the Deployment between the claim and the patch.
    scenario.kube.before("patch", DEPLOYMENTS, lambda: scenario.change_deployment(scale_to_five))
    before = rollbacks("refused", "TargetChanged")

    scenario.reconcile()

    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.status == 422  # the resourceVersion test failed: nothing applied
    deployment = scenario.deployment()
    assert image(deployment) == "registry/api:1.4.3"  # not overwritten...
    assert deployment["spec"]["replicas"] == 5  # ...and the other change kept
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "TargetChanged")
    assert mitigation["finishedAt"]
    assert conditions(scenario.incident())["Mitigated"]["reason"] == "TargetChanged"
    assert "TargetChanged" in scenario.reasons()
    assert rollbacks("refused", "TargetChanged") == before + 1

    for _ in range(3):  # resyncs and later events
        scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert rollbacks("refused", "TargetChanged") == before + 1


@pytest.mark.parametrize("status", [400, 403, 409, 422])
def test_a_definite_no_for_an_unchanged_deployment_fails_the_mitigation(
    scenario: Scenario, status: int
) -> None:
    """An admission policy (403) or an invalid patch: the same patch would get the same
    answer, so the mitigation ends Failed with the API's words, and is not retried."""
    scenario.ready_for_undo()
    scenario.kube.fail("patch", DEPLOYMENTS, status)
    before = rollbacks("failed", "UndoRejected")

    scenario.reconcile()

    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "UndoRejected")
    assert f"({status})" in mitigation["message"]
    assert image(scenario.deployment()) == "registry/api:1.4.3"
    assert rollbacks("failed", "UndoRejected") == before + 1
    assert scenario.status()["phase"] == "Mitigating"
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1


def test_a_server_error_on_the_patch_is_retried_once_it_is_known_not_to_have_landed(
    scenario: Scenario,
) -> None:
    scenario.ready_for_undo()
    scenario.kube.fail("patch", DEPLOYMENTS, 500)
    errors = sample("tourniquet_reconcile_errors_total")

    scenario.reconcile()  # the claim is written, the patch answers 500

    assert sample("tourniquet_reconcile_errors_total") == errors + 1
    assert scenario.mitigation()["result"] == "InProgress"
    assert "patchedAt" not in scenario.mitigation()
    assert image(scenario.deployment()) == "registry/api:1.4.3"

    scenario.reconcile()  # the Deployment still runs the suspect: the undo is sent again

    patches = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert [c.status for c in patches] == [500, 200]
    assert image(scenario.deployment()) == "registry/api:1.4.2"
    assert scenario.mitigation()["patchedAt"]
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 2


def test_a_drill_sends_the_undo_as_a_dry_run_and_changes_nothing(
    scenario: Scenario,
) -> None:
    scenario.seed()
    scenario.declare(drill=True)
    scenario.reconcile()
    scenario.approve()
    scenario.kube.calls.clear()
    real, drill = (
        rollbacks("succeeded"),
        sample("tourniquet_rollbacks_total", result="succeeded", drill="true"),
    )

    scenario.reconcile()

    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.dry_run and undo.status == 200
    deployment = scenario.deployment()
    assert image(deployment) == "registry/api:1.4.3"
    assert deployment["metadata"]["resourceVersion"] == "4242"
    assert scenario.mitigation()["result"] == "Succeeded"
    assert "DrillUndoRehearsed" in scenario.reasons()
    assert rollbacks("succeeded") == real
    assert sample("tourniquet_rollbacks_total", result="succeeded", drill="true") == drill + 1


def test_a_crash_right_after_the_patch_does_not_patch_twice(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.crash_at("after-undo-patch")
    with pytest.raises(Crash):
        scenario.reconcile()
    assert image(scenario.deployment()) == "registry/api:1.4.2"
    assert "patchedAt" not in scenario.mitigation()  # the patch landed, its record did not
    scenario.crash_at("never")
    scenario.restart()

    scenario.reconcile()

    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress" and mitigation["patchedAt"]
    assert any(
        "found applied after an operator restart" in e["message"]
        for e in scenario.status()["timeline"]
    )


def test_a_lost_result_write_is_recovered_without_a_second_patch(scenario: Scenario) -> None:
    """The patch landed, then the status write recording it conflicted."""
    scenario.ready_for_undo()
    scenario.kube.before(
        "patch",
        DEPLOYMENTS,
        lambda: scenario.kube.fail("patch", INCIDENT_STATUS, 409),
    )

    scenario.reconcile()

    assert image(scenario.deployment()) == "registry/api:1.4.2"
    assert "patchedAt" not in scenario.mitigation()
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert scenario.mitigation()["patchedAt"]


def test_a_deployment_deleted_before_the_patch_is_refused(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.kube.before(
        "patch", DEPLOYMENTS, lambda: scenario.kube.delete(DEPLOYMENTS, "production", "api")
    )

    scenario.reconcile()

    assert [c.status for c in scenario.kube.calls_to("patch", DEPLOYMENTS)] == [404]
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "TargetChanged")
    assert scenario.kube.get(DEPLOYMENTS, "production", "api") is None  # not recreated
