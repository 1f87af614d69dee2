"""StatefulSets and DaemonSets for the harness: their manifests (pods on kwok's fake nodes,
or never scheduled: "broken"), rolling them out, and reading their ControllerRevisions the
way kubectl's rollout commands do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devkit.kubectl import Cluster
from devkit.manifests import NO_NODE, pod_spec
from devkit.polling import wait_for

KINDS = ("StatefulSet", "DaemonSet")


def _pod_template(name: str, image: str, labels: Mapping[str, str], broken: bool) -> dict[str, Any]:
    spec = pod_spec(name, image, NO_NODE if broken else None)
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def statefulset(
    name: str,
    image: str,
    *,
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    broken: bool = False,
    partition: int | None = None,
    on_delete: bool = False,
    parallel: bool = True,
) -> dict[str, Any]:
    """Parallel pod management by default: with OrderedReady a broken pod blocks every
    later change (kubernetes #67250), which one test shows on purpose."""
    labels = dict(labels or {"app": name})
    strategy: dict[str, Any] = {"type": "OnDelete"} if on_delete else {"type": "RollingUpdate"}
    if partition is not None and not on_delete:
        strategy["rollingUpdate"] = {"partition": partition}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
            "updateStrategy": strategy,
            "selector": {"matchLabels": {"app": labels.get("app", name)}},
            "template": _pod_template(name, image, labels, broken),
        },
    }


def daemonset(
    name: str,
    image: str,
    *,
    labels: Mapping[str, str] | None = None,
    on_delete: bool = False,
) -> dict[str, Any]:
    """A DaemonSet on kwok's nodes. It has no "broken" revision: the DaemonSet controller
    places pods only on nodes a template selects, so an unschedulable template has no pods
    at all; a bad revision is simply a new image (kwok makes every pod Ready)."""
    labels = dict(labels or {"app": name})
    strategy: dict[str, Any] = (
        {"type": "OnDelete"}
        if on_delete
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "updateStrategy": strategy,
            "selector": {"matchLabels": {"app": labels.get("app", name)}},
            "template": _pod_template(name, image, labels, False),
        },
    }


def controller_revisions(
    cluster: Cluster, namespace: str, kind: str, name: str
) -> list[dict[str, Any]]:
    """The workload's ControllerRevisions (controller owner reference), by revision."""
    workload = cluster.get(kind.lower(), name, namespace)
    items = cluster.get("controllerrevisions", namespace=namespace)["items"]
    owned = [
        r
        for r in items
        if any(
            ref.get("controller") and ref.get("uid") == workload["metadata"]["uid"]
            for ref in r["metadata"].get("ownerReferences", [])
        )
    ]
    return sorted(owned, key=lambda r: int(r.get("revision", 0)))


def live_revision(cluster: Cluster, namespace: str, kind: str, name: str) -> int:
    """The revision whose template the workload runs (kubectl's notion of current)."""
    workload = cluster.get(kind.lower(), name, namespace)
    template = workload["spec"]["template"]
    matching = [
        int(r["revision"])
        for r in controller_revisions(cluster, namespace, kind, name)
        if {k: v for k, v in r["data"]["spec"]["template"].items() if k != "$patch"} == template
    ]
    return max(matching, default=0)


def image(cluster: Cluster, namespace: str, kind: str, name: str) -> str:
    workload = cluster.get(kind.lower(), name, namespace)
    return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])


def roll_out(
    cluster: Cluster,
    namespace: str,
    manifest: Mapping[str, Any],
    *,
    wait: bool = True,
) -> int:
    """Apply a StatefulSet or DaemonSet revision and wait until its ControllerRevision
    exists (and, with `wait`, until `kubectl rollout status` says done). Its revision."""
    kind, name = str(manifest["kind"]), str(manifest["metadata"]["name"])
    cluster.apply(dict(manifest), namespace)
    wanted = {k: v for k, v in manifest["spec"]["template"].items()}

    def recorded() -> int | None:
        workload = cluster.get(kind.lower(), name, namespace)
        if workload["spec"]["template"]["metadata"].get("labels") != wanted["metadata"]["labels"]:
            return None
        live = live_revision(cluster, namespace, kind, name)
        return live or None

    revision = wait_for(recorded, what=f"{kind} {name}'s ControllerRevision")
    if wait:
        cluster.kubectl(
            "rollout", "status", f"{kind.lower()}/{name}", "-n", namespace, "--timeout=90s"
        )
    return revision
