"""When a rollout is done or has failed, decided exactly as `kubectl rollout status` does.

Port of DeploymentStatusViewer.Status (k8s.io/kubectl/pkg/polymorphichelpers/
rollout_status.go) without its pod-listing warnings, which need the API. kubectl reports
ProgressDeadlineExceeded as an error; here it is `failed=True` with kubectl's message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core.projections import mapping, text


@dataclass(frozen=True)
class RolloutStatus:
    done: bool
    failed: bool
    message: str


def _count(value: object) -> int:
    # Missing (or mistyped) counts read as Go's zero value.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _quoted(name: str) -> str:
    # Go's %q; Kubernetes object names never need more escaping than JSON's.
    return json.dumps(name, ensure_ascii=False)


def _progressing(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("type") == "Progressing":
            return condition
    return None


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    metadata = mapping(deployment.get("metadata"))
    spec = mapping(deployment.get("spec"))
    status = mapping(deployment.get("status"))
    name = _quoted(text(metadata.get("name")))

    if _count(metadata.get("generation")) > _count(status.get("observedGeneration")):
        return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")

    progressing = _progressing(status)
    if progressing is not None and progressing.get("reason") == Reason.PROGRESS_DEADLINE_EXCEEDED:
        return RolloutStatus(False, True, f"deployment {name} exceeded its progress deadline")

    waiting = f"Waiting for deployment {name} rollout to finish: "
    # spec.replicas is a pointer in Go: when unset, kubectl skips this check.
    desired = spec.get("replicas")
    updated = _count(status.get("updatedReplicas"))
    if isinstance(desired, int) and not isinstance(desired, bool) and updated < desired:
        return RolloutStatus(
            False,
            False,
            f"{waiting}{updated} out of {desired} new replicas have been updated...",
        )
    replicas = _count(status.get("replicas"))
    if replicas > updated:
        return RolloutStatus(
            False, False, f"{waiting}{replicas - updated} old replicas are pending termination..."
        )
    available = _count(status.get("availableReplicas"))
    if available < updated:
        return RolloutStatus(
            False, False, f"{waiting}{available} of {updated} updated replicas are available..."
        )
    return RolloutStatus(True, False, f"deployment {name} successfully rolled out")
