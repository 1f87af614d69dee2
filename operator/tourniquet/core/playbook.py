"""The rest of the playbook as pure steps on a Draft: the commander's acknowledgement,
roles and handovers, comms cadence, the first-15-minutes checklist, the postmortem.

Deadlines come from the severity policy the platform team owns (severity_policy);
nothing here reads the clock or the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tourniquet.api.vocabulary import ConditionType, Observed, Reason
from tourniquet.core import postmortem
from tourniquet.core.clock import format_time, parse_time, seconds_between
from tourniquet.core.conditions import get_condition
from tourniquet.core.draft import Draft
from tourniquet.core.severity_policy import (
    SeverityPolicy,
    SeverityRule,
    acknowledge_by,
    checklist_due,
    is_overdue,
    next_update_due,
    postmortem_due,
    status_view,
)

ROLE_NAMES = ("commander", "comms", "operations", "scribe")


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    title: str
    manual: bool  # ticked by a responder in spec.checklist, with their own user name


# The first 15 minutes, in the playbook's order.
CHECKLIST = (
    ChecklistItem("commanderDeclared", "Incident Commander declared", manual=False),
    ChecklistItem("pageAcknowledged", "Page acknowledged by the Incident Commander", manual=False),
    ChecklistItem("bridgeOpened", "Bridge opened", manual=True),
    ChecklistItem("severityAssigned", "Severity assigned", manual=False),
    ChecklistItem("statusPageUpdated", "Status page updated", manual=True),
    ChecklistItem("recentDeployIdentified", "Most recent deploy identified", manual=False),
    ChecklistItem("rollbackConsidered", "Rollback considered before any code change", manual=False),
    ChecklistItem("customerSupportBriefed", "Customer support told what to say", manual=True),
)


def rule_for(d: Draft, policy: SeverityPolicy) -> SeverityRule:
    return policy.rules.get(d.severity) or policy.rules["SEV3"]


def _declared_at(d: Draft) -> datetime:
    return parse_time(d.status.get("declaredAt")) or d.now


def apply_policy(d: Draft, policy: SeverityPolicy) -> SeverityRule:
    """Record what the policy asks of this incident; a policy change shows up here."""
    rule = rule_for(d, policy)
    d.status["policy"] = status_view(rule)
    return rule


# -- roles ---------------------------------------------------------------------------


def observe_roles(d: Draft) -> None:
    """Validate the roles and record every handover on the timeline."""
    current = {k: v for k, v in (d.spec.get("roles") or {}).items() if k in ROLE_NAMES and v}
    previous = d.status.get("roles")
    if isinstance(previous, dict) and previous != current:
        for role in ROLE_NAMES:
            before, after = previous.get(role), current.get(role)
            if before != after:
                d.record(
                    Reason.ROLE_HANDOVER,
                    f"{role}: {before or 'nobody'} -> {after or 'nobody'}",
                    actor=after,
                    event=Reason.ROLE_HANDOVER,
                )
    d.status["roles"] = current
    commander = current.get("commander")
    if not commander:
        message = (
            "no Incident Commander named: always assign one, even for small incidents "
            "(spec.roles.commander)"
        )
        d.condition(ConditionType.ROLES_VALID, False, Reason.NO_COMMANDER, message)
        d.record(Reason.ROLES_WARNING, message, event=Reason.NO_COMMANDER, warning=True)
    elif current.get("operations") == commander:
        message = (
            f"{commander} is both Incident Commander and Operations Lead: the IC drives the "
            "call and does not type at a terminal; name another operations lead"
        )
        d.condition(ConditionType.ROLES_VALID, False, Reason.COMMANDER_IS_OPERATIONS_LEAD, message)
        d.record(
            Reason.ROLES_WARNING, message, event=Reason.COMMANDER_IS_OPERATIONS_LEAD, warning=True
        )
    else:
        d.condition(
            ConditionType.ROLES_VALID,
            True,
            Reason.ROLES_ASSIGNED,
            f"Incident Commander: {commander}",
        )


# -- acknowledgement -------------------------------------------------------------------


def acknowledge(d: Draft, rule: SeverityRule) -> None:
    """The commander acknowledges the page (status.acknowledgement, checked by the API
    server like an approval); time to acknowledge runs from declaration."""
    deadline = acknowledge_by(_declared_at(d), rule)
    deadlines = dict(d.status.get("deadlines") or {})
    deadlines["acknowledgeBy"] = format_time(deadline)
    d.status["deadlines"] = deadlines
    ack = d.status.get("acknowledgement")
    by = ack.get("by") if isinstance(ack, dict) else None
    if by and not d.status.get("acknowledgedAt"):
        d.status["acknowledgedAt"] = format_time(d.now)
        tta = seconds_between(_declared_at(d), d.now)
        d.status["timeToAcknowledgeSeconds"] = tta
        d.record(
            Reason.ACKNOWLEDGED,
            f"{by} acknowledged the page ({tta:.0f}s after declaration)",
            actor=str(by),
            event=Reason.ACKNOWLEDGED,
        )
        d.observe(Observed.TIME_TO_ACKNOWLEDGE, tta)
    if d.status.get("acknowledgedAt"):
        d.condition(
            ConditionType.ACKNOWLEDGED,
            True,
            Reason.ACKNOWLEDGED,
            f"acknowledged by {by} at {d.status['acknowledgedAt']}",
        )
    elif is_overdue(deadline, d.now) and not d.spec.get("resolved"):
        message = (
            f"the Incident Commander has not acknowledged; {d.severity} asks for a response "
            f"by {format_time(deadline)}"
        )
        d.condition(ConditionType.ACKNOWLEDGED, False, Reason.ACKNOWLEDGEMENT_OVERDUE, message)
        if d.record(
            Reason.ACKNOWLEDGEMENT_OVERDUE,
            message,
            event=Reason.ACKNOWLEDGEMENT_OVERDUE,
            warning=True,
        ):
            d.observe(Observed.ACKNOWLEDGEMENT_OVERDUE)
    else:
        d.condition(
            ConditionType.ACKNOWLEDGED,
            False,
            Reason.AWAITING_ACKNOWLEDGEMENT,
            f"acknowledge by {format_time(deadline)}",
        )


# -- comms -----------------------------------------------------------------------------


def new_updates(d: Draft) -> list[tuple[int, dict[str, Any]]]:
    """Comms updates not yet forwarded, with their index in spec.updates."""
    updates = [u for u in d.spec.get("updates") or [] if isinstance(u, dict)]
    delivered = int((d.status.get("comms") or {}).get("delivered") or 0)
    return list(enumerate(updates))[delivered:]


def record_updates(d: Draft, forwarded: int) -> None:
    """Put new updates on the timeline; `forwarded` of them reached every webhook."""
    comms = dict(d.status.get("comms") or {})
    for index, update in new_updates(d)[:forwarded]:
        at = parse_time(update.get("at")) or d.now
        # Numbered: two updates may say the same thing, and both belong on the record.
        d.record(
            Reason.COMMS_UPDATE,
            f"update #{index + 1}: {update.get('message', '')}",
            actor=update.get("author"),
            event=Reason.COMMS_UPDATE,
        )
        comms["lastUpdateAt"] = format_time(at)
        comms["delivered"] = int(comms.get("delivered") or 0) + 1
        comms["updates"] = comms["delivered"]
    d.status["comms"] = comms


def track_comms(d: Draft, policy: SeverityPolicy, rule: SeverityRule) -> None:
    """The cadence: the first update within minutes of declaration, then every N."""
    comms = dict(d.status.get("comms") or {})
    comms.setdefault("delivered", 0)
    last = parse_time(comms.get("lastUpdateAt"))
    due = next_update_due(_declared_at(d), last, rule, policy)
    if due is None or d.spec.get("resolved"):
        comms.pop("nextUpdateDue", None)
        comms["overdue"] = False
        d.status["comms"] = comms
        d.condition(
            ConditionType.COMMS_ON_TRACK, True, Reason.NO_UPDATE_DUE, "no comms update is due"
        )
        return
    comms["nextUpdateDue"] = format_time(due)
    overdue = is_overdue(due, d.now)
    comms["overdue"] = overdue
    d.status["comms"] = comms
    if overdue:
        kind = "first update" if last is None else "update"
        message = (
            f"comms {kind} overdue since {format_time(due)}: post to the status page and the "
            "incidents channel, even if only 'we are investigating'"
        )
        d.condition(ConditionType.COMMS_ON_TRACK, False, Reason.COMMS_OVERDUE, message)
        if d.record(Reason.COMMS_OVERDUE, message, event=Reason.COMMS_OVERDUE, warning=True):
            d.observe(Observed.COMMS_OVERDUE)
    else:
        d.condition(
            ConditionType.COMMS_ON_TRACK,
            True,
            Reason.ON_SCHEDULE,
            f"next update due {format_time(due)}",
        )


# -- the first 15 minutes --------------------------------------------------------------


def _auto_tick(d: Draft, item: str) -> tuple[bool, str | None]:
    roles = d.spec.get("roles") or {}
    if item == "commanderDeclared":
        return bool(roles.get("commander")), roles.get("commander")
    if item == "pageAcknowledged":
        ack = d.status.get("acknowledgement")
        return bool(d.status.get("acknowledgedAt")), (ack or {}).get("by")
    if item == "severityAssigned":
        return bool(d.spec.get("severity")), None
    if item == "recentDeployIdentified":
        identified = d.suspect is not None or (
            get_condition(d.status.get("conditions"), ConditionType.SUSPECT_IDENTIFIED) is not None
        )
        return identified, None
    if item == "rollbackConsidered":
        # Offered for undo (or already acted on), or found impossible: it was considered.
        return d.mitigation is not None or (
            d.suspect is not None and "previousRevision" not in d.suspect
        ), None
    return False, None


def track_checklist(d: Draft, policy: SeverityPolicy) -> None:
    due = checklist_due(_declared_at(d), policy)
    deadlines = dict(d.status.get("deadlines") or {})
    deadlines["checklistDue"] = format_time(due)
    d.status["deadlines"] = deadlines
    previous = {i.get("item"): i for i in d.status.get("checklist") or [] if isinstance(i, dict)}
    ticks = d.spec.get("checklist") or {}
    items = []
    late_now = []
    for spec_item in CHECKLIST:
        before = previous.get(spec_item.item) or {}
        if spec_item.manual:
            by = ticks.get(spec_item.item)
            done = bool(by)
        else:
            done, by = _auto_tick(d, spec_item.item)
        entry: dict[str, Any] = {"item": spec_item.item, "title": spec_item.title, "done": done}
        if done:
            entry["at"] = before.get("at") or format_time(d.now)
            if by:
                entry["by"] = by
            if not before.get("done"):
                d.record(Reason.CHECKLIST_TICKED, spec_item.title, actor=by)
        # After the all-clear nothing is "late" any more: the checklist is history.
        late = bool(before.get("late")) or (
            not done and is_overdue(due, d.now) and not d.spec.get("resolved")
        )
        if late:
            entry["late"] = True
            if not before.get("late"):
                late_now.append(spec_item)
        items.append(entry)
    d.status["checklist"] = items
    for item in late_now:
        message = f"checklist item still open after the first minutes: {item.title}"
        if d.record(
            Reason.CHECKLIST_ITEM_LATE, message, event=Reason.CHECKLIST_ITEM_LATE, warning=True
        ):
            d.observe(Observed.CHECKLIST_ITEM_LATE, reason=item.item)
    open_items = [i["title"] for i in items if not i["done"]]
    if not open_items:
        d.condition(
            ConditionType.CHECKLIST_COMPLETE, True, Reason.CHECKLIST_COMPLETE, "every item done"
        )
    elif any(i.get("late") and not i["done"] for i in items):
        d.condition(
            ConditionType.CHECKLIST_COMPLETE,
            False,
            Reason.CHECKLIST_ITEMS_LATE,
            "late: " + ", ".join(i["title"] for i in items if i.get("late") and not i["done"]),
        )
    else:
        d.condition(
            ConditionType.CHECKLIST_COMPLETE,
            False,
            Reason.CHECKLIST_IN_PROGRESS,
            f"open until {format_time(due)}: " + ", ".join(open_items),
        )


# -- postmortem ------------------------------------------------------------------------


def track_postmortem(d: Draft, rule: SeverityRule) -> None:
    """Once resolved: the draft is rendered (by the shell), completion is checked, the
    Incident closes when responders finished it, and lateness is reported."""
    resolved_at = parse_time(d.status.get("resolvedAt"))
    if resolved_at is None:
        return
    body = d.snapshot()
    missing = postmortem.missing_sections(body)
    due = postmortem_due(resolved_at, rule)
    items = postmortem.action_items(body, d.now)
    state: dict[str, Any] = {
        "configMap": postmortem.configmap_name(d.name),
        "due": format_time(due),
        "complete": not missing,
        "actionItemsOpen": sum(1 for i in items if not i.done),
        "actionItemsOverdue": sum(1 for i in items if i.overdue),
    }
    if missing:
        state["missing"] = missing
    d.status["postmortem"] = state
    if not missing:
        d.condition(
            ConditionType.POSTMORTEM_COMPLETE,
            True,
            Reason.POSTMORTEM_COMPLETE,
            "the postmortem is complete",
        )
        if not d.status.get("closedAt"):
            d.status["closedAt"] = format_time(d.now)
            d.record(Reason.CLOSED, "postmortem complete: incident closed", event=Reason.CLOSED)
    else:
        if is_overdue(due, d.now):
            message = f"postmortem overdue since {format_time(due)}; still missing: " + ", ".join(
                missing
            )
            d.condition(
                ConditionType.POSTMORTEM_COMPLETE, False, Reason.POSTMORTEM_OVERDUE, message
            )
            d.record(
                Reason.POSTMORTEM_OVERDUE, message, event=Reason.POSTMORTEM_OVERDUE, warning=True
            )
        else:
            d.condition(
                ConditionType.POSTMORTEM_COMPLETE,
                False,
                Reason.POSTMORTEM_INCOMPLETE,
                f"due {format_time(due)}; missing: " + ", ".join(missing),
            )
    for item in items:
        if item.overdue:
            d.record(
                Reason.ACTION_ITEM_OVERDUE,
                f"action item past due: {item.title} (owner {item.owner}, due {item.due})",
                event=Reason.ACTION_ITEM_OVERDUE,
                warning=True,
            )


def is_drill(d: Draft) -> bool:
    return bool(d.spec.get("drill"))
