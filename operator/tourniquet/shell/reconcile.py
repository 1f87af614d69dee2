"""The incident playbook, in order: the shell reads the cluster, the core decides each
step, one status write records it.

Reconciliation is level-triggered: any Incident event, and a short resync while an incident
is open, runs the same idempotent `reconcile`, which writes nothing when nothing changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tourniquet.core import lifecycle as flow
from tourniquet.core import playbook, runbooks
from tourniquet.core.draft import Draft
from tourniquet.core.suspect_revisions import find_any_suspect
from tourniquet.observability import metrics
from tourniquet.shell import (
    claim,
    confirm_suspect,
    follow_rollout,
    forward_comms,
    gitops_owner,
    undo_reads,
    write_postmortem,
)
from tourniquet.shell.actions import After
from tourniquet.shell.failures import failure_of
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import commit
from tourniquet.shell.workload_cache import Indexes

log = logging.getLogger("tourniquet")


async def reconcile(
    rt: Runtime,
    body: Mapping[str, Any],
    indexes: Indexes,
    watched: Mapping[str, Any] | None = None,
) -> None:
    uid = str(body["metadata"]["uid"])
    # Never judged on a partial view: an Incident that arrives before the caches have
    # their first lists waits for them.
    await rt.workloads.synced.wait()
    async with rt.lock(uid):
        if rt.backoff.holding(uid, time.monotonic()):
            return  # failing: the resync after its backoff tries again, not every event
        metrics.RECONCILES.inc()
        draft = Draft(body, datetime.now(UTC), rt.settings.timeline_limit)
        _follow_deployment(rt, draft, body)
        if draft.resource_version in rt.superseded.get(uid, ()):
            # This reconcile waited for the lock while a newer version was written; it
            # would decide on stale status. The event for the newer version follows.
            return
        try:
            await _playbook(rt, draft, indexes, watched)
        except Exception as exc:  # one bad object must never take the operator down
            metrics.RECONCILE_ERRORS.inc()
            failure = failure_of(exc)
            delay = rt.backoff.failed(uid, time.monotonic())
            log.warning(
                "reconciling %s/%s failed (%s); next attempt in %.0fs",
                draft.namespace,
                draft.name,
                failure.describe(),
                delay,
                exc_info=rt.backoff.failures(uid) == 1,
            )
            # On what was last written: a claim written before the failure is newer.
            latest = rt.latest(uid, body)
            failed = Draft(latest, datetime.now(UTC), rt.settings.timeline_limit)
            # Stable words: the same failure leaves the same condition, so it writes once.
            flow.failed_reconcile(failed, failure.describe())
            await commit(failed, rt, indexes.deployments)
        else:
            rt.backoff.succeeded(uid)


def _follow_deployment(rt: Runtime, d: Draft, body: Mapping[str, Any]) -> None:
    """Remember which Deployment an in-flight undo waits on, with the latest Incident."""
    for key in [k for k, v in rt.followed.items() if v["metadata"]["uid"] == d.uid]:
        del rt.followed[key]
    if flow.undo_in_flight(d.status) and (d.mitigation or {}).get("name"):
        rt.followed[(d.namespace, str((d.mitigation or {})["name"]))] = body


async def _playbook(
    rt: Runtime, d: Draft, indexes: Indexes, watched: Mapping[str, Any] | None
) -> None:
    policy = rt.policy.policy
    flow.declare(d)
    runbooks.link_runbook(d, rt.runbooks)
    flow.forget_cleared_approval(d)
    rule = playbook.apply_policy(d, policy)
    playbook.observe_roles(d)
    playbook.acknowledge(d, rule)
    forward_comms.stage_updates(d, policy, rule)  # sent once written, never inline
    playbook.track_comms(d, policy, rule)
    if flow.suspect_may_change(d):
        selector = (d.spec.get("scope") or {}).get("selector")
        found = find_any_suspect(
            indexes.deployments.get(d.namespace, []),
            indexes.replicasets.get(d.namespace, []),
            rt.workloads.revisioned(d.namespace),
            rt.workloads.revisions.get(d.namespace),
            selector,
        )
        if flow.names_new_suspect(d, found) or flow.suspect_never_judged(d):
            found = await confirm_suspect.confirmed_suspect(rt, d.namespace, selector, found)
        flow.identify_suspect(d, found)
    playbook.track_checklist(d, policy)
    if flow.second_approval(d):
        flow.refuse_second_undo(d)
    if flow.awaiting_undo(d) or claim.paused_refusal_cleared(d, indexes.deployments):
        if await claim.undo(d, rt, indexes.deployments) is After.WRAP_UP:
            await _wrap_up(rt, d, indexes)
        return
    if flow.undo_in_flight(d.status):
        after = await follow_rollout.follow(d, rt, indexes.deployments, watched)
        if after is After.WRITTEN:
            return
    await _wrap_up(rt, d, indexes)


async def _wrap_up(rt: Runtime, d: Draft, indexes: Indexes) -> None:
    """The GitOps owner's resume, the all-clear, the postmortem, the phase; then one
    status write."""
    await gitops_owner.resume_if_asked(d, rt)
    flow.resolve(d)
    playbook.track_postmortem(d, playbook.rule_for(d, rt.policy.policy))
    flow.finish(d)
    await write_postmortem.write_postmortem(d, rt)
    await commit(d, rt, indexes.deployments)
    # An undo on offer: its reads done now, so that the approval goes straight to the patch.
    await undo_reads.prefetch(d, rt, indexes.deployments)
