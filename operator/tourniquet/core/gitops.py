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

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from tourniquet.api.models import GitOpsOwnerKind
from tourniquet.api.names import ANNOTATION_PREFIX, GITOPS_OWNERS
from tourniquet.core.projections import mapping, text

FLUX_KUSTOMIZE = "kustomize.toolkit.fluxcd.io"
FLUX_HELM = "helm.toolkit.fluxcd.io"
ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"
#: Where Argo CD keeps its Applications unless told otherwise.
ARGO_NAMESPACE = "argocd"


OwnerKind = GitOpsOwnerKind

#: On a suspended owner: the Incident (namespace/name) that suspended it.
SUSPENDED_BY: Final = ANNOTATION_PREFIX + "suspended-by"
#: On a suspended Argo CD Application: its automated sync policy, to restore on resume.
SAVED_AUTOMATED: Final = ANNOTATION_PREFIX + "saved-automated"


@dataclass(frozen=True)
class OwnerApi:
    group: str
    version: str
    plural: str


#: Where each owner kind is served.
OWNER_APIS: Final = {
    OwnerKind(kind): OwnerApi(group, version, plural)
    for kind, (group, version, plural, _field) in GITOPS_OWNERS.items()
}
#: The Flux sources a Kustomization can read from, and where they are served.
FLUX_SOURCES: Final = {
    "GitRepository": OwnerApi("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
    "OCIRepository": OwnerApi("source.toolkit.fluxcd.io", "v1", "ocirepositories"),
    "Bucket": OwnerApi("source.toolkit.fluxcd.io", "v1", "buckets"),
}


@dataclass(frozen=True)
class GitOpsOwner:
    kind: OwnerKind
    name: str
    namespace: str
    #: From app.kubernetes.io/instance alone: maybe Argo CD, maybe just Helm.
    guessed: bool = False
    #: Whether it re-applies git on its own now; None until the owner is read.
    reconciles: bool | None = None

    @property
    def tool(self) -> str:
        return "ArgoCD" if self.kind == OwnerKind.APPLICATION else "Flux"

    @property
    def api(self) -> OwnerApi:
        return OWNER_APIS[self.kind]

    def read(self, obj: Mapping[str, Any] | None) -> GitOpsOwner:
        """This owner as its object shows it (None: it could not be read)."""
        return replace(self, reconciles=None if obj is None else reconciles(self.kind, obj))

    def to_status(self) -> dict[str, Any]:
        owner: dict[str, Any] = {
            "tool": self.tool,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
        }
        if self.reconciles is not None:
            owner["reconciles"] = self.reconciles
        if self.guessed:
            owner["guessed"] = True
        return owner

    def describe(self) -> str:
        tool = "Argo CD" if self.kind == OwnerKind.APPLICATION else "Flux"
        what = f"{tool} {self.kind} {self.namespace}/{self.name}"
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


def owner_from_status(value: object) -> GitOpsOwner | None:
    """The owner as status.suspect.owner (or status.mitigation.gitops) records it."""
    raw = mapping(value)
    try:
        kind = OwnerKind(text(raw.get("kind")))
    except ValueError:
        return None
    name, namespace = text(raw.get("name")), text(raw.get("namespace"))
    if not name or not namespace:
        return None
    reconciling = raw.get("reconciles")
    return GitOpsOwner(
        kind,
        name,
        namespace,
        guessed=raw.get("guessed") is True,
        reconciles=reconciling if isinstance(reconciling, bool) else None,
    )


def owed_resume(incident: object) -> GitOpsOwner | None:
    """The owner this incident suspended and has not resumed yet (the postmortem's
    required action item). Any value: the postmortem renders even a malformed one."""
    status = mapping(mapping(incident).get("status"))
    gitops = mapping(mapping(status.get("mitigation")).get("gitops"))
    if not gitops.get("suspendedAt") or gitops.get("resumedAt"):
        return None
    return owner_from_status(gitops)


# -- reading the owner ---------------------------------------------------------------


def _automated(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An Application's automated sync policy, if it syncs on its own (Argo CD 3 may
    keep the block with enabled: false)."""
    automated = mapping(mapping(obj.get("spec")).get("syncPolicy")).get("automated")
    if not isinstance(automated, Mapping) or automated.get("enabled") is False:
        return None
    return automated


def reconciles(kind: OwnerKind, obj: Mapping[str, Any]) -> bool:
    """Whether the owner re-applies git by itself: a Flux object that is not suspended
    (it corrects drift every interval), an Application with automated sync."""
    if kind == OwnerKind.APPLICATION:
        return _automated(obj) is not None
    return mapping(obj.get("spec")).get("suspend") is not True


def suspended_by(obj: Mapping[str, Any]) -> str:
    """The incident (namespace/name) whose undo suspended this owner, if any."""
    return text(mapping(mapping(obj.get("metadata")).get("annotations")).get(SUSPENDED_BY))


def applied_revision(kind: OwnerKind, obj: Mapping[str, Any]) -> str | None:
    """The git revision the owner last applied (Flux: "main@sha1:<commit>")."""
    status = mapping(obj.get("status"))
    if kind == OwnerKind.APPLICATION:
        value = mapping(status.get("sync")).get("revision")
    elif kind == OwnerKind.HELM_RELEASE:
        value = status.get("lastAttemptedRevision")
    else:
        value = status.get("lastAppliedRevision")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class SourceRef:
    api: OwnerApi
    namespace: str
    name: str


def source_of(owner: GitOpsOwner, obj: Mapping[str, Any]) -> SourceRef | None:
    """Where a Kustomization reads git from; None where the operator cannot tell (a
    HelmRelease's chart; an Application is its own source: status.sync.revision)."""
    if owner.kind != OwnerKind.KUSTOMIZATION:
        return None
    ref = mapping(mapping(obj.get("spec")).get("sourceRef"))
    api = FLUX_SOURCES.get(text(ref.get("kind")))
    name = text(ref.get("name"))
    if api is None or not name:
        return None
    return SourceRef(api, text(ref.get("namespace")) or owner.namespace, name)


def source_revision(source: Mapping[str, Any]) -> str | None:
    """The revision a Flux source last fetched from git."""
    value = mapping(mapping(source.get("status")).get("artifact")).get("revision")
    return value if isinstance(value, str) and value else None


def commit_of(revision: str | None) -> str:
    """ "main@sha1:0a1b2c..." (Flux) or a bare commit (Argo CD): the commit."""
    if not revision:
        return ""
    return revision.rpartition(":")[2] if "@" in revision else revision


# -- suspending and resuming ---------------------------------------------------------


def suspend_patch(owner: GitOpsOwner, obj: Mapping[str, Any], incident: str) -> dict[str, Any]:
    """The merge patch that stops the owner re-applying git, marked with the incident.
    An Application's automated policy is kept in an annotation to restore; a retry after
    it was removed keeps what the first attempt saved."""
    annotations: dict[str, Any] = {SUSPENDED_BY: incident}
    if owner.kind != OwnerKind.APPLICATION:
        return {"metadata": {"annotations": annotations}, "spec": {"suspend": True}}
    automated = _automated(obj)
    saved = mapping(mapping(obj.get("metadata")).get("annotations")).get(SAVED_AUTOMATED)
    if automated is not None:
        annotations[SAVED_AUTOMATED] = json.dumps(dict(automated), sort_keys=True)
    elif isinstance(saved, str):
        annotations[SAVED_AUTOMATED] = saved
    return {"metadata": {"annotations": annotations}, "spec": {"syncPolicy": {"automated": None}}}


def resume_patch(owner: GitOpsOwner, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that gives reconciliation back to the owner, as it was."""
    annotations: dict[str, Any] = {SUSPENDED_BY: None}
    if owner.kind != OwnerKind.APPLICATION:
        return {"metadata": {"annotations": annotations}, "spec": {"suspend": False}}
    annotations[SAVED_AUTOMATED] = None
    saved = mapping(mapping(obj.get("metadata")).get("annotations")).get(SAVED_AUTOMATED)
    try:
        automated = json.loads(saved) if isinstance(saved, str) else None
    except ValueError:
        automated = None
    restored = dict(automated) if isinstance(automated, dict) else {}
    return {
        "metadata": {"annotations": annotations},
        "spec": {"syncPolicy": {"automated": restored}},
    }


def manual_suspend_command(owner: GitOpsOwner) -> str:
    """What a person runs to suspend it by hand."""
    if owner.kind == OwnerKind.APPLICATION:
        return f"argocd app set {owner.namespace}/{owner.name} --sync-policy none"
    what = "kustomization" if owner.kind == OwnerKind.KUSTOMIZATION else "helmrelease"
    return f"flux suspend {what} {owner.name} -n {owner.namespace}"
