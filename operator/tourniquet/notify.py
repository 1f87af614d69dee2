"""Forwarding comms updates to the notification webhooks the severity policy names.

The payload builders are pure: an update, the Incident body and the severity rule in, a
JSON-ready dict out. `deliver` is the only I/O: one POST, retried a few times when the
failure is transient, and it never raises, so a broken webhook can never stall an incident.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from tourniquet.clock import parse_time
from tourniquet.projections import mapping, text
from tourniquet.severity_policy import NotificationTarget, SeverityRule

# Slack's own attachment colours for danger/warning/good, and a neutral grey for "none".
COLOURS: Final = {
    "red": "#d00000",
    "yellow": "#f2c744",
    "green": "#2eb886",
    "none": "#999999",
}

# Kept short: a comms update is not worth holding a reconcile for long.
DEFAULT_BACKOFF_S: Final = 0.25
_MAX_ERROR_BODY: Final = 200
_WHITESPACE = re.compile(r"\s+")


def _slack_escape(value: str) -> str:
    # Slack reads <...> as links and mentions: an incident titled "<!channel>" must not
    # page a whole channel. Its documented escaping is these three entities.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(value: str) -> str:
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
    summary = f"{facts.severity} {where}: {_one_line(facts.title)}"
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
        "kind": "IncidentUpdate",
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


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status: int | None  # the last HTTP status, None when no response came back
    error: str | None  # why it failed, never quoting the webhook URL
    attempts: int


def _redact(message: str, url: str) -> str:
    # A Slack webhook URL is a credential: errors end up in Events and logs, so only the
    # scheme and host are ever shown.
    try:
        parts = urlsplit(url)
        safe, path = f"{parts.scheme}://{parts.hostname or '?'}/…", parts.path
    except ValueError:  # e.g. an unbalanced IPv6 bracket: hide all of it
        safe, path = "<webhook URL>", ""
    message = message.replace(url, safe)
    return message.replace(path, "/…") if len(path) > 1 else message


def _transient(status: int) -> bool:
    # 5xx is the server's trouble and 429 asks us to come back later; any other 4xx (a
    # revoked or mistyped webhook, a rejected payload) fails the same way again.
    return status >= 500 or status == 429


async def deliver(
    session: aiohttp.ClientSession,
    target: NotificationTarget,
    payload: Mapping[str, Any],
    *,
    timeout_s: float = 5,
    attempts: int = 3,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> DeliveryResult:
    """POST `payload` as JSON to the target; retry on connection errors, timeouts, 5xx and
    429 with a doubling backoff; never raise (except cancellation, which must propagate).

    `timeout_s` bounds each attempt. Redirects are not followed: a webhook that moved
    should be reconfigured, and following one would re-send the payload elsewhere.
    """
    if attempts < 1:
        return DeliveryResult(False, None, f"attempts must be at least 1, not {attempts}", 0)
    try:
        body = json.dumps(payload, ensure_ascii=False).encode()
    except (TypeError, ValueError) as failure:
        return DeliveryResult(False, None, f"payload is not JSON-serialisable: {failure}", 0)
    headers = {"Content-Type": "application/json", "User-Agent": "tourniquet"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    status: int | None = None
    error = "failed"
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 2))
        status = None
        try:
            async with session.post(
                target.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return DeliveryResult(True, status, None, attempt)
                error = f"HTTP {status} {response.reason or ''}".rstrip()
                detail = _one_line(await _read_some(response))
                if detail:
                    error += f": {detail}"
                if 300 <= status < 400:
                    error += " (redirects are not followed; configure the final URL)"
                if not _transient(status):
                    return DeliveryResult(False, status, _redact(error, target.url), attempt)
        except TimeoutError:
            error = f"timed out after {timeout_s:g}s"
        except aiohttp.InvalidURL as failure:
            # The same URL fails the same way: not worth a retry.
            return DeliveryResult(False, None, _redact(_describe(failure), target.url), attempt)
        except aiohttp.ClientError as failure:
            error = _describe(failure)
        except Exception as failure:  # never raise: a broken webhook must not stall a reconcile
            return DeliveryResult(False, None, _redact(_describe(failure), target.url), attempt)
    return DeliveryResult(False, status, _redact(error, target.url), attempts)


def _describe(failure: Exception) -> str:
    detail = str(failure)
    return f"{type(failure).__name__}: {detail}" if detail else type(failure).__name__


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """The start of an error body (Slack says e.g. `invalid_token` there), or nothing."""
    try:
        chunk = await response.content.read(_MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return chunk.decode("utf-8", errors="replace")
