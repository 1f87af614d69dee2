"""A StatefulSet undo stuck on a pod that never becomes Ready (core/stuck_pod): find it
while the undo's rollout is followed, and delete it once the Incident Commander approves
(status.podDeletion). The decisions are the core's; this module reads and deletes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.core import stuck_pod
from tourniquet.core.draft import Draft
from tourniquet.core.selectors import selector_string
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime


async def step(d: Draft, rt: Runtime, statefulset: Mapping[str, Any] | None) -> None:
    """While a StatefulSet's undo rolls out: the stuck pod offered, or deleted as approved."""
    mitigation = d.mitigation or {}
    if (
        statefulset is None
        or mitigation.get("kind") != WorkloadKind.STATEFUL_SET
        or not mitigation.get("patchedAt")
    ):
        return
    namespace = d.namespace
    pods = await rt.kube.list_pods(namespace, selector_string(statefulset) or "")
    stuck = stuck_pod.stuck_pod(statefulset, pods)
    approved = stuck_pod.approved_deletion(d)
    if stuck is not None and approved == stuck.name:
        try:
            await rt.kube.delete_pod(namespace, stuck.name, stuck.uid)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
            # Gone already, or a new pod of that name since: the stuck one is deleted.
        stuck_pod.deleted(d, stuck.name)
    elif stuck is not None:
        stuck_pod.offer_deletion(d, stuck)
