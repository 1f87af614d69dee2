"""The kopf shell: watch, read the indexes, run the playbook steps, write the result.

Decisions live in incident_flow, guards, suspect and rollback; this module only
moves data between them and the cluster. Reconciliation is level-triggered: any
Incident event, and a short resync while an incident is open, runs the same
idempotent `reconcile`, which writes nothing when nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf

from tourniquet.api.names import FINALIZER, GROUP, INCIDENTS, VERSION
from tourniquet.core import lifecycle as flow
from tourniquet.core import playbook, runbooks
from tourniquet.core.projections import (
    DeploymentView,
    ReplicaSetView,
    deployment_view,
    replicaset_view,
)
from tourniquet.core.suspect import find_suspect
from tourniquet.observability import metrics
from tourniquet.observability.metrics import INCIDENT_STATE, MetricsServer
from tourniquet.shell import playbook_io
from tourniquet.shell import undo as undo_shell
from tourniquet.shell.kube import Kube, load_config
from tourniquet.shell.policy_watch import PolicyWatch
from tourniquet.shell.runbook_handlers import RUNBOOKS  # also registers their handlers
from tourniquet.shell.settings import current
from tourniquet.shell.status_writer import commit

log = logging.getLogger("tourniquet")

SETTINGS = current()
# Set by kopf once its watches and indexes are up (kopf.run's ready_flag): /readyz.
READY = threading.Event()


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Annotations, not status.kopf: the structural schema would prune an unknown status field.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Explicit watch timeouts: a silently dead connection is noticed within minutes.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING
    load_config()
    memo.kube = Kube()
    memo.locks = {}
    memo.superseded = {}
    memo.followed = {}
    memo.http = aiohttp.ClientSession()
    memo.policy = PolicyWatch(SETTINGS.policy_configmap, SETTINGS.policy_refresh_seconds)
    await memo.policy.refresh(memo.kube)
    memo.policy_task = asyncio.create_task(memo.policy.run(memo.kube))
    memo.server = MetricsServer(SETTINGS.metrics_addr, ready=READY.is_set)
    await memo.server.start()
    log.info("metrics and probes on http://%s/metrics (/healthz, /readyz)", SETTINGS.metrics_addr)
    if SETTINGS.trust_unverified_approvals:
        log.warning(
            "trusting approvals the API server did not verify (--trust-unverified-approvals)"
        )


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    memo.policy_task.cancel()
    await memo.http.close()
    await memo.server.stop()


# In-memory views of Deployments and ReplicaSets, by namespace: small projections, so
# finding a suspect costs no API request and little memory.
@kopf.index("apps", "v1", "deployments")
def deployments_by_namespace(
    *, body: kopf.Body, namespace: str | None, **_: Any
) -> dict[str | None, DeploymentView]:
    return {namespace: deployment_view(body)}


@kopf.index("apps", "v1", "replicasets")
def replicasets_by_namespace(
    *, body: kopf.Body, namespace: str | None, **_: Any
) -> dict[str | None, ReplicaSetView]:
    return {namespace: replicaset_view(body)}


def _is_live(body: kopf.Body, **_: Any) -> bool:
    return not body.metadata.get("deletionTimestamp")


def _needs_resync(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    """Open incidents watch for newer rollouts and deadlines; an undo in flight is
    followed to the end."""
    in_flight = (status.get("mitigation") or {}).get("result") == "InProgress"
    return _is_live(body) and (not status.get("resolvedAt") or in_flight)


def _needs_followup(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    """Resolved incidents still owe a postmortem and its action items: checked slowly."""
    return (
        _is_live(body)
        and bool(status.get("resolvedAt"))
        and not _needs_resync(body=body, spec=spec, status=status)
    )


@kopf.on.event(GROUP, VERSION, INCIDENTS, when=_is_live)
async def incident_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    await reconcile(
        body, memo, kwargs["deployments_by_namespace"], kwargs["replicasets_by_namespace"]
    )


@kopf.timer(GROUP, VERSION, INCIDENTS, interval=SETTINGS.resync_seconds, when=_needs_resync)
async def incident_resync(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    await reconcile(
        body, memo, kwargs["deployments_by_namespace"], kwargs["replicasets_by_namespace"]
    )


@kopf.timer(GROUP, VERSION, INCIDENTS, interval=SETTINGS.followup_seconds, when=_needs_followup)
async def incident_followup(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    await reconcile(
        body, memo, kwargs["deployments_by_namespace"], kwargs["replicasets_by_namespace"]
    )


@kopf.on.delete(GROUP, VERSION, INCIDENTS, optional=True)
def incident_deleted(uid: str, memo: kopf.Memo, **_: Any) -> None:
    INCIDENT_STATE.set(uid, None)
    memo.locks.pop(uid, None)
    memo.superseded.pop(uid, None)


@kopf.on.event("apps", "v1", "deployments")
async def deployment_changed(
    *, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    """An undo's rollout is followed as it progresses, not only on the next resync."""
    incident = memo.followed.get((namespace, name))
    if incident is not None:
        await reconcile(
            incident,
            memo,
            kwargs["deployments_by_namespace"],
            kwargs["replicasets_by_namespace"],
            watched=kwargs["body"],
        )


def _follow_deployment(memo: kopf.Memo, d: flow.Draft, body: Mapping[str, Any]) -> None:
    """Remember which Deployment an in-flight undo waits on, with the latest Incident."""
    for key in [k for k, v in memo.followed.items() if v["metadata"]["uid"] == d.uid]:
        del memo.followed[key]
    mitigation = d.mitigation or {}
    if mitigation.get("result") == "InProgress" and mitigation.get("deployment"):
        memo.followed[(d.namespace, str(mitigation["deployment"]))] = body


async def reconcile(
    body: Mapping[str, Any],
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
    watched: Mapping[str, Any] | None = None,
) -> None:
    uid = str(body["metadata"]["uid"])
    async with memo.locks.setdefault(uid, asyncio.Lock()):
        metrics.RECONCILES.inc()
        draft = flow.Draft(body, datetime.now(UTC), SETTINGS.timeline_limit)
        _follow_deployment(memo, draft, body)
        if draft.resource_version in memo.superseded.get(uid, ()):
            # This reconcile waited for the lock while a newer version was written; it
            # would decide on stale status. The event for the newer version follows.
            return
        try:
            await _reconcile(draft, memo, deployments, replicasets, watched)
        except Exception as exc:  # one bad object must never take the operator down
            metrics.RECONCILE_ERRORS.inc()
            log.exception("reconciling %s/%s failed", draft.namespace, draft.name)
            failed = flow.Draft(body, datetime.now(UTC), SETTINGS.timeline_limit)
            flow.failed_reconcile(failed, f"{type(exc).__name__}: {exc}")
            await commit(failed, memo, deployments)


async def _reconcile(
    d: flow.Draft,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
    watched: Mapping[str, Any] | None = None,
) -> None:
    policy = memo.policy.policy
    flow.declare(d)
    runbooks.link_runbook(d, RUNBOOKS)
    flow.forget_cleared_approval(d)
    rule = playbook.apply_policy(d, policy)
    playbook.observe_roles(d)
    playbook.acknowledge(d, rule)
    await playbook_io.forward_updates(d, memo, policy, rule)
    playbook.track_comms(d, policy, rule)
    if flow.suspect_may_change(d):
        selector = (d.spec.get("scope") or {}).get("selector")
        found = find_suspect(
            deployments.get(d.namespace, []), replicasets.get(d.namespace, []), selector
        )
        flow.identify_suspect(d, found)
    playbook.track_checklist(d, policy)
    if flow.second_approval(d):
        flow.refuse_second_undo(d)
    if flow.awaiting_undo(d) or undo_shell.paused_refusal_cleared(d, deployments):
        if await undo_shell.undo(d, memo, deployments):  # refused: the record is the result
            await _wrap_up(d, memo, deployments)
        return
    in_flight = (d.mitigation or {}).get("result") == "InProgress"
    if in_flight and not await undo_shell.follow(d, memo, deployments, watched):
        return
    await _wrap_up(d, memo, deployments)


async def _wrap_up(d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]) -> None:
    """The all-clear, the postmortem, the phase; then one status write."""
    flow.resolve(d)
    playbook.track_postmortem(d, playbook.rule_for(d, memo.policy.policy))
    flow.finish(d)
    await playbook_io.write_postmortem(d, memo)
    await commit(d, memo, deployments)
