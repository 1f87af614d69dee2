"""The Deployments and ReplicaSets the suspect search reads: small projections
(core.projections) kept current by lean list+watch streams, by namespace.

Memory and start-up stay flat as the cluster grows: each object is parsed once, projected
to a few hundred bytes and dropped. `synced` is set once every stream has its first LIST
(/readyz waits for it, and so does every Incident: none is judged on a partial view).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from tourniquet.api.models import WorkloadKind
from tourniquet.core.controller_revisions import (
    ControllerRevisionView,
    RevisionedView,
    controller_revision_view,
    revisioned_view,
)
from tourniquet.core.projections import (
    DeploymentView,
    ReplicaSetView,
    deployment_view,
    replicaset_view,
)
from tourniquet.shell.api_stream import ApiAccess, ListWatch, Resource, Sink

log = logging.getLogger("tourniquet.caches")

DEPLOYMENTS = Resource("apps/v1", "deployments")
REPLICASETS = Resource("apps/v1", "replicasets")
STATEFULSETS = Resource("apps/v1", "statefulsets")
DAEMONSETS = Resource("apps/v1", "daemonsets")
CONTROLLERREVISIONS = Resource("apps/v1", "controllerrevisions")

V = TypeVar("V", DeploymentView, ReplicaSetView, RevisionedView, ControllerRevisionView)
#: Called with every Deployment as a watch event delivers it (the undo is followed so).
DeploymentListener = Callable[[Mapping[str, Any]], None]


class Projections(Generic[V]):
    """One resource's views by namespace and uid, fed by one stream per watched scope."""

    def __init__(self, project: Callable[[Mapping[str, Any]], V]) -> None:
        self.project: Callable[[Mapping[str, Any]], V] = project
        self.by_namespace: dict[str, dict[str, V]] = {}
        self.listeners: list[Callable[[Mapping[str, Any]], None]] = []

    def stream_sink(self, namespace: str | None, on_synced: Callable[[], None]) -> Sink:
        return _StreamSink(self, namespace, on_synced)

    # what kopf's index offered: index.get(namespace, default)
    def get(self, namespace: str, default: Iterable[V] = ()) -> list[V]:
        views = self.by_namespace.get(namespace)
        return list(views.values()) if views else list(default)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_namespace.values())


class _StreamSink(Sink, Generic[V]):
    """One stream's deliveries; a relist replaces its scope wholesale (what vanished while
    the watch was down is dropped)."""

    def __init__(
        self, store: Projections[V], namespace: str | None, on_synced: Callable[[], None]
    ) -> None:
        self.store: Projections[V] = store
        self.namespace, self.on_synced = namespace, on_synced
        self._seen: set[tuple[str, str]] | None = None
        self.synced = False

    def listing(self) -> None:
        self._seen = set()

    def event(self, kind: str, obj: Mapping[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        namespace, uid = str(metadata.get("namespace", "")), str(metadata.get("uid", ""))
        store = self.store.by_namespace
        if kind == "DELETED":
            store.get(namespace, {}).pop(uid, None)
        else:
            store.setdefault(namespace, {})[uid] = self.store.project(obj)
            if self._seen is not None:
                self._seen.add((namespace, uid))
        if self._seen is None:  # a watch event, not a listed item
            for listener in self.store.listeners:
                listener(obj)

    def listed(self) -> None:
        seen, self._seen = self._seen or set(), None
        for namespace, views in self.store.by_namespace.items():
            if self.namespace is not None and namespace != self.namespace:
                continue
            for uid in [uid for uid in views if (namespace, uid) not in seen]:
                del views[uid]
        if not self.synced:
            self.synced = True
            self.on_synced()


class WorkloadCache:
    """Deployments and ReplicaSets, StatefulSets, DaemonSets and ControllerRevisions, in
    every namespace or in the watched ones."""

    def __init__(self, namespaces: tuple[str, ...] = ()) -> None:
        self.namespaces: tuple[str | None, ...] = namespaces or (None,)
        self.synced = asyncio.Event()
        streams = 5 * len(self.namespaces)
        self._pending = streams
        self.deployments: Projections[DeploymentView] = Projections(deployment_view)
        self.replicasets: Projections[ReplicaSetView] = Projections(replicaset_view)
        self.statefulsets: Projections[RevisionedView] = Projections(
            revisioned_view(WorkloadKind.STATEFUL_SET)
        )
        self.daemonsets: Projections[RevisionedView] = Projections(
            revisioned_view(WorkloadKind.DAEMON_SET)
        )
        self.revisions: Projections[ControllerRevisionView] = Projections(controller_revision_view)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    def _one_synced(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            log.info(
                "caches synced: %d Deployments, %d ReplicaSets, %d StatefulSets, "
                "%d DaemonSets, %d ControllerRevisions",
                len(self.deployments),
                len(self.replicasets),
                len(self.statefulsets),
                len(self.daemonsets),
                len(self.revisions),
            )
            self.synced.set()

    def on_deployment(self, listener: DeploymentListener) -> None:
        self.deployments.listeners.append(listener)

    def on_workload(self, listener: DeploymentListener) -> None:
        """Every workload an undo may follow: Deployments, StatefulSets, DaemonSets."""
        for store in (self.deployments, self.statefulsets, self.daemonsets):
            store.listeners.append(listener)

    def revisioned(self, namespace: str) -> list[RevisionedView]:
        return self.statefulsets.get(namespace) + self.daemonsets.get(namespace)

    async def start(self, access: ApiAccess | None = None) -> None:
        access = access or ApiAccess()
        self._session = aiohttp.ClientSession()
        for namespace in self.namespaces:
            for resource, store in (
                (DEPLOYMENTS, self.deployments),
                (REPLICASETS, self.replicasets),
                (STATEFULSETS, self.statefulsets),
                (DAEMONSETS, self.daemonsets),
                (CONTROLLERREVISIONS, self.revisions),
            ):
                sink = store.stream_sink(namespace, self._one_synced)
                stream = ListWatch(access, self._session, resource, namespace, sink)
                self._tasks.append(asyncio.create_task(stream.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


#: The views the shell passes around (what kopf's indexes were).
DeploymentIndex = Projections[DeploymentView]
ReplicaSetIndex = Projections[ReplicaSetView]


@dataclass(frozen=True)
class Indexes:
    """The views the reconcile reads, by namespace."""

    deployments: DeploymentIndex
    replicasets: ReplicaSetIndex
