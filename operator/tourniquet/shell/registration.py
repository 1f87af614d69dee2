"""Every kopf registration, in one place. Each handler is one call into a shell module:
reconcile (the incident playbook), runbook_status, alert_intake. The Runtime they share is
built at start-up from the one Settings object the CLI made."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
import kopf

from tourniquet.api.names import FINALIZER, GROUP, INCIDENTS, RUNBOOKS, VERSION
from tourniquet.api.vocabulary import Phase
from tourniquet.core import lifecycle
from tourniquet.core.peering import priority_of
from tourniquet.observability.metrics import INCIDENT_STATE, MetricsServer
from tourniquet.shell import alert_intake, reconcile, runbook_status
from tourniquet.shell.kube import Kube, load_config
from tourniquet.shell.peering_role import PeeringRole, own_identity
from tourniquet.shell.policy_presence import PolicyPresence
from tourniquet.shell.policy_watch import PolicyWatch
from tourniquet.shell.runtime import Probes, Runtime
from tourniquet.shell.settings import Settings
from tourniquet.shell.workload_cache import WorkloadCache

log = logging.getLogger("tourniquet")


def _is_live(body: kopf.Body, type: str | None = None, **_: Any) -> bool:
    """Neither being deleted nor gone (an Incident without our finalizer leaves no
    deletionTimestamp on its DELETED event); timers pass no event type."""
    return type != "DELETED" and not body.metadata.get("deletionTimestamp")


def _is_gone(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


def _needs_resync(body: kopf.Body, status: kopf.Status, **_: Any) -> bool:
    """Open incidents watch for newer rollouts and deadlines; an undo in flight is
    followed to the end."""
    return _is_live(body) and (not status.get("resolvedAt") or lifecycle.undo_in_flight(status))


def _needs_followup(body: kopf.Body, status: kopf.Status, **_: Any) -> bool:
    """Resolved incidents still owe a postmortem and its action items: checked slowly.
    A Closed one owes nothing: no timer matches it, so kopf stops its timers and releases
    its finalizer (a timer is what makes kopf put one on), and deleting its namespace or
    the CRD never waits for an operator that may be gone."""
    return (
        _is_live(body)
        and bool(status.get("resolvedAt"))
        and status.get("phase") != Phase.CLOSED
        and not _needs_resync(body, status)
    )


class Operator:
    """The registry, the probes and, once started, the Runtime."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Distinct per replica, so that kopf peering makes one active (shell/peering_role).
        self.identity = own_identity()
        self.peering: PeeringRole | None = None
        self.registry = kopf.OperatorRegistry()
        self.probes = Probes()
        self._runtime: Runtime | None = None
        self._server: MetricsServer | None = None
        self._register()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the operator has not started")
        return self._runtime

    def _register(self) -> None:
        on, registry, settings = kopf.on, self.registry, self.settings

        # A registry of our own has none of kopf's default login handlers.
        on.login(registry=registry)(kopf.login_via_client)
        on.startup(registry=registry)(self._start)
        on.cleanup(registry=registry)(self._stop)

        # One reconcile, registered three ways: on every event, on a short resync while
        # the incident is open, and on a slow follow-up while its postmortem is owed.
        async def incident(body: kopf.Body, **_: Any) -> None:
            await reconcile.reconcile(self.runtime, body, self.runtime.indexes)

        resource = (GROUP, VERSION, INCIDENTS)
        on.event(*resource, id="incident-event", when=_is_live, registry=registry)(incident)
        kopf.timer(
            *resource,
            id="incident-resync",
            interval=settings.resync_seconds,
            when=_needs_resync,
            registry=registry,
        )(incident)
        kopf.timer(
            *resource,
            id="incident-followup",
            interval=settings.followup_seconds,
            when=_needs_followup,
            registry=registry,
        )(incident)

        # The watch's DELETED event, not an on.delete handler: any change-detecting handler
        # makes kopf copy the whole spec (every update) into an annotation on each change,
        # and 100 long updates would take half of the 256 KiB all annotations share.
        @on.event(*resource, id="incident_gone", when=_is_gone, registry=registry)
        def incident_gone(uid: str, **_: Any) -> None:
            INCIDENT_STATE.set(uid, None)
            self.runtime.forget(uid)

        @on.event(GROUP, VERSION, RUNBOOKS, id="runbook_event", registry=registry)
        async def runbook_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
            await runbook_status.on_event(self.runtime, event, body)

        @on.event(
            *resource,
            id="incident_used_runbook",
            when=runbook_status.links_runbook,
            registry=registry,
        )
        async def incident_used_runbook(body: kopf.Body, **_: Any) -> None:
            await runbook_status.record_use(self.runtime, body)

    async def _start(self, settings: kopf.OperatorSettings, **_: Any) -> None:
        tune_kopf(settings, self.settings)
        ours = self.settings
        load_config()
        kube = Kube()
        self.peering = PeeringRole(kube, ours.peering, ours.namespaces, self.identity)
        policy = PolicyWatch(ours.policy_configmap, ours.policy_refresh_seconds)
        rt = Runtime(
            settings=ours,
            kube=kube,
            http=aiohttp.ClientSession(),
            policy=policy,
            workloads=WorkloadCache(ours.namespaces),
            approval_policy=PolicyPresence(ours.approval_policy),
        )
        self._runtime = rt
        rt.workloads.on_workload(self._deployment_changed)
        await rt.workloads.start()
        await policy.refresh(kube)
        rt.background.append(asyncio.create_task(policy.run(kube)))
        rt.background.append(asyncio.create_task(rt.approval_policy.run(kube)))
        rt.background.append(asyncio.create_task(self.peering.run()))
        self._server = MetricsServer(ours.metrics_addr, ready=self._ready)
        await self._server.start()
        log.info("metrics and probes on http://%s/metrics (/healthz, /readyz)", ours.metrics_addr)
        if ours.trust_unverified_approvals:
            log.warning(
                "trusting approvals the API server did not verify (--trust-unverified-approvals)"
            )
        await alert_intake.start(rt)

    def _ready(self) -> bool:
        """Ready once kopf watches the Incidents and the caches have their first lists,
        and, with peering, while this replica is the active one or a standby behind it."""
        peering_ok = self.peering is None or self.peering.ready
        return self.probes.ready.is_set() and self.runtime.workloads.synced.is_set() and peering_ok

    def _deployment_changed(self, body: Mapping[str, Any]) -> None:
        """An undo's rollout is followed as it progresses, not only on the resync."""
        rt = self.runtime
        if self.peering is not None and not self.peering.acting:
            return  # a standby's kopf is paused: the active replica follows the rollout
        metadata = body.get("metadata") or {}
        followed = rt.followed.get((str(metadata.get("namespace")), str(metadata.get("name"))))
        if followed is not None:
            task = asyncio.create_task(reconcile.reconcile(rt, followed, rt.indexes, watched=body))
            rt.background.append(task)
            task.add_done_callback(rt.background.remove)

    async def _stop(self, **_: Any) -> None:
        rt = self.runtime
        await rt.workloads.stop()
        for task in rt.background:
            task.cancel()
        await alert_intake.stop(rt)
        await rt.outbox.close()
        await rt.http.close()
        if self._server is not None:
            await self._server.stop()


def tune_kopf(settings: kopf.OperatorSettings, ours: Settings) -> None:
    """kopf's settings for serving Incidents and Runbooks as this operator needs."""
    settings.persistence.finalizer = FINALIZER
    # Annotations, not status.kopf: the structural schema would prune it.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Explicit watch timeouts: a silently dead connection is noticed within minutes.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING
    settings.peering.lifetime = ours.peering_lifetime
    # Watching named namespaces (-n, the chart's watchNamespaces): exactly those. With
    # scanning on, kopf first lists every namespace, which namespaced RBAC rightly forbids,
    # and retries that 403 for ~54 s before it falls back to the names given; no Incident
    # was handled meanwhile. (Off, kopf also stops watching CRDs: a new version of ours is
    # served after a restart.)
    settings.scanning.disabled = bool(ours.namespaces)


def run(settings: Settings) -> None:
    """Run the operator in the foreground until it is stopped."""
    operator = Operator(settings)
    kopf.run(
        registry=operator.registry,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        identity=cast(Any, operator.identity),  # kopf.peering.Identity: a NewType of str
        priority=priority_of(operator.identity),
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        ready_flag=operator.probes.ready,
    )
