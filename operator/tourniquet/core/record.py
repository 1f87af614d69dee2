"""The timeline archive: bounded, and parsed without trusting it.

Entries spilled out of the bounded status.timeline are kept in an annotation on the
Incident for the postmortem. Every annotation of an object shares one 256 KiB budget
(kopf's stored spec among them); past it, every write of the Incident is refused with
422 and the incident is wedged. So the archive keeps a byte budget of its own: the
oldest entries after the declaration go first, and a marker says how many.
An annotation is text anybody with `patch` once wrote: it is parsed defensively (size
first, nesting, shape).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

# Well under the 256 KiB all annotations share: room for kopf's last-handled spec.
BUDGET_BYTES: Final = 96 * 1024
TRUNCATED: Final = "TimelineTruncated"
_FIELDS: Final = ("at", "kind", "message", "actor")


def _clean(entry: object) -> dict[str, str] | None:
    if not isinstance(entry, Mapping):
        return None
    out = {k: entry[k] for k in _FIELDS if isinstance(entry.get(k), str)}
    return out if "kind" in out and "message" in out else None


def parse_archive(raw: object) -> list[dict[str, str]]:
    """The archived entries, or [] for anything that is not a list of entries. Too large
    or too deeply nested input is refused before (or while) decoding it."""
    if not isinstance(raw, str) or not raw or len(raw) > 2 * BUDGET_BYTES:
        return []
    try:
        entries = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in map(_clean, entries) if e is not None]


def _key(entry: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return (entry.get("at"), entry.get("kind"), entry.get("message"))


def _size(entries: Sequence[Mapping[str, Any]]) -> int:
    return len(json.dumps(list(entries), separators=(",", ":")).encode())


def merge_archive(
    archive: Sequence[Mapping[str, Any]],
    new: Sequence[Mapping[str, Any]],
    budget: int = BUDGET_BYTES,
) -> list[dict[str, Any]]:
    """The archive with `new` appended once each, cut to `budget` bytes: the first entry
    (the declaration) stays, then a TimelineTruncated marker counting what was dropped,
    then the most recent entries that fit."""
    merged = [dict(e) for e in archive]
    seen = {_key(e) for e in merged}
    for entry in new:
        if _key(entry) not in seen:
            seen.add(_key(entry))
            merged.append(dict(entry))
    if _size(merged) <= budget or len(merged) < 3:
        return merged
    first, rest = merged[0], merged[1:]
    dropped = 0
    if rest and rest[0].get("kind") == TRUNCATED:
        dropped = _dropped(rest[0])
        rest = rest[1:]
    # Halve what is dropped until it fits: a few json.dumps, not one per entry.
    cut = max(1, len(rest) // 8)
    while rest and _size([first, _marker(dropped + cut, rest[0]), *rest[cut:]]) > budget:
        cut = min(len(rest), cut * 2)
    dropped += cut
    kept = rest[cut:]
    return [first, _marker(dropped, kept[0] if kept else first), *kept]


def _marker(dropped: int, next_entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": next_entry.get("at"),
        "kind": TRUNCATED,
        "message": f"{dropped} earlier timeline entries were dropped to keep the record bounded",
    }


def _dropped(marker: Mapping[str, Any]) -> int:
    head = str(marker.get("message", "")).split(" ", 1)[0]
    return int(head) if head.isdigit() else 0
