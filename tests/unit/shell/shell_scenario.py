"""One cluster for the shell's unit tests: a FakeKube holding a Deployment with three
revisions and an Incident about it, a Runtime built around it, kopf's indexes as plain
dicts of projections, and kopf.event recorded.

Tests drive the shell through its entry points (reconcile, claim.undo, send_undo,
follow_rollout.follow, commit) and assert on what the fake saw: calls, stored objects,
Events, metrics. A `restart()` is a new Runtime over the same cluster, as after a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import kopf
import pytest
from factories import NAMESPACE, history, stamp
from fake_kube import DEPLOYMENTS, REPLICASETS, FakeKube

from tourniquet.api.names import INCIDENTS
from tourniquet.core.backoff import Backoff
from tourniquet.core.draft import Draft
from tourniquet.observability.metrics import REGISTRY
from tourniquet.shell import faults, reconcile
from tourniquet.shell.kube import Kube
from tourniquet.shell.policy_watch import PolicyWatch
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.settings import Settings
from tourniquet.shell.workload_cache import Indexes, Projections

T = TypeVar("T")
Body = dict[str, Any]

INCIDENT = "api-errors"
DEPLOYMENT = "api"
INCIDENT_STATUS = f"{INCIDENTS}/status"
APPROVAL: Body = {"approvedBy": "alice", "kind": "Deployment", "name": DEPLOYMENT, "revision": 3}


class Crash(BaseException):
    """The operator killed at a crash point: nothing after it runs, not even the
    reconcile's `except Exception`, as with the SIGKILL of faults.crash_point."""


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str
    kind: str
    name: str
    #: How many writes (create, patch) the cluster had seen when the Event was posted.
    after_writes: int = 0


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one shell coroutine, then what it left to finish in the background (Events are
    posted after the status write, apart from it)."""

    async def and_the_background() -> T:
        result = await coroutine
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*pending, return_exceptions=True)
        return result

    return asyncio.run(and_the_background())


def sample(name: str, **labels: str) -> float:
    """A metric's current value (0 when it has no such series yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rollbacks(result: str, reason: str | None = None) -> float:
    if reason is None:
        return sample("tourniquet_rollbacks_total", result=result)
    return sample("tourniquet_rollback_outcome_reasons_total", result=result, reason=reason)


class Scenario:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, settings: Settings | None = None) -> None:
        self.monkeypatch = monkeypatch
        self.settings = settings or Settings()
        self.kube = FakeKube()
        self.kopf_events: list[Event] = []
        #: The objects kopf.event was handed, as given.
        self.kopf_targets: list[Body] = []
        monkeypatch.setattr(kopf, "event", self._kopf_event)
        for variable in ("TOURNIQUET_CRASH_AT", "TOURNIQUET_HOLD_AT", "TOURNIQUET_HOLD_FILE"):
            monkeypatch.delenv(variable, raising=False)
        self.now = datetime.now(UTC).replace(microsecond=0)
        #: No waiting between failed reconciles unless a test asks for it (each restart
        #: starts a fresh one with these settings).
        self.backoff = Backoff(base=0.0, cap=0.0)
        self.rt = self.restart()

    # -- the operator ----------------------------------------------------------------

    def restart(self) -> Runtime:
        """A fresh operator process over the same cluster: no locks, no memory."""
        self.rt = Runtime(
            settings=self.settings,
            kube=cast(Kube, self.kube),
            http=cast(Any, object()),
            policy=PolicyWatch("", 10),
            backoff=Backoff(base=self.backoff.base, cap=self.backoff.cap),
        )
        return self.rt

    def indexes(self) -> Indexes:
        """The workload caches as their watches would leave them: relisted from the
        cluster (the same sink a LIST feeds), then marked synced."""
        cache = self.rt.workloads
        stores: tuple[tuple[Projections[Any], str], ...] = (
            (cache.deployments, DEPLOYMENTS),
            (cache.replicasets, REPLICASETS),
        )
        for store, resource in stores:
            sink = store.stream_sink(None, lambda: None)
            sink.listing()
            for body in self.kube.all(resource):
                sink.event("ADDED", body)
            sink.listed()
        cache.synced.set()
        return self.rt.indexes

    def reconcile(self, watched: Mapping[str, Any] | None = None) -> None:
        """One reconcile of the Incident as the cluster holds it now, the caches current."""
        indexes = self.indexes()
        run(reconcile.reconcile(self.rt, self.incident(), indexes, watched))

    def draft(self, body: Mapping[str, Any] | None = None) -> Draft:
        return Draft(
            body if body is not None else self.incident(),
            datetime.now(UTC),
            self.settings.timeline_limit,
        )

    def crash_at(self, step: str) -> None:
        def crash_point(name: str) -> None:
            if name == step:
                raise Crash(step)

        self.monkeypatch.setattr(faults, "crash_point", crash_point)

    # -- the cluster -----------------------------------------------------------------

    def seed(self, **deployment_args: Any) -> tuple[Body, list[Body]]:
        """Deployment api at revision 3 (1.4.1 -> 1.4.2 -> 1.4.3), one ReplicaSet each."""
        deployment, replicasets = history(resource_version="4242", **deployment_args)
        self.kube.put(DEPLOYMENTS, deployment)
        for rs in replicasets:
            self.kube.put(REPLICASETS, rs)
        return deployment, replicasets

    def declare(self, **spec: Any) -> Body:
        started = stamp(self.now - timedelta(minutes=10))
        body: Body = {
            "apiVersion": "tourniquet.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": INCIDENT,
                "namespace": NAMESPACE,
                "uid": "uid-incident-1",
                "resourceVersion": "100",
                "generation": 1,
                "creationTimestamp": started,
            },
            "spec": {
                "title": "Elevated 5xx on api",
                "severity": "SEV2",
                "roles": {"commander": "alice"},
                "startedAt": started,
                **spec,
            },
        }
        return self.kube.put(INCIDENTS, body)

    def incident(self) -> Body:
        found = self.kube.get(INCIDENTS, NAMESPACE, INCIDENT)
        assert found is not None, "the Incident is gone"
        return found

    def status(self) -> Body:
        return dict(self.incident().get("status") or {})

    def mitigation(self) -> Body:
        return dict(self.status().get("mitigation") or {})

    def deployment(self) -> Body:
        found = self.kube.get(DEPLOYMENTS, NAMESPACE, DEPLOYMENT)
        assert found is not None, "the Deployment is gone"
        return found

    def approve(self, approval: Mapping[str, Any] | None = None) -> Body:
        """The Incident Commander's status patch (not the operator's: no call recorded)."""

        def change(body: Body) -> None:
            body.setdefault("status", {})["approval"] = dict(approval or APPROVAL)

        return self.kube.edit(INCIDENTS, NAMESPACE, INCIDENT, change)

    def change_deployment(self, change: Callable[[Body], None]) -> Body:
        """Somebody else writes the Deployment."""
        return self.kube.edit(DEPLOYMENTS, NAMESPACE, DEPLOYMENT, change)

    def status_written_before_the_next_patch(self) -> None:
        """The deployment controller reports (a status write, a new resourceVersion) just
        before the operator's next Deployment patch reaches the API server."""
        self.kube.before(
            "patch",
            DEPLOYMENTS,
            lambda: self.change_deployment(lambda b: b["status"].update(observedGeneration=9)),
        )

    def rollout_completes(self) -> Body:
        """The deployment controller observes the new template and the pods become ready."""

        def change(body: Body) -> None:
            replicas = body["spec"].get("replicas", 1)
            body["status"].update(
                observedGeneration=body["metadata"]["generation"],
                replicas=replicas,
                updatedReplicas=replicas,
                readyReplicas=replicas,
                availableReplicas=replicas,
            )

        return self.change_deployment(change)

    def ready_for_undo(self, *, prefetched: bool = True) -> Body:
        """The suspect identified (one reconcile, which also reads ahead what the undo
        needs), then approved; no call recorded yet. `prefetched=False`: that read is
        gone (a restarted operator), so the undo reads fresh."""
        self.seed()
        self.declare()
        self.reconcile()
        assert self.status().get("suspect", {}).get("revision") == 3
        if not prefetched:
            self.rt.prefetched.clear()
        approved = self.approve()
        self.kube.calls.clear()
        self.kube.events.clear()
        self.kopf_events.clear()
        self.kopf_targets.clear()
        return approved

    def claimed(self) -> Body:
        """The claim written and the operator killed right after it (the undo not sent)."""
        self.ready_for_undo()
        self.crash_at("after-claim")
        with pytest.raises(Crash):
            self.reconcile()
        assert self.mitigation()["result"] == "InProgress"
        assert self.kube.calls_to("patch", DEPLOYMENTS) == []
        self.monkeypatch.setattr(faults, "crash_point", lambda name: None)
        self.restart()
        self.kube.calls.clear()
        self.kopf_events.clear()
        return self.incident()

    # -- what was announced ------------------------------------------------------------

    def _kopf_event(self, objs: Any, *, type: str, reason: str, message: str = "") -> None:
        for obj in objs if isinstance(objs, list) else [objs]:
            self.kopf_targets.append(dict(obj))
            meta = obj.get("metadata") or {}
            self.kopf_events.append(
                Event(
                    type,
                    reason,
                    message,
                    str(obj.get("kind")),
                    str(meta.get("name")),
                    len(self.kube.writes()),
                )
            )

    def events(self) -> list[Event]:
        """Every Event posted, through kopf.event or the API."""
        posted = [
            Event(
                e["type"],
                e["reason"],
                e["message"],
                str(e["involvedObject"]["kind"]),
                str(e["involvedObject"]["name"]),
                int(e.get("afterWrites", 0)),
            )
            for e in self.kube.events
        ]
        return [*self.kopf_events, *posted]

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events()]


def status_patches(kube: FakeKube) -> list[Body]:
    return [c.body for c in kube.calls_to("patch", INCIDENT_STATUS) if c.status == 200]


def conditions(body: Mapping[str, Any]) -> dict[str, Body]:
    found = (body.get("status") or {}).get("conditions") or []
    return {c["type"]: c for c in found}
