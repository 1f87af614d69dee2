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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

GROUP = "tourniquet.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "tourniquet"

#: Name of the ValidatingAdmissionPolicy (and its binding) that checks approvals.
APPROVAL_POLICY_NAME = "tourniquet-incident-approval"
#: Members of this group may approve any Incident's mitigation, besides its commander.
DEFAULT_APPROVERS_GROUP = "tourniquet:incident-commanders"

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


def _cel(rule: str, message: str, **extra: str) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry."""
    return {"rule": rule, "message": message, **extra}


def _int64(**constraints: Any) -> Any:
    """Field metadata for an int64 (Kubernetes' integer format)."""
    return Field(json_schema_extra={"format": "int64"}, **constraints)


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


class Phase(StrEnum):
    """Where the incident is in its lifecycle."""

    DECLARED = "Declared"
    MITIGATING = "Mitigating"
    MITIGATED = "Mitigated"
    RESOLVED = "Resolved"
    CLOSED = "Closed"


class MitigationAction(StrEnum):
    """What the operator did (or will do) to stop the bleeding."""

    ROLLOUT_UNDO = "RolloutUndo"


class MitigationResult(StrEnum):
    """Outcome of the mitigation so far."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REFUSED = "Refused"


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

    @model_validator(mode="after")
    def _commander_named(self) -> Self:
        if self.severity in (Severity.SEV1, Severity.SEV2) and (
            self.roles is None or self.roles.commander is None
        ):
            raise ValueError(COMMANDER_REQUIRED_MESSAGE)
        return self


class Suspect(ApiModel):
    """The most recent rollout in scope: the likely cause."""

    deployment: ObjectName = Field(description="Name of the suspect Deployment.")
    replica_set: ObjectName = Field(
        description="Name of the ReplicaSet that carries the suspect revision."
    )
    revision: Revision = Field(
        description="The suspect revision (the deployment.kubernetes.io/revision now live)."
    )
    previous_revision: Revision | None = Field(
        default=None,
        description="The revision an undo returns to. Omitted: there is none to return to.",
    )
    rolled_out_at: Timestamp = Field(
        description="When the suspect revision was rolled out (its ReplicaSet's creation time)."
    )
    change: str = Field(
        max_length=1024,
        description="What changed, e.g. api: registry/api:1.4.2 -> registry/api:1.4.3.",
    )


class Approval(ApiModel):
    """The Incident Commander's go-ahead for the undo. Written only by the Incident
    Commander (or the approvers group); the API server checks who wrote it."""

    approved_by: UserName = Field(
        description="Your own Kubernetes user name. The API server rejects an approval "
        "written in someone else's name."
    )
    revision: Revision = Field(
        description="The suspect revision you approve undoing; must equal status.suspect.revision."
    )


class Mitigation(ApiModel):
    """The guarded undo: what was (or will be) done, and how it went."""

    action: MitigationAction = Field(description="RolloutUndo: undo the suspect rollout.")
    deployment: ObjectName | None = Field(default=None, description="The Deployment acted on.")
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


# --- Runbook --------------------------------------------------------------------


class AlertRef(ApiModel):
    """An alert this runbook answers."""

    alertname: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="The alertname label of the alert."
    )
    matchers: (
        Annotated[
            dict[
                Annotated[str, StringConstraints(min_length=1, max_length=253)],
                Annotated[str, StringConstraints(max_length=1024)],
            ],
            Field(max_length=16),
        ]
        | None
    ) = Field(
        default=None,
        description="Further labels the alert must carry to match, e.g. {service: api}.",
    )


class Diagnostic(ApiModel):
    """A query to run while diagnosing."""

    description: str = Field(max_length=1024, description="What the query tells you.")
    query: str = Field(max_length=4096, description="The PromQL query.")


class RunbookMitigation(ApiModel):
    """A likely mitigation."""

    action: RunbookAction = Field(
        description="RolloutUndo (the operator can do it on approval) or Manual."
    )
    description: str = Field(max_length=1024, description="What to do, and when.")


class Link(ApiModel):
    """A link to a dashboard, document or chat channel."""

    title: Title = Field(description="What the link points to.")
    url: str = Field(max_length=2048, pattern=URL_PATTERN, description="An http(s) URL.")


class RunbookSpec(ApiModel):
    """One page per alert: what it answers, how to diagnose, how to mitigate, who owns it."""

    title: Title = Field(description="What this runbook is about.")
    severity: Severity = Field(
        description="Default severity of incidents declared from this runbook."
    )
    alerts: Annotated[list[AlertRef], Field(max_length=32)] | None = Field(
        default=None, description="The alerts this runbook answers."
    )
    scope: Scope | None = Field(
        default=None,
        description="Where to look for the suspect rollout, as in Incident spec.scope.",
    )
    diagnostics: Annotated[list[Diagnostic], Field(max_length=32)] | None = Field(
        default=None, description="Diagnostic queries, in the order to run them."
    )
    mitigations: Annotated[list[RunbookMitigation], Field(max_length=16)] | None = Field(
        default=None, description="Likely mitigations, most likely first."
    )
    owners: Annotated[list[UserName], Field(max_length=16)] | None = Field(
        default=None, description="Who owns this runbook (user or team names)."
    )
    links: Annotated[list[Link], Field(max_length=16)] | None = Field(
        default=None, description="Dashboards, documents, chat channels."
    )


class RunbookStatus(ApiModel):
    """What the operator observed about the runbook."""

    observed_generation: Int64 | None = Field(
        default=None, description="The .metadata.generation the operator last acted on."
    )
    conditions: Conditions | None = Field(
        default=None, description="Standard conditions, one per type."
    )


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
        PrinterColumn("Suspect", "string", ".status.suspect.deployment", "The suspect Deployment."),
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
        _AGE,
    ),
)

RESOURCES: tuple[CustomResource, ...] = (INCIDENT, RUNBOOK)
