"""Runbooks as data: validating them, matching alerts to them, linking them to incidents,
and coverage (the alerts no runbook answers). Pure: no Kubernetes I/O.

An alert matches a runbook entry (``spec.alerts[]``) when its alertname is the entry's
and every matcher holds, with Alertmanager's semantics: a missing label is the empty
string, and a regex must match the whole value (RE2). When several runbooks answer
an alert, the entry with the most matchers wins; ties go to the runbook in the alert's
own ``namespace`` label, then by namespace and name, so the choice never depends on
the order the API server lists them in.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tourniquet.api.models import RunbookSpec, compile_label_regex
from tourniquet.api.names import ALERT_STATUS, ALERT_STATUS_AT, AUTO_RESOLVE, SEVERITY_SOURCE
from tourniquet.api.vocabulary import ConditionType, Reason
from tourniquet.core.clock import format_time
from tourniquet.core.conditions import get_condition
from tourniquet.core.projections import mapping, text

if TYPE_CHECKING:
    from tourniquet.core.draft import Draft

# Runbook condition types and reasons.

# Incident condition type for the link.

# Written on Incidents by the alert receiver, read by link_runbook (annotations, so the
# receiver never races the operator's status writes).

USED_BY_LIMIT = 20


@dataclass(frozen=True)
class Problem:
    """Why a runbook is not valid: a condition reason and a message."""

    reason: str
    message: str


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(loc: Sequence[int | str]) -> str:
    first = loc[0] if loc else ""
    return {
        "alerts": Reason.INVALID_MATCHER,
        "diagnostics": Reason.INVALID_QUERY,
        "scope": Reason.INVALID_SELECTOR,
    }.get(str(first), Reason.INVALID_SPEC)


def validate(spec: object) -> list[Problem]:
    """What is wrong with a runbook's spec, by the same rules the API server applies
    (the CRD's schema and CEL, mirrored by the models). Empty: it is valid."""
    if not isinstance(spec, Mapping):
        return [Problem(Reason.INVALID_SPEC, "spec must be an object")]
    try:
        RunbookSpec.model_validate(spec)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            where = _path(error["loc"])
            problems.append(
                Problem(_reason(error["loc"]), f"spec.{where}: {message}" if where else message)
            )
        return problems
    return []


@dataclass(frozen=True)
class RunbookView:
    """What the operator keeps of a Runbook: its spec and whether it is usable."""

    namespace: str
    name: str
    spec: Mapping[str, Any]
    generation: int | None = None
    resource_version: str | None = None
    problems: tuple[Problem, ...] = ()
    used_by: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def alerts(self) -> list[Mapping[str, Any]]:
        return [ref for ref in self.spec.get("alerts") or [] if isinstance(ref, Mapping)]


def runbook_view(body: Mapping[str, Any]) -> RunbookView:
    """Project a Runbook body. Never raises: a malformed one is a view with problems."""
    metadata = mapping(body.get("metadata"))
    spec = body.get("spec")
    generation = metadata.get("generation")
    status = mapping(body.get("status"))
    uses = status.get("usedBy")
    used_by = tuple(
        text(mapping(use).get("incident")) for use in (uses if isinstance(uses, list) else [])
    )
    return RunbookView(
        namespace=text(metadata.get("namespace")),
        name=text(metadata.get("name")),
        spec=copy.deepcopy(dict(spec)) if isinstance(spec, Mapping) else {},
        generation=generation if isinstance(generation, int) else None,
        resource_version=text(metadata.get("resourceVersion")) or None,
        problems=tuple(validate(spec)),
        used_by=used_by,
    )


# --- status of a Runbook ------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """A Runbook's status conditions as the operator sees them, and the Event to post
    when the verdict changed."""

    valid: bool
    reason: str
    message: str
    event: tuple[str, str, str] | None  # (type, reason, message)


def assess(view: RunbookView, old_conditions: Sequence[Any] | None) -> Assessment:
    if view.valid:
        alerts = view.alerts
        reason: str = Reason.VALID
        names = ", ".join(sorted({text(ref.get("alertname")) for ref in alerts}))
        message = (
            f"answers {len(alerts)} alert matcher(s){f' ({names})' if names else ''}; "
            f"{len(view.spec.get('diagnostics') or [])} diagnostic(s), "
            f"{len(view.spec.get('mitigations') or [])} mitigation(s)"
        )
        if not alerts:
            message += "; answers no alert: only incidents naming it in spec.runbookRef use it"
    else:
        reason = view.problems[0].reason
        message = "; ".join(p.message for p in view.problems)[:4096]
    previous = get_condition(old_conditions, ConditionType.VALID)
    event: tuple[str, str, str] | None = None
    status = "True" if view.valid else "False"
    if previous is None or (previous.get("status"), previous.get("reason")) != (status, reason):
        if view.valid:
            if previous is not None:  # was invalid, fixed now
                event = ("Normal", Reason.VALID, f"runbook is valid: {message}")
        else:
            event = ("Warning", reason, f"runbook is not valid: {message}")
    elif not view.valid and previous.get("message") != message:
        event = ("Warning", reason, f"runbook is not valid: {message}")
    return Assessment(view.valid, reason, message, event)


def record_use(
    status: Mapping[str, Any] | None,
    incident: str,
    at: datetime,
    alertname: str | None = None,
    limit: int = USED_BY_LIMIT,
) -> dict[str, Any] | None:
    """The status fields to write when ``incident`` used the runbook; None when it is
    already recorded. Keeps the ``limit`` most recent uses."""
    used = [dict(u) for u in mapping(status).get("usedBy") or [] if isinstance(u, Mapping)]
    if any(u.get("incident") == incident for u in used):
        return None
    use: dict[str, Any] = {"incident": incident, "at": format_time(at)}
    if alertname:
        use["alertname"] = alertname[:253]
    used.append(use)
    return {"usedBy": used[-limit:], "lastUsedAt": format_time(at)}


# --- matching alerts -------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    return compile_label_regex(pattern)


def _holds(labels: Mapping[str, str], matcher: Mapping[str, Any]) -> bool:
    value = labels.get(text(matcher.get("label")), "")  # Alertmanager: missing is ""
    wanted = text(matcher.get("value"))
    operator = matcher.get("operator")
    if operator == "Equals":
        return value == wanted
    if operator == "NotEquals":
        return value != wanted
    if operator in ("Matches", "NotMatches"):
        try:
            found = _regex(wanted).search(value) is not None
        except ValueError:
            return False  # an invalid runbook never matches
        return found if operator == "Matches" else not found
    return False


def ref_matches(ref: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether an alert with ``labels`` is one that ``ref`` (a spec.alerts entry) answers."""
    if labels.get("alertname") != ref.get("alertname"):
        return False
    equal = mapping(ref.get("matchers"))
    if any(labels.get(str(k), "") != v for k, v in equal.items()):
        return False
    expressions = ref.get("matchExpressions") or []
    return all(isinstance(m, Mapping) and _holds(labels, m) for m in expressions)


def specificity(ref: Mapping[str, Any]) -> int:
    return 1 + len(mapping(ref.get("matchers"))) + len(ref.get("matchExpressions") or [])


@dataclass(frozen=True)
class Match:
    """The runbook (and its entry) that answers an alert, and the labels it matched."""

    runbook: RunbookView
    ref: Mapping[str, Any]
    labels: Mapping[str, str]


def find_runbook(
    runbooks: Iterable[RunbookView],
    label_sets: Sequence[Mapping[str, str]],
    default_namespace: str,
) -> Match | None:
    """The runbook answering the first label set that any valid runbook answers.

    A Runbook answers alerts of its own namespace only: the alert's `namespace` label, or
    `default_namespace` (where incidents of alerts without one go). A team's runbook can
    never capture, and so re-scope or re-assign, another namespace's alert."""
    # Indexed by (namespace, alertname), the two things every entry must equal: a group of
    # thousands of alerts is checked against the few entries that can answer each alert,
    # not against every runbook.
    index: dict[tuple[str, object], list[tuple[RunbookView, Mapping[str, Any]]]] = {}
    for rb in runbooks:
        if rb.valid:
            for ref in rb.alerts:
                index.setdefault((rb.namespace, ref.get("alertname")), []).append((rb, ref))
    for labels in label_sets:
        home = labels.get("namespace") or default_namespace
        candidates = [
            (rb, ref)
            for rb, ref in index.get((home, labels.get("alertname")), ())
            if ref_matches(ref, labels)
        ]
        if candidates:
            rb, ref = min(candidates, key=lambda c: (-specificity(c[1]), c[0].name))
            return Match(rb, ref, labels)
    return None


# --- linking a runbook to an incident ---------------------------------------------------------


def ref_name(spec: Mapping[str, Any]) -> str | None:
    name = mapping(spec.get("runbookRef")).get("name")
    return name if isinstance(name, str) and name else None


def linked_copy(runbook: RunbookView) -> dict[str, Any]:
    """status.runbook: what to check and what to try, copied from the runbook."""
    spec = runbook.spec
    result: dict[str, Any] = {"name": runbook.name}
    if runbook.generation is not None:
        result["generation"] = runbook.generation
    result["title"] = spec.get("title")
    for key in ("severity", "diagnostics", "mitigations", "owners", "links"):
        if spec.get(key):
            result[key] = copy.deepcopy(spec[key])
    return result


def summary(linked: Mapping[str, Any]) -> str:
    """The runbook in one message (an Event, a timeline entry): queries, then mitigations."""
    parts = [f"runbook {linked.get('name')}: {linked.get('title')}"]
    diagnostics = [
        f"({i}) {d.get('description')}: {d.get('query')}"
        for i, d in enumerate(linked.get("diagnostics") or [], 1)
    ]
    if diagnostics:
        parts.append("check " + " ".join(diagnostics))
    mitigations = [
        f"({i}) {m.get('action')}: {m.get('description')}"
        for i, m in enumerate(linked.get("mitigations") or [], 1)
    ]
    if mitigations:
        parts.append("try " + " ".join(mitigations))
    if linked.get("owners"):
        parts.append("owners " + ", ".join(linked["owners"]))
    return "; ".join(parts)


def link_runbook(d: Draft, runbooks: Mapping[tuple[str, str], RunbookView]) -> None:
    """Copy the linked runbook (spec.runbookRef) into status.runbook, so its diagnostic
    queries and mitigations are on the Incident at once; and put what Alertmanager said
    about the alert on the timeline. ``runbooks`` maps (namespace, name) to the runbooks
    the operator sees."""
    _note_alert(d)
    name = ref_name(d.spec)
    if name is None:
        if mapping(d.spec.get("alert")):
            alertname = mapping(d.spec.get("alert")).get("alertname") or "the alert"
            d.record(
                Reason.NO_RUNBOOK,
                f"no Runbook answers {alertname}: an alert without a runbook is a tuning "
                "problem; add one (kubectl get runbooks, tourniquet runbooks uncovered)",
                event=Reason.NO_RUNBOOK,
                warning=True,
            )
        return
    if d.spec.get("resolved"):
        return  # after the all-clear the copy stays as it was used
    runbook = runbooks.get((d.namespace, name))
    current = mapping(d.status.get("runbook"))
    if runbook is None:
        if current.get("name") != name:
            d.condition(
                Reason.RUNBOOK_LINKED,
                False,
                Reason.RUNBOOK_NOT_FOUND,
                f"runbook {name} not found in namespace {d.namespace}",
            )
        return
    if not runbook.valid:
        if current.get("name") != name:
            d.condition(
                Reason.RUNBOOK_LINKED,
                False,
                Reason.RUNBOOK_INVALID,
                f"runbook {name} is not valid: {runbook.problems[0].message}",
            )
        return
    linked = linked_copy(runbook)
    if current == linked:
        return
    first = current.get("name") != name
    d.status["runbook"] = linked
    d.condition(
        Reason.RUNBOOK_LINKED,
        True,
        Reason.RUNBOOK_LINKED,
        f"runbook {name} (generation {runbook.generation}): "
        f"{len(linked.get('diagnostics') or [])} diagnostic(s), "
        f"{len(linked.get('mitigations') or [])} mitigation(s) in status.runbook",
    )
    kind = Reason.RUNBOOK_LINKED if first else Reason.RUNBOOK_UPDATED
    d.record(
        kind,
        summary(linked) if first else f"runbook {name} changed (generation {runbook.generation})",
        event=kind,
    )


def _note_alert(d: Draft) -> None:
    alert = mapping(d.spec.get("alert"))
    if not alert:
        return
    annotations = mapping(d.metadata.get("annotations"))
    alertname = alert.get("alertname") or "alert group"
    source = annotations.get(SEVERITY_SOURCE)
    # Only what cannot change goes in the message: the timeline keeps it once.
    d.record(
        Reason.ALERT_FIRING,
        f"{alertname} firing ({alert.get('firing', '?')} alert(s)) since "
        f"{alert.get('startsAt', '?')}, from Alertmanager receiver {alert.get('receiver')}"
        + (f"; declared {source}" if source else ""),
        event=Reason.DECLARED_FROM_ALERT,
    )
    status, at = annotations.get(ALERT_STATUS), annotations.get(ALERT_STATUS_AT)
    if status == "resolved" and at:
        d.record(
            Reason.ALERT_RESOLVED,
            f"Alertmanager reports {alertname} resolved at {at}"
            + ("" if d.spec.get("resolved") else "; the Incident Commander gives the all-clear"),
            event=Reason.ALERT_RESOLVED,
        )
    elif status == "firing" and at:
        d.record(
            Reason.ALERT_FIRING,
            f"{alertname} firing again at {at}",
            event=Reason.ALERT_FIRING_AGAIN,
        )
    refused = annotations.get(AUTO_RESOLVE)
    if refused:
        d.record(
            Reason.AUTO_RESOLVE_REFUSED,
            f"the alert resolved but the all-clear was not given automatically: {refused}",
            event=Reason.AUTO_RESOLVE_REFUSED,
            warning=True,
        )


# --- coverage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UncoveredRule:
    """A PrometheusRule alerting rule no runbook answers."""

    namespace: str
    rule: str
    group: str
    alert: str
    severity: str


def _static(value: object) -> str | None:
    """A rule label's value when it is static (not a template expanded per alert)."""
    return value if isinstance(value, str) and "{{" not in value else None


def rule_covered(alert: str, labels: Mapping[str, Any], runbooks: Iterable[RunbookView]) -> bool:
    """Whether some valid runbook may answer the rule's alerts: its alertname matches and
    no matcher contradicts the rule's static labels (labels that come from the series are
    unknown until the alert fires, so they are given the benefit of the doubt)."""
    static = {k: v for k, v in labels.items() if _static(v) is not None}
    for runbook in runbooks:
        if not runbook.valid:
            continue
        for ref in runbook.alerts:
            if ref.get("alertname") != alert:
                continue
            equal = mapping(ref.get("matchers"))
            if any(k in static and static[k] != v for k, v in equal.items()):
                continue
            expressions = [m for m in ref.get("matchExpressions") or [] if isinstance(m, Mapping)]
            if any(m.get("label") in static and not _holds(static, m) for m in expressions):
                continue
            return True
    return False


def uncovered_rules(
    rules: Iterable[Mapping[str, Any]], runbooks: Sequence[RunbookView]
) -> list[UncoveredRule]:
    """The alerting rules of PrometheusRule objects that no runbook answers."""
    found = []
    for obj in rules:
        metadata = mapping(obj.get("metadata"))
        for group in mapping(obj.get("spec")).get("groups") or []:
            group = mapping(group)
            for rule in group.get("rules") or []:
                rule = mapping(rule)
                alert = rule.get("alert")
                if not isinstance(alert, str) or not alert:
                    continue  # a recording rule
                labels = mapping(rule.get("labels"))
                if not rule_covered(alert, labels, runbooks):
                    found.append(
                        UncoveredRule(
                            namespace=text(metadata.get("namespace")),
                            rule=text(metadata.get("name")),
                            group=text(group.get("name")),
                            alert=alert,
                            severity=text(labels.get("severity")),
                        )
                    )
    return sorted(found, key=lambda r: (r.namespace, r.rule, r.group, r.alert))


@dataclass(frozen=True)
class UnansweredAlert:
    """An alert that declared an incident with no runbook."""

    namespace: str
    incident: str
    alertname: str
    severity: str
    declared_at: str


def alerts_without_runbook(incidents: Iterable[Mapping[str, Any]]) -> list[UnansweredAlert]:
    found = []
    for obj in incidents:
        spec = mapping(obj.get("spec"))
        alert = mapping(spec.get("alert"))
        if not alert or ref_name(spec):
            continue
        metadata = mapping(obj.get("metadata"))
        found.append(
            UnansweredAlert(
                namespace=text(metadata.get("namespace")),
                incident=text(metadata.get("name")),
                alertname=text(alert.get("alertname")) or "(none)",
                severity=text(spec.get("severity")),
                declared_at=text(metadata.get("creationTimestamp")),
            )
        )
    return sorted(found, key=lambda a: (a.alertname, a.namespace, a.declared_at, a.incident))
