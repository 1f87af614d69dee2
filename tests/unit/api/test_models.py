"""The pydantic API models: what they accept, what they reject, and how they serialise."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tourniquet.api.models import (
    BLANK_QUERY_MESSAGE,
    COMMANDER_REQUIRED_MESSAGE,
    INVALID_REGEX_MESSAGE,
    LABEL_NAME_MESSAGE,
    RESOURCES,
    SELECTOR_VALUES_MESSAGE,
    AlertMatchOperator,
    AlertRef,
    Approval,
    Condition,
    ConditionStatus,
    Diagnostic,
    IncidentSpec,
    IncidentStatus,
    LabelSelector,
    LinkedRunbook,
    Mitigation,
    MitigationResult,
    Phase,
    RunbookSpec,
    RunbookStatus,
    Severity,
    compile_label_regex,
    unbalanced_brackets,
)


def incident_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "title": "Elevated 5xx on api",
        "severity": "SEV1",
        "roles": {"commander": "alice", "comms": "bob", "operations": "carol", "scribe": "dave"},
        "scope": {"selector": {"matchLabels": {"app": "api"}}},
        "startedAt": "2026-11-27T10:00:00Z",
    }
    spec.update(overrides)
    return spec


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.value.errors()]


# --- Incident spec ---------------------------------------------------------------------


def test_design_example_parses_with_camel_case_and_defaults() -> None:
    spec = IncidentSpec.model_validate(incident_spec())
    assert spec.severity is Severity.SEV1
    assert spec.roles is not None and spec.roles.commander == "alice"
    assert spec.scope is not None and spec.scope.selector is not None
    assert spec.scope.selector.match_labels == {"app": "api"}
    assert spec.started_at == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert spec.resolved is False


def test_snake_case_names_are_accepted_too() -> None:
    spec = IncidentSpec(title="t", severity=Severity.SEV3, started_at=datetime(2026, 1, 1))
    assert spec.started_at == datetime(2026, 1, 1)


def test_dump_by_alias_is_the_wire_format() -> None:
    spec = IncidentSpec.model_validate(incident_spec())
    wire = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire == {**incident_spec(), "resolved": False, "drill": False, "updates": []}
    assert IncidentSpec.model_validate(wire) == spec


def test_unknown_severity_is_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValidationError) as exc:
        IncidentSpec.model_validate(incident_spec(severity="SEV0"))
    [(loc, msg)] = errors(exc)
    assert loc == "severity"
    assert "'SEV1', 'SEV2' or 'SEV3'" in msg


def test_missing_title_is_rejected() -> None:
    spec = incident_spec()
    del spec["title"]
    with pytest.raises(ValidationError) as exc:
        IncidentSpec.model_validate(spec)
    assert errors(exc) == [("title", "Field required")]


@pytest.mark.parametrize(
    ("title", "msg"),
    [
        ("x" * 201, "String should have at most 200 characters"),
        ("", "String should have at least 1 character"),
    ],
)
def test_title_length_is_bounded(title: str, msg: str) -> None:
    with pytest.raises(ValidationError) as exc:
        IncidentSpec.model_validate(incident_spec(title=title))
    assert errors(exc) == [("title", msg)]


def test_title_of_exactly_200_characters_is_fine() -> None:
    assert IncidentSpec.model_validate(incident_spec(title="x" * 200)).title == "x" * 200


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        IncidentSpec.model_validate(incident_spec(sevverity="SEV1"))
    assert errors(exc) == [("sevverity", "Extra inputs are not permitted")]


@pytest.mark.parametrize("severity", ["SEV1", "SEV2"])
def test_sev1_and_sev2_need_a_commander(severity: str) -> None:
    for roles in (None, {"comms": "bob"}):
        spec = incident_spec(severity=severity, roles=roles)
        with pytest.raises(ValidationError, match=COMMANDER_REQUIRED_MESSAGE):
            IncidentSpec.model_validate(spec)


def test_sev3_needs_no_commander() -> None:
    spec = incident_spec(severity="SEV3")
    del spec["roles"]
    assert IncidentSpec.model_validate(spec).roles is None


def test_user_names_are_bounded() -> None:
    with pytest.raises(ValidationError) as exc:
        IncidentSpec.model_validate(incident_spec(roles={"commander": "a" * 254}))
    assert errors(exc)[0][0] == "roles.commander"


# --- label selectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "tier", "operator": "In", "values": ["web"]},
        {"key": "tier", "operator": "NotIn", "values": ["web", "db"]},
        {"key": "tier", "operator": "Exists"},
        {"key": "tier", "operator": "DoesNotExist", "values": []},
    ],
)
def test_selector_expressions_that_make_sense(expression: dict[str, Any]) -> None:
    LabelSelector.model_validate({"matchExpressions": [expression]})


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "tier", "operator": "In"},
        {"key": "tier", "operator": "NotIn", "values": []},
        {"key": "tier", "operator": "Exists", "values": ["web"]},
    ],
)
def test_selector_expressions_that_do_not(expression: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=SELECTOR_VALUES_MESSAGE):
        LabelSelector.model_validate({"matchExpressions": [expression]})


def test_selector_bounds() -> None:
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchLabels": {"app": "x" * 64}})
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchLabels": {"k" * 318: "v"}})
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchLabels": {f"k{i}": "v" for i in range(65)}})
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchExpressions": [{"key": "k", "operator": "Near"}]})


# --- Incident status ---------------------------------------------------------------------


def test_full_status_round_trips() -> None:
    wire = {
        "observedGeneration": 3,
        "phase": "Mitigated",
        "conditions": [
            {
                "type": "Mitigated",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": "2026-11-27T10:05:00Z",
                "reason": "RolloutUndone",
                "message": "api is back at revision 6",
            }
        ],
        "declaredAt": "2026-11-27T10:01:00Z",
        "mitigatedAt": "2026-11-27T10:05:00Z",
        "timeToMitigateSeconds": 300.0,
        "suspect": {
            "kind": "Deployment",
            "name": "api",
            "replicaSet": "api-7d9f",
            "revision": 7,
            "previousRevision": 6,
            "rolledOutAt": "2026-11-27T09:58:00Z",
            "change": "api: registry/api:1.4.2 -> registry/api:1.4.3",
        },
        "approval": {"approvedBy": "alice", "revision": 7},
        "mitigation": {
            "action": "RolloutUndo",
            "kind": "Deployment",
            "name": "api",
            "fromRevision": 7,
            "toRevision": 6,
            "result": "Succeeded",
            "startedAt": "2026-11-27T10:03:00Z",
            "finishedAt": "2026-11-27T10:05:00Z",
            "preconditionResourceVersion": "12345",
        },
        "timeline": [
            {"at": "2026-11-27T10:01:00Z", "kind": "Declared", "message": "SEV1 declared"},
            {
                "at": "2026-11-27T10:02:00Z",
                "kind": "Approved",
                "message": "undo of api revision 7 approved",
                "actor": "alice",
            },
        ],
    }
    status = IncidentStatus.model_validate(wire)
    assert status.phase is Phase.MITIGATED
    assert status.mitigation is not None
    assert status.mitigation.result is MitigationResult.SUCCEEDED
    assert status.conditions is not None
    assert status.conditions[0].status is ConditionStatus.TRUE
    assert status.model_dump(mode="json", by_alias=True, exclude_none=True) == wire


def test_empty_status_is_valid_and_dumps_to_nothing() -> None:
    assert IncidentStatus().model_dump(by_alias=True, exclude_none=True) == {}


def test_approval_needs_a_positive_revision_and_a_name() -> None:
    with pytest.raises(ValidationError) as exc:
        Approval.model_validate({"approvedBy": "", "revision": 0})
    assert [loc for loc, _ in errors(exc)] == ["approvedBy", "revision"]


def test_mitigation_reason_must_be_camel_case() -> None:
    Mitigation.model_validate(
        {"action": "RolloutUndo", "result": "Refused", "reason": "NoApproval"}
    )
    with pytest.raises(ValidationError) as exc:
        Mitigation.model_validate(
            {"action": "RolloutUndo", "result": "Refused", "reason": "no approval"}
        )
    assert errors(exc)[0][0] == "reason"


def test_condition_reason_and_type_follow_kubernetes_patterns() -> None:
    base = {"status": "True", "lastTransitionTime": "2026-11-27T10:00:00Z", "message": ""}
    Condition.model_validate({**base, "type": "Mitigated", "reason": "RolloutUndone"})
    Condition.model_validate({**base, "type": "tourniquet.dev/Mitigated", "reason": "A_b,c:d"})
    for bad in ({"type": "Mitigated", "reason": "1Bad"}, {"type": "-bad", "reason": "Ok"}):
        with pytest.raises(ValidationError):
            Condition.model_validate({**base, **bad})


def test_timeline_is_bounded() -> None:
    entry = {"at": "2026-11-27T10:00:00Z", "kind": "Note", "message": "m"}
    IncidentStatus.model_validate({"timeline": [entry] * 200})
    with pytest.raises(ValidationError, match="at most 200 items"):
        IncidentStatus.model_validate({"timeline": [entry] * 201})


# --- Runbook ------------------------------------------------------------------------------


def test_runbook_example() -> None:
    spec = RunbookSpec.model_validate(
        {
            "title": "api 5xx",
            "severity": "SEV2",
            "alerts": [{"alertname": "ApiErrorBudgetBurn", "matchers": {"service": "api"}}],
            "scope": {"selector": {"matchLabels": {"app": "api"}}},
            "diagnostics": [
                {"description": "error ratio", "query": 'sum(rate(http_errors{app="api"}[5m]))'}
            ],
            "mitigations": [{"action": "RolloutUndo", "description": "undo the last rollout"}],
            "owners": ["team-api"],
            "links": [{"title": "dashboard", "url": "https://grafana.example/d/api"}],
        }
    )
    assert spec.severity is Severity.SEV2
    assert spec.alerts is not None and spec.alerts[0].matchers == {"service": "api"}


def test_runbook_rejects_bad_links_and_actions() -> None:
    base = {"title": "t", "severity": "SEV3"}
    with pytest.raises(ValidationError) as exc:
        RunbookSpec.model_validate({**base, "links": [{"title": "x", "url": "ftp://x"}]})
    assert errors(exc)[0][0] == "links.0.url"
    with pytest.raises(ValidationError) as exc:
        RunbookSpec.model_validate({**base, "mitigations": [{"action": "Pray", "description": ""}]})
    assert errors(exc)[0][0] == "mitigations.0.action"


@pytest.mark.parametrize(
    "expression",
    [
        {"label": "env", "operator": "Equals", "value": "prod"},
        {"label": "env", "operator": "NotEquals", "value": ""},
        {"label": "env", "operator": "Matches", "value": "prod|prod-eu"},
        {"label": "_x1", "operator": "NotMatches", "value": "[[:alpha:]]+"},
        # not a regex: anything goes
        {"label": "env", "operator": "Equals", "value": "prod(-eu"},
    ],
)
def test_alert_matchers_that_make_sense(expression: dict[str, Any]) -> None:
    ref = AlertRef.model_validate({"alertname": "X", "matchExpressions": [expression]})
    assert ref.match_expressions is not None
    assert ref.match_expressions[0].operator is AlertMatchOperator(expression["operator"])


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"label": "env", "operator": "Matches", "value": "prod(-eu"}, INVALID_REGEX_MESSAGE),
        # RE2 has no lookaround: the API server (CEL) rejects it, so must we
        ({"label": "env", "operator": "NotMatches", "value": "(?=x)"}, INVALID_REGEX_MESSAGE),
        ({"label": "bad-label", "operator": "Equals", "value": "x"}, "should match pattern"),
        ({"label": "env", "operator": "=~", "value": "x"}, "'Equals', 'NotEquals'"),
    ],
)
def test_alert_matchers_that_do_not(expression: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AlertRef.model_validate({"alertname": "X", "matchExpressions": [expression]})


def test_equality_matcher_keys_must_be_label_names() -> None:
    AlertRef.model_validate({"alertname": "X", "matchers": {"service": "api", "_a1": ""}})
    with pytest.raises(ValidationError, match=LABEL_NAME_MESSAGE):
        AlertRef.model_validate({"alertname": "X", "matchers": {"1service": "api"}})


def test_regex_is_anchored_like_alertmanager() -> None:
    regex = compile_label_regex("api|web")
    assert regex.search("api") and regex.search("web")
    assert not regex.search("api-canary") and not regex.search("xweb")
    with pytest.raises(ValueError, match="missing"):
        compile_label_regex("(")


@pytest.mark.parametrize(
    "query",
    [
        'sum by (route) (rate(http_requests_total{code=~"5.."}[5m]))',
        "up",
        "vector(1)\n  > 0",
    ],
)
def test_promql_shaped_queries(query: str) -> None:
    assert Diagnostic(description="d", query=query).query == query
    assert unbalanced_brackets(query) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sum(rate(x[5m])", "unbalanced parentheses"),
        ("rate(x[5m)", "unbalanced square brackets"),
        ('x{a="b"', "unbalanced braces"),
        ("  \n ", BLANK_QUERY_MESSAGE),
        ("", "at least 1 character"),
    ],
)
def test_queries_that_are_not_promql_shaped(query: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Diagnostic(description="d", query=query)


def test_runbook_roles_and_linked_copy() -> None:
    spec = RunbookSpec.model_validate(
        {"title": "t", "severity": "SEV1", "roles": {"commander": "alice", "comms": "bob"}}
    )
    assert spec.roles is not None and spec.roles.commander == "alice"
    copy = LinkedRunbook.model_validate(
        {"name": "rb", "title": "t", "diagnostics": [{"description": "d", "query": "up"}]}
    )
    status = IncidentStatus.model_validate({"runbook": copy.model_dump(by_alias=True)})
    assert status.runbook == copy


def test_runbook_status_used_by_is_bounded() -> None:
    use = {"incident": "inc", "at": "2026-11-27T10:00:00Z", "alertname": "X"}
    RunbookStatus.model_validate({"usedBy": [use] * 20, "lastUsedAt": "2026-11-27T10:00:00Z"})
    with pytest.raises(ValidationError, match="at most 20 items"):
        RunbookStatus.model_validate({"usedBy": [use] * 21})


def test_incident_from_an_alert() -> None:
    spec = IncidentSpec.model_validate(
        incident_spec(
            runbookRef={"name": "api-high-error-rate"},
            alert={
                "receiver": "tourniquet",
                "groupKey": '{}:{alertname="ApiHighErrorRate"}',
                "alertname": "ApiHighErrorRate",
                "labels": {"alertname": "ApiHighErrorRate", "severity": "critical"},
                "annotations": {"summary": "5xx above 5%"},
                "startsAt": "2026-11-27T10:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "firing": 2,
            },
        )
    )
    assert spec.runbook_ref is not None and spec.runbook_ref.name == "api-high-error-rate"
    assert spec.alert is not None and spec.alert.firing == 2
    with pytest.raises(ValidationError):
        IncidentSpec.model_validate(incident_spec(alert={"receiver": "r"}))


# --- wire names -----------------------------------------------------------------------------


def _aliases(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in _types(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _aliases(arg, seen)
    return names


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *(t for arg in args for t in _types(arg))]


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_wire_names_are_camel_case(resource: Any) -> None:
    seen: set[type[BaseModel]] = set()
    names = _aliases(resource.spec, seen) | _aliases(resource.status, seen)
    assert names, resource
    for name in names:
        assert "_" not in name and name[0].islower(), name


def test_incident_wire_names_match_the_design() -> None:
    seen: set[type[BaseModel]] = set()
    names = _aliases(IncidentSpec, seen) | _aliases(IncidentStatus, seen)
    assert {
        "startedAt",
        "matchLabels",
        "matchExpressions",
        "observedGeneration",
        "lastTransitionTime",
        "declaredAt",
        "mitigatedAt",
        "resolvedAt",
        "timeToMitigateSeconds",
        "timeToResolveSeconds",
        "replicaSet",
        "previousRevision",
        "rolledOutAt",
        "approvedBy",
        "fromRevision",
        "toRevision",
        "finishedAt",
        "preconditionResourceVersion",
    } <= names
