"""Kubernetes Events for what a status write recorded: posted in the background, in
order, after the write (never on the undo's path), and from any task — kopf.event works
only inside kopf's own handler tasks, and the caches' watch events run outside them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tourniquet.shell.kube import Kube

log = logging.getLogger("tourniquet.events")

Announcement = tuple[Mapping[str, Any], str, str, str]  # involved object, type, reason, message


def post_in_background(
    kube: Kube, announcements: Sequence[Announcement], tasks: list[asyncio.Task[None]]
) -> None:
    if not announcements:
        return
    task = asyncio.create_task(_post(kube, list(announcements)))
    tasks.append(task)
    task.add_done_callback(lambda done: tasks.remove(done) if done in tasks else None)


async def _post(kube: Kube, announcements: list[Announcement]) -> None:
    for involved, type_, reason, message in announcements:
        try:
            await kube.post_event(dict(involved), type_, reason, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an Event is a courtesy: the record is the status
            log.warning("posting the %s Event failed: %s", reason, exc)
