"""When a StatefulSet's or DaemonSet's rollout is done, decided exactly as `kubectl rollout
status` does: StatefulSetStatusViewer and DaemonSetStatusViewer (k8s.io/kubectl/pkg/
polymorphichelpers/rollout_status.go). kubectl answers an update strategy other than
RollingUpdate with an error (and no verdict); here that is `failed=True` with its words, so
an OnDelete workload is never recorded as rolled back when no pod was replaced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.core.projections import mapping, text
from tourniquet.core.rollout_status import RolloutStatus, _count, _quoted

_ONLY_ROLLING = "rollout status is only available for RollingUpdate strategy type"


def _pointer(value: object) -> int | None:
    # A *int32 in Go: None when unset.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def statefulset_status(sts: Mapping[str, Any]) -> RolloutStatus:
    metadata, spec = mapping(sts.get("metadata")), mapping(sts.get("spec"))
    status = mapping(sts.get("status"))
    strategy = mapping(spec.get("updateStrategy"))
    if text(strategy.get("type")) != "RollingUpdate":
        return RolloutStatus(False, True, _ONLY_ROLLING)
    observed = _count(status.get("observedGeneration"))
    if observed == 0 or _count(metadata.get("generation")) > observed:
        return RolloutStatus(False, False, "Waiting for statefulset spec update to be observed...")
    replicas = _pointer(spec.get("replicas"))
    ready = _count(status.get("readyReplicas"))
    if replicas is not None and ready < replicas:
        return RolloutStatus(False, False, f"Waiting for {replicas - ready} pods to be ready...")
    updated = _count(status.get("updatedReplicas"))
    rolling = strategy.get("rollingUpdate")
    if isinstance(rolling, Mapping):
        partition = _pointer(rolling.get("partition"))
        if replicas is not None and partition is not None and updated < replicas - partition:
            return RolloutStatus(
                False,
                False,
                "Waiting for partitioned roll out to finish: "
                f"{updated} out of {replicas - partition} new pods have been updated...",
            )
        return RolloutStatus(
            True, False, f"partitioned roll out complete: {updated} new pods have been updated..."
        )
    update_revision = text(status.get("updateRevision"))
    if update_revision != text(status.get("currentRevision")):
        return RolloutStatus(
            False,
            False,
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_revision}...",
        )
    return RolloutStatus(
        True,
        False,
        f"statefulset rolling update complete {_count(status.get('currentReplicas'))} pods at "
        f"revision {text(status.get('currentRevision'))}...",
    )


def daemonset_status(ds: Mapping[str, Any]) -> RolloutStatus:
    metadata, spec = mapping(ds.get("metadata")), mapping(ds.get("spec"))
    status = mapping(ds.get("status"))
    if text(mapping(spec.get("updateStrategy")).get("type")) != "RollingUpdate":
        return RolloutStatus(False, True, _ONLY_ROLLING)
    if _count(metadata.get("generation")) > _count(status.get("observedGeneration")):
        return RolloutStatus(False, False, "Waiting for daemon set spec update to be observed...")
    name = _quoted(text(metadata.get("name")))
    updated = _count(status.get("updatedNumberScheduled"))
    desired = _count(status.get("desiredNumberScheduled"))
    waiting = f"Waiting for daemon set {name} rollout to finish: "
    if updated < desired:
        return RolloutStatus(
            False, False, f"{waiting}{updated} out of {desired} new pods have been updated..."
        )
    available = _count(status.get("numberAvailable"))
    if available < desired:
        return RolloutStatus(
            False, False, f"{waiting}{available} of {desired} updated pods are available..."
        )
    return RolloutStatus(True, False, f"daemon set {name} successfully rolled out")


def revisioned_status(kind: str, workload: Mapping[str, Any]) -> RolloutStatus:
    if kind == WorkloadKind.STATEFUL_SET:
        return statefulset_status(workload)
    return daemonset_status(workload)
