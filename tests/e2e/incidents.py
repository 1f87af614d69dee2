"""What an on-call engineer types, as functions: roll out, declare, approve, resolve."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubetest import Cluster, deployment, replicasets_of, revision_of, wait_for

GOOD = "registry.example/api:1.4.2"
BAD = "registry.example/api:1.4.3"
NEWER = "registry.example/api:1.4.4"
NO_NODE = {"tourniquet.dev/no-such-node": "true"}


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


def next_second() -> None:
    """Kubernetes timestamps have one-second resolution: rollouts in the same second tie
    (Tourniquet then orders them by name). Tests that rely on order cross a second."""
    start = int(time.time())
    wait_for(lambda: int(time.time()) > start, timeout=2, interval=0.05, what="the next second")


def good_then_bad(
    cluster: Cluster, namespace: str, name: str = "api", labels: Mapping[str, str] | None = None
) -> None:
    roll_out(cluster, namespace, name, GOOD, labels=labels)
    roll_out(cluster, namespace, name, BAD, labels=labels, broken=True)
    wait_for(
        lambda: revision_of(cluster.get("deployment", name, namespace)) == 2,
        what=f"{name} at revision 2",
    )


def declare(
    cluster: Cluster,
    namespace: str,
    name: str = "api-errors",
    *,
    severity: str = "SEV1",
    commander: str | None = "alice",
    selector: Mapping[str, Any] | None = None,
    as_user: str | None = None,
    **spec: Any,
) -> None:
    body: dict[str, Any] = {"title": "Elevated 5xx on api", "severity": severity, **spec}
    if commander:
        body["roles"] = {"commander": commander}
    if selector is not None:
        body["scope"] = {"selector": dict(selector)}
    cluster.apply(
        {
            "apiVersion": "tourniquet.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name},
            "spec": body,
        },
        namespace,
        as_user=as_user,
    )


def get_incident(cluster: Cluster, namespace: str, name: str = "api-errors") -> dict[str, Any]:
    return dict(cluster.get("incident", name, namespace))


def wait_incident(
    cluster: Cluster,
    namespace: str,
    ready: Callable[[dict[str, Any]], bool],
    what: str,
    name: str = "api-errors",
    timeout: float = 60,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        incident = get_incident(cluster, namespace, name)
        return incident if ready(incident) else None

    return wait_for(probe, timeout=timeout, what=what)


def status(incident: Mapping[str, Any]) -> dict[str, Any]:
    return dict(incident.get("status") or {})


def mitigation_is(result: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def ready(incident: dict[str, Any]) -> bool:
        m = status(incident).get("mitigation") or {}
        return bool(m.get("result") == result and (reason is None or m.get("reason") == reason))

    return ready


def condition(incident: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for c in status(incident).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def approve(
    cluster: Cluster,
    namespace: str,
    revision: int,
    *,
    as_user: str = "alice",
    approved_by: str | None = None,
    name: str = "api-errors",
    check: bool = True,
) -> Any:
    body = {"status": {"approval": {"approvedBy": approved_by or as_user, "revision": revision}}}
    return cluster.kubectl(
        "patch",
        "incident",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(body),
        as_user=as_user,
        check=check,
    )


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
) -> Any:
    """`kubectl patch incident` as a responder types it (status=True: the status
    subresource, where approvals and acknowledgements go)."""
    body = patch if isinstance(patch, str) else json.dumps(patch)
    sub = ["--subresource=status"] if status else []
    return cluster.kubectl(
        "patch",
        "incident",
        name,
        "-n",
        namespace,
        *sub,
        f"--type={kind}",
        "-p",
        body,
        as_user=as_user,
        check=check,
    )


def resolve(
    cluster: Cluster, namespace: str, name: str = "api-errors", as_user: str = "alice"
) -> None:
    cluster.kubectl(
        "patch",
        "incident",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"resolved":true}}',
        as_user=as_user,
    )


def snapshot(cluster: Cluster, namespace: str, name: str = "api") -> tuple[int, Any, int]:
    """What an undo would change: generation, pod template, revision."""
    dep = cluster.get("deployment", name, namespace)
    return dep["metadata"]["generation"], dep["spec"]["template"], revision_of(dep)


def image_of(cluster: Cluster, namespace: str, name: str = "api") -> str:
    dep = cluster.get("deployment", name, namespace)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def event_messages(
    cluster: Cluster, namespace: str, reason: str, *, name: str | None = None, warning: bool = False
) -> list[str]:
    """Messages of the Events with `reason` (on object `name`, of type Warning)."""
    selector = [f"reason={reason}"]
    if name:
        selector.append(f"involvedObject.name={name}")
    if warning:
        selector.append("type=Warning")
    out = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", ",".join(selector), "-o", "json"
    ).stdout
    return [str(e.get("message", "")) for e in json.loads(out)["items"]]


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
    events = cluster.get("events", namespace=namespace)["items"]
    return sum(
        int(e.get("count") or 1)
        for e in events
        if e.get("reason") == "RolloutUndone"
        and e["involvedObject"].get("kind") == "Deployment"
        and e["involvedObject"].get("name") == name
    )


def revisions(cluster: Cluster, namespace: str, name: str = "api") -> list[int]:
    return sorted(revision_of(rs) for rs in replicasets_of(cluster, namespace, name))
