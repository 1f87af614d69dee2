"""The few Kubernetes API calls the operator's logic makes, each one counted.

Reads for decisions come from kopf's in-memory indexes; these calls happen only
when the operator is about to act (fresh reads for the guards, the undo patch,
status writes) and are few per incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from tourniquet.metrics import API_REQUESTS
from tourniquet.models import GROUP, VERSION
from tourniquet.settings import INCIDENTS

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
        self._custom = kubernetes.client.CustomObjectsApi(self._client)
        self._admission = kubernetes.client.AdmissionregistrationV1Api(self._client)

    def _json(self, obj: object) -> Any:
        return self._client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]

    async def _call(
        self, verb: str, resource: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        API_REQUESTS.labels(verb=verb, resource=resource).inc()
        return await asyncio.to_thread(fn, *args, _request_timeout=30, **kwargs)

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = await self._call(
                "get", "deployments", self._apps.read_namespaced_deployment, name, namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(self._json(obj))

    async def list_replicasets(self, namespace: str) -> list[dict[str, Any]]:
        obj = await self._call(
            "list", "replicasets", self._apps.list_namespaced_replica_set, namespace
        )
        return list(self._json(obj).get("items", []))

    async def json_patch_deployment(
        self, namespace: str, name: str, patch: list[dict[str, Any]]
    ) -> dict[str, Any]:
        obj = await self._call(
            "patch",
            "deployments",
            self._apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _content_type="application/json-patch+json",
        )
        return dict(self._json(obj))

    async def patch_incident_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A merge patch of the status subresource; a metadata.resourceVersion in it is a
        precondition (409 Conflict if the Incident changed since it was read)."""
        return dict(
            await self._call(
                "patch",
                "incidents/status",
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                INCIDENTS,
                name,
                patch,
                _content_type="application/merge-patch+json",
            )
        )

    async def approval_policy_enforced(self, policy: str) -> bool:
        """The policy exists and some binding denies what it rejects."""
        try:
            await self._call(
                "get",
                "validatingadmissionpolicies",
                self._admission.read_validating_admission_policy,
                policy,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
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
