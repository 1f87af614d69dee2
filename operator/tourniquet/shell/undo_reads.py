"""What the guards read before an undo: the suspect Deployment and its ReplicaSets (or
the StatefulSet or DaemonSet and its ControllerRevisions), and the approval policy.

While an undo awaits its approval the Deployment and its ReplicaSets are read ahead
(`prefetch`, again only when the watch shows the Deployment changed), so the approved undo
goes straight to its claim and patch. A prefetched read is only used while the cache
holds the very resourceVersion it was read at; and if the cache itself was behind, the
patch's resourceVersion precondition fails and the undo re-reads (shell/claim)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tourniquet.core import lifecycle as flow
from tourniquet.core.controller_revisions import REVISIONED_KINDS
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal, UndoRequest, check_undo
from tourniquet.core.projections import mapping
from tourniquet.core.rollback import UndoPlan
from tourniquet.core.rollback_revisions import RevisionUndoPlan
from tourniquet.core.selectors import selector_string
from tourniquet.shell import revisioned_undo
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.workload_cache import DeploymentIndex

log = logging.getLogger("tourniquet")


def _cached_version(deployments: DeploymentIndex, namespace: str, name: str) -> str | None:
    views = [v for v in deployments.get(namespace, []) if v.name == name]
    return views[0].resource_version if views else None


async def prefetch(d: Draft, rt: Runtime, deployments: DeploymentIndex) -> None:
    """Read the suspect Deployment and its ReplicaSets ahead of the approval, when an
    undo is offered and what was read before is no longer what the cache shows."""
    suspect = d.suspect or {}
    name = suspect.get("name")
    if not name or suspect.get("kind") in REVISIONED_KINDS or not flow.undo_offered(d):
        rt.prefetched.pop(d.uid, None)
        return
    cached = _cached_version(deployments, d.namespace, str(name))
    held = rt.prefetched.get(d.uid)
    if held is not None and _version(held[0]) == cached and _name(held[0]) == name:
        return
    rt.prefetched.pop(d.uid, None)
    try:
        deployment = await rt.kube.get_deployment(d.namespace, str(name))
        if deployment is None:
            return
        replicasets = await rt.kube.list_replicasets(d.namespace, selector_string(deployment))
    except ApiException as exc:
        # Only a head start: the approved undo reads fresh instead.
        log.debug("%s/%s: prefetch failed: %s", d.namespace, d.name, exc.status)
        return
    rt.prefetched[d.uid] = (deployment, replicasets)


def _version(body: Mapping[str, Any]) -> str:
    return str(mapping(body.get("metadata")).get("resourceVersion") or "")


def _name(body: Mapping[str, Any]) -> str:
    return str(mapping(body.get("metadata")).get("name") or "")


async def read_and_check(
    d: Draft,
    rt: Runtime,
    mitigation: Mapping[str, Any] | None,
    deployments: DeploymentIndex | None = None,
) -> tuple[UndoPlan | RevisionUndoPlan | Refusal, dict[str, Any] | None]:
    """The guards, on the suspect as it is: prefetched while the cache (`deployments`)
    shows it unchanged since, else read fresh."""
    if (d.suspect or {}).get("kind") in REVISIONED_KINDS:
        return await revisioned_undo.read_and_check(d, rt, mitigation)
    kube, settings = rt.kube, rt.settings
    name = (d.suspect or {}).get("name")
    held = rt.prefetched.pop(d.uid, None)
    if (
        held is not None
        and deployments is not None
        and name
        and _name(held[0]) == name
        and _version(held[0]) == _cached_version(deployments, d.namespace, str(name))
    ):
        deployment: dict[str, Any] | None = dict(held[0])
        replicasets = held[1]
    else:
        deployment = await kube.get_deployment(d.namespace, name) if name else None
        replicasets = (
            await kube.list_replicasets(d.namespace, selector_string(deployment))
            if deployment
            else []
        )
    verified = await rt.approval_policy.is_enforced(kube) if d.approval else False
    outcome = check_undo(
        UndoRequest(
            approval=d.approval,
            suspect=d.suspect,
            mitigation=mitigation,
            approval_verified=verified,
            trust_unverified=settings.trust_unverified_approvals,
            deployment=deployment,
            replicasets=replicasets,
            approval_policy=settings.approval_policy,
            scope_selector=mapping(d.spec.get("scope")).get("selector"),
        )
    )
    return outcome, deployment
