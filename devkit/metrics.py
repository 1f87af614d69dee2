"""Prometheus text exposition, read the way a test or a dashboard reads it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str) -> Iterator[Sample]:
    """Every sample of every family (histograms as their _bucket, _sum and _count)."""
    for family in text_string_to_metric_families(text):
        yield from family.samples


def metric_sum(text: str, name: str, exact: bool = False, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (exactly `labels` with
    exact=True). A name matches only itself, never a longer name it is a prefix of."""
    return labelled_sum(text, name, labels, exact)


def labelled_sum(text: str, name: str, labels: Mapping[str, str], exact: bool = False) -> float:
    """metric_sum with the labels as a mapping."""
    total = 0.0
    for sample in samples(text):
        if sample.name != name:
            continue
        wanted = all(sample.labels.get(k) == v for k, v in labels.items())
        if wanted and (not exact or sample.labels == labels):
            total += float(sample.value)
    return total


def metric_by(text: str, name: str, *label_names: str) -> Counter[tuple[str, ...]]:
    """The samples of `name` summed by the values of `label_names`."""
    counts: Counter[tuple[str, ...]] = Counter()
    for sample in samples(text):
        if sample.name == name:
            key = tuple(sample.labels.get(label, "") for label in label_names)
            counts[key] += int(sample.value)
    return counts


def histogram_mean(text: str, histogram: str, **labels: str) -> float | None:
    """_sum / _count of a histogram (over all label values but `labels`); None before
    any observation. MTTR is this over tourniquet_incident_time_to_resolve_seconds."""
    count = labelled_sum(text, f"{histogram}_count", labels)
    if count <= 0:
        return None
    return labelled_sum(text, f"{histogram}_sum", labels) / count
