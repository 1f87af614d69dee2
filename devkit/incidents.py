"""What an on-call engineer types, as functions: roll out, declare, approve, resolve; and
reading back what Tourniquet recorded (status, conditions, Events)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from devkit.kubectl import Cluster
from devkit.manifests import (
    NO_FINALIZERS_PATCH,
    NO_NODE,
    RESOLVE_PATCH,
    approval_patch,
    deployment,
    incident,
)
from devkit.polling import wait_for
from devkit.workloads import replicasets_of, revision_of

GOOD = "registry.example/api:1.4.2"
BAD = "registry.example/api:1.4.3"
NEWER = "registry.example/api:1.4.4"


# -- rollouts --------------------------------------------------------------------------


def roll_out(
    cluster: Cluster,
    namespace: str,
    name: str,
    image: str,
    *,
    labels: Mapping[str, str] | None = None,
    wait: bool = True,
    broken: bool = False,
) -> None:
    """Apply a Deployment revision; a broken one can never schedule (never Available)."""
    manifest = deployment(
        name, image, labels=labels, progress_deadline=10, node_selector=NO_NODE if broken else None
    )
    cluster.apply(manifest, namespace)
    if wait and not broken:
        cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=90s")
    if broken:
        # Wait until the controller has created the new revision's ReplicaSet.
        wanted = max(
            (revision_of(rs) for rs in replicasets_of(cluster, namespace, name)), default=0
        )
        wait_for(
            lambda: revision_of(cluster.get("deployment", name, namespace)) >= wanted,
            what=f"{name} revision {wanted}",
        )


def good_then_bad(
    cluster: Cluster, namespace: str, name: str = "api", labels: Mapping[str, str] | None = None
) -> None:
    roll_out(cluster, namespace, name, GOOD, labels=labels)
    roll_out(cluster, namespace, name, BAD, labels=labels, broken=True)
    wait_for(
        lambda: revision_of(cluster.get("deployment", name, namespace)) == 2,
        what=f"{name} at revision 2",
    )


# -- the incident ----------------------------------------------------------------------


def declare(
    cluster: Cluster,
    namespace: str,
    name: str = "api-errors",
    *,
    as_user: str | None = None,
    **fields: Any,
) -> None:
    """`kubectl apply` an Incident (fields as devkit.manifests.incident takes them)."""
    cluster.apply(incident(name, **fields), namespace, as_user=as_user)


def get_incident(cluster: Cluster, namespace: str, name: str = "api-errors") -> dict[str, Any]:
    return dict(cluster.get("incident", name, namespace))


def status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def wait_incident(
    cluster: Cluster,
    namespace: str,
    ready: Callable[[dict[str, Any]], bool],
    what: str,
    name: str = "api-errors",
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the Incident until `ready(incident)`; the Incident as it was then. On a
    timeout, what its status last said: the phase, the mitigation, the conditions."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        obj = get_incident(cluster, namespace, name)
        last["status"] = status(obj)
        return obj if ready(obj) else None

    def describe() -> str:
        seen = last.get("status") or {}
        conditions = {
            c.get("type"): f"{c.get('status')}/{c.get('reason')}"
            for c in seen.get("conditions") or []
        }
        return f"phase {seen.get('phase')}, mitigation {seen.get('mitigation')}, {conditions}"

    return wait_for(probe, timeout=timeout, what=what, describe=describe)


def mitigation_is(result: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def ready(obj: dict[str, Any]) -> bool:
        m = status(obj).get("mitigation") or {}
        return bool(m.get("result") == result and (reason is None or m.get("reason") == reason))

    return ready


def condition_is(type_: str, reason: str) -> Callable[[dict[str, Any]], bool]:
    def ready(obj: dict[str, Any]) -> bool:
        return condition(obj, type_).get("reason") == reason

    return ready


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for c in status(obj).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def patch_args(
    name: str, namespace: str, patch: Any, *, kind: str = "merge", status: bool = False
) -> list[str]:
    """`kubectl patch incident` arguments as a responder types them (status=True: the
    status subresource, where approvals and acknowledgements go)."""
    body = patch if isinstance(patch, str) else json.dumps(patch, separators=(",", ":"))
    sub = ["--subresource=status"] if status else []
    return ["patch", "incident", name, "-n", namespace, *sub, f"--type={kind}", "-p", body]


def patch_incident(
    cluster: Cluster,
    namespace: str,
    patch: Any,
    *,
    as_user: str | None = None,
    kind: str = "merge",
    status: bool = False,
    name: str = "api-errors",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = patch_args(name, namespace, patch, kind=kind, status=status)
    return cluster.kubectl(*args, as_user=as_user, check=check)


def approve_args(
    name: str,
    namespace: str,
    revision: int,
    approved_by: str,
    *,
    target: str = "api",
    target_kind: str = "Deployment",
) -> list[str]:
    """The approval the Incident offers, as kubectl arguments (without --as)."""
    patch = approval_patch(approved_by, target_kind, target, revision)
    return patch_args(name, namespace, patch, status=True)


def approve(
    cluster: Cluster,
    namespace: str,
    revision: int,
    *,
    as_user: str = "alice",
    approved_by: str | None = None,
    name: str = "api-errors",
    target: str = "api",
    target_kind: str = "Deployment",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`as_user` approves undoing `target_kind`/`target` at `revision` (in the name of
    `approved_by`, by default their own)."""
    args = approve_args(
        name, namespace, revision, approved_by or as_user, target=target, target_kind=target_kind
    )
    return cluster.kubectl(*args, as_user=as_user, check=check)


def resolve(
    cluster: Cluster, namespace: str, name: str = "api-errors", as_user: str = "alice"
) -> subprocess.CompletedProcess[str]:
    """The Incident Commander's all-clear."""
    return patch_incident(cluster, namespace, RESOLVE_PATCH, as_user=as_user, name=name)


# -- Events ----------------------------------------------------------------------------


def events(
    cluster: Cluster, namespace: str, *selectors: str, name: str | None = None
) -> list[dict[str, Any]]:
    """The namespace's Events matching the field selectors (and involving `name`)."""
    fields = [*selectors, *([f"involvedObject.name={name}"] if name else [])]
    args = ["--field-selector", ",".join(fields)] if fields else []
    out = cluster.kubectl("get", "events", "-n", namespace, *args, "-o", "json").stdout
    return list(json.loads(out)["items"])


def event_messages(
    cluster: Cluster, namespace: str, reason: str, *, name: str | None = None, warning: bool = False
) -> list[str]:
    """Messages of the Events with `reason` (on object `name`, of type Warning)."""
    selectors = [f"reason={reason}", *(["type=Warning"] if warning else [])]
    found = events(cluster, namespace, *selectors, name=name)
    return [str(e.get("message", "")) for e in found]


def wait_event(
    cluster: Cluster, namespace: str, reason: str, *, name: str | None = None, warning: bool = False
) -> list[str]:
    """Events are posted after the status write, asynchronously: poll for them."""
    return wait_for(
        lambda: event_messages(cluster, namespace, reason, name=name, warning=warning),
        timeout=30,
        what=f"{'a Warning' if warning else 'an'} Event {reason}" + (f" on {name}" if name else ""),
    )


def undo_events(cluster: Cluster, namespace: str, name: str = "api") -> int:
    """How many RolloutUndone Events the Deployment got (counting repeats)."""
    found = events(cluster, namespace, "reason=RolloutUndone", "involvedObject.kind=Deployment")
    return sum(int(e.get("count") or 1) for e in found if e["involvedObject"].get("name") == name)


# -- cleaning up -----------------------------------------------------------------------


def delete_incidents(
    cluster: Cluster, namespace: str, timeout: str = "30s"
) -> subprocess.CompletedProcess[str]:
    """Delete every Incident while an operator still runs: it owns their finalizer."""
    return cluster.kubectl(
        "delete", "incidents", "--all", "-n", namespace, "--wait=true", f"--timeout={timeout}",
        check=False,
    )  # fmt: skip


def strip_finalizers(cluster: Cluster, namespace: str) -> list[str]:
    """Remove the finalizers of the Incidents here, when no operator runs any more to
    release them (else the namespace never goes away); the Incidents it touched."""
    found = cluster.kubectl("get", "incidents", "-n", namespace, "-o", "json", check=False)
    items = json.loads(found.stdout)["items"] if found.returncode == 0 else []
    stuck = [i["metadata"]["name"] for i in items if i["metadata"].get("finalizers")]
    for name in stuck:
        patch_incident(cluster, namespace, NO_FINALIZERS_PATCH, name=name, check=False)
    return stuck


def namespace_gone(cluster: Cluster, namespace: str) -> bool:
    """Whether the namespace is gone; while it is not, releases the Incidents in it that
    no operator will finalize any more."""
    if not cluster.exists("namespace", namespace):
        return True
    strip_finalizers(cluster, namespace)
    return False


def wait_namespace_gone(cluster: Cluster, namespace: str, timeout: float = 120) -> None:
    wait_for(
        lambda: namespace_gone(cluster, namespace),
        timeout=timeout,
        interval=0.5,
        what=f"namespace {namespace} to be gone",
        describe=lambda: str(status(cluster.find("namespace", namespace) or {}).get("conditions")),
    )


def delete_namespace(cluster: Cluster, namespace: str, timeout: float = 120) -> list[str]:
    """Delete the namespace (no operator of ours runs in it) and wait until it is gone;
    the Incidents whose finalizers had to be removed by hand."""
    stripped = strip_finalizers(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")
    wait_namespace_gone(cluster, namespace, timeout)
    return stripped
