"""The install artefacts, read as files (no cluster, no helm): versions agree, the operator's
RBAC stays least privilege, the pod stays hardened, the image is built as promised, the
alerts name real metrics, and the chart's generated policy template is up to date.

Rendering the chart and comparing it with `kubectl kustomize config/default` needs the
binaries: tests/e2e/test_install.py does that, and everything on a real API server.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tourniquet.api import manifests
from tourniquet.observability import metrics

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts/tourniquet"


def load(path: str) -> Any:
    return yaml.safe_load((REPO / path).read_text())


def load_all(path: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all((REPO / path).read_text()) if doc]


def app_version() -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return str(pyproject["project"]["version"])


# --- versions and names agree --------------------------------------------------------------


def test_chart_app_version_is_the_operator_version() -> None:
    chart = load("charts/tourniquet/Chart.yaml")
    assert chart["appVersion"] == app_version()
    assert chart["kubeVersion"] == ">=1.30.0-0"  # ValidatingAdmissionPolicy v1


def test_kustomize_uses_the_chart_default_image_and_version() -> None:
    values = load("charts/tourniquet/values.yaml")
    deployment = load("config/manager/manager.yaml")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{values['image']['repository']}:{app_version()}"
    labels = load("config/default/kustomization.yaml")["labels"][0]["pairs"]
    assert labels["app.kubernetes.io/version"] == app_version()


def test_kustomize_default_includes_every_part() -> None:
    resources = load("config/default/kustomization.yaml")["resources"]
    assert resources == ["namespace.yaml", "../crd", "../rbac", "../manager", "../policy"]
    for directory in ("crd", "rbac", "manager", "policy", "prometheus", "samples"):
        kustomization = load(f"config/{directory}/kustomization.yaml")
        for resource in kustomization["resources"]:
            assert (REPO / "config" / directory / resource).is_file(), resource


# --- least privilege -------------------------------------------------------------------------

# Every permission the operator has (config/rbac/role.yaml; the chart's are compared with
# it by tests/e2e/test_install.py). Adding one is a decision: change this table with it.
OPERATOR_PERMISSIONS = {
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): {"get"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): {"list"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("tourniquet.dev", "incidents"): {"list", "watch", "patch"},
    ("tourniquet.dev", "incidents/status"): {"patch"},
    ("tourniquet.dev", "runbooks"): {"get", "list", "watch"},
    ("tourniquet.dev", "runbooks/status"): {"patch"},
    ("apps", "deployments"): {"get", "list", "watch", "patch"},
    ("apps", "replicasets"): {"list", "watch"},
    ("apps", "statefulsets"): {"get", "list", "watch", "patch"},
    ("apps", "daemonsets"): {"get", "list", "watch", "patch"},
    ("apps", "controllerrevisions"): {"list", "watch"},
    ("", "pods"): {"list", "delete"},
    ("", "configmaps"): {"create", "patch"},
    ("", "events"): {"create"},
}


def permissions(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_operator_cluster_role_is_exactly_what_the_operator_uses() -> None:
    role = load("config/rbac/role.yaml")
    assert permissions(role["rules"]) == OPERATOR_PERMISSIONS
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
    (policy_rule,) = [r for r in role["rules"] if "validatingadmissionpolicies" in r["resources"]]
    assert policy_rule["resourceNames"] == [manifests.approval_policy()[0]["metadata"]["name"]]


def test_no_secret_is_readable_and_no_workload_is_created_or_deleted() -> None:
    granted = permissions(load("config/rbac/role.yaml")["rules"])
    assert not any(resource == "secrets" for _, resource in granted)
    assert not any(
        {"create", "delete", "deletecollection", "update"} & verbs
        for (group, _), verbs in granted.items()
        if group == "apps"
    )
    assert not any("escalate" in v or "bind" in v or "impersonate" in v for v in granted.values())


def test_operator_binding_is_to_its_own_service_account() -> None:
    binding = load("config/rbac/role_binding.yaml")
    account = load("config/rbac/service_account.yaml")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "tourniquet",
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def test_people_roles_build_on_each_other_and_aggregate() -> None:
    roles = {r["metadata"]["name"]: r for r in load_all("config/rbac/people_roles.yaml")}
    viewer, responder, commander = (
        permissions(roles[f"tourniquet-{name}"]["rules"])
        for name in ("viewer", "responder", "commander")
    )
    incidents, status = ("tourniquet.dev", "incidents"), ("tourniquet.dev", "incidents/status")
    assert viewer == {
        incidents: {"get", "list", "watch"},
        ("tourniquet.dev", "runbooks"): {"get", "list", "watch"},
    }
    assert {"create", "update", "patch"} <= responder[incidents]
    assert status not in responder  # a responder cannot approve
    assert commander[status] == {"get", "patch"}
    for role in (viewer, responder, commander):
        assert "delete" not in role[incidents]  # incidents are the record
    aggregation = {
        name: [k for k in role["metadata"]["labels"] if k.startswith("rbac.authorization.k8s.io/")]
        for name, role in roles.items()
    }
    assert aggregation == {
        "tourniquet-viewer": ["rbac.authorization.k8s.io/aggregate-to-view"],
        "tourniquet-responder": ["rbac.authorization.k8s.io/aggregate-to-edit"],
        "tourniquet-commander": ["rbac.authorization.k8s.io/aggregate-to-admin"],
    }


# --- the pod -------------------------------------------------------------------------------


def test_operator_pod_is_hardened_and_probed() -> None:
    deployment = load("config/manager/manager.yaml")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two standalone
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert "--metrics-addr=0.0.0.0:8080" in container["args"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]  # a writable /tmp only
    assert "emptyDir" in pod["volumes"][0]


def test_chart_defaults_are_the_same_hardening() -> None:
    values = load("charts/tourniquet/values.yaml")
    pod = load("config/manager/manager.yaml")["spec"]["template"]["spec"]
    assert values["replicaCount"] == 1
    assert values["podSecurityContext"] == pod["securityContext"]
    assert values["securityContext"] == pod["containers"][0]["securityContext"]
    assert values["resources"] == pod["containers"][0]["resources"]


# --- the image -----------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages and line.strip() and not line.lstrip().startswith("#"):
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is an ARG"
    # A full version tag (the digest cannot be resolved on the machine this is written on).
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base[1])
    builder, final = dockerfile_stages()
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    final_text = "\n".join(final)
    assert "COPY --from=builder /opt/tourniquet /opt/tourniquet" in final_text
    for tool in ("apt-get install", "pip install", "gcc", "build-essential"):
        assert tool not in final_text, f"{tool} in the final image"
    assert "pip uninstall" in final_text
    (user,) = [line for line in final if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root user (runAsNonRoot checks it)"
    assert final[-1] == 'ENTRYPOINT ["python", "-m", "tourniquet", "run"]'


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[:4] == ["*", "!pyproject.toml", "!README.md", "!operator/"]


# --- alerts and the policy template --------------------------------------------------------


def test_alert_rules_name_metrics_the_operator_exports() -> None:
    rule = load("config/prometheus/rule.yaml")
    exported = {m.name for m in metrics.REGISTRY.collect()}
    exported |= {f"{name}_total" for name in exported}  # counters are collected without it
    alerts = {}
    for group in rule["spec"]["groups"]:
        for entry in group["rules"]:
            alerts.setdefault(entry["alert"], []).append(entry["expr"])
    assert set(alerts) == {
        "TourniquetIncidentOpenTooLong",
        "TourniquetRollbackFailed",
        "TourniquetOperatorDown",
    }
    assert len(alerts["TourniquetIncidentOpenTooLong"]) == 3  # one per severity
    for exprs in alerts.values():
        for expr in exprs:
            for name in re.findall(r"\b(tourniquet_[a-z_]+)", expr):
                assert name in exported, f"{name} is not a metric the operator exports"
    (failed,) = alerts["TourniquetRollbackFailed"]
    assert 'increase(tourniquet_rollbacks_total{result="failed"' in failed
    (down,) = alerts["TourniquetOperatorDown"]
    assert down.strip().startswith('absent(up{job="tourniquet-metrics"')


def test_chart_policy_template_is_generated() -> None:
    """Drift test for the chart's policy template: run `make manifests`."""
    for relative, text in manifests.render_chart_templates().items():
        assert (REPO / relative).read_text() == text, f"{relative}: run make manifests"


@pytest.mark.parametrize(
    ("chart_path", "config_path", "name", "templated"),
    [
        (
            manifests.CHART_POLICY_PATH,
            manifests.POLICY_PATH,
            '{{ include "tourniquet.approvalPolicyName" . }}',
            (
                "{{ .Values.approvalPolicy.approversGroup | toJson | toJson }}",
                "serviceaccount:%s:%s",
            ),
        ),
        (
            manifests.CHART_CONFINEMENT_PATH,
            manifests.CONFINEMENT_PATH,
            '{{ include "tourniquet.fullname" . }}-operator-confinement',
            ("serviceaccount:%s:%s",),
        ),
    ],
)
def test_chart_policy_templates_are_the_policies_with_templated_names_and_identities(
    chart_path: str, config_path: str, name: str, templated: tuple[str, ...]
) -> None:
    template = manifests.render_chart_templates()[chart_path]
    assert template.count(name) == 3
    for action in templated:
        assert action in template
    # Everything else is the policy itself, line for line.
    policy = (REPO / config_path).read_text()
    for line in policy.splitlines():
        if "system:serviceaccount:" in line or line.startswith("    expression: '\""):
            continue  # the operator's identity and the approvers group: templated
        if "tourniquet-incident-approval" in line or "tourniquet-operator-confinement" in line:
            continue  # the name: templated
        if line.startswith(("#", "    app.kubernetes.io/")):
            continue  # the header and the labels: the chart's own
        assert line in template.splitlines() or line == "", line


@pytest.mark.parametrize("name", ["NOTES.txt"])
def test_notes_tell_the_installer_what_to_do_next(name: str) -> None:
    notes = (CHART / "templates" / name).read_text()
    for step in (
        "rollout status",
        "create rolebinding",
        "kind: Incident",
        "--subresource=status",
        '{"status":{"approval":{"approvedBy":"alice"',
        "/metrics",
    ):
        assert step in notes, step


def test_helm_is_pinned_where_cluster_sh_reads_it() -> None:
    versions = dict(
        line.split("=", 1)
        for line in (REPO / "hack/toolchain/versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    go_mod = (REPO / "hack/toolchain/helm/go.mod").read_text()
    assert f"require helm.sh/helm/v3 v{versions['HELM_VERSION']}\n" in go_mod
    script = (REPO / "hack/cluster.sh").read_text()
    assert '"helm|helm|helm.sh/helm/v3/cmd/helm|$HELM_VERSION|helm"' in script
    assert "-X helm.sh/helm/v3/internal/version.version=v$version" in script
