"""This replica's part in kopf peering (core/peering.py decides): its identity and
priority, handed to kopf, and its role, read from the peering object every few seconds
for /readyz and for the work the operator does outside kopf's handlers (following a
rollout from the workload cache's events), which a standby must not do."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tourniquet.core import peering
from tourniquet.core.peering import Role
from tourniquet.shell.kube import ApiException, Kube

log = logging.getLogger("tourniquet.peering")

#: Where the pod's name comes from (the chart sets it from the downward API); kopf's own
#: variable is honoured too.
POD_NAME_VARIABLES = ("POD_NAME", "POD_ID")


def own_identity() -> str:
    """The pod's name; outside a pod, user@host/pid (two local processes differ)."""
    for variable in POD_NAME_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return f"{getpass.getuser()}@{socket.gethostname()}/{os.getpid()}"


_ORDER = (Role.UNKNOWN, Role.CONFLICT, Role.STANDBY, Role.ACTIVE)


class PeeringRole:
    """The role of this replica; ACTIVE when it runs standalone."""

    def __init__(
        self,
        kube: Kube,
        name: str | None,
        namespaces: Sequence[str],
        identity: str,
        interval: float = 2.0,
    ) -> None:
        self.kube, self.name, self.namespaces = kube, name, tuple(namespaces)
        self.identity = identity
        self.priority = peering.priority_of(identity)
        self.interval = interval
        self.role = Role.ACTIVE if name is None else Role.UNKNOWN

    @property
    def acting(self) -> bool:
        return self.role is Role.ACTIVE

    @property
    def ready(self) -> bool:
        """Active, or a standby behind a live active replica: both are what they should be."""
        return self.role in (Role.ACTIVE, Role.STANDBY)

    async def refresh(self) -> Role:
        if self.name is None:
            return self.role
        now = datetime.now(UTC)
        roles = []
        # kopf keeps one KopfPeering per watched namespace, or one ClusterKopfPeering.
        for namespace in self.namespaces or (None,):
            try:
                body: dict[str, Any] | None = await self.kube.get_peering(namespace, self.name)
            except ApiException as exc:
                log.warning("reading peering %s failed: %s", self.name, exc.reason)
                body = None
            roles.append(
                peering.role((body or {}).get("status"), self.identity, self.priority, now)
            )
        role = min(roles, key=_ORDER.index)
        if role is not self.role:
            log.info(
                "peering %s: %s",
                self.name,
                peering.describe(body, self.identity, self.priority, now),
            )
        self.role = role
        return role

    async def run(self) -> None:
        while self.name is not None:
            await self.refresh()
            await asyncio.sleep(self.interval)
