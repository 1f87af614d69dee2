"""Suspect search over large indexes: pure, no cluster.

Builds Deployment and ReplicaSet bodies shaped as the API server returns them (fresh
strings per object, as a JSON decoder produces them), projects them with the operator's
own `deployment_view` / `replicaset_view` into kopf indexes keyed by namespace (exactly
what `handlers.py` registers), then times `find_suspect` as the reconcile calls it and
measures what the projections cost in memory.

Scenarios:
  one-namespace    1 namespace x 2,000 Deployments x 10 ReplicaSets (20,000 RS)
  many-namespaces  200 namespaces x 50 Deployments x 10 ReplicaSets (100,000 RS); each
                   search looks up one namespace, as an incident only searches its own

Timings use time.perf_counter over repeated runs (one untimed warm-up run first); p95 is
the nearest-rank percentile. Memory uses tracemalloc: the bytes still allocated after
the bodies are gone, divided by the number of projections.

    .venv/bin/python -m bench.suspect_search [--repeat N] [--json]   (from the repo)

Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench.report import goal, percentile
from tourniquet.core.projections import (
    REVISION_ANNOTATION,
    DeploymentView,
    ReplicaSetView,
    deployment_view,
    replicaset_view,
)
from tourniquet.core.suspect import find_suspect

# Goals, chosen after measuring on the 2-core development machine (Python 3.11), where
# the medians were ~10 ms, ~3.4 ms, ~0.26 ms, 1363 B, 888 B and ~7 us. Timing goals have
# 5-7x headroom (a busy neighbour must not trip them; a 10x regression must); memory is
# deterministic for a given Python, so its goals have ~1.5x headroom.
GOAL_ONE_NS_ALL_MS = 60.0  # find_suspect, every Deployment of 2,000 / 20,000 RS in scope
GOAL_ONE_NS_SELECTOR_MS = 20.0  # ... with a matchLabels selector naming one Deployment
GOAL_MANY_NS_MS = 1.5  # one namespace of 50 Deployments / 500 RS, out of 200 namespaces
GOAL_BYTES_PER_DEPLOYMENT_VIEW = 2048
GOAL_BYTES_PER_REPLICASET_VIEW = 1536
GOAL_PROJECT_US_PER_RS = 40.0  # replicaset_view on one watch event's body

T_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TEAMS = ("payments", "search", "checkout", "identity", "platform", "growth", "ads", "data")
SIDECAR = ("istio-proxy", "docker.io/istio/proxyv2:1.24.{}")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- realistic bodies ------------------------------------------------------------------


@dataclass
class Spec:
    """One Deployment's history: what its bodies are generated from."""

    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    first_revision: int
    rollouts: list[tuple[datetime, list[tuple[str, str]]]]  # (created, containers)


def make_specs(
    rng: random.Random, namespaces: Sequence[str], per_namespace: int, history: int
) -> list[Spec]:
    specs = []
    for namespace in namespaces:
        for index in range(per_namespace):
            team = TEAMS[index % len(TEAMS)]
            name = f"{team}-svc-{index:04d}"
            labels = {
                "app": name,
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/part-of": f"{team}-system",
                "team": team,
            }
            # Long-lived Deployments keep only the last `history` revisions
            # (revisionHistoryLimit 10 plus the live one, near enough).
            first = rng.randint(1, 60)
            sidecar = rng.random() < 0.3
            created = T_NOW - timedelta(days=30, seconds=rng.randint(0, 86400))
            rollouts = []
            for step in range(history):
                created += timedelta(seconds=rng.randint(600, 2 * 86400))
                containers = [(name, f"registry.example/{team}/{name}:1.{first + step}.0")]
                if sidecar:
                    containers.append((SIDECAR[0], SIDECAR[1].format(rng.randint(0, 9))))
                rollouts.append((created, containers))
            uid = str(uuid.UUID(int=rng.getrandbits(128)))
            specs.append(Spec(namespace, name, uid, labels, first, rollouts))
    return specs


def _template(labels: Mapping[str, str], containers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": None, "labels": dict(labels)},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
                for name, image in containers
            ],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        },
    }


def deployment_body(spec: Spec) -> dict[str, Any]:
    revision = spec.first_revision + len(spec.rollouts) - 1
    _, containers = spec.rollouts[-1]
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "uid": spec.uid,
            "resourceVersion": "123456",
            "generation": len(spec.rollouts),
            "creationTimestamp": stamp(spec.rollouts[0][0]),
            "labels": dict(spec.labels),
            "annotations": {REVISION_ANNOTATION: str(revision)},
        },
        "spec": {
            "replicas": 3,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": spec.name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": _template({"app": spec.name}, containers),
        },
        "status": {"observedGeneration": len(spec.rollouts), "replicas": 3, "readyReplicas": 3},
    }
    # A round trip through JSON: every string is a fresh object, as kopf receives them.
    fresh: dict[str, Any] = json.loads(json.dumps(body))
    return fresh


def replicaset_bodies(spec: Spec) -> Iterable[dict[str, Any]]:
    for step, (created, containers) in enumerate(spec.rollouts):
        pod_hash = hashlib.sha1(f"{spec.uid}/{step}".encode()).hexdigest()[:10]
        name = f"{spec.name}-{pod_hash}"
        live = step == len(spec.rollouts) - 1
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": spec.namespace,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.uid}/{step}")),
                "resourceVersion": "123400",
                "generation": 1,
                "creationTimestamp": stamp(created),
                "labels": {"app": spec.name, "pod-template-hash": pod_hash},
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": "3",
                    "deployment.kubernetes.io/max-replicas": "4",
                    REVISION_ANNOTATION: str(spec.first_revision + step),
                },
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": spec.name,
                        "uid": spec.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": 3 if live else 0,
                "selector": {"matchLabels": {"app": spec.name, "pod-template-hash": pod_hash}},
                "template": _template(
                    {"app": spec.name, "pod-template-hash": pod_hash}, containers
                ),
            },
            "status": {"replicas": 3 if live else 0, "observedGeneration": 1},
        }
        yield json.loads(json.dumps(body))


# -- the operator's indexes ------------------------------------------------------------


class Indexes:
    """kopf's own Index/Store, filled as kopf fills them from `handlers.py`'s index
    functions ({namespace: view} per object, keyed by (namespace, name, uid))."""

    def __init__(self) -> None:
        from kopf._core.engines.indexing import Index  # kopf internals: bench only

        self.deployments: Any = Index()
        self.replicasets: Any = Index()

    @staticmethod
    def _add(index: Any, body: Mapping[str, Any], view: object) -> None:
        meta = body["metadata"]
        index._replace((meta["namespace"], meta["name"], meta["uid"]), {meta["namespace"]: view})

    def add_deployment(self, body: Mapping[str, Any]) -> DeploymentView:
        view = deployment_view(body)
        self._add(self.deployments, body, view)
        return view

    def add_replicaset(self, body: Mapping[str, Any]) -> ReplicaSetView:
        view = replicaset_view(body)
        self._add(self.replicasets, body, view)
        return view

    def search(self, namespace: str, selector: Mapping[str, Any] | None) -> Any:
        # As handlers._reconcile calls it.
        return find_suspect(
            self.deployments.get(namespace, []), self.replicasets.get(namespace, []), selector
        )


def build(specs: Sequence[Spec]) -> Indexes:
    indexes = Indexes()
    for spec in specs:
        indexes.add_deployment(deployment_body(spec))
        for body in replicaset_bodies(spec):
            indexes.add_replicaset(body)
    return indexes


# -- measurements ----------------------------------------------------------------------


def search_one(indexes: Indexes, selector: Mapping[str, Any] | None, _call: int) -> object:
    return indexes.search("production", selector)


def time_calls(fn: Callable[[int], object], repeat: int) -> dict[str, float]:
    fn(-1)  # warm-up, untimed
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "runs": repeat,
        "median_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 95),
        "max_ms": max(samples),
    }


def measure_memory(specs: Sequence[Spec]) -> dict[str, Any]:
    """Bytes retained per projection: once bare (the view and what it alone keeps alive),
    once inside kopf's indexes (plus the index's key tuple, dict slots and store)."""
    result: dict[str, Any] = {}
    deployments = len(specs)
    replicasets = sum(len(s.rollouts) for s in specs)

    def deployment_stream() -> Iterable[dict[str, Any]]:
        return (deployment_body(s) for s in specs)

    def replicaset_stream() -> Iterable[dict[str, Any]]:
        return (b for s in specs for b in replicaset_bodies(s))

    def retained(make: Callable[[], object]) -> tuple[int, object]:
        # Each body is decoded and dropped inside the traced region, as kopf drops a
        # watch event's body after the index function ran: what stays allocated is what
        # the projection keeps, including the strings it shares with the body.
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return after - before, kept

    size, kept = retained(lambda: [deployment_view(b) for b in deployment_stream()])
    result["bytes_per_deployment_view"] = (size - sys.getsizeof(kept)) / deployments
    del kept
    size, kept = retained(lambda: [replicaset_view(b) for b in replicaset_stream()])
    result["bytes_per_replicaset_view"] = (size - sys.getsizeof(kept)) / replicasets
    del kept

    def fill(kind: str) -> object:
        indexes = Indexes()
        if kind == "deployments":
            for b in deployment_stream():
                indexes.add_deployment(b)
        else:
            for b in replicaset_stream():
                indexes.add_replicaset(b)
        return indexes

    size, kept = retained(lambda: fill("deployments"))
    result["bytes_per_deployment_in_index"] = size / deployments
    del kept
    size, kept = retained(lambda: fill("replicasets"))
    result["bytes_per_replicaset_in_index"] = size / replicasets
    del kept

    # Projection speed: what every watch event of a Deployment or ReplicaSet costs.
    deployment_bodies = list(deployment_stream())
    rs_bodies = list(replicaset_stream())
    started = time.perf_counter()
    for b in rs_bodies:
        replicaset_view(b)
    result["project_us_per_replicaset"] = (time.perf_counter() - started) * 1e6 / replicasets
    started = time.perf_counter()
    for b in deployment_bodies:
        deployment_view(b)
    result["project_us_per_deployment"] = (time.perf_counter() - started) * 1e6 / deployments
    result["deployment_views"] = deployments
    result["replicaset_views"] = replicasets
    return result


def one_namespace(specs: Sequence[Spec], repeat: int) -> dict[str, Any]:
    """1 namespace: 2,000 Deployments x 10 ReplicaSets, three kinds of scope."""
    started = time.perf_counter()
    one = build(specs)
    out: dict[str, Any] = {
        "deployments": len(one.deployments["production"]),
        "replicasets": len(one.replicasets["production"]),
        "build_seconds": time.perf_counter() - started,
    }
    target = specs[1234]
    selectors: dict[str, Mapping[str, Any] | None] = {
        "no_selector": None,
        "match_labels_one": {"matchLabels": {"app": target.name}},
        "match_expressions_team": {
            "matchExpressions": [
                {"key": "team", "operator": "In", "values": ["payments", "search"]},
                {"key": "app.kubernetes.io/name", "operator": "Exists"},
            ]
        },
    }
    for label, selector in selectors.items():
        found = one.search("production", selector)
        assert found is not None, label
        if label == "match_labels_one":
            assert found.deployment == target.name, found
        out[label] = time_calls(partial(search_one, one, selector), repeat)
    return out


def many_namespaces(rng: random.Random, repeat: int) -> dict[str, Any]:
    """200 namespaces x 50 Deployments x 10 ReplicaSets; each search in one namespace
    (picked at random), as an incident only searches its own."""
    started = time.perf_counter()
    namespaces = [f"team-{i:03d}" for i in range(200)]
    many = build(make_specs(rng, namespaces, 50, 10))
    out: dict[str, Any] = {
        "namespaces": len(many.deployments),
        "deployments": sum(len(many.deployments[n]) for n in namespaces),
        "replicasets": sum(len(many.replicasets[n]) for n in namespaces),
        "build_seconds": time.perf_counter() - started,
    }
    picks = [rng.choice(namespaces) for _ in range(repeat)]
    app = f"{TEAMS[7]}-svc-0007"  # exists in every namespace
    found = many.search(picks[0], {"matchLabels": {"app": app}})
    assert found is not None and found.deployment == app, found
    out["no_selector"] = time_calls(lambda i: many.search(picks[i], None), repeat)
    out["match_labels_one"] = time_calls(
        lambda i: many.search(picks[i], {"matchLabels": {"app": app}}), repeat
    )
    return out


def run(repeat: int = 30, seed: int = 20261127) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"seed": seed, "python": sys.version.split()[0]}
    specs = make_specs(rng, ["production"], 2000, 10)
    out["one_namespace"] = one_namespace(specs, repeat)
    out["many_namespaces"] = many_namespaces(rng, repeat * 10)

    # 3. Memory and projection speed, over the one-namespace objects.
    out["memory"] = measure_memory(specs)

    one_ns, many_ns, mem = out["one_namespace"], out["many_namespaces"], out["memory"]
    out["goals"] = [
        goal(
            "find_suspect, 20,000 RS, no selector: median",
            one_ns["no_selector"]["median_ms"],
            GOAL_ONE_NS_ALL_MS,
            "ms",
        ),
        goal(
            "find_suspect, 20,000 RS, matchLabels selector: median",
            one_ns["match_labels_one"]["median_ms"],
            GOAL_ONE_NS_SELECTOR_MS,
            "ms",
        ),
        goal(
            "find_suspect, 1 of 200 namespaces (500 RS), no selector: median",
            many_ns["no_selector"]["median_ms"],
            GOAL_MANY_NS_MS,
            "ms",
        ),
        goal(
            "memory per DeploymentView",
            mem["bytes_per_deployment_view"],
            GOAL_BYTES_PER_DEPLOYMENT_VIEW,
            "B",
        ),
        goal(
            "memory per ReplicaSetView",
            mem["bytes_per_replicaset_view"],
            GOAL_BYTES_PER_REPLICASET_VIEW,
            "B",
        ),
        goal(
            "replicaset_view per watch event",
            mem["project_us_per_replicaset"],
            GOAL_PROJECT_US_PER_RS,
            "us",
        ),
    ]
    out["ok"] = all(g["ok"] for g in out["goals"])
    return out


def format_report(out: Mapping[str, Any]) -> str:
    lines = ["Suspect search (pure, no cluster)"]

    def timing(title: str, t: Mapping[str, float]) -> None:
        lines.append(
            f"  {title:<44} median {t['median_ms']:7.2f} ms   p95 {t['p95_ms']:7.2f} ms"
            f"   max {t['max_ms']:7.2f} ms   ({t['runs']} runs)"
        )

    one = out["one_namespace"]
    lines.append(
        f" 1 namespace: {one['deployments']} Deployments, {one['replicasets']} ReplicaSets"
        f" (built in {one['build_seconds']:.1f}s)"
    )
    timing("no selector (every Deployment)", one["no_selector"])
    timing("matchLabels app=<one Deployment>", one["match_labels_one"])
    timing("matchExpressions team In (2 of 8), Exists", one["match_expressions_team"])
    many = out["many_namespaces"]
    lines.append(
        f" {many['namespaces']} namespaces: {many['deployments']} Deployments,"
        f" {many['replicasets']} ReplicaSets; each search in one namespace"
        f" (built in {many['build_seconds']:.1f}s)"
    )
    timing("no selector (50 Deployments, 500 RS)", many["no_selector"])
    timing("matchLabels app=<one Deployment>", many["match_labels_one"])
    mem = out["memory"]
    lines.append(
        f" memory (tracemalloc, {mem['deployment_views']} + {mem['replicaset_views']} views):"
    )
    lines.append(
        f"  DeploymentView {mem['bytes_per_deployment_view']:6.0f} B bare,"
        f" {mem['bytes_per_deployment_in_index']:6.0f} B in kopf's index"
    )
    lines.append(
        f"  ReplicaSetView {mem['bytes_per_replicaset_view']:6.0f} B bare,"
        f" {mem['bytes_per_replicaset_in_index']:6.0f} B in kopf's index"
    )
    many_mb = (
        many["deployments"] * mem["bytes_per_deployment_in_index"]
        + many["replicasets"] * mem["bytes_per_replicaset_in_index"]
    ) / 2**20
    lines.append(
        f"  => indexes of the 200-namespace cluster: ~{many_mb:.0f} MiB (per-object cost x count)"
    )
    lines.append(
        f"  projection speed: {mem['project_us_per_deployment']:.1f} us per Deployment,"
        f" {mem['project_us_per_replicaset']:.1f} us per ReplicaSet"
    )
    lines.append(" goals:")
    for g in out["goals"]:
        mark = "ok  " if g["ok"] else "MISS"
        value, unit = f"{g['value']:9.2f} {g['unit']:<2}", g["unit"]
        lines.append(f"  [{mark}] {g['goal']:<62} {value} <= {g['limit']} {unit}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per case [30]")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args(argv)
    out = run(repeat=args.repeat, seed=args.seed)
    print(json.dumps(out, indent=2) if args.json else format_report(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
