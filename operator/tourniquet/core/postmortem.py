"""The blameless postmortem: a Markdown draft rendered from an Incident, and its ConfigMap.

The operator pre-fills what it witnessed (impact window, timeline, suspect, mitigation,
checklist, comms); responders complete the rest in the Incident's spec.postmortem, and
`missing_sections` says what is still to do. Everything here is pure: the Incident is
read as the API returns it (camelCase), every field is treated as optional and of any
type, and `now` is a parameter, so the same Incident renders to the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tourniquet.api.names import API_VERSION, INCIDENT_KIND, INCIDENT_LABEL
from tourniquet.api.vocabulary import MitigationAction, MitigationResult, Reason
from tourniquet.core.clock import parse_time, seconds_between
from tourniquet.core.gitops import commit_of, owed_resume
from tourniquet.core.record import digest as record_digest
from tourniquet.core.timeline import bounded

DATA_KEY = "postmortem.md"
CONFIGMAP_SUFFIX = "-postmortem"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMMS_UPDATE_KIND = Reason.COMMS_UPDATE
#: What the postmortem still misses while the GitOps owner the undo suspended is suspended.
GITOPS_RESUME = "gitopsResume"

# The sections responders write, in the order the document shows them.

_MAX_DNS_SUBDOMAIN = 253
_MAX_LABEL_VALUE = 63
_HASH_LENGTH = 10
_DUE_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# playbook.record_updates numbers each comms update on the timeline ("update #3: ..."):
# the number, not the text or the time, is what ties the entry to spec.updates[2].
_NUMBERED_UPDATE = re.compile(r"update #([0-9]+):")
# Wording that puts a person where a cause belongs; flagged, never refused.
_BLAME = re.compile(r"\b(human|operator|user|engineer|developer)[ -]error\b", re.IGNORECASE)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")

_ROLES = (
    ("commander", "Incident Commander"),
    ("comms", "Comms Lead"),
    ("operations", "Operations Lead"),
    ("scribe", "Scribe"),
)
_TODO = "**TODO**"


# -- reading untrusted input -------------------------------------------------------------
# The body comes from the API server, but older objects, hand-written fixtures and
# partially-validated fields must still render: a malformed field reads as absent.


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    # A string is a Sequence too, but never a list of anything the API sends.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else []


def _text(value: object) -> str | None:
    """A non-blank string, numbers as their decimal form; anything else is absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _texts(value: object) -> list[str]:
    return [text for text in (_text(item) for item in _list(value)) if text is not None]


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _due_date(value: object) -> date | None:
    """YYYY-MM-DD only: `date.fromisoformat` alone would also take 20261201 or week dates."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        # PyYAML turns an unquoted 2026-12-01 into a date; the API server never does.
        return value
    if not isinstance(value, str) or not _DUE_DATE.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _is_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _utc(now: datetime) -> datetime:
    return parse_time(now) or datetime(1970, 1, 1, tzinfo=UTC)


# -- formatting ----------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """`1h 5m 3s`: from the largest non-zero unit down to seconds; fractions are dropped."""
    remaining = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    days, remaining = divmod(remaining, 86400)
    hours, remaining = divmod(remaining, 3600)
    minutes, secs = divmod(remaining, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{amount}{unit}" for amount, unit in parts)


def _stamp(moment: datetime) -> str:
    # Formatted by hand, not strftime: no locale can change a digit.
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )


def _stamp_utc(moment: datetime) -> str:
    return f"{_stamp(moment)} UTC"


def cell(value: object) -> str:
    """Text safe inside one Markdown table cell: pipes escaped, line breaks as <br>.

    Backslashes are escaped first, so a message ending in a backslash cannot swallow the
    cell's closing pipe.
    """
    text = _text(value) or ""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.replace("\r\n", "\n").split("\n"))


def _code(value: str) -> str:
    """An inline code span that survives backticks inside the value."""
    text = " ".join(value.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell_code(value: str) -> str:
    # Inside a table a code span cannot hold a pipe safely (`\|` would show the backslash
    # in some renderers); names from the API never have one, hand-made ones fall back.
    return cell(value) if any(c in value for c in "|\\`") else _code(value)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _bullet(text: str) -> str:
    # Continuation lines are indented so a multi-line factor stays one list item.
    lines = text.replace("\r\n", "\n").split("\n")
    rest = [f"  {line}" if line.strip() else "" for line in lines[1:]]
    return "\n".join([f"- {lines[0]}", *rest])


def _todo(prompt: str, field: str) -> str:
    return f"> {_TODO}: {prompt} Write it in `spec.postmortem.{field}`."


def _humanize_item(item: str) -> str:
    # bridgeOpened -> Bridge opened: only for items the operator gave no title.
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", item).lower()
    return words[:1].upper() + words[1:]


# -- action items --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionItemState:
    """One action item as written, with its state at `now`.

    `due` is None when missing or not a YYYY-MM-DD date; `ticket` keeps whatever was
    written (missing_sections says whether it is a usable http(s) link).
    """

    title: str
    owner: str | None
    due: date | None
    ticket: str | None
    done: bool
    overdue: bool


class ActionItemCounts(NamedTuple):
    total: int
    open: int  # not done, overdue ones included
    overdue: int  # not done and past the due date


def _postmortem(incident: object) -> Mapping[str, Any]:
    return _mapping(_mapping(_mapping(incident).get("spec")).get("postmortem"))


def action_items(incident: Mapping[str, Any], now: datetime) -> list[ActionItemState]:
    """spec.postmortem.actionItems, in order. Overdue means not done after the due day
    (UTC) is over: an item due today is still on time."""
    today = _utc(now).date()
    items = []
    for raw in _list(_postmortem(incident).get("actionItems")):
        if not isinstance(raw, Mapping):
            continue
        due = _due_date(raw.get("due"))
        # Only a real true: "false" or 1 in a hand-edited object must not close an item.
        done = raw.get("done") is True
        items.append(
            ActionItemState(
                title=_one_line(_text(raw.get("title")) or ""),
                owner=_text(raw.get("owner")),
                due=due,
                ticket=_text(raw.get("ticket")),
                done=done,
                overdue=not done and due is not None and due < today,
            )
        )
    return items


def count_action_items(items: Sequence[ActionItemState]) -> ActionItemCounts:
    return ActionItemCounts(
        total=len(items),
        open=sum(1 for item in items if not item.done),
        overdue=sum(1 for item in items if item.overdue),
    )


def action_item_counts(incident: Mapping[str, Any], now: datetime) -> ActionItemCounts:
    """What the metrics need: action items open and overdue for this incident at `now`."""
    return count_action_items(action_items(incident, now))


# -- completeness --------------------------------------------------------------------------


def missing_sections(incident: Mapping[str, Any]) -> list[str]:
    """What responders still have to write, as paths under spec.postmortem, in document
    order. An empty list means the postmortem is complete (and the Incident may close).

    Every action item needs a title, an owner, a due date (YYYY-MM-DD) and an http(s)
    ticket link; whether it is done does not matter: closing the postmortem is not
    closing its action items.
    """
    postmortem = _postmortem(incident)
    missing = [field for field in ("summary", "impact") if _text(postmortem.get(field)) is None] + [
        field
        for field in ("rootCauses", "wentWell", "wentPoorly")
        if not _texts(postmortem.get(field))
    ]
    raw_items = _list(postmortem.get("actionItems"))
    if not raw_items:
        missing.append("actionItems")
    for index, raw in enumerate(raw_items):
        path = f"actionItems[{index}]"
        if not isinstance(raw, Mapping):
            missing.append(path)
            continue
        if _text(raw.get("title")) is None:
            missing.append(f"{path}.title")
        if _text(raw.get("owner")) is None:
            missing.append(f"{path}.owner")
        if _due_date(raw.get("due")) is None:
            missing.append(f"{path}.due")
        if not _is_url(_text(raw.get("ticket"))):
            missing.append(f"{path}.ticket")
    if owed_resume(incident) is not None:
        # Required: the GitOps owner the undo suspended is resumed, after git is reverted.
        missing.append(GITOPS_RESUME)
    return missing


# -- the timeline --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One line of the postmortem's timeline; `at` is None when no usable time was recorded."""

    at: datetime | None
    kind: str
    message: str
    actor: str | None


def _row(record: object) -> TimelineRow | None:
    if not isinstance(record, Mapping):
        return None
    kind = _one_line(_text(record.get("kind")) or "")
    message = _text(record.get("message")) or ""
    if not kind and not message:
        return None
    return TimelineRow(parse_time(record.get("at")), kind, message, _text(record.get("actor")))


def _update_number(row: TimelineRow) -> int | None:
    if row.kind != COMMS_UPDATE_KIND:
        return None
    match = _NUMBERED_UPDATE.match(row.message)
    return int(match[1]) if match else None


def merged_timeline(
    incident: Mapping[str, Any],
    archived_timeline: Sequence[Mapping[str, Any]] = (),
    sealed: Container[str] = frozenset(),
) -> list[TimelineRow]:
    """The complete timeline: archived entries, status.timeline and spec.updates merged.

    status.timeline is bounded, so entries evicted from it come back through
    `archived_timeline`; the two overlap, so an entry seen twice (same second, kind and
    message) is shown once. A comms update appears once too: the operator's numbered
    timeline entry, at the time the update says it was posted. Entries without a usable
    time are kept, at the end, in the order recorded: a postmortem loses nothing.
    """
    body = _mapping(incident)
    status = _mapping(body.get("status"))
    rows: list[TimelineRow] = []
    seen: dict[tuple[datetime | None, str, str], int] = {}
    numbered: dict[int, int] = {}
    recorded = [*_list(archived_timeline), *_list(status.get("timeline"))]
    for record in recorded:
        row = _row(record)
        if row is None:
            continue
        key = (row.at.replace(microsecond=0) if row.at else None, row.kind, row.message)
        number = _update_number(row)
        index = seen.get(key, numbered.get(number) if number is not None else None)
        if index is not None:
            # The same event twice: keep the first, but not at the cost of its actor.
            if rows[index].actor is None and row.actor is not None:
                rows[index] = TimelineRow(
                    rows[index].at, rows[index].kind, rows[index].message, row.actor
                )
            continue
        seen[key] = len(rows)
        if number is not None:
            numbered[number] = len(rows)
        rows.append(row)
    # Numbered as playbook.new_updates counts them: malformed entries take no number.
    updates = [
        u for u in _list(_mapping(body.get("spec")).get("updates")) if isinstance(u, Mapping)
    ]
    for position, update in enumerate(updates, start=1):
        at = parse_time(update.get("at"))
        author = _text(update.get("author"))
        state = _text(update.get("statusPage"))
        posted = f" (status page: {_one_line(state)})" if state else ""
        index = numbered.get(position)
        recorded_as = f"update #{position}: {update.get('message', '')}"
        if index is None and record_digest(COMMS_UPDATE_KIND, bounded(recorded_as)) in sealed:
            continue  # its timeline entry is in a sealed chunk of the record: shown there
        if index is not None:
            # Recorded when forwarded; the update's own time is when it was posted.
            old = rows[index]
            rows[index] = TimelineRow(
                at or old.at, old.kind, old.message + posted, old.actor or author
            )
            continue
        message = f"update #{position}: {_text(update.get('message')) or ''}{posted}"
        rows.append(TimelineRow(at, COMMS_UPDATE_KIND, message, author))
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i].at is None, rows[i].at or datetime.min.replace(tzinfo=UTC), i),
    )
    return [rows[i] for i in order]


# -- the document --------------------------------------------------------------------------


def _incident_ref(metadata: Mapping[str, Any]) -> str:
    name = _text(metadata.get("name")) or "(unnamed)"
    namespace = _text(metadata.get("namespace"))
    return f"{namespace}/{name}" if namespace else name


def _impact_start(
    spec: Mapping[str, Any], metadata: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[datetime | None, str]:
    for moment, source in (
        (spec.get("startedAt"), "spec.startedAt"),
        (metadata.get("creationTimestamp"), "the Incident's creation; spec.startedAt not set"),
        (status.get("declaredAt"), "the declaration; spec.startedAt not set"),
    ):
        parsed = parse_time(moment)
        if parsed is not None:
            return parsed, source
    return None, "not recorded"


def _elapsed(recorded: object, start: datetime | None, end: datetime | None) -> float | None:
    # The status figure is what the metrics observed; recompute only when it is absent.
    seconds = _seconds(recorded)
    if seconds is None and start is not None and end is not None:
        seconds = seconds_between(start, end)
    return seconds


def _header(incident: Mapping[str, Any], missing: list[str], now: datetime) -> list[str]:
    metadata = _mapping(incident.get("metadata"))
    spec = _mapping(incident.get("spec"))
    status = _mapping(incident.get("status"))
    roles = _mapping(spec.get("roles"))
    title = _one_line(_text(spec.get("title")) or "") or _incident_ref(metadata)
    # A heading's trailing #s are a closing sequence, not part of the title.
    title = re.sub(r"(^|\s)(#+)$", lambda m: m[1] + "\\#" * len(m[2]), title)
    lines = [f"# Postmortem: {title}", ""]
    if spec.get("drill") is True:
        lines += [
            "> **DRILL**: a game-day exercise, not a real incident. The undo was sent as a",
            "> server-side dry run and its figures are kept out of MTTR.",
            "",
        ]
    rows = [
        ("Incident", _cell_code(_incident_ref(metadata))),
        ("Severity", cell(spec.get("severity")) or "unknown"),
    ]
    for key, label in _ROLES:
        rows.append((label, cell(roles.get(key)) or "_not assigned_"))
    phase = cell(status.get("phase"))
    if phase:
        rows.append(("Phase", phase))
    rows.append(("Status", "Draft" if missing else "Complete"))
    if missing:
        rows.append(("Still to complete", ", ".join(_code(path) for path in missing)))
    rows.append(("Generated at", _stamp_utc(now)))
    lines += ["| | |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    if missing:
        name = _text(metadata.get("name")) or "NAME"
        namespace = _text(metadata.get("namespace")) or "NAMESPACE"
        lines += [
            "",
            "_A draft from what Tourniquet recorded. Complete it in the Incident, not here: "
            f"`kubectl edit incident {name} -n {namespace}`, under `spec.postmortem`._",
        ]
    return lines


def _summary(postmortem: Mapping[str, Any]) -> list[str]:
    text = _text(postmortem.get("summary"))
    body = text or _todo(
        "Two or three sentences, for readers who were not there: what broke, for whom, "
        "how it was mitigated.",
        "summary",
    )
    return ["## Summary", "", body]


def _impact(incident: Mapping[str, Any], now: datetime) -> list[str]:
    metadata = _mapping(incident.get("metadata"))
    spec = _mapping(incident.get("spec"))
    status = _mapping(incident.get("status"))
    start, source = _impact_start(spec, metadata, status)
    mitigated = parse_time(status.get("mitigatedAt"))
    resolved = parse_time(status.get("resolvedAt"))
    lines = ["## Impact", ""]
    if start is None:
        lines.append("- Impact started: not recorded")
    else:
        lines.append(f"- Impact started: {_stamp_utc(start)} ({source})")
    ttm = _elapsed(status.get("timeToMitigateSeconds"), start, mitigated)
    if mitigated is not None:
        after = f", {format_duration(ttm)} after it started" if ttm is not None else ""
        lines.append(f"- Mitigated: {_stamp_utc(mitigated)}{after}")
    else:
        lines.append("- Mitigated: not recorded (no mitigation by Tourniquet succeeded)")
    ttr = _elapsed(status.get("timeToResolveSeconds"), start, resolved)
    if resolved is not None:
        after = f", {format_duration(ttr)} after it started" if ttr is not None else ""
        lines.append(f"- Resolved: {_stamp_utc(resolved)}{after}")
    elif start is not None:
        ongoing = format_duration(seconds_between(start, now))
        lines.append(f"- Resolved: not yet ({ongoing} after it started, at generation time)")
    else:
        lines.append("- Resolved: not yet")
    # A drill's impact is simulated: saying users were affected would mislead readers.
    who = "The simulated impact lasted" if spec.get("drill") is True else "Users were affected for"
    if ttm is not None and mitigated is not None:
        lines.append(f"- {who} {format_duration(ttm)} until mitigation.")
    elif ttr is not None and resolved is not None:
        lines.append(f"- {who} up to {format_duration(ttr)}.")
    text = _text(_postmortem(incident).get("impact"))
    lines += ["", "### Who saw what", ""]
    lines.append(
        text
        or _todo(
            "Who saw what, and for how long: which users, regions or features; error rates "
            "or failed requests; any data lost or delayed.",
            "impact",
        )
    )
    return lines


def _table_rows(rows: Sequence[TimelineRow]) -> list[str]:
    lines = []
    for row in rows:
        when = _stamp(row.at) if row.at else "unknown"
        kind = f"**{cell(row.kind)}**: " if row.kind else ""
        lines.append(f"| {when} | {kind}{cell(row.message)} | {cell(row.actor)} |")
    return lines


def timeline_rows(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Timeline entries as this document's table rows, in the order given (a sealed chunk
    of the record, core/record_chunks)."""
    return _table_rows([row for row in map(_row, entries) if row is not None])


def _timeline(rows: list[TimelineRow], sealed_chunks: Sequence[str] = ()) -> list[str]:
    lines = ["## Timeline", ""]
    if sealed_chunks:
        # The earliest entries live in chunks of their own, so that no object outgrows
        # its size limit: named here, in order, each entry in exactly one place.
        lines += [
            f"The first {len(sealed_chunks)} part(s) of the timeline are in ConfigMaps "
            f"{', '.join(sealed_chunks)} (key `timeline.md`, same columns); this table "
            "continues them.",
            "",
        ]
    if not rows:
        return [*lines, "_Nothing was recorded on the timeline._"]
    lines += ["| Time (UTC) | Event | Actor |", "| --- | --- | --- |"]
    return lines + _table_rows(rows)


def _detection(incident: Mapping[str, Any]) -> list[str]:
    metadata = _mapping(incident.get("metadata"))
    spec = _mapping(incident.get("spec"))
    status = _mapping(incident.get("status"))
    start, _ = _impact_start(spec, metadata, status)
    declared = parse_time(status.get("declaredAt"))
    acknowledged = parse_time(status.get("acknowledgedAt"))
    mitigated = parse_time(status.get("mitigatedAt"))
    resolved = parse_time(status.get("resolvedAt"))
    tta = _elapsed(status.get("timeToAcknowledgeSeconds"), declared, acknowledged)
    ttm = _elapsed(status.get("timeToMitigateSeconds"), start, mitigated)
    ttr = _elapsed(status.get("timeToResolveSeconds"), start, resolved)

    def measure(seconds: float | None, at: datetime | None) -> str:
        if seconds is None:
            return "not recorded"
        return format_duration(seconds) + (f" ({_stamp_utc(at)})" if at else "")

    lines = ["## Detection and response", "", "| Measure | Value |", "| --- | --- |"]
    lag = seconds_between(start, declared) if start and declared else 0.0
    if declared is not None and lag >= 1:
        after = f"{format_duration(lag)} after impact started"
        lines.append(f"| Declared | {_stamp_utc(declared)}, {after} |")
    elif declared is not None:
        lines.append(f"| Declared | {_stamp_utc(declared)} |")
    acknowledger = cell(_mapping(status.get("acknowledgement")).get("by"))
    by = f", by {acknowledger}" if acknowledger and tta is not None else ""
    lines.append(f"| Time to acknowledge | {measure(tta, acknowledged)}{by} |")
    lines.append(f"| Time to mitigate | {measure(ttm, mitigated)} |")
    lines.append(f"| Time to resolve (MTTR) | {measure(ttr, resolved)} |")

    lines += ["", "### The first 15 minutes", ""]
    lines += _checklist(spec, status)

    lines += ["", "### Comms", ""]
    updates = [u for u in _list(spec.get("updates")) if isinstance(u, Mapping)]
    times = sorted(t for t in (parse_time(u.get("at")) for u in updates) if t is not None)
    if not updates:
        lines.append("- No comms updates were posted through the Incident.")
    else:
        plural = "" if len(updates) == 1 else "s"
        lines.append(f"- {len(updates)} comms update{plural} posted.")
        if times and declared is not None:
            delay = format_duration(seconds_between(declared, times[0]))
            lines.append(f"- First update: {_stamp_utc(times[0])}, {delay} after declaration.")
        elif times:
            lines.append(f"- First update: {_stamp_utc(times[0])}.")
        if len(times) > 1:
            lines.append(f"- Last update: {_stamp_utc(times[-1])}.")
    if _mapping(status.get("comms")).get("overdue") is True:
        lines.append("- A comms update was overdue when this draft was generated.")
    return lines


def _checklist(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    items = [i for i in _list(status.get("checklist")) if isinstance(i, Mapping)]
    if not items:
        # Before the operator built its checklist, the responders' own ticks still count.
        ticks = _mapping(spec.get("checklist"))
        names = sorted(key for key in ticks if isinstance(key, str) and _text(ticks[key]))
        items = [{"item": key, "done": True, "by": ticks[key]} for key in names]
    if not items:
        return ["_No checklist was recorded._"]
    lines = []
    for item in items:
        title = _one_line(
            _text(item.get("title")) or _humanize_item(_text(item.get("item")) or "") or "Item"
        )
        done = item.get("done") is True
        details = []
        at = parse_time(item.get("at"))
        by = _text(item.get("by"))
        if done and at is not None:
            details.append(_stamp_utc(at))
        if done and by is not None:
            details.append(f"by {_one_line(by)}")
        if not done:
            details.append("not done")
        if item.get("late") is True:
            details.append("**late**: still open at the checklist deadline")
        lines.append(f"- [{'x' if done else ' '}] {title}: " + ", ".join(details))
    return lines


def _what_changed(incident: Mapping[str, Any]) -> list[str]:
    spec = _mapping(incident.get("spec"))
    status = _mapping(incident.get("status"))
    suspect = _mapping(status.get("suspect"))
    mitigation = _mapping(status.get("mitigation"))
    lines = ["## What changed", "", "### The suspect rollout", ""]
    deployment = _text(suspect.get("name"))
    if deployment is None:
        lines.append("No Deployment rollout in the incident's scope was identified as a suspect.")
    else:
        lines.append(f"- Deployment: {_code(deployment)}")
        revision = _text(suspect.get("revision"))
        if revision is not None:
            replica_set = _text(suspect.get("replicaSet"))
            rs = f" (ReplicaSet {_code(replica_set)})" if replica_set else ""
            lines.append(f"- Revision: {_one_line(revision)}{rs}")
        rolled_out = parse_time(suspect.get("rolledOutAt"))
        if rolled_out is not None:
            start, _ = _impact_start(spec, _mapping(incident.get("metadata")), status)
            relation = ""
            if start is not None and rolled_out <= start:
                relation = f", {format_duration(seconds_between(rolled_out, start))} before impact"
            elif start is not None:
                relation = f", {format_duration(seconds_between(start, rolled_out))} after impact"
            lines.append(f"- Rolled out: {_stamp_utc(rolled_out)}{relation} started")
        change = _text(suspect.get("change"))
        if change is not None:
            lines.append(f"- Change: {_code(change)}")
    lines += ["", "### The mitigation", ""]
    result = _text(mitigation.get("result"))
    if not mitigation or result is None:
        lines.append("Tourniquet performed no mitigation.")
        return lines
    target = _text(mitigation.get("name")) or deployment
    from_revision = _text(mitigation.get("fromRevision"))
    to_revision = _text(mitigation.get("toRevision"))
    action = _text(mitigation.get("action")) or MitigationAction.ROLLOUT_UNDO
    what = f"{_code(action)}"
    if target:
        what += f" of Deployment {_code(target)}"
    if from_revision and to_revision:
        what += f" from revision {from_revision} back to revision {to_revision}"
    lines.append(f"- Action: {what}")
    if spec.get("drill") is True:
        lines.append("- Drill: sent as a server-side dry run; the Deployment was not changed.")
    approver = _text(mitigation.get("approvedBy"))
    lines.append(
        f"- Approved by: {_one_line(approver)}"
        if approver
        else "- Approved by: nobody (the undo was offered, not approved)"
    )
    reason = _text(mitigation.get("reason"))
    lines.append(f"- Result: **{_one_line(result)}**" + (f" ({_code(reason)})" if reason else ""))
    for field, label in (
        ("startedAt", "Started"),
        ("patchedAt", "Patched"),
        ("finishedAt", "Finished"),
    ):
        moment = parse_time(mitigation.get(field))
        if moment is not None:
            lines.append(f"- {label}: {_stamp_utc(moment)}")
    message = _text(mitigation.get("message"))
    if message is not None and result != MitigationResult.PENDING:
        # While Pending the message is the approval command, not part of the story.
        lines.append(_bullet(f"Details: {message}"))
    return lines


def _bullets_or_todo(
    heading: str, postmortem: Mapping[str, Any], field: str, prompt: str
) -> list[str]:
    items = _texts(postmortem.get(field))
    body = [_bullet(item) for item in items] if items else [_todo(prompt, field)]
    return [heading, "", *body]


def _contributing_factors(postmortem: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Contributing factors",
        "",
        "_Blameless: these are the conditions that made the failure possible and its impact "
        'large. "Human error" is not a root cause: ask what made the mistake easy to make and '
        "hard to catch._",
        "",
    ]
    factors = _texts(postmortem.get("rootCauses"))
    if not factors:
        lines.append(
            _todo(
                "The contributing factors, one per item: systems, signals, defaults and "
                "processes, not people.",
                "rootCauses",
            )
        )
        return lines
    lines += [_bullet(factor) for factor in factors]
    if any(_BLAME.search(factor) for factor in factors):
        lines += [
            "",
            "> **Note**: a factor above names an error by a person. Restate it as the "
            "condition that allowed it (a missing check, a confusing interface, an unsafe "
            "default).",
        ]
    return lines


def _required_resume(incident: Mapping[str, Any]) -> list[str]:
    """The action item the operator adds while the owner it suspended is suspended."""
    owner = owed_resume(incident)
    if owner is None:
        return []
    gitops = _mapping(_mapping(_mapping(incident.get("status")).get("mitigation")).get("gitops"))
    commit = commit_of(_text(gitops.get("revision")))
    revert = f"`git revert {commit}`" if commit else "a revert commit"
    resume = _text(gitops.get("resumeCommand")) or "kubectl incident resume"
    return [
        f"- **Required:** revert the change in git ({revert}, pushed), then resume "
        f"{cell(owner.describe())}: `{resume}`. Until then it stays suspended and git is not "
        f"applied. <!-- {GITOPS_RESUME} -->",
        "",
    ]


def _action_items_section(incident: Mapping[str, Any], now: datetime) -> list[str]:
    lines = ["## Action items", "", *_required_resume(incident)]
    raw_items = [
        i for i in _list(_postmortem(incident).get("actionItems")) if isinstance(i, Mapping)
    ]
    items = action_items(incident, now)
    if not items:
        lines.append(
            _todo(
                "At least one action item, each with a title, an owner, a due date "
                "(YYYY-MM-DD) and a ticket link.",
                "actionItems",
            )
        )
        return lines
    lines += ["| Item | Owner | Due | Ticket | Status |", "| --- | --- | --- | --- | --- |"]
    for raw, item in zip(raw_items, items, strict=True):
        title = cell(item.title) or _TODO
        owner = cell(item.owner) or _TODO
        if item.due is not None:
            due = item.due.isoformat()
        elif _text(raw.get("due")) is not None:
            due = f"{_TODO} ({cell(raw.get('due'))} is not YYYY-MM-DD)"
        else:
            due = _TODO
        if item.ticket is None:
            ticket = _TODO
        elif _is_url(item.ticket):
            ticket = cell(item.ticket)
        else:
            ticket = f"{_TODO} ({cell(item.ticket)} is not an http(s) link)"
        state = "Done" if item.done else "Overdue" if item.overdue else "Open"
        lines.append(f"| {title} | {owner} | {due} | {ticket} | {state} |")
    counts = count_action_items(items)
    lines += ["", f"{counts.open} of {counts.total} open, {counts.overdue} overdue."]
    return lines


def render(
    incident: Mapping[str, Any],
    *,
    archived_timeline: Sequence[Mapping[str, Any]] = (),
    now: datetime,
    sealed_chunks: Sequence[str] = (),
    sealed: Container[str] = frozenset(),
) -> str:
    """The postmortem as Markdown, ending with one newline. The same Incident, archive and
    `now` always give the same bytes: no dict order, locale or local time zone is read."""
    body = _mapping(incident)
    moment = _utc(now)
    postmortem = _postmortem(body)
    sections = [
        _header(body, missing_sections(body), moment),
        _summary(postmortem),
        _impact(body, moment),
        _timeline(merged_timeline(body, archived_timeline, sealed), sealed_chunks),
        _detection(body),
        _what_changed(body),
        _contributing_factors(postmortem),
        _bullets_or_todo(
            "## What went well",
            postmortem,
            "wentWell",
            "What helped: alerts that fired, tools and runbooks that worked, people who showed up.",
        ),
        _bullets_or_todo(
            "## What went poorly",
            postmortem,
            "wentPoorly",
            "What slowed detection, diagnosis or recovery, and where the playbook was not "
            "followed.",
        ),
        _action_items_section(body, moment),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# -- the ConfigMap -------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]


def _dns_safe(name: str) -> str:
    # Names from the API are already valid; this only guards hand-made bodies.
    lowered = re.sub(r"[^a-z0-9.-]", "-", name.lower())
    labels = [label.strip("-") for label in lowered.split(".")]
    return ".".join(label for label in labels if label)


def configmap_name(incident_name: str) -> str:
    """`<name>-postmortem`, a valid DNS subdomain of at most 253 characters.

    An Incident name may itself be 253 characters long; then the name is cut and a hash
    of the whole name keeps two long names that share a prefix from colliding.
    """
    original = incident_name if isinstance(incident_name, str) else ""
    safe = _dns_safe(original)
    candidate = f"{safe}{CONFIGMAP_SUFFIX}"
    if safe and safe == original and len(candidate) <= _MAX_DNS_SUBDOMAIN:
        return candidate
    suffix = f"-{_digest(original)}{CONFIGMAP_SUFFIX}"
    prefix = safe[: _MAX_DNS_SUBDOMAIN - len(suffix)].rstrip(".-") or "incident"
    return f"{prefix}{suffix}"


def _label_value(value: str) -> str:
    # Label values stop at 63 characters, well short of a 253-character Incident name.
    if len(value) <= _MAX_LABEL_VALUE and _LABEL_VALUE.fullmatch(value):
        return value
    digest = _digest(value)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", value)
    prefix = safe[: _MAX_LABEL_VALUE - len(digest) - 1].strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def configmap(incident: Mapping[str, Any], markdown: str) -> dict[str, Any]:
    """The v1 ConfigMap holding the draft under `postmortem.md`, owned by the Incident so
    it is garbage-collected with it.

    The owner reference is left out when the Incident has no name or uid: the API server
    would reject the whole object for it, and an orphaned postmortem beats none.
    """
    metadata = _mapping(_mapping(incident).get("metadata"))
    name = _text(metadata.get("name")) or ""
    cm_metadata: dict[str, Any] = {
        "name": configmap_name(name),
        "labels": {
            PART_OF_LABEL: "tourniquet",
            COMPONENT_LABEL: "postmortem",
            INCIDENT_LABEL: _label_value(name),
        },
    }
    namespace = _text(metadata.get("namespace"))
    if namespace is not None:
        cm_metadata["namespace"] = namespace
    uid = _text(metadata.get("uid"))
    if name and uid:
        cm_metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": INCIDENT_KIND,
                "name": name,
                "uid": uid,
                "controller": True,
                # The Incident may be deleted without waiting on its postmortem.
                "blockOwnerDeletion": False,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": cm_metadata,
        "data": {DATA_KEY: markdown},
    }
