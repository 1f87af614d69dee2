"""Deployments and ReplicaSets shaped as the API server and kube-controller-manager write them.

`history()` is the usual entry point: a Deployment that has rolled out one revision per
image set, with one ReplicaSet per revision, owned and annotated like the real thing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = "production"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REVISION = "deployment.kubernetes.io/revision"

# rand.SafeEncodeString's alphabet: pod-template-hash values never contain vowels.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_template(
    images: Mapping[str, str], labels: Mapping[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    """A defaulted pod template, as the API server returns it inside a Deployment."""
    return {
        "metadata": {"creationTimestamp": None, "labels": dict(labels or {"app": "api"})},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
                for name, image in images.items()
            ],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
            **spec,
        },
    }


def template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[byte % len(_SAFE)] for byte in digest[:10])


def deployment(
    name: str = "api",
    *,
    images: Mapping[str, str] | None = None,
    template: Mapping[str, Any] | None = None,
    revision: int | None = 1,
    labels: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
    uid: str | None = None,
    replicas: int | None = 3,
    paused: bool = False,
    generation: int = 1,
    observed_generation: int | None = None,
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    resource_version: str = "4242",
    created_at: datetime = T0,
) -> dict[str, Any]:
    """A Deployment the controller has observed and (by default) fully rolled out."""
    labels = dict(labels or {"app": name})
    if template is None:
        template = pod_template(images or {name: f"registry/{name}:1.0.0"}, labels)
    all_annotations = {
        LAST_APPLIED: json.dumps({"kind": "Deployment", "metadata": {"name": name}}),
        **(annotations or {}),
    }
    if revision is not None:
        all_annotations[REVISION] = str(revision)
    spec: dict[str, Any] = {
        "progressDeadlineSeconds": 600,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": dict(template["metadata"]["labels"])},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
        "template": copy.deepcopy(dict(template)),
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if paused:
        spec["paused"] = True
    ready = replicas or 0
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-deploy-{namespace}-{name}",
            "resourceVersion": resource_version,
            "generation": generation,
            "creationTimestamp": stamp(created_at),
            "labels": labels,
            "annotations": all_annotations,
        },
        "spec": spec,
        "status": dict(status)
        if status is not None
        else {
            "observedGeneration": generation
            if observed_generation is None
            else observed_generation,
            "replicas": ready,
            "updatedReplicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                },
            ],
        },
    }


def replicaset(
    owner: Mapping[str, Any],
    *,
    revision: int | None,
    template: Mapping[str, Any] | None = None,
    created_at: datetime = T0,
    replicas: int = 0,
    annotations: Mapping[str, str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The ReplicaSet the deployment controller creates for `owner`'s template at `revision`."""
    source = copy.deepcopy(dict(template if template is not None else owner["spec"]["template"]))
    pod_hash = template_hash(source)
    source["metadata"]["labels"] = {**source["metadata"]["labels"], "pod-template-hash": pod_hash}
    meta = owner["metadata"]
    # The controller copies the Deployment's annotations, minus last-applied-configuration.
    copied = {k: v for k, v in meta.get("annotations", {}).items() if k != LAST_APPLIED}
    copied.update(
        {
            "deployment.kubernetes.io/desired-replicas": str(owner["spec"].get("replicas", 1)),
            "deployment.kubernetes.io/max-replicas": str(owner["spec"].get("replicas", 1) + 1),
        }
    )
    copied.pop(REVISION, None)
    if revision is not None:
        copied[REVISION] = str(revision)
    copied.update(annotations or {})
    rs_name = name or f"{meta['name']}-{pod_hash}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": meta["namespace"],
            "uid": f"uid-rs-{rs_name}",
            "resourceVersion": "1000",
            "generation": 1,
            "creationTimestamp": stamp(created_at),
            "labels": dict(source["metadata"]["labels"]),
            "annotations": copied,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(source["metadata"]["labels"])},
            "template": source,
        },
        "status": {"replicas": replicas, "observedGeneration": 1},
    }


def history(
    name: str = "api",
    images: Sequence[Mapping[str, str]] = (
        {"api": "registry/api:1.4.1"},
        {"api": "registry/api:1.4.2"},
        {"api": "registry/api:1.4.3"},
    ),
    *,
    start: datetime = T0,
    step: timedelta = timedelta(hours=1),
    **deployment_args: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Deployment at revision len(images), with one ReplicaSet per revision (oldest first)."""
    labels = deployment_args.pop("labels", None) or {"app": name}
    current = deployment(
        name,
        images=images[-1],
        revision=len(images),
        labels=labels,
        **deployment_args,
    )
    replicasets = []
    for index, revision_images in enumerate(images):
        revision = index + 1
        live = revision == len(images)
        replicasets.append(
            replicaset(
                current,
                revision=revision,
                template=pod_template(revision_images, labels),
                created_at=start + step * index,
                replicas=current["spec"].get("replicas", 1) if live else 0,
            )
        )
    return current, replicasets


def apply_merge_patch(target: object, patch: object) -> Any:
    """RFC 7386 MergePatch, as the API server applies `--type=merge`
    (`application/merge-patch+json`): shared by the core tests and the shell's fake."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
