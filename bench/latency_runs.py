"""The incident-latency runs on the local control plane (bench/incident_latency.py says
what is measured and how): setting up and tearing down the benchmark's namespace, and one
measured incident. The harness is devkit's; the figures are bench/report.py's."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devkit import manifests
from devkit.cluster import approval_policy_enforced, install_tourniquet
from devkit.incidents import approve, delete_incidents, delete_namespace, resolve
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess, stop_orphan
from devkit.paths import REPO
from devkit.polling import WaitTimeout, wait_for
from devkit.watch import Event, Watch
from devkit.workloads import revision_of, rollout_complete, template_image

from bench import round_trip_floor

RESULTS = REPO / "bench" / "results"
PIDFILE = RESULTS / "operator.pid"  # the operator a killed bench left behind, if any
NAMESPACE = "tq-bench-latency"
BINDING = "tq-bench-commanders"
COMMANDER_ROLE = "tourniquet-commander"  # the shipped people role with the verb approve
COMMANDER = "alice"
IMAGE_V1 = "registry.example/api:1.0"
IMAGE_V2 = "registry.example/api:2.0"
API_REQUESTS = "tourniquet_api_requests_total"
# Runs discarded because something outside the operator disturbed them (the shared
# cluster: another test removing the cluster-wide approval policy binding for a while).
MAX_DISCARDED = 10


def log(message: str) -> None:
    print(f"[incident-latency {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


class Interfered(Exception):
    """The run was disturbed from outside the operator; it is discarded, not counted."""


@dataclass
class Run:
    index: int
    apply_to_suspect: float = 0.0
    added_to_suspect: float = 0.0
    approve_to_undo: float = 0.0
    approval_seen_to_undo: float = 0.0
    #: The claim's and the undo's round trips alone (bench/round_trip_floor), in ms.
    floor_claim_ms: float = 0.0
    floor_patch_ms: float = 0.0
    approve_to_mitigated: float = 0.0
    rollout_complete_to_mitigated: float = 0.0
    requests_to_mitigated: int = 0
    requests_total: int = 0
    requests_by_call: dict[str, int] = field(default_factory=dict)
    suspect: dict[str, Any] = field(default_factory=dict)
    incident_writes: dict[str, int] = field(default_factory=dict)
    events_posted: int = 0
    policy_wait: float = 0.0
    timeline: list[str] = field(default_factory=list)
    annotations_added: list[str] = field(default_factory=list)


def bench_incident(name: str, app: str) -> dict[str, Any]:
    return manifests.incident(
        name,
        namespace=NAMESPACE,
        title=f"bench: elevated 5xx on {app}",
        severity="SEV2",
        commander=COMMANDER,
        selector={"matchLabels": {"app": app}},
    )


# -- setup and teardown ----------------------------------------------------------------


def setup(cluster: Cluster) -> None:
    stale = stop_orphan(PIDFILE, NAMESPACE)
    if stale is not None:
        log(f"stopped the operator (pid {stale}) an interrupted run left behind")
    install_tourniquet(cluster)
    if cluster.exists("namespace", NAMESPACE):
        # Left over from an interrupted run, with no operator of ours to finalize it.
        log(f"namespace {NAMESPACE} left over from an earlier run: deleting it first")
        stripped = delete_namespace(cluster, NAMESPACE)
        if stripped:
            log(f"  removed the finalizer of {len(stripped)} orphaned incident(s)")
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("label", "namespace", NAMESPACE, "tourniquet.dev/bench=true")
    cluster.apply(manifests.role_binding(BINDING, NAMESPACE, COMMANDER_ROLE, [COMMANDER]))
    for verb, sub in (("patch", ["--subresource=status"]), ("approve", [])):
        allowed = cluster.kubectl(
            "auth", "can-i", verb, f"incidents.{manifests.GROUP}", *sub, "-n", NAMESPACE,
            as_user=COMMANDER, check=False,
        )  # fmt: skip
        if allowed.stdout.strip() != "yes":
            raise RuntimeError(f"{COMMANDER} may not {verb} incidents: {allowed.stdout}")


def teardown(
    cluster: Cluster, operator: OperatorProcess | None, watches: Sequence[Watch]
) -> list[str]:
    """Incidents first (the running operator releases their finalizer), then the
    operator, then the namespace. Returns what went wrong, for the report."""
    problems = []
    if operator is not None and operator.running:
        deleted = delete_incidents(cluster, NAMESPACE, timeout="120s")
        if deleted.returncode != 0:
            problems.append(f"deleting incidents: {deleted.stderr.strip()}")
    for watch in watches:
        watch.stop()
    if operator is not None:
        code = operator.stop()
        if code != 0:
            problems.append(f"operator exited {code} (log: {operator.log_path})")
    if cluster.exists("namespace", NAMESPACE):
        try:
            stripped = delete_namespace(cluster, NAMESPACE)
        except WaitTimeout as exc:
            problems.append(str(exc))
        else:
            if stripped:
                problems.append(f"removed the finalizer of {len(stripped)} incident(s) by hand")
    return problems


# -- one run ---------------------------------------------------------------------------


def classify_writes(history: Sequence[Event]) -> dict[str, int]:
    """What each observed change of the Incident touched (from consecutive watch events)."""
    counts: Counter[str] = Counter()
    previous: dict[str, Any] | None = None
    for event in history:
        obj = event.obj
        if previous is not None and event.type == "MODIFIED":
            meta, old = obj.get("metadata", {}), previous.get("metadata", {})
            if obj.get("status") != previous.get("status"):
                counts["status"] += 1
            if obj.get("spec") != previous.get("spec"):
                counts["spec"] += 1
            if meta.get("finalizers") != old.get("finalizers"):
                counts["finalizers"] += 1
            if meta.get("annotations") != old.get("annotations"):
                counts["annotations"] += 1
        previous = obj
    return dict(counts)


def wait_policy_enforced(cluster: Cluster, timeout: float = 300) -> float:
    """Other engineers' e2e tests may remove the cluster-wide binding for a while; an
    approval made then is rightly refused. Wait until it is back; return the wait."""
    started = time.monotonic()
    if approval_policy_enforced(cluster):
        return 0.0
    log("approval policy not enforced (binding removed?): waiting for it")
    wait_for(
        lambda: approval_policy_enforced(cluster),
        timeout=timeout,
        interval=0.5,
        what="the approval policy",
    )
    return time.monotonic() - started


def brief(status: dict[str, Any]) -> str:
    mitigation = status.get("mitigation") or {}
    conditions = {c.get("type"): c.get("reason") for c in status.get("conditions") or []}
    return (
        f"phase={status.get('phase')} mitigation={mitigation.get('result')}"
        f"/{mitigation.get('reason')} conditions={conditions}"
    )


def wait_undo(
    deployments: Watch, incidents: Watch, *, app: str, name: str, generation: int, since: int
) -> Event:
    """The Deployment event showing the undo; fails fast when the approval is refused.
    (The event keeps its arrival stamp: slicing the wait costs no resolution.)"""
    deadline = time.monotonic() + 60
    while True:
        try:
            return deployments.wait(
                lambda e: (
                    e.name == app
                    and int(e.obj.get("metadata", {}).get("generation", 0)) > generation
                    and template_image(e.obj) == IMAGE_V1
                ),
                since=since,
                timeout=0.25,
                what=f"deployment/{app} template back to {IMAGE_V1}",
            )
        except WaitTimeout:
            status = incidents.latest(name).get("status", {})
            mitigation = status.get("mitigation") or {}
            if mitigation.get("result") == "Refused":
                message = (
                    f"approval refused ({mitigation.get('reason')}): {mitigation.get('message')}"
                )
                if mitigation.get("reason") == "ApprovalUnverified":
                    raise Interfered(message) from None
                raise AssertionError(f"{name}: {message}") from None
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"no undo of deployment/{app} within 60s of the approval; {name}: "
                    f"{brief(status)}"
                ) from None


def has(name: str, *path: str, equals: Any = None) -> Any:
    """A watch predicate: the event is about `name` and its status at `path` is set
    (or equals `equals`)."""

    def predicate(e: Event) -> bool:
        if e.name != name:  # also skips a watch's ERROR events (a Status, not an Incident)
            return False
        value: Any = e.obj.get("status", {})
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value == equals if equals is not None else bool(value)

    return predicate


def one_run(
    i: int, cluster: Cluster, operator: OperatorProcess, incidents: Watch, deployments: Watch
) -> Run:
    app, name = f"api-{i}", f"inc-{i}"
    run = Run(index=i)
    for image in (IMAGE_V1, IMAGE_V2):
        cluster.apply(manifests.deployment(app, image, namespace=NAMESPACE))
        cluster.kubectl("rollout", "status", f"deployment/{app}", "-n", NAMESPACE, "--timeout=120s")
    dep = cluster.get("deployment", app, NAMESPACE)
    generation, revision = int(dep["metadata"]["generation"]), revision_of(dep)

    def requests() -> Counter[tuple[str, ...]]:
        return operator.metric_by(API_REQUESTS, "verb", "resource")

    # (a) apply -> suspect
    inc_mark = incidents.mark()
    before = requests()
    cluster.apply(bench_incident(name, app))
    applied = time.monotonic()
    seen = incidents.wait(has(name, "suspect"), since=inc_mark, timeout=60, what=f"{name} suspect")
    run.apply_to_suspect = seen.at - applied
    # The same span on one clock at both ends: the watch's ADDED event to the suspect.
    added = incidents.wait(
        lambda e: e.name == name and e.type == "ADDED", since=inc_mark, timeout=1, what="ADDED"
    )
    run.added_to_suspect = seen.at - added.at
    run.suspect = dict(seen.obj["status"]["suspect"])
    suspect = (run.suspect.get("name", run.suspect.get("deployment")), run.suspect.get("revision"))
    if suspect != (app, revision):
        raise AssertionError(f"{name}: suspect {run.suspect}, expected {app} rev {revision}")

    # The floor under (b), on the Incident as the claim will find it (the API server's work
    # per status patch grows with the object) and on the Deployment it will patch.
    floor = round_trip_floor.measure(operator.kubeconfig, seen.obj, app)
    run.floor_claim_ms, run.floor_patch_ms = floor.claim_ms, floor.patch_ms

    # (b) approve -> undo patch visible on the Deployment
    run.policy_wait = wait_policy_enforced(cluster)
    dep_mark = deployments.mark()
    approve(cluster, NAMESPACE, revision, as_user=COMMANDER, name=name, target=app)
    approved = time.monotonic()
    undone = wait_undo(
        deployments, incidents, app=app, name=name, generation=generation, since=dep_mark
    )
    run.approve_to_undo = undone.at - approved
    approval_seen = incidents.wait(
        has(name, "approval"), since=inc_mark, timeout=1, what=f"{name} status.approval"
    )
    run.approval_seen_to_undo = undone.at - approval_seen.at
    mitigated = incidents.wait(
        has(name, "phase", equals="Mitigated"), since=inc_mark, timeout=120, what="Mitigated"
    )
    run.approve_to_mitigated = mitigated.at - approved
    complete = next(
        (e for e in deployments.history(app, since=dep_mark) if rollout_complete(e.obj)), None
    )
    run.rollout_complete_to_mitigated = (
        mitigated.at - complete.at if complete is not None else math.nan
    )
    at_mitigated = requests()

    # Resolve: the IC's all-clear; its reconcile is part of the incident's cost.
    resolve(cluster, NAMESPACE, name, as_user=COMMANDER)
    incidents.wait(
        lambda e: has(name, "phase", equals="Resolved")(e) and has(name, "resolvedAt")(e),
        since=inc_mark,
        timeout=60,
        what=f"{name} phase Resolved",
    )
    delta = requests() - before
    run.requests_to_mitigated = sum((at_mitigated - before).values())
    run.requests_total = sum(delta.values())
    run.requests_by_call = {
        f"{verb} {resource}": n for (verb, resource), n in sorted(delta.items())
    }
    return run


def settle_discarded(cluster: Cluster, incidents: Watch, name: str) -> None:
    """Resolve a discarded run's incident, so that it stops being re-checked and costs
    the next runs nothing."""
    mark = incidents.mark()
    resolve(cluster, NAMESPACE, name, as_user=COMMANDER)
    incidents.wait(has(name, "resolvedAt"), since=mark, timeout=60, what=f"{name} resolved")


def record_history(run: Run, incidents: Watch) -> None:
    """What the watch saw of the run's Incident: its writes, timeline and annotations."""
    history = incidents.history(f"inc-{run.index}")
    run.incident_writes = classify_writes(history)
    last = history[-1].obj
    run.timeline = [
        f"{t.get('kind')}: {t.get('message')}" for t in last.get("status", {}).get("timeline", [])
    ]
    first_annotations = set(history[0].obj["metadata"].get("annotations", {}))
    run.annotations_added = sorted(set(last["metadata"].get("annotations", {})) - first_annotations)


def count_kopf_events(cluster: Cluster, runs: Sequence[Run]) -> None:
    """Events the operator posted through kopf: API requests the metric does not count."""
    per_object: Counter[str] = Counter()
    for event in cluster.get("events", namespace=NAMESPACE)["items"]:
        component = (event.get("reportingComponent") or "") + (
            event.get("source", {}).get("component") or ""
        )
        if "kopf" in component:
            per_object[event.get("involvedObject", {}).get("name", "")] += int(
                event.get("count") or 1
            )
    for run in runs:
        run.events_posted = per_object[f"inc-{run.index}"] + per_object[f"api-{run.index}"]
