"""The kopf shell: watch, read the indexes, run the playbook steps, write the result.

Decisions live in incident_flow, guards, suspect and rollback; this module only
moves data between them and the cluster. Reconciliation is level-triggered: any
Incident event, and a short resync while an incident is open, runs the same
idempotent `reconcile`, which writes nothing when nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from tourniquet import faults, metrics
from tourniquet import incident_flow as flow
from tourniquet.guards import Refusal, UndoRequest, check_undo
from tourniquet.kube import ApiException, Kube, load_config
from tourniquet.metrics import OPEN_INCIDENTS, MetricsServer
from tourniquet.models import GROUP, VERSION
from tourniquet.projections import DeploymentView, ReplicaSetView, deployment_view, replicaset_view
from tourniquet.rollback import UndoPlan
from tourniquet.rollout_status import rollout_status
from tourniquet.settings import FINALIZER, INCIDENTS, Settings
from tourniquet.suspect import find_suspect

log = logging.getLogger("tourniquet")

SETTINGS = Settings.from_env()
OPEN_PHASES = ("Declared", "Mitigating", "Mitigated")


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
    memo.server = MetricsServer(SETTINGS.metrics_addr, ready=lambda: True)
    await memo.server.start()
    log.info("metrics and probes on http://%s/metrics (/healthz, /readyz)", SETTINGS.metrics_addr)
    if SETTINGS.trust_unverified_approvals:
        log.warning(
            "trusting approvals the API server did not verify (--trust-unverified-approvals)"
        )


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
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
    # Open incidents watch for newer rollouts; an undo in flight is followed to the end.
    in_flight = (status.get("mitigation") or {}).get("result") == "InProgress"
    return _is_live(body) and (
        not spec.get("resolved") or in_flight or not status.get("resolvedAt")
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


@kopf.on.delete(GROUP, VERSION, INCIDENTS, optional=True)
def incident_deleted(uid: str, memo: kopf.Memo, **_: Any) -> None:
    OPEN_INCIDENTS.set(uid, None)
    memo.locks.pop(uid, None)


async def reconcile(
    body: kopf.Body,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
) -> None:
    uid = str(body.metadata.uid)
    async with memo.locks.setdefault(uid, asyncio.Lock()):
        metrics.RECONCILES.inc()
        draft = flow.Draft(body, datetime.now(UTC))
        try:
            await _reconcile(draft, memo, deployments, replicasets)
        except Exception as exc:  # one bad object must never take the operator down
            metrics.RECONCILE_ERRORS.inc()
            log.exception("reconciling %s/%s failed", draft.namespace, draft.name)
            failed = flow.Draft(body, datetime.now(UTC))
            flow.failed_reconcile(failed, f"{type(exc).__name__}: {exc}")
            await _commit(failed, memo, deployments)


async def _reconcile(
    d: flow.Draft,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
) -> None:
    flow.declare(d)
    flow.forget_cleared_approval(d)
    if flow.suspect_may_change(d):
        selector = (d.spec.get("scope") or {}).get("selector")
        found = find_suspect(
            deployments.get(d.namespace, []), replicasets.get(d.namespace, []), selector
        )
        flow.identify_suspect(d, found)
    if flow.second_approval(d):
        flow.refuse_second_undo(d)
    if flow.awaiting_undo(d) or _paused_refusal_cleared(d, deployments):
        await _undo(d, memo, deployments)
        return
    in_flight = (d.mitigation or {}).get("result") == "InProgress"
    if in_flight and not await _follow(d, memo, deployments):
        return
    flow.resolve(d)
    flow.finish(d)
    await _commit(d, memo, deployments)


def _paused_refusal_cleared(d: flow.Draft, deployments: kopf.Index[str, Any]) -> bool:
    """An undo refused only because the Deployment was paused goes ahead once it is
    resumed: same approval, same target (the guards check that again)."""
    mitigation = d.mitigation or {}
    if not (flow.approval_answered(d) and mitigation.get("reason") == "DeploymentPaused"):
        return False
    views = [v for v in deployments.get(d.namespace, []) if v.name == mitigation.get("deployment")]
    return bool(views) and not views[0].paused


async def _undo(d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]) -> None:
    """The guarded undo: fresh reads, the guards, a claim in status, then the patch."""
    kube: Kube = memo.kube
    outcome, deployment = await _check(d, memo, mitigation=d.mitigation)
    if isinstance(outcome, Refusal):
        flow.refuse(d, outcome)
        flow.resolve(d)
        flow.finish(d)
        await _commit(d, memo, deployments)
        return
    assert deployment is not None
    flow.claim_undo(
        d,
        outcome,
        str((d.suspect or {}).get("deployment")),
        str(deployment["metadata"]["resourceVersion"]),
    )
    flow.finish(d)
    claimed = await _commit(d, memo, deployments)
    if claimed is None:
        return  # somebody wrote the Incident first; the next event decides again
    faults.crash_point("after-claim")
    await _send_undo(claimed, outcome, kube, memo, deployments)


async def _check(
    d: flow.Draft, memo: kopf.Memo, mitigation: Mapping[str, Any] | None
) -> tuple[UndoPlan | Refusal, dict[str, Any] | None]:
    kube: Kube = memo.kube
    name = (d.suspect or {}).get("deployment")
    deployment = await kube.get_deployment(d.namespace, name) if name else None
    replicasets = await kube.list_replicasets(d.namespace) if deployment else []
    verified = (
        await kube.approval_policy_enforced(SETTINGS.approval_policy) if d.approval else False
    )
    outcome = check_undo(
        UndoRequest(
            approval=d.approval,
            suspect=d.suspect,
            mitigation=mitigation,
            approval_verified=verified,
            trust_unverified=SETTINGS.trust_unverified_approvals,
            deployment=deployment,
            replicasets=replicasets,
            approval_policy=SETTINGS.approval_policy,
        )
    )
    return outcome, deployment


async def _send_undo(
    claimed: Mapping[str, Any],
    plan: UndoPlan,
    kube: Kube,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
) -> None:
    d = flow.Draft(claimed, datetime.now(UTC))
    name = str((d.mitigation or {}).get("deployment"))
    await faults.hold_point("before-undo-patch")
    log.info(
        "%s/%s: undoing deployment/%s revision %s -> %s",
        d.namespace,
        d.name,
        name,
        plan.from_revision,
        plan.to_revision,
    )
    try:
        await kube.json_patch_deployment(d.namespace, name, plan.patch)
    except ApiException as exc:
        if exc.status not in (409, 422):
            raise
        current = await kube.get_deployment(d.namespace, name)
        precondition = (d.mitigation or {}).get("preconditionResourceVersion")
        if current is None or current["metadata"]["resourceVersion"] != precondition:
            flow.patch_rejected(d)
        else:
            flow.undo_failed(d, "UndoRejected", f"the API server rejected the undo: {exc.body}")
    else:
        faults.crash_point("after-undo-patch")
        flow.undo_patched(d)
    flow.finish(d)
    await _commit(d, memo, deployments)


async def _follow(d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]) -> bool:
    """Follow the undo's rollout. After a restart, first find out whether the claimed
    undo reached the Deployment; send it only if it provably did not."""
    kube: Kube = memo.kube
    mitigation = d.mitigation or {}
    deployment = await kube.get_deployment(d.namespace, str(mitigation.get("deployment")))
    if not mitigation.get("patchedAt"):
        replicasets = await kube.list_replicasets(d.namespace)
        landed = flow.undo_landed(mitigation, d.suspect, deployment, replicasets)
        if landed is False:
            outcome, fresh = await _check(d, memo, mitigation=None)
            if isinstance(outcome, Refusal):
                flow.refuse(d, outcome)
                return True
            assert fresh is not None
            mitigation["preconditionResourceVersion"] = str(fresh["metadata"]["resourceVersion"])
            claimed = await _commit(d, memo, deployments)
            if claimed is not None:
                await _send_undo(claimed, outcome, kube, memo, deployments)
            return False
        if landed is None:
            flow.undo_failed(
                d,
                "TargetChanged",
                "the Deployment was changed by someone else "
                "while the undo was in flight; it was not touched again",
            )
            return True
        log.info(
            "%s/%s: the claimed undo of deployment/%s had landed before a restart",
            d.namespace,
            d.name,
            mitigation.get("deployment"),
        )
        flow.undo_patched(d, recovered=True)
    if deployment is None:
        flow.undo_failed(d, "TargetChanged", "the Deployment was deleted during the undo")
    else:
        flow.follow_rollout(d, rollout_status(deployment), SETTINGS.rollout_timeout_seconds)
    return True


async def _commit(
    d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]
) -> dict[str, Any] | None:
    """Write the draft with the resourceVersion it was read at as precondition, then
    post its Events and observe its metrics: only what is written is announced.
    Returns the Incident as written, or None when it changed in the meantime."""
    OPEN_INCIDENTS.set(d.uid, d.severity if d.status.get("phase") in OPEN_PHASES else None)
    patch = d.patch()
    if not patch:
        return d.snapshot()
    kube: Kube = memo.kube
    try:
        written = await kube.patch_incident_status(
            d.namespace,
            d.name,
            {"metadata": {"resourceVersion": d.resource_version}, "status": patch},
        )
    except ApiException as exc:
        if exc.status in (404, 409):
            log.debug(
                "%s/%s changed since it was read; the next event decides again", d.namespace, d.name
            )
            return None
        raise
    for notice in d.notices:
        kopf.event(
            _target(notice, d, deployments),
            type=notice.type,
            reason=notice.reason,
            message=notice.message,
        )
    for o in d.observations:
        metrics.observe(o.kind, d.severity, o.value, o.result, o.reason)
    return written


def _target(notice: flow.Notice, d: flow.Draft, deployments: kopf.Index[str, Any]) -> Any:
    if notice.deployment is None:
        return d.snapshot()
    namespace = d.namespace
    uid = next((v.uid for v in deployments.get(namespace, []) if v.name == notice.deployment), "")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": notice.deployment, "namespace": namespace, "uid": uid},
    }
