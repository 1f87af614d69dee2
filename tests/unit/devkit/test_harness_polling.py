"""devkit.polling: waits with a deadline that say what they waited for."""

from __future__ import annotations

import subprocess

import pytest
from devkit.kubectl import KubectlError
from devkit.polling import WaitTimeout, wait_for


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "", "ready"])
    assert wait_for(lambda: next(values), timeout=5, interval=0) == "ready"


def test_a_timeout_says_what_and_what_it_saw_last() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for the thing; last: \[\]"):
        wait_for(lambda: [], timeout=0, what="the thing")
    with pytest.raises(WaitTimeout, match="last: it is Tuesday"):
        wait_for(lambda: None, timeout=0, what="x", describe=lambda: "it is Tuesday")


def test_a_timeout_is_both_an_assertion_and_a_timeout() -> None:
    assert issubclass(WaitTimeout, AssertionError)
    assert issubclass(WaitTimeout, TimeoutError)


def test_kubectl_failing_is_not_yet_and_anything_else_ends_the_wait() -> None:
    failed = subprocess.CompletedProcess(["kubectl"], 1, "", "connection refused")
    attempts = iter([KubectlError(["get"], failed), "ok"])

    def flaky() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return str(value)

    assert wait_for(flaky, timeout=5, interval=0) == "ok"

    def refused() -> None:
        raise AssertionError("the undo was refused")

    with pytest.raises(AssertionError, match="refused"):
        wait_for(refused, timeout=5, interval=0)
