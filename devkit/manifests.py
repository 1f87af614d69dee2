"""The objects the harness creates, as manifests: Deployments whose pods land on kwok's
fake nodes (or never land: "broken"), Incidents, the people's RBAC, and the patches a
responder sends (the approval above all)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tourniquet.core import lifecycle

GROUP = "tourniquet.dev"
INCIDENT_API = f"{GROUP}/v1alpha1"
RBAC_API = "rbac.authorization.k8s.io"
# A nodeSelector no node matches: pods of such a revision never schedule (never Ready).
NO_NODE = {"tourniquet.dev/no-such-node": "true"}

# The approval patch is the operator's own (core.lifecycle.approval_patch): the one the
# Incident offers, the plugin writes and the README documents.
approval_patch = lifecycle.approval_patch


RESOLVE_PATCH = {"spec": {"resolved": True}}
NO_FINALIZERS_PATCH = {"metadata": {"finalizers": None}}


def pod_spec(
    name: str, image: str, node_selector: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One container that lands on the fake kwok nodes (a node selector no node matches
    keeps it Pending: a broken revision)."""
    spec: dict[str, Any] = {
        "containers": [{"name": name, "image": image}],
        # kwok's fake nodes may carry this taint; tolerate it so pods land there.
        "tolerations": [
            {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
        ],
        "terminationGracePeriodSeconds": 0,
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return spec


def deployment(
    name: str,
    image: str,
    *,
    namespace: str | None = None,
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    progress_deadline: int | None = None,
) -> dict[str, Any]:
    """A Deployment whose pods land on the fake kwok nodes (or any real node on kind)."""
    labels = dict(labels or {"app": name})
    spec: dict[str, Any] = {"replicas": replicas}
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    spec["selector"] = {"matchLabels": {"app": labels.get("app", name)}}
    spec["template"] = {
        "metadata": {"labels": labels},
        "spec": pod_spec(name, image, node_selector),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels=labels),
        "spec": spec,
    }


def incident(
    name: str,
    *,
    namespace: str | None = None,
    title: str = "Elevated 5xx on api",
    severity: str = "SEV1",
    commander: str | None = "alice",
    roles: Mapping[str, str] | None = None,
    selector: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An Incident: `commander` (and other `roles`), the suspect search's `selector`
    (None: every workload in the namespace), any other spec fields as keywords."""
    body: dict[str, Any] = {"title": title, "severity": severity}
    people = {**({"commander": commander} if commander else {}), **(roles or {})}
    if people:
        body["roles"] = people
    if selector is not None:
        body["scope"] = {"selector": dict(selector)}
    return {
        "apiVersion": INCIDENT_API,
        "kind": "Incident",
        "metadata": _metadata(name, namespace),
        "spec": {**body, **spec},
    }


def rbac_role(
    name: str, rules: Sequence[Mapping[str, Any]], namespace: str | None = None
) -> dict[str, Any]:
    """A Role in `namespace`, or a ClusterRole without one."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": _metadata(name, namespace),
        "rules": [dict(rule) for rule in rules],
    }


def rbac_binding(
    name: str,
    role: str,
    subjects: Sequence[Mapping[str, str]],
    namespace: str | None = None,
    role_kind: str = "ClusterRole",
) -> dict[str, Any]:
    """A RoleBinding in `namespace` (of a ClusterRole or, with role_kind, a Role), or a
    ClusterRoleBinding without one."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": _metadata(name, namespace),
        "roleRef": {"apiGroup": RBAC_API, "kind": role_kind, "name": role},
        "subjects": [dict(subject) for subject in subjects],
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC_API, "kind": "User", "name": name}


def service_account(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def people_role(
    name: str, verbs: Sequence[str] = ("get", "list", "watch", "patch"), deployments: bool = True
) -> dict[str, Any]:
    """A ClusterRole for responders: `verbs` on Incidents and their status (whether an
    approval is accepted is the admission policy's call), reading Deployments."""
    rules: list[dict[str, Any]] = [
        {"apiGroups": [GROUP], "resources": ["incidents", "incidents/status"], "verbs": list(verbs)}
    ]
    if deployments:
        rules.append(
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}
        )
    return rbac_role(name, rules)


def role_binding(
    name: str, namespace: str, cluster_role: str, users: Sequence[str]
) -> dict[str, Any]:
    """Binds `cluster_role` to `users` in one namespace."""
    return rbac_binding(name, cluster_role, [user(u) for u in users], namespace)


def operator_extras(namespace: str, service_account_name: str) -> list[dict[str, Any]]:
    """What the chart adds to the operator's RBAC for how the tests run it: the alert
    receiver's create (with alerts.enabled). The rest is config/rbac, exactly as `make
    install` applies it; the namespaced mode (-n) needs no namespace reads."""
    name = "tourniquet-e2e-operator-extras"
    rules = [{"apiGroups": [GROUP], "resources": ["incidents"], "verbs": ["create"]}]
    subject = service_account(namespace, service_account_name)
    return [rbac_role(name, rules), rbac_binding(name, name, [subject])]


def operator_config_read(
    namespace: str,
    resource: str,
    name: str,
    service_account_namespace: str,
    service_account_name: str,
) -> list[dict[str, Any]]:
    """The chart's `<release>-config` Role: the operator may get its own configuration
    (the severity policy ConfigMap, the alert token Secret) by name, and nothing else."""
    role = f"tourniquet-config-{resource}-{name}"
    rules = [
        {"apiGroups": [""], "resources": [resource], "resourceNames": [name], "verbs": ["get"]}
    ]
    subject = service_account(service_account_namespace, service_account_name)
    return [
        rbac_role(role, rules, namespace),
        rbac_binding(role, role, [subject], namespace, role_kind="Role"),
    ]


def to_yaml(*docs: Mapping[str, Any]) -> str:
    """Manifests as one multi-document YAML file, keys in the order written."""
    return "---\n".join(yaml.safe_dump(dict(doc), sort_keys=False) for doc in docs)


def _metadata(
    name: str, namespace: str | None, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = dict(labels)
    return meta
