"""Which replica acts under kopf peering (issue 13, point 4): priorities from pod names,
the role read from the peering object's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tourniquet.core.peering import Role, priority_of, role

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def peer(priority: int, seen: timedelta = timedelta(0), lifetime: int = 60) -> dict[str, object]:
    return {"priority": priority, "lastseen": (NOW - seen).isoformat(), "lifetime": lifetime}


def test_priorities_from_pod_names_are_stable_distinct_and_positive() -> None:
    a, b = priority_of("tourniquet-6f7c9d-x2k4q"), priority_of("tourniquet-6f7c9d-p8m3z")
    assert a != b and min(a, b) > 0
    assert priority_of("tourniquet-6f7c9d-x2k4q") == a


def test_the_higher_priority_acts_and_the_other_stands_by() -> None:
    status = {"a": peer(10), "b": peer(5)}
    assert role(status, "a", 10, NOW) is Role.ACTIVE
    assert role(status, "b", 5, NOW) is Role.STANDBY


def test_a_dead_active_peer_leaves_the_standby_active() -> None:
    status = {"a": peer(10, seen=timedelta(seconds=61)), "b": peer(5)}
    assert role(status, "b", 5, NOW) is Role.ACTIVE


def test_the_same_priority_is_a_conflict_and_a_missing_keepalive_unknown() -> None:
    assert role({"a": peer(7), "b": peer(7)}, "a", 7, NOW) is Role.CONFLICT
    assert role({"a": peer(7)}, "b", 3, NOW) is Role.UNKNOWN
    assert role({"b": peer(3, seen=timedelta(seconds=90))}, "b", 3, NOW) is Role.UNKNOWN
    assert role("garbage", "b", 3, NOW) is Role.UNKNOWN
