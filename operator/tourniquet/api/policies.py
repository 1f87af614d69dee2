"""The two ValidatingAdmissionPolicies that make the API server enforce who may do what
(../shared/DESIGN.md, "Who may do what"), generated from the models like the CRDs.

- `tourniquet-incident-approval` guards Incidents: the approval (in the approver's own
  name, by the commander as they were before the request, holding the RBAC verb
  `approve`, naming the suspect exactly), handovers, the all-clear, the acknowledgement,
  the resume of a suspended GitOps owner, comms updates and checklist ticks; and the
  record: every status field but `approval` and `acknowledgement`, and every
  `tourniquet.dev/` annotation, is the operator's alone.
- `tourniquet-operator-confinement` guards the operator's own identity: on a workload it
  may change only what an undo changes (the pod template and annotations), on a GitOps
  owner only its suspension, and it may write only the ConfigMaps it owns (postmortem
  drafts).

Each rule is a short CEL expression with a message that says what to do instead.
"""

from __future__ import annotations

import json
from typing import Any

from tourniquet.api.models import INCIDENT, IncidentStatus
from tourniquet.api.names import (
    ANNOTATION_PREFIX,
    API_VERSION,
    APPROVAL_POLICY_NAME,
    CONFINEMENT_POLICY_NAME,
    DEFAULT_APPROVERS_GROUP,
    DEFAULT_OPERATOR_IDENTITY,
    GITOPS_OWNERS,
    GROUP,
    INCIDENT_KIND,
    INCIDENT_LABEL,
    INCIDENTS,
    VERSION,
)
from tourniquet.api.vocabulary import UNDO_STARTED

#: Status fields people write; every other status field is the operator's record.
PEOPLE_STATUS_FIELDS = ("approval", "acknowledgement", "podDeletion")
TICKS = ("bridgeOpened", "statusPageUpdated", "customerSupportBriefed")
#: Deployment spec fields an undo never changes (it changes spec.template only).
WORKLOAD_FIXED_SPEC = (
    "replicas",
    "selector",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "paused",
    "progressDeadlineSeconds",
    # StatefulSets and DaemonSets: an undo restores spec.template only (kubectl sends the
    # ControllerRevision's data), so their update strategy (a partition!), identity and
    # storage are never the operator's to change.
    "updateStrategy",
    "serviceName",
    "podManagementPolicy",
    "volumeClaimTemplates",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
)


def cel_string(value: str) -> str:
    """A CEL string literal (CEL accepts JSON's double-quoted escapes)."""
    return json.dumps(value)


def _cel(*lines: str) -> str:
    """A CEL expression over several lines (written as a YAML literal block)."""
    return "\n".join(lines)


def record_fields() -> list[str]:
    """The Incident status fields only the operator writes, from the model."""
    names = [field.alias or name for name, field in IncidentStatus.model_fields.items()]
    return [name for name in names if name not in PEOPLE_STATUS_FIELDS]


def _metadata(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            "app.kubernetes.io/name": "tourniquet",
            "app.kubernetes.io/part-of": "tourniquet",
        },
    }


def _rule(expression: str, message: str, message_expression: str) -> dict[str, Any]:
    return {
        "expression": expression,
        "messageExpression": message_expression,
        "message": message,
        "reason": "Forbidden",
    }


def _approval_variables(approvers_group: str, operator: str) -> dict[str, str]:
    record_changed = " || ".join(
        f"object.?status.?{name} != oldObject.?status.?{name}" for name in record_fields()
    )
    started = ", ".join(f"'{result.value}'" for result in sorted(UNDO_STARTED))
    ticks = ", ".join(
        f"object.spec.?checklist.?{tick}.orValue('') == "
        f"(variables.creating ? '' : oldObject.spec.?checklist.?{tick}.orValue('')) ? '' : "
        f"object.spec.?checklist.?{tick}.orValue('')"
        for tick in TICKS
    )
    return {
        "creating": "request.operation == 'CREATE'",
        "user": "request.userInfo.username",
        "groups": "request.userInfo.?groups.orValue([])",
        "operator": cel_string(operator),
        "isOperator": "variables.user == variables.operator",
        "approversGroup": cel_string(approvers_group),
        "inApprovers": "variables.approversGroup in variables.groups",
        # The commander as they were BEFORE this request: renaming yourself grants nothing.
        "commander": "variables.creating ? '' : oldObject.spec.?roles.?commander.orValue('')",
        "isCommander": "variables.commander != '' && variables.user == variables.commander",
        # Approval authority is a Kubernetes permission, asked of the API server's authorizer.
        "mayApprove": f"authorizer.group({cel_string(GROUP)}).resource({cel_string(INCIDENTS)})"
        ".namespace(object.metadata.namespace).name(object.metadata.name)"
        ".check('approve').allowed()",
        "newApproval": "object.?status.?approval",
        "approvalChanged": "!variables.creating"
        " && variables.newApproval != oldObject.?status.?approval",
        "approving": "variables.approvalChanged && variables.newApproval.hasValue()",
        "suspect": "oldObject.?status.?suspect",
        "mitigationResult": "variables.creating ? ''"
        " : oldObject.?status.?mitigation.?result.orValue('')",
        "undoStarted": f"variables.mitigationResult in [{started}]",
        "recordChanged": f"!variables.creating && ({record_changed})",
        "newAnnotations": "object.metadata.?annotations.orValue({})",
        "oldAnnotations": "variables.creating ? {} : oldObject.metadata.?annotations.orValue({})",
        "ourAnnotationsChanged": _cel(
            "variables.newAnnotations.exists(k, k.startsWith("
            + cel_string(ANNOTATION_PREFIX)
            + ")",
            "    && (!(k in variables.oldAnnotations)"
            " || variables.oldAnnotations[k] != variables.newAnnotations[k]))",
            "|| variables.oldAnnotations.exists(k, k.startsWith("
            + cel_string(ANNOTATION_PREFIX)
            + ")",
            "    && !(k in variables.newAnnotations))",
        ),
        "commanderChanged": "!variables.creating && object.spec.?roles.?commander"
        " != oldObject.spec.?roles.?commander",
        "resolving": "object.spec.?resolved.orValue(false)"
        " && (variables.creating || !oldObject.spec.?resolved.orValue(false))",
        "resumingGitOps": "object.spec.?gitops.?resume.orValue(false)"
        " && (variables.creating || !oldObject.spec.?gitops.?resume.orValue(false))",
        "newPodDeletion": "object.?status.?podDeletion",
        "podDeletionChanged": "!variables.creating"
        " && variables.newPodDeletion != oldObject.?status.?podDeletion"
        " && variables.newPodDeletion.hasValue()",
        "stuckPod": "variables.creating ? ''"
        " : oldObject.?status.?mitigation.?stuckPod.?name.orValue('')",
        "newAck": "object.?status.?acknowledgement",
        "acknowledging": "!variables.creating"
        " && variables.newAck != oldObject.?status.?acknowledgement"
        " && variables.newAck.hasValue()",
        "addedUpdates": "variables.creating ? object.spec.?updates.orValue([])"
        " : object.spec.?updates.orValue([])"
        ".filter(u, !(u in oldObject.spec.?updates.orValue([])))",
        "tickers": f"[{ticks}]",
    }


def _suspect_text() -> str:
    """CEL: the current suspect as the operator wrote it, e.g. Deployment/api revision 7."""
    return (
        "(variables.suspect.hasValue()"
        " ? variables.suspect.value().?kind.orValue('Deployment') + '/'"
        " + variables.suspect.value().name + ' revision '"
        " + string(variables.suspect.value().revision)"
        " : 'not identified yet')"
    )


def _approval_validations() -> list[dict[str, Any]]:
    user = "'user \"' + variables.user + '\"'"
    # The fix, spelled out (no JSON: its closing braces would read as Helm actions).
    approve_with = (
        "'kubectl incident approve ' + object.metadata.name + ' -n ' + object.metadata.namespace"
        " + ', or set status.approval to approvedBy: ' + variables.user"
        " + ', kind: ' + variables.suspect.value().?kind.orValue('Deployment')"
        " + ', name: ' + variables.suspect.value().name"
        " + ', revision: ' + string(variables.suspect.value().revision)"
    )
    return [
        _rule(
            "variables.isOperator || !variables.recordChanged",
            "the incident record (status other than approval and acknowledgement) is written"
            " only by the Tourniquet operator",
            f"'record rejected: ' + {user} + ' may not change the incident record: only the"
            " Tourniquet operator (' + variables.operator + ') writes status fields other than"
            " approval and acknowledgement (approve with status.approval)'",
        ),
        _rule(
            "variables.isOperator || !variables.ourAnnotationsChanged",
            f"annotations under {ANNOTATION_PREFIX} are written only by the Tourniquet operator",
            _cel(
                f"'annotation rejected: ' + {user} + ' may not add, change or remove"
                f" {ANNOTATION_PREFIX} annotations: they are the operator\\'s record'"
            ),
        ),
        _rule(
            "!variables.isOperator || (!variables.approvalChanged && !variables.acknowledging"
            " && !variables.podDeletionChanged)",
            "the operator never approves or acknowledges: people do",
            "'the operator (' + variables.user + ') may not write status.approval,"
            " status.acknowledgement or status.podDeletion'",
        ),
        _rule(
            _cel(
                "!variables.podDeletionChanged",
                "|| (variables.newPodDeletion.value().approvedBy == variables.user",
                "    && (variables.isCommander || variables.inApprovers)",
                "    && variables.mayApprove",
                "    && variables.stuckPod != ''",
                "    && variables.newPodDeletion.value().pod == variables.stuckPod)",
            ),
            "pod deletion rejected: only the Incident Commander, in their own name and holding"
            " the approve verb, approves deleting the pod named in status.mitigation.stuckPod",
            _cel(
                f"'pod deletion rejected: ' + {user} + ' must be the Incident Commander'",
                "+ ' (\"' + variables.commander + '\"), hold the approve verb, write'",
                "+ ' status.podDeletion.approvedBy as their own name, and name the stuck pod'",
                "+ (variables.stuckPod == '' ? ' (there is none)'",
                "   : ' \"' + variables.stuckPod + '\"')",
            ),
        ),
        _rule(
            "!variables.approving || variables.newApproval.value().approvedBy == variables.user",
            "approval rejected: status.approval.approvedBy must be your own user name",
            _cel(
                f"'approval rejected: ' + {user} + ' cannot approve in the name of \"'",
                "+ variables.newApproval.value().approvedBy",
                "+ '\": set status.approval.approvedBy to your own user name'",
            ),
        ),
        _rule(
            "!variables.approvalChanged || variables.isCommander || variables.inApprovers",
            "approval rejected: only the Incident Commander (spec.roles.commander, as it was"
            " before this request) or a member of the approvers group may approve",
            _cel(
                f"'approval rejected: ' + {user} + ' is not the Incident Commander ('",
                "+ (variables.commander == ''",
                "   ? 'spec.roles.commander is not set'",
                "   : 'spec.roles.commander is \"' + variables.commander + '\"')",
                "+ ') and not in the approvers group \"' + variables.approversGroup + '\"'",
            ),
        ),
        _rule(
            "!variables.approvalChanged || variables.mayApprove",
            "approval rejected: approving needs the RBAC verb approve on incidents"
            " (the tourniquet-commander ClusterRole grants it)",
            _cel(
                f"'approval rejected: ' + {user} + ' may not approve: it needs the RBAC verb"
                ' "approve" on incidents.tourniquet.dev in namespace \'',
                "+ object.metadata.namespace",
                "+ ' (kubectl create rolebinding ... --clusterrole=tourniquet-commander --user='",
                "+ variables.user + ')'",
            ),
        ),
        _rule(
            _cel(
                "!variables.approving",
                "|| (variables.suspect.hasValue()",
                "    && variables.newApproval.value().?kind.orValue('')"
                " == variables.suspect.value().?kind.orValue('Deployment')",
                "    && variables.newApproval.value().?name.orValue('')"
                " == variables.suspect.value().name",
                "    && variables.newApproval.value().revision"
                " == variables.suspect.value().revision)",
            ),
            "approval rejected: the approval must name the current suspect (kind, name and"
            " revision in status.suspect)",
            _cel(
                "'approval rejected: it must name the current suspect exactly; the suspect is '",
                f"+ {_suspect_text()}",
                "+ (variables.suspect.hasValue() ? '; approve it with ' + "
                + approve_with
                + " : '')",
            ),
        ),
        _rule(
            "!variables.approvalChanged || !variables.undoStarted",
            "approval rejected: status.approval cannot be added, changed or removed once the"
            " mitigation has started",
            _cel(
                f"'approval rejected: ' + {user} + ' cannot add, change or remove"
                " status.approval once the mitigation has started (status.mitigation.result is \"'",
                "+ variables.mitigationResult + '\"): an incident undoes at most once;"
                " declare a new Incident instead'",
            ),
        ),
        _rule(
            "!variables.commanderChanged || variables.isCommander || variables.mayApprove",
            "handover rejected: only the current Incident Commander or a holder of the approve"
            " verb may change spec.roles.commander",
            _cel(
                f"'handover rejected: ' + {user} + ' is not the Incident Commander (\"'",
                "+ variables.commander + '\") and may not approve, so cannot hand command over'",
            ),
        ),
        _rule(
            "!variables.resolving || variables.isCommander || variables.inApprovers",
            "resolve rejected: only the Incident Commander (as before this request) or a member"
            " of the approvers group may set spec.resolved",
            _cel(
                f"'resolve rejected: ' + {user} + ' is not the Incident Commander'",
                "+ (variables.creating ? ' (an Incident cannot be created resolved)'",
                "   : ' (\"' + variables.commander + '\")')",
                "+ '; only the commander or the approvers group \"' + variables.approversGroup",
                "+ '\" gives the all-clear'",
            ),
        ),
        _rule(
            "!variables.resumingGitOps || variables.isCommander || variables.inApprovers",
            "resume rejected: only the Incident Commander (as before this request) or a member"
            " of the approvers group may set spec.gitops.resume",
            _cel(
                f"'resume rejected: ' + {user} + ' is not the Incident Commander'",
                "+ (variables.creating ? ''",
                "   : ' (\"' + variables.commander + '\")')",
                "+ '; only the commander or the approvers group \"' + variables.approversGroup",
                "+ '\" resumes the GitOps controller the undo suspended'",
            ),
        ),
        _rule(
            _cel(
                "!variables.acknowledging",
                "|| (variables.newAck.value().by == variables.user",
                "    && (variables.isCommander || variables.inApprovers))",
            ),
            "acknowledgement rejected: only the Incident Commander acknowledges, in their own name",
            _cel(
                f"'acknowledgement rejected: ' + {user} + ' must be the Incident Commander'",
                "+ ' (\"' + variables.commander + '\") and write status.acknowledgement.by as'",
                "+ ' their own user name'",
            ),
        ),
        _rule(
            "variables.addedUpdates.all(u, u.author == variables.user)",
            "comms update rejected: author must be your own user name",
            f"'comms update rejected: ' + {user} + ' must set author to their own user name'",
        ),
        _rule(
            "variables.tickers.all(t, t == '' || t == variables.user)",
            "checklist tick rejected: tick items with your own user name",
            f"'checklist tick rejected: ' + {user} + ' must tick items with their own user name'",
        ),
    ]


def _binding(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _metadata(name),
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }


def approval_policy(
    approvers_group: str = DEFAULT_APPROVERS_GROUP, operator: str = DEFAULT_OPERATOR_IDENTITY
) -> list[dict[str, Any]]:
    """Who may approve, hand over, resolve and acknowledge; and that the record is the
    operator's. CREATE is checked too: an Incident cannot be created resolved, or with
    updates and ticks in someone else's name, or with our annotations."""
    variables = _approval_variables(approvers_group, operator)
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(APPROVAL_POLICY_NAME),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [INCIDENT.plural, f"{INCIDENT.plural}/status"],
                    }
                ]
            },
            "variables": [{"name": k, "expression": v} for k, v in variables.items()],
            "validations": _approval_validations(),
        },
    }
    return [policy, _binding(APPROVAL_POLICY_NAME)]


def operator_match(operator: str) -> str:
    """The confinement policy's match condition: the request is the operator's."""
    return f"request.userInfo.username == {cel_string(operator)}"


def _gitops_owner_request() -> str:
    return " || ".join(
        f"(request.resource.group == {cel_string(group)}"
        f" && request.resource.resource == {cel_string(plural)})"
        for group, _version, plural, _field in GITOPS_OWNERS.values()
    )


def _same_except(new: str, old: str, free: str) -> str:
    """CEL: the maps `new` and `old` are equal but for the key `free`."""
    return (
        f"{new}.all(k, k == {free} || (k in {old} && {new}[k] == {old}[k]))"
        f" && {old}.all(k, k == {free} || k in {new})"
    )


def _gitops_spec_unchanged() -> str:
    """CEL: only the owner's suspension changed: spec.suspend (Flux), or
    spec.syncPolicy.automated (Argo CD)."""
    spec, old_spec = "object.?spec.orValue({})", "oldObject.?spec.orValue({})"
    policy = "object.?spec.?syncPolicy.orValue({})"
    old_policy = "oldObject.?spec.?syncPolicy.orValue({})"
    flux = _same_except(spec, old_spec, "'suspend'")
    argo = (
        _same_except(spec, old_spec, "'syncPolicy'")
        + " && "
        + _same_except(policy, old_policy, "'automated'")
    )
    return f"(request.resource.group == 'argoproj.io' ? ({argo}) : ({flux}))"


def _only_our_annotations_changed() -> str:
    new = "object.metadata.?annotations.orValue({})"
    old = "oldObject.metadata.?annotations.orValue({})"
    prefix = cel_string(ANNOTATION_PREFIX)
    return (
        f"{new}.all(k, k.startsWith({prefix}) || (k in {old} && {new}[k] == {old}[k]))"
        f" && {old}.all(k, k.startsWith({prefix}) || k in {new})"
    )


def confinement_policy(operator: str = DEFAULT_OPERATOR_IDENTITY) -> list[dict[str, Any]]:
    """The operator's identity, confined to what an undo and a postmortem draft need: a
    stolen operator token cannot scale a Deployment to zero or edit kube-system's
    ConfigMaps, whatever its RBAC."""
    fixed = " && ".join(
        f"object.spec.?{field} == oldObject.spec.?{field}" for field in WORKLOAD_FIXED_SPEC
    )
    owned = _cel(
        f"object.metadata.?labels[?{cel_string(INCIDENT_LABEL)}].hasValue()",
        "&& object.metadata.?ownerReferences.orValue([]).exists(o,",
        f"     o.apiVersion == {cel_string(API_VERSION)} && o.kind == {cel_string(INCIDENT_KIND)})",
    )
    old_owned = owned.replace("object.", "oldObject.")
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(CONFINEMENT_POLICY_NAME),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": [
                            "deployments",
                            "deployments/scale",
                            "statefulsets",
                            "statefulsets/scale",
                            "daemonsets",
                            "replicasets",
                            "replicasets/scale",
                        ],
                    },
                    {
                        "apiGroups": [""],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": ["configmaps", "secrets"],
                    },
                    {
                        "apiGroups": [""],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": ["pods"],
                    },
                    *(
                        {
                            "apiGroups": [group],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": [plural, f"{plural}/status"],
                        }
                        for group, _version, plural, _field in GITOPS_OWNERS.values()
                    ),
                ]
            },
            "matchConditions": [
                {
                    "name": "the-operator",
                    "expression": operator_match(operator),
                }
            ],
            "variables": [
                {"name": "workload", "expression": "request.resource.group == 'apps'"},
                {"name": "configmap", "expression": "request.resource.resource == 'configmaps'"},
                {"name": "gitops", "expression": _gitops_owner_request()},
            ],
            "validations": [
                _rule(
                    _cel(
                        "!variables.workload",
                        "|| (request.operation == 'UPDATE'",
                        "    && request.?subResource.orValue('') == ''",
                        "    && request.resource.resource in ['deployments', 'statefulsets',"
                        " 'daemonsets']",
                        f"    && {fixed}",
                        "    && object.metadata.?labels == oldObject.metadata.?labels",
                        "    && object.metadata.?ownerReferences"
                        " == oldObject.metadata.?ownerReferences",
                        "    && object.metadata.?finalizers == oldObject.metadata.?finalizers)",
                    ),
                    "the Tourniquet operator may change only the pod template and the rollback"
                    " annotations of a workload",
                    "'operator confined: ' + request.userInfo.username + ' may change only"
                    " spec.template and annotations of a workload (an undo), not '"
                    " + request.operation + ' ' + request.resource.resource"
                    " + (request.?subResource.orValue('') != '' ? '/' + request.subResource : '')"
                    " + ' or other fields'",
                ),
                _rule(
                    _cel(
                        "!variables.configmap",
                        "|| (request.operation == 'CREATE' && " + owned.replace("\n", " ") + ")",
                        "|| (request.operation == 'UPDATE' && " + owned.replace("\n", " "),
                        "    && " + old_owned.replace("\n", " ") + ")",
                    ),
                    "the Tourniquet operator may write only the ConfigMaps it owns (postmortem"
                    " drafts, labelled and owned by an Incident)",
                    "'operator confined: ' + request.userInfo.username + ' may write only its"
                    " own postmortem ConfigMaps (label " + INCIDENT_LABEL + ", owned by an"
                    " Incident), not ' + request.namespace + '/' + request.name",
                ),
                _rule(
                    _cel(
                        "!variables.gitops",
                        "|| (request.operation == 'UPDATE'",
                        "    && request.?subResource.orValue('') == ''",
                        f"    && {_gitops_spec_unchanged()}",
                        f"    && {_only_our_annotations_changed()}",
                        "    && object.metadata.?labels == oldObject.metadata.?labels"
                        " && object.metadata.?finalizers == oldObject.metadata.?finalizers)",
                    ),
                    "the Tourniquet operator may only suspend and resume a GitOps owner"
                    " (spec.suspend of a Flux Kustomization or HelmRelease, the automated sync"
                    f" of an Argo CD Application, and {ANNOTATION_PREFIX} annotations)",
                    "'operator confined: ' + request.userInfo.username + ' may only suspend"
                    " and resume ' + request.resource.resource + ' (spec.suspend, or"
                    " spec.syncPolicy.automated, and " + ANNOTATION_PREFIX + " annotations),"
                    " not ' + request.operation + ' other fields'",
                ),
                _rule(
                    _cel(
                        "request.resource.resource != 'pods'",
                        "|| (request.operation == 'DELETE'",
                        "    && oldObject.metadata.?ownerReferences.orValue([]).exists(o,"
                        " o.kind == 'StatefulSet' && o.?controller.orValue(false))",
                        "    && !oldObject.?status.?conditions.orValue([]).exists(c,"
                        " c.type == 'Ready' && c.status == 'True'))",
                    ),
                    "the Tourniquet operator may only delete a StatefulSet's pod that is not"
                    " Ready (the approved step for an undo stuck on it)",
                    "'operator confined: ' + request.userInfo.username + ' may only delete a"
                    " StatefulSet pod that is not Ready, not ' + request.operation + ' pod '"
                    " + request.namespace + '/' + request.name",
                ),
                _rule(
                    "request.resource.resource != 'secrets'",
                    "the Tourniquet operator never writes Secrets",
                    "'operator confined: ' + request.userInfo.username + ' never writes Secrets'",
                ),
            ],
        },
    }
    return [policy, _binding(CONFINEMENT_POLICY_NAME)]
