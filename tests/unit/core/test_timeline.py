from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import T0

from tourniquet.core.timeline import append, entry


def test_entry_shape() -> None:
    at = datetime(2026, 11, 27, 10, 0, 0, 999999, tzinfo=UTC)
    assert entry(at, "Declared", "SEV1 declared by alice", "alice") == {
        "at": "2026-11-27T10:00:00Z",
        "kind": "Declared",
        "message": "SEV1 declared by alice",
        "actor": "alice",
    }
    assert "actor" not in entry(at, "SuspectFound", "api revision 7")


def test_long_messages_are_truncated_to_1024_characters() -> None:
    message = entry(T0, "Note", "x" * 5000)["message"]
    assert len(message) == 1024
    assert message.endswith("…")
    assert entry(T0, "Note", "y" * 1024)["message"] == "y" * 1024


def test_append_returns_a_new_list_with_the_entries() -> None:
    first = [entry(T0, "Declared", "declared")]
    result = append(first, entry(T0, "SuspectFound", "api 7"), entry(T0, "Approved", "by alice"))
    assert [e["kind"] for e in result] == ["Declared", "SuspectFound", "Approved"]
    assert len(first) == 1


def test_a_rerun_reconcile_never_duplicates_history() -> None:
    timeline = append(None, entry(T0, "Declared", "declared"), entry(T0, "Undo", "api 7 -> 6"))
    # The same step, re-run after a restart ten minutes later: same kind and message.
    rerun = append(timeline, entry(T0 + timedelta(minutes=10), "Undo", "api 7 -> 6"))
    assert rerun == timeline
    # Duplicates within one call are collapsed too; a different message is new history.
    more = append(timeline, entry(T0, "Note", "a"), entry(T0, "Note", "a"), entry(T0, "Undo", "x"))
    assert [(e["kind"], e["message"]) for e in more[2:]] == [("Note", "a"), ("Undo", "x")]


def test_over_the_limit_the_declaration_and_the_most_recent_entries_are_kept() -> None:
    timeline = [entry(T0, "Declared", "declared")]
    for n in range(10):
        timeline = append(timeline, entry(T0, "Note", f"note {n}"), limit=5)
    assert len(timeline) == 5
    assert timeline[0]["kind"] == "Declared"
    assert [e["message"] for e in timeline[1:]] == ["note 6", "note 7", "note 8", "note 9"]
    assert len(append(timeline, entry(T0, "Note", "last"), limit=1)) == 1


def test_malformed_existing_entries_are_dropped() -> None:
    result = append(["junk", None, {"kind": "Declared", "message": "d"}], entry(T0, "Note", "n"))
    assert [e["kind"] for e in result] == ["Declared", "Note"]


def test_a_limit_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        append([], limit=0)


def test_spill_moves_the_oldest_entries_out_in_batches() -> None:
    from tourniquet.core.timeline import spill

    entries = [{"at": f"t{i}", "kind": "K", "message": str(i)} for i in range(201)]
    kept, spilled = spill(entries, limit=200, batch=50)
    assert kept[0]["message"] == "0"  # the declaration stays
    assert [e["message"] for e in kept[1:]] == [str(i) for i in range(51, 201)]
    assert [e["message"] for e in spilled] == [str(i) for i in range(1, 51)]
    assert kept[:1] + spilled + kept[1:] == entries  # nothing lost, order kept
    assert spill(entries[:200], limit=200) == (entries[:200], [])
