"""core/stuck_pod.py: which pod holds an OrderedReady StatefulSet's undo (kubernetes
#67250), and the steps that offer and record its deletion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tourniquet.core.draft import Draft
from tourniquet.core.stuck_pod import (
    approved_deletion,
    delete_command,
    deleted,
    offer_deletion,
    stuck_pod,
)

GOOD, BAD = "db-6b8f", "db-7c9d"


def statefulset(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "db", "namespace": "prod", "uid": "sts-uid"},
        "spec": {"podManagementPolicy": "OrderedReady", **spec},
        "status": {"updateRevision": GOOD},
    }


def pod(ordinal: int, revision: str, *, ready: bool, owner: str = "sts-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"db-{ordinal}",
            "uid": f"pod-{ordinal}",
            "labels": {"controller-revision-hash": revision},
            "ownerReferences": [{"kind": "StatefulSet", "uid": owner, "controller": True}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_the_lowest_not_ready_pod_of_an_old_revision_holds_the_rollout() -> None:
    pods = [pod(0, GOOD, ready=True), pod(2, BAD, ready=False), pod(1, BAD, ready=False)]
    found = stuck_pod(statefulset(), pods)
    assert found is not None and (found.name, found.uid, found.revision) == ("db-1", "pod-1", BAD)


def test_nothing_holds_it_otherwise() -> None:
    assert stuck_pod(statefulset(), [pod(1, BAD, ready=True)]) is None  # Ready: it is replaced
    assert stuck_pod(statefulset(), [pod(1, GOOD, ready=False)]) is None  # starting, restored
    assert stuck_pod(statefulset(), [pod(1, BAD, ready=False, owner="other")]) is None
    assert (
        stuck_pod(statefulset(podManagementPolicy="Parallel"), [pod(1, BAD, ready=False)]) is None
    )
    on_delete = statefulset(updateStrategy={"type": "OnDelete"})
    assert stuck_pod(on_delete, [pod(1, BAD, ready=False)]) is None


def incident(**status: Any) -> Draft:
    body = {
        "metadata": {"name": "api-errors", "namespace": "prod"},
        "spec": {},
        "status": {
            "mitigation": {"kind": "StatefulSet", "name": "db", "result": "InProgress"},
            **status,
        },
    }
    return Draft(body, datetime(2026, 12, 1, tzinfo=UTC))


def test_the_deletion_is_offered_once_and_acts_only_on_the_named_pod() -> None:
    d = incident()
    found = stuck_pod(statefulset(), [pod(1, BAD, ready=False)])
    assert found is not None
    offer_deletion(d, found)
    offer_deletion(d, found)  # the next look: nothing new
    assert d.mitigation is not None and d.mitigation["stuckPod"] == {
        "name": "db-1",
        "revision": BAD,
    }
    entries = [t for t in d.status["timeline"] if t["kind"] == "StatefulSetPodStuck"]
    assert len(entries) == 1 and delete_command(d) in entries[0]["message"]
    assert approved_deletion(d) is None
    d.status["podDeletion"] = {"approvedBy": "alice", "pod": "db-0"}
    assert approved_deletion(d) is None  # not the stuck one
    d.status["podDeletion"] = {"approvedBy": "alice", "pod": "db-1"}
    assert approved_deletion(d) == "db-1"
    deleted(d, "db-1")
    assert d.mitigation["stuckPod"]["deletedBy"] == "alice"
    assert approved_deletion(d) is None  # done once
