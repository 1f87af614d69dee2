"""`kubectl incident status`, `list` and `timeline` from Incident objects: who must do what
next (with the command to type) at every phase, deadlines, the suspect and its change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.cli.kubectl_incident import screen

NOW = datetime(2026, 11, 27, 10, 2, tzinfo=UTC)
NS = "production"


def incident(**status: Any) -> dict[str, Any]:
    spec = status.pop("spec", {})
    return {
        "metadata": {
            "name": "api-errors",
            "namespace": NS,
            "creationTimestamp": "2026-11-27T10:00:00Z",
            **status.pop("metadata", {}),
        },
        "spec": {
            "title": "Elevated 5xx on api",
            "severity": "SEV1",
            "roles": {"commander": "alice", "comms": "bob"},
            **spec,
        },
        "status": status,
    }


SUSPECT = {
    "kind": "Deployment",
    "name": "api",
    "revision": 7,
    "previousRevision": 6,
    "rolledOutAt": "2026-11-27T09:58:00Z",
    "change": "api: registry/api:1.4.2 -> registry/api:1.4.3",
}
PENDING = {"action": "RolloutUndo", "result": "Pending", "reason": "NoApproval"}


def whats(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s.who, s.what) for s in screen.next_steps(obj)]


def test_a_fresh_incident_asks_the_ic_to_acknowledge_and_approve() -> None:
    obj = incident(
        phase="Declared",
        suspect=SUSPECT,
        mitigation=PENDING,
        deadlines={"acknowledgeBy": "2026-11-27T10:05:00Z", "checklistDue": "2026-11-27T10:15:00Z"},
        comms={"updates": 0, "nextUpdateDue": "2026-11-27T10:05:00Z"},
    )
    steps = screen.next_steps(obj)
    assert [(s.who, s.what) for s in steps] == [
        ("alice", "acknowledge the page"),
        ("alice", "approve the undo of Deployment/api revision 7 (back to revision 6)"),
        ("bob", "post the first update"),
        ("responders", "tick bridgeOpened, statusPageUpdated, customerSupportBriefed when done"),
    ]
    assert steps[1].command == "kubectl incident approve api-errors -n production"
    assert steps[0].due == datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    text = screen.status_screen(obj, NOW)
    assert text.startswith("api-errors in production: SEV1 Declared: Elevated 5xx on api\n")
    assert "Deployment/api revision 7, undo returns to 6" in text
    assert "change: api: registry/api:1.4.2 -> registry/api:1.4.3" in text
    assert "$ kubectl incident approve api-errors -n production" in text
    assert "acknowledge   2026-11-27T10:05:00Z (in 3m 0s)" in text
    assert "[due in 3m 0s]" in text


def test_overdue_deadlines_say_so() -> None:
    obj = incident(
        phase="Declared",
        acknowledgement={"by": "alice"},
        comms={"updates": 1, "overdue": True, "nextUpdateDue": "2026-11-27T10:01:00Z"},
        spec={
            "checklist": dict.fromkeys(
                ("bridgeOpened", "statusPageUpdated", "customerSupportBriefed"), "bob"
            )
        },
    )
    steps = screen.next_steps(obj)
    assert ("bob", "post the next update (overdue)") in whats(obj)
    assert not any(s.what.startswith("tick") for s in steps)
    assert "[OVERDUE by 1m 0s]" in screen.status_screen(obj, NOW)


def test_the_mitigation_decides_the_next_step() -> None:
    approval = {"approvedBy": "alice", "kind": "Deployment", "name": "api", "revision": 7}
    acked = {"acknowledgement": {"by": "alice"}}
    in_progress = {**PENDING, "result": "InProgress", "name": "api", "toRevision": 6}
    refused = {**PENDING, "result": "Refused", "reason": "TargetChanged", "message": "moved on"}
    cases = {
        "approved": (
            dict(suspect=SUSPECT, mitigation=PENDING, approval=approval),
            (screen.OPERATOR, "act on alice's approval"),
        ),
        "undoing": (
            dict(suspect=SUSPECT, mitigation=in_progress),
            (screen.OPERATOR, "undo Deployment/api to revision 6 and follow its rollout"),
        ),
        "refused": (
            dict(suspect=SUSPECT, mitigation=refused),
            ("alice", "the undo was refused (TargetChanged): moved on"),
        ),
        "mitigated": (
            dict(phase="Mitigated", suspect=SUSPECT, mitigation={**PENDING, "result": "Succeeded"}),
            ("alice", "give the all-clear once the service is healthy"),
        ),
        "nothing to undo": (
            dict(conditions=[{"type": "SuspectIdentified", "reason": "NoRecentRollout"}]),
            ("alice", "no rollout in scope to undo: mitigate by hand"),
        ),
        "no previous": (
            dict(suspect={**SUSPECT, "previousRevision": None}),
            ("alice", "Deployment/api revision 7 has no previous revision: mitigate by hand"),
        ),
    }
    for name, (status, expected) in cases.items():
        assert whats(incident(**acked, **status))[0] == expected, name
    again = whats(incident(**acked, suspect=SUSPECT, mitigation=refused))[1]
    assert again == ("alice", "approve the undo of Deployment/api revision 7 (back to revision 6)")


def test_without_a_commander_someone_must_name_one() -> None:
    obj = incident(spec={"severity": "SEV3", "roles": {}})
    first = screen.next_steps(obj)[0]
    assert (first.who, first.what) == ("a holder of approve", "name an Incident Commander")
    assert first.command == "kubectl incident handover api-errors -n production USER"


def test_after_the_all_clear_the_postmortem_is_next_and_closed_is_the_end() -> None:
    resolved = incident(
        phase="Resolved",
        spec={"resolved": True},
        postmortem={"due": "2026-11-30T10:00:00Z", "missing": ["summary", "impact"]},
        timeToMitigateSeconds=65,
        timeToResolveSeconds=600,
    )
    step = screen.next_steps(resolved)[0]
    assert step.what == "complete the postmortem in spec.postmortem (missing: summary, impact)"
    assert step.command == "kubectl incident postmortem api-errors -n production"
    text = screen.status_screen(resolved, NOW)
    assert "mitigated in 1m 5s, resolved in 10m 0s" in text
    assert "postmortem    2026-11-30T10:00:00Z" in text
    closed = incident(phase="Closed", spec={"resolved": True})
    assert screen.next_steps(closed) == []
    assert "Next: nothing, the incident is closed." in screen.status_screen(closed, NOW)


def test_the_gitops_owner_is_shown_from_the_suspect_then_the_suspension() -> None:
    owner = {"tool": "Flux", "kind": "Kustomization", "namespace": "flux-system", "name": "apps"}
    named = screen.status_screen(
        incident(suspect={**SUSPECT, "owner": {**owner, "reconciles": True}}), NOW
    )
    assert (
        "GitOps      Flux Kustomization flux-system/apps (reconciles from git: approving "
        "suspends it first)"
    ) in named
    suspended = {
        **owner,
        "suspendedAt": "2026-11-27T10:05:00Z",
        "resumeCommand": "kubectl incident resume api-errors -n production",
    }
    text = screen.status_screen(
        incident(suspect=SUSPECT, mitigation={**PENDING, "gitops": suspended}), NOW
    )
    assert (
        "GitOps      Flux Kustomization flux-system/apps (suspended by this incident; "
        "resume: kubectl incident resume api-errors -n production)"
    ) in text
    resumed = {**suspended, "resumedAt": "2026-11-27T11:00:00Z"}
    text = screen.status_screen(
        incident(suspect=SUSPECT, mitigation={**PENDING, "gitops": resumed}), NOW
    )
    assert "(suspended by this incident, resumed 2026-11-27T11:00:00Z)" in text
    assert "GitOps" not in screen.status_screen(incident(suspect=SUSPECT), NOW)


def test_list_is_one_row_per_incident_with_who_acts_next() -> None:
    obj = incident(phase="Declared", suspect=SUSPECT, mitigation=PENDING)
    other = incident(metadata={"name": "db", "namespace": "payments"}, phase="Closed")
    lines = screen.incident_list([obj, other], NOW, namespaces=True).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "SEVERITY",
        "PHASE",
        "COMMANDER",
        "SUSPECT",
        "NEXT",
        "AGE",
    ]
    assert lines[1].split()[:6] == [
        "production",
        "api-errors",
        "SEV1",
        "Declared",
        "alice",
        "api@7",
    ]
    assert "alice: acknowledge the page" in lines[1]
    assert lines[1].endswith("2m")
    assert lines[2].split()[-2:] == ["-", "2m"]
    assert screen.incident_list([], NOW, namespaces=False) == "No incidents found.\n"


def test_the_timeline_is_the_complete_record_archive_included() -> None:
    archived = [{"at": "2026-11-27T10:00:00Z", "kind": "Declared", "message": "SEV1 declared"}]
    obj = incident(
        metadata={"annotations": {TIMELINE_ARCHIVE: json.dumps(archived)}},
        timeline=[
            {"at": "2026-11-27T10:01:00Z", "kind": "Approved", "message": "ok", "actor": "alice"}
        ],
        spec={
            "updates": [{"author": "bob", "message": "Investigating", "at": "2026-11-27T10:00:30Z"}]
        },
    )
    rows = screen.timeline(obj).splitlines()
    assert rows[0].split() == ["TIME", "KIND", "ACTOR", "MESSAGE"]
    assert [r.split()[1] for r in rows[1:]] == ["Declared", "CommsUpdate", "Approved"]
    assert rows[3].split()[2] == "alice"
    assert screen.timeline(incident()) == "No timeline entries yet.\n"
    broken = incident(metadata={"annotations": {TIMELINE_ARCHIVE: "not json"}})
    assert screen.archived_timeline(broken) == []
