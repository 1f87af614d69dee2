"""Time parsing and formatting in the RFC 3339 form the Kubernetes API uses.

Nothing here reads the clock: callers pass `now` in, so every decision stays reproducible.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The API server writes `2026-11-27T10:00:00Z` (metav1.Time) or with microseconds
# (metav1.MicroTime); users may write an offset. Anything looser (dates without a time,
# naive times, ISO 8601 basic format) is not RFC 3339 and is rejected, not guessed at.
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 string, or None when it is not one."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    # Python keeps microseconds only; RFC 3339 allows nanoseconds (Go's RFC3339Nano).
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{zone}")
    except ValueError:
        # Out-of-range fields such as month 13 or an offset of +25:00.
        return None
    return parsed.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken to be UTC, the only zone the API speaks.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """`2026-11-27T10:00:00Z`: UTC, second precision, like metav1.Time."""
    utc = _as_utc(moment)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


def seconds_between(start: datetime, end: datetime) -> float:
    """Elapsed seconds, clamped at 0 so clock skew never yields a negative duration."""
    return max(0.0, (_as_utc(end) - _as_utc(start)).total_seconds())
