"""Reading Deployments and their ReplicaSets the way kubectl's rollout commands do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devkit.kubectl import Cluster

REVISION = "deployment.kubernetes.io/revision"


def revision_of(obj: Mapping[str, Any]) -> int:
    """The deployment.kubernetes.io/revision annotation (0 when there is none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def template_image(obj: Mapping[str, Any]) -> str:
    """The first container's image in a Deployment's (or ReplicaSet's) pod template."""
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    return str(containers[0].get("image", "")) if containers else ""


def rollout_complete(obj: Mapping[str, Any]) -> bool:
    """`kubectl rollout status` would say "successfully rolled out" (RollingUpdate)."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    wanted = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= meta.get("generation", 0)
        and status.get("updatedReplicas", 0) >= wanted
        and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
        and status.get("availableReplicas", 0) >= status.get("updatedReplicas", 0)
    )


def replicasets_of(cluster: Cluster, namespace: str, deployment_name: str) -> list[dict[str, Any]]:
    """The ReplicaSets the Deployment controls (by owner reference, as kubectl finds them)."""
    dep = cluster.get("deployment", deployment_name, namespace)
    items = cluster.get("replicasets", namespace=namespace)["items"]
    return [
        rs
        for rs in items
        if any(
            ref.get("controller") and ref.get("uid") == dep["metadata"]["uid"]
            for ref in rs["metadata"].get("ownerReferences", [])
        )
    ]


def revisions(cluster: Cluster, namespace: str, name: str = "api") -> list[int]:
    return sorted(revision_of(rs) for rs in replicasets_of(cluster, namespace, name))


def image_of(cluster: Cluster, namespace: str, name: str = "api") -> str:
    return template_image(cluster.get("deployment", name, namespace))


def snapshot(cluster: Cluster, namespace: str, name: str = "api") -> tuple[int, Any, int]:
    """What an undo would change: generation, pod template, revision."""
    dep = cluster.get("deployment", name, namespace)
    return dep["metadata"]["generation"], dep["spec"]["template"], revision_of(dep)
