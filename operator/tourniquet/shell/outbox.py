"""The comms outbox: notifications go out after, and apart from, the reconcile that
recorded them.

A reconcile only stages deliveries on its draft (shell/forward_comms.py). Once the
status that records them is written, `commit` hands them here; each delivery runs as its
own task with a short timeout and a few retries. So a webhook that never answers delays
nothing (least of all an undo, which runs under the same per-incident lock), and a
status-write conflict, which drops the draft, never sends a batch twice: the next
reconcile stages it again from the status as written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from tourniquet.api.vocabulary import Reason
from tourniquet.core.severity_policy import NotificationTarget
from tourniquet.notifications import delivery
from tourniquet.observability import metrics
from tourniquet.shell.kube import Kube

log = logging.getLogger("tourniquet")

TIMEOUT_S: Final = 2.0  # per attempt: a webhook that has not answered by then is down
ATTEMPTS: Final = 3
CONCURRENCY: Final = 16  # deliveries in flight at once
MAX_PENDING: Final = 1000  # past that, new deliveries are dropped (and counted)


@dataclass(frozen=True)
class Delivery:
    """One payload for one webhook, about one Incident."""

    target: NotificationTarget
    payload: Mapping[str, Any]
    incident: Mapping[str, Any]  # apiVersion, kind and metadata, for a failure Event


class Outbox:
    def __init__(self, http: aiohttp.ClientSession, kube: Kube) -> None:
        self._http = http
        self._kube = kube
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def post(self, deliveries: Iterable[Delivery]) -> None:
        """Start delivering; returns at once."""
        for item in deliveries:
            if len(self._tasks) >= MAX_PENDING:
                metrics.NOTIFICATIONS.labels(target=item.target.name, result="dropped").inc()
                log.warning("comms outbox full: update to %s dropped", item.target.name)
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for what is in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.drain()

    async def _deliver(self, item: Delivery) -> None:
        async with self._slots:
            result = await delivery.deliver(
                self._http, item.target, item.payload, timeout_s=TIMEOUT_S, attempts=ATTEMPTS
            )
        metrics.NOTIFICATIONS.labels(
            target=item.target.name, result="delivered" if result.ok else "failed"
        ).inc()
        if result.ok:
            return
        message = f"comms update not delivered to {item.target.name}: {result.error}"
        log.warning("%s", message)
        try:
            await self._kube.post_event(
                dict(item.incident), "Warning", Reason.NOTIFICATION_FAILED, message
            )
        except Exception:  # an Event is a courtesy: its failure is only logged
            log.exception("could not post the NotificationFailed Event")
