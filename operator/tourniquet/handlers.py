"""The kopf shell: watch, read the indexes, run the playbook steps, write the result.

Decisions live in incident_flow, guards, suspect and rollback; this module only
moves data between them and the cluster. Reconciliation is level-triggered: any
Incident event, and a short resync while an incident is open, runs the same
idempotent `reconcile`, which writes nothing when nothing changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf

from tourniquet import faults, metrics, notify, playbook, postmortem, runbooks
from tourniquet import incident_flow as flow
from tourniquet.clock import format_time
from tourniquet.guards import Refusal, UndoRequest, check_undo
from tourniquet.kube import ApiException, Kube, load_config
from tourniquet.metrics import INCIDENT_STATE, IncidentGauges, MetricsServer
from tourniquet.models import GROUP, VERSION
from tourniquet.policy_watch import PolicyWatch
from tourniquet.projections import DeploymentView, ReplicaSetView, deployment_view, replicaset_view
from tourniquet.rollback import UndoPlan
from tourniquet.rollout_status import rollout_status
from tourniquet.runbook_handlers import RUNBOOKS  # also registers their handlers
from tourniquet.selectors import selector_string
from tourniquet.settings import FINALIZER, INCIDENTS, Settings
from tourniquet.severity_policy import SeverityPolicy, SeverityRule
from tourniquet.suspect import find_suspect

log = logging.getLogger("tourniquet")

SETTINGS = Settings.from_env()
# Set by kopf once its watches and indexes are up (kopf.run's ready_flag): /readyz.
READY = threading.Event()
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
    memo.superseded = {}
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


async def reconcile(
    body: kopf.Body,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
) -> None:
    uid = str(body.metadata.uid)
    async with memo.locks.setdefault(uid, asyncio.Lock()):
        metrics.RECONCILES.inc()
        draft = flow.Draft(body, datetime.now(UTC), SETTINGS.timeline_limit)
        if draft.resource_version in memo.superseded.get(uid, ()):
            # This reconcile waited for the lock while a newer version was written; it
            # would decide on stale status. The event for the newer version follows.
            return
        try:
            await _reconcile(draft, memo, deployments, replicasets)
        except Exception as exc:  # one bad object must never take the operator down
            metrics.RECONCILE_ERRORS.inc()
            log.exception("reconciling %s/%s failed", draft.namespace, draft.name)
            failed = flow.Draft(body, datetime.now(UTC), SETTINGS.timeline_limit)
            flow.failed_reconcile(failed, f"{type(exc).__name__}: {exc}")
            await _commit(failed, memo, deployments)


async def _reconcile(
    d: flow.Draft,
    memo: kopf.Memo,
    deployments: kopf.Index[str, Any],
    replicasets: kopf.Index[str, Any],
) -> None:
    policy = memo.policy.policy
    flow.declare(d)
    runbooks.link_runbook(d, RUNBOOKS)
    flow.forget_cleared_approval(d)
    rule = playbook.apply_policy(d, policy)
    playbook.observe_roles(d)
    playbook.acknowledge(d, rule)
    await _forward_updates(d, memo, policy, rule)
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
    if flow.awaiting_undo(d) or _paused_refusal_cleared(d, deployments):
        await _undo(d, memo, deployments)
        return
    in_flight = (d.mitigation or {}).get("result") == "InProgress"
    if in_flight and not await _follow(d, memo, deployments):
        return
    await _wrap_up(d, memo, deployments)


async def _wrap_up(d: flow.Draft, memo: kopf.Memo, deployments: kopf.Index[str, Any]) -> None:
    """The all-clear, the postmortem, the phase; then one status write."""
    flow.resolve(d)
    playbook.track_postmortem(d, playbook.rule_for(d, memo.policy.policy))
    flow.finish(d)
    await _write_postmortem(d, memo)
    await _commit(d, memo, deployments)


async def _forward_updates(
    d: flow.Draft, memo: kopf.Memo, policy: SeverityPolicy, rule: SeverityRule
) -> None:
    """Comms updates go to every webhook the policy names for this severity, at least
    once: a failed delivery is reported, never blocks the record."""
    pending = playbook.new_updates(d)
    if not pending:
        return
    targets = [
        t for t in policy.notifications if t.severities is None or d.severity in t.severities
    ]
    incident = d.snapshot()
    for _, update in pending:
        update = {**update, "at": update.get("at") or format_time(d.now)}
        if playbook.is_drill(d):
            update["message"] = f"[DRILL] {update.get('message', '')}"
        for target in targets:
            build = notify.slack_payload if target.format == "slack" else notify.json_payload
            result = await notify.deliver(memo.http, target, build(update, incident, rule))
            metrics.NOTIFICATIONS.labels(
                target=target.name, result="delivered" if result.ok else "failed"
            ).inc()
            if not result.ok:
                d.notify(
                    "NotificationFailed",
                    f"comms update not delivered to {target.name}: {result.error}",
                    warning=True,
                )
    playbook.record_updates(d, len(pending))


async def _write_postmortem(d: flow.Draft, memo: kopf.Memo) -> None:
    """The blameless draft, in a ConfigMap owned by the Incident; rewritten only when
    its content changes."""
    state = d.status.get("postmortem")
    if not isinstance(state, dict):
        return
    markdown = postmortem.render(d.snapshot(), archived_timeline=archived_timeline(d), now=d.now)
    # The "Generated at" line changes every time; the content is what counts.
    content = "\n".join(ln for ln in markdown.splitlines() if not ln.startswith("| Generated at"))
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    old = d.old.get("postmortem") or {}
    if old.get("digest") == digest:
        state.update(digest=digest, renderedAt=old.get("renderedAt"))
        return
    await memo.kube.apply_configmap(d.namespace, postmortem.configmap(d.snapshot(), markdown))
    if not old.get("digest"):
        d.record(
            "PostmortemDrafted",
            f"blameless postmortem draft in configmap/{state['configMap']}; print it with "
            f"kubectl get configmap {state['configMap']} -n {d.namespace} "
            "-o jsonpath='{.data.postmortem\\.md}'",
            event="PostmortemDrafted",
        )
    state.update(digest=digest, renderedAt=format_time(d.now))


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
        await _wrap_up(d, memo, deployments)
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
    replicasets = (
        await kube.list_replicasets(d.namespace, selector_string(deployment)) if deployment else []
    )
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
    d = flow.Draft(claimed, datetime.now(UTC), SETTINGS.timeline_limit)
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
    drill = playbook.is_drill(d)
    try:
        await kube.json_patch_deployment(d.namespace, name, plan.patch, dry_run=drill)
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
        if drill:
            flow.drill_rehearsed(d)
        else:
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
        replicasets = await kube.list_replicasets(d.namespace, selector_string(deployment))
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
    INCIDENT_STATE.set(d.uid, _gauges(d))
    if d.archived and await _archive_timeline(d, memo):
        return None  # the Incident changed (its archive); the next event writes the status
    patch = d.patch()
    if not patch:
        return d.snapshot()
    log.debug(
        "%s/%s: status write at %s: %s",
        d.namespace,
        d.name,
        d.resource_version,
        {k: (v if v is None or k in ("phase",) else "...") for k, v in patch.items()},
    )
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
    superseded = memo.superseded.setdefault(d.uid, [])
    superseded.append(d.resource_version)
    del superseded[:-16]
    for notice in d.notices:
        kopf.event(
            _target(notice, d, deployments),
            type=notice.type,
            reason=notice.reason,
            message=notice.message,
        )
    for o in d.observations:
        metrics.observe(o.kind, d.severity, o.value, o.result, o.reason, drill=playbook.is_drill(d))
    return written


ARCHIVE_ANNOTATION = f"{GROUP}/timeline-archive"


def archived_timeline(d: flow.Draft) -> list[dict[str, Any]]:
    raw = (d.metadata.get("annotations") or {}).get(ARCHIVE_ANNOTATION)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


async def _archive_timeline(d: flow.Draft, memo: kopf.Memo) -> bool:
    """Entries spilled out of the bounded status.timeline go to an annotation first, so
    the postmortem still has the complete timeline. True when the annotation changed."""
    archive = archived_timeline(d)
    seen = {(e.get("at"), e.get("kind"), e.get("message")) for e in archive}
    new = [e for e in d.archived if (e.get("at"), e.get("kind"), e.get("message")) not in seen]
    if not new:
        return False
    await memo.kube.patch_incident_annotations(
        d.namespace, d.name, {ARCHIVE_ANNOTATION: json.dumps(archive + new, separators=(",", ":"))}
    )
    return True


def _gauges(d: flow.Draft) -> IncidentGauges:
    pm = d.status.get("postmortem") or {}
    postmortem_overdue = any(
        c.get("type") == playbook.POSTMORTEM_COMPLETE and c.get("reason") == "PostmortemOverdue"
        for c in d.status.get("conditions") or []
    )
    return IncidentGauges(
        severity=d.severity,
        drill=playbook.is_drill(d),
        open=d.status.get("phase") in OPEN_PHASES,
        comms_overdue=bool((d.status.get("comms") or {}).get("overdue")),
        postmortem_overdue=postmortem_overdue,
        action_items_open=int(pm.get("actionItemsOpen") or 0),
        action_items_overdue=int(pm.get("actionItemsOverdue") or 0),
    )


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
