"""`tourniquet runbooks ...`: runbook coverage and offline validation.

tourniquet runbooks uncovered [-n NS]... [-o json] [--exit-code]
    alerts that declared incidents no runbook answers, and (where the PrometheusRule
    CRD exists) alerting rules no runbook answers
tourniquet runbooks validate PATH...
    check Runbook YAML files (or directories of them) by the API server's rules,
    without a cluster: for CI on a GitOps repository
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import yaml

from tourniquet.api.names import GROUP, VERSION
from tourniquet.core.runbooks import (
    RunbookView,
    UnansweredAlert,
    UncoveredRule,
    alerts_without_runbook,
    runbook_view,
    uncovered_rules,
    validate,
)

PROMETHEUS_RULES = ("monitoring.coreos.com", "v1", "prometheusrules")


def add_parser(sub: Any) -> None:
    """`runbooks` and its subcommands, on the top-level subparsers."""
    runbooks = sub.add_parser("runbooks", help="runbook coverage and validation")
    commands = runbooks.add_subparsers(dest="runbooks_command", required=True)
    uncovered = commands.add_parser(
        "uncovered",
        help="alerts that arrived with no runbook, and PrometheusRule alerts without one",
    )
    uncovered.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="only this namespace (repeatable; default: every namespace)",
    )
    uncovered.add_argument("-o", "--output", choices=("text", "json"), default="text")
    uncovered.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when anything is uncovered (for CI and cron jobs)",
    )
    check = commands.add_parser(
        "validate", help="check Runbook YAML files offline by the API server's rules"
    )
    check.add_argument("paths", nargs="+", type=Path, help="YAML files or directories")


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.runbooks_command == "validate":
        return validate_files(args.paths, out)
    return uncovered(args.namespace, args.output, args.exit_code, out)


# --- uncovered --------------------------------------------------------------------------------


def _list(api: Any, group: str, version: str, plural: str, namespaces: Sequence[str]) -> list[Any]:
    if not namespaces:
        return list(api.list_cluster_custom_object(group, version, plural).get("items", []))
    items: list[Any] = []
    for namespace in namespaces:
        obj = api.list_namespaced_custom_object(group, version, namespace, plural)
        items.extend(obj.get("items", []))
    return items


def _prometheus_rules(api: Any, namespaces: Sequence[str]) -> list[Any] | None:
    """PrometheusRule objects, or None when the CRD is not installed."""
    from kubernetes.client.exceptions import ApiException

    try:
        return _list(api, *PROMETHEUS_RULES, namespaces)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def coverage(
    incidents: Iterable[Mapping[str, Any]],
    runbooks: Iterable[Mapping[str, Any]],
    rules: Iterable[Mapping[str, Any]] | None,
) -> tuple[list[UnansweredAlert], list[UncoveredRule] | None]:
    views: list[RunbookView] = [runbook_view(r) for r in runbooks]
    return (
        alerts_without_runbook(incidents),
        None if rules is None else uncovered_rules(rules, views),
    )


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


def report(
    alerts: Sequence[UnansweredAlert],
    rules: Sequence[UncoveredRule] | None,
    output: str,
    out: TextIO,
) -> None:
    if output == "json":
        json.dump(
            {
                "alertsWithoutRunbook": [asdict(a) for a in alerts],
                "rulesWithoutRunbook": None if rules is None else [asdict(r) for r in rules],
            },
            out,
            indent=2,
        )
        out.write("\n")
        return
    out.write("Alerts that declared incidents with no runbook:\n")
    if alerts:
        _table(
            [("NAMESPACE", "INCIDENT", "ALERTNAME", "SEVERITY", "DECLARED")]
            + [(a.namespace, a.incident, a.alertname, a.severity, a.declared_at) for a in alerts],
            out,
        )
    else:
        out.write("  none: every alert that arrived had a runbook\n")
    out.write("\nPrometheusRule alerts with no runbook:\n")
    if rules is None:
        out.write("  (the PrometheusRule CRD is not installed: no rules to check)\n")
    elif rules:
        _table(
            [("NAMESPACE", "PROMETHEUSRULE", "GROUP", "ALERT", "SEVERITY")]
            + [(r.namespace, r.rule, r.group, r.alert, r.severity) for r in rules],
            out,
        )
    else:
        out.write("  none: a runbook answers every alerting rule\n")


def uncovered(namespaces: Sequence[str], output: str, exit_code: bool, out: TextIO) -> int:
    import kubernetes

    from tourniquet.shell.kube import load_config

    load_config()
    api = kubernetes.client.CustomObjectsApi()
    incidents = _list(api, GROUP, VERSION, "incidents", namespaces)
    runbooks = _list(api, GROUP, VERSION, "runbooks", namespaces)
    alerts, rules = coverage(incidents, runbooks, _prometheus_rules(api, namespaces))
    report(alerts, rules, output, out)
    return 1 if exit_code and (alerts or rules) else 0


# --- validate ---------------------------------------------------------------------------------


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def validate_files(paths: Iterable[Path], out: TextIO) -> int:
    """Every Runbook document in ``paths``, checked; 1 when one is not valid."""
    checked = failed = 0
    for path in _files(paths):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            out.write(f"{path}: cannot read: {exc}\n")
            failed += 1
            continue
        for doc in documents:
            if not isinstance(doc, dict) or doc.get("kind") != "Runbook":
                continue
            checked += 1
            name = (doc.get("metadata") or {}).get("name", "?")
            problems = validate(doc.get("spec"))
            if problems:
                failed += 1
                for problem in problems:
                    out.write(f"{path}: runbook {name}: {problem.reason}: {problem.message}\n")
            else:
                out.write(f"{path}: runbook {name}: valid\n")
    out.write(f"{checked} runbook(s) checked, {failed} not valid\n")
    return 1 if failed or not checked else 0
