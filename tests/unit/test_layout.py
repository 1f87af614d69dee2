"""The layout ../shared/DESIGN.md makes binding, and the habits that keep the suite collectable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_operator_is_a_source_root_not_a_package() -> None:
    # A package named `operator` would shadow Python's stdlib module of that name.
    assert not (REPO / "operator/__init__.py").exists()
    assert (REPO / "operator/tourniquet/__init__.py").exists()


def test_test_module_names_are_unique_across_directories() -> None:
    # pytest's default import mode puts each test directory on sys.path: two modules
    # with one basename make the whole run fail to collect.
    names = Counter(p.name for p in (REPO / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []


def test_generated_and_kustomize_directories_exist() -> None:
    for path in (
        "crds",
        "config/crd",
        "config/rbac",
        "config/manager",
        "config/default",
        "config/policy",
        "config/samples",
        "charts/tourniquet/crds",
    ):
        assert (REPO / path).is_dir(), path
    samples = {p.name for p in (REPO / "config/samples").glob("*.yaml")}
    assert {
        "tourniquet.dev_v1alpha1_incident.yaml",
        "tourniquet.dev_v1alpha1_runbook.yaml",
    } <= samples
