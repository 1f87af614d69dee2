"""The samples in config/samples are what a team copies first: each must be valid."""

from __future__ import annotations

from devkit.kubectl import Cluster
from devkit.paths import REPO


def test_every_sample_is_accepted_by_the_api_server(
    tourniquet_installed: Cluster, namespace: str
) -> None:
    result = tourniquet_installed.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-k", str(REPO / "config/samples")
    )
    created = [line for line in result.stdout.splitlines() if "created (server dry run)" in line]
    samples = [p for p in (REPO / "config/samples").glob("tourniquet.dev_*.yaml")]
    assert len(created) == len(samples) >= 2, result.stdout
