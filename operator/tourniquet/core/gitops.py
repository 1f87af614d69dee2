"""Who owns a workload: a GitOps controller that would re-apply the bad revision after an
undo, read from the marks the controllers themselves put on what they apply.

- Flux's kustomize-controller labels `kustomize.toolkit.fluxcd.io/name` and `/namespace`
  (the Kustomization); helm-controller labels `helm.toolkit.fluxcd.io/name` and
  `/namespace` (the HelmRelease).
- Argo CD's annotation tracking `argocd.argoproj.io/tracking-id`
  ("<app>:<group>/<kind>:<namespace>/<name>", the app possibly "<namespace>_<app>" when
  Applications live outside argocd's namespace), or its label tracking
  `app.kubernetes.io/instance` (the Application's name; a common Helm label too, so it
  only counts where no annotation says otherwise and is marked as a guess).

Pure: it decides from labels and annotations; whether the owner auto-syncs or self-heals
is read from the owner object by the shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

FLUX_KUSTOMIZE = "kustomize.toolkit.fluxcd.io"
FLUX_HELM = "helm.toolkit.fluxcd.io"
ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"
#: Where Argo CD keeps its Applications unless told otherwise.
ARGO_NAMESPACE = "argocd"


class OwnerKind(StrEnum):
    KUSTOMIZATION = "Kustomization"
    HELM_RELEASE = "HelmRelease"
    APPLICATION = "Application"


@dataclass(frozen=True)
class GitOpsOwner:
    kind: OwnerKind
    name: str
    namespace: str
    #: From app.kubernetes.io/instance alone: maybe Argo CD, maybe just Helm.
    guessed: bool = False

    @property
    def tool(self) -> str:
        return "Argo CD" if self.kind == OwnerKind.APPLICATION else "Flux"

    def to_status(self) -> dict[str, Any]:
        owner: dict[str, Any] = {"kind": self.kind, "name": self.name, "namespace": self.namespace}
        if self.guessed:
            owner["guessed"] = True
        return owner

    def describe(self) -> str:
        what = f"{self.tool} {self.kind} {self.namespace}/{self.name}"
        return f"{what} (from app.kubernetes.io/instance only)" if self.guessed else what


def _strings(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _flux(labels: Mapping[str, str], group: str, kind: OwnerKind, ns: str) -> GitOpsOwner | None:
    name = labels.get(f"{group}/name")
    if not name:
        return None
    return GitOpsOwner(kind, name, labels.get(f"{group}/namespace") or ns)


def _argo_tracking(value: str) -> GitOpsOwner | None:
    app, sep, _resource = value.partition(":")
    if not sep or not app:
        return None
    namespace, underscore, name = app.partition("_")
    if not underscore:
        namespace, name = ARGO_NAMESPACE, app
    return GitOpsOwner(OwnerKind.APPLICATION, name, namespace) if name else None


def owner_of(metadata: Mapping[str, Any]) -> GitOpsOwner | None:
    """The GitOps owner of the object with this metadata, or None."""
    labels = _strings(metadata.get("labels"))
    annotations = _strings(metadata.get("annotations"))
    namespace = str(metadata.get("namespace") or "")
    owner = _flux(labels, FLUX_KUSTOMIZE, OwnerKind.KUSTOMIZATION, namespace) or _flux(
        labels, FLUX_HELM, OwnerKind.HELM_RELEASE, namespace
    )
    if owner is not None:
        return owner
    tracking = annotations.get(ARGO_TRACKING_ID)
    if tracking:
        return _argo_tracking(tracking)
    instance = labels.get(ARGO_INSTANCE_LABEL)
    if instance and "meta.helm.sh/release-name" not in annotations:
        return GitOpsOwner(OwnerKind.APPLICATION, instance, ARGO_NAMESPACE, guessed=True)
    return None
