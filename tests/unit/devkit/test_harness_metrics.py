"""devkit.metrics: Prometheus text read as tests, the demo and the benchmarks read it."""

from __future__ import annotations

from devkit.metrics import histogram_mean, metric_by, metric_sum

METRICS = """\
# HELP tourniquet_incident_time_to_resolve_seconds From impact start to the all-clear.
# TYPE tourniquet_incident_time_to_resolve_seconds histogram
tourniquet_incident_time_to_resolve_seconds_bucket{le="60.0",severity="SEV1"} 1.0
tourniquet_incident_time_to_resolve_seconds_count{severity="SEV1"} 2.0
tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV1"} 30.0
tourniquet_incident_time_to_resolve_seconds_count{severity="SEV2"} 1.0
tourniquet_incident_time_to_resolve_seconds_sum{severity="SEV2"} 60.0
# TYPE tourniquet_rollbacks_total counter
tourniquet_rollbacks_total{result="succeeded"} 1.0
tourniquet_rollbacks_total{drill="true",result="succeeded"} 2.0
# TYPE tourniquet_api_requests_total counter
tourniquet_api_requests_total{resource="deployments",verb="get"} 4.0
tourniquet_api_requests_total{resource="incidents",verb="patch"} 3.0
tourniquet_api_requests_total{resource="deployments",verb="patch"} 1.0
"""


def test_metric_sum_adds_the_samples_whose_labels_include_the_given_ones() -> None:
    assert metric_sum(METRICS, "tourniquet_rollbacks_total") == 3.0
    assert metric_sum(METRICS, "tourniquet_rollbacks_total", result="succeeded") == 3.0
    assert metric_sum(METRICS, "tourniquet_rollbacks_total", drill="true") == 2.0
    assert metric_sum(METRICS, "tourniquet_api_requests_total", verb="patch") == 4.0


def test_exact_labels_leave_out_other_series() -> None:
    assert metric_sum(METRICS, "tourniquet_rollbacks_total", exact=True, result="succeeded") == 1.0


def test_a_name_is_not_a_prefix_of_longer_names() -> None:
    ttr = "tourniquet_incident_time_to_resolve_seconds"
    assert metric_sum(METRICS, f"{ttr}_count") == 3.0
    assert metric_sum(METRICS, ttr) == 0.0
    assert metric_sum(METRICS, "tourniquet_no_such_metric") == 0.0


def test_mttr_is_sum_over_count_across_severities_or_for_one() -> None:
    ttr = "tourniquet_incident_time_to_resolve_seconds"
    assert histogram_mean(METRICS, ttr) == 30.0
    assert histogram_mean(METRICS, ttr, severity="SEV2") == 60.0
    assert histogram_mean(METRICS, "tourniquet_incident_time_to_mitigate_seconds") is None


def test_metric_by_sums_per_label_values() -> None:
    assert metric_by(METRICS, "tourniquet_api_requests_total", "verb", "resource") == {
        ("get", "deployments"): 4,
        ("patch", "incidents"): 3,
        ("patch", "deployments"): 1,
    }
