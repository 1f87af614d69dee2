"""Confirm a suspect against the cluster before naming it: the caches may lag a rollout by
a few milliseconds (an Incident is often declared right after one), and a suspect must
never be stale. One fresh LIST of the namespace's Deployments; the ReplicaSets of any
Deployment whose live revision the cache has not seen yet are read fresh too."""

from __future__ import annotations

from typing import Any

from tourniquet.core.projections import deployment_view, replicaset_view
from tourniquet.core.selectors import selector_string
from tourniquet.core.suspect import Suspect, find_suspect
from tourniquet.shell.runtime import Runtime


async def confirmed_suspect(
    rt: Runtime, namespace: str, selector: Any, cached: Suspect | None
) -> Suspect | None:
    fresh = await rt.kube.list_deployments(namespace)
    views = [deployment_view(body) for body in fresh]
    known = {view.uid: view for view in rt.workloads.deployments.get(namespace)}
    replicasets = {rs.uid: rs for rs in rt.workloads.replicasets.get(namespace)}
    behind = [
        body
        for body, view in zip(fresh, views, strict=True)
        if known.get(view.uid) is None or known[view.uid].revision != view.revision
    ]
    if not behind:
        return cached
    for body in behind:
        for rs in await rt.kube.list_replicasets(namespace, selector_string(body)):
            view = replicaset_view(rs)
            replicasets[view.uid] = view
    return find_suspect(views, replicasets.values(), selector)
