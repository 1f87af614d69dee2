"""StatefulSets and DaemonSets on the real control plane: kube-controller-manager writes
their ControllerRevisions, kwok makes their pods Ready (or the broken ones never schedule).
The suspect is the most recent rollout of any kind; the undo is `kubectl rollout undo` for
that kind, guarded; completion is `kubectl rollout status` for that kind. A partitioned
StatefulSet and an OnDelete DaemonSet are refused with the reason, never 'succeeded'."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from devkit import revisioned
from devkit.incidents import (
    BAD,
    GOOD,
    approve,
    declare,
    mitigation_is,
    roll_out,
    status,
    wait_event,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import next_second

from tourniquet.api.names import DEFAULT_OPERATOR_IDENTITY

StartOperator = Callable[..., OperatorProcess]


def suspected(kind: str, name: str) -> Callable[[dict[str, Any]], bool]:
    def ready(incident: dict[str, Any]) -> bool:
        suspect = status(incident).get("suspect") or {}
        return (suspect.get("kind"), suspect.get("name")) == (kind, name)

    return ready


def test_a_statefulset_rollout_is_the_suspect_and_its_undo_is_kubectls(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    # An older Deployment rollout in scope: the StatefulSet's is newer, so it is the suspect.
    roll_out(cluster, namespace, "web", GOOD)
    next_second()
    revisioned.roll_out(cluster, namespace, revisioned.statefulset("db", GOOD))
    next_second()
    bad = revisioned.roll_out(
        cluster, namespace, revisioned.statefulset("db", BAD, broken=True), wait=False
    )
    assert bad == 2
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(cluster, namespace, suspected("StatefulSet", "db"), "suspect db")
    suspect = status(incident)["suspect"]
    history = revisioned.controller_revisions(cluster, namespace, "StatefulSet", "db")
    live = next(r for r in history if r["revision"] == 2)
    assert suspect["revision"] == 2
    assert suspect["previousRevision"] == 1
    assert suspect["controllerRevision"] == live["metadata"]["name"]
    assert suspect["rolledOutAt"] == live["metadata"]["creationTimestamp"]
    assert suspect["change"] == f"db: {GOOD} -> {BAD}"
    assert status(incident)["mitigation"]["kind"] == "StatefulSet"
    assert "statefulset/db" in status(incident)["mitigation"]["message"]

    approve(cluster, namespace, 2, target="db", target_kind="StatefulSet")
    done = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "StatefulSet undo succeeded", timeout=90
    )
    mitigation = status(done)["mitigation"]
    assert (mitigation["kind"], mitigation["name"]) == ("StatefulSet", "db")
    assert (mitigation["fromRevision"], mitigation["toRevision"]) == (2, 1)
    assert mitigation["controllerRevision"] == history[0]["metadata"]["name"]
    # What `kubectl rollout undo statefulset/db` leaves: revision 1's template, renumbered 3.
    assert revisioned.image(cluster, namespace, "StatefulSet", "db") == GOOD
    assert revisioned.live_revision(cluster, namespace, "StatefulSet", "db") == 3
    assert "statefulset rolling update complete" in mitigation["message"] or (
        "roll out complete" in mitigation["message"]
    )
    cluster.kubectl(
        "rollout", "status", "statefulset/db", "-n", namespace, "--timeout=5s"
    )  # kubectl agrees
    wait_event(cluster, namespace, "RolloutUndone", name="db")


def test_a_daemonset_undo_is_kubectls_and_followed_to_its_rollout_status(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    revisioned.roll_out(cluster, namespace, revisioned.daemonset("agent", GOOD))
    next_second()
    revisioned.roll_out(cluster, namespace, revisioned.daemonset("agent", BAD))
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(cluster, namespace, suspected("DaemonSet", "agent"), "suspect")
    assert status(incident)["suspect"]["revision"] == 2
    assert status(incident)["suspect"]["previousRevision"] == 1
    approve(cluster, namespace, 2, target="agent", target_kind="DaemonSet")
    done = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "DaemonSet undo succeeded", timeout=90
    )
    mitigation = status(done)["mitigation"]
    assert (mitigation["kind"], mitigation["fromRevision"], mitigation["toRevision"]) == (
        "DaemonSet",
        2,
        1,
    )
    assert mitigation["message"] == 'daemon set "agent" successfully rolled out'
    assert revisioned.image(cluster, namespace, "DaemonSet", "agent") == GOOD
    assert revisioned.live_revision(cluster, namespace, "DaemonSet", "agent") == 3


def test_a_partitioned_statefulset_is_refused_not_half_undone(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    # partition == replicas: the usual way to pause a StatefulSet's rollout.
    revisioned.roll_out(cluster, namespace, revisioned.statefulset("db", GOOD, partition=2))
    next_second()
    revisioned.roll_out(
        cluster, namespace, revisioned.statefulset("db", BAD, partition=2), wait=False
    )
    before = cluster.get("statefulset", "db", namespace)
    start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, suspected("StatefulSet", "db"), "suspect")
    approve(cluster, namespace, 2, target="db", target_kind="StatefulSet")
    refused = wait_incident(
        cluster, namespace, mitigation_is("Refused", "StatefulSetPartitioned"), "refusal"
    )
    message = status(refused)["mitigation"]["message"]
    assert "partition=2" in message and "paused" in message and "partition" in message
    after = cluster.get("statefulset", "db", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]
    wait_event(cluster, namespace, "StatefulSetPartitioned")


def test_an_on_delete_daemonset_is_refused_with_what_to_do(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    revisioned.roll_out(
        cluster, namespace, revisioned.daemonset("agent", GOOD, on_delete=True), wait=False
    )
    next_second()
    revisioned.roll_out(
        cluster, namespace, revisioned.daemonset("agent", BAD, on_delete=True), wait=False
    )
    before = cluster.get("daemonset", "agent", namespace)
    start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, suspected("DaemonSet", "agent"), "suspect")
    approve(cluster, namespace, 2, target="agent", target_kind="DaemonSet")
    refused = wait_incident(
        cluster, namespace, mitigation_is("Refused", "OnDeleteStrategy"), "refusal"
    )
    message = status(refused)["mitigation"]["message"]
    assert "OnDelete" in message and "kubectl rollout undo daemonset/agent" in message
    after = cluster.get("daemonset", "agent", namespace)
    assert after["spec"]["template"] == before["spec"]["template"]
    assert status(refused)["phase"] == "Declared"


def refused_by_server(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


def test_the_operator_token_changes_only_the_template_of_a_statefulset_or_daemonset(
    cluster: Cluster, namespace: str, tourniquet_installed: Cluster
) -> None:
    """The new permissions (patch StatefulSets and DaemonSets, read ControllerRevisions)
    allow exactly an undo's change, nothing wider."""
    revisioned.roll_out(cluster, namespace, revisioned.statefulset("db", GOOD))
    revisioned.roll_out(cluster, namespace, revisioned.daemonset("agent", GOOD))
    as_operator = {"as_user": DEFAULT_OPERATOR_IDENTITY, "check": False}
    for patch in (
        '{"spec":{"replicas":0}}',
        '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}',
        '{"spec":{"minReadySeconds":30}}',
        '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete"}}}',
    ):
        result = cluster.kubectl(
            "patch", "statefulset", "db", "-n", namespace, "--type=merge", "-p", patch,
            **as_operator,
        )  # fmt: skip
        refused_by_server(result, "operator confined")
    ds_strategy = cluster.kubectl(
        "patch", "daemonset", "agent", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"updateStrategy":{"type":"OnDelete"}}}', **as_operator,
    )  # fmt: skip
    refused_by_server(ds_strategy, "operator confined")
    relabel = cluster.kubectl(
        "label", "statefulset", "db", "-n", namespace, "owner=me", **as_operator
    )
    refused_by_server(relabel, "operator confined")
    for verb_args in (
        ("delete", "statefulset", "db"),
        ("delete", "daemonset", "agent"),
        ("delete", "controllerrevisions", "--all"),
    ):
        result = cluster.kubectl(*verb_args, "-n", namespace, **as_operator)
        refused_by_server(result, "forbidden")
    can_i = cluster.kubectl(
        "auth", "can-i", "patch", "controllerrevisions", "-n", namespace, **as_operator
    )
    assert can_i.stdout.strip() == "no"
    # And the one change it exists for is allowed: a template change (a dry run here).
    allowed = cluster.kubectl(
        "patch", "statefulset", "db", "-n", namespace, "--type=strategic", "--dry-run=server",
        "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"db","image":"' + BAD + '"}]}}}}',
        **as_operator,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
