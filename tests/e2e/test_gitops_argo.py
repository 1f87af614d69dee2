"""Argo CD ownership (issue 11) with Argo CD's real Application CRD (installed by
hack/gitops.sh from its module; Argo CD's controllers are not built here, so this test
plays the application-controller's part: it writes the Application's sync status).

The suspect names the Application from the tracking annotation; the approved undo turns
automated sync off (keeping the policy to restore), the IC's resume waits while the
Application is still at the bad commit and restores the policy exactly once it moved on.
The operator's token may change nothing else on an Application.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from devkit.cluster import ClusterUnavailable, unavailable
from devkit.gitops import gitops_up
from devkit.incidents import (
    approve,
    condition_is,
    declare,
    good_then_bad,
    mitigation_is,
    patch_incident,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for

from tourniquet.api.names import DEFAULT_OPERATOR_IDENTITY

StartOperator = Callable[..., OperatorProcess]
AUTOMATED = {"prune": True, "selfHeal": True}
BAD_COMMIT = "0badc0ffee0badc0ffee0badc0ffee0badc0ffee"
REVERT_COMMIT = "600dcafe600dcafe600dcafe600dcafe600dcafe"


@pytest.fixture(scope="module")
def argo_crds(tourniquet_installed: Cluster) -> Cluster:
    try:
        gitops_up()
    except ClusterUnavailable as exc:
        unavailable(f"Argo CD's CRDs unavailable: {exc}")
    return tourniquet_installed


def _application(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example/api.git", "path": "deploy"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": AUTOMATED, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def synced_at(cluster: Cluster, namespace: str, commit: str) -> None:
    """What Argo CD's application-controller writes: the revision the app is synced to."""
    cluster.kubectl(
        "patch", "application", "api", "-n", namespace, "--type=merge",
        "-p", json.dumps({"status": {"sync": {"status": "Synced", "revision": commit}}}),
    )  # fmt: skip


def test_argo_cd_automated_sync_is_turned_off_for_the_undo_and_restored_on_resume(
    argo_crds: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
) -> None:
    cluster = argo_crds
    good_then_bad(cluster, namespace)
    cluster.kubectl(
        "annotate", "deployment", "api", "-n", namespace,
        f"argocd.argoproj.io/tracking-id={namespace}_api:apps/Deployment:{namespace}/api",
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(_application(namespace)))
    synced_at(cluster, namespace, BAD_COMMIT)
    start_operator()
    declare(cluster, namespace)
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("suspect", {}).get("owner")), "owner"
    )
    assert status(incident)["suspect"]["owner"] == {
        "tool": "ArgoCD",
        "kind": "Application",
        "name": "api",
        "namespace": namespace,
        "reconciles": True,
    }

    approve(cluster, namespace, 2)
    incident = wait_incident(cluster, namespace, mitigation_is("Succeeded"), "the undo")
    assert status(incident)["mitigation"]["gitops"]["revision"] == BAD_COMMIT
    app = cluster.get("application", "api", namespace)
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    saved = app["metadata"]["annotations"]["tourniquet.dev/saved-automated"]
    assert json.loads(saved) == AUTOMATED

    # The operator's token cannot use its patch permission for anything wider.
    for patch in (
        {"spec": {"source": {"repoURL": "https://evil.example/api.git"}}},
        {"spec": {"syncPolicy": {"syncOptions": []}}},
        {"metadata": {"labels": {"owner": "me"}}},
    ):
        attempt = cluster.kubectl(
            "patch", "application", "api", "-n", namespace, "--type=merge",
            "-p", json.dumps(patch), as_user=DEFAULT_OPERATOR_IDENTITY, check=False,
        )  # fmt: skip
        assert attempt.returncode != 0 and "operator confined" in attempt.stderr, attempt
    deleted = cluster.kubectl(
        "delete", "application", "api", "-n", namespace,
        as_user=DEFAULT_OPERATOR_IDENTITY, check=False,
    )  # fmt: skip
    assert deleted.returncode != 0, deleted
    assert cluster.get("application", "api", namespace)["spec"] == app["spec"]

    # Resume as the IC: waits while the Application is still at the bad commit...
    patch_incident(cluster, namespace, {"spec": {"gitops": {"resume": True}}}, as_user="alice")
    wait_incident(
        cluster,
        namespace,
        condition_is("ReconciliationSuspended", "GitOpsResumeWaitsForGit"),
        "resume waiting for git",
    )
    assert "automated" not in cluster.get("application", "api", namespace)["spec"]["syncPolicy"]
    # ...and restores exactly the automated policy once it has moved on.
    synced_at(cluster, namespace, REVERT_COMMIT)

    def restored() -> dict[str, Any] | None:
        policy = cluster.get("application", "api", namespace)["spec"]["syncPolicy"]
        return policy if "automated" in policy else None

    policy = wait_for(restored, what="automated sync restored")
    assert policy == {"automated": AUTOMATED, "syncOptions": ["CreateNamespace=true"]}
    annotations = cluster.get("application", "api", namespace)["metadata"].get("annotations")
    assert not any(k.startswith("tourniquet.dev/") for k in (annotations or {}))


def test_only_the_commander_may_resume(
    argo_crds: Cluster, namespace: str, people: tuple[str, ...]
) -> None:
    cluster = argo_crds
    declare(cluster, namespace, as_user="alice")
    refused = patch_incident(
        cluster, namespace, {"spec": {"gitops": {"resume": True}}}, as_user="bob", check=False
    )
    assert refused.returncode != 0 and "resume rejected" in refused.stderr, refused
