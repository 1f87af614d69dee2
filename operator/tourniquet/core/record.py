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

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

# Well under the 256 KiB all annotations share (kopf stores no copy of the spec there:
# the operator registers no change-detecting handler, see shell/registration).
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


# --- the full record, kept in sealed chunks ----------------------------------------------
#
# The annotation above holds only the entries not yet sealed: past SEAL_BYTES they are
# written, as one chunk, to a ConfigMap owned by the Incident (record_chunks) and the
# annotation keeps how many chunks there are and digests of what was archived. Every
# object stays bounded: the annotation under BUDGET_BYTES, each chunk under ~100 KiB of a
# ConfigMap's 1 MiB, and the Incident's status.timeline by its limit; together they are
# the whole record, each entry once.

#: Pending entries are sealed into a chunk past this size. One spill batch (at most 50
#: entries of at most ~1.1 KiB) on top stays well under BUDGET_BYTES with the digests.
SEAL_BYTES: Final = 24 * 1024
#: Digests of archived (kind, message) kept: a step re-run long after its entry was
#: archived is not recorded again (timeline.append sees only status.timeline).
MAX_DIGESTS: Final = 1024


@dataclass(frozen=True)
class Record:
    """What the archive annotation holds."""

    entries: tuple[dict[str, str], ...] = ()
    sealed: int = 0  # chunks written
    sealed_entries: int = 0  # entries in them
    digests: tuple[str, ...] = ()  # of archived (kind, message), oldest first


def digest(kind: object, message: object) -> str:
    return hashlib.sha256(f"{kind}\n{message}".encode()).hexdigest()[:12]


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def parse_record(raw: object) -> Record:
    """The annotation: a Record (this version) or a bare list of entries (earlier ones);
    anything else, too large or too deep, is an empty Record."""
    if not isinstance(raw, str) or not raw or len(raw) > 2 * BUDGET_BYTES:
        return Record()
    if raw.lstrip().startswith("["):
        return Record(entries=tuple(parse_archive(raw)))
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return Record()
    if not isinstance(body, dict):
        return Record()
    entries = body.get("entries")
    digests = body.get("digests")
    return Record(
        entries=tuple(e for e in map(_clean, entries if isinstance(entries, list) else []) if e),
        sealed=_count(body.get("sealed")),
        sealed_entries=_count(body.get("sealedEntries")),
        digests=tuple(
            d for d in (digests if isinstance(digests, list) else []) if isinstance(d, str)
        )[-MAX_DIGESTS:],
    )


def dump(r: Record) -> str:
    return json.dumps(
        {
            "sealed": r.sealed,
            "sealedEntries": r.sealed_entries,
            "digests": list(r.digests),
            "entries": list(r.entries),
        },
        separators=(",", ":"),
    )


def archived_digests(r: Record) -> frozenset[str]:
    """(kind, message) digests of everything archived that the record still knows."""
    return frozenset(r.digests) | {digest(e.get("kind"), e.get("message")) for e in r.entries}


def advance(r: Record, new: Sequence[Mapping[str, Any]]) -> tuple[Record, list[dict[str, str]]]:
    """The record with `new` archived once each, and the chunk to seal (or []): the pending
    entries, once they reach SEAL_BYTES. Entries already archived (a spill re-run after a
    conflict or a crash) are recognised by their digest, sealed or not."""
    known = set(archived_digests(r))
    entries = list(r.entries)
    digests = list(r.digests)
    for entry in new:
        cleaned = _clean(entry)
        if cleaned is None:
            continue
        d = digest(cleaned["kind"], cleaned["message"])
        if d in known:
            continue
        known.add(d)
        entries.append(cleaned)
        digests.append(d)
    digests = digests[-MAX_DIGESTS:]
    if _size(entries) < SEAL_BYTES:
        return replace(r, entries=tuple(entries), digests=tuple(digests)), []
    sealed = replace(
        r,
        entries=(),
        sealed=r.sealed + 1,
        sealed_entries=r.sealed_entries + len(entries),
        digests=tuple(digests),
    )
    return sealed, entries


def unsealed(r: Record, new: Sequence[Mapping[str, Any]]) -> Record:
    """When a chunk cannot be written (refused for good): `new` kept in the annotation,
    within its byte budget (the oldest dropped and counted, as before chunks)."""
    merged = merge_archive(list(r.entries), new)
    return replace(r, entries=tuple(e for e in map(_clean, merged) if e))
