"""What the plugin prints, from Incident objects as the API server returns them: the
`status` screen (who must do what next, with the command to type, and the deadlines),
the `list` table and the `timeline`. Pure: `now` is passed in."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.api.vocabulary import OPEN_PHASES, ConditionType, MitigationResult, Phase, Reason
from tourniquet.cli.kubectl_incident.grammar import checklist_items
from tourniquet.core.clock import format_time, parse_time, seconds_between
from tourniquet.core.postmortem import format_duration, merged_timeline
from tourniquet.core.record import parse_record

OPERATOR = "tourniquet"
RECENT_ENTRIES = 5
#: The status screen shows the start of long messages; `timeline` shows them whole.
MESSAGE_WIDTH = 90


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Step:
    """Something someone must do next: who, what, the command to type, by when."""

    who: str
    what: str
    command: str | None = None
    due: datetime | None = None


class View:
    """One Incident, read as the API server returned it."""

    def __init__(self, incident: Mapping[str, Any]) -> None:
        self.metadata = _map(incident.get("metadata"))
        self.spec = _map(incident.get("spec"))
        self.status = _map(incident.get("status"))
        self.raw = incident

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        return _str(self.metadata.get("namespace"))

    @property
    def phase(self) -> str:
        return _str(self.status.get("phase")) or Phase.DECLARED.value

    @property
    def is_open(self) -> bool:
        return self.phase in {p.value for p in OPEN_PHASES} and not self.spec.get("resolved")

    @property
    def roles(self) -> Mapping[str, Any]:
        return _map(self.spec.get("roles"))

    @property
    def commander(self) -> str | None:
        return _str(self.roles.get("commander"))

    @property
    def suspect(self) -> Mapping[str, Any]:
        return _map(self.status.get("suspect"))

    @property
    def mitigation(self) -> Mapping[str, Any]:
        return _map(self.status.get("mitigation"))

    @property
    def approval(self) -> Mapping[str, Any]:
        return _map(self.status.get("approval"))

    @property
    def acknowledged(self) -> bool:
        return bool(_map(self.status.get("acknowledgement")).get("by"))

    def condition(self, type_: str) -> Mapping[str, Any]:
        for c in self.status.get("conditions") or []:
            if isinstance(c, Mapping) and c.get("type") == type_:
                return c
        return {}

    def command(self, verb: str, *words: str) -> str:
        ns = ["-n", self.namespace] if self.namespace else []
        return shlex.join(["kubectl", "incident", verb, self.name, *ns, *words])

    def open_ticks(self) -> list[str]:
        ticked = _map(self.spec.get("checklist"))
        return [item for item in checklist_items() if not ticked.get(item)]


def suspect_text(suspect: Mapping[str, Any]) -> str:
    """`Deployment/api revision 7`: the suspect as the admission policy names it."""
    kind = _str(suspect.get("kind")) or "Deployment"
    return f"{kind}/{suspect.get('name')} revision {suspect.get('revision')}"


# -- who must do what next ---------------------------------------------------------------


def _mitigation_steps(v: View) -> list[Step]:
    commander = v.commander or "the commander"
    suspect, mitigation, result = v.suspect, v.mitigation, v.mitigation.get("result")
    if result == MitigationResult.IN_PROGRESS:
        target = f"{mitigation.get('kind') or 'Deployment'}/{mitigation.get('name')}"
        what = f"undo {target} to revision {mitigation.get('toRevision')} and follow its rollout"
        return [Step(OPERATOR, what, v.command("status", "-w"))]
    if result == MitigationResult.FAILED:
        what = f"the undo failed ({mitigation.get('reason')}): mitigate by hand"
        return [Step(commander, what)]
    if result == MitigationResult.SUCCEEDED or v.phase == Phase.MITIGATED:
        return [
            Step(commander, "give the all-clear once the service is healthy", v.command("resolve"))
        ]
    if not suspect:
        found = v.condition(ConditionType.SUSPECT_IDENTIFIED)
        if found.get("reason") == Reason.NO_RECENT_ROLLOUT:
            return [Step(commander, "no rollout in scope to undo: mitigate by hand")]
        return [Step(OPERATOR, "find the suspect rollout in scope")]
    if suspect.get("previousRevision") is None:
        return [
            Step(commander, f"{suspect_text(suspect)} has no previous revision: mitigate by hand")
        ]
    undo = (
        f"approve the undo of {suspect_text(suspect)} "
        f"(back to revision {suspect.get('previousRevision')})"
    )
    if result == MitigationResult.REFUSED:
        why = (
            f"the undo was refused ({mitigation.get('reason')}): {mitigation.get('message') or ''}"
        )
        return [
            Step(commander, why.strip().rstrip(":")),
            Step(commander, undo, v.command("approve")),
        ]
    if v.approval:
        return [Step(OPERATOR, f"act on {v.approval.get('approvedBy')}'s approval")]
    return [Step(commander, undo, v.command("approve"))]


def next_steps(incident: Mapping[str, Any]) -> list[Step]:
    """Who must do what next, in the playbook's order; the command to type for each."""
    v = View(incident)
    deadlines = _map(v.status.get("deadlines"))
    if v.phase == Phase.CLOSED:
        return []
    if not v.is_open:
        postmortem = _map(v.status.get("postmortem"))
        missing = ", ".join(str(m) for m in postmortem.get("missing") or [])
        what = "complete the postmortem in spec.postmortem" + (
            f" (missing: {missing})" if missing else ""
        )
        return [
            Step("responders", what, v.command("postmortem"), parse_time(postmortem.get("due")))
        ]
    steps: list[Step] = []
    if not v.commander:
        steps.append(
            Step("a holder of approve", "name an Incident Commander", v.command("handover", "USER"))
        )
    elif not v.acknowledged:
        due = parse_time(deadlines.get("acknowledgeBy"))
        steps.append(Step(v.commander, "acknowledge the page", v.command("ack"), due))
    steps.extend(_mitigation_steps(v))
    comms = _map(v.status.get("comms"))
    due = parse_time(comms.get("nextUpdateDue"))
    if due is not None:
        who = _str(v.roles.get("comms")) or v.commander or "the comms lead"
        which = "next" if comms.get("updates") else "first"
        what = f"post the {which} update" + (" (overdue)" if comms.get("overdue") else "")
        steps.append(Step(who, what, v.command("update", "MESSAGE"), due))
    ticks = v.open_ticks()
    if ticks:
        what = "tick " + ", ".join(ticks) + " when done"
        due = parse_time(deadlines.get("checklistDue"))
        steps.append(Step("responders", what, v.command("tick", ticks[0]), due))
    return steps


# -- formatting ----------------------------------------------------------------------------


def relative(moment: datetime | None, now: datetime) -> str:
    """`2026-11-27T10:05:00Z (in 3m 0s)` or `(... ago)`."""
    if moment is None:
        return "-"
    if moment >= now:
        return f"{format_time(moment)} (in {format_duration(seconds_between(now, moment))})"
    return f"{format_time(moment)} ({format_duration(seconds_between(moment, now))} ago)"


def _due(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    if moment >= now:
        return f"due in {format_duration(seconds_between(now, moment))}"
    return f"OVERDUE by {format_duration(seconds_between(moment, now))}"


def age(moment: datetime | None, now: datetime) -> str:
    return format_duration(seconds_between(moment, now)).split(" ")[0] if moment else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as kubectl prints them: left-aligned, three spaces apart."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def owner_text(value: object) -> str:
    """A GitOps owner as status.suspect.owner or status.mitigation.gitops records it."""
    owner = _map(value)
    if not owner:
        return ""
    name = "/".join(str(owner[k]) for k in ("namespace", "name") if owner.get(k))
    tool = "Argo CD" if owner.get("tool") == "ArgoCD" else owner.get("tool")
    return " ".join(str(p) for p in (tool, owner.get("kind"), name) if p)


def gitops_owner(incident: Mapping[str, Any]) -> str | None:
    """The GitOps controller that applies the suspect, when the operator recorded one:
    who it is, whether this incident suspended it, and how to resume it."""
    v = View(incident)
    suspended = _map(v.mitigation.get("gitops"))
    owner = suspended or _map(v.suspect.get("owner"))
    if not owner:
        return None
    text = owner_text(owner)
    if suspended.get("resumedAt"):
        return text + f" (suspended by this incident, resumed {suspended['resumedAt']})"
    if suspended.get("suspendedAt"):
        resume = _str(suspended.get("resumeCommand"))
        return text + " (suspended by this incident" + (f"; resume: {resume})" if resume else ")")
    if suspended.get("notSuspended"):
        return text + f" (not suspended: {suspended['notSuspended']})"
    if owner.get("reconciles") is False:
        return text + " (suspended)"
    return text + " (reconciles from git: approving suspends it first)"


def _roles_line(v: View) -> str:
    others = [
        f"{role} {v.roles[role]}" for role in ("comms", "operations", "scribe") if v.roles.get(role)
    ]
    return ", ".join(others) or "-"


def _mitigation_line(v: View) -> str:
    m = v.mitigation
    if not m:
        return "-"
    head = str(m.get("result", "-")) + (f" ({m['reason']})" if m.get("reason") else "")
    if m.get("fromRevision") and m.get("toRevision"):
        target = f"{m.get('kind') or 'Deployment'}/{m.get('name')}"
        head += f": {target} revision {m['fromRevision']} -> {m['toRevision']}"
    return head


def _measured(v: View) -> str:
    parts = [
        f"{label} {format_duration(float(v.status[key]))}"
        for label, key in (
            ("acknowledged in", "timeToAcknowledgeSeconds"),
            ("mitigated in", "timeToMitigateSeconds"),
            ("resolved in", "timeToResolveSeconds"),
        )
        if isinstance(v.status.get(key), int | float)
    ]
    return ", ".join(parts)


def status_screen(incident: Mapping[str, Any], now: datetime) -> str:
    """One screen: what is going on, who must do what next, and by when."""
    v = View(incident)
    created = parse_time(v.metadata.get("creationTimestamp"))
    drill = " [drill]" if v.spec.get("drill") else ""
    where = f" in {v.namespace}" if v.namespace else ""
    lines = [
        f"{v.name}{where}: {v.spec.get('severity', '?')} {v.phase}{drill}: "
        f"{v.spec.get('title', '')}",
        "",
    ]

    def row(label: str, text: str) -> None:
        lines.append(f"  {label:<12}{text}")

    acked = _map(v.status.get("acknowledgement")).get("by")
    row(
        "Commander",
        (v.commander or "NONE")
        + (f" (acknowledged by {acked})" if acked else " (not acknowledged)"),
    )
    row("Roles", _roles_line(v))
    row("Declared", relative(parse_time(v.status.get("declaredAt")) or created, now))
    if v.suspect:
        s = v.suspect
        previous = f", undo returns to {s['previousRevision']}" if s.get("previousRevision") else ""
        row(
            "Suspect",
            f"{suspect_text(s)}{previous}, "
            f"rolled out {relative(parse_time(s.get('rolledOutAt')), now)}",
        )
        if s.get("change"):
            row("", f"change: {s['change']}")
    else:
        row("Suspect", "not identified yet")
    gitops = gitops_owner(incident)
    if gitops:
        row("GitOps", gitops)
    a = v.approval
    if a:
        row(
            "Approval",
            f"{a.get('approvedBy')} approved "
            f"{a.get('kind') or 'Deployment'}/{a.get('name')} revision {a.get('revision')}",
        )
    row("Mitigation", _mitigation_line(v))
    message = _str(v.mitigation.get("message"))
    if message and v.mitigation.get("result") in (
        MitigationResult.REFUSED,
        MitigationResult.FAILED,
    ):
        row("", message)
    measured = _measured(v)
    if measured:
        row("Measured", measured)
    runbook = _map(v.status.get("runbook"))
    if runbook:
        row(
            "Runbook",
            str(runbook.get("name", ""))
            + (f": {runbook['title']}" if runbook.get("title") else ""),
        )

    steps = next_steps(incident)
    lines += ["", "Next:" if steps else "Next: nothing, the incident is closed."]
    for step in steps:
        due = _due(step.due, now)
        lines.append(f"  {step.who:<12}{step.what}" + (f"  [{due}]" if due else ""))
        if step.command:
            lines.append(f"  {'':<12}$ {step.command}")

    deadlines = _deadlines(v, now)
    if deadlines:
        lines += ["", "Deadlines:"]
        lines += [f"  {label:<14}{relative(at, now)}" for label, at in deadlines]

    rows = merged_timeline(incident, archived_timeline(incident))[-RECENT_ENTRIES:]
    if rows:
        lines += ["", "Recent:"]
        lines += [
            f"  {format_time(r.at) if r.at else '-':<22}{r.kind:<20}{_clip(r.message)}"
            for r in rows
        ]
    return "\n".join(lines) + "\n"


def _clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _deadlines(v: View, now: datetime) -> list[tuple[str, datetime]]:
    deadlines = _map(v.status.get("deadlines"))
    comms = _map(v.status.get("comms"))
    postmortem = _map(v.status.get("postmortem"))
    found: list[tuple[str, datetime | None]] = []
    if v.is_open:
        if not v.acknowledged:
            found.append(("acknowledge", parse_time(deadlines.get("acknowledgeBy"))))
        found.append(("next update", parse_time(comms.get("nextUpdateDue"))))
        if v.open_ticks():
            found.append(("checklist", parse_time(deadlines.get("checklistDue"))))
    elif not postmortem.get("complete"):
        found.append(("postmortem", parse_time(postmortem.get("due"))))
    return [(label, at) for label, at in found if at is not None]


# -- list and timeline ---------------------------------------------------------------------


def incident_list(items: Sequence[Mapping[str, Any]], now: datetime, namespaces: bool) -> str:
    if not items:
        return "No incidents found.\n"
    header = [
        *(["NAMESPACE"] if namespaces else []),
        "NAME",
        "SEVERITY",
        "PHASE",
        "COMMANDER",
        "SUSPECT",
        "NEXT",
        "AGE",
    ]
    rows = []
    for item in items:
        v = View(item)
        steps = next_steps(item)
        nxt = f"{steps[0].who}: {steps[0].what}" if steps else "-"
        suspect = f"{v.suspect.get('name')}@{v.suspect.get('revision')}" if v.suspect else "-"
        rows.append(
            [
                *([v.namespace or ""] if namespaces else []),
                v.name,
                str(v.spec.get("severity", "")),
                v.phase,
                v.commander or "-",
                suspect,
                _clip(nxt, 60),
                age(parse_time(v.metadata.get("creationTimestamp")), now),
            ]
        )
    return table(header, rows)


def archived_timeline(incident: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries the operator moved out of the bounded status.timeline and still holds
    in the annotation (parsed as the operator parses it: defensively). Entries already
    sealed into chunk ConfigMaps are in the postmortem (`kubectl incident postmortem`)."""
    raw = _map(_map(incident.get("metadata")).get("annotations")).get(TIMELINE_ARCHIVE)
    return [dict(entry) for entry in parse_record(raw).entries]


def timeline(incident: Mapping[str, Any]) -> str:
    """The complete record: archived entries, status.timeline and the comms updates."""
    rows = merged_timeline(incident, archived_timeline(incident))
    if not rows:
        return "No timeline entries yet.\n"
    return table(
        ["TIME", "KIND", "ACTOR", "MESSAGE"],
        [[format_time(r.at) if r.at else "-", r.kind, r.actor or "-", r.message] for r in rows],
    )
