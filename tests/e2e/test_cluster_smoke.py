"""The control plane is real enough for everything Tourniquet does.

Deployments roll out on kwok nodes, the controller-manager writes revisioned
ReplicaSets, kubectl's rollout commands behave as on any cluster, progress
deadlines expire, and admission policies see who is asking.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devkit.kubectl import Cluster, KubectlError
from devkit.manifests import deployment
from devkit.polling import wait_for
from devkit.workloads import replicasets_of, revision_of

IMAGE_V1 = "registry.k8s.io/pause:3.9"
IMAGE_V2 = "registry.k8s.io/pause:3.10"


def test_deployment_becomes_available_on_fake_nodes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", IMAGE_V1, replicas=3), namespace)
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")

    dep = cluster.get("deployment", "web", namespace)
    available = {c["type"]: c["status"] for c in dep["status"]["conditions"]}
    assert available["Available"] == "True"
    pods = cluster.get("pods", namespace=namespace)["items"]
    assert len(pods) == 3
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["metadata"]["name"]
        assert pod["spec"]["nodeName"], "pod was never scheduled"


def test_image_change_creates_revisioned_replicasets(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("api", IMAGE_V1), namespace)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")
    cluster.kubectl("set", "image", "deployment/api", f"api={IMAGE_V2}", "-n", namespace)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")

    rs = sorted(replicasets_of(cluster, namespace, "api"), key=revision_of)
    assert [revision_of(r) for r in rs] == [1, 2]
    assert [r["spec"]["template"]["spec"]["containers"][0]["image"] for r in rs] == [
        IMAGE_V1,
        IMAGE_V2,
    ]
    assert revision_of(cluster.get("deployment", "api", namespace)) == 2


def test_kubectl_rollout_undo_and_status(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("api", IMAGE_V1), namespace)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")
    cluster.kubectl("set", "image", "deployment/api", f"api={IMAGE_V2}", "-n", namespace)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")

    out = cluster.kubectl("rollout", "undo", "deployment/api", "-n", namespace).stdout
    assert "rolled back" in out
    status = cluster.kubectl(
        "rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s"
    ).stdout
    assert "successfully rolled out" in status

    dep = cluster.get("deployment", "api", namespace)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    # The revision-1 ReplicaSet is reused and becomes revision 3.
    assert revision_of(dep) == 3
    history = cluster.kubectl("rollout", "history", "deployment/api", "-n", namespace).stdout
    assert [ln.split()[0] for ln in history.splitlines()[2:] if ln.strip()] == ["2", "3"]


def test_unschedulable_revision_exceeds_progress_deadline(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("api", IMAGE_V1, progress_deadline=5), namespace)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")
    bad = deployment(
        "api", IMAGE_V2, progress_deadline=5, node_selector={"tourniquet.dev/no-such-node": "x"}
    )
    cluster.apply(bad, namespace)

    def deadline_exceeded() -> bool:
        dep = cluster.get("deployment", "api", namespace)
        return any(
            c["type"] == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
            for c in dep["status"].get("conditions", [])
        )

    wait_for(deadline_exceeded, timeout=90, what="ProgressDeadlineExceeded")
    result = cluster.kubectl(
        "rollout", "status", "deployment/api", "-n", namespace, "--timeout=30s", check=False
    )
    assert result.returncode != 0
    assert "exceeded its progress deadline" in result.stderr
    # The old revision keeps serving while the new one is stuck.
    dep = cluster.get("deployment", "api", namespace)
    assert dep["status"]["availableReplicas"] == 2


def test_service_account_tokens_authenticate(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "probe", "-n", namespace)
    token = cluster.kubectl("create", "token", "probe", "-n", namespace).stdout.strip()
    probe = cluster.with_token(token, tmp_path / "probe.kubeconfig")
    whoami = json.loads(probe.kubectl("auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:probe"
    # RBAC is on: a fresh service account may not list secrets.
    denied = probe.kubectl("get", "secrets", "-n", namespace, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()


# --- a ValidatingAdmissionPolicy on a custom resource's status subresource ---

SMOKE_GROUP = "smoke.tourniquet.dev"


@pytest.fixture
def widget_policy(cluster: Cluster) -> Iterator[str]:
    """A CRD with a status subresource, and a policy letting only status.owner write status."""
    suffix = uuid.uuid4().hex[:6]
    plural = f"widgets{suffix}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{SMOKE_GROUP}"},
        "spec": {
            "group": SMOKE_GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": f"widget{suffix}", "kind": f"Widget{suffix}"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object"},
                                "status": {
                                    "type": "object",
                                    "properties": {"owner": {"type": "string", "maxLength": 64}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": f"smoke-owner-{suffix}"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [SMOKE_GROUP],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": [f"{plural}/status"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "request.userInfo.username == object.status.owner",
                    "messageExpression": "'user ' + request.userInfo.username + "
                    "' may not write status owned by ' + object.status.owner",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": f"smoke-owner-{suffix}"},
        "spec": {"policyName": f"smoke-owner-{suffix}", "validationActions": ["Deny"]},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"smoke-widget-writer-{suffix}"},
        "rules": [
            {
                "apiGroups": [SMOKE_GROUP],
                "resources": [plural, f"{plural}/status"],
                "verbs": ["get", "patch", "update"],
            }
        ],
    }
    for obj in (crd, role):
        cluster.apply(obj)
    cluster.kubectl(
        "wait", "--for=condition=Established", f"crd/{plural}.{SMOKE_GROUP}", "--timeout=60s"
    )
    cluster.apply(policy)
    cluster.apply(binding)
    yield plural
    for kind, name in (
        ("validatingadmissionpolicybinding", binding["metadata"]["name"]),
        ("validatingadmissionpolicy", policy["metadata"]["name"]),
        ("clusterrole", role["metadata"]["name"]),
        ("crd", crd["metadata"]["name"]),
    ):
        cluster.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


def test_admission_policy_sees_impersonated_user(
    cluster: Cluster, namespace: str, widget_policy: str
) -> None:
    plural = widget_policy
    suffix = plural.removeprefix("widgets")
    for user in ("alice", "mallory"):
        cluster.kubectl(
            "create",
            "rolebinding",
            f"{user}-writes-widgets",
            "-n",
            namespace,
            f"--clusterrole=smoke-widget-writer-{suffix}",
            f"--user={user}",
        )
    cluster.apply(
        {
            "apiVersion": f"{SMOKE_GROUP}/v1",
            "kind": f"Widget{suffix}",
            "metadata": {"name": "w"},
            "spec": {},
        },
        namespace,
    )

    def patch_as(user: str, owner: str) -> str:
        body = json.dumps({"status": {"owner": owner}})
        result = cluster.kubectl(
            "patch",
            f"{plural}.{SMOKE_GROUP}",
            "w",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            body,
            as_user=user,
            check=False,
        )
        return "ok" if result.returncode == 0 else result.stderr

    # Policies take effect asynchronously: wait until mallory is denied.
    def mallory_denied() -> str | None:
        result = patch_as("mallory", "alice")
        return None if result == "ok" else result

    denial = wait_for(mallory_denied, timeout=30, what="the policy to deny mallory")
    assert "user mallory may not write status owned by alice" in denial
    assert patch_as("alice", "alice") == "ok"
    widget = cluster.get(f"{plural}.{SMOKE_GROUP}", "w", namespace)
    assert widget["status"]["owner"] == "alice"
    # Impersonation changes who is asking, not what the policy sees in the object.
    with pytest.raises(KubectlError, match="user alice may not write status owned by mallory"):
        cluster.kubectl(
            "patch",
            f"{plural}.{SMOKE_GROUP}",
            "w",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"owner": "mallory"}}),
            as_user="alice",
        )
