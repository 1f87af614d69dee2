"""The figures and how they read: percentiles and goals (shared by both benchmarks), and
the incident-latency summary (JSON) and report (text)."""

from __future__ import annotations

import hashlib
import math
import statistics
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from devkit.paths import REPO

if TYPE_CHECKING:
    from bench.latency_runs import Run

# Goals, chosen after measuring on the 2-core development machine (shared with other
# engineers' e2e runs and Go builds), where the medians were 5-9 ms, 30-65 ms, 1.84-1.96 s
# (the undo's rollout is only noticed on the operator's 2 s resync tick) and 18-19
# requests. Latency goals have >= 3x headroom over the worst median seen; the request
# budget catches a new call per resync or per event (e.g. a LIST every 2 s) without
# tripping on one extra status write.
GOAL_APPLY_TO_SUSPECT_MS = 250.0
# Not headroom but the target the flat-cost issue set: the undo at its physical floor.
# The floor rows show what a claim then a patch cost on their own, on the same objects.
GOAL_APPROVE_TO_UNDO_MS = 20.0
GOAL_APPROVE_TO_MITIGATED_S = 6.0
GOAL_REQUESTS_PER_INCIDENT = 30


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "max": max(values),
        "min": min(values),
    }


def goal(name: str, value: float, limit: float, unit: str) -> dict[str, Any]:
    return {"goal": name, "value": value, "limit": limit, "unit": unit, "ok": value <= limit}


def source_state() -> dict[str, Any]:
    """Which operator code was measured: the tree may hold uncommitted work."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    sources = sorted((REPO / "operator" / "tourniquet").rglob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    dirty = git("status", "--porcelain", "--", "operator", "crds", "config")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": dirty.splitlines(),
        "operator_sources_sha256": digest[:16],
    }


def summarize(
    runs: Sequence[Run], cold: Mapping[str, float], server: Mapping[str, Any], restarts: int
) -> dict[str, Any]:
    ms = 1000.0
    writes: Counter[str] = Counter()
    by_call: Counter[str] = Counter()
    for run in runs:
        writes.update(run.incident_writes)
        by_call.update(run.requests_by_call)
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_version": server.get("gitVersion"),
        "source": source_state(),
        "runs": len(runs),
        "method": (
            "kubectl get -w --output-watch-events -o json on incidents and deployments, "
            "each event stamped with time.monotonic() on arrival (no polling); start "
            "instants are time.monotonic() after the kubectl apply/patch process exits"
        ),
        "watch_restarts": restarts,
        "warmup": dict(cold),
        "apply_to_suspect_ms": stats([r.apply_to_suspect * ms for r in runs]),
        "added_event_to_suspect_ms": stats([r.added_to_suspect * ms for r in runs]),
        "approve_to_undo_ms": stats([r.approve_to_undo * ms for r in runs]),
        "approval_event_to_undo_ms": stats([r.approval_seen_to_undo * ms for r in runs]),
        "floor_claim_ms": stats([r.floor_claim_ms for r in runs]),
        "floor_patch_ms": stats([r.floor_patch_ms for r in runs]),
        "floor_claim_plus_patch_ms": stats([r.floor_claim_ms + r.floor_patch_ms for r in runs]),
        "approve_to_mitigated_s": stats([r.approve_to_mitigated for r in runs]),
        # NaN when the watch showed no completed rollout before Mitigated.
        "rollout_complete_to_mitigated_s": stats(
            [
                r.rollout_complete_to_mitigated
                for r in runs
                if not math.isnan(r.rollout_complete_to_mitigated)
            ]
            or [math.nan]
        ),
        "requests_per_incident": {
            "median_total": statistics.median(r.requests_total for r in runs),
            "median_to_mitigated": statistics.median(r.requests_to_mitigated for r in runs),
            "min_total": min(r.requests_total for r in runs),
            "max_total": max(r.requests_total for r in runs),
            "mean_by_call": {k: v / len(runs) for k, v in sorted(by_call.items())},
        },
        "kopf_events_per_incident_median": statistics.median(r.events_posted for r in runs),
        "incident_writes_mean": {k: v / len(runs) for k, v in sorted(writes.items())},
        "per_run": [run.__dict__ for run in runs],
    }
    out["goals"] = [
        goal("(a) apply -> suspect: median", out["apply_to_suspect_ms"]["median"],
             GOAL_APPLY_TO_SUSPECT_MS, "ms"),
        goal("(b) approval -> Deployment patched: median", out["approve_to_undo_ms"]["median"],
             GOAL_APPROVE_TO_UNDO_MS, "ms"),
        goal("approval -> Mitigated: median", out["approve_to_mitigated_s"]["median"],
             GOAL_APPROVE_TO_MITIGATED_S, "s"),
        goal("(c) operator API requests per incident: median",
             out["requests_per_incident"]["median_total"], GOAL_REQUESTS_PER_INCIDENT, ""),
    ]  # fmt: skip
    out["ok"] = all(g["ok"] for g in out["goals"])
    return out


def format_report(out: Mapping[str, Any]) -> str:
    a, b = out["apply_to_suspect_ms"], out["approve_to_undo_ms"]
    a2, b2 = out["added_event_to_suspect_ms"], out["approval_event_to_undo_ms"]
    m, req = out["approve_to_mitigated_s"], out["requests_per_incident"]
    src = out["source"]
    dirty = f", {len(src['uncommitted_changes'])} uncommitted" if src["uncommitted_changes"] else ""

    def row(title: str, t: Mapping[str, float], unit: str, fmt: str) -> str:
        return (
            f"  {title:<48} median {t['median']:{fmt}} {unit:<2}  p90 {t['p90']:{fmt}} {unit:<2}"
            f"  max {t['max']:{fmt}} {unit}"
        )

    lines = [
        f"Incident latency on the local control plane (Kubernetes {out['server_version']},"
        f" operator at {src['commit']}{dirty}; {out['runs']} runs)",
        "  timing: kubectl watches, each event stamped on arrival (resolution ~1 ms, no polling)",
        row("(a) apply returned -> status.suspect", a, "ms", "7.1f"),
        row("    watch ADDED -> status.suspect", a2, "ms", "7.1f"),
        row("(b) approval returned -> Deployment patched", b, "ms", "7.1f"),
        row("    watch status.approval -> Deployment patched", b2, "ms", "7.1f"),
        row("    floor: the claim's status patch alone", out["floor_claim_ms"], "ms", "7.1f"),
        row("    floor: the undo's Deployment patch alone", out["floor_patch_ms"], "ms", "7.1f"),
        row(
            "    floor: the two, one after the other",
            out["floor_claim_plus_patch_ms"],
            "ms",
            "7.1f",
        ),
        row("approval returned -> phase Mitigated", m, "s", "7.2f"),
        row(
            "    undo rollout complete -> phase Mitigated",
            out["rollout_complete_to_mitigated_s"],
            "s",
            "7.2f",
        ),
        f"  (c) operator API requests per incident (apply .. Resolved): median"
        f" {req['median_total']:g} (min {req['min_total']}, max {req['max_total']});"
        f" {req['median_to_mitigated']:g} up to Mitigated",
    ]
    calls = ", ".join(f"{k} {v:.1f}" for k, v in req["mean_by_call"].items())
    lines.append(f"      mean by call: {calls}")
    writes = ", ".join(f"{k} {v:.1f}" for k, v in out["incident_writes_mean"].items())
    lines.append(f"      Incident changes seen on the watch (mean): {writes}")
    lines.append(
        "      not in the metric: kopf's own writes (finalizer, annotations) and Events"
        f" it posts: median {out['kopf_events_per_incident_median']:g} Events per incident"
    )
    warm = out["warmup"]
    lines.append(
        f"  warm-up incident (not counted): first status {warm['apply_to_first_status'] * 1000:.0f}"
        f" ms after apply, {warm['operator_start_to_first_status']:.1f} s after operator start"
    )
    for d in out.get("discarded_runs", []):
        lines.append(f"  DISCARDED run {d['run']} (disturbed from outside): {d['reason'][:160]}")
    if out.get("watch_restarts"):
        lines.append(f"  NOTE: the kubectl watches restarted {out['watch_restarts']} time(s)")
    for problem in out.get("cleanup_problems", []):
        lines.append(f"  cleanup: {problem}")
    lines.append(" goals:")
    for g in out["goals"]:
        mark = "ok  " if g["ok"] else "MISS"
        value = f"{g['value']:9.2f} {g['unit']:<2}"
        lines.append(f"  [{mark}] {g['goal']:<62} {value} <= {g['limit']} {g['unit']}")
    if out.get("operator_log"):
        lines.append(f"  operator log: {out['operator_log']}")
    if out.get("json_out"):
        lines.append(f"  JSON summary: {out['json_out']}")
    return "\n".join(lines)
