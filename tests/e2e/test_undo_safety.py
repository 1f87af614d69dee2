"""The undo under stress: concurrent changes, kill -9 at each step, malformed input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from devkit.incidents import (
    GOOD,
    NEWER,
    approve,
    condition,
    declare,
    get_incident,
    good_then_bad,
    mitigation_is,
    status,
    undo_events,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.workloads import image_of, revisions, snapshot
from test_incident_flow import refused_with

StartOperator = Callable[..., OperatorProcess]


def test_a_change_between_approval_and_undo_is_not_overwritten(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    tmp_path: Path,
) -> None:
    hold = tmp_path / "hold"
    hold.write_text("held")
    good_then_bad(cluster, namespace)
    # The operator stops right before sending the undo patch, after its fresh reads.
    start_operator(TOURNIQUET_HOLD_AT="before-undo-patch", TOURNIQUET_HOLD_FILE=str(hold))
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2)
    wait_for(lambda: Path(f"{hold}.reached").exists(), what="the operator at the undo patch")

    cluster.kubectl("set", "image", "deployment/api", f"api={NEWER}", "-n", namespace)
    changed = snapshot(cluster, namespace)
    hold.unlink()

    incident = wait_incident(
        cluster, namespace, refused_with("TargetChanged"), "the undo refused with TargetChanged"
    )
    refusals = [e for e in status(incident)["timeline"] if e["kind"] == "UndoRefused"]
    assert len(refusals) == 1 and "not overwritten" in refusals[0]["message"]
    # The newer rollout is the suspect now, offered for a fresh approval.
    incident = wait_incident(
        cluster, namespace, mitigation_is("Pending", "NoApproval"), "a new offer for revision 3"
    )
    assert status(incident)["suspect"]["revision"] == 3
    assert image_of(cluster, namespace) == NEWER
    assert snapshot(cluster, namespace)[:2] == changed[:2]
    assert undo_events(cluster, namespace) == 0


@pytest.mark.parametrize("step", ["after-claim", "after-undo-patch"])
def test_kill_9_at_any_step_never_undoes_twice(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    step: str,
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator(TOURNIQUET_CRASH_AT=step)
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2)
    assert op.wait_exit(timeout=60) == -9, op.log()
    assert "crash point" in op.log()

    crashed = get_incident(cluster, namespace)
    assert status(crashed)["mitigation"]["result"] == "InProgress"
    if step == "after-claim":
        assert image_of(cluster, namespace) != GOOD, "the patch must not have been sent yet"
    else:
        assert image_of(cluster, namespace) == GOOD, "the patch must have landed"

    start_operator()  # the same operator, restarted, no crash point
    incident = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=90
    )
    assert image_of(cluster, namespace) == GOOD
    assert revisions(cluster, namespace) == [2, 3], "a second undo would create revision 4"
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")
    kinds = [e["kind"] for e in status(incident)["timeline"]]
    assert kinds.count("RolloutUndone") == 1
    assert kinds.count("MitigationStarted") == 1


def test_restart_after_success_does_nothing_new(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2)
    before = wait_incident(cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=90)
    op.kill()
    op2 = start_operator()
    # Let the restarted operator see the incident, then nothing may have changed.
    wait_for(
        lambda: op2.metric("tourniquet_incidents_open", severity="SEV1") == 1,
        what="the restarted operator to see the incident",
    )
    after = get_incident(cluster, namespace)
    assert status(after)["timeline"] == status(before)["timeline"]
    # No read or write of the Deployment for it (the caches' own list+watch aside).
    for verb in ("get", "patch"):
        assert op2.metric("tourniquet_api_requests_total", verb=verb, resource="deployments") == 0
    assert op2.metric("tourniquet_incidents_declared_total", severity="SEV1") == 0
    assert revisions(cluster, namespace) == [2, 3]


# --- malformed input ------------------------------------------------------------------

MALFORMED = {
    "unknown severity": ({"title": "x", "severity": "SEV0"}, 'Unsupported value: "SEV0"'),
    "no title": ({"severity": "SEV3"}, "spec.title: Required value"),
    "oversized title": ({"title": "x" * 201, "severity": "SEV3"}, "Too long"),
    "wrong type": (
        {"title": "x", "severity": "SEV3", "resolved": "yes"},
        'spec.resolved: Invalid value: "string"',
    ),
    "SEV1 without a commander": ({"title": "x", "severity": "SEV1"}, "must name roles.commander"),
    "bad selector": (
        {
            "title": "x",
            "severity": "SEV3",
            "scope": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        },
        "values",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_incidents_are_rejected_by_the_api_server(
    tourniquet_installed: Cluster, namespace: str, case: str
) -> None:
    spec, message = MALFORMED[case]
    manifest = {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    result = tourniquet_installed.apply(manifest, namespace, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert 'The Incident "bad" is invalid' in result.stderr


def test_odd_incidents_never_crash_or_loop_the_operator(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    # Valid by the schema, but odd: impact starting in the future, a selector on labels
    # nobody uses, an approval for a revision that never existed.
    declare(cluster, namespace, "future", startedAt="2099-01-01T00:00:00Z")
    declare(
        cluster,
        namespace,
        "nobody",
        selector={
            "matchExpressions": [
                {"key": "team", "operator": "NotIn", "values": ["x"]},
                {"key": "tier", "operator": "Exists"},
            ]
        },
    )
    declare(cluster, namespace, "ghost")
    wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect", name="ghost"
    )
    # An approval of a revision that does not exist: the API server refuses it outright.
    assert approve(cluster, namespace, 99, name="ghost", check=False).returncode != 0
    for name in ("future", "nobody", "ghost"):
        incident = wait_incident(
            cluster,
            namespace,
            lambda i: condition(i, "Ready").get("status") == "True",
            f"{name} reconciled",
            name=name,
        )
        assert condition(incident, "Ready")["reason"] == "Reconciled"
    nobody = get_incident(cluster, namespace, "nobody")
    assert condition(nobody, "SuspectIdentified")["reason"] == "NoRecentRollout"

    # No hot loop: once settled, a dozen reconciles write nothing.
    assert op.writes_during(reconciles=12) == 0
    assert op.running
    assert op.metric("tourniquet_reconcile_errors_total") == 0
    # An approval field change by hand without the policy's blessing is impossible:
    # the API server keeps even the IC from approving for someone else's Incident role.
    forged = cluster.kubectl(
        "patch",
        "incident",
        "future",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"approval": {"approvedBy": "bob", "revision": 2}}}),
        as_user="bob",
        check=False,
    )
    assert forged.returncode != 0
