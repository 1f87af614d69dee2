"""`make bench-scale`: the operator's cost as the cluster grows.

    .venv/bin/python -m bench.scale [--sizes 100,1000,5000] [--revisions 4] [--namespaces 50]

On its own local control plane (TOURNIQUET_CLUSTER_NAME=scale, started with the
controllers' client QPS limits off so that setup takes minutes, not an hour), it populates
N Deployments with R revisions each (N*R ReplicaSets) across namespaces, cumulatively for
each size, and measures for each:

- operator start -> the first Incident's suspect written (the Incident waits in the
  cluster before the operator starts), and -> /readyz;
- RSS once synced, and CPU at idle (over 20 s);
- apply -> suspect and approval -> Deployment patched (medians of a few incidents);
- the lag under a churn of ~100 Deployment updates per second: apply -> suspect of an
  incident declared right after its rollout, while the churn runs.

Results: bench/results/scale.json and a table on stdout (the README's sizing table).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devkit import manifests
from devkit.cluster import local_cluster, stop_local_cluster
from devkit.identity import operator_cluster
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.workloads import revision_of

from bench import latency_runs
from bench.churn import Churn
from bench.latency_runs import RESULTS, Watch, has

CLUSTER_NAME = "scale"
PREFIX = "tq-scale"
TICKS = os.sysconf("SC_CLK_TCK")
CHURN_RATE = 100.0  # Deployment updates per second
CHURN_SAMPLES = 6


def log(message: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


def namespaces(count: int) -> list[str]:
    return [f"{PREFIX}-{i:03d}" for i in range(count)]


def apps_client(cluster: Cluster) -> Any:
    """The Kubernetes client's AppsV1Api as the admin: thousands of patches from a thread
    pool, where a kubectl process each would take most of an hour."""
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=cluster.kubeconfig)
    client.configuration.connection_pool_maxsize = 32
    return kubernetes.client.AppsV1Api(client)


def replicaset_count(cluster: Cluster) -> int:
    """The ReplicaSets of the populated namespaces (not the latency run's, being deleted)."""
    out = cluster.kubectl("get", "replicasets", "-A", "--no-headers", timeout=300).stdout
    return sum(1 for line in out.splitlines() if line.startswith(PREFIX))


def wait_replicasets(cluster: Cluster, expected: int) -> None:
    def enough() -> int | None:
        count = replicaset_count(cluster)
        log(f"  {count:,}/{expected:,} ReplicaSets")
        return count if count >= expected else None

    wait_for(enough, timeout=3600, interval=5, what=f"{expected} ReplicaSets")


def populate(cluster: Cluster, total: int, revisions: int, spaces: Sequence[str]) -> None:
    """Deployments app-0..app-(per-1) in each of `spaces`, each at `revisions` revisions
    (no replicas: the cost under test is the operator's, not the pods'). Revision by
    revision across all namespaces, each observed before the next: two template changes
    the controller sees as one would leave a revision without its ReplicaSet."""
    per = max(1, total // len(spaces))
    started = time.monotonic()
    baseline = replicaset_count(cluster) if cluster.exists("namespace", spaces[0]) else 0
    new: dict[str, list[str]] = {}
    for namespace in spaces:
        cluster.kubectl("create", "namespace", namespace, check=False)
        existing = set(
            cluster.kubectl(
                "get", "deployments", "-n", namespace, "-o", "name", check=False
            ).stdout.split()
        )
        names = [f"app-{j}" for j in range(per) if f"deployment.apps/app-{j}" not in existing]
        if names:
            new[namespace] = names
            items = [manifests.deployment(n, "registry.example/app:1", replicas=0) for n in names]
            cluster.kubectl(
                "apply", "--server-side", "-n", namespace, "-f", "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                timeout=600,
            )  # fmt: skip
    added = sum(len(names) for names in new.values())
    log(f"  {added:,} new Deployments applied ({time.monotonic() - started:.0f}s)")
    wait_replicasets(cluster, baseline + added)
    apps = apps_client(cluster)
    for revision in range(2, revisions + 1):
        image = f"registry.example/app:{revision}"
        jobs = [(namespace, name) for namespace, names in new.items() for name in names]

        def roll(job: tuple[str, str], image: str = image) -> None:
            namespace, name = job
            patch = {
                "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}
            }
            apps.patch_namespaced_deployment(name, namespace, patch)

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(roll, jobs))
        wait_replicasets(cluster, baseline + added * revision)
    log(f"populated {per * len(spaces):,} Deployments in {time.monotonic() - started:.0f}s")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def idle_cpu_percent(pid: int, seconds: float = 20) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # a measurement window, not a wait for something to happen
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


def measure(cluster: Cluster, size: int, spaces: Sequence[str], runs: int) -> dict[str, Any]:
    latency_runs.setup(cluster)  # the latency namespace, its commander, the policy
    namespace = latency_runs.NAMESPACE
    incidents = Watch(cluster, f"incidents.{manifests.GROUP}", namespace).start()
    deployments = Watch(cluster, "deployments.apps", namespace).start()
    # The first Incident waits in the cluster before the operator starts.
    cluster.apply(manifests.deployment("first", "registry.example/first:1", namespace=namespace))
    cluster.apply(manifests.deployment("first", "registry.example/first:2", namespace=namespace))
    cluster.apply(latency_runs.bench_incident("first", "first"))
    identity = operator_cluster(cluster, RESULTS / "scale-operator.kubeconfig")
    log_path = RESULTS / f"scale-operator-{size}.log"
    operator = OperatorProcess(identity, "", log_path, tuning=()).start(wait=False)
    out: dict[str, Any] = {"deployments": size}
    try:
        first = incidents.wait(has("first", "suspect"), since=0, timeout=900, what="first suspect")
        out["start_to_first_suspect_s"] = first.at - operator.started_at
        wait_for(lambda: operator.ready(), timeout=900, what="/readyz")
        out["start_to_ready_s"] = time.monotonic() - operator.started_at
        out["rss_mib"] = rss_mib(operator.pid)
        out["idle_cpu_percent"] = idle_cpu_percent(operator.pid)
        samples = [
            latency_runs.one_run(i, cluster, operator, incidents, deployments)
            for i in range(1, runs + 1)
        ]
        out["apply_to_suspect_ms"] = 1000 * statistics.median(r.apply_to_suspect for r in samples)
        out["approve_to_patch_ms"] = 1000 * statistics.median(r.approve_to_undo for r in samples)
        # Under churn: incidents declared against rollouts made before it (their pods need
        # the controllers, which the churn slows too), apply -> suspect on the watch's clock,
        # spread over the churn so that a growing lag would show as a rising series.
        for i in range(CHURN_SAMPLES):
            for image in ("registry.example/churn:1", "registry.example/churn:2"):
                body = manifests.deployment(f"churn-{i}", image, namespace=namespace, replicas=0)
                cluster.apply(body)
        wait_for(
            lambda: all(
                revision_of(cluster.get("deployment", f"churn-{i}", namespace)) == 2
                for i in range(CHURN_SAMPLES)
            ),
            timeout=300,
            what="the churn runs' Deployments at revision 2",
        )
        per = max(1, size // len(spaces))
        lags = []
        cpu_before = cpu_seconds(operator.pid)
        with Churn(cluster, spaces, per, rate=CHURN_RATE) as churn:
            for i in range(CHURN_SAMPLES):
                time.sleep(5)  # let the churn run before each declaration: a fixed spacing
                mark = incidents.mark()
                cluster.apply(latency_runs.bench_incident(f"churn-{i}", f"churn-{i}"))
                seen = incidents.wait(
                    has(f"churn-{i}", "suspect"), since=mark, timeout=120, what="suspect"
                )
                added = incidents.wait(
                    lambda e, n=f"churn-{i}": e.name == n and e.type == "ADDED",
                    since=mark,
                    timeout=1,
                    what="ADDED",
                )
                lags.append(1000 * (seen.at - added.at))
        out["churn_operator_cpu_percent"] = (
            100 * (cpu_seconds(operator.pid) - cpu_before) / (time.monotonic() - churn.started)
        )
        out["churn_updates_per_s"] = churn.achieved
        out["churn_failed_updates"] = churn.failed
        out["churn_apply_to_suspect_ms"] = lags
        out["rss_mib_after"] = rss_mib(operator.pid)
    finally:
        latency_runs.teardown(cluster, operator, [incidents, deployments])
    return out


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| Deployments | ReplicaSets | start → first suspect | start → ready | RSS | idle CPU |"
        " apply → suspect | approval → patch | under churn (apply → suspect) |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    lines = [
        f"| {r['deployments']:,} | {r['replicasets']:,} | {r['start_to_first_suspect_s']:.1f} s |"
        f" {r['start_to_ready_s']:.1f} s | {r['rss_mib']:.0f} MiB | {r['idle_cpu_percent']:.1f} % |"
        f" {r['apply_to_suspect_ms']:.0f} ms | {r['approve_to_patch_ms']:.0f} ms |"
        f" {', '.join(f'{v:.0f}' for v in r['churn_apply_to_suspect_ms'])} ms"
        f" at {r['churn_updates_per_s']:.0f}/s,"
        f" operator CPU {r['churn_operator_cpu_percent']:.0f} % |"
        for r in rows
    ]
    return head + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--revisions", type=int, default=4)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the scale cluster running afterwards"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TOURNIQUET_CLUSTER_NAME", CLUSTER_NAME)
    os.environ.setdefault("TOURNIQUET_SCALE", "1")  # hack/cluster.sh: no client QPS limits
    cluster = local_cluster()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            spaces = namespaces(min(args.namespaces, size))
            log(f"== {size:,} Deployments x {args.revisions} revisions in {len(spaces)} namespaces")
            populate(cluster, size, args.revisions, spaces)
            row = measure(cluster, size, spaces, args.runs)
            row["replicasets"] = size * args.revisions
            rows.append(row)
            log(json.dumps(row))
            (RESULTS / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        if not args.keep_cluster:
            # Its 5,000 Deployments would keep the controllers busy on 2 shared cores.
            log("stopping the scale cluster (--keep-cluster keeps it)")
            stop_local_cluster()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
