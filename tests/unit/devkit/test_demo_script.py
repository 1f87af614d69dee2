"""The pure parts of `make demo` (devkit.demo): commands, manifests, metrics arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml
from devkit.demo import (
    approve_command,
    deployment_manifest,
    incident_manifest,
    interesting_metric_lines,
    mean_seconds,
    metric_samples,
    metric_total,
    rbac_manifests,
    revision,
    shown,
    to_yaml,
)

from tourniquet.core import lifecycle as incident_flow

METRICS = """\
# HELP tourniquet_incident_time_to_resolve_seconds From impact start to the all-clear.
# TYPE tourniquet_incident_time_to_resolve_seconds histogram
tourniquet_incident_time_to_resolve_seconds_bucket{le="60.0",severity="SEV1"} 1.0
tourniquet_incident_time_to_resolve_seconds_count{severity="SEV1"} 2.0
tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV1"} 30.0
tourniquet_incident_time_to_resolve_seconds_count{severity="SEV2"} 1.0
tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV2"} 60.0
tourniquet_rollbacks_total{result="succeeded"} 1.0
tourniquet_incidents_open{severity="SEV1"} 0.0
tourniquet_api_requests_total{resource="deployments",verb="get"} 4.0
"""


def test_the_approve_command_is_the_one_the_incident_offers() -> None:
    offered = (
        "kubectl patch incident api-errors -n tourniquet-demo --subresource=status "
        """--type=merge -p '{"status":{"approval":{"approvedBy":"alice","revision":2}}}'"""
    )
    assert shown(approve_command(2)) == offered
    # ... which is what the operator puts in status.mitigation.message for this incident.
    draft = incident_flow.Draft(incident_manifest(), datetime(2026, 11, 27, tzinfo=UTC))
    assert incident_flow.approve_command(draft, 2) == offered
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


def test_manifests_round_trip_through_yaml() -> None:
    docs = list(yaml.safe_load_all(to_yaml(*rbac_manifests(), incident_manifest())))
    assert [d["kind"] for d in docs] == ["ClusterRole", "RoleBinding", "Incident"]
    role, binding, incident = docs
    assert role["metadata"]["name"].startswith("tourniquet-demo-")
    assert "namespace" not in role["metadata"]
    assert binding["metadata"]["namespace"] == "tourniquet-demo"
    assert [s["name"] for s in binding["subjects"]] == ["alice", "mallory"]
    assert incident["spec"]["roles"] == {"commander": "alice", "comms": "bob"}
    assert incident["spec"]["scope"] == {"selector": {"matchLabels": {"app": "api"}}}


def test_metric_samples_parse_names_labels_and_values() -> None:
    samples = metric_samples(METRICS)
    assert samples['tourniquet_rollbacks_total{result="succeeded"}'] == 1.0
    assert not any(key.startswith("#") for key in samples)
    assert metric_total(samples, "tourniquet_incident_time_to_resolve_seconds_count") == 3.0
    # A name is not a prefix match on another metric's name.
    assert metric_total(samples, "tourniquet_incident_time_to_resolve_seconds") == 0.0


def test_mttr_is_sum_over_count_across_severities() -> None:
    samples = metric_samples(METRICS)
    assert mean_seconds(samples, "tourniquet_incident_time_to_resolve_seconds") == 30.0
    assert mean_seconds(samples, "tourniquet_incident_time_to_mitigate_seconds") is None


def test_interesting_lines_leave_out_buckets_help_and_other_metrics() -> None:
    lines = interesting_metric_lines(METRICS)
    assert lines == [
        'tourniquet_incident_time_to_resolve_seconds_count{severity="SEV1"} 2.0',
        'tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV1"} 30.0',
        'tourniquet_incident_time_to_resolve_seconds_count{severity="SEV2"} 1.0',
        'tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV2"} 60.0',
        'tourniquet_rollbacks_total{result="succeeded"} 1.0',
        'tourniquet_incidents_open{severity="SEV1"} 0.0',
    ]


def test_revision_reads_the_deployment_annotation() -> None:
    annotated = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}}}
    assert revision(annotated) == 3
    assert revision({"metadata": {}}) == 0
    assert revision({}) == 0
