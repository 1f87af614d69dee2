"""StatefulSets, DaemonSets and their ControllerRevisions: projections and kubectl's history.

A StatefulSet's or DaemonSet's revisions are ControllerRevisions, not ReplicaSets: each holds
`data` = {"spec": {"template": {..., "$patch": "replace"}}}, the strategic merge patch that
restores that pod template, and an integer `revision`. The history selection follows
kubectl (k8s.io/kubectl/pkg/polymorphichelpers/history.go controlledHistory and
rollback.go findHistory): the revisions in the workload's namespace matching its selector
and controlled by its uid; "previous" is the second highest revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.core.clock import parse_time
from tourniquet.core.projections import (
    UNKNOWN_TIME,
    controller_reference,
    mapping,
    string_labels,
    template_images,
    text,
)
from tourniquet.core.selectors import matches

#: The kinds whose history is ControllerRevisions.
REVISIONED_KINDS = frozenset({WorkloadKind.STATEFUL_SET, WorkloadKind.DAEMON_SET})

Body = Mapping[str, Any]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _semantic(value: Any) -> Any:
    # As rollback._semantic: nulls and empty lists are unset fields in Go's JSON.
    if isinstance(value, Mapping):
        return {
            key: _semantic(item)
            for key, item in value.items()
            if item is not None and not (isinstance(item, list) and not item) and key != "$patch"
        }
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def template_fingerprint(template: object) -> str:
    """A short digest of a pod template, so caches compare templates without keeping them.
    kubectl compares the JSON bytes (statefulsetMatch, daemonSetMatch); both sides are the
    API server's own serialisation of the same type, so equal meaning is equal bytes."""
    canonical = json.dumps(_semantic(mapping(template)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def revision_template(revision: Body) -> Mapping[str, Any]:
    """The pod template a ControllerRevision restores."""
    return mapping(mapping(mapping(revision.get("data")).get("spec")).get("template"))


def workload_template(workload: Body) -> Mapping[str, Any]:
    return mapping(mapping(workload.get("spec")).get("template"))


def templates_match(workload: Body, revision: Body) -> bool:
    """kubectl's statefulsetMatch/daemonSetMatch: the workload runs that revision's template."""
    return bool(_semantic(workload_template(workload)) == _semantic(revision_template(revision)))


@dataclass(frozen=True, slots=True)
class RevisionedView:
    """A StatefulSet or DaemonSet, as the suspect search needs it."""

    kind: WorkloadKind
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    template: str = ""  # template_fingerprint of spec.template
    images: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ControllerRevisionView:
    namespace: str
    name: str
    uid: str
    owner_uid: str | None
    owner_kind: str | None
    revision: int | None
    created_at: datetime
    template: str = ""
    images: tuple[tuple[str, str], ...] = ()


def revisioned_view(kind: WorkloadKind) -> Any:
    """The projection of one kind's bodies (a StatefulSet or DaemonSet list item carries no
    `kind`, so the stream says which it is)."""

    def project(body: Body) -> RevisionedView:
        body = mapping(body)
        metadata = mapping(body.get("metadata"))
        template = workload_template(body)
        return RevisionedView(
            kind=kind,
            namespace=text(metadata.get("namespace")),
            name=text(metadata.get("name")),
            uid=text(metadata.get("uid")),
            labels=string_labels(metadata.get("labels")),
            template=template_fingerprint(template),
            images=template_images(template),
        )

    return project


def controller_revision_view(body: Body) -> ControllerRevisionView:
    body = mapping(body)
    metadata = mapping(body.get("metadata"))
    owner = controller_reference(body)
    template = revision_template(body)
    return ControllerRevisionView(
        namespace=text(metadata.get("namespace")),
        name=text(metadata.get("name")),
        uid=text(metadata.get("uid")),
        owner_uid=(text(owner.get("uid")) or None) if owner is not None else None,
        owner_kind=(text(owner.get("kind")) or None) if owner is not None else None,
        revision=_int(body.get("revision")),
        created_at=parse_time(metadata.get("creationTimestamp")) or UNKNOWN_TIME,
        template=template_fingerprint(template),
        images=template_images(template),
    )


def controlled_history(workload: Body, revisions: Iterable[Body]) -> list[Body]:
    """kubectl's controlledHistory: same namespace, the workload's selector, its uid as
    the controller."""
    metadata = mapping(workload.get("metadata"))
    uid = text(metadata.get("uid"))
    selector = mapping(workload.get("spec")).get("selector")
    # metav1.LabelSelectorAsSelector(nil) selects nothing.
    if not uid or not isinstance(selector, Mapping):
        return []
    history = []
    for revision in revisions:
        if not isinstance(revision, Mapping):
            continue
        rmeta = mapping(revision.get("metadata"))
        owner = controller_reference(revision)
        if (
            rmeta.get("namespace") == metadata.get("namespace")
            and owner is not None
            and owner.get("uid") == uid
            and matches(string_labels(rmeta.get("labels")), selector)
        ):
            history.append(revision)
    return history


def find_history(history: list[Body], to_revision: int = 0) -> Body | None:
    """kubectl's findHistory: 0 is the second highest revision (sort.Sort by revision: the
    order among equal revisions is not specified; name makes ours deterministic)."""
    if to_revision == 0:
        if len(history) <= 1:
            return None
        ordered = sorted(
            history,
            key=lambda r: (
                _int(r.get("revision")) or 0,
                text(mapping(r.get("metadata")).get("name")),
            ),
        )
        return ordered[-2]
    return next((r for r in history if _int(r.get("revision")) == to_revision), None)


def live_revision(workload: Body, history: list[Body]) -> Body | None:
    """The revision whose template the workload runs now: the controllers give it the
    highest revision number (an undo bumps the restored revision above the rest)."""
    matching = [r for r in history if templates_match(workload, r)]
    return max(matching, key=lambda r: _int(r.get("revision")) or 0, default=None)


def revision_number(revision: Body | None) -> int | None:
    return None if revision is None else _int(revision.get("revision"))
