"""The guarded undo of a StatefulSet or DaemonSet: the fresh reads the guards need (the
workload, its ControllerRevisions by its selector, as kubectl reads them), and following
the undo's rollout as `kubectl rollout status` does for that kind. The claim, the patch's
precondition and the restart rules are the Deployment's (claim.py, send_undo.py,
follow_rollout.py); only the reads and the verdicts differ."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core.draft import Draft
from tourniquet.core.guards import Refusal, UndoRequest
from tourniquet.core.projections import mapping, text
from tourniquet.core.rollback_revisions import (
    RevisionUndoPlan,
    check_revision_undo,
    ref,
    undo_landed,
)
from tourniquet.core.rollout_status_revisions import revisioned_status
from tourniquet.core.selectors import selector_string
from tourniquet.shell.runtime import Runtime

log = logging.getLogger("tourniquet")


async def read_workload(
    rt: Runtime, kind: str, namespace: str, name: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    workload = await rt.kube.get_workload(kind, namespace, name) if name else None
    revisions = (
        await rt.kube.list_controllerrevisions(namespace, selector_string(workload))
        if workload
        else []
    )
    return workload, revisions


async def read_and_check(
    d: Draft, rt: Runtime, mitigation: Mapping[str, Any] | None
) -> tuple[RevisionUndoPlan | Refusal, dict[str, Any] | None]:
    suspect = d.suspect or {}
    kind, name = text(suspect.get("kind")), text(suspect.get("name"))
    workload, revisions = await read_workload(rt, kind, d.namespace, name)
    verified = await rt.approval_policy.is_enforced(rt.kube) if d.approval else False
    outcome = check_revision_undo(
        UndoRequest(
            approval=d.approval,
            suspect=d.suspect,
            mitigation=mitigation,
            approval_verified=verified,
            trust_unverified=rt.settings.trust_unverified_approvals,
            deployment=workload,
            replicasets=revisions,
            approval_policy=rt.settings.approval_policy,
            scope_selector=mapping(d.spec.get("scope")).get("selector"),
        )
    )
    return outcome, workload


async def landed(d: Draft, rt: Runtime) -> tuple[bool | None, dict[str, Any] | None]:
    """After a restart: whether the claimed undo reached the workload (see
    rollback_revisions.undo_landed), with the workload as read."""
    mitigation = d.mitigation or {}
    kind, name = text(mitigation.get("kind")), text(mitigation.get("name"))
    workload, revisions = await read_workload(rt, kind, d.namespace, name)
    return undo_landed(mitigation, workload, revisions), workload


def follow(d: Draft, workload: Mapping[str, Any] | None, timeout_seconds: float) -> None:
    """One look at the undo's rollout, as `kubectl rollout status <kind>/<name>` decides."""
    mitigation = d.mitigation or {}
    kind, name = text(mitigation.get("kind")), text(mitigation.get("name"))
    if workload is None:
        flow.undo_failed(d, Reason.TARGET_CHANGED, f"the {kind} was deleted during the undo")
        return
    status = revisioned_status(kind, workload)
    if status.failed:
        # Only an update strategy other than RollingUpdate gets here (the guards refuse
        # OnDelete before the undo; someone changed it since): no pod will be replaced.
        flow.undo_failed(
            d,
            Reason.ON_DELETE_STRATEGY,
            f"{ref(kind, name)}: {status.message}; its template is restored but no pod is "
            "replaced until it is deleted",
        )
        return
    flow.follow_rollout(d, status, timeout_seconds)
