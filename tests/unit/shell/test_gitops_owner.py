"""shell/gitops_owner.py with the fake cluster: the suspect's Flux owner is named with it,
suspended before the undo (or the undo refused when it cannot be), and resumed when the
IC asks, once git has moved on."""

from __future__ import annotations

from typing import Any

from factories import NAMESPACE
from fake_kube import DEPLOYMENTS
from shell_scenario import APPROVAL, INCIDENT_STATUS, Body, Scenario, conditions, sample

from tourniquet.api.names import INCIDENTS

KUSTOMIZATIONS = "kustomizations"
GITREPOSITORIES = "gitrepositories"
BAD = "main@sha1:0badc0ffee"
GOOD = "main@sha1:600dcafe"


def flux_owned(scenario: Scenario, *, suspended: bool = False) -> None:
    """Deployment api applied by Kustomization flux-system/apps from GitRepository repo."""
    scenario.seed()

    def labelled(body: Body) -> None:
        body["metadata"].setdefault("labels", {}).update(
            {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            }
        )

    scenario.change_deployment(labelled)
    scenario.kube.put(
        KUSTOMIZATIONS,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "interval": "1m",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **({"suspend": True} if suspended else {}),
            },
            "status": {"lastAppliedRevision": BAD},
        },
    )
    git_at(scenario, BAD)


def git_at(scenario: Scenario, revision: str) -> None:
    scenario.kube.put(
        GITREPOSITORIES,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "flux-system"},
            "status": {"artifact": {"revision": revision}},
        },
    )


def kustomization(scenario: Scenario) -> Body:
    found = scenario.kube.get(KUSTOMIZATIONS, "flux-system", "apps")
    assert found is not None
    return found


def named_and_approved(scenario: Scenario, **approval: Any) -> None:
    scenario.declare()
    scenario.reconcile()
    scenario.approve({**APPROVAL, **approval})
    scenario.kube.calls.clear()


def test_the_suspect_names_its_flux_owner_and_the_approval_message_says_it_is_suspended_first(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    scenario.declare()
    scenario.reconcile()
    owner = scenario.status()["suspect"]["owner"]
    assert owner == {
        "tool": "Flux",
        "kind": "Kustomization",
        "name": "apps",
        "namespace": "flux-system",
        "reconciles": True,
    }
    message = scenario.mitigation()["message"]
    assert "Flux Kustomization flux-system/apps applies it from git" in message
    assert "approving suspends it first" in message


def test_the_owner_is_suspended_before_the_undo_and_the_claim_records_it(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    named_and_approved(scenario)
    scenario.reconcile()
    writes = [c.what for c in scenario.kube.writes()]
    assert writes[:3] == [
        ("patch", KUSTOMIZATIONS),  # suspended first
        ("patch", INCIDENT_STATUS),  # the claim, with the suspension in it
        ("patch", DEPLOYMENTS),  # then the undo
    ]
    stored = kustomization(scenario)
    assert stored["spec"]["suspend"] is True
    assert stored["metadata"]["annotations"]["tourniquet.dev/suspended-by"] == (
        f"{NAMESPACE}/api-errors"
    )
    gitops = scenario.mitigation()["gitops"]
    assert gitops["revision"] == BAD and gitops["suspendedAt"]
    assert gitops["resumeCommand"] == f"kubectl incident resume api-errors -n {NAMESPACE}"
    assert conditions(scenario.incident())["ReconciliationSuspended"]["status"] == "True"
    assert "GitOpsSuspended" in scenario.reasons()
    labels = {"action": "suspended", "owner_kind": "Kustomization", "drill": "false"}
    assert sample("tourniquet_gitops_actions_total", **labels) >= 1


def test_an_owner_the_operator_may_not_suspend_refuses_the_undo_and_touches_nothing(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    named_and_approved(scenario)
    scenario.kube.fail("patch", KUSTOMIZATIONS, 403)
    before = scenario.deployment()
    scenario.reconcile()
    mitigation = scenario.mitigation()
    assert (mitigation["result"], mitigation["reason"]) == ("Refused", "GitOpsSuspendForbidden")
    assert "flux suspend kustomization apps -n flux-system" in mitigation["message"]
    assert "acceptRevert: true" in mitigation["message"]
    assert scenario.deployment() == before
    assert scenario.kube.calls_to("patch", DEPLOYMENTS) == []


def test_an_accepted_revert_undoes_without_the_suspension_and_says_so(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    named_and_approved(scenario, acceptRevert=True)
    scenario.kube.fail("patch", KUSTOMIZATIONS, 403)
    scenario.reconcile()
    mitigation = scenario.mitigation()
    assert mitigation["result"] == "InProgress" and mitigation["patchedAt"]
    assert "403" in mitigation["gitops"]["notSuspended"]
    assert "suspendedAt" not in mitigation["gitops"]
    assert "GitOpsNotSuspended" in scenario.reasons()


def test_an_owner_already_suspended_is_left_alone(scenario: Scenario) -> None:
    flux_owned(scenario, suspended=True)
    named_and_approved(scenario)
    assert scenario.status()["suspect"]["owner"]["reconciles"] is False
    scenario.reconcile()
    assert scenario.kube.calls_to("patch", KUSTOMIZATIONS) == []
    assert "gitops" not in scenario.mitigation()
    assert scenario.mitigation()["patchedAt"]


def test_resume_waits_while_git_holds_the_undone_revision_then_resumes(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    named_and_approved(scenario)
    scenario.reconcile()

    def resume(body: Body) -> None:
        body["spec"]["gitops"] = {"resume": True}

    scenario.kube.edit(INCIDENTS, NAMESPACE, "api-errors", resume)
    scenario.reconcile()
    assert kustomization(scenario)["spec"]["suspend"] is True
    waiting = conditions(scenario.incident())["ReconciliationSuspended"]
    assert waiting["reason"] == "GitOpsResumeWaitsForGit"
    assert "git revert 0badc0ffee" in waiting["message"]

    git_at(scenario, GOOD)  # the revert is pushed; source-controller fetched it
    scenario.reconcile()
    stored = kustomization(scenario)
    assert stored["spec"]["suspend"] is False
    assert "tourniquet.dev/suspended-by" not in (stored["metadata"].get("annotations") or {})
    assert scenario.mitigation()["gitops"]["resumedAt"]
    resumed = conditions(scenario.incident())["ReconciliationSuspended"]
    assert (resumed["status"], resumed["reason"]) == ("False", "GitOpsResumed")
    assert "GitOpsResumed" in scenario.reasons()


def test_a_drill_dry_runs_the_suspension(scenario: Scenario) -> None:
    flux_owned(scenario)
    scenario.declare(drill=True)
    scenario.reconcile()
    scenario.approve()
    scenario.kube.calls.clear()
    scenario.reconcile()
    (suspend,) = scenario.kube.calls_to("patch", KUSTOMIZATIONS)
    assert suspend.dry_run
    assert "suspend" not in kustomization(scenario)["spec"]
    gitops = scenario.mitigation()["gitops"]
    assert "suspendedAt" not in gitops and "dry run" in gitops["notSuspended"]


def test_a_suspension_whose_claim_did_not_land_is_recorded_by_the_next_attempt(
    scenario: Scenario,
) -> None:
    flux_owned(scenario)
    named_and_approved(scenario)
    scenario.kube.fail("patch", INCIDENT_STATUS, 409)  # the claim loses a race
    scenario.reconcile()
    assert kustomization(scenario)["spec"]["suspend"] is True
    assert scenario.mitigation()["result"] == "Pending"

    scenario.reconcile()

    assert len(scenario.kube.calls_to("patch", KUSTOMIZATIONS)) == 1  # not sent again
    gitops = scenario.mitigation()["gitops"]
    assert gitops["suspendedAt"] and gitops["revision"] == BAD
    assert scenario.mitigation()["patchedAt"]
