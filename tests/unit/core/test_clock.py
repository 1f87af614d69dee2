from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tourniquet.core.clock import format_time, parse_time, seconds_between


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27t10:00:00z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T11:30:00+01:30", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T05:00:00-05:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T10:00:00.123456Z", datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)),
        # Go's RFC3339Nano: nanoseconds beyond Python's precision are dropped, not refused.
        ("2026-11-27T10:00:00.123456789Z", datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-27T10:00:00.5Z", datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_rfc3339_into_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "yesterday",
        "2026-11-27",  # a date is not a time
        "2026-11-27T10:00:00",  # no zone: ambiguous, so refused
        "2026-13-27T10:00:00Z",
        "2026-11-27T25:00:00Z",
        "2026-11-27T10:00:00+25:00",
        "20261127T100000Z",
        1764237600,
        ["2026-11-27T10:00:00Z"],
    ],
)
def test_parse_time_never_raises_on_garbage(garbage: object) -> None:
    assert parse_time(garbage) is None


def test_parse_time_accepts_datetimes_and_normalises_them_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert parse_time(datetime(2026, 1, 1, 12, tzinfo=plus_two)) == datetime(
        2026, 1, 1, 10, tzinfo=UTC
    )
    assert parse_time(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_format_time_is_utc_z_with_second_precision() -> None:
    moment = datetime(2026, 11, 27, 11, 0, 0, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-11-27T10:00:00Z"
    assert format_time(datetime(2026, 11, 27, 10, 0)) == "2026-11-27T10:00:00Z"
    assert format_time(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"


def test_format_and_parse_round_trip() -> None:
    moment = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert parse_time(format_time(moment)) == moment


def test_seconds_between_counts_forward_and_clamps_backwards_to_zero() -> None:
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert seconds_between(start, start + timedelta(minutes=7, seconds=30)) == 450.0
    assert seconds_between(start, start - timedelta(seconds=5)) == 0.0


def test_seconds_between_mixes_naive_and_aware_as_utc() -> None:
    start = datetime(2026, 11, 27, 10, 0)
    end = datetime(2026, 11, 27, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    assert seconds_between(start, end) == 0.0
    assert seconds_between(start, end + timedelta(seconds=90)) == 90.0
