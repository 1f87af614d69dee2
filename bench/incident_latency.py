"""Incident latency on the local control plane: apply-to-suspect, approval-to-undo, and
the operator's API requests per incident.

Brings up the local control plane (hack/cluster.sh up; reused when already running),
installs what `make install` installs, and works only in namespace tq-bench-latency
with ONE operator started for that namespace (`-n`, never `-A`). For each run it makes a
fresh Deployment api-<i> (v1, then v2), declares an Incident scoped to it, approves the
undo as the Incident Commander (user alice, by impersonation), and resolves it.

Measured per run:
  (a) apply -> suspect   from `kubectl apply` of the Incident returning to the first watch
                         event showing status.suspect
  (b) approve -> undo    from the approval `kubectl patch --subresource=status --as=alice`
                         returning to the first watch event of the Deployment with a higher
                         metadata.generation and the v1 image back in its template
  (c) API requests       the operator's tourniquet_api_requests_total (summed over labels),
                         from just before the apply to the incident Resolved (also reported
                         up to Mitigated, and by verb/resource)
plus approve -> Mitigated, and the undo's rollout completing -> Mitigated (how long the
operator takes to notice). A run disturbed from outside the operator (the shared cluster:
another test removing the cluster-wide approval policy binding, so the approval is rightly
refused as ApprovalUnverified) is discarded and replaced, and reported as such.

Timing method: two long-running watches, `kubectl get incidents|deployments -n NS -w
--output-watch-events -o json`, read line by line on background threads; each event is
stamped with time.monotonic() the moment its line arrives. No polling: the resolution is
the watch delivery latency (API server -> kubectl -> pipe, typically a few ms), not a poll
interval. The "returning" instants are time.monotonic() right after the kubectl process
exits; the operator can be faster than that exit, so (a) is occasionally slightly
negative. Both spans are therefore also reported on the watch clock alone: the
Incident's ADDED event -> suspect, and the event showing status.approval -> undo.

    .venv/bin/python -m bench.incident_latency [--runs N] [--json-out PATH]   (from the repo)

The harness (kubectl, the operator process, watches, polls) is devkit's; the runs are
bench/latency_runs.py's, the figures bench/report.py's.

Cleanup (also on failure or Ctrl-C): incidents deleted while the operator still runs
(it owns their finalizer), then the operator stopped, then the namespace deleted. The
cluster itself is left running (it is shared). The operator runs as its ServiceAccount
(a token, bench/results/operator.kubeconfig), never as cluster admin.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devkit import manifests
from devkit.cluster import local_cluster
from devkit.identity import operator_cluster
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.watch import Watch

from bench.latency_runs import (
    MAX_DISCARDED,
    NAMESPACE,
    PIDFILE,
    RESULTS,
    Interfered,
    Run,
    bench_incident,
    count_kopf_events,
    has,
    log,
    one_run,
    record_history,
    settle_discarded,
    setup,
    teardown,
)
from bench.report import format_report, summarize

# -- the benchmark ---------------------------------------------------------------------


def warm_up(cluster: Cluster, operator: OperatorProcess, incidents: Watch) -> dict[str, float]:
    """The first incident waits for kopf's watches and index pre-population; it is
    reported, not counted."""
    mark = incidents.mark()
    cluster.apply(bench_incident("warmup", "no-such-app"))
    applied = time.monotonic()
    first = incidents.wait(
        has("warmup", "phase"), since=mark, timeout=120, what="the warm-up incident's status"
    )
    cluster.kubectl("delete", "incident", "warmup", "-n", NAMESPACE, "--timeout=60s")
    cold = {
        "operator_start_to_first_status": first.at - operator.started_at,
        "apply_to_first_status": first.at - applied,
    }
    log(
        f"warm-up: first status {cold['apply_to_first_status']:.3f}s after apply,"
        f" {cold['operator_start_to_first_status']:.1f}s after the operator started"
    )
    return cold


def bench(runs: int, json_out: Path | None, operator_verbose: bool = False) -> dict[str, Any]:
    cluster = local_cluster()
    server = cluster.version()
    log(f"cluster up (server {server.get('gitVersion', '?')}); setting up {NAMESPACE}")
    setup(cluster)
    operator: OperatorProcess | None = None
    watches: list[Watch] = []
    results: list[Run] = []
    discarded: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        incidents = Watch(cluster, f"incidents.{manifests.GROUP}", NAMESPACE).start()
        deployments = Watch(cluster, "deployments.apps", NAMESPACE).start()
        watches = [incidents, deployments]
        log_path = RESULTS / "operator-latest.log"
        log_path.unlink(missing_ok=True)
        # As its own ServiceAccount (a token), never as cluster admin: as in production.
        identity = operator_cluster(cluster, RESULTS / "operator.kubeconfig")
        operator = OperatorProcess(
            identity,
            NAMESPACE,
            log_path,
            args=["-v"] if operator_verbose else [],
            tuning=(),  # the operator's own defaults: the figures are production's
            pidfile=PIDFILE,
        ).start(wait=False)
        operator.wait_healthy(timeout=60)
        log(f"operator pid {operator.pid}, metrics on 127.0.0.1:{operator.port}")
        cold = warm_up(cluster, operator, incidents)
        i = 0
        while len(results) < runs:
            i += 1
            try:
                run = one_run(i, cluster, operator, incidents, deployments)
            except Interfered as exc:
                discarded.append({"run": i, "reason": str(exc)})
                log(f"run {i:>2}: DISCARDED, disturbed from outside the operator: {exc}")
                if len(discarded) > MAX_DISCARDED:
                    raise RuntimeError(f"{len(discarded)} runs disturbed; giving up") from exc
                settle_discarded(cluster, incidents, f"inc-{i}")
                continue
            record_history(run, incidents)
            results.append(run)
            log(
                f"run {len(results):>2}/{runs}: apply->suspect"
                f" {run.apply_to_suspect * 1000:7.1f} ms,"
                f" approve->undo {run.approve_to_undo * 1000:7.1f} ms,"
                f" approve->Mitigated {run.approve_to_mitigated:5.2f} s,"
                f" requests {run.requests_total}"
            )
        count_kopf_events(cluster, results)
        out = summarize(results, cold, server, incidents.restarts + deployments.restarts)
        out["discarded_runs"] = discarded
    except BaseException as exc:
        failure = exc
        raise
    finally:
        log("cleaning up: incidents, then the operator, then the namespace")
        # A second Ctrl-C must not leave the namespace half torn down; every step is
        # bounded by a timeout (and a killed bench is cleaned up by the next run).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            problems = teardown(cluster, operator, watches)
        finally:
            signal.signal(signal.SIGINT, previous)
        for problem in problems:
            log(f"WARNING: {problem}")
        if out:
            out["cleanup_problems"] = problems
            out["operator_log"] = str(operator.log_path) if operator else None
            if json_out is not None:
                json_out.parent.mkdir(parents=True, exist_ok=True)
                json_out.write_text(json.dumps(out, indent=2) + "\n")
                out["json_out"] = str(json_out)
        elif failure is not None and operator is not None:
            log(f"failed: {failure!r}; operator log: {operator.log_path}")
    return out


def add_arguments(parser: argparse.ArgumentParser, json_out: str) -> None:
    """The options of this benchmark (bench/run.py offers them too)."""
    parser.add_argument("--runs", type=int, default=20, help="incidents to measure [20]")
    parser.add_argument(
        "--json-out", type=Path, default=RESULTS / "latest.json", help=f"{json_out} [%(default)s]"
    )
    parser.add_argument(
        "--operator-verbose",
        action="store_true",
        help="run the operator with -v (debug logs in bench/results/operator-latest.log;"
        " slows it down, so latencies are not comparable)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, "where to write the JSON summary")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    out = bench(args.runs, args.json_out, args.operator_verbose)
    print(format_report(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
