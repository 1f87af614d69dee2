"""Confirm a suspect against the cluster before naming it: the caches may lag a rollout by
a few milliseconds (an Incident is often declared right after one), and a suspect must
never be stale. One fresh LIST each of the namespace's Deployments, StatefulSets and
DaemonSets (concurrently); the history (ReplicaSets, ControllerRevisions) of any workload
whose live revision or template the cache has not seen yet is read fresh too. The
suspect's GitOps owner, if its labels name one, is read too (it says whether it
reconciles)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.core.controller_revisions import (
    ControllerRevisionView,
    RevisionedView,
    controller_revision_view,
    revisioned_view,
)
from tourniquet.core.projections import ReplicaSetView, deployment_view, replicaset_view
from tourniquet.core.selectors import selector_string
from tourniquet.core.suspect import Suspect
from tourniquet.core.suspect_revisions import find_any_suspect
from tourniquet.shell import gitops_owner
from tourniquet.shell.runtime import Runtime


async def confirmed_suspect(
    rt: Runtime, namespace: str, selector: Any, cached: Suspect | None
) -> Suspect | None:
    """The suspect as the cluster has it now, with its GitOps owner (if any)."""
    fresh, statefulsets, daemonsets = await asyncio.gather(
        rt.kube.list_deployments(namespace),
        rt.kube.list_workloads(WorkloadKind.STATEFUL_SET, namespace),
        rt.kube.list_workloads(WorkloadKind.DAEMON_SET, namespace),
    )
    found = await _suspect_of(rt, namespace, selector, cached, fresh, statefulsets, daemonsets)
    if found is None:
        return None
    bodies = {
        WorkloadKind.DEPLOYMENT: fresh,
        WorkloadKind.STATEFUL_SET: statefulsets,
        WorkloadKind.DAEMON_SET: daemonsets,
    }[found.kind]
    body = next((b for b in bodies if (b.get("metadata") or {}).get("name") == found.name), None)
    owner = await gitops_owner.owner_of_workload(rt, body) if body is not None else None
    return replace(found, owner=owner)


async def _suspect_of(
    rt: Runtime,
    namespace: str,
    selector: Any,
    cached: Suspect | None,
    fresh: list[dict[str, Any]],
    statefulsets: list[dict[str, Any]],
    daemonsets: list[dict[str, Any]],
) -> Suspect | None:
    views = [deployment_view(body) for body in fresh]
    known = {view.uid: view for view in rt.workloads.deployments.get(namespace)}
    replicasets: dict[str, ReplicaSetView] = {
        rs.uid: rs for rs in rt.workloads.replicasets.get(namespace)
    }
    behind = [
        body
        for body, view in zip(fresh, views, strict=True)
        if known.get(view.uid) is None or known[view.uid].revision != view.revision
    ]
    revisioned = [
        (body, revisioned_view(kind)(body))
        for kind, bodies in (
            (WorkloadKind.STATEFUL_SET, statefulsets),
            (WorkloadKind.DAEMON_SET, daemonsets),
        )
        for body in bodies
    ]
    known_revisioned = {view.uid: view for view in rt.workloads.revisioned(namespace)}
    revisions: dict[str, ControllerRevisionView] = {
        r.uid: r for r in rt.workloads.revisions.get(namespace)
    }
    # A workload whose template the cached history does not hold yet is behind too.
    cached_templates = {(r.owner_uid, r.template) for r in revisions.values()}
    revisioned_behind = [
        body
        for body, view in revisioned
        if known_revisioned.get(view.uid) != view
        or (view.uid, view.template) not in cached_templates
    ]
    if not behind and not revisioned_behind:
        return cached
    for body in behind:
        for rs in await rt.kube.list_replicasets(namespace, selector_string(body)):
            rs_view = replicaset_view(rs)
            replicasets[rs_view.uid] = rs_view
    for body in revisioned_behind:
        for cr in await rt.kube.list_controllerrevisions(namespace, selector_string(body)):
            cr_view = controller_revision_view(cr)
            revisions[cr_view.uid] = cr_view
    revisioned_views: list[RevisionedView] = [view for _, view in revisioned]
    return find_any_suspect(
        views, replicasets.values(), revisioned_views, revisions.values(), selector
    )
