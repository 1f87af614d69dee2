from __future__ import annotations

from typing import Any

import pytest
from factories import deployment

from tourniquet.core.rollout_status import RolloutStatus, rollout_status


def with_status(
    generation: int = 2, spec_replicas: int | None = 3, **status: Any
) -> dict[str, Any]:
    body = deployment("api", generation=generation, replicas=spec_replicas)
    body["status"] = {"observedGeneration": generation, **status}
    return body


def test_a_complete_rollout_is_done() -> None:
    assert rollout_status(deployment("api")) == RolloutStatus(
        done=True, failed=False, message='deployment "api" successfully rolled out'
    )


def test_an_unobserved_spec_is_waited_for() -> None:
    body = with_status(generation=3, replicas=3, updatedReplicas=3, availableReplicas=3)
    body["status"]["observedGeneration"] = 2
    assert rollout_status(body) == RolloutStatus(
        False, False, "Waiting for deployment spec update to be observed..."
    )


def test_progress_deadline_exceeded_is_a_failure() -> None:
    body = with_status(
        updatedReplicas=1,
        replicas=3,
        conditions=[
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
        ],
    )
    assert rollout_status(body) == RolloutStatus(
        False, True, 'deployment "api" exceeded its progress deadline'
    )


def test_the_deadline_is_only_judged_once_the_spec_is_observed() -> None:
    # kubectl checks generation first: a stale failure of the previous spec does not count.
    body = with_status(
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    )
    body["metadata"]["generation"] = 3
    status = rollout_status(body)
    assert (status.done, status.failed) == (False, False)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            {"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3},
            "1 out of 3 new replicas have been updated...",
        ),
        (
            {"replicas": 5, "updatedReplicas": 3, "availableReplicas": 3},
            "2 old replicas are pending termination...",
        ),
        (
            {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1},
            "1 of 3 updated replicas are available...",
        ),
    ],
)
def test_waiting_branches(status: dict[str, int], message: str) -> None:
    result = rollout_status(with_status(**status))
    assert result == RolloutStatus(
        False, False, f'Waiting for deployment "api" rollout to finish: {message}'
    )


def test_a_progressing_condition_with_another_reason_is_not_a_failure() -> None:
    body = with_status(
        replicas=3,
        updatedReplicas=3,
        availableReplicas=3,
        conditions=[{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
    )
    assert rollout_status(body).done


def test_missing_status_fields_count_as_zero() -> None:
    body = deployment("api", generation=1, replicas=2)
    body["status"] = {}
    # generation 1 > observedGeneration 0: not observed yet.
    assert not rollout_status(body).done
    body["metadata"]["generation"] = 0
    assert rollout_status(body).message.endswith("0 out of 2 new replicas have been updated...")


def test_unset_spec_replicas_skips_the_updated_check_like_a_nil_pointer() -> None:
    body = with_status(spec_replicas=None)
    assert rollout_status(body).done
    body["status"] = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1}
    assert rollout_status(body).message.endswith("1 old replicas are pending termination...")


def test_scaled_to_zero_is_done() -> None:
    assert rollout_status(with_status(spec_replicas=0)).done


def test_malformed_bodies_do_not_raise() -> None:
    assert rollout_status({}) == RolloutStatus(True, False, 'deployment "" successfully rolled out')
    weird = {
        "metadata": {"name": "api", "generation": "2"},
        "spec": {"replicas": "3"},
        "status": {"conditions": "none", "updatedReplicas": True, "replicas": None},
    }
    assert rollout_status(weird).done
