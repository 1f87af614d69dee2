"""The two admission policies, as generated. What they admit and refuse is proven on the
real API server (tests/e2e/test_forgery.py); these pin their shape."""

from __future__ import annotations

from typing import Any

from tourniquet.api.models import IncidentStatus
from tourniquet.api.names import (
    APPROVAL_POLICY_NAME,
    CONFINEMENT_POLICY_NAME,
    DEFAULT_APPROVERS_GROUP,
    DEFAULT_OPERATOR_IDENTITY,
)
from tourniquet.api.policies import approval_policy, confinement_policy, record_fields


def variables(policy: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in policy["spec"]["variables"]}


def test_the_approval_policy_checks_creates_and_updates_of_incidents_and_their_status() -> None:
    policy, binding = approval_policy()
    assert policy["metadata"]["name"] == APPROVAL_POLICY_NAME == "tourniquet-incident-approval"
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["tourniquet.dev"],
            "apiVersions": ["v1alpha1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["incidents", "incidents/status"],
        }
    ]
    assert binding["spec"] == {"policyName": APPROVAL_POLICY_NAME, "validationActions": ["Deny"]}


def test_the_record_is_every_status_field_but_what_people_write() -> None:
    fields = {f.alias or n for n, f in IncidentStatus.model_fields.items()}
    assert set(record_fields()) == fields - {"approval", "acknowledgement", "podDeletion"}
    changed = variables(approval_policy()[0])["recordChanged"]
    for field in record_fields():
        assert f"object.?status.?{field} != oldObject.?status.?{field}" in changed


def test_approving_asks_the_authorizer_for_the_approve_verb_on_this_incident() -> None:
    may = variables(approval_policy()[0])["mayApprove"]
    assert may == (
        'authorizer.group("tourniquet.dev").resource("incidents")'
        ".namespace(object.metadata.namespace).name(object.metadata.name)"
        ".check('approve').allowed()"
    )


def test_the_commander_is_read_from_the_object_as_it_was_before_the_request() -> None:
    commander = variables(approval_policy()[0])["commander"]
    assert "oldObject.spec" in commander and "object.spec" not in commander.replace(
        "oldObject.spec", ""
    )


def test_every_rule_says_who_was_refused_and_why() -> None:
    for validation in approval_policy()[0]["spec"]["validations"]:
        assert validation["reason"] == "Forbidden"
        assert "variables.user" in validation["messageExpression"]
        assert validation["message"]


def test_identities_are_parameters_and_safely_quoted() -> None:
    policy, _ = approval_policy(approvers_group='sre"s', operator='op"x')
    assert variables(policy)["approversGroup"] == '"sre\\"s"'
    assert variables(policy)["operator"] == '"op\\"x"'
    defaults = variables(approval_policy()[0])
    assert defaults["approversGroup"] == f'"{DEFAULT_APPROVERS_GROUP}"'
    assert defaults["operator"] == f'"{DEFAULT_OPERATOR_IDENTITY}"'


def test_the_confinement_policy_applies_to_the_operator_only() -> None:
    policy, binding = confinement_policy()
    assert policy["metadata"]["name"] == CONFINEMENT_POLICY_NAME
    assert policy["spec"]["matchConditions"] == [
        {
            "name": "the-operator",
            "expression": f'request.userInfo.username == "{DEFAULT_OPERATOR_IDENTITY}"',
        }
    ]
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    resources = {r for rule in rules for r in rule["resources"]}
    assert {"deployments", "deployments/scale", "configmaps", "secrets"} <= resources
    assert binding["spec"]["validationActions"] == ["Deny"]


def test_the_operator_may_only_suspend_and_resume_a_gitops_owner() -> None:
    policy, _ = confinement_policy()
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    watched = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    for group, plural in (
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
        ("helm.toolkit.fluxcd.io", "helmreleases"),
        ("argoproj.io", "applications"),
    ):
        assert {(group, plural), (group, f"{plural}/status")} <= watched
    (gitops,) = [
        v for v in policy["spec"]["validations"] if v["expression"].startswith("!variables.gitops")
    ]
    # Flux: everything in spec but `suspend` unchanged; Argo CD: all but syncPolicy.automated.
    assert "k == 'suspend'" in gitops["expression"]
    assert "k == 'automated'" in gitops["expression"]
    assert "request.operation == 'UPDATE'" in gitops["expression"]  # never a delete


def test_only_the_commander_resumes_a_suspended_owner() -> None:
    policy, _ = approval_policy()
    assert "spec.?gitops.?resume" in variables(policy)["resumingGitOps"]
    (rule,) = [
        v
        for v in policy["spec"]["validations"]
        if v["expression"].startswith("!variables.resumingGitOps")
    ]
    assert "variables.isCommander || variables.inApprovers" in rule["expression"]
