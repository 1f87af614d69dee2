"""`make bench`: suspect search over large indexes (pure), then incident latency on the
local control plane, with a readable summary and the goals each one states.

    .venv/bin/python -m bench.run [--runs N] [--repeat N] [--skip-cluster] [--skip-suspect]

The combined JSON summary goes to bench/results/latest.json (not committed). Exits 1
when a goal is missed, 2 when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench import incident_latency, report, suspect_search


def headline(summary: dict[str, Any]) -> list[str]:
    """The numbers worth a glance, one line each."""
    lines = []
    search = summary.get("suspect_search")
    if search:
        one, many, mem = search["one_namespace"], search["many_namespaces"], search["memory"]
        lines.append(
            f"find_suspect over {one['replicasets']:,} RS: median"
            f" {one['no_selector']['median_ms']:.1f} ms (p95 {one['no_selector']['p95_ms']:.1f})"
            f" no selector, {one['match_labels_one']['median_ms']:.1f} ms with matchLabels;"
            f" 1 of {many['namespaces']} namespaces: {many['no_selector']['median_ms']:.2f} ms"
        )
        lines.append(
            f"projections: {mem['bytes_per_deployment_view']:.0f} B per DeploymentView,"
            f" {mem['bytes_per_replicaset_view']:.0f} B per ReplicaSetView"
            f" ({mem['bytes_per_deployment_in_index']:.0f} /"
            f" {mem['bytes_per_replicaset_in_index']:.0f} B inside kopf's index)"
        )
    latency = summary.get("incident_latency")
    if latency:
        a, b = latency["apply_to_suspect_ms"], latency["approve_to_undo_ms"]
        m, req = latency["approve_to_mitigated_s"], latency["requests_per_incident"]
        lines.append(
            f"apply -> suspect {a['median']:.1f} / {a['p90']:.1f} / {a['max']:.1f} ms"
            f" (median / p90 / max over {latency['runs']} incidents)"
        )
        lines.append(
            f"approval -> undo patch {b['median']:.1f} / {b['p90']:.1f} / {b['max']:.1f} ms;"
            f" approval -> Mitigated {m['median']:.2f} / {m['p90']:.2f} / {m['max']:.2f} s"
        )
        lines.append(f"operator API requests per incident: median {req['median_total']:g}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    incident_latency.add_arguments(parser, "the combined JSON summary")
    parser.add_argument(
        "--repeat", type=int, default=30, help="timed find_suspect calls per case [30]"
    )
    parser.add_argument(
        "--skip-cluster", action="store_true", help="only the pure suspect-search benchmark"
    )
    parser.add_argument(
        "--skip-suspect", action="store_true", help="only the incident-latency benchmark"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeat < 1:
        parser.error("--runs and --repeat must be at least 1")

    started = time.monotonic()
    summary: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    reports: list[str] = []
    errors: list[str] = []

    if not args.skip_suspect:
        print("== suspect search over large indexes (pure, no cluster) ...", flush=True)
        result = suspect_search.run(repeat=args.repeat)
        summary["suspect_search"] = result
        reports.append(suspect_search.format_report(result))
        print(reports[-1], flush=True)

    if not args.skip_cluster:
        print(f"\n== incident latency on the local control plane ({args.runs} runs) ...")
        try:
            result = incident_latency.bench(args.runs, None, args.operator_verbose)
        except Exception as exc:
            traceback.print_exc()
            errors.append(f"incident latency: {type(exc).__name__}: {exc}")
        else:
            summary["incident_latency"] = result
            reports.append(report.format_report(result))
            print(reports[-1], flush=True)

    goals = [
        g
        for part in ("suspect_search", "incident_latency")
        for g in summary.get(part, {}).get("goals", [])
    ]
    missed = [g for g in goals if not g["ok"]]
    summary["ok"] = not missed and not errors
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n")

    print("\n== summary")
    for line in headline(summary):
        print(f"  {line}")
    for error in errors:
        print(f"  ERROR  {error}")
    for g in missed:
        print(f"  MISSED {g['goal']}: {g['value']:.2f} {g['unit']} > {g['limit']} {g['unit']}")
    verdict = "all goals met" if summary["ok"] else "FAILED"
    print(
        f"bench: {len(goals) - len(missed)}/{len(goals)} goals met, {verdict}"
        f" ({time.monotonic() - started:.0f}s); JSON summary: {args.json_out}"
    )
    if errors:
        return 2
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
