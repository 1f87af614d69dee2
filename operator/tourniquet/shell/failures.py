"""Any exception, as a stable core Failure: reason, HTTP status and the API's message,
never the response headers (their Audit-Id and Date change on every request)."""

from __future__ import annotations

import json

from tourniquet.core.backoff import Failure
from tourniquet.shell.kube import ApiException


def failure_of(exc: BaseException) -> Failure:
    if isinstance(exc, ApiException):
        reason, message = str(exc.reason or "ApiError"), ""
        try:
            body = json.loads(exc.body) if exc.body else {}
        except (TypeError, ValueError):
            body = {}
        if isinstance(body, dict):
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or "")
        status = exc.status if isinstance(exc.status, int) and exc.status > 0 else None
        return Failure(reason, status, message or str(exc.reason or "no message"))
    return Failure(type(exc).__name__, None, str(exc) or type(exc).__name__)
