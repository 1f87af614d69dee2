"""status.timeline: the Scribe's record of an incident, written by the operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tourniquet.core.clock import format_time

MAX_MESSAGE_LENGTH = 1024
DEFAULT_LIMIT = 200
_ELLIPSIS = "…"


def bounded(message: str) -> str:
    """The message as an entry holds it: at most MAX_MESSAGE_LENGTH characters."""
    if len(message) > MAX_MESSAGE_LENGTH:
        return message[: MAX_MESSAGE_LENGTH - len(_ELLIPSIS)] + _ELLIPSIS
    return message


def entry(at: datetime, kind: str, message: str, actor: str | None = None) -> dict[str, Any]:
    message = bounded(message)
    record: dict[str, Any] = {"at": format_time(at), "kind": kind, "message": message}
    if actor is not None:
        record["actor"] = actor
    return record


def _key(record: object) -> tuple[object, object] | None:
    if not isinstance(record, Mapping):
        return None
    return (record.get("kind"), record.get("message"))


def append(
    timeline: Sequence[Any] | None, *entries: Mapping[str, Any], limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """A new timeline with `entries` added, unless the same kind and message is recorded.

    Reconciles are re-run after restarts and conflicts; comparing kind and message (not the
    time) is what keeps a retried step from being written twice. Over `limit`, the first
    entry (the declaration) and the most recent ones are kept.
    """
    if limit < 1:
        raise ValueError(f"timeline limit must be at least 1, not {limit}")
    result = [dict(record) for record in timeline or () if isinstance(record, Mapping)]
    seen = {_key(record) for record in result}
    for record in entries:
        key = _key(record)
        if key is None or key in seen:
            continue
        seen.add(key)
        result.append(dict(record))
    if len(result) > limit:
        result = result[:1] + result[len(result) - (limit - 1) :] if limit > 1 else result[:1]
    return result


def spill(
    timeline: Sequence[dict[str, Any]], limit: int = DEFAULT_LIMIT, batch: int = 50
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep status.timeline bounded: past `limit`, the oldest entries after the first (the
    declaration) move out in one batch, to be archived for the postmortem. Batching keeps
    the archive to one write per `batch` entries rather than one per entry."""
    entries = list(timeline)
    if len(entries) <= limit:
        return entries, []
    keep_recent = max(1, limit - batch)
    return entries[:1] + entries[-keep_recent:], entries[1:-keep_recent]
