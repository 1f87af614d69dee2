from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle
from tourniquet.core.draft import Draft
from tourniquet.core.gitops import (
    SAVED_AUTOMATED,
    SUSPENDED_BY,
    GitOpsOwner,
    OwnerKind,
    applied_revision,
    commit_of,
    manual_suspend_command,
    owner_from_status,
    owner_of,
    reconciles,
    resume_patch,
    source_of,
    source_revision,
    suspend_patch,
)
from tourniquet.core.guards import Refusal


@pytest.mark.parametrize(
    ("metadata", "owner"),
    [
        (
            {
                "namespace": "prod",
                "labels": {
                    "kustomize.toolkit.fluxcd.io/name": "apps",
                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
                },
            },
            GitOpsOwner(OwnerKind.KUSTOMIZATION, "apps", "flux-system"),
        ),
        (
            {"namespace": "prod", "labels": {"helm.toolkit.fluxcd.io/name": "api"}},
            GitOpsOwner(OwnerKind.HELM_RELEASE, "api", "prod"),
        ),
        (
            {
                "namespace": "prod",
                "annotations": {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:prod/api"},
            },
            GitOpsOwner(OwnerKind.APPLICATION, "shop", "argocd"),
        ),
        (
            {
                "namespace": "prod",
                "annotations": {
                    "argocd.argoproj.io/tracking-id": "team-a_shop:apps/Deployment:prod/api"
                },
            },
            GitOpsOwner(OwnerKind.APPLICATION, "shop", "team-a"),
        ),
        (
            {"namespace": "prod", "labels": {"app.kubernetes.io/instance": "shop"}},
            GitOpsOwner(OwnerKind.APPLICATION, "shop", "argocd", guessed=True),
        ),
        (
            {
                "namespace": "prod",
                "labels": {"app.kubernetes.io/instance": "shop"},
                "annotations": {"meta.helm.sh/release-name": "shop"},
            },
            None,
        ),
        ({"namespace": "prod", "labels": {"app": "api"}}, None),
        ({"annotations": {"argocd.argoproj.io/tracking-id": "garbled"}}, None),
    ],
)
def test_owner_of(metadata: dict[str, object], owner: GitOpsOwner | None) -> None:
    assert owner_of(metadata) == owner


def test_flux_wins_over_a_stray_argo_label_and_says_what_it_is() -> None:
    owner = owner_of(
        {
            "namespace": "prod",
            "labels": {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "app.kubernetes.io/instance": "shop",
            },
        }
    )
    assert owner is not None
    assert owner.describe() == "Flux Kustomization prod/apps"
    assert owner.to_status() == {
        "tool": "Flux",
        "kind": "Kustomization",
        "name": "apps",
        "namespace": "prod",
    }


APP = GitOpsOwner(OwnerKind.APPLICATION, "api", "argocd")
KS = GitOpsOwner(OwnerKind.KUSTOMIZATION, "apps", "flux-system")


def application(
    automated: object = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    policy = {"automated": automated, "syncOptions": ["CreateNamespace=true"]}
    return {
        "metadata": {"name": "api", "namespace": "argocd", "annotations": annotations or {}},
        "spec": {"syncPolicy": {k: v for k, v in policy.items() if v is not None}},
        "status": {"sync": {"revision": "0badc0ffee"}},
    }


def test_what_reconciles_on_its_own() -> None:
    assert reconciles(OwnerKind.KUSTOMIZATION, {"spec": {"interval": "1m"}})
    assert not reconciles(OwnerKind.HELM_RELEASE, {"spec": {"suspend": True}})
    assert reconciles(OwnerKind.APPLICATION, application({"selfHeal": True}))
    assert reconciles(OwnerKind.APPLICATION, application({}))
    assert not reconciles(OwnerKind.APPLICATION, application())
    assert not reconciles(OwnerKind.APPLICATION, application({"enabled": False}))


def test_flux_is_suspended_and_resumed_with_spec_suspend() -> None:
    assert suspend_patch(KS, {}, "prod/api-errors") == {
        "metadata": {"annotations": {SUSPENDED_BY: "prod/api-errors"}},
        "spec": {"suspend": True},
    }
    assert resume_patch(KS, {}) == {
        "metadata": {"annotations": {SUSPENDED_BY: None}},
        "spec": {"suspend": False},
    }


def test_argo_automated_sync_is_saved_removed_and_restored_as_it_was() -> None:
    automated = {"prune": True, "selfHeal": True}
    patch = suspend_patch(APP, application(automated), "prod/api-errors")
    assert patch["spec"] == {"syncPolicy": {"automated": None}}  # syncOptions untouched
    saved = patch["metadata"]["annotations"][SAVED_AUTOMATED]
    assert json.loads(saved) == automated
    # A retry after the first attempt removed it keeps what was saved.
    retried = suspend_patch(APP, application(None, {SAVED_AUTOMATED: saved}), "prod/api-errors")
    assert retried["metadata"]["annotations"][SAVED_AUTOMATED] == saved
    resumed = resume_patch(APP, application(None, {SAVED_AUTOMATED: saved}))
    assert resumed == {
        "metadata": {"annotations": {SUSPENDED_BY: None, SAVED_AUTOMATED: None}},
        "spec": {"syncPolicy": {"automated": automated}},
    }


def test_revisions_and_sources() -> None:
    kustomization = {
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}},
        "status": {"lastAppliedRevision": "main@sha1:0badc0ffee"},
    }
    assert applied_revision(OwnerKind.KUSTOMIZATION, kustomization) == "main@sha1:0badc0ffee"
    assert applied_revision(OwnerKind.APPLICATION, application({})) == "0badc0ffee"
    source = source_of(KS, kustomization)
    assert source is not None
    assert (source.api.plural, source.namespace, source.name) == (
        "gitrepositories",
        "flux-system",
        "repo",
    )
    assert source_of(APP, application({})) is None
    assert source_revision({"status": {"artifact": {"revision": "main@sha1:1"}}}) == "main@sha1:1"
    assert commit_of("main@sha1:0badc0ffee") == "0badc0ffee"
    assert commit_of("0badc0ffee") == "0badc0ffee"
    assert commit_of(None) == ""


def test_an_owner_round_trips_through_status() -> None:
    owner = KS.read({"spec": {}})
    assert owner.reconciles is True
    assert owner_from_status(owner.to_status()) == owner
    assert owner_from_status({"kind": "Nonsense", "name": "x", "namespace": "y"}) is None
    assert manual_suspend_command(KS) == "flux suspend kustomization apps -n flux-system"
    assert manual_suspend_command(APP) == "argocd app set argocd/api --sync-policy none"


def test_a_refusal_keeps_a_suspension_already_made_on_the_record() -> None:
    suspended = {"tool": "Flux", "kind": "Kustomization", "name": "apps", "namespace": "f"}
    suspended["suspendedAt"] = "2026-12-01T00:00:00Z"
    d = Draft(
        {
            "metadata": {"name": "api-errors", "namespace": "prod"},
            "spec": {},
            "status": {"mitigation": {"result": "InProgress", "gitops": suspended}},
        },
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    lifecycle.refuse(d, Refusal(Reason.TARGET_CHANGED, "the Deployment moved on"))
    assert d.mitigation is not None and d.mitigation["result"] == "Refused"
    assert d.mitigation["gitops"] == suspended  # still owed its resume
