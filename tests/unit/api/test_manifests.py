"""The manifest generator: structural schemas, the CRDs, the approval policy, and drift."""

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from tourniquet.api import manifests
from tourniquet.api.models import (
    BLANK_QUERY_MESSAGE,
    COMMANDER_REQUIRED_MESSAGE,
    INCIDENT,
    INVALID_REGEX_MESSAGE,
    LABEL_NAME_MESSAGE,
    LABEL_NAME_PATTERN,
    RESOLVED_IS_FINAL_MESSAGE,
    RESOURCES,
    RUNBOOK,
    SPEC_ALERT_IMMUTABLE_MESSAGE,
    ApiModel,
    CustomResource,
    IncidentSpec,
)
from tourniquet.api.policies import approval_policy, confinement_policy

REPO = Path(__file__).resolve().parents[3]
RENDERED = manifests.render()


def crd(resource: CustomResource) -> dict[str, Any]:
    return manifests.custom_resource_definition(resource)


def schema(resource: CustomResource) -> dict[str, Any]:
    version = crd(resource)["spec"]["versions"][0]
    openapi: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return openapi


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def at(resource: CustomResource, path: str) -> dict[str, Any]:
    node = schema(resource)
    for part in path.strip(".").split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


ALL = pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)


# --- structural schema ------------------------------------------------------------------


@ALL
def test_schema_is_structural(resource: CustomResource) -> None:
    forbidden = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "propertyNames"}
    forbidden |= {"nullable", "x-kubernetes-preserve-unknown-fields"}
    text = yaml.safe_dump(schema(resource))
    assert "$ref" not in text and "$defs" not in text
    for path, node in nodes(schema(resource)):
        assert not forbidden & set(node), path
        assert "type" in node, path
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


@ALL
def test_every_field_has_a_description(resource: CustomResource) -> None:
    for path, node in nodes(schema(resource)):
        if path and not path.endswith(("[]", "{}")) and path != ".metadata":
            assert node.get("description"), path


@ALL
def test_every_string_list_and_map_is_bounded(resource: CustomResource) -> None:
    counts = {"string": 0, "array": 0, "map": 0}
    for path, node in nodes(schema(resource)):
        if path in (".apiVersion", ".kind"):
            continue
        if node["type"] == "string":
            assert "maxLength" in node, path
            counts["string"] += 1
        if node["type"] == "array":
            assert "maxItems" in node, path
            counts["array"] += 1
        if "additionalProperties" in node:
            assert "maxProperties" in node, path
            # keys cannot carry maxLength in a structural schema: a CEL rule bounds them
            rules = [rule["rule"] for rule in node["x-kubernetes-validations"]]
            assert any(rule.startswith("self.all(k, size(k)") for rule in rules), path
            counts["map"] += 1
    assert all(counts.values()), counts


def test_incident_bounds_enums_and_formats() -> None:
    assert at(INCIDENT, "spec.title") == {
        "description": "One line saying what is wrong, e.g. Elevated 5xx on api.",
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
    }
    assert at(INCIDENT, "spec.severity")["enum"] == ["SEV1", "SEV2", "SEV3"]
    assert at(INCIDENT, "status.phase")["enum"] == [
        "Declared",
        "Mitigating",
        "Mitigated",
        "Resolved",
        "Closed",
    ]
    assert at(INCIDENT, "status.mitigation.result")["enum"] == [
        "Pending",
        "InProgress",
        "Succeeded",
        "Failed",
        "Refused",
    ]
    assert at(INCIDENT, "status.mitigation.action")["enum"] == ["RolloutUndo"]
    assert at(RUNBOOK, "spec.mitigations.[].action")["enum"] == ["RolloutUndo", "Manual"]
    assert at(INCIDENT, "spec.startedAt")["format"] == "date-time"
    assert at(INCIDENT, "status.suspect.revision")["format"] == "int64"
    assert at(INCIDENT, "status.approval.revision")["minimum"] == 1
    assert at(INCIDENT, "status.timeToResolveSeconds")["type"] == "number"
    assert at(INCIDENT, "status.timeline")["maxItems"] == 200
    assert at(RUNBOOK, "spec.links.[].url")["pattern"] == "^https?://"
    assert at(RUNBOOK, "spec.diagnostics.[].query")["maxLength"] == 4096
    labels = at(INCIDENT, "spec.scope.selector.matchLabels")
    assert labels["maxProperties"] == 64
    assert labels["additionalProperties"]["maxLength"] == 63


def test_required_fields() -> None:
    assert schema(INCIDENT)["required"] == ["spec"]
    assert schema(RUNBOOK)["required"] == ["spec"]
    assert at(INCIDENT, "spec")["required"] == ["title", "severity"]
    assert at(RUNBOOK, "spec")["required"] == ["title", "severity"]
    assert at(INCIDENT, "status.approval")["required"] == ["approvedBy", "revision"]
    assert at(INCIDENT, "status.conditions.[]")["required"] == [
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
    ]
    assert "required" not in at(INCIDENT, "status")


def test_defaults_and_cel_rules() -> None:
    resolved = at(INCIDENT, "spec.resolved")
    assert resolved["default"] is False
    assert resolved["x-kubernetes-validations"] == [
        {"rule": "self || !oldSelf", "message": RESOLVED_IS_FINAL_MESSAGE}
    ]
    [commander] = at(INCIDENT, "spec")["x-kubernetes-validations"]
    assert commander["message"] == COMMANDER_REQUIRED_MESSAGE
    assert commander["fieldPath"] == ".roles.commander"
    [values] = at(INCIDENT, "spec.scope.selector.matchExpressions.[]")["x-kubernetes-validations"]
    assert "size(self.values) > 0" in values["rule"]


def test_conditions_are_a_list_map_on_type() -> None:
    for resource in RESOURCES:
        conditions = at(resource, "status.conditions")
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert conditions["maxItems"] == 16
        assert at(resource, "status.conditions.[].reason")["pattern"] == (
            "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        )


def test_unsupported_schemas_fail_loudly() -> None:
    class Untyped(ApiModel):
        """No type."""

        anything: Any = Field(description="anything at all")

    class Undescribed(ApiModel):
        """No description."""

        name: str = Field(max_length=1)

    class Union(ApiModel):
        """A real union."""

        value: int | str = Field(description="either")

    for model in (Untyped, Undescribed, Union):
        with pytest.raises(manifests.SchemaError):
            manifests.structural_schema(model)


# --- the CRDs ---------------------------------------------------------------------------


@ALL
def test_crd_names_scope_and_subresources(resource: CustomResource) -> None:
    obj = crd(resource)
    assert obj["apiVersion"] == "apiextensions.k8s.io/v1"
    assert obj["metadata"]["name"] == f"{resource.plural}.tourniquet.dev"
    assert obj["metadata"]["labels"] == {
        "app.kubernetes.io/name": "tourniquet",
        "app.kubernetes.io/part-of": "tourniquet",
    }
    spec = obj["spec"]
    assert spec["group"] == "tourniquet.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["tourniquet"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_short_names() -> None:
    assert crd(INCIDENT)["spec"]["names"]["shortNames"] == ["inc"]
    assert crd(RUNBOOK)["spec"]["names"]["shortNames"] == ["rb"]


def test_printer_columns() -> None:
    def columns(resource: CustomResource) -> list[tuple[str, str, str, int]]:
        version = crd(resource)["spec"]["versions"][0]
        return [
            (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
            for c in version["additionalPrinterColumns"]
        ]

    assert columns(INCIDENT) == [
        ("Severity", "string", ".spec.severity", 0),
        ("Phase", "string", ".status.phase", 0),
        ("Suspect", "string", ".status.suspect.name", 0),
        ("Revision", "integer", ".status.suspect.revision", 1),
        ("Commander", "string", ".spec.roles.commander", 0),
        ("Mitigation", "string", ".status.mitigation.result", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
    ]
    assert columns(RUNBOOK) == [
        ("Title", "string", ".spec.title", 0),
        ("Severity", "string", ".spec.severity", 0),
        ("Valid", "string", '.status.conditions[?(@.type=="Valid")].status', 0),
        ("Last-Used", "date", ".status.lastUsedAt", 1),
        ("Age", "date", ".metadata.creationTimestamp", 0),
    ]


# --- files and drift -------------------------------------------------------------------------


def test_every_expected_file_is_generated() -> None:
    crds = [
        f"{d}/tourniquet.dev_{p}.yaml"
        for d in manifests.CRD_DIRS
        for p in ("incidents", "runbooks")
    ]
    assert sorted(RENDERED) == sorted(
        [
            *crds,
            "config/crd/kustomization.yaml",
            "config/policy/approval-policy.yaml",
            "config/policy/confinement-policy.yaml",
            "config/policy/kustomization.yaml",
        ]
    )
    for text in RENDERED.values():
        assert text.startswith(
            "# Generated by python -m tourniquet.api.manifests"
            " from operator/tourniquet/api/models.py."
            " Do not edit.\n"
        )


def test_generated_yaml_parses_back_to_the_objects() -> None:
    for resource in RESOURCES:
        text = RENDERED[f"crds/{manifests.crd_filename(resource)}"]
        assert yaml.safe_load(text) == crd(resource)
    policy = list(yaml.safe_load_all(RENDERED["config/policy/approval-policy.yaml"]))
    assert policy == approval_policy()
    confinement = list(yaml.safe_load_all(RENDERED["config/policy/confinement-policy.yaml"]))
    assert confinement == confinement_policy()
    kustomization = yaml.safe_load(RENDERED["config/crd/kustomization.yaml"])
    assert kustomization["resources"] == [
        "bases/tourniquet.dev_incidents.yaml",
        "bases/tourniquet.dev_runbooks.yaml",
    ]


def test_rendering_is_deterministic() -> None:
    assert manifests.render() == RENDERED


@pytest.mark.parametrize("relative", sorted(RENDERED))
def test_committed_manifests_match_the_models(relative: str) -> None:
    """Drift test: edit models.py, then run `make manifests` (python -m tourniquet.manifests)."""
    path = REPO / relative
    assert path.is_file(), f"{relative} is missing: run python -m tourniquet.api.manifests"
    assert path.read_bytes() == RENDERED[relative].encode(), (
        f"{relative} is out of date with operator/tourniquet/models.py: "
        "run python -m tourniquet.api.manifests"
    )


def test_a_model_change_shows_up_as_drift(tmp_path: Path) -> None:
    class LongerTitles(IncidentSpec):
        """What the humans declare about the incident."""

        title: str = Field(max_length=300, description="A longer title.")

    changed = manifests.to_yaml(
        [manifests.custom_resource_definition(dataclasses.replace(INCIDENT, spec=LongerTitles))]
    )
    relative = "crds/tourniquet.dev_incidents.yaml"
    assert changed != RENDERED[relative]
    manifests.write(tmp_path, RENDERED)
    (tmp_path / relative).write_text(changed)
    assert manifests.drifted(tmp_path, RENDERED) == [relative]


def test_cli_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 1
    assert "drifted: crds/tourniquet.dev_incidents.yaml" in capsys.readouterr().err
    assert manifests.main(["--root", str(tmp_path)]) == 0
    assert "wrote crds/tourniquet.dev_incidents.yaml" in capsys.readouterr().out
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 0
    assert manifests.main(["--root", str(tmp_path)]) == 0  # up to date: writes nothing
    assert "wrote" not in capsys.readouterr().out
    target = tmp_path / "config/policy/approval-policy.yaml"
    target.write_text(target.read_text() + "# hand edit\n")
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "drifted: config/policy/approval-policy.yaml" in err
    assert "crds/" not in err


def test_module_check_passes_on_this_checkout() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tourniquet.api.manifests", "--check"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "operator")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- Runbook rules and the alert fields of the Incident ----------------------------------


def test_runbook_matchers_and_queries_are_checked_by_cel() -> None:
    [regex] = at(RUNBOOK, "spec.alerts.[].matchExpressions.[]")["x-kubernetes-validations"]
    assert regex["message"] == INVALID_REGEX_MESSAGE
    assert "''.matches(self.value) || !''.matches(self.value)" in regex["rule"]
    assert at(RUNBOOK, "spec.alerts.[].matchExpressions.[].label")["pattern"] == (
        LABEL_NAME_PATTERN
    )
    assert at(RUNBOOK, "spec.alerts.[].matchExpressions.[].operator")["enum"] == [
        "Equals",
        "NotEquals",
        "Matches",
        "NotMatches",
    ]
    names, lengths = at(RUNBOOK, "spec.alerts.[].matchers")["x-kubernetes-validations"]
    assert names["message"] == LABEL_NAME_MESSAGE
    assert LABEL_NAME_PATTERN in names["rule"]
    assert lengths["rule"].startswith("self.all(k, size(k)")
    query = at(RUNBOOK, "spec.diagnostics.[].query")
    messages = [rule["message"] for rule in query["x-kubernetes-validations"]]
    assert messages[0] == BLANK_QUERY_MESSAGE
    assert [m.split("unbalanced ")[1].split(" (")[0] for m in messages[1:]] == [
        "parentheses",
        "square brackets",
        "braces",
    ]
    assert "self.replace('(', '')" in query["x-kubernetes-validations"][1]["rule"]


def test_incident_alert_fields() -> None:
    alert = at(INCIDENT, "spec.alert")
    assert alert["required"] == ["receiver", "groupKey"]
    assert alert["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": SPEC_ALERT_IMMUTABLE_MESSAGE}
    ]
    assert at(INCIDENT, "spec.alert.labels")["maxProperties"] == 64
    assert at(INCIDENT, "spec.alert.annotations")["additionalProperties"]["maxLength"] == 4096
    assert at(INCIDENT, "spec.runbookRef")["required"] == ["name"]
    linked = at(INCIDENT, "status.runbook")
    assert linked["required"] == ["name", "title"]
    assert linked["properties"]["diagnostics"] == at(RUNBOOK, "spec.diagnostics")
    assert at(RUNBOOK, "status.usedBy")["maxItems"] == 20
    assert at(RUNBOOK, "spec.roles") == {
        **at(INCIDENT, "spec.roles"),
        "description": at(RUNBOOK, "spec.roles")["description"],
    }
