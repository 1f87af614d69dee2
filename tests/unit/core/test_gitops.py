from __future__ import annotations

import pytest

from tourniquet.core.gitops import GitOpsOwner, OwnerKind, owner_of


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
    assert owner.to_status() == {"kind": "Kustomization", "name": "apps", "namespace": "prod"}
