"""The approval and the record cannot be forged: each attack tried as the user who would,
with the shipped roles (tourniquet-responder, tourniquet-commander) and `kubectl --as`,
against the real API server, the real admission policies and the operator running as its
ServiceAccount. Every refusal is the API server's, with a message that says what to do."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devkit.incidents import (
    approve,
    declare,
    get_incident,
    good_then_bad,
    mitigation_is,
    patch_incident,
    roll_out,
    status,
    undo_events,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.manifests import incident
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.workloads import revisions
from test_alerts import notification, start_receiver, token  # noqa: F401  (token: a fixture)

from tourniquet.api.names import DEFAULT_OPERATOR_IDENTITY
from tourniquet.api.policies import record_fields

StartOperator = Callable[..., OperatorProcess]
OPERATOR = DEFAULT_OPERATOR_IDENTITY


@pytest.fixture
def shipped_roles(tourniquet_installed: Cluster, namespace: str) -> Iterator[None]:
    """alice and bob: tourniquet-commander. mallory: tourniquet-responder, plus patch on
    incidents/status (the reviewer's setup). rita: tourniquet-responder only."""
    k = tourniquet_installed
    k.kubectl(
        "create",
        "rolebinding",
        "commanders",
        "-n",
        namespace,
        "--clusterrole=tourniquet-commander",
        "--user=alice",
        "--user=bob",
    )
    k.kubectl(
        "create",
        "rolebinding",
        "responders",
        "-n",
        namespace,
        "--clusterrole=tourniquet-responder",
        "--user=mallory",
        "--user=rita",
    )
    k.kubectl(
        "create",
        "role",
        "status-patch",
        "-n",
        namespace,
        "--verb=get,patch",
        "--resource=incidents.tourniquet.dev/status",
    )
    k.kubectl(
        "create",
        "rolebinding",
        "mallory-status",
        "-n",
        namespace,
        "--role=status-patch",
        "--user=mallory",
    )
    yield


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The API server said no, in words that tell the user what is wrong."""
    assert result.returncode != 0, f"admitted: {result.stdout}"
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def suspected(cluster: Cluster, namespace: str, name: str = "api-errors") -> dict[str, Any]:
    return wait_incident(
        cluster, namespace, mitigation_is("Pending", "NoApproval"), "the undo offered", name
    )


def test_the_genuine_commander_approval_still_works(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="rita")  # a responder declares, naming alice as IC
    suspected(cluster, namespace)
    approve(cluster, namespace, 2, as_user="alice")
    incident = wait_incident(cluster, namespace, mitigation_is("Succeeded"), "the undo done")
    assert status(incident)["mitigation"]["approvedBy"] == "alice"
    assert revisions(cluster, namespace) == [2, 3]


def test_a_self_appointed_responder_cannot_approve(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="mallory", commander="mallory")
    suspected(cluster, namespace)
    message = refused(
        approve(cluster, namespace, 2, as_user="mallory", check=False),
        'user "mallory" may not approve',
        '"approve"',
        "tourniquet-commander",
    )
    assert "approval rejected" in message
    assert status(get_incident(cluster, namespace)).get("approval") is None
    assert revisions(cluster, namespace) == [1, 2]
    assert undo_events(cluster, namespace) == 0


def test_handover_and_the_all_clear_read_the_commander_as_it_was(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="rita")
    suspected(cluster, namespace)
    # A responder renames herself commander: refused.
    rename = {"spec": {"roles": {"commander": "mallory"}}}
    refused(
        patch_incident(cluster, namespace, rename, as_user="mallory", check=False),
        "handover rejected",
        'user "mallory"',
    )
    # Another commander renames himself and resolves in the same patch: the all-clear is
    # judged by the commander before the request (alice), so it is refused whole.
    both = {"spec": {"roles": {"commander": "bob"}, "resolved": True}}
    refused(
        patch_incident(cluster, namespace, both, as_user="bob", check=False),
        "resolve rejected",
        '"alice"',
    )
    incident = get_incident(cluster, namespace)
    assert incident["spec"]["roles"]["commander"] == "alice"
    assert not incident["spec"].get("resolved")
    # The commander hands over; then the new commander (not alice) resolves.
    handover = {"spec": {"roles": {"commander": "bob"}}}
    patch_incident(cluster, namespace, handover, as_user="alice")
    refused(
        patch_incident(
            cluster, namespace, {"spec": {"resolved": True}}, as_user="alice", check=False
        ),
        "resolve rejected",
    )
    patch_incident(cluster, namespace, {"spec": {"resolved": True}}, as_user="bob")


def test_nobody_but_the_operator_writes_the_record(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="rita")
    before = status(suspected(cluster, namespace))
    forgeries = [
        {"status": {"timeline": []}},  # erase the timeline
        {"status": {"timeToResolveSeconds": 1}},  # write a flattering MTTR
        {"status": {"mitigation": {"result": "Succeeded"}}},  # write a result
        {"status": {"phase": "Closed"}},
        {"status": {"timeline": None, "conditions": None}},  # delete them
    ]
    for who in ("alice", "mallory"):
        for forgery in forgeries:
            refused(
                patch_incident(cluster, namespace, forgery, as_user=who, status=True, check=False),
                "record rejected",
                OPERATOR,
            )
    annotate = {"metadata": {"annotations": {"tourniquet.dev/timeline-archive": "[]"}}}
    refused(
        patch_incident(cluster, namespace, annotate, as_user="alice", check=False),
        "annotation rejected",
    )
    after = status(get_incident(cluster, namespace))
    assert after["timeline"][: len(before["timeline"])] == before["timeline"]


def test_a_forged_suspect_cannot_aim_the_undo_elsewhere(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace, labels={"app": "api"})
    good_then_bad(cluster, namespace, name="billing", labels={"app": "billing"})
    start_operator()
    declare(cluster, namespace, as_user="rita", selector={"matchLabels": {"app": "api"}})
    suspected(cluster, namespace)
    # The approval and a suspect outside the scope, in one patch: the suspect is the record.
    forged = {
        "status": {
            "suspect": {"kind": "Deployment", "name": "billing", "revision": 2},
            "approval": {
                "approvedBy": "alice",
                "kind": "Deployment",
                "name": "billing",
                "revision": 2,
            },
        }
    }
    refused(
        patch_incident(cluster, namespace, forged, as_user="alice", status=True, check=False),
        "record rejected",
    )
    # The right revision of the wrong Deployment: refused, naming the real suspect.
    message = refused(
        approve(cluster, namespace, 2, as_user="alice", target="billing", check=False),
        "the suspect is Deployment/api revision 2",
    )
    assert "kubectl incident approve api-errors" in message
    assert revisions(cluster, namespace, "billing") == [1, 2]
    assert revisions(cluster, namespace) == [1, 2]


def test_one_incident_undoes_at_most_once(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="rita")
    suspected(cluster, namespace)
    approve(cluster, namespace, 2, as_user="alice")
    wait_incident(cluster, namespace, mitigation_is("Succeeded"), "the undo done")
    roll_out(cluster, namespace, "api", "registry.example/api:1.4.5", broken=True)
    # Reset the result, then approve again: both refused by the API server.
    reset = {"status": {"mitigation": {"result": "Pending"}}}
    refused(
        patch_incident(cluster, namespace, reset, as_user="alice", status=True, check=False),
        "record rejected",
    )
    clear = {"status": {"approval": None}}
    refused(
        patch_incident(cluster, namespace, clear, as_user="alice", status=True, check=False),
        "once the mitigation has started",
    )
    refused(approve(cluster, namespace, 4, as_user="alice", check=False), "approval rejected")
    assert undo_events(cluster, namespace) == 1


def test_an_incident_cannot_be_created_with_words_in_someone_elses_name(
    cluster: Cluster, namespace: str, shipped_roles: None
) -> None:
    for spec, words in (
        ({"resolved": True}, "resolve rejected"),
        ({"updates": [{"author": "alice", "message": "all good"}]}, "comms update rejected"),
        ({"checklist": {"bridgeOpened": "alice"}}, "checklist tick rejected"),
    ):
        body = incident("forged", **spec)
        result = cluster.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(body),
            as_user="mallory",
            check=False,
        )
        refused(result, words)
    body = incident("annotated")
    body["metadata"]["annotations"] = {"tourniquet.dev/severity-source": "forged"}
    refused(
        cluster.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(body),
            as_user="mallory",
            check=False,
        ),
        "annotation rejected",
    )


def test_the_operator_token_is_confined_to_what_an_undo_needs(
    cluster: Cluster, namespace: str, shipped_roles: None
) -> None:
    good_then_bad(cluster, namespace)
    as_operator = {"as_user": OPERATOR}
    scale = cluster.kubectl(
        "patch",
        "deployment",
        "api",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"replicas":0}}',
        check=False,
        **as_operator,
    )
    refused(scale, "operator confined", "spec.template")
    relabel = cluster.kubectl(
        "label", "deployment", "api", "-n", namespace, "owner=me", check=False, **as_operator
    )
    refused(relabel, "operator confined")
    assert cluster.get("deployment", "api", namespace)["spec"]["replicas"] == 2
    # A ConfigMap it does not own, where RBAC lets it write ConfigMaps.
    cluster.kubectl("create", "configmap", "aws-auth", "-n", namespace, "--from-literal=k=v")
    foreign = cluster.kubectl(
        "patch",
        "configmap",
        "aws-auth",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"data":{"k":"pwned"}}',
        check=False,
        **as_operator,
    )
    refused(foreign, "forbidden")
    made = cluster.kubectl(
        "create",
        "configmap",
        "evil",
        "-n",
        namespace,
        "--from-literal=k=v",
        check=False,
        **as_operator,
    )
    refused(made, "operator confined", "postmortem")
    assert cluster.get("configmap", "aws-auth", namespace)["data"] == {"k": "v"}


def test_random_status_and_annotation_patches_by_people_are_all_refused(
    cluster: Cluster, namespace: str, shipped_roles: None, start_operator: StartOperator
) -> None:
    """A fuzz: random record fields, annotations and malformed approvals, as the commander
    and as a responder; nothing is admitted but the commander's exact approval."""
    good_then_bad(cluster, namespace)
    start_operator()
    declare(cluster, namespace, as_user="rita")
    suspected(cluster, namespace)
    rng = random.Random(20261201)
    # No null and no {}: merged into a field that is absent, they change nothing.
    values: list[Any] = ["", "x", 0, 7, -1, True, [], {"result": "Succeeded"}]
    fields = record_fields()
    admitted = []
    for i in range(60):
        who = rng.choice(["alice", "mallory", "rita"])
        choice = rng.randrange(4)
        if choice == 0:
            patch: dict[str, Any] = {"status": {rng.choice(fields): rng.choice(values)}}
            sub = True
        elif choice == 1:
            key = rng.choice(["timeline-archive", "alert-status", "x", "last-handled"])
            patch = {"metadata": {"annotations": {f"tourniquet.dev/{key}": str(i)}}}
            sub = False
        elif choice == 2:
            approval = {
                "approvedBy": rng.choice(["alice", "mallory", "bob"]),
                "kind": rng.choice(["Deployment", "StatefulSet"]),
                "name": rng.choice(["api", "web"]),
                "revision": rng.choice([1, 2, 3]),
            }
            if approval == {"approvedBy": who, "kind": "Deployment", "name": "api", "revision": 2}:
                approval["revision"] = 3  # the genuine one is tried last, below
            patch, sub = {"status": {"approval": approval}}, True
        else:
            patch, sub = {"status": {"acknowledgement": {"by": rng.choice(["bob", "x"])}}}, True
        result = patch_incident(cluster, namespace, patch, as_user=who, status=sub, check=False)
        if result.returncode == 0:
            admitted.append((who, patch))
    assert admitted == []
    assert revisions(cluster, namespace) == [1, 2]
    approve(cluster, namespace, 2, as_user="alice")  # and the right one still goes through
    wait_incident(cluster, namespace, mitigation_is("Succeeded"), "the undo done")


def test_a_runbook_never_captures_another_namespaces_alert(
    cluster: Cluster,
    namespace: str,
    start_operator: StartOperator,
    token: str,  # noqa: F811  (the fixture)
) -> None:
    """Team B's Runbook, more specific than anything team A has, matching team A's alert:
    it must not take the incident (its namespace, its commander, its scope)."""
    other = f"{namespace}-b"[:63]
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.apply(
            {
                "apiVersion": "tourniquet.dev/v1alpha1",
                "kind": "Runbook",
                "metadata": {"name": "capture", "namespace": other},
                "spec": {
                    "title": "team b's runbook",
                    "severity": "SEV1",
                    "alerts": [{"alertname": "HandMade", "matchers": {"service": "api"}}],
                    "scope": {"selector": {"matchLabels": {"app": "nothing"}}},
                    "roles": {"commander": "mallory"},
                },
            }
        )
        receiver = start_receiver(
            start_operator, namespace, "-n", other, "--alerts-namespace", namespace,
            "--alerts-default-commander", "alice",
        )  # fmt: skip
        wait_for(
            lambda: receiver.operator.metric("tourniquet_runbooks", valid="true") == 1,
            what="the operator to know team b's runbook",
        )
        code, body = receiver.post(notification(service="api", namespace=namespace), token)
        assert code == 200 and body["created"] is True, body
        assert body["runbook"] is None
        assert body["incident"].startswith(f"{namespace}/")
        name = body["incident"].split("/")[1]
        spec = get_incident(cluster, namespace, name)["spec"]
        assert spec["roles"]["commander"] == "alice"
        assert "runbookRef" not in spec
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
