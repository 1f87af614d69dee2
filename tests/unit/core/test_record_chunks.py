"""The full timeline record, bounded per object (issue 13, point 3): pending entries in
the annotation, sealed chunks in ConfigMaps; each entry once, whatever re-runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.core import postmortem, record, record_chunks
from tourniquet.core.draft import Draft

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(i: int) -> dict[str, str]:
    at = (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"at": at, "kind": "AlertResolved", "message": f"Flapping resolved at {at} " + "x" * 200}


def test_two_thousand_entries_are_kept_once_each_in_bounded_objects() -> None:
    r, chunks = record.Record(), []
    entries = [entry(i) for i in range(2000)]
    for start in range(0, len(entries), 50):
        batch = entries[start : start + 50]
        r, chunk = record.advance(r, batch)
        # The same spill again (a conflict or a crash before the status write): nothing new.
        again, nothing = record.advance(r, batch)
        assert again == r and nothing == []
        if chunk:
            chunks.append(chunk)
            assert len(json.dumps(chunk)) < 100 * 1024
        assert len(record.dump(r)) < record.BUDGET_BYTES
    assert r.sealed == len(chunks) > 1
    kept = [e for chunk in chunks for e in chunk] + list(r.entries)
    assert kept == entries
    assert r.sealed_entries == sum(map(len, chunks))


def test_the_record_round_trips_and_reads_the_old_list_format() -> None:
    r, _ = record.advance(record.Record(), [entry(1), entry(2)])
    assert record.parse_record(record.dump(r)) == r
    old = json.dumps([entry(1), {"bogus": 1}])
    assert record.parse_record(old).entries == (entry(1),)
    for garbage in ("", "{", "7", '{"entries": 3, "sealed": -1}', "[" * 100_000, "{}" * 10**6):
        assert record.parse_record(garbage).sealed == 0


def test_chunk_names_are_bounded_and_distinct() -> None:
    long = "a" * 253
    names = {record_chunks.chunk_name(n, i) for n in ("api", long) for i in range(3)}
    assert len(names) == 6 and max(map(len, names)) <= 253
    assert record_chunks.chunk_name("api", 2) == "api-postmortem-t00002"


def test_a_chunk_configmap_is_labelled_and_owned_like_the_postmortem() -> None:
    incident = {"metadata": {"name": "api", "namespace": "prod", "uid": "u-1"}}
    cm = record_chunks.configmap(incident, 0, [entry(1)])
    assert cm["metadata"]["name"] == "api-postmortem-t00000"
    assert cm["metadata"]["labels"]["tourniquet.dev/incident"] == "api"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert json.loads(cm["data"]["timeline.json"]) == [entry(1)]
    assert "Flapping resolved" in cm["data"]["timeline.md"]


def test_a_step_archived_long_ago_is_not_recorded_again() -> None:
    archived, _ = record.advance(record.Record(), [entry(1)])
    body = {
        "metadata": {"name": "api", "annotations": {TIMELINE_ARCHIVE: record.dump(archived)}},
        "spec": {},
        "status": {"timeline": []},
    }
    d = Draft(body, T0 + timedelta(hours=1))
    assert d.record("AlertResolved", entry(1)["message"]) is False
    assert d.record("AlertResolved", entry(2)["message"]) is True


def test_a_long_message_archived_cut_is_still_recognised() -> None:
    long = "x" * 2000
    cut = Draft({"metadata": {}, "spec": {}, "status": {}}, T0)
    cut.record("Note", long)
    archived, _ = record.advance(record.Record(), cut.status["timeline"])
    body = {
        "metadata": {"annotations": {TIMELINE_ARCHIVE: record.dump(archived)}},
        "spec": {},
        "status": {"timeline": []},
    }
    assert Draft(body, T0).record("Note", long) is False


def test_a_comms_update_sealed_in_a_chunk_is_not_shown_again() -> None:
    update = {"author": "alice", "message": "we are on it"}
    sealed = {record.digest("CommsUpdate", "update #1: we are on it")}
    body = {"spec": {"updates": [update]}, "status": {"timeline": []}}
    assert [r.message for r in postmortem.merged_timeline(body)] == ["update #1: we are on it"]
    assert postmortem.merged_timeline(body, sealed=sealed) == []
