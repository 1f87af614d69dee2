"""The Tourniquet API (group tourniquet.dev, version v1alpha1) as pydantic models.

These models are the single source of truth for the Incident and Runbook custom
resources: ``python -m tourniquet.manifests`` turns them into the
CustomResourceDefinitions (crds/, the Helm chart, config/crd/), and a unit test
fails when the committed manifests drift from them. Bounds, defaults, CEL rules
(``x-kubernetes-validations``) and printer columns are declared here, and only here.

Python attributes are snake_case; the wire format (JSON, YAML, the Kubernetes API)
is camelCase. Both spellings are accepted on input; dump with ``by_alias=True``.
Descriptions are written for the on-call engineer reading ``kubectl explain``.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import re2  # RE2: the regular expressions of Alertmanager (Go) and of CEL
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from tourniquet.api.names import CATEGORY, GROUP
from tourniquet.api.vocabulary import MitigationAction, MitigationResult, Phase

# Messages shared by the CEL rules (enforced by the API server) and the pydantic
# validators that mirror them (so the operator rejects what the API server rejects).
COMMANDER_REQUIRED_MESSAGE = (
    "a SEV1 or SEV2 incident must name roles.commander, the Incident Commander"
)
RESOLVED_IS_FINAL_MESSAGE = "resolved cannot return to false: open a new Incident instead"
SELECTOR_VALUES_MESSAGE = (
    "operators In and NotIn need at least one value; Exists and DoesNotExist take no values"
)

# Kubernetes' own patterns for condition types and reasons (metav1.Condition).
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
URL_PATTERN = r"^https?://"
#: A Prometheus label name, as Alertmanager matchers compare them.
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"

# Runbook rules: the API server (CEL) and the operator (pydantic, RE2) say the same.
LABEL_NAME_MESSAGE = (
    "label names must be Prometheus label names: a letter or _, then letters, digits or _"
)
INVALID_REGEX_MESSAGE = (
    "operators Matches and NotMatches need a valid RE2 regular expression (the syntax of "
    "Alertmanager and PromQL; matched against the whole label value)"
)
BLANK_QUERY_MESSAGE = "query must be a PromQL expression, not blank"
#: Bracket pairs a PromQL query must balance: (message word, open, close).
QUERY_BRACKETS = (
    ("parentheses", "(", ")"),
    ("square brackets", "[", "]"),
    ("braces", "{", "}"),
)
SPEC_ALERT_IMMUTABLE_MESSAGE = (
    "spec.alert records the alert group that declared the incident and cannot be changed"
)


def _cel(rule: str, message: str, **extra: str) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry."""
    return {"rule": rule, "message": message, **extra}


def _int64(**constraints: Any) -> Any:
    """Field metadata for an int64 (Kubernetes' integer format)."""
    return Field(json_schema_extra={"format": "int64"}, **constraints)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_label_regex(pattern: str) -> Any:
    """``pattern`` as Alertmanager compiles a regex matcher: RE2, anchored at both ends.
    Raises ValueError with RE2's own complaint when it is not a valid expression."""
    try:
        return re2.compile(f"^(?:{pattern})$", _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        raise ValueError(f"{INVALID_REGEX_MESSAGE}: {detail}") from None


def unbalanced_brackets(query: str) -> list[str]:
    """The bracket kinds (QUERY_BRACKETS) whose opening and closing counts differ."""
    return [
        word for word, open_, close in QUERY_BRACKETS if query.count(open_) != query.count(close)
    ]


# --- reusable constrained types ------------------------------------------------

UserName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""A Kubernetes user name, as the API server sees it in request.userInfo.username."""
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=REASON_PATTERN)]
Int64 = Annotated[int, _int64()]
Revision = Annotated[int, _int64(ge=1)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
Timestamp = Annotated[datetime, Field(json_schema_extra={"maxLength": 64})]
"""An RFC 3339 date-time, e.g. 2026-11-27T10:00:00Z (bounded, like every string)."""


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", alias_generator=to_camel)


# --- enums ----------------------------------------------------------------------


class Severity(StrEnum):
    """How bad it is. SEV1: critical, customer-facing outage. SEV2: major degradation.
    SEV3: minor, limited impact."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"


class ConditionStatus(StrEnum):
    """Status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class LabelSelectorOperator(StrEnum):
    """How a label selector requirement compares a label with its values."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class RunbookAction(StrEnum):
    """A kind of mitigation a runbook recommends."""

    ROLLOUT_UNDO = "RolloutUndo"
    MANUAL = "Manual"


class AlertMatchOperator(StrEnum):
    """How an alert matcher compares a label with its value (Alertmanager's =, !=, =~, !~)."""

    EQUALS = "Equals"
    NOT_EQUALS = "NotEquals"
    MATCHES = "Matches"
    NOT_MATCHES = "NotMatches"


# --- shared shapes ---------------------------------------------------------------


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector: a label key, an operator and values."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.operator in ['In', 'NotIn']"
                    " ? has(self.values) && size(self.values) > 0"
                    " : !has(self.values) || size(self.values) == 0",
                    SELECTOR_VALUES_MESSAGE,
                )
            ]
        }
    )

    key: LabelKey = Field(description="The label key the requirement applies to, e.g. app.")
    operator: LabelSelectorOperator = Field(
        description="How the label relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: Annotated[list[LabelValue], Field(max_length=64)] | None = Field(
        default=None,
        description=(
            "Label values. Required (non-empty) for In and NotIn; must be empty for "
            "Exists and DoesNotExist."
        ),
    )

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        needs_values = self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN)
        if needs_values != bool(self.values):
            raise ValueError(SELECTOR_VALUES_MESSAGE)
        return self


class LabelSelector(ApiModel):
    """A Kubernetes label selector (metav1.LabelSelector). Both parts must match; an
    empty selector matches everything."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})

    match_labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=64)] | None = Field(
        default=None,
        description="Labels that must all be present with exactly these values, e.g. {app: api}.",
    )
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=16)] | None = (
        Field(
            default=None,
            description="Requirements that must all hold, e.g. {key: tier, operator: In, "
            "values: [web]}.",
            json_schema_extra={"x-kubernetes-list-type": "atomic"},
        )
    )


class Scope(ApiModel):
    """Where to look for the rollout that caused the incident."""

    selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Label selector for the Deployments to consider, in the resource's namespace. "
            "Omitted: every Deployment in the namespace."
        ),
    )


class Condition(ApiModel):
    """A condition in the standard Kubernetes shape (metav1.Condition)."""

    type: str = Field(
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Condition type in CamelCase, e.g. Mitigated or SuspectFound.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: Int64 | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation the condition was computed from.",
    )
    last_transition_time: Timestamp = Field(
        description="When the condition last changed status (RFC 3339)."
    )
    reason: Reason = Field(
        description="Machine-readable CamelCase reason for the last transition, "
        "e.g. ApprovalMissing."
    )
    message: str = Field(
        max_length=32768, description="Human-readable details of the last transition."
    )


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=16,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    ),
]


# --- Incident -------------------------------------------------------------------


class Roles(ApiModel):
    """Who holds the incident roles, as Kubernetes user names."""

    commander: UserName | None = Field(
        default=None,
        description=(
            "The Incident Commander: the only user (besides the approvers group) who may "
            "approve a mitigation, by writing status.approval with their own user name."
        ),
    )
    comms: UserName | None = Field(
        default=None, description="Communications lead: keeps stakeholders informed."
    )
    operations: UserName | None = Field(
        default=None, description="Operations lead: hands on the systems."
    )
    scribe: UserName | None = Field(
        default=None,
        description="Scribe: keeps the record (the operator also writes status.timeline).",
    )


class RunbookRef(ApiModel):
    """A Runbook in the Incident's namespace."""

    name: ObjectName = Field(description="The Runbook's name.")


AlertLabels = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=253)],
        Annotated[str, StringConstraints(max_length=1024)],
    ],
    Field(max_length=64),
]
AlertAnnotations = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=253)],
        Annotated[str, StringConstraints(max_length=4096)],
    ],
    Field(max_length=32),
]


class IncidentAlert(ApiModel):
    """The Alertmanager alert group that declared the incident (written by the receiver)."""

    receiver: str = Field(
        min_length=1, max_length=253, description="The Alertmanager receiver that notified."
    )
    group_key: str = Field(
        min_length=1,
        max_length=2048,
        description="Alertmanager's key of the alert group; re-sent notifications of the "
        "same group declare no second Incident.",
    )
    alertname: str | None = Field(
        default=None, min_length=1, max_length=253, description="The alertname label."
    )
    labels: AlertLabels | None = Field(
        default=None, description="The labels every alert of the group carries (commonLabels)."
    )
    annotations: AlertAnnotations | None = Field(
        default=None,
        description="The annotations every alert of the group carries (commonAnnotations), "
        "e.g. summary and description.",
    )
    starts_at: Timestamp | None = Field(
        default=None, description="When the earliest firing alert of the group started."
    )
    generator_url: str | None = Field(
        default=None,
        alias="generatorURL",
        max_length=2048,
        description="Link to the alert's source, e.g. the Prometheus expression.",
    )
    external_url: str | None = Field(
        default=None,
        alias="externalURL",
        max_length=2048,
        description="Link to the Alertmanager that notified.",
    )
    firing: int | None = Field(
        default=None,
        ge=0,
        description="How many alerts of the group were firing when the Incident was declared.",
        json_schema_extra={"format": "int64"},
    )


class StatusPageState(StrEnum):
    """What a comms update tells the status page."""

    INVESTIGATING = "Investigating"
    IDENTIFIED = "Identified"
    MONITORING = "Monitoring"
    RESOLVED = "Resolved"


UPDATES_APPEND_ONLY_MESSAGE = (
    "comms updates are append-only: earlier updates cannot be edited or removed"
)
CHECKLIST_TICK_FINAL_MESSAGE = "a checklist tick cannot be changed once made"
DRILL_IMMUTABLE_MESSAGE = "drill cannot change after the incident is declared"


class CommsUpdate(ApiModel):
    """One update to the status page and the incidents channel. Add one with
    kubectl patch incident NAME --type=json
    -p '[{"op":"add","path":"/spec/updates/-","value":{"author":"YOU","message":"..."}}]'
    (the API server checks that author is you)."""

    author: UserName = Field(description="Your own Kubernetes user name.")
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What users and support should know now, e.g. We are investigating."
    )
    at: Timestamp | None = Field(
        default=None,
        description="When it was posted (RFC 3339). Omitted: when the operator first saw it.",
    )
    status_page: StatusPageState | None = Field(
        default=None, description="Investigating, Identified, Monitoring or Resolved."
    )


def _tick(description: str) -> Any:
    return Field(
        default=None,
        description=f"{description} Set it to your own user name when done (the API server "
        "checks); it cannot be changed after.",
        json_schema_extra={
            "x-kubernetes-validations": [_cel("self == oldSelf", CHECKLIST_TICK_FINAL_MESSAGE)]
        },
    )


class ChecklistTicks(ApiModel):
    """The first-15-minutes items only people can see done. The operator ticks the
    others itself (commander declared, page acknowledged, severity assigned, most recent
    deploy identified, rollback considered)."""

    bridge_opened: UserName | None = _tick("The incident bridge (call) is open.")
    status_page_updated: UserName | None = _tick("The status page says we know.")
    customer_support_briefed: UserName | None = _tick("Customer support knows what to say.")


class ActionItem(ApiModel):
    """A postmortem follow-up: owned, dated and tracked."""

    title: Title = Field(description="What will be done.")
    owner: UserName = Field(description="Who does it.")
    due: Annotated[str, StringConstraints(max_length=10)] = Field(
        description="Due date, YYYY-MM-DD.",
        json_schema_extra={"format": "date"},
    )
    ticket: Annotated[
        str, StringConstraints(min_length=1, max_length=2048, pattern=URL_PATTERN)
    ] = Field(description="Link to the ticket that tracks it (http or https).")
    done: bool = Field(default=False, description="True once done.")


PostmortemText = Annotated[str, StringConstraints(min_length=1, max_length=8192)]
PostmortemPoint = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class PostmortemInput(ApiModel):
    """What responders write into the blameless postmortem. The operator renders the
    draft (configmap NAME-postmortem) and closes the incident once all of it is there."""

    summary: PostmortemText | None = Field(default=None, description="What happened, briefly.")
    impact: PostmortemText | None = Field(default=None, description="Who saw what, for how long.")
    root_causes: Annotated[list[PostmortemPoint], Field(max_length=32)] | None = Field(
        default=None,
        description="Contributing factors (systems and processes, never 'human error').",
    )
    went_well: Annotated[list[PostmortemPoint], Field(max_length=32)] | None = Field(
        default=None, description="What went well."
    )
    went_poorly: Annotated[list[PostmortemPoint], Field(max_length=32)] | None = Field(
        default=None, description="What went poorly."
    )
    action_items: Annotated[list[ActionItem], Field(max_length=64)] | None = Field(
        default=None, description="Follow-ups, each with owner, due date and ticket link."
    )


class GitOpsRequest(ApiModel):
    """The Incident Commander's request to the GitOps controller Tourniquet suspended."""

    resume: bool = Field(
        default=False,
        description="true: resume the suspended Flux Kustomization or HelmRelease, or the "
        "Argo CD Application's automated sync, once git no longer holds the undone revision "
        "(`kubectl incident resume`). Only the Incident Commander or the approvers group.",
    )


class IncidentSpec(ApiModel):
    """What the humans declare about the incident."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!(self.severity in ['SEV1', 'SEV2'])"
                    " || (has(self.roles) && has(self.roles.commander))",
                    COMMANDER_REQUIRED_MESSAGE,
                    fieldPath=".roles.commander",
                    reason="FieldValueRequired",
                )
            ]
        }
    )

    title: Title = Field(description="One line saying what is wrong, e.g. Elevated 5xx on api.")
    severity: Severity = Field(
        description="SEV1 (critical outage), SEV2 (major degradation) or SEV3 (minor). "
        "SEV1 and SEV2 must name roles.commander."
    )
    roles: Roles | None = Field(default=None, description="Who holds the incident roles.")
    scope: Scope | None = Field(
        default=None,
        description="Where to look for the suspect rollout. Omitted: every Deployment in the "
        "Incident's namespace.",
    )
    started_at: Timestamp | None = Field(
        default=None,
        description="When the impact started (RFC 3339). Omitted: the Incident's creation time. "
        "Time to mitigate and time to resolve are measured from here.",
    )
    resolved: bool = Field(
        default=False,
        description="The Incident Commander sets true for the all-clear. Once true it cannot "
        "return to false.",
        json_schema_extra={
            "x-kubernetes-validations": [_cel("self || !oldSelf", RESOLVED_IS_FINAL_MESSAGE)]
        },
    )
    runbook_ref: RunbookRef | None = Field(
        default=None,
        description="The Runbook for this incident, in the same namespace: its diagnostic "
        "queries, mitigations, owners and links are copied to status.runbook at once. Set by "
        "the alert receiver when a Runbook answers the alert.",
    )
    alert: IncidentAlert | None = Field(
        default=None,
        description="The Alertmanager alert group that declared this incident (set by the "
        "alert receiver; cannot be changed).",
        json_schema_extra={
            "x-kubernetes-validations": [_cel("self == oldSelf", SPEC_ALERT_IMMUTABLE_MESSAGE)]
        },
    )
    drill: bool = Field(
        default=False,
        description="A game-day drill: the whole playbook runs, the undo is sent as a "
        'server-side dry run, and metrics carry drill="true" so MTTR stays clean.',
        json_schema_extra={
            "x-kubernetes-validations": [_cel("self == oldSelf", DRILL_IMMUTABLE_MESSAGE)]
        },
    )
    updates: Annotated[list[CommsUpdate], Field(max_length=100)] = Field(
        # Present (empty) by default, so `kubectl patch --type=json` can add to /spec/updates/-.
        default_factory=list,
        description="Comms updates, oldest first, forwarded to the notification webhooks of "
        "the severity policy. Append-only.",
        json_schema_extra={
            "default": [],
            "x-kubernetes-validations": [
                _cel(
                    "oldSelf.all(u, u in self) && self.size() >= oldSelf.size()",
                    UPDATES_APPEND_ONLY_MESSAGE,
                )
            ],
        },
    )
    checklist: ChecklistTicks | None = Field(
        default=None, description="First-15-minutes items ticked by responders."
    )
    postmortem: PostmortemInput | None = Field(
        default=None, description="The blameless postmortem, written by responders."
    )
    gitops: GitOpsRequest | None = Field(
        default=None,
        description="What the Incident Commander asks of the GitOps controller the undo "
        "suspended (status.mitigation.gitops).",
    )

    @model_validator(mode="after")
    def _commander_named(self) -> Self:
        if self.severity in (Severity.SEV1, Severity.SEV2) and (
            self.roles is None or self.roles.commander is None
        ):
            raise ValueError(COMMANDER_REQUIRED_MESSAGE)
        return self


class WorkloadKind(StrEnum):
    """The kinds of workload whose rollouts Tourniquet can undo."""

    DEPLOYMENT = "Deployment"
    # Their revisions are ControllerRevisions (core/controller_revisions.py).
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"


class GitOpsOwnerKind(StrEnum):
    """What can own a workload in git."""

    KUSTOMIZATION = "Kustomization"
    HELM_RELEASE = "HelmRelease"
    APPLICATION = "Application"


class GitOpsOwner(ApiModel):
    """Who applies a workload from git, read from the labels and annotations Flux and
    Argo CD put on what they apply."""

    tool: Annotated[str, Field(max_length=32)] = Field(description="Flux or ArgoCD.")
    kind: GitOpsOwnerKind = Field(description="Kustomization, HelmRelease or Application.")
    name: ObjectName = Field(description="The owner's name.")
    namespace: ObjectName = Field(description="The owner's namespace.")
    reconciles: bool | None = Field(
        default=None,
        description="Whether it re-applies git on its own now (Flux: not suspended; Argo CD: "
        "automated sync). Omitted: the owner could not be read.",
    )
    guessed: bool | None = Field(
        default=None,
        description="true: known only from the app.kubernetes.io/instance label (Argo CD's "
        "label tracking, or just Helm).",
    )


class Suspect(ApiModel):
    """The most recent rollout in scope: the likely cause."""

    kind: WorkloadKind = Field(description="The suspect workload's kind.")
    name: ObjectName = Field(description="The suspect workload's name.")
    replica_set: ObjectName | None = Field(
        default=None,
        description="Name of the ReplicaSet that carries the suspect revision (Deployments).",
    )
    controller_revision: ObjectName | None = Field(
        default=None,
        description="Name of the ControllerRevision that carries the suspect revision "
        "(StatefulSets and DaemonSets).",
    )
    revision: Revision = Field(
        description="The suspect revision (the deployment.kubernetes.io/revision now live, or "
        "the ControllerRevision's revision)."
    )
    previous_revision: Revision | None = Field(
        default=None,
        description="The revision an undo returns to. Omitted: there is none to return to.",
    )
    rolled_out_at: Timestamp = Field(
        description="When the suspect revision was rolled out (its ReplicaSet's or "
        "ControllerRevision's creation time)."
    )
    change: str = Field(
        max_length=1024,
        description="What changed, e.g. api: registry/api:1.4.2 -> registry/api:1.4.3.",
    )
    owner: GitOpsOwner | None = Field(
        default=None,
        description="The GitOps controller that applies this workload from git (it would "
        "re-apply the undone revision): an approved undo suspends it first.",
    )


class Approval(ApiModel):
    """The Incident Commander's go-ahead for the undo. Written only by the Incident
    Commander (or the approvers group); the API server checks who wrote it."""

    approved_by: UserName = Field(
        description="Your own Kubernetes user name. The API server rejects an approval "
        "written in someone else's name."
    )
    kind: WorkloadKind | None = Field(
        default=None,
        description="The kind of the workload you approve undoing; must equal "
        "status.suspect.kind (the API server says what the current suspect is).",
    )
    name: ObjectName | None = Field(
        default=None,
        description="The workload you approve undoing; must equal status.suspect.name.",
    )
    revision: Revision = Field(
        description="The suspect revision you approve undoing; must equal status.suspect.revision."
    )
    accept_revert: bool | None = Field(
        default=None,
        description="true: undo even though Tourniquet may not suspend the GitOps owner "
        "(status.suspect.owner), knowing it will re-apply the bad revision from git.",
    )


class StuckPod(ApiModel):
    """A StatefulSet pod with OrderedReady that is not Ready at an old revision: the
    controller waits for it forever and never replaces it (kubernetes #67250)."""

    name: ObjectName = Field(description="The pod.")
    revision: Annotated[str, Field(max_length=253)] | None = Field(
        default=None, description="Its ControllerRevision (controller-revision-hash)."
    )
    deleted_at: Timestamp | None = Field(
        default=None, description="When the operator deleted it, as approved."
    )
    deleted_by: UserName | None = Field(default=None, description="Who approved its deletion.")


class GitOpsSuspension(ApiModel):
    """The suspension of a GitOps owner: the undo holds while it lasts."""

    tool: Annotated[str, Field(max_length=32)] = Field(description="Flux or ArgoCD.")
    kind: GitOpsOwnerKind = Field(description="Kustomization, HelmRelease or Application.")
    name: ObjectName = Field(description="The owner's name.")
    namespace: ObjectName = Field(description="The owner's namespace.")
    suspended_at: Timestamp | None = Field(
        default=None, description="When the owner was suspended (omitted in a drill)."
    )
    revision: Annotated[str, Field(max_length=512)] | None = Field(
        default=None,
        description="The git revision the owner had applied when it was suspended: resuming "
        "waits until git has moved on from it.",
    )
    resume_command: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="The one command that resumes it once git is reverted."
    )
    resumed_at: Timestamp | None = Field(default=None, description="When it was resumed.")
    not_suspended: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None,
        description="Why it was not suspended (the IC accepted an undo that will be reverted).",
    )


class Mitigation(ApiModel):
    """The guarded undo: what was (or will be) done, and how it went."""

    action: MitigationAction = Field(description="RolloutUndo: undo the suspect rollout.")
    kind: WorkloadKind | None = Field(default=None, description="The kind of workload acted on.")
    name: ObjectName | None = Field(default=None, description="The workload acted on.")
    from_revision: Revision | None = Field(default=None, description="The revision being undone.")
    to_revision: Revision | None = Field(default=None, description="The revision restored.")
    result: MitigationResult = Field(
        description="Pending, InProgress, Succeeded, Failed or Refused."
    )
    reason: Reason | None = Field(
        default=None,
        description="CamelCase reason, e.g. NoApproval, TargetChanged, ProgressDeadlineExceeded.",
    )
    message: str | None = Field(
        default=None, max_length=32768, description="Human-readable details."
    )
    started_at: Timestamp | None = Field(default=None, description="When the undo started.")
    finished_at: Timestamp | None = Field(
        default=None, description="When the undo succeeded, failed or was refused."
    )
    precondition_resource_version: str | None = Field(
        default=None,
        max_length=253,
        description="The Deployment resourceVersion the undo patch was made against; lets a "
        "restarted operator tell whether its patch landed.",
    )
    replica_set: ObjectName | None = Field(
        default=None,
        description="The ReplicaSet whose pod template the undo restores (kubectl's choice).",
    )
    controller_revision: ObjectName | None = Field(
        default=None,
        description="The ControllerRevision whose pod template the undo restores "
        "(StatefulSets and DaemonSets, kubectl's choice).",
    )
    approved_by: UserName | None = Field(
        default=None, description="Who approved this mitigation (from status.approval)."
    )
    approval_revision: Revision | None = Field(
        default=None,
        description="The revision that approval named. A refused approval is not retried; "
        "approve again (clear status.approval, then set it) to retry.",
    )
    patched_at: Timestamp | None = Field(
        default=None, description="When the API server accepted the undo patch."
    )
    gitops: GitOpsSuspension | None = Field(
        default=None,
        description="The GitOps owner suspended before the undo, so that the undo holds; "
        "how and when it was resumed.",
    )
    stuck_pod: StuckPod | None = Field(
        default=None,
        description="The StatefulSet pod the undo's rollout is stuck on; deleted once the "
        "Incident Commander approves (status.podDeletion).",
    )


class TimelineEntry(ApiModel):
    """One event in the incident's timeline."""

    at: Timestamp = Field(description="When it happened (RFC 3339).")
    kind: str = Field(
        min_length=1, max_length=63, description="What happened, e.g. Declared or Approved."
    )
    message: str = Field(max_length=1024, description="What happened, in words.")
    actor: str | None = Field(
        default=None, max_length=253, description="Who did it: a user name, or the operator."
    )


class Acknowledgement(ApiModel):
    """The Incident Commander took the page. Written only by the commander:
    kubectl patch incident NAME --subresource=status --type=merge
    -p '{"status":{"acknowledgement":{"by":"YOU"}}}'"""

    by: UserName = Field(description="Your own user name (the API server checks).")


class PodDeletion(ApiModel):
    """The Incident Commander's go-ahead to delete the StatefulSet pod the undo is stuck
    on (status.mitigation.stuckPod). Written only by the Incident Commander."""

    approved_by: UserName = Field(description="Your own user name (the API server checks).")
    pod: ObjectName = Field(
        description="The pod to delete; must equal status.mitigation.stuckPod.name."
    )


class PolicyView(ApiModel):
    """What the severity policy asks of this incident."""

    severity: Severity | None = Field(default=None, description="The severity it applies to.")
    respond_within_seconds: float | None = Field(
        default=None, description="The Incident Commander acknowledges within this."
    )
    comms_every_seconds: float | None = Field(
        default=None, description="Comms update cadence. Omitted: no cadence."
    )
    page: (
        Annotated[list[Annotated[str, StringConstraints(max_length=253)]], Field(max_length=16)]
        | None
    ) = Field(default=None, description="Who is paged.")
    status_page: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, description="Status page colour: red, yellow, green or none."
    )
    channel: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Where comms go when there is no status page."
    )


class Deadlines(ApiModel):
    """When things are due, from the severity policy."""

    acknowledge_by: Timestamp | None = Field(default=None, description="Acknowledge by.")
    checklist_due: Timestamp | None = Field(
        default=None, description="The first-15-minutes checklist is done by."
    )


class CommsState(ApiModel):
    """The comms cadence."""

    delivered: Int64 | None = Field(
        default=None, description="How many of spec.updates were recorded and forwarded."
    )
    updates: Int64 | None = Field(default=None, description="Updates posted so far.")
    last_update_at: Timestamp | None = Field(default=None, description="The last update.")
    next_update_due: Timestamp | None = Field(default=None, description="The next one is due.")
    overdue: bool | None = Field(default=None, description="True while an update is overdue.")


class ChecklistState(ApiModel):
    """One first-15-minutes item."""

    item: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="Item id, e.g. bridgeOpened."
    )
    title: Annotated[str, StringConstraints(max_length=200)] = Field(description="The item.")
    done: bool = Field(description="Ticked.")
    at: Timestamp | None = Field(default=None, description="When it was ticked.")
    by: UserName | None = Field(default=None, description="Who ticked it, when known.")
    late: bool | None = Field(default=None, description="Still open when the checklist was due.")


class PostmortemState(ApiModel):
    """The postmortem's progress, once the incident is resolved."""

    config_map: ObjectName | None = Field(
        default=None, description="The ConfigMap holding the rendered draft (postmortem.md)."
    )
    due: Timestamp | None = Field(default=None, description="Complete it by.")
    complete: bool | None = Field(default=None, description="Every section is written.")
    missing: (
        Annotated[list[Annotated[str, StringConstraints(max_length=63)]], Field(max_length=16)]
        | None
    ) = Field(default=None, description="Sections still to write.")
    action_items_open: Int64 | None = Field(default=None, description="Action items not done.")
    action_items_overdue: Int64 | None = Field(default=None, description="Action items past due.")
    digest: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Digest of the rendered draft (rewritten when it changes)."
    )
    rendered_at: Timestamp | None = Field(default=None, description="Last rendered.")


class IncidentStatus(ApiModel):
    """What the operator observed and did. Written by the operator, except approval,
    which only the Incident Commander writes."""

    observed_generation: Int64 | None = Field(
        default=None, description="The .metadata.generation the operator last acted on."
    )
    phase: Phase | None = Field(
        default=None, description="Declared, Mitigating, Mitigated, Resolved or Closed."
    )
    conditions: Conditions | None = Field(
        default=None, description="Standard conditions, one per type."
    )
    declared_at: Timestamp | None = Field(
        default=None, description="When the operator saw the incident declared."
    )
    mitigated_at: Timestamp | None = Field(
        default=None, description="When the mitigation succeeded."
    )
    resolved_at: Timestamp | None = Field(
        default=None, description="When spec.resolved was set to true."
    )
    time_to_mitigate_seconds: float | None = Field(
        default=None, description="Seconds from impact start (spec.startedAt) to mitigation."
    )
    time_to_resolve_seconds: float | None = Field(
        default=None,
        description="Seconds from impact start (spec.startedAt) to resolution (MTTR).",
    )
    suspect: Suspect | None = Field(
        default=None, description="The most recent rollout in scope: the likely cause."
    )
    approval: Approval | None = Field(
        default=None,
        description="Written only by the Incident Commander, to approve the undo: "
        "kubectl patch incident NAME --subresource=status --type=merge "
        '-p \'{"status":{"approval":{"approvedBy":"YOU","revision":N}}}\'',
    )
    mitigation: Mitigation | None = Field(default=None, description="The guarded undo.")
    answered_approval: Approval | None = Field(
        default=None,
        description="The last approval the operator acted on or refused. It acts on an "
        "approval once: to retry after a refusal, approve again (clear status.approval, then "
        "set it) or approve the new suspect revision.",
    )
    timeline: Annotated[list[TimelineEntry], Field(max_length=200)] | None = Field(
        default=None, description="What happened, in order (the automated scribe)."
    )
    runbook: "LinkedRunbook | None" = Field(
        default=None,
        description="The linked Runbook (spec.runbookRef) as the operator copied it: what to "
        "check and what to try, at once.",
    )
    acknowledgement: Acknowledgement | None = Field(
        default=None, description="Written only by the Incident Commander to take the page."
    )
    pod_deletion: PodDeletion | None = Field(
        default=None,
        description="Written only by the Incident Commander: delete the StatefulSet pod the "
        "undo is stuck on (`kubectl incident delete-stuck-pod`).",
    )
    acknowledged_at: Timestamp | None = Field(
        default=None, description="When the operator saw the acknowledgement."
    )
    time_to_acknowledge_seconds: float | None = Field(
        default=None, description="Seconds from declaration to acknowledgement."
    )
    closed_at: Timestamp | None = Field(
        default=None, description="When the postmortem was complete and the incident closed."
    )
    policy: PolicyView | None = Field(
        default=None, description="What the severity policy asks of this incident."
    )
    deadlines: Deadlines | None = Field(default=None, description="When things are due.")
    roles: Roles | None = Field(
        default=None, description="The roles as last seen (handovers go on the timeline)."
    )
    comms: CommsState | None = Field(default=None, description="The comms cadence.")
    checklist: Annotated[list[ChecklistState], Field(max_length=16)] | None = Field(
        default=None,
        description="The first-15-minutes checklist.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["item"]},
    )
    postmortem: PostmortemState | None = Field(
        default=None, description="The postmortem's progress, once resolved."
    )


# --- Runbook --------------------------------------------------------------------


LabelName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""A Prometheus label name (LABEL_NAME_PATTERN)."""
PromQL = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
RunbookText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


def _label_names_rule() -> dict[str, Any]:
    return _cel(f"self.all(k, k.matches('{LABEL_NAME_PATTERN}'))", LABEL_NAME_MESSAGE)


class AlertMatcher(ApiModel):
    """One label matcher, as in Alertmanager: label, operator and value."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                # A dynamic regex that does not compile makes matches() fail, and the API
                # server rejects the object with RE2's complaint; a valid one is x || !x.
                _cel(
                    "!(self.operator in ['Matches', 'NotMatches'])"
                    " || ''.matches(self.value) || !''.matches(self.value)",
                    INVALID_REGEX_MESSAGE,
                    fieldPath=".value",
                )
            ]
        }
    )

    label: LabelName = Field(
        pattern=LABEL_NAME_PATTERN, description="The label to compare, e.g. service."
    )
    operator: AlertMatchOperator = Field(
        description="Equals, NotEquals, Matches or NotMatches (an RE2 regular expression "
        "matched against the whole label value, as Alertmanager's =~ and !~)."
    )
    value: str = Field(
        max_length=1024,
        description="The value, or for Matches and NotMatches the regular expression, "
        "e.g. api|web.",
    )

    @model_validator(mode="after")
    def _regex_compiles(self) -> Self:
        if self.operator in (AlertMatchOperator.MATCHES, AlertMatchOperator.NOT_MATCHES):
            compile_label_regex(self.value)
        return self


class AlertRef(ApiModel):
    """An alert this runbook answers: its alertname, and optionally matchers on its labels.
    All of them must hold."""

    alertname: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="The alertname label of the alert."
    )
    matchers: (
        Annotated[
            dict[LabelName, Annotated[str, StringConstraints(max_length=1024)]],
            Field(max_length=16),
        ]
        | None
    ) = Field(
        default=None,
        description="Labels the alert must carry with exactly these values, e.g. {service: api}.",
        json_schema_extra={"x-kubernetes-validations": [_label_names_rule()]},
    )
    match_expressions: Annotated[list[AlertMatcher], Field(max_length=16)] | None = Field(
        default=None,
        description="Further matchers, e.g. {label: env, operator: Matches, value: prod|prod-eu}.",
    )

    @model_validator(mode="after")
    def _label_names(self) -> Self:
        for name in self.matchers or {}:
            if not re2.fullmatch(LABEL_NAME_PATTERN, name):
                raise ValueError(f"{LABEL_NAME_MESSAGE}: {name!r}")
        return self


def _query_rules() -> list[Any]:
    rules: list[Any] = [_cel("self.matches('\\\\S')", BLANK_QUERY_MESSAGE)]
    for word, open_, close in QUERY_BRACKETS:
        rules.append(
            _cel(
                f"size(self.replace('{open_}', '')) == size(self.replace('{close}', ''))",
                f"query is not PromQL: unbalanced {word} (every {open_} needs a {close})",
            )
        )
    return rules


class Diagnostic(ApiModel):
    """A query to run while diagnosing."""

    description: RunbookText = Field(description="What the query tells you.")
    query: PromQL = Field(
        description="The PromQL query, e.g. sum by (route) (rate(http_requests_total"
        '{code=~"5.."}[5m])). Must be non-blank with balanced (), [] and {}.',
        json_schema_extra={"x-kubernetes-validations": _query_rules()},
    )

    @model_validator(mode="after")
    def _query_shape(self) -> Self:
        if not self.query.strip():
            raise ValueError(BLANK_QUERY_MESSAGE)
        unbalanced = unbalanced_brackets(self.query)
        if unbalanced:
            raise ValueError(f"query is not PromQL: unbalanced {', '.join(unbalanced)}")
        return self


class RunbookMitigation(ApiModel):
    """A likely mitigation."""

    action: RunbookAction = Field(
        description="RolloutUndo (the operator offers the undo of the suspect rollout, done on "
        "the Incident Commander's approval) or Manual (for humans)."
    )
    description: RunbookText = Field(description="What to do, and when.")


class Link(ApiModel):
    """A link to a dashboard, document or chat channel."""

    title: Title = Field(description="What the link points to.")
    url: str = Field(max_length=2048, pattern=URL_PATTERN, description="An http(s) URL.")


Diagnostics = Annotated[list[Diagnostic], Field(max_length=32)]
RunbookMitigations = Annotated[list[RunbookMitigation], Field(max_length=16)]
Owners = Annotated[list[UserName], Field(max_length=16)]
Links = Annotated[list[Link], Field(max_length=16)]


class RunbookSpec(ApiModel):
    """One page per alert: what it answers, how to diagnose, how to mitigate, who owns it."""

    title: Title = Field(description="What this runbook is about.")
    severity: Severity = Field(
        description="Severity of incidents declared from the alerts this runbook answers "
        "(it wins over the alert's severity label)."
    )
    alerts: Annotated[list[AlertRef], Field(max_length=32)] | None = Field(
        default=None,
        description="The alerts this runbook answers. When several runbooks answer an alert, "
        "the one with the most matchers wins.",
    )
    scope: Scope | None = Field(
        default=None,
        description="Where to look for the suspect rollout, as in Incident spec.scope: "
        "incidents declared from these alerts get it.",
    )
    roles: Roles | None = Field(
        default=None,
        description="Who takes the incident roles when one of these alerts declares an "
        "incident; SEV1 and SEV2 incidents need a commander (else the operator's "
        "--alerts-default-commander).",
    )
    diagnostics: Diagnostics | None = Field(
        default=None, description="Diagnostic queries, in the order to run them."
    )
    mitigations: RunbookMitigations | None = Field(
        default=None, description="Likely mitigations, most likely first."
    )
    owners: Owners | None = Field(
        default=None, description="Who owns this runbook (user or team names)."
    )
    links: Links | None = Field(default=None, description="Dashboards, documents, chat channels.")


class LinkedRunbook(ApiModel):
    """A copy of the linked Runbook: what to check and what to try."""

    name: ObjectName = Field(description="The Runbook's name (spec.runbookRef.name).")
    generation: Int64 | None = Field(
        default=None, description="The Runbook's .metadata.generation this copy was made from."
    )
    title: Title = Field(description="The Runbook's title.")
    severity: Severity | None = Field(default=None, description="The Runbook's severity.")
    diagnostics: Diagnostics | None = Field(
        default=None, description="Diagnostic queries, in the order to run them."
    )
    mitigations: RunbookMitigations | None = Field(
        default=None, description="Likely mitigations, most likely first."
    )
    owners: Owners | None = Field(default=None, description="Who owns the runbook.")
    links: Links | None = Field(default=None, description="Dashboards, documents, chat channels.")


class RunbookUse(ApiModel):
    """An incident that used the runbook."""

    incident: ObjectName = Field(description="The Incident's name (same namespace).")
    at: Timestamp = Field(description="When the incident linked the runbook.")
    alertname: str | None = Field(
        default=None, max_length=253, description="The alert that declared it, if any."
    )


class RunbookStatus(ApiModel):
    """What the operator observed about the runbook."""

    observed_generation: Int64 | None = Field(
        default=None, description="The .metadata.generation the operator last acted on."
    )
    conditions: Conditions | None = Field(
        default=None,
        description="Valid (and Ready): whether the operator accepted the runbook, with the "
        "reason when not.",
    )
    used_by: Annotated[list[RunbookUse], Field(max_length=20)] | None = Field(
        default=None, description="The most recent incidents that used this runbook, oldest first."
    )
    last_used_at: Timestamp | None = Field(
        default=None, description="When an incident last used this runbook."
    )


IncidentStatus.model_rebuild()


# --- the custom resources -----------------------------------------------------------


@dataclass(frozen=True)
class PrinterColumn:
    """An additionalPrinterColumns entry (what ``kubectl get`` shows)."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0


@dataclass(frozen=True)
class CustomResource:
    """Everything the generator needs to write one CustomResourceDefinition."""

    kind: str
    singular: str
    plural: str
    short_names: tuple[str, ...]
    description: str
    spec: type[ApiModel]
    status: type[ApiModel]
    printer_columns: tuple[PrinterColumn, ...]
    categories: tuple[str, ...] = (CATEGORY,)

    @property
    def name(self) -> str:
        """The CustomResourceDefinition's name, e.g. incidents.tourniquet.dev."""
        return f"{self.plural}.{GROUP}"


_AGE = PrinterColumn(
    "Age", "date", ".metadata.creationTimestamp", "Time since the object was created."
)

INCIDENT = CustomResource(
    kind="Incident",
    singular="incident",
    plural="incidents",
    short_names=("inc",),
    description=(
        "An Incident declares that something is wrong. Tourniquet finds the rollout that most "
        "likely caused it and, once the Incident Commander approves, undoes that rollout; "
        "every step is recorded in status, Events and metrics."
    ),
    spec=IncidentSpec,
    status=IncidentStatus,
    printer_columns=(
        PrinterColumn("Severity", "string", ".spec.severity", "SEV1, SEV2 or SEV3."),
        PrinterColumn("Phase", "string", ".status.phase", "Where the incident is."),
        PrinterColumn("Suspect", "string", ".status.suspect.name", "The suspect workload."),
        PrinterColumn(
            "Revision", "integer", ".status.suspect.revision", "The suspect revision.", 1
        ),
        PrinterColumn("Commander", "string", ".spec.roles.commander", "The Incident Commander."),
        PrinterColumn("Mitigation", "string", ".status.mitigation.result", "How the undo went."),
        _AGE,
    ),
)

RUNBOOK = CustomResource(
    kind="Runbook",
    singular="runbook",
    plural="runbooks",
    short_names=("rb",),
    description=(
        "A Runbook is one page per alert: which alerts it answers, the diagnostic queries, "
        "the likely mitigations, the owners and a default severity."
    ),
    spec=RunbookSpec,
    status=RunbookStatus,
    printer_columns=(
        PrinterColumn("Title", "string", ".spec.title", "What the runbook is about."),
        PrinterColumn("Severity", "string", ".spec.severity", "Default severity."),
        PrinterColumn(
            "Valid",
            "string",
            '.status.conditions[?(@.type=="Valid")].status',
            "Whether the operator accepted the runbook.",
        ),
        PrinterColumn(
            "Last-Used", "date", ".status.lastUsedAt", "When an incident last used it.", 1
        ),
        _AGE,
    ),
)

RESOURCES: tuple[CustomResource, ...] = (INCIDENT, RUNBOOK)
