"""metav1.LabelSelector matching, as the API server evaluates it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SET_OPERATORS = frozenset({"In", "NotIn"})
_EXISTENCE_OPERATORS = frozenset({"Exists", "DoesNotExist"})


def _requirement_matches(labels: Mapping[str, str], requirement: object) -> bool | None:
    """Whether one matchExpressions entry matches; None when the entry is invalid."""
    if not isinstance(requirement, Mapping):
        return None
    key = requirement.get("key")
    operator = requirement.get("operator")
    values = requirement.get("values") or []
    if not isinstance(key, str) or not key or not isinstance(values, list):
        return None
    if not all(isinstance(value, str) for value in values):
        return None
    if operator in _SET_OPERATORS:
        # metav1.LabelSelectorAsSelector rejects In/NotIn with no values.
        if not values:
            return None
        present = key in labels and labels[key] in values
        return present if operator == "In" else not present
    if operator in _EXISTENCE_OPERATORS:
        # ...and Exists/DoesNotExist with values.
        if values:
            return None
        exists = key in labels
        return exists if operator == "Exists" else not exists
    return None


def matches(labels: Mapping[str, str] | None, selector: Mapping[str, Any] | None) -> bool:
    """True when `labels` satisfy `selector`; None or {} selects everything.

    An invalid selector (unknown operator, In without values, non-string values...) is one
    the API server would refuse to evaluate, so it selects nothing rather than everything:
    a typo must never widen the scope of an incident.
    """
    labels = labels or {}
    if selector is None:
        return True
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return False
        if labels.get(key) != value:
            return False
    results = [_requirement_matches(labels, requirement) for requirement in expressions]
    # Validate every expression before answering, so an invalid one is never masked by an
    # earlier non-match (the answer must not depend on the order of the expressions).
    if any(result is None for result in results):
        return False
    return all(results)


def selector_string(body: Mapping[str, Any] | None) -> str | None:
    """A Deployment's spec.selector as a labelSelector query (`a=b,c in (d,e),!f`), so
    a LIST returns only its ReplicaSets; None when it cannot be expressed safely (the
    caller then lists everything and filters by owner, which is correct, only larger)."""
    spec = (body or {}).get("spec")
    selector = spec.get("selector") if isinstance(spec, Mapping) else None
    if not isinstance(selector, Mapping):
        return None
    parts: list[str] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        return None
    for key, value in sorted(match_labels.items()):
        if not isinstance(key, str) or not isinstance(value, str):
            return None
        parts.append(f"{key}={value}")
    for requirement in selector.get("matchExpressions") or []:
        if not isinstance(requirement, Mapping):
            return None
        key, operator = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or []
        if not isinstance(key, str) or not all(isinstance(v, str) for v in values):
            return None
        if operator in _SET_OPERATORS and values:
            word = "in" if operator == "In" else "notin"
            parts.append(f"{key} {word} ({','.join(sorted(values))})")
        elif operator == "Exists" and not values:
            parts.append(key)
        elif operator == "DoesNotExist" and not values:
            parts.append(f"!{key}")
        else:
            return None
    return ",".join(parts) or None
