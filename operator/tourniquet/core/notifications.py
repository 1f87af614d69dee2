"""Comms updates as the payloads the notification webhooks receive (Slack or generic JSON).

Pure: an update, the Incident body and the severity rule in, a JSON-ready dict out. Sending
them is tourniquet.notifications.delivery's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tourniquet.api.vocabulary import Reason
from tourniquet.core.clock import parse_time
from tourniquet.core.projections import mapping, text
from tourniquet.core.severity_policy import NotificationTarget, SeverityRule

# Slack's own attachment colours for danger/warning/good, and a neutral grey for "none".
COLOURS: Final = {
    "red": "#d00000",
    "yellow": "#f2c744",
    "green": "#2eb886",
    "none": "#999999",
}

_WHITESPACE = re.compile(r"\s+")


def _slack_escape(value: str) -> str:
    # Slack reads <...> as links and mentions: an incident titled "<!channel>" must not
    # page a whole channel. Its documented escaping is these three entities.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(value: str) -> str:
    return _WHITESPACE.sub(" ", value).strip()


@dataclass(frozen=True)
class _Facts:
    """What both payloads say, read once from the (possibly partial) bodies."""

    name: str
    namespace: str
    title: str
    severity: str
    phase: str | None
    commander: str | None
    author: str
    message: str
    at: str
    status_page: str | None  # the update's state: investigating | identified | ...


def _facts(update: Mapping[str, Any], incident: Mapping[str, Any], rule: SeverityRule) -> _Facts:
    metadata = mapping(incident.get("metadata"))
    spec = mapping(incident.get("spec"))
    status = mapping(incident.get("status"))
    return _Facts(
        name=text(metadata.get("name")),
        namespace=text(metadata.get("namespace")),
        title=text(spec.get("title")),
        # The rule is what the deadlines and colour came from, so it names the severity.
        severity=rule.severity,
        phase=text(status.get("phase")) or None,
        commander=text(mapping(spec.get("roles")).get("commander")) or None,
        author=text(update.get("author")),
        message=text(update.get("message")),
        at=text(update.get("at")),
        status_page=text(update.get("statusPage")) or None,
    )


def slack_payload(
    update: Mapping[str, Any],
    incident: Mapping[str, Any],
    rule: SeverityRule,
    *,
    drill: bool = False,
) -> dict[str, Any]:
    """A Slack incoming-webhook message: a one-line summary and one coloured attachment.

    A drill says so in the summary, so nobody mistakes practice for an outage.
    """
    facts = _facts(update, incident, rule)
    where = f"{facts.namespace}/{facts.name}" if facts.namespace else facts.name
    summary = f"{facts.severity} {where}: {one_line(facts.title)}"
    if facts.status_page:
        summary += f" ({facts.status_page})"
    if drill:
        summary = f"[DRILL] {summary}"
    status_page = f"{facts.status_page} ({rule.status_page})" if facts.status_page else None
    attachment: dict[str, Any] = {
        "color": COLOURS.get(rule.status_page, COLOURS["none"]),
        "title": _slack_escape(facts.title),
        "text": _slack_escape(facts.message),
        "fields": [
            {"title": "Severity", "value": facts.severity, "short": True},
            {
                "title": "Status page",
                "value": _slack_escape(status_page or rule.status_page),
                "short": True,
            },
            {
                "title": "Commander",
                "value": _slack_escape(facts.commander or "none"),
                "short": True,
            },
            {"title": "Author", "value": _slack_escape(facts.author), "short": True},
        ],
    }
    at = parse_time(facts.at)
    if at is not None:
        attachment["ts"] = int(at.timestamp())
    return {"text": _slack_escape(summary), "attachments": [attachment]}


def json_payload(
    update: Mapping[str, Any],
    incident: Mapping[str, Any],
    rule: SeverityRule,
    *,
    drill: bool = False,
) -> dict[str, Any]:
    """The generic payload: every key always present (null when unknown), so a receiver
    can rely on the shape; `drill: true` is added only for drills."""
    facts = _facts(update, incident, rule)
    payload: dict[str, Any] = {
        "kind": Reason.INCIDENT_UPDATE,
        "incident": {
            "name": facts.name,
            "namespace": facts.namespace,
            "title": facts.title,
            "severity": facts.severity,
            "phase": facts.phase,
            "commander": facts.commander,
        },
        "update": {
            "author": facts.author,
            "message": facts.message,
            "at": facts.at,
            "statusPage": facts.status_page,
        },
        "statusPageColour": rule.status_page,
        "page": list(rule.page),
    }
    if drill:
        payload["drill"] = True
    return payload


def payload_for(
    target: NotificationTarget,
    update: Mapping[str, Any],
    incident: Mapping[str, Any],
    rule: SeverityRule,
    *,
    drill: bool = False,
) -> dict[str, Any]:
    """The payload in the target's format."""
    build = slack_payload if target.format == "slack" else json_payload
    return build(update, incident, rule, drill=drill)
