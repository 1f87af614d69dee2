"""Stable failure descriptions and the per-incident exponential backoff."""

from __future__ import annotations

from tourniquet.core.backoff import Backoff, Failure, retryable


def test_only_server_trouble_and_no_answer_are_retried() -> None:
    assert retryable(None) and retryable(500) and retryable(503) and retryable(429)
    for definite in (400, 403, 404, 409, 422):
        assert not retryable(definite)


def test_a_failure_reads_the_same_every_time() -> None:
    one = Failure("Forbidden", 403, "denied by policy x")
    assert one.describe() == "Forbidden (403): denied by policy x"
    assert Failure("Forbidden", 403, "denied by policy x").describe() == one.describe()
    assert len(Failure("X", None, "m" * 5000).describe()) == 1024


def test_backoff_doubles_up_to_its_cap_and_resets_on_success() -> None:
    b = Backoff(base=1, cap=8)
    delays = [b.failed("uid", now=0) for _ in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert b.holding("uid", now=7.9) and not b.holding("uid", now=8)
    assert not b.holding("other", now=0)
    b.succeeded("uid")
    assert not b.holding("uid", now=0) and b.failures("uid") == 0
