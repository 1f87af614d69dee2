"""Small, immutable views of Deployments and ReplicaSets.

The in-memory indexes hold these instead of full bodies, so they keep only what finding a
suspect rollout needs. Projection never raises: a malformed body becomes a view with empty
or None fields, and the callers skip what they cannot use.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tourniquet.core.clock import parse_time

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

# Go's time.Time zero value stands in for a missing creationTimestamp; making it the epoch
# instead keeps it sortable and printable while still older than any real object.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)

# strconv.ParseInt(s, 10, 64): optional sign, ASCII digits, no spaces or underscores.
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class DeploymentView:
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    revision: int | None = None
    paused: bool = False
    images: tuple[tuple[str, str], ...] = ()
    #: As the watch last delivered it: whether a prefetched body is still current.
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaSetView:
    namespace: str
    name: str
    uid: str
    owner_uid: str | None
    owner_name: str | None
    revision: int | None
    created_at: datetime
    images: tuple[tuple[str, str], ...] = ()


def mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_revision(value: object) -> int | None:
    """The integer in a revision annotation, parsed as Go's strconv.ParseInt would."""
    if not isinstance(value, str) or _GO_INT.fullmatch(value) is None:
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def revision_of(body: Mapping[str, Any]) -> int | None:
    annotations = mapping(mapping(body.get("metadata")).get("annotations"))
    return parse_revision(annotations.get(REVISION_ANNOTATION))


def controller_reference(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with controller: true, as metav1.GetControllerOf finds it."""
    references = mapping(body.get("metadata")).get("ownerReferences")
    if not isinstance(references, list):
        return None
    for reference in references:
        if isinstance(reference, Mapping) and reference.get("controller") is True:
            return reference
    return None


def string_labels(value: object) -> dict[str, str]:
    return {
        key: label
        for key, label in mapping(value).items()
        if isinstance(key, str) and isinstance(label, str)
    }


def template_images(template: object) -> tuple[tuple[str, str], ...]:
    """(container name, image) of a pod template's containers, in order."""
    containers = mapping(mapping(template).get("spec")).get("containers")
    if not isinstance(containers, list):
        return ()
    return tuple(
        (text(container.get("name")), text(container.get("image")))
        for container in containers
        if isinstance(container, Mapping)
    )


def deployment_view(body: Mapping[str, Any]) -> DeploymentView:
    body = mapping(body)
    metadata = mapping(body.get("metadata"))
    spec = mapping(body.get("spec"))
    return DeploymentView(
        # Interned: thousands of views share a few namespaces.
        namespace=sys.intern(text(metadata.get("namespace"))),
        name=text(metadata.get("name")),
        uid=text(metadata.get("uid")),
        labels=string_labels(metadata.get("labels")),
        revision=revision_of(body),
        paused=spec.get("paused") is True,
        images=template_images(spec.get("template")),
        resource_version=text(metadata.get("resourceVersion")),
    )


def replicaset_view(body: Mapping[str, Any]) -> ReplicaSetView:
    body = mapping(body)
    metadata = mapping(body.get("metadata"))
    owner = controller_reference(body)
    if owner is not None and owner.get("kind") != "Deployment":
        owner = None
    return ReplicaSetView(
        namespace=sys.intern(text(metadata.get("namespace"))),
        name=text(metadata.get("name")),
        uid=text(metadata.get("uid")),
        owner_uid=(text(owner.get("uid")) or None) if owner is not None else None,
        owner_name=(text(owner.get("name")) or None) if owner is not None else None,
        revision=revision_of(body),
        created_at=parse_time(metadata.get("creationTimestamp")) or UNKNOWN_TIME,
        images=template_images(mapping(body.get("spec")).get("template")),
    )
