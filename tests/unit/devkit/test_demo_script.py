"""The pure parts of `make demo` (devkit.demo.script): commands, manifests, /metrics lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import yaml
from devkit.demo.script import (
    approve_command,
    deployment_manifest,
    grep_pattern,
    incident_manifest,
    interesting_metric_lines,
    rbac_manifests,
    shown,
)
from devkit.manifests import to_yaml
from test_harness_metrics import METRICS

from tourniquet.core import lifecycle as incident_flow
from tourniquet.core.draft import Draft
from tourniquet.core.suspect import Suspect


def test_the_approve_command_is_the_one_the_incident_offers() -> None:
    # ... which is what the operator puts in status.mitigation.message for this incident.
    draft = Draft(incident_manifest(), datetime(2026, 11, 27, tzinfo=UTC))
    suspect = Suspect(
        deployment="api",
        replica_set="api-7c7fbdb47c",
        revision=2,
        previous_revision=1,
        rolled_out_at=datetime(2026, 11, 27, 10, tzinfo=UTC),
        change="api: registry.example/api:1.4.2 -> registry.example/api:1.4.3",
    )
    assert shown(approve_command(2)) == incident_flow.approve_command(draft, suspect)
    assert shown(approve_command(2)) == (
        "kubectl patch incident api-errors -n tourniquet-demo --subresource=status "
        "--type=merge -p "
        """'{"status":{"approval":{"approvedBy":"alice","kind":"Deployment","name":"api","""
        """"revision":2}}}'"""
    )
    assert '"approvedBy":"mallory"' in shown(approve_command(2, approver="mallory"))


def test_the_bad_release_differs_in_image_and_an_unsatisfiable_node_selector() -> None:
    good, bad = deployment_manifest("img:1"), deployment_manifest("img:2", bad=True)
    good_pod, bad_pod = good["spec"]["template"]["spec"], bad["spec"]["template"]["spec"]
    assert "nodeSelector" not in good_pod
    assert bad_pod["nodeSelector"]
    assert bad_pod["containers"][0]["image"] == "img:2"
    assert {k: v for k, v in bad_pod.items() if k not in ("nodeSelector", "containers")} == {
        k: v for k, v in good_pod.items() if k != "containers"
    }
    assert good["spec"]["progressDeadlineSeconds"] == 15
    assert good["spec"]["replicas"] == 3
    assert good["metadata"]["namespace"] == "tourniquet-demo"


def test_manifests_round_trip_through_yaml() -> None:
    docs = list(yaml.safe_load_all(to_yaml(*rbac_manifests(), incident_manifest())))
    assert [d["kind"] for d in docs] == ["RoleBinding", "Incident"]
    binding, incident = docs
    assert binding["metadata"]["namespace"] == "tourniquet-demo"
    # The shipped role with the verb approve, for the commander and the intruder alike.
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "tourniquet-commander",
    }
    assert [s["name"] for s in binding["subjects"]] == ["alice", "mallory"]
    assert incident["spec"]["roles"] == {"commander": "alice", "comms": "bob"}
    assert incident["spec"]["scope"] == {"selector": {"matchLabels": {"app": "api"}}}


def test_interesting_lines_leave_out_buckets_help_and_other_metrics() -> None:
    assert interesting_metric_lines(METRICS) == [
        'tourniquet_incident_time_to_resolve_seconds_count{severity="SEV1"} 2.0',
        'tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV1"} 30.0',
        'tourniquet_incident_time_to_resolve_seconds_count{severity="SEV2"} 1.0',
        'tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV2"} 60.0',
        'tourniquet_rollbacks_total{result="succeeded"} 1.0',
        'tourniquet_rollbacks_total{drill="true",result="succeeded"} 2.0',
    ]


def test_the_grep_the_demo_prints_selects_the_same_lines() -> None:
    pattern = re.compile(grep_pattern())
    selected = [line for line in METRICS.splitlines() if pattern.search(line)]
    assert selected == interesting_metric_lines(METRICS)
