"""The Alertmanager webhook receiver: HTTP in front of the alert intake.

    POST /alerts   Authorization: Bearer <token>   body: Alertmanager's webhook JSON (v4)
    GET  /healthz

Answers: 200 with what was done (JSON); 401 for a missing or wrong token (checked
before the body is read); 400 with a message for a body that is not a notification;
413 for a body over 1 MiB; 503 while the token cannot be read, 500 when the cluster
refused: Alertmanager retries those two. It serves its own port (--alerts-addr), so
network policy and TLS termination can treat it apart from /metrics.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tourniquet.alerts.settings import ALERTS_PATH
from tourniquet.core.alert_intake import Notification, PayloadError, parse_notification
from tourniquet.observability.metrics import ALERT_NOTIFICATIONS_REJECTED

log = logging.getLogger("tourniquet.alerts.receiver")

MAX_BODY = 1024 * 1024

#: Returns the expected token (None: not available); refresh=True asks for a fresh read.
TokenSource = Callable[[bool], Awaitable[str | None]]
Intake = Callable[[Notification], Awaitable[dict[str, Any]]]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _error(status: int, reason: str, message: str, **headers: str) -> web.Response:
    ALERT_NOTIFICATIONS_REJECTED.labels(reason=reason).inc()
    return web.json_response({"error": message}, status=status, headers=headers or None)


class AlertReceiver:
    def __init__(self, addr: str, token: TokenSource, intake: Intake) -> None:
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self._token = token
        self._intake = intake
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(ALERTS_PATH, self._alerts)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _authorized(self, request: web.Request) -> web.Response | None:
        expected = await self._token(False)
        if expected is None:
            return _error(503, "unavailable", "the receiver's bearer token is not available yet")
        given = bearer(request.headers.get("Authorization"))
        if given is not None and _same(given, expected):
            return None
        # The Secret may have been rotated since it was read.
        fresh = await self._token(True)
        if given is not None and fresh is not None and _same(given, fresh):
            return None
        log.warning("alert notification from %s refused: wrong or missing token", request.remote)
        return _error(
            401,
            "unauthorized",
            "missing or wrong bearer token (Authorization: Bearer <token>)",
            **{"WWW-Authenticate": 'Bearer realm="tourniquet-alerts"'},
        )

    async def _alerts(self, request: web.Request) -> web.Response:
        refused = await self._authorized(request)
        if refused is not None:
            return refused
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
        try:
            notification = parse_notification(raw)
        except PayloadError as exc:
            log.warning("alert notification refused: %s", exc)
            return _error(400, "malformed", str(exc))
        try:
            result = await self._intake(notification)
        except Exception as exc:  # the cluster said no: Alertmanager retries on 5xx
            log.exception("alert notification %s failed", notification.group_key)
            return _error(500, "failed", f"{type(exc).__name__}: {exc}")
        return web.json_response(result)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
