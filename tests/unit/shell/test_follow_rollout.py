"""shell/follow_rollout.py: after a restart, did the claimed undo land? Send it only if
it provably did not; then follow the rollout as `kubectl rollout status` decides."""

from __future__ import annotations

from fake_kube import DEPLOYMENTS, REPLICASETS
from shell_scenario import (
    INCIDENT_STATUS,
    Body,
    Scenario,
    conditions,
    rollbacks,
    run,
    sample,
    status_patches,
)

from tourniquet.core.rollback import undo_plan
from tourniquet.shell import follow_rollout
from tourniquet.shell.actions import After


def image(deployment: Body) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def timeline(scenario: Scenario) -> list[str]:
    return [str(e["message"]) for e in scenario.status().get("timeline") or []]


def follow(scenario: Scenario, watched: Body | None = None) -> After:
    d = scenario.draft()
    return run(follow_rollout.follow(d, scenario.rt, scenario.indexes().deployments, watched))


def test_after_a_crash_behind_the_claim_the_undo_is_sent_exactly_once(
    scenario: Scenario,
) -> None:
    scenario.claimed()

    scenario.reconcile()

    # The Deployment is as the claim read it: its precondition still holds.
    assert [c.what for c in scenario.kube.writes()] == [
        ("patch", DEPLOYMENTS),
        ("patch", INCIDENT_STATUS),
    ]
    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.body[0]["value"] == scenario.mitigation()["preconditionResourceVersion"] == "4242"
    assert image(scenario.deployment()) == "registry/api:1.4.2"
    for _ in range(3):
        scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1


def test_a_claim_whose_precondition_went_stale_is_renewed_before_the_patch(
    scenario: Scenario,
) -> None:
    """Scaled during the crash: still the approved template, at a new resourceVersion."""
    scenario.claimed()
    scaled = scenario.change_deployment(lambda body: body["spec"].update(replicas=5))
    version = scaled["metadata"]["resourceVersion"]

    scenario.reconcile()

    assert [c.what for c in scenario.kube.writes()] == [
        ("patch", INCIDENT_STATUS),  # the new precondition, recorded first
        ("patch", DEPLOYMENTS),
        ("patch", INCIDENT_STATUS),
    ]
    renewed = status_patches(scenario.kube)[0]["status"]["mitigation"]
    assert renewed == {"preconditionResourceVersion": version}
    (undo,) = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert undo.body[0]["value"] == version and undo.status == 200
    assert scenario.deployment()["spec"]["replicas"] == 5
    assert image(scenario.deployment()) == "registry/api:1.4.2"


def test_a_status_update_just_before_the_resent_undo_is_read_again_not_refused(
    scenario: Scenario,
) -> None:
    """After a restart behind the claim, the controller writes the Deployment's status
    between the fresh read and the patch (as when the API server has just come back): the
    precondition fails, nothing but status moved, so the undo is read again and sent."""
    scenario.claimed()
    scenario.status_written_before_the_next_patch()

    scenario.reconcile()

    first, second = scenario.kube.calls_to("patch", DEPLOYMENTS)
    assert (first.status, second.status) == (422, 200)
    assert image(scenario.deployment()) == "registry/api:1.4.2"
    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress" and mitigation["patchedAt"]
    assert second.body[0]["value"] == mitigation["preconditionResourceVersion"] != "4242"
    assert "TargetChanged" not in scenario.reasons()
    scenario.reconcile()
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 2


def test_follow_on_the_claimed_incident_sends_once_then_follows(scenario: Scenario) -> None:
    scenario.claimed()

    assert follow(scenario) is After.WRITTEN
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1
    assert scenario.mitigation()["patchedAt"]

    assert follow(scenario) is After.WRAP_UP  # patched: now only the rollout is followed
    assert len(scenario.kube.calls_to("patch", DEPLOYMENTS)) == 1


def test_a_deployment_already_carrying_the_restored_template_is_not_patched_again(
    scenario: Scenario,
) -> None:
    scenario.claimed()
    # The undo reached the Deployment before the crash (its record did not reach status).
    deployment = scenario.deployment()
    plan = undo_plan(deployment, scenario.kube.all(REPLICASETS))
    run(scenario.kube.json_patch_deployment("production", "api", plan.patch))
    scenario.kube.calls.clear()

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress" and mitigation["patchedAt"]
    assert any("found applied after an operator restart" in m for m in timeline(scenario))


def test_a_deployment_changed_by_someone_else_during_the_crash_is_not_touched(
    scenario: Scenario,
) -> None:
    scenario.claimed()

    def new_rollout(body: Body) -> None:
        body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/api:1.4.4"

    scenario.change_deployment(new_rollout)
    before = rollbacks("failed", "TargetChanged")

    scenario.reconcile()

    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "TargetChanged")
    assert image(scenario.deployment()) == "registry/api:1.4.4"
    assert rollbacks("failed", "TargetChanged") == before + 1


def test_the_rollout_is_followed_to_succeeded(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()  # claimed and patched
    succeeded = rollbacks("succeeded")
    mitigate = sample("tourniquet_incident_time_to_mitigate_seconds_count", severity="SEV2")

    scenario.reconcile()  # the controller has not seen the new template yet

    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress"
    assert mitigation["message"] == "Waiting for deployment spec update to be observed..."
    assert rollbacks("succeeded") == succeeded

    scenario.rollout_completes()
    scenario.reconcile()

    status = scenario.status()
    assert status["mitigation"]["result"] == "Succeeded"
    assert status["mitigation"]["reason"] == "RolloutComplete"
    assert status["phase"] == "Mitigated"
    assert status["timeToMitigateSeconds"] >= 600
    assert conditions(scenario.incident())["Mitigated"]["status"] == "True"
    assert "Mitigated" in scenario.reasons()
    assert rollbacks("succeeded") == succeeded + 1
    assert (
        sample("tourniquet_incident_time_to_mitigate_seconds_count", severity="SEV2")
        == mitigate + 1
    )
    scenario.reconcile()  # done: nothing more is written or counted
    assert rollbacks("succeeded") == succeeded + 1


def test_a_rollout_past_its_progress_deadline_fails_the_mitigation(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()

    def stuck(body: Body) -> None:
        body["status"]["observedGeneration"] = body["metadata"]["generation"]
        body["status"]["conditions"] = [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]

    scenario.change_deployment(stuck)
    scenario.reconcile()

    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "ProgressDeadlineExceeded")
    assert scenario.status()["phase"] == "Mitigating"


def test_a_rollout_slower_than_the_timeout_fails_the_mitigation(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()

    def an_hour_ago(body: Body) -> None:
        body["status"]["mitigation"]["startedAt"] = "2000-01-01T00:00:00Z"

    scenario.kube.edit("incidents", "production", "api-errors", an_hour_ago)
    scenario.reconcile()

    assert scenario.mitigation()["reason"] == "RolloutTimeout"


def test_a_deployment_deleted_during_the_rollout_fails_the_mitigation(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()
    scenario.kube.delete(DEPLOYMENTS, "production", "api")

    scenario.reconcile()

    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Failed", "TargetChanged")
    assert "deleted" in mitigation["message"]


def test_a_watched_deployment_is_used_instead_of_a_get(scenario: Scenario) -> None:
    scenario.ready_for_undo()
    scenario.reconcile()
    watched = scenario.rollout_completes()
    scenario.kube.calls.clear()

    assert follow(scenario, watched) is After.WRAP_UP

    assert scenario.kube.calls_to("get", DEPLOYMENTS) == []
    assert scenario.kube.writes() == []  # follow decides; the reconcile's wrap-up writes
