"""Delivering a notification payload to a webhook: the only I/O of comms.

One POST, retried a few times when the failure is transient; it never raises, so a
broken webhook can never stall an incident.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from tourniquet.core.notifications import one_line
from tourniquet.core.severity_policy import NotificationTarget

# Kept short: a comms update is not worth holding a reconcile for long.
DEFAULT_BACKOFF_S: Final = 0.25
_MAX_ERROR_BODY: Final = 200


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status: int | None  # the last HTTP status, None when no response came back
    error: str | None  # why it failed, never quoting the webhook URL
    attempts: int


def _redact(message: str, url: str) -> str:
    # A Slack webhook URL is a credential: errors end up in Events and logs, so only the
    # scheme and host are ever shown.
    try:
        parts = urlsplit(url)
        safe, path = f"{parts.scheme}://{parts.hostname or '?'}/…", parts.path
    except ValueError:  # e.g. an unbalanced IPv6 bracket: hide all of it
        safe, path = "<webhook URL>", ""
    message = message.replace(url, safe)
    return message.replace(path, "/…") if len(path) > 1 else message


def _transient(status: int) -> bool:
    # 5xx is the server's trouble and 429 asks us to come back later; any other 4xx (a
    # revoked or mistyped webhook, a rejected payload) fails the same way again.
    return status >= 500 or status == 429


async def deliver(
    session: aiohttp.ClientSession,
    target: NotificationTarget,
    payload: Mapping[str, Any],
    *,
    timeout_s: float = 5,
    attempts: int = 3,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> DeliveryResult:
    """POST `payload` as JSON to the target; retry on connection errors, timeouts, 5xx and
    429 with a doubling backoff; never raise (except cancellation, which must propagate).

    `timeout_s` bounds each attempt. Redirects are not followed: a webhook that moved
    should be reconfigured, and following one would re-send the payload elsewhere.
    """
    if attempts < 1:
        return DeliveryResult(False, None, f"attempts must be at least 1, not {attempts}", 0)
    try:
        body = json.dumps(payload, ensure_ascii=False).encode()
    except (TypeError, ValueError) as failure:
        return DeliveryResult(False, None, f"payload is not JSON-serialisable: {failure}", 0)
    headers = {"Content-Type": "application/json", "User-Agent": "tourniquet"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    status: int | None = None
    error = "failed"
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 2))
        status = None
        try:
            async with session.post(
                target.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return DeliveryResult(True, status, None, attempt)
                error = f"HTTP {status} {response.reason or ''}".rstrip()
                detail = one_line(await _read_some(response))
                if detail:
                    error += f": {detail}"
                if 300 <= status < 400:
                    error += " (redirects are not followed; configure the final URL)"
                if not _transient(status):
                    return DeliveryResult(False, status, _redact(error, target.url), attempt)
        except TimeoutError:
            error = f"timed out after {timeout_s:g}s"
        except aiohttp.InvalidURL as failure:
            # The same URL fails the same way: not worth a retry.
            return DeliveryResult(False, None, _redact(_describe(failure), target.url), attempt)
        except aiohttp.ClientError as failure:
            error = _describe(failure)
        except Exception as failure:  # never raise: a broken webhook must not stall a reconcile
            return DeliveryResult(False, None, _redact(_describe(failure), target.url), attempt)
    return DeliveryResult(False, status, _redact(error, target.url), attempts)


def _describe(failure: Exception) -> str:
    detail = str(failure)
    return f"{type(failure).__name__}: {detail}" if detail else type(failure).__name__


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """The start of an error body (Slack says e.g. `invalid_token` there), or nothing."""
    try:
        chunk = await response.content.read(_MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return chunk.decode("utf-8", errors="replace")
