"""The operator's vocabulary, named once: phases, mitigation results, condition types,
reasons (of conditions, Events, refusals and timeline entries) and metric observations.

They are StrEnums, so each compares and serialises as its wire string; a typo is an
AttributeError at import, not a silently new reason on a cluster.
"""

from __future__ import annotations

from enum import StrEnum


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


# An undo that has started (claimed, patched or finished): the incident never starts another.
UNDO_STARTED = frozenset(
    {MitigationResult.IN_PROGRESS, MitigationResult.SUCCEEDED, MitigationResult.FAILED}
)
OPEN_PHASES = frozenset({Phase.DECLARED, Phase.MITIGATING, Phase.MITIGATED})


class ConditionType(StrEnum):
    """status.conditions types, positive polarity per the API conventions."""

    READY = "Ready"
    SUSPECT_IDENTIFIED = "SuspectIdentified"
    APPROVED = "Approved"
    MITIGATED = "Mitigated"
    RESOLVED = "Resolved"
    ACKNOWLEDGED = "Acknowledged"
    ROLES_VALID = "RolesValid"
    COMMS_ON_TRACK = "CommsOnTrack"
    CHECKLIST_COMPLETE = "ChecklistComplete"
    POSTMORTEM_COMPLETE = "PostmortemComplete"
    # True while the GitOps owner of the undone workload is suspended by this incident.
    RECONCILIATION_SUSPENDED = "ReconciliationSuspended"
    # Runbooks
    VALID = "Valid"


class Reason(StrEnum):
    """CamelCase reasons: of conditions, Events, refusals and timeline entries (one word
    names the same moment in all four)."""

    ACKNOWLEDGED = "Acknowledged"
    ACKNOWLEDGEMENT_OVERDUE = "AcknowledgementOverdue"
    ACTION_ITEM_OVERDUE = "ActionItemOverdue"
    ALERT_FIRING = "AlertFiring"
    ALERT_FIRING_AGAIN = "AlertFiringAgain"
    ALERT_RESOLVED = "AlertResolved"
    ALREADY_AT_REVISION = "AlreadyAtRevision"
    ALREADY_MITIGATED = "AlreadyMitigated"
    APPROVAL_REVISION_MISMATCH = "ApprovalRevisionMismatch"
    APPROVAL_TARGET_MISMATCH = "ApprovalTargetMismatch"
    APPROVAL_UNVERIFIED = "ApprovalUnverified"
    APPROVED = "Approved"
    AUTO_RESOLVE_REFUSED = "AutoResolveRefused"
    AWAITING_ACKNOWLEDGEMENT = "AwaitingAcknowledgement"
    CHECKLIST_COMPLETE = "ChecklistComplete"
    CHECKLIST_IN_PROGRESS = "ChecklistInProgress"
    CHECKLIST_ITEM_LATE = "ChecklistItemLate"
    CHECKLIST_ITEMS_LATE = "ChecklistItemsLate"
    CHECKLIST_TICKED = "ChecklistTicked"
    CLOSED = "Closed"
    COMMANDER_IS_OPERATIONS_LEAD = "CommanderIsOperationsLead"
    COMMS_OVERDUE = "CommsOverdue"
    COMMS_UPDATE = "CommsUpdate"
    DECLARED = "Declared"
    DECLARED_FROM_ALERT = "DeclaredFromAlert"
    DEPLOYMENT_PAUSED = "DeploymentPaused"
    DRILL_UNDO_REHEARSED = "DrillUndoRehearsed"
    GITOPS_NOT_SUSPENDED = "GitOpsNotSuspended"
    GITOPS_RESUME_FAILED = "GitOpsResumeFailed"
    GITOPS_RESUME_WAITS_FOR_GIT = "GitOpsResumeWaitsForGit"
    GITOPS_RESUMED = "GitOpsResumed"
    GITOPS_SUSPEND_FAILED = "GitOpsSuspendFailed"
    GITOPS_SUSPEND_FORBIDDEN = "GitOpsSuspendForbidden"
    GITOPS_SUSPENDED = "GitOpsSuspended"
    INCIDENT_UPDATE = "IncidentUpdate"
    INVALID_MATCHER = "InvalidMatcher"
    INVALID_QUERY = "InvalidQuery"
    INVALID_SELECTOR = "InvalidSelector"
    INVALID_SPEC = "InvalidSpec"
    MITIGATED = "Mitigated"
    MITIGATION_FAILED = "MitigationFailed"
    MITIGATION_STARTED = "MitigationStarted"
    NO_APPROVAL = "NoApproval"
    NO_COMMANDER = "NoCommander"
    NO_PREVIOUS_REVISION = "NoPreviousRevision"
    NO_RECENT_ROLLOUT = "NoRecentRollout"
    NO_RUNBOOK = "NoRunbook"
    NO_UPDATE_DUE = "NoUpdateDue"
    NOT_STARTED = "NotStarted"
    NOTIFICATION_FAILED = "NotificationFailed"
    ON_DELETE_STRATEGY = "OnDeleteStrategy"
    ON_SCHEDULE = "OnSchedule"
    POLICY_INVALID = "PolicyInvalid"
    POLICY_LOADED = "PolicyLoaded"
    POSTMORTEM_COMPLETE = "PostmortemComplete"
    POSTMORTEM_DRAFTED = "PostmortemDrafted"
    POSTMORTEM_INCOMPLETE = "PostmortemIncomplete"
    POSTMORTEM_NOT_WRITTEN = "PostmortemNotWritten"
    POSTMORTEM_OVERDUE = "PostmortemOverdue"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    READY = "Ready"
    RECONCILE_ERROR = "ReconcileError"
    RECONCILED = "Reconciled"
    RESOLVED = "Resolved"
    ROLE_HANDOVER = "RoleHandover"
    ROLES_ASSIGNED = "RolesAssigned"
    ROLES_WARNING = "RolesWarning"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    ROLLOUT_TIMEOUT = "RolloutTimeout"
    ROLLOUT_UNDONE = "RolloutUndone"
    RUNBOOK_INVALID = "RunbookInvalid"
    RUNBOOK_LINKED = "RunbookLinked"
    RUNBOOK_NOT_FOUND = "RunbookNotFound"
    RUNBOOK_UPDATED = "RunbookUpdated"
    STATEFUL_SET_PARTITIONED = "StatefulSetPartitioned"
    STATEFUL_SET_POD_STUCK = "StatefulSetPodStuck"
    STUCK_POD_DELETED = "StuckPodDeleted"
    SUSPECT_IDENTIFIED = "SuspectIdentified"
    SUSPECT_OUT_OF_SCOPE = "SuspectOutOfScope"
    SUSPECT_REPLACED = "SuspectReplaced"
    TARGET_CHANGED = "TargetChanged"
    UNDO_REFUSED = "UndoRefused"
    UNDO_REJECTED = "UndoRejected"
    UNDO_STARTED = "UndoStarted"
    VALID = "Valid"


class Observed(StrEnum):
    """What the core asks the metrics to observe once a status write has landed."""

    DECLARED = "declared"
    TIME_TO_MITIGATE = "time_to_mitigate"
    TIME_TO_RESOLVE = "time_to_resolve"
    ROLLBACK = "rollback"
    TIME_TO_ACKNOWLEDGE = "time_to_acknowledge"
    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement_overdue"
    COMMS_OVERDUE = "comms_overdue"
    CHECKLIST_ITEM_LATE = "checklist_item_late"
    GITOPS = "gitops"
