"""`kubectl rollout undo deployment/X`, ported from kubectl's DeploymentRollbacker.

Source: k8s.io/kubectl/pkg/polymorphichelpers/rollback.go and
k8s.io/kubectl/pkg/util/deployment/deployment.go. The ReplicaSet selection, template and
annotation handling follow kubectl line by line, so an undo by Tourniquet lands exactly
where an engineer typing the command would have landed. The one addition is a JSON Patch
`test` of metadata.resourceVersion: the API server applies the whole patch or nothing, so
a Deployment changed since it was read is never overwritten.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tourniquet.core.clock import parse_time
from tourniquet.core.projections import (
    REVISION_ANNOTATION,
    UNKNOWN_TIME,
    controller_reference,
    mapping,
    parse_revision,
    text,
)
from tourniquet.core.selectors import matches

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"

# Kept from the Deployment, never copied back from the ReplicaSet (kubectl's annotationsToSkip).
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

Body = Mapping[str, Any]


class RollbackError(Exception):
    """kubectl would have stopped with an error instead of patching."""


class NoRolloutHistory(RollbackError):
    def __init__(self, deployment: str) -> None:
        super().__init__(f'no rollout history found for deployment "{deployment}"')
        self.deployment = deployment


class RevisionNotFound(RollbackError):
    def __init__(self, revision: int) -> None:
        super().__init__(f"unable to find specified revision {revision} in history")
        self.revision = revision


class DeploymentPaused(RollbackError):
    def __init__(self, deployment: str) -> None:
        super().__init__(
            "you cannot rollback a paused deployment; resume it first with "
            f"'kubectl rollout resume deployment/{deployment}' and try again"
        )
        self.deployment = deployment


class AlreadyAtRevision(RollbackError):
    """kubectl's "skipped rollback": the Deployment already runs the target template."""

    def __init__(self, revision: int) -> None:
        super().__init__(f"skipped rollback (current template already matches revision {revision})")
        self.revision = revision


@dataclass(frozen=True)
class UndoPlan:
    from_revision: int
    to_revision: int
    replica_set: str
    patch: list[dict[str, Any]]


def _name(body: Body) -> str:
    return text(mapping(body.get("metadata")).get("name"))


def _template(body: Body) -> Mapping[str, Any]:
    return mapping(mapping(body.get("spec")).get("template"))


def _kubectl_revision(body: Body) -> int | None:
    """deploymentutil.Revision: a missing annotation is revision 0, a garbled one an error."""
    annotations = mapping(mapping(body.get("metadata")).get("annotations"))
    if REVISION_ANNOTATION not in annotations:
        return 0
    return parse_revision(annotations[REVISION_ANNOTATION])


def owned_replicasets(deployment: Body, replicasets: Iterable[Body]) -> list[Body]:
    """ReplicaSets whose controller ownerReference points at this Deployment's uid."""
    uid = text(mapping(deployment.get("metadata")).get("uid"))
    if not uid:
        return []
    owned = []
    for rs in replicasets:
        if not isinstance(rs, Mapping):
            continue
        owner = controller_reference(rs)
        if owner is not None and owner.get("uid") == uid:
            owned.append(rs)
    return owned


def _listed_replicasets(deployment: Body, replicasets: Iterable[Body]) -> list[Body]:
    """deploymentutil.listReplicaSets: the namespace, the Deployment's selector, then owner."""
    metadata = mapping(deployment.get("metadata"))
    selector = mapping(deployment.get("spec")).get("selector")
    # metav1.LabelSelectorAsSelector(nil) selects nothing (unlike an empty selector).
    if not isinstance(selector, Mapping):
        return []
    namespace = metadata.get("namespace")
    return [
        rs
        for rs in owned_replicasets(deployment, replicasets)
        if mapping(rs.get("metadata")).get("namespace") == namespace
        and matches(_string_map(mapping(rs.get("metadata")).get("labels")), selector)
    ]


def _string_map(value: object) -> dict[str, str]:
    return {k: v for k, v in mapping(value).items() if isinstance(k, str) and isinstance(v, str)}


def _history_order(deployment: Body, replicasets: list[Body]) -> list[Body]:
    """GetAllReplicaSets' order: old ReplicaSets oldest first, the new one (if any) last."""
    ordered = sorted(
        replicasets,
        key=lambda rs: (
            parse_time(mapping(rs.get("metadata")).get("creationTimestamp")) or UNKNOWN_TIME,
            _name(rs),
        ),
    )
    current = _template(deployment)
    new = next((rs for rs in ordered if equal_ignore_hash(_template(rs), current)), None)
    if new is None:
        return ordered
    return [rs for rs in ordered if rs is not new] + [new]


def select_revision(deployment: Body, replicasets: Iterable[Body], to_revision: int = 0) -> Body:
    """kubectl's deploymentRevision: the ReplicaSet an undo to `to_revision` restores.

    0 means the previous revision: the second highest revision annotation, exactly as
    kubectl's loop finds it (including its treatment of a missing annotation as revision 0).
    """
    if to_revision < 0:
        raise RevisionNotFound(to_revision)
    candidates = _history_order(deployment, _listed_replicasets(deployment, replicasets))
    latest_revision, latest = -1, None
    previous_revision, previous = -1, None
    for rs in candidates:
        revision = _kubectl_revision(rs)
        if revision is None:
            continue
        if to_revision == 0:
            if latest_revision < revision:
                previous_revision, previous = latest_revision, latest
                latest_revision, latest = revision, rs
            elif previous_revision < revision:
                previous_revision, previous = revision, rs
        elif to_revision == revision:
            return rs
    if to_revision > 0:
        raise RevisionNotFound(to_revision)
    if previous is None:
        raise NoRolloutHistory(_name(deployment))
    return previous


def _semantic(value: Any) -> Any:
    # apimachinery's Semantic.DeepEqual treats nil and empty slices alike, and a JSON null
    # is an unset field; both are dropped so they compare equal to an absent key.
    if isinstance(value, Mapping):
        return {
            key: _semantic(item)
            for key, item in value.items()
            if item is not None and not (isinstance(item, list) and not item)
        }
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def _without_hash(template: object) -> dict[str, Any]:
    """A deep copy of a pod template with no pod-template-hash label."""
    result = copy.deepcopy(dict(mapping(template)))
    metadata = result.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("labels"), Mapping):
        labels = {k: v for k, v in metadata["labels"].items() if k != POD_TEMPLATE_HASH_LABEL}
        metadata = {**metadata, "labels": labels}
        # A Go map left empty is omitted from JSON (omitempty) and equals a nil one.
        if not labels:
            del metadata["labels"]
        result["metadata"] = metadata
    return result


def equal_ignore_hash(template_a: object, template_b: object) -> bool:
    """kubectl's equalIgnoreHash: equal pod templates, whatever their pod-template-hash."""
    return bool(_semantic(_without_hash(template_a)) == _semantic(_without_hash(template_b)))


def _restored_annotations(deployment: Body, target: Body) -> dict[str, Any]:
    current = mapping(mapping(deployment.get("metadata")).get("annotations"))
    restored = mapping(mapping(target.get("metadata")).get("annotations"))
    annotations = {key: current[key] for key in ANNOTATIONS_TO_SKIP if key in current}
    annotations.update(
        (key, value) for key, value in restored.items() if key not in ANNOTATIONS_TO_SKIP
    )
    # Go marshals maps with sorted keys; keep the patch byte-for-byte predictable.
    return dict(sorted(annotations.items()))


def undo_plan(deployment: Body, replicasets: Iterable[Body], to_revision: int = 0) -> UndoPlan:
    """The guarded JSON Patch that performs `kubectl rollout undo --to-revision=N`."""
    target = select_revision(deployment, replicasets, to_revision)
    if mapping(deployment.get("spec")).get("paused") is True:
        raise DeploymentPaused(_name(deployment))
    target_revision = _kubectl_revision(target)
    # select_revision only returns ReplicaSets whose revision parsed.
    restored_revision = target_revision if target_revision is not None else to_revision
    if equal_ignore_hash(_template(target), _template(deployment)):
        raise AlreadyAtRevision(restored_revision)
    metadata = mapping(deployment.get("metadata"))
    return UndoPlan(
        from_revision=_kubectl_revision(deployment) or 0,
        to_revision=restored_revision,
        replica_set=_name(target),
        patch=[
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": metadata.get("resourceVersion"),
            },
            {"op": "replace", "path": "/spec/template", "value": _without_hash(_template(target))},
            {
                "op": "replace",
                "path": "/metadata/annotations",
                "value": _restored_annotations(deployment, target),
            },
        ],
    )
