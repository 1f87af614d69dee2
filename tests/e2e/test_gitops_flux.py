"""An undo that holds in a GitOps cluster (issue 11), with the real Flux controllers
(source-controller and kustomize-controller built from pinned modules by hack/gitops.sh)
delivering a Deployment from a git repository on the loopback git server.

- Without Tourniquet, `kubectl rollout undo` of a Flux-delivered Deployment is re-applied
  from git within an interval: the problem is real.
- With Tourniquet, the suspect names its Flux owner, the approved undo suspends the
  Kustomization first, and the undo holds for several intervals; the IC's
  `kubectl incident resume` waits while git still holds the bad commit, and resumes once
  it is reverted; Flux then converges to the revert.
- Without the operator's GitOps role, the undo is refused (nothing touched) unless the
  approval accepts the revert.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devkit.cluster import ClusterUnavailable, unavailable
from devkit.gitops import Flux, GitRepo, gitops_up
from devkit.incidents import (
    BAD,
    GOOD,
    approve,
    condition,
    condition_is,
    declare,
    mitigation_is,
    patch_incident,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.manifests import NO_NODE, deployment
from devkit.operator import OperatorProcess
from devkit.plugin import Plugin
from devkit.polling import wait_for
from devkit.workloads import image_of, snapshot

StartOperator = Callable[..., OperatorProcess]
INTERVAL_S = 2
KUSTOMIZATION = "apps"


@pytest.fixture(scope="module")
def flux(tourniquet_installed: Cluster) -> Flux:
    try:
        return Flux(tourniquet_installed, gitops_up(progress=sys.stderr))
    except ClusterUnavailable as exc:
        unavailable(f"real Flux unavailable: {exc}")


def _manifest(image: str, *, broken: bool) -> dict[str, Any]:
    return deployment("api", image, progress_deadline=10, node_selector=NO_NODE if broken else None)


def delivered_good_then_bad(cluster: Cluster, flux: Flux, namespace: str) -> GitRepo:
    """Flux delivers api at GOOD, then a bad commit rolls out BAD (never Available)."""
    repo = flux.repository()
    good = repo.commit({"api.yaml": _manifest(GOOD, broken=False)}, "api 1.4.2")
    flux.deliver(repo, namespace, KUSTOMIZATION, interval=f"{INTERVAL_S}s")
    flux.applied(namespace, KUSTOMIZATION, good)
    cluster.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=90s")
    bad = repo.commit({"api.yaml": _manifest(BAD, broken=True)}, "api 1.4.3")
    flux.applied(namespace, KUSTOMIZATION, bad)
    wait_for(lambda: snapshot(cluster, namespace)[2] == 2, what="api at revision 2")
    return repo


def holds(cluster: Cluster, namespace: str, image: str, seconds: float) -> None:
    """The Deployment keeps `image` for `seconds` (several Flux intervals), checked
    throughout: one flip back is a failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert image_of(cluster, namespace) == image, "the undo was reverted"
        time.sleep(0.25)


def test_flux_reverts_a_plain_rollout_undo(
    tourniquet_installed: Cluster, flux: Flux, namespace: str
) -> None:
    cluster = tourniquet_installed
    delivered_good_then_bad(cluster, flux, namespace)
    cluster.kubectl("rollout", "undo", "deployment/api", "-n", namespace)
    assert image_of(cluster, namespace) == GOOD
    # kustomize-controller corrects the drift on its next interval.
    wait_for(
        lambda: image_of(cluster, namespace) == BAD,
        timeout=10 * INTERVAL_S,
        what="Flux re-applying the bad revision over the undo",
    )


def test_tourniquet_suspends_flux_the_undo_holds_and_resume_waits_for_the_revert(
    tourniquet_installed: Cluster,
    flux: Flux,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    plugin: Plugin,
) -> None:
    cluster = tourniquet_installed
    repo = delivered_good_then_bad(cluster, flux, namespace)
    bad_commit = repo.head()
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("suspect", {}).get("owner")), "owner"
    )
    assert status(incident)["suspect"]["owner"] == {
        "tool": "Flux",
        "kind": "Kustomization",
        "name": KUSTOMIZATION,
        "namespace": namespace,
        "reconciles": True,
    }
    offered = status(incident)["mitigation"]["message"]
    assert f"Flux Kustomization {namespace}/{KUSTOMIZATION} applies it from git" in offered

    approve(cluster, namespace, 2)
    incident = wait_incident(cluster, namespace, mitigation_is("Succeeded"), "the undo")
    gitops = status(incident)["mitigation"]["gitops"]
    assert gitops["revision"].endswith(bad_commit) and gitops["suspendedAt"]
    kustomization = flux.kustomization(namespace, KUSTOMIZATION)
    assert kustomization["spec"]["suspend"] is True
    assert kustomization["metadata"]["annotations"]["tourniquet.dev/suspended-by"] == (
        f"{namespace}/api-errors"
    )
    holds(cluster, namespace, GOOD, seconds=5 * INTERVAL_S)

    # The IC asks to resume while git still holds the bad commit: it waits, suspended.
    resumed = plugin.run("resume", "api-errors", "-n", namespace, as_user="alice")
    assert resumed.returncode == 0, resumed.stderr
    incident = wait_incident(
        cluster,
        namespace,
        condition_is("ReconciliationSuspended", "GitOpsResumeWaitsForGit"),
        "resume waiting for git",
    )
    assert f"git revert {bad_commit}" in condition(incident, "ReconciliationSuspended")["message"]
    assert flux.kustomization(namespace, KUSTOMIZATION)["spec"]["suspend"] is True
    holds(cluster, namespace, GOOD, seconds=2 * INTERVAL_S)

    # Reverted in git: the operator resumes the Kustomization, Flux applies the revert.
    revert = repo.revert()
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i)["mitigation"]["gitops"].get("resumedAt")),
        "the Kustomization resumed",
        timeout=90,
    )
    assert flux.kustomization(namespace, KUSTOMIZATION)["spec"]["suspend"] is False
    flux.applied(namespace, KUSTOMIZATION, revert)
    holds(cluster, namespace, GOOD, seconds=2 * INTERVAL_S)
    kinds = [t["kind"] for t in status(incident)["timeline"]]
    assert "GitOpsSuspended" in kinds and "GitOpsResumed" in kinds
    reasons = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
    ).stdout.split()
    assert "GitOpsSuspended" in reasons and "GitOpsResumed" in reasons


@pytest.fixture
def without_gitops_role(tourniquet_installed: Cluster) -> Iterator[None]:
    """The operator's tourniquet-gitops ClusterRoleBinding removed for one test."""
    cluster = tourniquet_installed
    saved = cluster.get("clusterrolebinding", "tourniquet-gitops")
    cluster.kubectl("delete", "clusterrolebinding", "tourniquet-gitops")
    try:
        yield
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            saved["metadata"].pop(key, None)
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(saved))


def test_without_the_gitops_role_the_undo_is_refused_unless_the_revert_is_accepted(
    tourniquet_installed: Cluster,
    flux: Flux,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    without_gitops_role: None,
) -> None:
    cluster = tourniquet_installed
    delivered_good_then_bad(cluster, flux, namespace)
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("suspect", {}).get("owner")), "owner"
    )
    # It may not even read the Kustomization: whether it reconciles is unknown.
    assert "reconciles" not in status(incident)["suspect"]["owner"]
    before = snapshot(cluster, namespace)
    approve(cluster, namespace, 2)
    incident = wait_incident(
        cluster, namespace, mitigation_is("Refused", "GitOpsSuspendForbidden"), "refusal"
    )
    message = status(incident)["mitigation"]["message"]
    assert f"flux suspend kustomization {KUSTOMIZATION} -n {namespace}" in message
    assert snapshot(cluster, namespace) == before
    assert "suspend" not in flux.kustomization(namespace, KUSTOMIZATION)["spec"]

    # The IC accepts an undo that git will revert: approves again, with acceptRevert.
    accepted = {
        "approvedBy": "alice",
        "kind": "Deployment",
        "name": "api",
        "revision": 2,
        "acceptRevert": True,
    }
    patch_incident(
        cluster, namespace, {"status": {"approval": accepted}}, status=True, as_user="alice"
    )
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i).get("mitigation", {}).get("patchedAt")),
        "the accepted undo",
    )
    assert "forbidden" in status(incident)["mitigation"]["gitops"]["notSuspended"].lower()
    kinds = [t["kind"] for t in status(incident)["timeline"]]
    assert "GitOpsNotSuspended" in kinds
