"""Connection limits aiohttp's server does not have: a cap on open connections and a
deadline for a request's headers.

aiohttp waits for a request's headers for as long as the client keeps the connection
open (only an idle keep-alive connection times out), so a client that sends one header
byte every few seconds holds a connection, and a few hundred of them hold the receiver,
before any token is checked. The guard wraps each connection's protocol: beyond
``max_connections`` a new connection is closed at once; a connection whose request
headers have not arrived within ``header_timeout`` seconds is closed. The receiver's
handlers call `headers_arrived` (a middleware) and answer with ``Connection: close``, so
every connection carries one request and the deadline covers each one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from tourniquet.observability.metrics import ALERT_NOTIFICATIONS_REJECTED

log = logging.getLogger("tourniquet.alerts.receiver")


@dataclass(frozen=True)
class Limits:
    #: Seconds from accepting a connection to its request's last header byte.
    header_timeout: float = 10.0
    #: Seconds to read a request's body, once the token has been checked.
    body_timeout: float = 30.0
    #: Connections open at once; more are closed as soon as they are accepted.
    max_connections: int = 64


class _Guarded(asyncio.Protocol):
    """One connection: the inner (aiohttp) protocol, behind the cap and the deadline."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard.admit(self):
            ALERT_NOTIFICATIONS_REJECTED.labels(reason="too_many_connections").inc()
            self._transport.abort()
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.limits.header_timeout, self._expire)
        self._inner = self._guard.protocol()
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        ALERT_NOTIFICATIONS_REJECTED.labels(reason="header_timeout").inc()
        log.debug("alert receiver: closed a connection that sent no request headers in time")
        if self._transport is not None:
            self._transport.abort()

    def headers_arrived(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.headers_arrived()
        self._guard.release(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)


class ConnectionGuard:
    """The protocol factory to serve with: ``loop.create_server(guard, host, port)``."""

    def __init__(self, protocol: Callable[[], asyncio.Protocol], limits: Limits) -> None:
        self.protocol = protocol
        self.limits = limits
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def admit(self, connection: _Guarded) -> bool:
        if len(self._open) >= self.limits.max_connections or connection._transport is None:
            return False
        self._open[connection._transport] = connection
        return True

    def release(self, connection: _Guarded) -> None:
        if connection._transport is not None:
            self._open.pop(connection._transport, None)

    def headers_arrived(self, transport: asyncio.BaseTransport | None) -> None:
        connection = self._open.get(transport) if transport is not None else None
        if connection is not None:
            connection.headers_arrived()
