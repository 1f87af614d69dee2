"""The Alertmanager webhook receiver: HTTP in front of the alert intake.

    POST /alerts   Authorization: Bearer <token>   body: Alertmanager's webhook JSON (v4)
    GET  /healthz

Answers: 200 with what was done (JSON); 401 for a missing or wrong token (checked
before the body is read); 400 with a message for a body that is not a notification, or
one that cannot become a valid Incident (Alertmanager does not retry a 4xx: the same
body would be refused forever); 408 when the body does not arrive in time; 413 for a
body over 1 MiB; 503 while the token cannot be read, 500 when the cluster refused:
Alertmanager retries those two. It serves its own port (--alerts-addr), so network
policy and TLS termination can treat it apart from /metrics.

Hardened (connection_guard): at most 64 connections at once, 10 s for a request's
headers, 30 s for its body, one request per connection; the body is parsed and matched
in a worker thread, so a group of thousands of alerts never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tourniquet.alerts.connection_guard import ConnectionGuard, Limits
from tourniquet.alerts.settings import ALERTS_PATH
from tourniquet.core.alert_intake import Notification, PayloadError, parse_notification
from tourniquet.observability.metrics import ALERT_NOTIFICATIONS_REJECTED

log = logging.getLogger("tourniquet.alerts.receiver")

MAX_BODY = 1024 * 1024

#: Returns the expected token (None: not available); refresh=True asks for a fresh read.
TokenSource = Callable[[bool], Awaitable[str | None]]
Intake = Callable[[Notification], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    def __init__(
        self, addr: str, token: TokenSource, intake: Intake, limits: Limits | None = None
    ) -> None:
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self._token = token
        self._intake = intake
        self.limits = limits or Limits()
        self._runner: web.AppRunner | None = None
        self._guard: ConnectionGuard | None = None
        self._server: asyncio.Server | None = None

    @web.middleware
    async def _one_request(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The headers are in: the connection's header deadline is met.
        if self._guard is not None:
            self._guard.headers_arrived(request.transport)
        response = await handler(request)
        # One request per connection, so that the next request's headers run against a
        # deadline too (aiohttp would wait for them on a kept-alive connection).
        response.force_close()
        return response

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._one_request])
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
            async with asyncio.timeout(self.limits.body_timeout):
                raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
        except TimeoutError:
            return _error(
                408, "body_timeout", f"the body did not arrive in {self.limits.body_timeout} s"
            )
        try:
            # Off the event loop: a 1 MiB body of thousands of alerts takes a while.
            notification = await asyncio.to_thread(parse_notification, raw)
        except PayloadError as exc:
            log.warning("alert notification refused: %s", exc)
            return _error(400, "malformed", str(exc))
        try:
            result = await self._intake(notification)
        except PayloadError as exc:  # valid JSON, but never a valid Incident
            log.warning("alert notification %s refused: %s", notification.group_key, exc)
            return _error(400, "invalid_incident", str(exc))
        except Exception as exc:  # the cluster said no: Alertmanager retries on 5xx
            log.exception("alert notification %s failed", notification.group_key)
            return _error(500, "failed", f"{type(exc).__name__}: {exc}")
        return web.json_response(result)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        # What web.TCPSite does, with each connection behind the guard.
        self._guard = ConnectionGuard(server, self.limits)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._guard, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
