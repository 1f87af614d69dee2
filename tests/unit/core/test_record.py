"""The timeline archive stays within its byte budget and never trusts its input."""

from __future__ import annotations

import json

from tourniquet.core.record import BUDGET_BYTES, TRUNCATED, merge_archive, parse_archive


def _entry(n: int) -> dict[str, str]:
    return {"at": f"2026-12-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z", "kind": "AlertFiringAgain",
            "message": f"alert flapped again (#{n}) " + "x" * 80}  # fmt: skip


def test_two_thousand_entries_stay_within_budget_and_say_what_was_dropped() -> None:
    archive: list[dict[str, str]] = [{"at": "t0", "kind": "Declared", "message": "declared"}]
    for start in range(0, 2000, 50):
        archive = merge_archive(archive, [_entry(n) for n in range(start, start + 50)])
        assert len(json.dumps(archive, separators=(",", ":")).encode()) <= BUDGET_BYTES
    assert archive[0]["kind"] == "Declared"
    assert archive[1]["kind"] == TRUNCATED
    dropped = int(archive[1]["message"].split()[0])
    assert dropped + len(archive) - 2 == 2000, "every entry is kept or counted"
    assert archive[-1] == _entry(1999)


def test_the_same_batch_twice_is_archived_once() -> None:
    batch = [_entry(n) for n in range(10)]
    once = merge_archive([], batch)
    assert merge_archive(once, batch) == once


def test_hostile_annotations_parse_as_nothing() -> None:
    assert parse_archive("[" * 50_000 + "]" * 50_000) == []  # RecursionError, not a crash
    assert parse_archive("x" * (3 * BUDGET_BYTES)) == []
    assert parse_archive('{"not": "a list"}') == []
    assert parse_archive("not json") == []
    assert parse_archive(None) == []
    assert parse_archive('[1, {"kind": "K"}, {"kind": "K", "message": "m", "at": 5}]') == [
        {"kind": "K", "message": "m"}
    ]
