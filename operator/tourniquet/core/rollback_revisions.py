"""`kubectl rollout undo statefulset/X` and `daemonset/X`, ported from kubectl's
StatefulSetRollbacker and DaemonSetRollbacker (k8s.io/kubectl/pkg/polymorphichelpers/
rollback.go), with the same guards as a Deployment's undo (core/guards.py) and two more.

kubectl's undo sends the target ControllerRevision's `data` verbatim as a strategic merge
patch: {"spec": {"template": {..., "$patch": "replace"}}}. Ours adds one field,
metadata.resourceVersion, which makes the API server refuse (409) a patch to a workload
changed since it was read, so a concurrent change is never overwritten.

The two extra refusals say why kubectl's undo would not stop the bleeding: with the
OnDelete update strategy the template changes but no pod is replaced (kubectl's
`rollout status` has no answer for it either), and a StatefulSet partitioned (or "paused"
with partition >= replicas) keeps the pods below the partition on the bad revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.api.vocabulary import Reason
from tourniquet.core.controller_revisions import (
    controlled_history,
    find_history,
    live_revision,
    revision_number,
    templates_match,
)
from tourniquet.core.guards import Refusal, UndoRequest, _approval_refusal
from tourniquet.core.projections import mapping, text
from tourniquet.core.selectors import matches


@dataclass(frozen=True)
class RevisionUndoPlan:
    kind: WorkloadKind
    from_revision: int
    to_revision: int
    controller_revision: str
    #: The strategic merge patch: the ControllerRevision's data plus the precondition.
    patch: dict[str, Any]


def ref(kind: str, name: str) -> str:
    """kubectl's spelling: statefulset/api."""
    return f"{kind.lower()}/{name}"


def _strategy_refusal(kind: str, workload: Mapping[str, Any], name: str) -> Refusal | None:
    spec = mapping(workload.get("spec"))
    strategy = mapping(spec.get("updateStrategy"))
    if text(strategy.get("type")) == "OnDelete":
        return Refusal(
            Reason.ON_DELETE_STRATEGY,
            f"{kind} {name} uses the OnDelete update strategy: an undo would change its "
            "template but replace no pod, so the bad revision would keep running (and "
            "`kubectl rollout status` cannot follow it). Undo it by hand with "
            f"`kubectl rollout undo {ref(kind, name)}`, then delete its pods one by one "
            "so they come back on the previous revision.",
        )
    if kind != WorkloadKind.STATEFUL_SET:
        return None
    partition = mapping(strategy.get("rollingUpdate")).get("partition")
    if isinstance(partition, int) and not isinstance(partition, bool) and partition > 0:
        replicas = spec.get("replicas")
        paused = isinstance(replicas, int) and partition >= replicas
        return Refusal(
            Reason.STATEFUL_SET_PARTITIONED,
            f"StatefulSet {name} has spec.updateStrategy.rollingUpdate.partition={partition}"
            + (" (at least its replicas: its rollout is paused)" if paused else "")
            + f": an undo would leave the pods with an ordinal below {partition} on the "
            "revision they run, so it was not made. Set the partition to 0 (`kubectl patch "
            f"statefulset {name} --type=merge -p "
            '\'{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}\'`), then '
            "clear and re-approve.",
        )
    return None


def check_revision_undo(request: UndoRequest) -> RevisionUndoPlan | Refusal:
    """The undo of a StatefulSet or DaemonSet (request.deployment is the workload,
    request.replicasets its ControllerRevisions), or the first reason not to."""
    refusal = _approval_refusal(request)
    if refusal is not None:
        return refusal
    suspect = mapping(request.suspect)
    kind, name = text(suspect.get("kind")), text(suspect.get("name"))
    revision = suspect.get("revision")
    workload = request.deployment
    if workload is not None and not matches(
        mapping(mapping(workload.get("metadata")).get("labels")), request.scope_selector
    ):
        return Refusal(
            Reason.SUSPECT_OUT_OF_SCOPE,
            f"{kind} {name} is not in the incident's scope (spec.scope.selector), so it is "
            "not undone.",
        )
    if workload is None or text(mapping(workload.get("metadata")).get("name")) != name:
        return Refusal(
            Reason.TARGET_CHANGED,
            f"{kind} {name} no longer exists, so revision {revision} cannot be undone.",
        )
    history = controlled_history(workload, request.replicasets)
    live = live_revision(workload, history)
    live_number = revision_number(live)
    if live is None or live_number != revision:
        return Refusal(
            Reason.TARGET_CHANGED,
            f"{kind} {name} now runs revision {live_number}, not the approved revision "
            f"{revision}; it moved on since, so it was left alone.",
        )
    expected = text(suspect.get("controllerRevision"))
    if expected and text(mapping(live.get("metadata")).get("name")) != expected:
        return Refusal(
            Reason.TARGET_CHANGED,
            f"The ControllerRevision of revision {revision} of {kind} {name} was replaced, "
            "so the approved rollout can no longer be identified; it was left alone.",
        )
    refusal = _strategy_refusal(kind, workload, name)
    if refusal is not None:
        return refusal
    target = find_history(history)
    if target is None:
        return Refusal(
            Reason.NO_PREVIOUS_REVISION,
            f"{kind} {name} has no revision before {revision} to return to "
            "(kubectl: no last revision to roll back to), so there is nothing to undo.",
        )
    to_revision = revision_number(target) or 0
    if templates_match(workload, target):
        return Refusal(
            Reason.ALREADY_AT_REVISION,
            f"{kind} {name} already runs the pod template of revision {to_revision}, "
            "so there is nothing to undo.",
        )
    patch = {
        **{k: v for k, v in mapping(target.get("data")).items() if k != "metadata"},
        "metadata": {"resourceVersion": mapping(workload.get("metadata")).get("resourceVersion")},
    }
    return RevisionUndoPlan(
        kind=WorkloadKind(kind),
        from_revision=live_number or 0,
        to_revision=to_revision,
        controller_revision=text(mapping(target.get("metadata")).get("name")),
        patch=patch,
    )


def undo_landed(
    mitigation: Mapping[str, Any],
    workload: Mapping[str, Any] | None,
    revisions: Sequence[Mapping[str, Any]],
) -> bool | None:
    """After a restart: did the claimed undo reach the workload? As lifecycle.undo_landed:
    True it runs the restored template, False it still runs the approved revision
    untouched (the patch may be sent), None someone else changed it."""
    if workload is None:
        return None
    by_name = {text(mapping(r.get("metadata")).get("name")): r for r in revisions}
    target = by_name.get(text(mitigation.get("controllerRevision")))
    if target is not None and templates_match(workload, target):
        return True
    live = live_revision(workload, controlled_history(workload, revisions))
    if live is not None and revision_number(live) == mitigation.get("fromRevision"):
        return False
    return None
