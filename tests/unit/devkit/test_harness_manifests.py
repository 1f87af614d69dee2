"""devkit.manifests and devkit.workloads: what the harness creates and reads back."""

from __future__ import annotations

import json

from devkit import manifests
from devkit.incidents import approve_args, patch_args
from devkit.manifests import approval_patch, deployment, incident
from devkit.workloads import revision_of, rollout_complete, template_image


def test_the_approval_names_its_target() -> None:
    patch = approval_patch("alice", "Deployment", "api", 7)
    # ../shared/DESIGN.md's shape, keys in its order.
    assert json.dumps(patch, separators=(",", ":")) == (
        '{"status":{"approval":{"approvedBy":"alice","kind":"Deployment","name":"api",'
        '"revision":7}}}'
    )
    # Every approval the harness sends goes through it.
    args = approve_args("api-errors", "ns", 7, "alice", target="api")
    assert json.loads(args[args.index("-p") + 1]) == patch


def test_the_approval_goes_to_the_status_subresource_as_a_merge_patch() -> None:
    args = approve_args("api-errors", "production", 7, "alice")
    assert args[:7] == [
        "patch",
        "incident",
        "api-errors",
        "-n",
        "production",
        "--subresource=status",
        "--type=merge",
    ]
    assert patch_args("x", "ns", manifests.RESOLVE_PATCH)[-1] == '{"spec":{"resolved":true}}'


def test_a_deployment_lands_on_kwok_nodes_and_a_broken_one_nowhere() -> None:
    healthy = deployment("api", "img:1")
    broken = deployment("api", "img:2", node_selector=manifests.NO_NODE, progress_deadline=10)
    pod = healthy["spec"]["template"]["spec"]
    assert pod["tolerations"][0]["key"] == "kwok.x-k8s.io/node"
    assert "nodeSelector" not in pod and "namespace" not in healthy["metadata"]
    assert broken["spec"]["template"]["spec"]["nodeSelector"] == manifests.NO_NODE
    assert broken["spec"]["progressDeadlineSeconds"] == 10
    assert healthy["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    assert template_image(broken) == "img:2"


def test_an_incident_names_its_people_scope_and_any_other_field() -> None:
    body = incident("x", namespace="ns", roles={"comms": "bob"}, selector={}, drill=True)
    assert body["metadata"] == {"name": "x", "namespace": "ns"}
    assert body["spec"]["roles"] == {"commander": "alice", "comms": "bob"}
    assert body["spec"]["scope"] == {"selector": {}}
    assert body["spec"]["drill"] is True
    assert "roles" not in incident("y", commander=None)["spec"]


def test_revision_reads_the_deployment_annotation() -> None:
    annotated = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}}}
    assert revision_of(annotated) == 3
    assert revision_of({"metadata": {}}) == 0
    assert revision_of({}) == 0


def test_rollout_complete_as_kubectl_rollout_status_decides() -> None:
    done = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "updatedReplicas": 2,
            "replicas": 2,
            "availableReplicas": 2,
        },
    }
    assert rollout_complete(done)
    assert not rollout_complete({**done, "status": {**done["status"], "replicas": 3}})
    assert not rollout_complete({**done, "metadata": {"generation": 3}})
