"""Runbooks as data: validation, matching alerts, linking to incidents, coverage."""

from __future__ import annotations

import copy
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tourniquet.api.vocabulary import Reason
from tourniquet.cli import runbooks as runbook_cli
from tourniquet.core import runbooks
from tourniquet.core.draft import Draft
from tourniquet.core.runbooks import (
    ALERT_STATUS,
    ALERT_STATUS_AT,
    AUTO_RESOLVE,
    SEVERITY_SOURCE,
    RunbookView,
    assess,
    find_runbook,
    record_use,
    ref_matches,
    runbook_view,
    validate,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[3]


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "api returns too many 5xx",
        "severity": "SEV2",
        "alerts": [{"alertname": "ApiHighErrorRate", "matchers": {"service": "api"}}],
        "scope": {"selector": {"matchLabels": {"app": "api"}}},
        "diagnostics": [
            {"description": "5xx ratio", "query": 'sum(rate(http_requests_total{code=~"5.."}[5m]))'}
        ],
        "mitigations": [
            {"action": "RolloutUndo", "description": "undo the suspect rollout"},
            {"action": "Manual", "description": "fail over"},
        ],
        "owners": ["team-api"],
        "links": [{"title": "dashboard", "url": "https://grafana.example/d/api"}],
    }
    base.update(overrides)
    return base


def body(
    name: str = "api-5xx", namespace: str = "production", generation: int = 1, **spec_: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "resourceVersion": "7",
        },
        "spec": spec(**spec_),
    }


def view(name: str = "api-5xx", namespace: str = "production", **spec_: Any) -> RunbookView:
    return runbook_view(body(name, namespace, **spec_))


# --- validation ----------------------------------------------------------------------------------


def test_a_good_runbook_is_valid() -> None:
    assert validate(spec()) == []
    assert view().valid


@pytest.mark.parametrize(
    ("overrides", "reason", "where"),
    [
        (
            {
                "alerts": [
                    {
                        "alertname": "X",
                        "matchExpressions": [{"label": "env", "operator": "Matches", "value": "("}],
                    }
                ]
            },
            Reason.INVALID_MATCHER,
            "spec.alerts[0].matchExpressions[0]",
        ),
        (
            {"alerts": [{"alertname": "X", "matchers": {"a-b": "x"}}]},
            Reason.INVALID_MATCHER,
            "spec.alerts[0]",
        ),
        (
            {"diagnostics": [{"description": "d", "query": "sum(rate(x[5m])"}]},
            Reason.INVALID_QUERY,
            "spec.diagnostics[0]",
        ),
        (
            {"scope": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}},
            Reason.INVALID_SELECTOR,
            "spec.scope.selector",
        ),
        ({"severity": "SEV0"}, Reason.INVALID_SPEC, "spec.severity"),
        ({"sevrity": "SEV1"}, Reason.INVALID_SPEC, "spec.sevrity"),
    ],
)
def test_what_is_wrong_is_said_with_a_reason_and_where(
    overrides: dict[str, Any], reason: str, where: str
) -> None:
    [problem] = validate(spec(**overrides))
    assert problem.reason == reason
    assert problem.message.startswith(where), problem.message
    assert "Value error" not in problem.message


@pytest.mark.parametrize("garbage", [None, [], "text", {"spec": 1}, {"metadata": []}])
def test_garbage_never_raises(garbage: Any) -> None:
    obj = garbage if isinstance(garbage, dict) else {"spec": garbage}
    v = runbook_view(obj)
    assert not v.valid
    assert v.alerts == []


def test_view_keeps_generation_and_who_used_it() -> None:
    obj = body()
    obj["status"] = {"usedBy": [{"incident": "a", "at": "2026-11-27T10:00:00Z"}, "junk"]}
    v = runbook_view(obj)
    assert (v.generation, v.resource_version, v.used_by) == (1, "7", ("a", ""))


# --- status --------------------------------------------------------------------------------------


def condition(status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": "Valid", "status": status, "reason": reason, "message": message}


def test_first_valid_verdict_posts_no_event_but_says_what_it_answers() -> None:
    verdict = assess(view(), None)
    assert verdict.valid and verdict.reason == "Valid"
    assert verdict.event is None
    assert "ApiHighErrorRate" in verdict.message and "1 diagnostic" in verdict.message


def test_runbook_answering_no_alert_is_valid_and_says_so() -> None:
    verdict = assess(view(alerts=None), None)
    assert verdict.valid and "answers no alert" in verdict.message


def test_invalid_runbook_is_announced_once_and_again_when_it_changes() -> None:
    bad = view(diagnostics=[{"description": "d", "query": "x{"}])
    first = assess(bad, None)
    assert not first.valid and first.reason == Reason.INVALID_QUERY
    assert first.event is not None and first.event[:2] == ("Warning", Reason.INVALID_QUERY)
    same = assess(bad, [condition("False", Reason.INVALID_QUERY, first.message)])
    assert same.event is None
    worse = view(diagnostics=[{"description": "d", "query": "x{["}])
    worse_conditions = [condition("False", Reason.INVALID_QUERY, first.message)]
    assert assess(worse, worse_conditions).event is not None


def test_a_fixed_runbook_is_announced() -> None:
    verdict = assess(view(), [condition("False", Reason.INVALID_QUERY)])
    assert verdict.event is not None and verdict.event[:2] == ("Normal", "Valid")


def test_record_use_appends_once_and_keeps_the_most_recent() -> None:
    fields = record_use(None, "inc-1", NOW, "ApiHighErrorRate")
    assert fields == {
        "usedBy": [
            {"incident": "inc-1", "at": "2026-11-27T10:00:00Z", "alertname": "ApiHighErrorRate"}
        ],
        "lastUsedAt": "2026-11-27T10:00:00Z",
    }
    assert record_use(fields, "inc-1", NOW) is None
    status: dict[str, Any] = {}
    for i in range(25):
        status = {**status, **(record_use(status, f"inc-{i}", NOW + timedelta(minutes=i)) or {})}
    assert [u["incident"] for u in status["usedBy"]] == [f"inc-{i}" for i in range(5, 25)]
    assert status["lastUsedAt"] == "2026-11-27T10:24:00Z"


# --- matching ------------------------------------------------------------------------------------


def ref(**matchers: Any) -> dict[str, Any]:
    return {"alertname": "A", **matchers}


def expr(label: str, operator: str, value: str) -> dict[str, str]:
    return {"label": label, "operator": operator, "value": value}


def env(operator: str, value: str) -> dict[str, Any]:
    return ref(matchExpressions=[expr("env", operator, value)])


def alert(**labels: str) -> dict[str, str]:
    return {"alertname": "A", **labels}


@pytest.mark.parametrize(
    ("entry", "labels", "expected"),
    [
        (ref(), alert(), True),
        (ref(), {"alertname": "B"}, False),
        (ref(), {}, False),
        (ref(matchers={"service": "api"}), alert(service="api"), True),
        (ref(matchers={"service": "api"}), alert(service="web"), False),
        # Alertmanager: a missing label is the empty string
        (ref(matchers={"service": ""}), alert(), True),
        (env("Matches", "prod|eu"), alert(env="eu"), True),
        # regexes are anchored: the whole value must match
        (env("Matches", "prod"), alert(env="prod-eu"), False),
        (env("NotMatches", "dev.*"), alert(env="prod"), True),
        (env("NotMatches", "dev.*"), alert(env="dev1"), False),
        (env("NotEquals", "dev"), alert(), True),
        (env("Equals", "dev"), alert(), False),
        # RE2 classes, as Alertmanager has them
        (env("Matches", "[[:alpha:]]+"), alert(env="prod"), True),
        # an invalid regex (a runbook that bypassed validation) never matches
        (env("Matches", "("), alert(env="("), False),
        (env("Near", "x"), alert(env="x"), False),
    ],
)
def test_ref_matches_like_alertmanager(
    entry: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert ref_matches(entry, labels) is expected


def test_most_specific_runbook_wins_whatever_the_order() -> None:
    generic = view("generic", alerts=[{"alertname": "ApiHighErrorRate"}])
    specific = view(
        "specific",
        alerts=[
            {
                "alertname": "ApiHighErrorRate",
                "matchers": {"service": "api"},
                "matchExpressions": [expr("env", "Matches", "prod.*")],
            }
        ],
    )
    other = view("other", alerts=[{"alertname": "DiskFull"}])
    labels = {"alertname": "ApiHighErrorRate", "service": "api", "env": "prod-eu"}
    books = [generic, specific, other]
    for _ in range(5):
        random.shuffle(books)
        match = find_runbook(books, [labels], "production")
        assert match is not None and match.runbook.name == "specific"
    match = find_runbook(books, [{**labels, "env": "dev"}], "production")
    assert match is not None and match.runbook.name == "generic"
    assert find_runbook(books, [{"alertname": "Nope"}], "production") is None


def test_a_runbook_answers_alerts_of_its_own_namespace_only() -> None:
    a = view("b-runbook", "team-a", alerts=[{"alertname": "A"}])
    # More specific, but another team's: it must never capture team-a's alert.
    b = view("a-runbook", "team-b", alerts=[{"alertname": "A", "matchers": {"service": "x"}}])
    labels = {"alertname": "A", "service": "x"}
    match = find_runbook([a, b], [{**labels, "namespace": "team-a"}], "default")
    assert match is not None and match.runbook.namespace == "team-a"
    match = find_runbook([a, b], [{**labels, "namespace": "team-b"}], "default")
    assert match is not None and match.runbook.namespace == "team-b"
    assert find_runbook([a, b], [labels], "default") is None  # no namespace: the default's
    match = find_runbook([a, b], [labels], "team-a")
    assert match is not None and match.runbook.name == "b-runbook"


def test_ties_go_by_name() -> None:
    alerts = [{"alertname": "A"}]
    books = [view("b-runbook", alerts=alerts), view("a-runbook", alerts=alerts)]
    match = find_runbook(books, [{"alertname": "A"}], "production")
    assert match is not None and match.runbook.name == "a-runbook"


def test_invalid_runbooks_answer_nothing_and_later_label_sets_are_tried() -> None:
    broken = view("broken", alerts=[{"alertname": "A"}], severity="SEV9")
    fine = view("fine", alerts=[{"alertname": "A", "matchers": {"pod": "p1"}}])
    assert find_runbook([broken], [{"alertname": "A"}], "production") is None
    # the group's common labels lack pod; the first alert carries it
    label_sets = [{"alertname": "A"}, {"alertname": "A", "pod": "p1"}]
    match = find_runbook([broken, fine], label_sets, "production")
    assert match is not None and match.runbook.name == "fine"
    assert match.labels == {"alertname": "A", "pod": "p1"}


# --- linking to an incident ----------------------------------------------------------------------


def incident(**spec_: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "inc",
            "namespace": "production",
            "uid": "u1",
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-27T09:59:00Z",
            "annotations": spec_.pop("annotations", {}),
        },
        "spec": {"title": "t", "severity": "SEV3", **spec_},
        "status": spec_.pop("status", {}),
    }


def index(*views: RunbookView) -> dict[tuple[str, str], RunbookView]:
    return {(v.namespace, v.name): v for v in views}


def linked(obj: dict[str, Any], books: dict[tuple[str, str], RunbookView]) -> Draft:
    d = Draft(obj, NOW)
    runbooks.link_runbook(d, books)
    return d


def test_linked_runbook_is_copied_to_status_with_an_event_once() -> None:
    d = linked(incident(runbookRef={"name": "api-5xx"}), index(view()))
    copied = d.status["runbook"]
    assert copied["name"] == "api-5xx" and copied["generation"] == 1
    assert copied["diagnostics"] == spec()["diagnostics"]
    assert copied["mitigations"][0]["action"] == "RolloutUndo"
    assert copied["owners"] == ["team-api"] and copied["links"] == spec()["links"]
    [cond] = [c for c in d.status["conditions"] if c["type"] == Reason.RUNBOOK_LINKED]
    assert (cond["status"], cond["reason"]) == ("True", "RunbookLinked")
    [notice] = d.notices
    assert notice.reason == "RunbookLinked"
    assert 'sum(rate(http_requests_total{code=~"5.."}[5m]))' in notice.message
    assert "(1) RolloutUndo: undo the suspect rollout (2) Manual: fail over" in notice.message
    # next reconcile, from what was written: nothing new
    again = linked(d.snapshot(), index(view()))
    assert again.patch() == {} and again.notices == []


def test_a_changed_runbook_updates_the_copy_while_open_but_not_after_the_all_clear() -> None:
    first = linked(incident(runbookRef={"name": "api-5xx"}), index(view()))
    changed = runbook_view({**body(generation=2), "spec": spec(owners=["team-sre"])})
    d = linked(first.snapshot(), index(changed))
    assert d.status["runbook"]["owners"] == ["team-sre"]
    assert [n.reason for n in d.notices] == ["RunbookUpdated"]
    resolved = first.snapshot()
    resolved["spec"]["resolved"] = True
    assert linked(resolved, index(changed)).patch() == {}


def test_missing_or_invalid_runbook_is_a_condition_not_a_crash() -> None:
    d = linked(incident(runbookRef={"name": "nope"}), index(view()))
    [cond] = d.status["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "RunbookNotFound")
    assert "runbook" not in d.status
    broken = view(diagnostics=[{"description": "d", "query": "x{"}])
    d = linked(incident(runbookRef={"name": "api-5xx"}), index(broken))
    [cond] = d.status["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "RunbookInvalid")
    assert "unbalanced braces" in cond["message"]


def test_no_runbook_ref_no_alert_nothing_happens() -> None:
    d = linked(incident(), index(view()))
    assert d.patch() == {} and d.notices == []


def alert_spec() -> dict[str, Any]:
    return {
        "receiver": "tourniquet",
        "groupKey": '{}:{alertname="DiskFull"}',
        "alertname": "DiskFull",
        "startsAt": "2026-11-27T09:58:00Z",
        "firing": 2,
    }


def test_an_alert_without_runbook_is_reported_once() -> None:
    obj = incident(alert=alert_spec(), annotations={SEVERITY_SOURCE: "SEV3 by default"})
    d = linked(obj, {})
    kinds = [e["kind"] for e in d.status["timeline"]]
    assert kinds == ["AlertFiring", "NoRunbook"]
    assert (
        "DiskFull firing (2 alert(s)) since 2026-11-27T09:58:00Z"
        in d.status["timeline"][0]["message"]
    )
    assert "declared SEV3 by default" in d.status["timeline"][0]["message"]
    no_runbook = [n for n in d.notices if n.reason == "NoRunbook"]
    assert len(no_runbook) == 1 and no_runbook[0].type == "Warning"
    assert linked(d.snapshot(), {}).notices == []


def test_alert_resolved_and_firing_again_go_on_the_timeline() -> None:
    obj = incident(
        alert=alert_spec(),
        runbookRef={"name": "api-5xx"},
        annotations={ALERT_STATUS: "resolved", ALERT_STATUS_AT: "2026-11-27T10:05:00Z"},
    )
    d = linked(obj, index(view()))
    messages = [e["message"] for e in d.status["timeline"] if e["kind"] == "AlertResolved"]
    assert messages == [
        "Alertmanager reports DiskFull resolved at 2026-11-27T10:05:00Z; the Incident "
        "Commander gives the all-clear"
    ]
    again = d.snapshot()
    again["metadata"]["annotations"] = {
        ALERT_STATUS: "firing",
        ALERT_STATUS_AT: "2026-11-27T10:07:00Z",
    }
    d2 = linked(again, index(view()))
    assert d2.status["timeline"][-1]["message"] == "DiskFull firing again at 2026-11-27T10:07:00Z"
    assert [n.reason for n in d2.notices] == ["AlertFiringAgain"]


def test_refused_auto_resolve_is_a_warning() -> None:
    obj = incident(alert=alert_spec(), annotations={AUTO_RESOLVE: "not the commander"})
    d = linked(obj, {})
    assert any(n.reason == "AutoResolveRefused" and n.type == "Warning" for n in d.notices)


# --- coverage ------------------------------------------------------------------------------------


def prometheus_rule(*rules: dict[str, Any], name: str = "api-rules") -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": "monitoring"},
        "spec": {"groups": [{"name": "api", "rules": list(rules)}]},
    }


def test_rules_without_runbook_are_listed() -> None:
    books = [
        view(alerts=[{"alertname": "ApiHighErrorRate", "matchers": {"service": "api"}}]),
        view(
            "disk",
            alerts=[
                {
                    "alertname": "DiskFull",
                    "matchExpressions": [expr("severity", "Matches", "critical|page")],
                }
            ],
        ),
    ]
    rules = prometheus_rule(
        {"record": "job:up:sum", "expr": "sum(up)"},
        {"alert": "ApiHighErrorRate", "expr": "x > 1", "labels": {"service": "api"}},
        # service comes from the series: unknown until it fires, so it may match
        {"alert": "ApiHighErrorRate", "expr": "x > 1", "labels": {"service": "{{ $labels.s }}"}},
        {"alert": "ApiHighErrorRate", "expr": "x > 1", "labels": {"service": "web"}},
        {"alert": "DiskFull", "expr": "y", "labels": {"severity": "critical"}},
        {"alert": "DiskFull", "expr": "y", "labels": {"severity": "warning"}},
        {"alert": "Watchdog", "expr": "vector(1)"},
    )
    found = runbooks.uncovered_rules([rules], books)
    assert [(r.alert, r.severity) for r in found] == [
        ("ApiHighErrorRate", ""),
        ("DiskFull", "warning"),
        ("Watchdog", ""),
    ]
    assert found[0].rule == "api-rules" and found[0].group == "api"
    assert runbooks.uncovered_rules([{"spec": None}, {}], books) == []


def test_alerts_without_runbook_come_from_incidents() -> None:
    with_rb = incident(alert=alert_spec(), runbookRef={"name": "disk"})
    without = incident(alert=alert_spec())
    by_hand = incident()
    found = runbooks.alerts_without_runbook([with_rb, without, by_hand])
    assert [(a.incident, a.alertname, a.severity) for a in found] == [("inc", "DiskFull", "SEV3")]


def test_uncovered_report_text_and_json() -> None:
    alerts, rules = runbook_cli.coverage(
        [incident(alert=alert_spec())],
        [body(alerts=[{"alertname": "ApiHighErrorRate"}])],
        [prometheus_rule({"alert": "DiskFull", "expr": "y", "labels": {"severity": "page"}})],
    )
    out = io.StringIO()
    runbook_cli.report(alerts, rules, "text", out)
    text = out.getvalue()
    assert "production   inc        DiskFull" in text
    assert "monitoring   api-rules        api     DiskFull   page" in text
    out = io.StringIO()
    runbook_cli.report(alerts, None, "json", out)
    data = json.loads(out.getvalue())
    assert data["alertsWithoutRunbook"][0]["alertname"] == "DiskFull"
    assert data["rulesWithoutRunbook"] is None
    out = io.StringIO()
    runbook_cli.report([], None, "text", out)
    assert "every alert that arrived had a runbook" in out.getvalue()
    assert "CRD is not installed" in out.getvalue()


def test_validate_files(tmp_path: Path) -> None:
    out = io.StringIO()
    assert runbook_cli.validate_files([REPO / "config/samples"], out) == 0
    assert "not valid" in out.getvalue() and ", 0 not valid" in out.getvalue()
    bad = copy.deepcopy(body())
    bad["spec"]["diagnostics"][0]["query"] = "rate(x[5m)"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump_all([bad, {"kind": "ConfigMap"}]))
    out = io.StringIO()
    assert runbook_cli.validate_files([tmp_path], out) == 1
    assert (
        "InvalidQuery: spec.diagnostics[0]: query is not PromQL: unbalanced square"
        in out.getvalue()
    )
    (tmp_path / "bad.yaml").write_text("a: [")
    assert runbook_cli.validate_files([tmp_path / "bad.yaml"], io.StringIO()) == 1
