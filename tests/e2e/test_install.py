"""Installing Tourniquet the way users do, on the real control plane: the Helm chart and
the kustomize config.

- the chart lints, and what it renders is admitted by the API server (server-side dry
  run) in a namespace enforcing Pod Security "restricted", in both modes;
- `helm install` then `helm uninstall` leaves nothing behind but the CRDs;
- the operator, run with nothing but a token of the chart's ServiceAccount, completes
  the core flow (so its RBAC is enough) while that token reads no Secret and, in the
  namespaced mode, touches no Deployment outside the watched namespaces;
- the people roles: a responder declares but cannot approve, a commander approves only
  the incidents that name them, and the roles aggregate to view/edit/admin;
- `kubectl kustomize config/default` renders what the chart renders.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from devkit.cluster import bindings_removed, unavailable
from devkit.incidents import (
    approve,
    declare,
    good_then_bad,
    mitigation_is,
    resolve,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster, KubectlError
from devkit.net import answers, free_port
from devkit.operator import OperatorProcess
from devkit.paths import REPO
from devkit.polling import wait_for

from conftest import add_diagnostic
from tourniquet.api import manifests
from tourniquet.api.names import APPROVAL_POLICY_NAME, CONFINEMENT_POLICY_NAME
from tourniquet.api.policies import approval_policy

CHART = REPO / "charts/tourniquet"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}
# What `helm uninstall` must remove, as the issue lists it.
INSTALLED_KINDS = (
    "all,sa,role,rolebinding,clusterrole,clusterrolebinding,"
    "validatingadmissionpolicy,validatingadmissionpolicybinding,cm,secret"
)


# --- helm ------------------------------------------------------------------------------


def _helm_binary() -> str:
    out = subprocess.run(
        [str(REPO / "hack/cluster.sh"), "env"], capture_output=True, text=True, check=True
    ).stdout
    built = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return built.get("HELM_BINARY") or shutil.which("helm") or ""


def _kubectl_binary() -> str:
    out = subprocess.run(
        [str(REPO / "hack/cluster.sh"), "env"], capture_output=True, text=True, check=True
    ).stdout
    built = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return built.get("KWOK_KUBECTL_BINARY") or shutil.which("kubectl") or "kubectl"


@dataclass(frozen=True)
class Helm:
    binary: str
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    def template(self, release: str, namespace: str, *values: str) -> list[dict[str, Any]]:
        out = self("template", release, str(CHART), "-n", namespace, *values).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="session")
def helm(cluster: Cluster) -> Helm:
    binary = _helm_binary()
    if not binary:
        pytest.fail("no helm: hack/cluster.sh build helm (make helm) builds the pinned one")
    return Helm(binary, env=cluster.env)


def set_namespaces(*namespaces: str) -> tuple[str, ...]:
    return ("--set", "watchNamespaces={" + ",".join(namespaces) + "}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def find(docs: Sequence[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(matches) == 1, f"{len(matches)} {kind} {name or ''} rendered"
    return matches[0]


def restricted_namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl(
        "label",
        "namespace",
        name,
        "tourniquet.dev/e2e=true",
        *(f"{k}={v}" for k, v in RESTRICTED.items()),
    )
    return name


@dataclass
class Release:
    name: str
    namespace: str
    helm: Helm
    cluster: Cluster

    @property
    def fullname(self) -> str:
        return self.name if "tourniquet" in self.name else f"{self.name}-tourniquet"

    def manifest(self) -> list[dict[str, Any]]:
        out = self.helm("get", "manifest", self.name, "-n", self.namespace).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def token(self, tmp_path: Path) -> Cluster:
        """A kubeconfig holding only a token of the chart's ServiceAccount."""
        token = self.cluster.kubectl(
            "create", "token", self.fullname, "-n", self.namespace, "--duration=1h"
        ).stdout.strip()
        return self.cluster.with_token(token, tmp_path / f"{self.name}-sa.kubeconfig")

    def leftovers(self) -> str:
        """Everything still labelled with the release, in every namespace."""
        out = self.cluster.kubectl(
            "get",
            INSTALLED_KINDS,
            "-A",
            "-l",
            f"app.kubernetes.io/instance={self.name}",
            "-o",
            "name",
        ).stdout
        helm_state = self.cluster.kubectl(
            "get", "secret", "-A", "-l", f"owner=helm,name={self.name}", "-o", "name"
        ).stdout
        return (out + helm_state).strip()


@pytest.fixture
def only_the_charts_policies(tourniquet_installed: Cluster) -> Iterator[None]:
    """`make install`'s policies name tourniquet-system/tourniquet as the operator, and a
    chart release's name its own ServiceAccount: one install at a time, as on a real
    cluster, so the session's bindings step aside while a release runs the flow."""
    with bindings_removed(tourniquet_installed, APPROVAL_POLICY_NAME, CONFINEMENT_POLICY_NAME):
        yield


@pytest.fixture
def install(
    tourniquet_installed: Cluster, helm: Helm, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Release]]:
    """helm install into a fresh namespace enforcing Pod Security "restricted"; uninstalled
    and deleted afterwards whatever the test did."""
    cluster = tourniquet_installed
    releases: list[Release] = []

    def install_(
        *values: str,
        name: str | None = None,
        namespace: str | None = None,
        before: Callable[[Release], None] | None = None,
    ) -> Release:
        release = Release(name or unique("tq"), namespace or unique("tq-install"), helm, cluster)
        restricted_namespace(cluster, release.namespace)
        releases.append(release)
        if before is not None:
            before(release)
        helm(
            "install",
            release.name,
            str(CHART),
            "-n",
            release.namespace,
            "--wait",
            "--timeout=120s",
            *values,
        )
        return release

    add_diagnostic(
        request,
        lambda: (
            "helm releases",
            "\n".join(
                helm("status", r.name, "-n", r.namespace, check=False).stdout for r in releases
            ),
        ),
    )
    yield install_
    for release in releases:
        helm("uninstall", release.name, "-n", release.namespace, "--wait", check=False)
        cluster.kubectl(
            "delete",
            "namespace",
            release.namespace,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )


def can_i(cluster: Cluster, *args: str, as_user: str | None = None) -> bool:
    """`kubectl auth can-i`: exits 0 for yes, 1 for no."""
    result = cluster.kubectl("auth", "can-i", *args, as_user=as_user, check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


# --- lint and render -------------------------------------------------------------------


def test_chart_lints_and_its_schema_rejects_bad_values(helm: Helm) -> None:
    for values in (
        (),
        (*set_namespaces("team-a", "team-b"), "--set", "peering.enabled=true"),
        (
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.prometheusRule.enabled=true",
        ),
        (
            "--set",
            "alerts.enabled=true",
            "--set",
            "alerts.tokenSecret=alertmanager-token",
            "--set",
            "severityPolicy.policy.firstUpdateWithin=5m",
        ),
    ):
        result = helm("lint", "--strict", str(CHART), *values)
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout, result.stdout

    for bad, complaint in (
        (("--set", "watchNamespace=team-a"), "additional properties 'watchNamespace'"),
        (("--set", "watchNamespaces={Team_A}"), "does not match pattern"),
        (("--set", "replicaCount=2"), "needs peering.enabled=true"),
        (("--set", "approvalPolicy.approversGroup="), "approversGroup"),
        (("--set", "alerts.enabled=true"), "tokenSecret"),
    ):
        result = helm("template", "x", str(CHART), *bad, check=False)
        assert result.returncode != 0 and complaint in result.stderr, (bad, result.stderr)


@pytest.mark.parametrize("mode", ["all-namespaces", "namespaced"])
def test_rendered_chart_is_admitted_under_pod_security_restricted(
    tourniquet_installed: Cluster, helm: Helm, namespace: str, mode: str
) -> None:
    cluster = tourniquet_installed
    release_ns = restricted_namespace(cluster, unique("tq-dryrun"))
    try:
        values = set_namespaces(namespace) if mode == "namespaced" else ()
        docs = helm.template("dryrun", release_ns, *values)
        rendered = yaml.safe_dump_all(docs)
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
        assert "(server dry run)" in result.stdout
        # The namespace warns too: a Deployment whose pods would be rejected is admitted
        # with a warning, so no warning at all is the check for the template.
        assert "PodSecurity" not in result.stderr and "Warning" not in result.stderr, result.stderr

        # A Pod is what "enforce" decides on: the Deployment's template, as a Pod.
        deployment = find(docs, "Deployment")
        pod = pod_from(deployment, release_ns)
        admitted = cluster.kubectl(
            "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(pod)
        )
        assert "created (server dry run)" in admitted.stdout
        # ... and the API server does reject a pod that is not hardened (the check is real).
        loose = copy.deepcopy(pod)
        loose["spec"].pop("securityContext")
        loose["spec"]["containers"][0].pop("securityContext")
        with pytest.raises(KubectlError, match="violates PodSecurity"):
            cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(loose))

        kinds = {(d["kind"], d["metadata"].get("namespace")) for d in docs}
        if mode == "namespaced":
            args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            assert f"--namespace={namespace}" in args and "--all-namespaces" not in args
            assert ("Role", namespace) in kinds and ("RoleBinding", namespace) in kinds
            for policy in ("incident-approval", "operator-confinement"):
                binding = find(
                    docs, "ValidatingAdmissionPolicyBinding", f"dryrun-tourniquet-{policy}"
                )
                assert binding["spec"]["matchResources"]["namespaceSelector"] == {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": [namespace],
                        }
                    ]
                }
            operator_role = find(docs, "ClusterRole", "dryrun-tourniquet")
            resources = {r for rule in operator_role["rules"] for r in rule["resources"]}
            assert not resources & {"deployments", "incidents", "events"}, resources
        else:
            assert "Role" not in {kind for kind, _ in kinds}
    finally:
        cluster.kubectl("delete", "namespace", release_ns, "--wait=false", check=False)


def test_all_namespaces_mode_grants_what_the_namespaced_mode_proves_enough(helm: Helm) -> None:
    """The core flow runs in the namespaced mode (a cluster-wide operator would act on
    every other test's incidents); the cluster-wide ClusterRole grants exactly those
    rules. Neither mode reads namespaces: the namespaced one serves the names given."""

    def rules(docs: Sequence[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
        return list(find(docs, kind, name)["rules"])

    everywhere = helm.template("tq", "ops")
    namespaced = helm.template("tq", "ops", *set_namespaces("team-a", "team-b"))
    roles = [d for d in namespaced if d["kind"] == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == ["team-a", "team-b"]
    assert roles[0]["rules"] == roles[1]["rules"]
    per_namespace = roles[0]["rules"]
    cluster_scoped = rules(namespaced, "ClusterRole", "tq-tourniquet")
    assert rules(everywhere, "ClusterRole", "tq-tourniquet") == cluster_scoped + per_namespace
    granted = {r for rule in cluster_scoped + per_namespace for r in rule["resources"]}
    assert "namespaces" not in granted


def pod_from(deployment: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = copy.deepcopy(deployment["spec"]["template"])
    # Only a dry run: the ServiceAccount it names is not created (Pod Security ignores it).
    template["spec"].pop("serviceAccountName")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod-security-check", "namespace": namespace, **template["metadata"]},
        "spec": template["spec"],
    }


# --- install and uninstall -------------------------------------------------------------


def test_helm_install_then_uninstall_leaves_only_the_crds(
    install: Callable[..., Release], helm: Helm
) -> None:
    release = install()
    cluster = release.cluster
    installed = release.leftovers()
    for expected in (
        f"deployment.apps/{release.fullname}",
        f"service/{release.fullname}-metrics",
        f"serviceaccount/{release.fullname}",
        f"clusterrole.rbac.authorization.k8s.io/{release.fullname}",
        f"clusterrole.rbac.authorization.k8s.io/{release.fullname}-commander",
        f"clusterrolebinding.rbac.authorization.k8s.io/{release.fullname}",
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{release.fullname}-incident-approval",
        f"validatingadmissionpolicybinding.admissionregistration.k8s.io/{release.fullname}-incident-approval",
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{release.fullname}-operator-confinement",
        f"secret/sh.helm.release.v1.{release.name}.v1",
    ):
        assert expected in installed.splitlines(), f"{expected} not installed:\n{installed}"
    # The pod is admitted in the restricted namespace (kwok runs it: no real image here).
    cluster.kubectl(
        "rollout",
        "status",
        f"deployment/{release.fullname}",
        "-n",
        release.namespace,
        "--timeout=60s",
    )

    helm("uninstall", release.name, "-n", release.namespace, "--wait")
    # The ReplicaSet and Pod go with the garbage collector, shortly after.
    wait_for(lambda: release.leftovers() == "", timeout=60, what="nothing left of the release")
    for crd in ("incidents.tourniquet.dev", "runbooks.tourniquet.dev"):
        cluster.kubectl("get", "crd", crd)  # still there: Helm never deletes crds/


# --- the chart's ServiceAccount runs the core flow -------------------------------------


def test_chart_service_account_runs_the_core_flow_and_nothing_more(
    only_the_charts_policies: None,
    install: Callable[..., Release],
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    release = install(*set_namespaces(namespace))
    cluster = release.cluster
    elsewhere = release.namespace  # a namespace the operator does not watch
    bind_people(release, namespace, responders=("rita",), commanders=("alice", "carl"))
    sa = release.token(tmp_path)

    # Least privilege, asked of the API server with the token itself.
    assert can_i(sa, "patch", "deployments", "-n", namespace)
    assert can_i(sa, "patch", "incidents.tourniquet.dev", "--subresource=status", "-n", namespace)
    assert can_i(sa, "get", f"validatingadmissionpolicies/{release.fullname}-incident-approval")
    for denied in (
        ("get", "secrets", "-n", namespace),
        ("get", "secrets", "-n", release.namespace),
        ("list", "secrets", "--all-namespaces"),
        ("get", "configmaps", "-n", namespace),
        ("delete", "configmaps", "-n", namespace),
        ("create", "configmaps", "-n", elsewhere),
        ("create", "deployments", "-n", namespace),
        ("delete", "deployments", "-n", namespace),
        ("update", "deployments", "-n", namespace),
        ("get", "deployments", "-n", elsewhere),
        ("patch", "deployments", "-n", elsewhere),
        ("patch", "deployments", "-n", "default"),
        ("list", "deployments", "--all-namespaces"),
        ("list", "incidents.tourniquet.dev", "--all-namespaces"),
        ("delete", "incidents.tourniquet.dev", "-n", namespace),
        ("create", "pods", "-n", namespace),
        ("get", "validatingadmissionpolicies/tourniquet-incident-approval"),
        ("create", "validatingadmissionpolicies"),
    ):
        assert not can_i(sa, *denied), f"the operator's token can {' '.join(denied)}"

    # The operator with exactly the chart's arguments (its own metrics port and a short
    # resync, for the test), and nothing but that token.
    args = chart_operator_args(release, namespace)
    log_path = tmp_path / "operator.log"
    add_diagnostic(
        request,
        lambda: ("operator log", log_path.read_text(errors="replace") if log_path.exists() else ""),
    )
    operator = OperatorProcess(sa, namespace, log_path, args=args)
    try:
        good_then_bad(cluster, namespace)
        operator.start()

        declare(cluster, namespace, as_user="rita", commander="alice")
        incident = wait_incident(
            cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect"
        )
        revision = status(incident)["suspect"]["revision"]

        # A responder declares but cannot approve: RBAC says no before the policy is asked.
        refused = approve(cluster, namespace, revision, as_user="rita", check=False)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
        assert "incidents/status" in refused.stderr, refused.stderr
        # A commander may write status, but approves only the incidents that name them.
        refused = approve(cluster, namespace, revision, as_user="carl", check=False)
        assert refused.returncode != 0, refused.stderr
        assert "is not the Incident Commander" in refused.stderr, refused.stderr

        approve(cluster, namespace, revision, as_user="alice")
        wait_incident(cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=90)
        resolve(cluster, namespace, as_user="alice")
        resolved = wait_incident(
            cluster,
            namespace,
            lambda i: "timeToResolveSeconds" in status(i),
            "resolved with MTTR",
        )
        assert status(resolved)["phase"] in ("Resolved", "Closed")
        assert operator.metric("tourniquet_rollbacks_total", result="succeeded") == 1

        log = operator.log()
        for symptom in ("Forbidden", "403", "Not enough permissions"):
            assert symptom not in log, f"the operator lacked a permission:\n{log}"
    finally:
        # Incidents go while the operator runs, so no finalizer is left behind.
        cluster.kubectl(
            "delete", "incidents", "--all", "-n", namespace, "--timeout=30s", check=False
        )
        operator.stop()


def test_chart_configuration_is_read_by_name_and_alerts_declare_incidents(
    only_the_charts_policies: None,
    install: Callable[..., Release],
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The severity policy ConfigMap and the alert receiver's token Secret: the operator
    reads those two objects by name, and no other ConfigMap or Secret; an alert creates
    an Incident (the one create it is granted, only with alerts on)."""
    token = uuid.uuid4().hex
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "watchNamespaces": [namespace],
                "severityPolicy": {"policy": {"firstUpdateWithin": "5m"}},
                "alerts": {"enabled": True, "tokenSecret": "alertmanager-token"},
            }
        )
    )
    release_ns = unique("tq-install")

    def with_secret(release: Release) -> None:
        release.cluster.kubectl(
            "create",
            "secret",
            "generic",
            "alertmanager-token",
            "-n",
            release.namespace,
            f"--from-literal=token={token}",
        )

    release = install("--values", str(values), namespace=release_ns, before=with_secret)
    cluster = release.cluster
    sa = release.token(tmp_path)
    policy = f"{release.fullname}-severity-policy"
    assert can_i(sa, "get", f"configmaps/{policy}", "-n", release.namespace)
    assert can_i(sa, "get", "secrets/alertmanager-token", "-n", release.namespace)
    assert can_i(sa, "create", "incidents.tourniquet.dev", "-n", namespace)
    for denied in (
        ("get", "secrets", "-n", release.namespace),
        ("get", "secrets/other", "-n", release.namespace),
        ("get", "secrets/alertmanager-token", "-n", namespace),
        ("get", "configmaps", "-n", release.namespace),
        ("patch", f"configmaps/{policy}", "-n", release.namespace),
        ("create", "incidents.tourniquet.dev", "-n", release.namespace),
    ):
        assert not can_i(sa, *denied), f"the operator's token can {' '.join(denied)}"

    alerts_port = free_port()
    args = [
        f"--alerts-addr=127.0.0.1:{alerts_port}" if a.startswith("--alerts-addr=") else a
        for a in chart_operator_args(release, namespace)
    ]
    assert f"--policy-configmap={release.namespace}/{policy}" in args
    log_path = tmp_path / "operator.log"
    add_diagnostic(
        request,
        lambda: ("operator log", log_path.read_text(errors="replace") if log_path.exists() else ""),
    )
    operator = OperatorProcess(sa, namespace, log_path, args=args)
    try:
        operator.start()
        # The receiver listens once the operator's start-up has run, after /healthz.
        wait_for(
            lambda: answers(f"http://127.0.0.1:{alerts_port}/healthz"),
            what="the alert receiver",
        )
        url = f"http://127.0.0.1:{alerts_port}/alerts"
        assert post_alert(url, "wrong-token") == 401
        assert post_alert(url, token) == 200
        incident = wait_for(
            lambda: cluster.get("incidents", namespace=namespace)["items"],
            what="an Incident declared from the alert",
        )[0]
        assert incident["spec"]["severity"] == "SEV3"
        log = operator.log()
        for symptom in (
            "Forbidden",
            "403",
            "Not enough permissions",
            "reading secret",
            "reading the severity policy failed",
        ):
            assert symptom not in log, f"the operator lacked a permission:\n{log}"
    finally:
        cluster.kubectl(
            "delete", "incidents", "--all", "-n", namespace, "--timeout=30s", check=False
        )
        operator.stop()


def post_alert(url: str, token: str) -> int:
    """An Alertmanager webhook notification (version 4) of one firing info alert."""
    labels = {"alertname": "ChartInstallCheck", "severity": "info"}
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "tourniquet",
        "groupKey": '{}:{alertname="ChartInstallCheck"}',
        "groupLabels": {"alertname": "ChartInstallCheck"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "checks the chart's RBAC"},
        "externalURL": "http://alertmanager.example",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "checks the chart's RBAC"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": "c0ffee0123456789",
            }
        ],
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def chart_operator_args(release: Release, namespace: str) -> list[str]:
    """The operator's arguments as the chart's Deployment has them, less the ones
    OperatorProcess sets itself (namespace, metrics address, resync)."""
    deployment = find(release.manifest(), "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace=")] == [f"--namespace={namespace}"]
    own = ("--namespace=", "--metrics-addr=", "--resync-seconds=")
    return [a for a in args if not a.startswith(own)]


def bind_people(
    release: Release,
    namespace: str,
    responders: Sequence[str] = (),
    commanders: Sequence[str] = (),
    viewers: Sequence[str] = (),
) -> None:
    for role, users in (
        ("viewer", viewers),
        ("responder", responders),
        ("commander", commanders),
    ):
        if users:
            release.cluster.kubectl(
                "create",
                "rolebinding",
                f"incident-{role}s",
                "-n",
                namespace,
                f"--clusterrole={release.fullname}-{role}",
                *(f"--user={u}" for u in users),
            )


# --- people ----------------------------------------------------------------------------


def test_people_roles_and_their_aggregation_to_view_edit_admin(
    install: Callable[..., Release], namespace: str
) -> None:
    release = install(*set_namespaces(namespace))
    cluster = release.cluster
    bind_people(release, namespace, viewers=("vic",), responders=("rita",), commanders=("alice",))
    for user, role in (("vera", "view"), ("eddie", "edit"), ("ada", "admin")):
        cluster.kubectl(
            "create",
            "rolebinding",
            f"builtin-{role}",
            "-n",
            namespace,
            f"--clusterrole={role}",
            f"--user={user}",
        )

    incidents = "incidents.tourniquet.dev"
    status_ = ("--subresource=status",)
    # (user, verb, resource, extra) -> expected
    expectations = {
        ("vic", "list", incidents, ()): True,
        ("vic", "get", "runbooks.tourniquet.dev", ()): True,
        ("vic", "create", incidents, ()): False,
        ("rita", "create", incidents, ()): True,
        ("rita", "patch", incidents, ()): True,
        ("rita", "create", "runbooks.tourniquet.dev", ()): True,
        ("rita", "patch", incidents, status_): False,
        ("rita", "delete", incidents, ()): False,
        ("alice", "patch", incidents, status_): True,
        ("alice", "create", incidents, ()): True,
        ("alice", "delete", incidents, ()): False,
        # The built-in roles, through aggregation (the controller needs a moment).
        ("vera", "list", incidents, ()): True,
        ("vera", "create", incidents, ()): False,
        ("eddie", "create", incidents, ()): True,
        ("eddie", "patch", incidents, status_): False,
        ("ada", "patch", incidents, status_): True,
    }

    def answers() -> dict[tuple[str, str, str, tuple[str, ...]], bool]:
        return {
            key: can_i(cluster, verb, resource, *extra, "-n", namespace, as_user=user)
            for key in expectations
            for user, verb, resource, extra in [key]
        }

    wait_for(lambda: answers() == expectations, timeout=30, what="people roles as expected")
    # Nobody outside the namespace they were bound in.
    assert not can_i(cluster, "create", incidents, "-n", release.namespace, as_user="rita")


# --- kustomize and the chart render the same ---------------------------------------------

# Labels only one of them sets: Helm's bookkeeping, and kustomize's managed-by.
TOOL_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}


def normalized(docs: Sequence[dict[str, Any]], drop_labels: set[str]) -> dict[str, Any]:
    """kind/namespace/name -> object, without labels only one tool sets."""
    out = {}
    for doc in docs:
        doc = copy.deepcopy(doc)
        meta = doc["metadata"]
        labels = {k: v for k, v in (meta.pop("labels", None) or {}).items() if k not in drop_labels}
        if labels:
            meta["labels"] = labels
        out[f"{doc['kind']}/{meta.get('namespace', '')}/{meta['name']}"] = doc
    return out


def kustomize(path: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_kubectl_binary(), "kustomize", str(REPO / path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def rbac_view(objects: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {k: obj.get(k) for k in ("rules", "roleRef", "subjects", "aggregationRule")}
        | {"labels": obj["metadata"].get("labels", {})}
        for key, obj in objects.items()
        if obj["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")
    }


def test_kustomize_config_renders_what_the_chart_renders(helm: Helm) -> None:
    chart = normalized(
        helm.template("tourniquet", "tourniquet-system", "--include-crds"), TOOL_LABELS
    )
    config = normalized(kustomize("config/default"), TOOL_LABELS)

    # The same permissions first: that is what a reviewer reads.
    assert rbac_view(config) == rbac_view(chart)
    # The namespace (with Pod Security "restricted") is kustomize's own; the CRDs are the
    # same generated files, labelled by kustomize only.
    namespace = config.pop("Namespace//tourniquet-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for key in [k for k in config if k.startswith("CustomResourceDefinition/")]:
        assert config.pop(key)["spec"] == chart.pop(key)["spec"], key
    assert sorted(config) == sorted(chart)
    for key in chart:
        assert config[key] == chart[key], f"{key} differs between config/ and the chart"

    # config/prometheus: the chart with its ServiceMonitor and alerts enabled.
    monitoring = normalized(
        helm.template(
            "tourniquet",
            "tourniquet-system",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--show-only=templates/servicemonitor.yaml",
            "--show-only=templates/prometheusrule.yaml",
        ),
        TOOL_LABELS | {"app.kubernetes.io/instance", "app.kubernetes.io/version"},
    )
    assert normalized(kustomize("config/prometheus"), TOOL_LABELS) == monitoring


def test_chart_policy_is_the_generated_policy(cluster: Cluster, helm: Helm, tmp_path: Path) -> None:
    """The chart installs config/policy's two ValidatingAdmissionPolicies, with the
    approvers group from the values and the release's ServiceAccount as the operator."""
    rendered = helm.template("tourniquet", "tourniquet-system")
    for path in (manifests.POLICY_PATH, manifests.CONFINEMENT_PATH):
        generated = yaml.safe_load_all((REPO / path).read_text())
        policy, binding = (doc for doc in generated if doc)
        name = policy["metadata"]["name"]
        assert find(rendered, "ValidatingAdmissionPolicy", name)["spec"] == policy["spec"]
        assert find(rendered, "ValidatingAdmissionPolicyBinding", name)["spec"] == binding["spec"]

    group = 'on-call "primary" \\ <sre>'
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"approvalPolicy": {"approversGroup": group}}))
    custom = helm.template("tq", "ops", "--values", str(values))
    custom_policy = find(custom, "ValidatingAdmissionPolicy", "tq-tourniquet-incident-approval")
    expected = approval_policy(group, "system:serviceaccount:ops:tq-tourniquet")[0]["spec"]
    assert cel_strings_decoded(custom_policy["spec"]) == cel_strings_decoded(expected)
    # The API server compiles it (CEL type-checks at creation).
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(custom_policy))
    operator = find(custom, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--approval-policy=tq-tourniquet-incident-approval" in operator["args"]


def cel_strings_decoded(spec: dict[str, Any]) -> dict[str, Any]:
    """The approvers group's CEL string literal, decoded: Helm's toJson escapes < and >
    as \\u003c and \\u003e where Python's json.dumps does not; CEL reads both alike."""
    spec = copy.deepcopy(spec)
    for variable in spec["variables"]:
        if variable["name"] == "approversGroup":
            variable["expression"] = json.loads(variable["expression"])
    return spec


def test_chart_alert_rules_are_valid_promql(helm: Helm, tmp_path: Path) -> None:
    """promtool (Prometheus' own checker) accepts the PrometheusRule's groups."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not installed (make promstack; Debian: prometheus)")
    rule = find(
        helm.template(
            "tourniquet", "tourniquet-system", "--set", "metrics.prometheusRule.enabled=true"
        ),
        "PrometheusRule",
    )
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout, result.stdout
    exprs = json.dumps(rule["spec"])
    for metric in (
        "tourniquet_incidents_open",
        "tourniquet_incidents_declared_total",
        "tourniquet_rollbacks_total",
    ):
        assert metric in exprs
