"""Options shared by the whole suite: which cluster the e2e tests drive."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tourniquet", "Tourniquet e2e cluster")
    group.addoption(
        "--cluster",
        choices=("local", "kind", "existing"),
        default=os.environ.get("TOURNIQUET_TEST_CLUSTER", "local"),
        help=(
            "local: the control plane built from pinned sources (hack/cluster.sh, default); "
            "kind: a kind cluster through pytest-kind (needs Docker); "
            "existing: the current kubeconfig context (needs --allow-existing-cluster)."
        ),
    )
    group.addoption(
        "--kube-context",
        default=os.environ.get("TOURNIQUET_TEST_CONTEXT"),
        help="kubeconfig context for --cluster=existing (default: the current context).",
    )
    group.addoption(
        "--allow-existing-cluster",
        action="store_true",
        default=os.environ.get("TOURNIQUET_ALLOW_EXISTING_CLUSTER") == "1",
        help="Let e2e tests create and delete namespaces and CRDs in an existing cluster.",
    )
