"""A StatefulSet undo stuck on a broken pod (kubernetes #67250): with podManagementPolicy
OrderedReady the controller waits for every pod to be Running and Ready before it
replaces any, so a pod of the bad revision that never becomes Ready holds the undo
forever. The fix a person applies is deleting that pod (the controller recreates it at
the restored revision); Tourniquet offers it as a separately approved step.

Pure: from the StatefulSet and its pods, which pod (if any) holds the rollout; the
steps that offer, and record, its deletion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tourniquet.api.vocabulary import ConditionType, Reason
from tourniquet.core.clock import format_time
from tourniquet.core.draft import Draft
from tourniquet.core.projections import controller_reference, mapping, text

REVISION_LABEL = "controller-revision-hash"
_ORDINAL = re.compile(r"-([0-9]+)$")


@dataclass(frozen=True)
class StuckPod:
    name: str
    uid: str
    revision: str


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = mapping(pod.get("status")).get("conditions")
    return isinstance(conditions, list) and any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )


def _ordinal(pod: Mapping[str, Any]) -> int:
    found = _ORDINAL.search(text(mapping(pod.get("metadata")).get("name")))
    return int(found.group(1)) if found else -1


def stuck_pod(statefulset: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> StuckPod | None:
    """The pod an OrderedReady rolling update waits on forever: owned by this
    StatefulSet, not at its update revision, not Ready and not already going away. The
    lowest such ordinal is the one the controller waits on first."""
    spec, status = mapping(statefulset.get("spec")), mapping(statefulset.get("status"))
    if spec.get("podManagementPolicy", "OrderedReady") != "OrderedReady":
        return None
    if mapping(spec.get("updateStrategy")).get("type", "RollingUpdate") != "RollingUpdate":
        return None
    update = text(status.get("updateRevision"))
    uid = text(mapping(statefulset.get("metadata")).get("uid"))
    if not update:
        return None
    candidates = []
    for pod in pods:
        metadata = mapping(pod.get("metadata"))
        owner = controller_reference(pod)
        if owner is None or owner.get("kind") != "StatefulSet" or owner.get("uid") != uid:
            continue
        revision = text(mapping(metadata.get("labels")).get(REVISION_LABEL))
        if revision == update or _ready(pod) or metadata.get("deletionTimestamp"):
            continue
        candidates.append(pod)
    if not candidates:
        return None
    pod = min(candidates, key=_ordinal)
    metadata = mapping(pod.get("metadata"))
    return StuckPod(
        text(metadata.get("name")),
        text(metadata.get("uid")),
        text(mapping(metadata.get("labels")).get(REVISION_LABEL)),
    )


# -- the separately approved step ------------------------------------------------------


def delete_command(d: Draft) -> str:
    return f"kubectl incident delete-stuck-pod {d.name} -n {d.namespace}"


def offer_deletion(d: Draft, stuck: StuckPod) -> None:
    """Name the pod the undo is stuck on, and how to approve deleting it."""
    mitigation = d.mitigation if d.mitigation is not None else {}
    current = mapping(mitigation.get("stuckPod"))
    if current.get("name") == stuck.name and not current.get("deletedAt"):
        return
    mitigation["stuckPod"] = {"name": stuck.name, "revision": stuck.revision}
    message = (
        f"the undo of {mitigation.get('kind')}/{mitigation.get('name')} is stuck: pod "
        f"{stuck.name} of revision {stuck.revision} is not Ready, and with OrderedReady the "
        "controller waits for it before replacing any pod (kubernetes #67250); deleting it "
        f"lets the controller recreate it at the restored revision: {delete_command(d)}"
    )
    d.condition(ConditionType.MITIGATED, False, Reason.STATEFUL_SET_POD_STUCK, message)
    d.record(
        Reason.STATEFUL_SET_POD_STUCK, message, event=Reason.STATEFUL_SET_POD_STUCK, warning=True
    )


def approved_deletion(d: Draft) -> str | None:
    """The stuck pod the Incident Commander approved deleting, not deleted yet."""
    stuck = mapping(mapping(d.mitigation).get("stuckPod"))
    approval = mapping(d.status.get("podDeletion"))
    name = text(stuck.get("name"))
    if not name or stuck.get("deletedAt") or text(approval.get("pod")) != name:
        return None
    return name


def deleted(d: Draft, name: str) -> None:
    stuck = (d.mitigation or {}).get("stuckPod")
    who = text(mapping(d.status.get("podDeletion")).get("approvedBy"))
    if isinstance(stuck, dict):
        stuck.update(deletedAt=format_time(d.now), deletedBy=who or None)
        if stuck.get("deletedBy") is None:
            stuck.pop("deletedBy")
    d.record(
        Reason.STUCK_POD_DELETED,
        f"pod {name} deleted, as {who or 'the Incident Commander'} approved: the controller "
        "recreates it at the restored revision",
        actor=who or None,
        event=Reason.STUCK_POD_DELETED,
    )
