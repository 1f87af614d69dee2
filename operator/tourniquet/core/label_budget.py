"""Bounded metric label values for labels that come from outside (an alert's name).

Every distinct value of a label is a time series that Prometheus keeps and the
operator's registry holds in memory for good: a sender that makes up a new alertname per
notification, or one of a megabyte, would grow both without end. A budget keeps the
first ``limit`` distinct values (cut to ``max_length``) and answers ``OTHER`` for the rest.
"""

from __future__ import annotations

OTHER = "_other"
_ELLIPSIS = "…"


class LabelBudget:
    def __init__(self, limit: int = 100, max_length: int = 63) -> None:
        self.limit = limit
        self.max_length = max_length
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if len(value) > self.max_length:
            value = value[: self.max_length - len(_ELLIPSIS)] + _ELLIPSIS
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(value)
        return value
