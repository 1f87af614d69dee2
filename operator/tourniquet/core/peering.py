"""Which replica acts: kopf peering, decided from the peering object's status. Pure.

kopf pauses a replica that sees a live peer with a higher priority, and pauses *every*
replica that sees one with the same priority ("Pausing all operators, including self"):
left at kopf's default priority 0, two replicas stop each other and nobody acts. So each
replica's priority comes from its own name (the pod's), distinct in practice, and its
readiness says what the peering object says it is: the active replica, a standby behind
a live active one, or neither (its own keepalive is not landing, or a conflict).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tourniquet.core.clock import parse_time

#: kopf's assumption for a peer that does not say its lifetime.
DEFAULT_LIFETIME = 60
_PRIORITY_RANGE = 2**31 - 2


class Role(StrEnum):
    ACTIVE = "active"  # no live peer outranks it: it handles the Incidents
    STANDBY = "standby"  # a live peer with a higher priority acts; this one takes over
    CONFLICT = "conflict"  # a live peer has the same priority: kopf pauses both
    UNKNOWN = "unknown"  # its own keepalive is missing or stale


def priority_of(identity: str) -> int:
    """A stable priority in 1..2**31-2 from a replica's identity (its pod name): two
    replicas of one Deployment get different ones (a clash, at 1 in 2**31, is reported as
    a CONFLICT, never hidden)."""
    digest = int(hashlib.sha256(identity.encode()).hexdigest()[:16], 16)
    return 1 + digest % _PRIORITY_RANGE


@dataclass(frozen=True)
class Peer:
    identity: str
    priority: int
    lastseen: datetime | None
    lifetime: int

    def alive(self, now: datetime) -> bool:
        return self.lastseen is not None and now < self.lastseen + timedelta(seconds=self.lifetime)


def peers(status: object) -> list[Peer]:
    """The peers in a KopfPeering's status (kopf writes {identity: {priority, lastseen,
    lifetime}}); malformed entries are skipped."""
    if not isinstance(status, Mapping):
        return []
    found = []
    for identity, info in status.items():
        if not isinstance(info, Mapping):
            continue
        priority, lifetime = info.get("priority"), info.get("lifetime")
        found.append(
            Peer(
                identity=str(identity),
                priority=priority if isinstance(priority, int) else 0,
                lastseen=parse_time(info.get("lastseen")),
                lifetime=lifetime
                if isinstance(lifetime, int) and lifetime > 0
                else DEFAULT_LIFETIME,
            )
        )
    return found


def role(status: object, identity: str, priority: int, now: datetime) -> Role:
    everyone = peers(status)
    own = next((p for p in everyone if p.identity == identity), None)
    if own is None or not own.alive(now):
        return Role.UNKNOWN
    live = [p for p in everyone if p.identity != identity and p.alive(now)]
    if any(p.priority > priority for p in live):
        return Role.STANDBY
    if any(p.priority == priority for p in live):
        return Role.CONFLICT
    return Role.ACTIVE


def describe(body: Mapping[str, Any] | None, identity: str, priority: int, now: datetime) -> str:
    """One line for the log: this replica's role and its peers."""
    status = (body or {}).get("status")
    others = [p for p in peers(status) if p.identity != identity]
    listed = ", ".join(f"{p.identity} ({p.priority})" for p in others) or "none"
    return f"{role(status, identity, priority, now)} as {identity} ({priority}); peers: {listed}"
