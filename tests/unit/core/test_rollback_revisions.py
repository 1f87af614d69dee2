"""StatefulSets and DaemonSets: kubectl's history selection, the guarded undo's plan and
refusals, `kubectl rollout status` for each kind, and the suspect across kinds."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tourniquet.core.controller_revisions import (
    controlled_history,
    controller_revision_view,
    find_history,
    revisioned_view,
)
from tourniquet.core.guards import Refusal, UndoRequest
from tourniquet.core.projections import deployment_view, replicaset_view
from tourniquet.core.rollback_revisions import RevisionUndoPlan, check_revision_undo, undo_landed
from tourniquet.core.rollout_status_revisions import daemonset_status, statefulset_status
from tourniquet.core.suspect_revisions import find_any_suspect

GOOD, BAD = "registry/db:1", "registry/db:2"


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": image}]},
    }


def workload(kind: str = "StatefulSet", image: str = BAD, **spec: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": "db", "namespace": "prod", "uid": "u-db", "resourceVersion": "42",
                     "labels": {"app": "db"}},
        "spec": {"selector": {"matchLabels": {"app": "db"}}, "replicas": 2,
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "template": template(image), **spec},
    }  # fmt: skip


def revision(
    number: int, image: str, kind: str = "StatefulSet", uid: str = "u-db"
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"db-{number}", "namespace": "prod", "uid": f"cr-{number}",
                     "labels": {"app": "db"},
                     "creationTimestamp": f"2026-11-27T10:0{number}:00Z",
                     "ownerReferences": [{"controller": True, "uid": uid, "kind": kind}]},
        "revision": number,
        "data": {"spec": {"template": {**template(image), "$patch": "replace"}}},
    }  # fmt: skip


HISTORY = [revision(1, GOOD), revision(2, BAD)]
SUSPECT = {"kind": "StatefulSet", "name": "db", "revision": 2, "controllerRevision": "db-2"}
APPROVAL = {"approvedBy": "alice", "kind": "StatefulSet", "name": "db", "revision": 2}


def check(body: dict[str, Any] | None, history: list[dict[str, Any]] = HISTORY) -> Any:
    return check_revision_undo(
        UndoRequest(
            approval=APPROVAL,
            suspect=SUSPECT,
            mitigation=None,
            approval_verified=True,
            trust_unverified=False,
            deployment=body,
            replicasets=history,
        )
    )


def test_the_undo_is_kubectls_patch_with_a_precondition() -> None:
    plan = check(workload())
    assert isinstance(plan, RevisionUndoPlan)
    assert (plan.from_revision, plan.to_revision, plan.controller_revision) == (2, 1, "db-1")
    # The ControllerRevision's data verbatim (template with $patch: replace), plus the rv.
    assert plan.patch == {**HISTORY[0]["data"], "metadata": {"resourceVersion": "42"}}


def test_history_is_the_controlled_revisions_and_previous_is_the_second_highest() -> None:
    foreign = revision(9, GOOD, uid="someone-else")
    history = controlled_history(workload(), [*HISTORY, foreign, revision(3, "x")])
    assert [r["revision"] for r in history] == [1, 2, 3]
    assert find_history(history)["revision"] == 2  # type: ignore[index]
    assert find_history(history[:1]) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (workload(updateStrategy={"type": "OnDelete"}), "OnDeleteStrategy"),
        (
            workload(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
            "StatefulSetPartitioned",
        ),
        (workload(image=GOOD), "TargetChanged"),
        (None, "TargetChanged"),
    ],
)
def test_refusals(body: dict[str, Any] | None, reason: str) -> None:
    refusal = check(body)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == reason


def test_no_previous_revision_is_refused() -> None:
    refusal = check(workload(), HISTORY[1:])
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "NoPreviousRevision"


def test_a_daemonset_on_delete_is_refused_and_says_what_to_do() -> None:
    body = workload("DaemonSet", updateStrategy={"type": "OnDelete"})
    request = UndoRequest(
        approval={**APPROVAL, "kind": "DaemonSet"},
        suspect={**SUSPECT, "kind": "DaemonSet"},
        mitigation=None,
        approval_verified=True,
        trust_unverified=False,
        deployment=body,
        replicasets=[revision(1, GOOD, "DaemonSet"), revision(2, BAD, "DaemonSet")],
    )
    refusal = check_revision_undo(request)
    assert isinstance(refusal, Refusal)
    assert "kubectl rollout undo daemonset/db" in refusal.message


def test_undo_landed_after_a_restart() -> None:
    mitigation = {"controllerRevision": "db-1", "fromRevision": 2}
    assert undo_landed(mitigation, workload(image=GOOD), HISTORY) is True
    assert undo_landed(mitigation, workload(), HISTORY) is False
    assert undo_landed(mitigation, workload(image="other"), HISTORY) is None


def sts_status(**status: Any) -> dict[str, Any]:
    body = copy.deepcopy(workload())
    body["metadata"]["generation"] = 2
    body["status"] = {"observedGeneration": 2, **status}
    return body


def test_statefulset_status_is_kubectls() -> None:
    assert statefulset_status(sts_status(readyReplicas=1)).message == (
        "Waiting for 1 pods to be ready..."
    )
    done = statefulset_status(sts_status(readyReplicas=2, updatedReplicas=2))
    assert (
        done.done
        and done.message == "partitioned roll out complete: 2 new pods have been updated..."
    )
    on_delete = workload(updateStrategy={"type": "OnDelete"})
    assert statefulset_status(on_delete).failed


def test_daemonset_status_is_kubectls() -> None:
    body = workload("DaemonSet")
    body["metadata"]["generation"] = 1
    body["status"] = {"observedGeneration": 1, "desiredNumberScheduled": 2,
                      "updatedNumberScheduled": 2, "numberAvailable": 1}  # fmt: skip
    assert daemonset_status(body).message == (
        'Waiting for daemon set "db" rollout to finish: 1 of 2 updated pods are available...'
    )
    body["status"]["numberAvailable"] = 2
    assert daemonset_status(body).done


def test_the_most_recent_rollout_of_any_kind_is_the_suspect() -> None:
    deployment = {"metadata": {"name": "web", "namespace": "prod", "uid": "u-web",
                               "annotations": {"deployment.kubernetes.io/revision": "2"}},
                  "spec": {"template": template("web:2")}}  # fmt: skip
    rs = {"metadata": {"name": "web-2", "namespace": "prod", "uid": "rs",
                       "creationTimestamp": "2026-11-27T09:00:00Z",
                       "annotations": {"deployment.kubernetes.io/revision": "2"},
                       "ownerReferences": [{"controller": True, "uid": "u-web",
                                            "kind": "Deployment"}]},
          "spec": {"template": template("web:2")}}  # fmt: skip
    sts = revisioned_view("StatefulSet")(workload())  # type: ignore[arg-type]
    found = find_any_suspect(
        [deployment_view(deployment)],
        [replicaset_view(rs)],
        [sts],
        [controller_revision_view(r) for r in HISTORY],
        None,
    )
    assert found is not None
    assert found.to_status() == {
        "kind": "StatefulSet",
        "name": "db",
        "controllerRevision": "db-2",
        "revision": 2,
        "previousRevision": 1,
        "rolledOutAt": "2026-11-27T10:02:00Z",
        "change": f"db: {GOOD} -> {BAD}",
    }
    assert found.rolled_out_at == datetime(2026, 11, 27, 10, 2, tzinfo=UTC)
