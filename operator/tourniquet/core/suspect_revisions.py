"""The suspect across every kind: Deployments (ReplicaSets) and StatefulSets and DaemonSets
(ControllerRevisions). The most recent rollout in scope wins, whatever its kind."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tourniquet.core.controller_revisions import ControllerRevisionView, RevisionedView
from tourniquet.core.projections import DeploymentView, ReplicaSetView
from tourniquet.core.selectors import matches
from tourniquet.core.suspect import Suspect, describe_change, find_suspect


def _revisioned_suspect(
    workload: RevisionedView, owned: list[ControllerRevisionView]
) -> Suspect | None:
    history = [r for r in owned if r.revision is not None]
    if not history:
        return None
    # The live revision runs the workload's template; while the controller has not yet
    # recorded a new template, the highest revision stands in (a fresh read confirms it).
    matching = [r for r in history if r.template == workload.template]
    live = max(matching or history, key=lambda r: (r.revision or 0, r.name))
    revision = live.revision or 0
    older = [r for r in history if (r.revision or 0) < revision]
    previous = max(older, key=lambda r: (r.revision or 0, r.name), default=None)
    previous_revision = previous.revision if previous is not None else None
    return Suspect(
        deployment=workload.name,
        replica_set=live.name,
        revision=revision,
        previous_revision=previous_revision,
        rolled_out_at=live.created_at,
        change=describe_change(
            previous.images if previous is not None else None,
            live.images,
            previous_revision,
            revision,
        ),
        kind=workload.kind,
    )


def revisioned_suspects(
    workloads: Iterable[RevisionedView],
    revisions: Iterable[ControllerRevisionView],
    selector: Mapping[str, Any] | None,
) -> list[Suspect]:
    owned: dict[str, list[ControllerRevisionView]] = {}
    for revision in revisions:
        if revision.owner_uid:
            owned.setdefault(revision.owner_uid, []).append(revision)
    found = []
    for workload in workloads:
        if not workload.uid or not matches(workload.labels, selector):
            continue
        mine = [
            r
            for r in owned.get(workload.uid, [])
            if r.namespace == workload.namespace and r.owner_kind == workload.kind
        ]
        suspect = _revisioned_suspect(workload, mine)
        if suspect is not None:
            found.append(suspect)
    return found


def newest(candidates: Iterable[Suspect | None]) -> Suspect | None:
    """Newest first; equal timestamps (one-second precision) fall back to kind and name so
    the same cluster state always yields the same suspect."""
    present = [c for c in candidates if c is not None]
    present.sort(key=lambda s: (s.kind, s.name))
    present.sort(key=lambda s: s.rolled_out_at, reverse=True)
    return present[0] if present else None


def find_any_suspect(
    deployments: Iterable[DeploymentView],
    replicasets: Iterable[ReplicaSetView],
    workloads: Iterable[RevisionedView],
    revisions: Iterable[ControllerRevisionView],
    selector: Mapping[str, Any] | None,
) -> Suspect | None:
    """The in-scope workload of any supported kind whose live revision was created last."""
    return newest(
        [
            find_suspect(deployments, replicasets, selector),
            *revisioned_suspects(workloads, revisions, selector),
        ]
    )
