from __future__ import annotations

from datetime import timedelta

from factories import T0

from tourniquet.core.conditions import get_condition, set_condition

LATER = T0 + timedelta(minutes=5)


def test_a_new_condition_is_appended_in_metav1_condition_shape() -> None:
    assert set_condition([], "Mitigated", "False", "AwaitingApproval", "Waiting.", 3, T0) == [
        {
            "type": "Mitigated",
            "status": "False",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-11-27T09:00:00Z",
            "reason": "AwaitingApproval",
            "message": "Waiting.",
        }
    ]


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = set_condition(None, "Mitigated", "False", "AwaitingApproval", "Waiting.", 1, T0)
    same = set_condition(first, "Mitigated", "False", "Refused", "No approval.", 2, LATER)
    assert same[0]["lastTransitionTime"] == "2026-11-27T09:00:00Z"
    assert (same[0]["reason"], same[0]["message"], same[0]["observedGeneration"]) == (
        "Refused",
        "No approval.",
        2,
    )
    flipped = set_condition(same, "Mitigated", "True", "RolloutUndone", "Undone.", 2, LATER)
    assert flipped[0]["lastTransitionTime"] == "2026-11-27T09:05:00Z"
    assert flipped[0]["status"] == "True"


def test_other_conditions_are_kept_in_a_stable_order_and_inputs_untouched() -> None:
    conditions = set_condition([], "Declared", "True", "Declared", "Declared.", 1, T0)
    conditions = set_condition(conditions, "Mitigated", "False", "Waiting", "w", 1, T0)
    conditions = set_condition(conditions, "Resolved", "False", "Open", "o", 1, T0)
    snapshot = [dict(c) for c in conditions]
    updated = set_condition(conditions, "Mitigated", "True", "RolloutUndone", "u", 1, LATER)
    assert [c["type"] for c in updated] == ["Declared", "Mitigated", "Resolved"]
    assert updated[0] == snapshot[0] and updated[2] == snapshot[2]
    assert conditions == snapshot
    assert updated is not conditions


def test_duplicates_and_garbage_are_dropped_so_the_list_stays_a_valid_map() -> None:
    messy = [
        {"type": "Mitigated", "status": "False", "reason": "A", "message": "a"},
        "garbage",
        {"type": "Mitigated", "status": "True", "reason": "B", "message": "b"},
    ]
    updated = set_condition(messy, "Mitigated", "False", "C", "c", None, T0)
    assert len(updated) == 1
    assert updated[0]["reason"] == "C"
    assert "observedGeneration" not in updated[0]
    # The old entry had no lastTransitionTime: one is stamped now.
    assert updated[0]["lastTransitionTime"] == "2026-11-27T09:00:00Z"


def test_messages_are_capped_at_the_metav1_limit() -> None:
    updated = set_condition([], "Mitigated", "False", "R", "x" * 40000, 1, T0)
    assert len(updated[0]["message"]) == 32768


def test_get_condition() -> None:
    conditions = set_condition([], "Mitigated", "True", "RolloutUndone", "u", 1, T0)
    found = get_condition(conditions, "Mitigated")
    assert found is not None and found["reason"] == "RolloutUndone"
    assert get_condition(conditions, "Resolved") is None
    assert get_condition(None, "Mitigated") is None
    assert get_condition(["junk", None], "Mitigated") is None
