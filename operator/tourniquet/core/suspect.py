"""Finding the rollout that most likely caused an incident: the most recent one in scope."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.core.clock import format_time
from tourniquet.core.gitops import GitOpsOwner
from tourniquet.core.projections import DeploymentView, ReplicaSetView
from tourniquet.core.selectors import matches


@dataclass(frozen=True)
class Suspect:
    deployment: str
    replica_set: str
    revision: int
    previous_revision: int | None
    rolled_out_at: datetime
    change: str
    #: For StatefulSets and DaemonSets, `deployment` is the workload's name and
    #: `replica_set` the name of its ControllerRevision.
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    #: Who applies it from git (and would re-apply the revision an undo removes).
    owner: GitOpsOwner | None = None

    @property
    def name(self) -> str:
        return self.deployment

    def to_status(self) -> dict[str, Any]:
        history = "replicaSet" if self.kind == WorkloadKind.DEPLOYMENT else "controllerRevision"
        status: dict[str, Any] = {
            "kind": self.kind,
            "name": self.deployment,
            history: self.replica_set,
            "revision": self.revision,
        }
        if self.previous_revision is not None:
            status["previousRevision"] = self.previous_revision
        status["rolledOutAt"] = format_time(self.rolled_out_at)
        # The API caps change at 1024 characters; dozens of sidecars must not block the write.
        status["change"] = self.change if len(self.change) <= 1024 else self.change[:1023] + "…"
        if self.owner is not None:
            status["owner"] = self.owner.to_status()
        return status


@dataclass(frozen=True)
class _Rollout:
    deployment: DeploymentView
    revision: int
    live: ReplicaSetView
    history: tuple[ReplicaSetView, ...]


def _oldest(replicasets: Iterable[ReplicaSetView]) -> ReplicaSetView | None:
    # Two ReplicaSets should never share a revision; if they do, pick the oldest, the same
    # deterministic choice the deployment controller makes among duplicate templates.
    return min(replicasets, key=lambda rs: (rs.created_at, rs.name), default=None)


def _rollouts(
    deployments: Iterable[DeploymentView],
    replicasets: Iterable[ReplicaSetView],
    selector: Mapping[str, Any] | None,
) -> list[_Rollout]:
    owned: dict[str, list[ReplicaSetView]] = {}
    for rs in replicasets:
        if rs.owner_uid:
            owned.setdefault(rs.owner_uid, []).append(rs)
    rollouts = []
    for deployment in deployments:
        revision = deployment.revision
        if not deployment.uid or revision is None:
            continue
        if not matches(deployment.labels, selector):
            continue
        history = tuple(
            rs for rs in owned.get(deployment.uid, []) if rs.namespace == deployment.namespace
        )
        live = _oldest(rs for rs in history if rs.revision == revision)
        if live is not None:
            rollouts.append(_Rollout(deployment, revision, live, history))
    return rollouts


def describe_change(
    previous: tuple[tuple[str, str], ...] | None,
    live: tuple[tuple[str, str], ...],
    previous_revision: int | None,
    revision: int,
) -> str:
    """What an on-call engineer needs to recognise the rollout, in one line."""
    if previous is None:
        images = ", ".join(f"{name}={image}" for name, image in live)
        return f"first rollout: {images}" if images else f"first rollout (revision {revision})"
    before = dict(previous)
    after = dict(live)
    changes = []
    for name, image in live:
        if name not in before:
            changes.append(f"{name}: added {image}")
        elif before[name] != image:
            changes.append(f"{name}: {before[name]} -> {image}")
    changes.extend(f"{name}: removed {image}" for name, image in previous if name not in after)
    if changes:
        return ", ".join(changes)
    return f"pod template changed (revision {previous_revision} -> {revision})"


def find_suspect(
    deployments: Iterable[DeploymentView],
    replicasets: Iterable[ReplicaSetView],
    selector: Mapping[str, Any] | None,
) -> Suspect | None:
    """The in-scope Deployment whose live ReplicaSet was created last, or None."""
    rollouts = _rollouts(deployments, replicasets, selector)
    if not rollouts:
        return None
    # Newest first; equal timestamps (one-second precision) fall back to the name so the
    # same cluster state always yields the same suspect.
    rollouts.sort(key=lambda r: (r.deployment.name, r.deployment.namespace))
    rollouts.sort(key=lambda r: r.live.created_at, reverse=True)
    chosen = rollouts[0]
    revision = chosen.revision
    older = [
        rs.revision for rs in chosen.history if rs.revision is not None and rs.revision < revision
    ]
    previous_revision = max(older, default=None)
    previous = (
        None
        if previous_revision is None
        else _oldest(rs for rs in chosen.history if rs.revision == previous_revision)
    )
    return Suspect(
        deployment=chosen.deployment.name,
        replica_set=chosen.live.name,
        revision=revision,
        previous_revision=previous_revision,
        rolled_out_at=chosen.live.created_at,
        change=describe_change(
            previous.images if previous is not None else None,
            chosen.live.images,
            previous_revision,
            revision,
        ),
    )
