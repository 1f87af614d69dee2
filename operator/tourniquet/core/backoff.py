"""Failures, described the same way every time, and retried with an exponential backoff.

A condition message that embeds a whole API exception (with its fresh Audit-Id and Date
headers) changes on every failure: each failure writes the Incident, which triggers the
next reconcile, which fails again. A failure is therefore described only by what stays
the same (reason, HTTP status, the API's own message), and a failing incident is retried
no sooner than its backoff allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# Statuses worth retrying: the server (5xx), throttling (429), a timeout (408), or no
# answer at all (None). Anything else (400, 403, 404, 422) is the same answer next time.
_RETRYABLE: Final = frozenset({408, 429})
MAX_MESSAGE: Final = 1024


@dataclass(frozen=True)
class Failure:
    """What went wrong, in stable terms."""

    reason: str  # the API's reason (Forbidden, Invalid, ...) or the exception's type
    status: int | None  # the HTTP status, None when there was no HTTP answer
    message: str  # the API's message, never its headers

    @property
    def retryable(self) -> bool:
        return retryable(self.status)

    def describe(self) -> str:
        code = f" ({self.status})" if self.status is not None else ""
        return f"{self.reason}{code}: {self.message}"[:MAX_MESSAGE]


def retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in _RETRYABLE


@dataclass
class _State:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class Backoff:
    """Per-key exponential backoff on a caller-supplied monotonic clock:
    base, 2*base, 4*base, ... up to `cap` seconds after each consecutive failure."""

    base: float = 1.0
    cap: float = 60.0
    _states: dict[str, _State] = field(default_factory=dict)

    def holding(self, key: str, now: float) -> bool:
        """Whether `key` must wait before it is tried again."""
        state = self._states.get(key)
        return state is not None and now < state.not_before

    def failed(self, key: str, now: float) -> float:
        """Record a failure; the delay before the next attempt."""
        state = self._states.setdefault(key, _State())
        state.failures += 1
        delay: float = min(self.cap, self.base * 2.0 ** (state.failures - 1))
        state.not_before = now + delay
        return delay

    def succeeded(self, key: str) -> None:
        self._states.pop(key, None)

    def failures(self, key: str) -> int:
        state = self._states.get(key)
        return state.failures if state else 0
