"""An ApiException becomes a stable Failure: no headers, the API's own words."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from tourniquet.shell.failures import failure_of


def _exc(status: int, body: dict[str, object], audit: str) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = json.dumps(body)
    exc.headers = {"Audit-Id": audit, "Date": audit}
    return exc


def test_two_identical_refusals_describe_the_same() -> None:
    body = {"reason": "Forbidden", "message": "denied: release freeze", "code": 403}
    one, two = failure_of(_exc(403, body, "a")), failure_of(_exc(403, body, "b"))
    assert one == two
    assert one.describe() == "Forbidden (403): denied: release freeze"
    assert not one.retryable


def test_no_body_and_other_exceptions() -> None:
    assert failure_of(ApiException(status=0, reason="timeout")).retryable
    assert failure_of(RuntimeError("boom")).describe() == "RuntimeError: boom"
