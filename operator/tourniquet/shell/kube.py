"""The few Kubernetes API calls the operator's logic makes, each one counted.

Reads for decisions come from kopf's in-memory indexes; these calls happen only
when the operator is about to act (fresh reads for the guards, the undo patch,
status writes) and are few per incident.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from tourniquet.api.names import GROUP, INCIDENTS, RUNBOOKS, VERSION
from tourniquet.observability.metrics import API_REQUESTS

__all__ = ["ApiException", "Kube"]


def load_config() -> None:
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]


class Kube:
    def __init__(self, api_client: kubernetes.client.ApiClient | None = None) -> None:
        self._client = api_client or kubernetes.client.ApiClient()
        self._apps = kubernetes.client.AppsV1Api(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._custom = kubernetes.client.CustomObjectsApi(self._client)
        self._admission = kubernetes.client.AdmissionregistrationV1Api(self._client)

    def _json(self, obj: object) -> Any:
        return self._client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]

    async def _call(
        self, verb: str, resource: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        API_REQUESTS.labels(verb=verb, resource=resource).inc()
        return await asyncio.to_thread(fn, *args, _request_timeout=30, **kwargs)

    async def _get(
        self, resource: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any | None:
        """A GET where "not found" is an answer (None), not an error."""
        try:
            return await self._call("get", resource, fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def _merge_patch(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any], *, status: bool
    ) -> dict[str, Any]:
        """A JSON merge patch of one of our custom resources, or of its status subresource;
        a metadata.resourceVersion in it is a precondition (409 if the object changed)."""
        custom = self._custom
        fn = (
            custom.patch_namespaced_custom_object_status
            if status
            else custom.patch_namespaced_custom_object
        )
        resource = f"{plural}/status" if status else plural
        return dict(
            await self._call(
                "patch",
                resource,
                fn,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                patch,
                _content_type="application/merge-patch+json",
            )
        )

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        # Raw JSON: the client's model classes cost milliseconds per object on the undo's path.
        response = await self._get(
            "deployments",
            self._apps.read_namespaced_deployment,
            name,
            namespace,
            _preload_content=False,
        )
        return None if response is None else dict(json.loads(response.data))

    async def list_deployments(self, namespace: str) -> list[dict[str, Any]]:
        """A fresh (quorum) read of a namespace's Deployments, as raw JSON: the suspect is
        confirmed against it before it is named."""
        response = await self._call(
            "list",
            "deployments",
            self._apps.list_namespaced_deployment,
            namespace,
            _preload_content=False,
        )
        return list(json.loads(response.data).get("items", []))

    async def list_replicasets(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """kubectl lists a Deployment's ReplicaSets by its selector, and so do we."""
        extra = {"label_selector": label_selector} if label_selector else {}
        response = await self._call(
            "list",
            "replicasets",
            self._apps.list_namespaced_replica_set,
            namespace,
            _preload_content=False,
            **extra,
        )
        return list(json.loads(response.data).get("items", []))

    async def json_patch_deployment(
        self, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """dry_run: the API server validates and admits the patch but stores nothing
        (drills rehearse the undo this way)."""
        extra = {"dry_run": "All"} if dry_run else {}
        response = await self._call(
            "patch",
            "deployments",
            self._apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _content_type="application/json-patch+json",
            # Raw JSON, as the reads: no decoding into the client's models on the undo.
            _preload_content=False,
            **extra,
        )
        return dict(json.loads(response.data))

    # -- StatefulSets and DaemonSets (their history is ControllerRevisions) -------------

    def _revisioned(self, kind: str) -> tuple[str, str]:
        """(plural, the AppsV1Api method suffix) of a StatefulSet or DaemonSet."""
        if kind == "StatefulSet":
            return "statefulsets", "stateful_set"
        if kind == "DaemonSet":
            return "daemonsets", "daemon_set"
        raise ValueError(f"not a StatefulSet or DaemonSet: {kind}")

    async def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A fresh read of a StatefulSet or DaemonSet, as raw JSON."""
        plural, suffix = self._revisioned(kind)
        fn = getattr(self._apps, f"read_namespaced_{suffix}")
        response = await self._get(plural, fn, name, namespace, _preload_content=False)
        return None if response is None else dict(json.loads(response.data))

    async def list_workloads(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        plural, suffix = self._revisioned(kind)
        fn = getattr(self._apps, f"list_namespaced_{suffix}")
        response = await self._call("list", plural, fn, namespace, _preload_content=False)
        return list(json.loads(response.data).get("items", []))

    async def list_controllerrevisions(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """kubectl lists a workload's ControllerRevisions by its selector, and so do we."""
        extra = {"label_selector": label_selector} if label_selector else {}
        response = await self._call(
            "list",
            "controllerrevisions",
            self._apps.list_namespaced_controller_revision,
            namespace,
            _preload_content=False,
            **extra,
        )
        return list(json.loads(response.data).get("items", []))

    async def strategic_patch_workload(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any], *, dry_run: bool = False
    ) -> None:
        """kubectl's undo of a StatefulSet or DaemonSet: a strategic merge patch (the
        ControllerRevision's data); its metadata.resourceVersion is a precondition."""
        plural, suffix = self._revisioned(kind)
        extra = {"dry_run": "All"} if dry_run else {}
        await self._call(
            "patch",
            plural,
            getattr(self._apps, f"patch_namespaced_{suffix}"),
            name,
            namespace,
            patch,
            _content_type="application/strategic-merge-patch+json",
            _preload_content=False,
            **extra,
        )

    async def get_object(
        self, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """Another controller's custom resource (a Flux Kustomization, an Argo CD
        Application); None when it, or its CRD, is not there."""
        obj = await self._get(
            plural,
            self._custom.get_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
        )
        return None if obj is None else dict(obj)

    async def merge_patch_object(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        extra = {"dry_run": "All"} if dry_run else {}
        return dict(
            await self._call(
                "patch",
                plural,
                self._custom.patch_namespaced_custom_object,
                group,
                version,
                namespace,
                plural,
                name,
                patch,
                _content_type="application/merge-patch+json",
                **extra,
            )
        )

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """A workload's pods, by its selector (a StatefulSet undo that may be stuck)."""
        response = await self._call(
            "list",
            "pods",
            self._core.list_namespaced_pod,
            namespace,
            label_selector=label_selector,
            _preload_content=False,
        )
        return list(json.loads(response.data).get("items", []))

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete that very pod (a uid precondition: never a namesake recreated since)."""
        body = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(uid=uid)
        )
        await self._call(
            "delete", "pods", self._core.delete_namespaced_pod, name, namespace, body=body
        )

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = await self._get("configmaps", self._core.read_namespaced_config_map, name, namespace)
        return None if obj is None else dict(self._json(obj))

    async def apply_configmap(self, namespace: str, body: dict[str, Any]) -> None:
        """Create the ConfigMap, or replace its data and labels if it exists."""
        name = body["metadata"]["name"]
        try:
            await self._call(
                "create", "configmaps", self._core.create_namespaced_config_map, namespace, body
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            await self._call(
                "patch",
                "configmaps",
                self._core.patch_namespaced_config_map,
                name,
                namespace,
                {
                    "metadata": {"labels": body["metadata"].get("labels", {})},
                    "data": body.get("data", {}),
                },
                _content_type="application/merge-patch+json",
            )

    async def post_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """An Event outside kopf's handlers (kopf.event only works inside them)."""
        meta = involved["metadata"]
        now = datetime.now(UTC).isoformat()
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "tourniquet"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._call(
            "create", "events", self._core.create_namespaced_event, meta["namespace"], body
        )

    async def _list(
        self, plural: str, namespaces: Sequence[str], label_selector: str = ""
    ) -> list[dict[str, Any]]:
        extra = {"label_selector": label_selector} if label_selector else {}
        if not namespaces:
            obj = await self._call(
                "list",
                plural,
                self._custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                plural,
                **extra,
            )
            return list(obj.get("items", []))
        items: list[dict[str, Any]] = []
        for namespace in namespaces:
            obj = await self._call(
                "list",
                plural,
                self._custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                plural,
                **extra,
            )
            items.extend(obj.get("items", []))
        return items

    async def list_runbooks(self, namespaces: Sequence[str]) -> list[dict[str, Any]]:
        return await self._list(RUNBOOKS, namespaces)

    async def list_incidents(
        self, namespaces: Sequence[str], label_selector: str
    ) -> list[dict[str, Any]]:
        return await self._list(INCIDENTS, namespaces, label_selector)

    async def create_incident(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(
            await self._call(
                "create",
                INCIDENTS,
                self._custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                INCIDENTS,
                body,
            )
        )

    async def patch_incident(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._merge_patch(INCIDENTS, namespace, name, patch, status=False)

    async def get_runbook(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = await self._get(
            RUNBOOKS,
            self._custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            RUNBOOKS,
            name,
        )
        return None if obj is None else dict(obj)

    async def get_peering(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """kopf's peering object: a KopfPeering in `namespace`, else the ClusterKopfPeering."""
        if namespace is None:
            obj = await self._get(
                "clusterkopfpeerings",
                self._custom.get_cluster_custom_object,
                "kopf.dev",
                "v1",
                "clusterkopfpeerings",
                name,
            )
        else:
            obj = await self._get(
                "kopfpeerings",
                self._custom.get_namespaced_custom_object,
                "kopf.dev",
                "v1",
                namespace,
                "kopfpeerings",
                name,
            )
        return None if obj is None else dict(obj)

    async def patch_runbook_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._merge_patch(RUNBOOKS, namespace, name, patch, status=True)

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        """The decoded value of ``key`` in the Secret; None when either is missing."""
        secret = await self._get("secrets", self._core.read_namespaced_secret, name, namespace)
        encoded = (secret.data or {}).get(key) if secret is not None else None
        if not encoded:
            return None
        return base64.b64decode(encoded).decode().strip() or None

    async def patch_incident_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._merge_patch(INCIDENTS, namespace, name, patch, status=True)

    async def approval_policy_enforced(self, policy: str) -> bool:
        """The policy exists and some binding denies what it rejects. A policy this identity
        may not read (its RBAC names the shipped policy only) cannot be verified either."""
        try:
            found = await self._get(
                "validatingadmissionpolicies",
                self._admission.read_validating_admission_policy,
                policy,
            )
        except ApiException as exc:
            if exc.status != 403:
                raise
            return False
        if found is None:
            return False
        bindings = await self._call(
            "list",
            "validatingadmissionpolicybindings",
            self._admission.list_validating_admission_policy_binding,
        )
        return any(
            b.spec is not None
            and b.spec.policy_name == policy
            and "Deny" in (b.spec.validation_actions or [])
            for b in bindings.items
        )
