"""Tourniquet's names on the cluster, each defined once: the API group and version, the
resources, the finalizer, and every label and annotation key under the group."""

from __future__ import annotations

from typing import Final

GROUP = "tourniquet.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "tourniquet"

INCIDENTS = "incidents"
RUNBOOKS = "runbooks"
INCIDENT_KIND = "Incident"
RUNBOOK_KIND = "Runbook"

FINALIZER = f"{GROUP}/finalizer"

#: Name of the ValidatingAdmissionPolicy (and its binding) that checks approvals.
APPROVAL_POLICY_NAME = "tourniquet-incident-approval"
#: Members of this group may approve any Incident's mitigation, besides its commander.
DEFAULT_APPROVERS_GROUP = "tourniquet:incident-commanders"

# Annotations on Incidents (the operator's record: only its identity may write them).
ANNOTATION_PREFIX = f"{GROUP}/"
TIMELINE_ARCHIVE = f"{GROUP}/timeline-archive"
SEVERITY_SOURCE = f"{GROUP}/severity-source"
ALERT_STATUS = f"{GROUP}/alert-status"
ALERT_STATUS_AT = f"{GROUP}/alert-status-at"
AUTO_RESOLVE = f"{GROUP}/auto-resolve"

# Labels.
ALERT_GROUP_LABEL = f"{GROUP}/alert-group"
SOURCE_LABEL = f"{GROUP}/source"
ALERTNAME_LABEL = f"{GROUP}/alertname"
INCIDENT_LABEL = f"{GROUP}/incident"

# The operator's own identity: its ServiceAccount (the chart's is named after the release,
# in the release's namespace; config/ and `make install` use these).
OPERATOR_NAMESPACE = "tourniquet-system"
OPERATOR_SERVICE_ACCOUNT = "tourniquet"
DEFAULT_OPERATOR_IDENTITY = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
#: The second policy: what the operator's identity may change.
CONFINEMENT_POLICY_NAME = "tourniquet-operator-confinement"

#: The GitOps owners an undo suspends and the IC resumes: kind -> (group, version, plural,
#: the one spec field the operator changes on it). Flux's GA versions; Argo CD's only one.
GITOPS_OWNERS: Final = {
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "suspend"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "suspend"),
    "Application": ("argoproj.io", "v1alpha1", "applications", "syncPolicy"),
}
