{{/*
Names. With the release called "tourniquet" every name is the one config/ (kustomize)
uses; a test renders both and compares them.
*/}}
{{- define "tourniquet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tourniquet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tourniquet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tourniquet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tourniquet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* On every object (uninstall checks select by app.kubernetes.io/instance). */}}
{{- define "tourniquet.labels" -}}
helm.sh/chart: {{ include "tourniquet.chart" . }}
{{ include "tourniquet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tourniquet
{{- end }}

{{- define "tourniquet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tourniquet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ValidatingAdmissionPolicy the operator checks before it trusts an approval. */}}
{{- define "tourniquet.approvalPolicyName" -}}
{{- default (printf "%s-incident-approval" (include "tourniquet.fullname" .)) .Values.approvalPolicy.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tourniquet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's permissions, least privilege: exactly the API calls it makes
(operator/tourniquet/handlers.py and kube.py, plus what kopf itself needs).
config/rbac/role.yaml holds the same rules; test_install.py compares the rendered
chart with `kubectl kustomize config/default`.

"tourniquet.operatorNamespacedRules": in a ClusterRole when every namespace is
watched, in a Role per namespace in the namespaced mode (watchNamespaces).
*/}}
{{- define "tourniquet.operatorNamespacedRules" -}}
# Incidents: kopf lists and watches them, and patches their metadata (its finalizer,
# its progress annotations under tourniquet.dev/).
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents"]
  verbs: ["list", "watch", "patch"]
{{- if .Values.alerts.enabled }}
# The alert receiver declares an Incident per firing alert group (and patches it with
# re-sent and resolved notifications).
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents"]
  verbs: ["create"]
{{- end }}
# The operator writes status with a merge patch (resourceVersion as precondition).
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents/status"]
  verbs: ["patch"]
# Runbooks: watched and validated, read when an incident links one; the verdict goes
# to their status.
- apiGroups: ["tourniquet.dev"]
  resources: ["runbooks"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["tourniquet.dev"]
  resources: ["runbooks/status"]
  verbs: ["patch"]
# The suspect search (kopf indexes), the guards' fresh read, and the undo (a JSON
# patch). No create, update or delete: the operator never makes or removes workloads.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "patch"]
# Revision history: the ReplicaSets an undo returns to. Read only.
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
# StatefulSets and DaemonSets, as Deployments: the suspect search (lean watches), the
# guards' fresh read, the undo (a strategic merge patch of spec.template, which the
# confinement policy holds to that). No create, update or delete.
- apiGroups: ["apps"]
  resources: ["statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
# Their revision history: the ControllerRevisions an undo returns to. Read only.
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["list", "watch"]
# A StatefulSet undo stuck on a pod that is never Ready (OrderedReady): its pods are
# listed by the StatefulSet's selector, and the stuck one deleted once the Incident
# Commander approves. The confinement policy allows deleting only a not-Ready pod
# owned by a StatefulSet.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "delete"]
# The postmortem draft of a resolved incident: a ConfigMap <incident>-postmortem owned
# by the Incident, created, then patched when it changes. Never read, never deleted.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "patch"]
# kopf posts core/v1 Events on Incidents, Runbooks and Deployments.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.peering.enabled }}
# --peering in the namespaced mode: kopf's KopfPeering in each watched namespace.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}

{{/* Cluster-scoped reads, in a ClusterRole in both modes. */}}
{{- define "tourniquet.operatorClusterRules" -}}
# The operator acts on an approval only when the approval policy is installed and
# bound with Deny: it reads that one policy, and lists the bindings.
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["validatingadmissionpolicies"]
  resourceNames: [{{ include "tourniquet.approvalPolicyName" . | quote }}]
  verbs: ["get"]
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["validatingadmissionpolicybindings"]
  verbs: ["list"]
# kopf's runtime observation of CRDs (it notices the Incident CRD being updated).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- /* No namespaces read in the namespaced mode: the operator serves exactly the names
given, without kopf's namespace scanning (shell/registration.tune_kopf). */ -}}
{{- if and (not .Values.watchNamespaces) .Values.peering.enabled }}
# --peering when watching every namespace: kopf's ClusterKopfPeering.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}

{{/* People: each role includes the one before it, so one RoleBinding is enough. */}}
{{- define "tourniquet.viewerRules" -}}
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents", "runbooks"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{- define "tourniquet.responderRules" -}}
# Declare incidents and update them (spec: roles, scope; the policy keeps spec.resolved
# for the commander).
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents"]
  verbs: ["create", "update", "patch"]
# Runbooks are edited like any other configuration.
- apiGroups: ["tourniquet.dev"]
  resources: ["runbooks"]
  verbs: ["create", "update", "patch", "delete"]
{{- end }}

{{- define "tourniquet.commanderRules" -}}
# Approve: the verb `approve` on incidents is the permission the approval policy asks the
# API server's authorizer for; the approval itself is `kubectl patch incident ...
# --subresource=status` (or `kubectl incident approve`).
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents"]
  verbs: ["approve"]
- apiGroups: ["tourniquet.dev"]
  resources: ["incidents/status"]
  verbs: ["get", "patch"]
{{- end }}
