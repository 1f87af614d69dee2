"""status.conditions in the metav1.Condition shape, updated like meta.SetStatusCondition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tourniquet.core.clock import format_time

# metav1.Condition validation caps the message at 32768 characters.
MAX_MESSAGE_LENGTH = 32768


def get_condition(conditions: Sequence[Any] | None, type_: str) -> dict[str, Any] | None:
    for condition in conditions or ():
        if isinstance(condition, Mapping) and condition.get("type") == type_:
            return dict(condition)
    return None


def set_condition(
    conditions: Sequence[Any] | None,
    type: str,  # named like the API field it sets
    status: str,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """A new list with condition `type` set; the others are kept, in their order.

    lastTransitionTime moves only when `status` changes, so it records when the condition
    last flipped rather than when the operator last looked.
    """
    previous = get_condition(conditions, type)
    transition = format_time(now)
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime") or transition
    updated: dict[str, Any] = {
        "type": type,
        "status": status,
        "observedGeneration": observed_generation,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message[:MAX_MESSAGE_LENGTH],
    }
    if observed_generation is None:
        del updated["observedGeneration"]

    result: list[dict[str, Any]] = []
    placed = False
    for condition in conditions or ():
        if not isinstance(condition, Mapping):
            continue  # not an object, so never a valid condition: the API would reject it
        if condition.get("type") != type:
            result.append(dict(condition))
        elif not placed:
            # listType=map forbids a second entry of the same type; replacing the first in
            # place and dropping any duplicates keeps the list valid and its order stable.
            result.append(updated)
            placed = True
    if not placed:
        result.append(updated)
    return result
