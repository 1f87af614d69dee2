"""The operator's runtime: everything a handler needs, typed, built once at start-up and
handed to each handler (no untyped kopf memo, no module globals)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tourniquet.alerts.receiver import AlertReceiver
from tourniquet.api.names import APPROVAL_POLICY_NAME
from tourniquet.core.backoff import Backoff
from tourniquet.core.runbooks import RunbookView
from tourniquet.observability.metrics import RUNBOOKS as RUNBOOKS_GAUGE
from tourniquet.shell.kube import Kube
from tourniquet.shell.outbox import Outbox
from tourniquet.shell.policy_presence import PolicyPresence
from tourniquet.shell.policy_watch import PolicyWatch
from tourniquet.shell.settings import Settings
from tourniquet.shell.workload_cache import Indexes, WorkloadCache


class RunbookCache(dict[tuple[str, str], RunbookView]):
    """The runbooks the operator watches, by (namespace, name)."""

    def put(self, view: RunbookView) -> None:
        self[(view.namespace, view.name)] = view
        self._count()

    def drop(self, namespace: str, name: str) -> None:
        self.pop((namespace, name), None)
        self._count()

    def _count(self) -> None:
        valid = sum(1 for view in self.values() if view.valid)
        RUNBOOKS_GAUGE.labels(valid="true").set(valid)
        RUNBOOKS_GAUGE.labels(valid="false").set(len(self) - valid)


@dataclass
class Runtime:
    settings: Settings
    kube: Kube
    http: aiohttp.ClientSession
    policy: PolicyWatch
    #: Whether the approval policy is installed and bound with Deny (checked in the back).
    approval_policy: PolicyPresence = field(
        default_factory=lambda: PolicyPresence(APPROVAL_POLICY_NAME)
    )
    #: Deployments and ReplicaSets as small projections, kept by lean watches.
    workloads: WorkloadCache = field(default_factory=WorkloadCache)
    runbooks: RunbookCache = field(default_factory=RunbookCache)
    #: One lock per Incident (by uid): its reconciles never overlap.
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: resourceVersions of an Incident this operator has written over: a reconcile that
    #: waited for the lock with one of them would decide on stale status.
    superseded: dict[str, list[str | None]] = field(default_factory=dict)
    #: (namespace, Deployment) an in-flight undo waits on -> the latest Incident body.
    followed: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: uid -> the Incident as this operator last wrote it.
    written: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: uid -> the suspect Deployment and its ReplicaSets, read while the undo awaits its
    #: approval: the approved undo needs no read while the cache shows them current.
    prefetched: dict[str, tuple[Mapping[str, Any], list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    background: list[asyncio.Task[None]] = field(default_factory=list)
    #: Incidents whose reconcile keeps failing wait this long before the next attempt.
    backoff: Backoff = field(default_factory=Backoff)
    alert_receiver: AlertReceiver | None = None
    #: Comms deliveries, sent after the status recording them is written.
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.http, self.kube)

    @property
    def indexes(self) -> Indexes:
        return Indexes(self.workloads.deployments, self.workloads.replicasets)

    def remember_written(self, uid: str, written: Mapping[str, Any]) -> None:
        """The Incident as this operator last wrote it: an error after a write in the same
        reconcile is recorded on it (not on the stale body, whose write would conflict), and
        a watched Deployment's event reconciles it."""
        self.written[uid] = written
        for key, followed in self.followed.items():
            if followed["metadata"]["uid"] == uid:
                self.followed[key] = written

    def latest(self, uid: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """`body`, or what this operator wrote over it (resourceVersions are opaque: the
        superseded list says which is newer, not a comparison)."""
        written = self.written.get(uid)
        version = (body.get("metadata") or {}).get("resourceVersion")
        return written if written is not None and version in self.superseded.get(uid, ()) else body

    def lock(self, uid: str) -> asyncio.Lock:
        return self.locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        self.locks.pop(uid, None)
        self.superseded.pop(uid, None)
        self.written.pop(uid, None)
        self.prefetched.pop(uid, None)
        self.backoff.succeeded(uid)


@dataclass
class Probes:
    """What /readyz reports: set by kopf once its watches and indexes are up."""

    ready: threading.Event = field(default_factory=threading.Event)
