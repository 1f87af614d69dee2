"""Follow the undo's rollout to Succeeded or Failed, exactly as `kubectl rollout status`
decides. After a restart, first find out whether the claimed undo reached the Deployment;
send it only if it provably did not."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core.controller_revisions import REVISIONED_KINDS
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal
from tourniquet.core.rollout_status import rollout_status
from tourniquet.core.selectors import selector_string
from tourniquet.shell import revisioned_undo, send_undo, stuck_pods
from tourniquet.shell.actions import After
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import commit
from tourniquet.shell.undo_reads import read_and_check
from tourniquet.shell.workload_cache import DeploymentIndex

log = logging.getLogger("tourniquet")


async def follow(
    d: Draft,
    rt: Runtime,
    deployments: DeploymentIndex,
    watched: Mapping[str, Any] | None = None,
) -> After:
    """`watched` is the Deployment as a watch event just delivered it: as fresh as a GET,
    and free."""
    kube = rt.kube
    mitigation = d.mitigation or {}
    name = str(mitigation.get("name"))
    # StatefulSets and DaemonSets: the same steps, their own reads and verdicts.
    kind = str(mitigation.get("kind") or "Deployment")
    revisioned = kind in REVISIONED_KINDS
    if (
        watched is not None
        and (watched.get("metadata") or {}).get("name") == name
        and watched.get("kind", kind) == kind
    ):
        deployment: dict[str, Any] | None = dict(watched)
    elif revisioned:
        deployment = await kube.get_workload(kind, d.namespace, name)
    else:
        deployment = await kube.get_deployment(d.namespace, name)
    if not mitigation.get("patchedAt"):
        if revisioned:
            landed, deployment = await revisioned_undo.landed(d, rt)
        else:
            replicasets = (
                await kube.list_replicasets(d.namespace, selector_string(deployment))
                if deployment
                else []
            )
            landed = flow.undo_landed(mitigation, d.suspect, deployment, replicasets)
        if landed is False:
            outcome, fresh = await read_and_check(d, rt, mitigation=None)
            if isinstance(outcome, Refusal):
                flow.refuse(d, outcome)
                return After.WRAP_UP
            assert fresh is not None
            mitigation["preconditionResourceVersion"] = str(fresh["metadata"]["resourceVersion"])
            claimed = await commit(d, rt, deployments)
            if claimed is not None and await send_undo.send_undo(
                claimed, outcome, rt, deployments, read=fresh
            ):
                await follow_again(d, claimed, rt, deployments)
            return After.WRITTEN
        if landed is None:
            flow.undo_failed(
                d,
                Reason.TARGET_CHANGED,
                "the Deployment was changed by someone else "
                "while the undo was in flight; it was not touched again",
            )
            return After.WRAP_UP
        log.info(
            "%s/%s: the claimed undo of deployment/%s had landed before a restart",
            d.namespace,
            d.name,
            mitigation.get("name"),
        )
        flow.undo_patched(d, recovered=True)
    if revisioned:
        await stuck_pods.step(d, rt, deployment)
        revisioned_undo.follow(d, deployment, rt.settings.rollout_timeout_seconds)
    elif deployment is None:
        flow.undo_failed(d, Reason.TARGET_CHANGED, "the Deployment was deleted during the undo")
    else:
        flow.follow_rollout(d, rollout_status(deployment), rt.settings.rollout_timeout_seconds)
    return After.WRAP_UP


async def follow_again(
    d: Draft, claimed: Mapping[str, Any], rt: Runtime, deployments: DeploymentIndex
) -> None:
    """The undo's precondition failed while only the workload's status had moved on from
    the read (its controller reporting, as right after the API server comes back): nothing
    was changed. Read it fresh and judge again, as after a restart; the undo goes out
    against the new resourceVersion."""
    again = Draft(rt.latest(d.uid, claimed), d.now, rt.settings.timeline_limit)
    if await follow(again, rt, deployments) is After.WRAP_UP:
        flow.finish(again)
        await commit(again, rt, deployments)
