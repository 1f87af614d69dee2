"""The blameless postmortem: golden files for whole documents, unit tests for the parts.

Golden files live in tests/unit/core/golden/postmortem_*.md and are compared byte for byte.
After an intended change to the rendering, regenerate them and review the diff:

    TOURNIQUET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_postmortem.py
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tourniquet.core.postmortem import (
    ActionItemCounts,
    ActionItemState,
    action_item_counts,
    action_items,
    cell,
    configmap,
    configmap_name,
    format_duration,
    merged_timeline,
    missing_sections,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TOURNIQUET_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def tick(at: str, item: str, title: str, by: str | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"item": item, "title": title, "done": True, "at": at}
    if by:
        record["by"] = by
    return {**record, **extra}


def event(at: str, kind: str, message: str, actor: str | None = None) -> dict[str, Any]:
    record = {"at": at, "kind": kind, "message": message}
    return {**record, "actor": actor} if actor else record


# -- three incidents, as the API server returns them -----------------------------------


def sev1_complete() -> dict[str, Any]:
    """A SEV1 mitigated by the guarded undo, resolved, and a postmortem fully written."""
    change = "api: registry.example.com/api:1.4.2 -> registry.example.com/api:1.4.3"
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "api-errors",
            "namespace": "production",
            "uid": "6f1c2a3e-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
            "creationTimestamp": "2026-11-27T10:03:10Z",
            "generation": 9,
        },
        "spec": {
            "title": "Elevated 5xx on api",
            "severity": "SEV1",
            "roles": {
                "commander": "alice",
                "comms": "bob",
                "operations": "carol",
                "scribe": "dave",
            },
            "scope": {"selector": {"matchLabels": {"app": "api"}}},
            "startedAt": "2026-11-27T10:00:00Z",
            "resolved": True,
            "checklist": {
                "bridgeOpened": "carol",
                "statusPageUpdated": "bob",
                "customerSupportBriefed": "bob",
            },
            "updates": [
                {
                    "author": "bob",
                    "message": "Investigating elevated error rates on the public API.",
                    "at": "2026-11-27T10:06:00Z",
                    "statusPage": "investigating",
                },
                {
                    "author": "bob",
                    "message": "Cause identified: a bad release of api. Rolling back.",
                    "at": "2026-11-27T10:19:30Z",
                    "statusPage": "identified",
                },
                {
                    "author": "bob",
                    "message": "Error rates are back to normal; we are monitoring.",
                    "at": "2026-11-27T10:31:00Z",
                    "statusPage": "monitoring",
                },
                {
                    "author": "bob",
                    "message": "Resolved. A postmortem will follow.",
                    "at": "2026-11-27T11:05:30Z",
                    "statusPage": "resolved",
                },
            ],
            "postmortem": {
                "summary": (
                    "Release 1.4.3 of api shipped a connection-pool setting that exhausted "
                    "database connections under normal load. About 38% of API requests failed "
                    "with 503 for 25 minutes, until the Incident Commander approved the undo "
                    "of the rollout."
                ),
                "impact": (
                    "All public API clients, in every region: 38% of requests failed with 503 "
                    "between 10:00 and 10:25 UTC (about 412,000 failed requests). Mobile "
                    "clients retried and mostly recovered; webhook deliveries were delayed by "
                    "up to 40 minutes. No data was lost."
                ),
                "rootCauses": [
                    "The connection-pool size moved from code to an environment variable in "
                    "1.4.3, and its default changed from 50 to 5.",
                    "The canary ran at 1% of traffic for 2 minutes, too short and too small "
                    "to exhaust the pool.",
                    "No alert on database connection saturation; the first signal was the "
                    "5xx ratio.",
                ],
                "wentWell": [
                    "Tourniquet named the suspect rollout within a second of the declaration.",
                    "The undo was approved 2 minutes after the cause was identified.",
                    "Status page updates went out on time.",
                ],
                "wentPoorly": [
                    "The incident was declared 3 minutes after the 5xx alert fired.",
                    "Customer support was briefed after 9 minutes, from a\nforwarded Slack thread.",
                ],
                "actionItems": [
                    {
                        "title": "Restore the pool size default to 50 and fail startup when unset",
                        "owner": "carol",
                        "due": "2026-11-28",
                        "ticket": "https://tickets.example.com/API-2231",
                        "done": True,
                    },
                    {
                        "title": "Canary gate: hold promotion when 5xx > 1% | p99 > 800ms",
                        "owner": "dave",
                        "due": "2026-12-04",
                        "ticket": "https://tickets.example.com/DEPLOY-118",
                        "done": False,
                    },
                    {
                        "title": "Alert on database connection saturation above 80%",
                        "owner": "erin",
                        "due": "2026-12-15",
                        "ticket": "https://tickets.example.com/OBS-77",
                    },
                ],
            },
        },
        "status": {
            "observedGeneration": 9,
            "phase": "Closed",
            "declaredAt": "2026-11-27T10:03:10Z",
            "acknowledgedAt": "2026-11-27T10:04:28Z",
            "acknowledgement": {"by": "alice", "at": "2026-11-27T10:04:28Z"},
            "timeToAcknowledgeSeconds": 78.0,
            "mitigatedAt": "2026-11-27T10:25:12Z",
            "resolvedAt": "2026-11-27T11:05:03Z",
            "closedAt": "2026-11-30T16:40:00Z",
            "timeToMitigateSeconds": 1512.0,
            "timeToResolveSeconds": 3903.0,
            "suspect": {
                "kind": "Deployment",
                "name": "api",
                "replicaSet": "api-7d9f8c6b5",
                "revision": 7,
                "previousRevision": 6,
                "rolledOutAt": "2026-11-27T09:58:41Z",
                "change": change,
            },
            "approval": {"approvedBy": "alice", "revision": 7},
            "mitigation": {
                "action": "RolloutUndo",
                "kind": "Deployment",
                "name": "api",
                "fromRevision": 7,
                "toRevision": 6,
                "result": "Succeeded",
                "message": 'deployment "api" successfully rolled out',
                "startedAt": "2026-11-27T10:21:05Z",
                "patchedAt": "2026-11-27T10:21:06Z",
                "finishedAt": "2026-11-27T10:25:12Z",
                "approvedBy": "alice",
                "approvalRevision": 7,
                "replicaSet": "api-6c4f5b7d9",
            },
            "checklist": [
                tick(
                    "2026-11-27T10:03:10Z",
                    "commanderDeclared",
                    "Incident Commander declared",
                    "alice",
                ),
                tick(
                    "2026-11-27T10:04:28Z",
                    "pageAcknowledged",
                    "Page acknowledged by the Incident Commander",
                    "alice",
                ),
                tick("2026-11-27T10:07:40Z", "bridgeOpened", "Bridge opened", "carol"),
                tick("2026-11-27T10:03:10Z", "severityAssigned", "Severity assigned"),
                tick("2026-11-27T10:07:55Z", "statusPageUpdated", "Status page updated", "bob"),
                tick(
                    "2026-11-27T10:03:11Z",
                    "recentDeployIdentified",
                    "Most recent deploy identified",
                ),
                tick(
                    "2026-11-27T10:03:11Z",
                    "rollbackConsidered",
                    "Rollback considered before any code change",
                ),
                tick(
                    "2026-11-27T10:12:30Z",
                    "customerSupportBriefed",
                    "Customer support told what to say",
                    "bob",
                ),
            ],
            "comms": {"lastUpdateAt": "2026-11-27T11:05:30Z", "delivered": 4, "overdue": False},
            "timeline": [
                event(
                    "2026-11-27T10:03:10Z",
                    "Declared",
                    "SEV1 declared: Elevated 5xx on api (Incident Commander: alice)",
                ),
                event(
                    "2026-11-27T10:03:11Z",
                    "SuspectIdentified",
                    "suspect: deployment/api revision 7 rolled out at 2026-11-27T09:58:41Z "
                    f"({change})",
                ),
                event(
                    "2026-11-27T10:04:28Z",
                    "Acknowledged",
                    "alice acknowledged the page (78s after declaration)",
                    "alice",
                ),
                event(
                    "2026-11-27T10:06:02Z",
                    "CommsUpdate",
                    "update #1: Investigating elevated error rates on the public API.",
                    "bob",
                ),
                event("2026-11-27T10:07:40Z", "ChecklistTicked", "Bridge opened", "carol"),
                event("2026-11-27T10:07:55Z", "ChecklistTicked", "Status page updated", "bob"),
                event(
                    "2026-11-27T10:12:30Z",
                    "ChecklistTicked",
                    "Customer support told what to say",
                    "bob",
                ),
                event(
                    "2026-11-27T10:19:31Z",
                    "CommsUpdate",
                    "update #2: Cause identified: a bad release of api. Rolling back.",
                    "bob",
                ),
                event(
                    "2026-11-27T10:21:05Z",
                    "Approved",
                    "alice approved the undo of revision 7",
                    "alice",
                ),
                event(
                    "2026-11-27T10:21:05Z",
                    "MitigationStarted",
                    "undo of deployment/api: revision 7 -> 6",
                ),
                event(
                    "2026-11-27T10:21:06Z",
                    "RolloutUndone",
                    "deployment/api set back to the template of revision 6",
                ),
                event(
                    "2026-11-27T10:25:12Z",
                    "Mitigated",
                    'deployment "api" successfully rolled out; time to mitigate 1512s',
                ),
                event(
                    "2026-11-27T10:31:01Z",
                    "CommsUpdate",
                    "update #3: Error rates are back to normal; we are monitoring.",
                    "bob",
                ),
                event(
                    "2026-11-27T11:05:03Z", "Resolved", "resolved; time to resolve 3903s", "alice"
                ),
                event(
                    "2026-11-27T11:05:31Z",
                    "CommsUpdate",
                    "update #4: Resolved. A postmortem will follow.",
                    "bob",
                ),
                event("2026-11-30T16:40:00Z", "Closed", "postmortem complete: incident closed"),
            ],
        },
    }


def sev2_unwritten() -> dict[str, Any]:
    """A SEV2 fixed forward without the offered undo, resolved, postmortem not started:
    no comms updates, two checklist items late, every section a TODO."""
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "checkout-latency",
            "namespace": "shop",
            "uid": "0b9e7d2c-1a3f-4c5d-8e6f-7a8b9c0d1e2f",
            "creationTimestamp": "2026-11-28T14:12:00Z",
        },
        "spec": {
            "title": "Checkout p99 latency above 4s",
            "severity": "SEV2",
            "roles": {"commander": "erin"},
            "resolved": True,
            "checklist": {"bridgeOpened": "erin"},
        },
        "status": {
            "phase": "Resolved",
            "declaredAt": "2026-11-28T14:12:00Z",
            "acknowledgedAt": "2026-11-28T14:20:40Z",
            "acknowledgement": {"by": "erin", "at": "2026-11-28T14:20:40Z"},
            "timeToAcknowledgeSeconds": 520.0,
            "resolvedAt": "2026-11-28T16:47:19Z",
            "timeToResolveSeconds": 9319.0,
            "suspect": {
                "kind": "Deployment",
                "name": "checkout",
                "replicaSet": "checkout-5c7b9d4f8x",
                "revision": 12,
                "previousRevision": 11,
                "rolledOutAt": "2026-11-28T13:55:02Z",
                "change": "checkout: registry.example.com/checkout:2.8.0 -> "
                "registry.example.com/checkout:2.9.0",
            },
            "mitigation": {
                "action": "RolloutUndo",
                "kind": "Deployment",
                "name": "checkout",
                "fromRevision": 12,
                "toRevision": 11,
                "result": "Pending",
                "reason": "NoApproval",
                "message": "to undo, as erin: kubectl patch incident checkout-latency -n shop "
                "--subresource=status --type=merge "
                '-p \'{"status":{"approval":{"approvedBy":"erin","revision":12}}}\'',
            },
            "checklist": [
                tick(
                    "2026-11-28T14:12:00Z",
                    "commanderDeclared",
                    "Incident Commander declared",
                    "erin",
                ),
                tick(
                    "2026-11-28T14:20:40Z",
                    "pageAcknowledged",
                    "Page acknowledged by the Incident Commander",
                    "erin",
                ),
                tick("2026-11-28T14:24:10Z", "bridgeOpened", "Bridge opened", "erin"),
                tick("2026-11-28T14:12:00Z", "severityAssigned", "Severity assigned"),
                {
                    "item": "statusPageUpdated",
                    "title": "Status page updated",
                    "done": False,
                    "late": True,
                },
                tick(
                    "2026-11-28T14:12:01Z",
                    "recentDeployIdentified",
                    "Most recent deploy identified",
                ),
                tick(
                    "2026-11-28T14:12:01Z",
                    "rollbackConsidered",
                    "Rollback considered before any code change",
                ),
                {
                    "item": "customerSupportBriefed",
                    "title": "Customer support told what to say",
                    "done": False,
                    "late": True,
                },
            ],
            "comms": {"delivered": 0, "overdue": False},
            "timeline": [
                event(
                    "2026-11-28T14:12:00Z",
                    "Declared",
                    "SEV2 declared: Checkout p99 latency above 4s (Incident Commander: erin)",
                ),
                event(
                    "2026-11-28T14:12:01Z",
                    "SuspectIdentified",
                    "suspect: deployment/checkout revision 12 rolled out at "
                    "2026-11-28T13:55:02Z (checkout: registry.example.com/checkout:2.8.0 -> "
                    "registry.example.com/checkout:2.9.0)",
                ),
                event(
                    "2026-11-28T14:17:00Z",
                    "CommsOverdue",
                    "comms first update overdue since 2026-11-28T14:17:00Z: post to the status "
                    "page and the incidents channel, even if only 'we are investigating'",
                ),
                event(
                    "2026-11-28T14:20:40Z",
                    "Acknowledged",
                    "erin acknowledged the page (520s after declaration)",
                    "erin",
                ),
                event("2026-11-28T14:24:10Z", "ChecklistTicked", "Bridge opened", "erin"),
                event(
                    "2026-11-28T14:27:00Z",
                    "ChecklistItemLate",
                    "checklist item still open after the first minutes: Status page updated",
                ),
                event(
                    "2026-11-28T14:27:00Z",
                    "ChecklistItemLate",
                    "checklist item still open after the first minutes: Customer support told "
                    "what to say",
                ),
                event(
                    "2026-11-28T16:47:19Z", "Resolved", "resolved; time to resolve 9319s", "erin"
                ),
            ],
        },
    }


def drill_overdue() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A game-day drill whose early timeline was archived out of status (the two overlap),
    with action items past due: one done, two overdue, one of them still without a ticket."""
    change = "api: registry.example.com/api:1.5.0 -> registry.example.com/api:1.5.1-broken"
    early = [
        event(
            "2026-11-20T14:00:02Z",
            "Declared",
            "SEV1 declared: Game day: bad api release on staging (Incident Commander: carol)",
        ),
        event(
            "2026-11-20T14:00:03Z",
            "SuspectIdentified",
            f"suspect: deployment/api revision 31 rolled out at 2026-11-20T13:58:00Z ({change})",
        ),
        event(
            "2026-11-20T14:01:15Z",
            "Acknowledged",
            "carol acknowledged the page (73s after declaration)",
            "carol",
        ),
        event("2026-11-20T14:02:00Z", "ChecklistTicked", "Bridge opened", "dave"),
        event(
            "2026-11-20T14:03:30Z",
            "CommsUpdate",
            "update #1: [DRILL] Investigating errors on staging api.",
            "bob",
        ),
    ]
    incident = {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "gameday-api-undo",
            "namespace": "staging",
            "uid": "d3a1f0c2-5b6e-4a7d-9c8b-2e1f0a9b8c7d",
            "creationTimestamp": "2026-11-20T14:00:02Z",
        },
        "spec": {
            "title": "Game day: bad api release on staging",
            "severity": "SEV1",
            "drill": True,
            "roles": {"commander": "carol", "comms": "bob", "operations": "dave"},
            "startedAt": "2026-11-20T13:58:30Z",
            "resolved": True,
            "checklist": {
                "bridgeOpened": "dave",
                "statusPageUpdated": "bob",
                "customerSupportBriefed": "bob",
            },
            "updates": [
                {
                    "author": "bob",
                    "message": "[DRILL] Investigating errors on staging api.",
                    "at": "2026-11-20T14:03:28Z",
                    "statusPage": "investigating",
                },
                {
                    "author": "bob",
                    "message": "[DRILL] Rolled back; errors gone.",
                    "at": "2026-11-20T14:10:05Z",
                    "statusPage": "monitoring",
                },
            ],
            "postmortem": {
                "summary": "Game day: a deliberately broken api release on staging, to practise "
                "the playbook end to end. The team declared, found the suspect and approved the "
                "undo in under 9 minutes.",
                "impact": "None outside the drill: staging only, announced in #eng the day before.",
                "rootCauses": [
                    "Operator error: the runbook link in the api-5xx alert pointed to a deleted "
                    "page.",
                    "The comms lead was not paged by the alert, only the on-call engineer.",
                ],
                "wentWell": [
                    "Suspect named automatically; nobody had to search the deploy log.",
                    "The approval command was copy-pasted from `kubectl get inc -o yaml`.",
                ],
                "wentPoorly": [
                    "Two people started debugging before the commander was named.\n"
                    "The bridge was opened only after the first page was acknowledged.",
                ],
                "actionItems": [
                    {
                        "title": "Fix the runbook link in the api-5xx alert",
                        "owner": "dave",
                        "due": "2026-11-25",
                        "ticket": "https://tickets.example.com/OPS-1201",
                        "done": False,
                    },
                    {
                        "title": "Page the comms lead from SEV1 alerts",
                        "owner": "bob",
                        "due": "2026-11-27",
                        "ticket": "https://tickets.example.com/OPS-1202",
                        "done": True,
                    },
                    {
                        "title": "Run a game day for the payments team",
                        "owner": "carol",
                        "due": "2026-11-30",
                    },
                ],
            },
        },
        "status": {
            "phase": "Resolved",
            "declaredAt": "2026-11-20T14:00:02Z",
            "acknowledgedAt": "2026-11-20T14:01:15Z",
            "acknowledgement": {"by": "carol"},
            "timeToAcknowledgeSeconds": 73.0,
            "mitigatedAt": "2026-11-20T14:09:30Z",
            "resolvedAt": "2026-11-20T14:30:00Z",
            "timeToMitigateSeconds": 660.0,
            "timeToResolveSeconds": 1890.0,
            "suspect": {
                "kind": "Deployment",
                "name": "api",
                "replicaSet": "api-84b6cf9d7",
                "revision": 31,
                "previousRevision": 30,
                "rolledOutAt": "2026-11-20T13:58:00Z",
                "change": change,
            },
            "mitigation": {
                "action": "RolloutUndo",
                "kind": "Deployment",
                "name": "api",
                "fromRevision": 31,
                "toRevision": 30,
                "result": "Succeeded",
                "message": "server-side dry run accepted; the Deployment was not changed",
                "startedAt": "2026-11-20T14:08:40Z",
                "patchedAt": "2026-11-20T14:08:41Z",
                "finishedAt": "2026-11-20T14:09:30Z",
                "approvedBy": "carol",
            },
            "checklist": [
                tick(
                    "2026-11-20T14:00:02Z",
                    "commanderDeclared",
                    "Incident Commander declared",
                    "carol",
                ),
                tick(
                    "2026-11-20T14:01:15Z",
                    "pageAcknowledged",
                    "Page acknowledged by the Incident Commander",
                    "carol",
                ),
                tick("2026-11-20T14:02:00Z", "bridgeOpened", "Bridge opened", "dave"),
                tick("2026-11-20T14:00:02Z", "severityAssigned", "Severity assigned"),
                tick("2026-11-20T14:04:00Z", "statusPageUpdated", "Status page updated", "bob"),
                tick(
                    "2026-11-20T14:00:03Z",
                    "recentDeployIdentified",
                    "Most recent deploy identified",
                ),
                tick(
                    "2026-11-20T14:00:03Z",
                    "rollbackConsidered",
                    "Rollback considered before any code change",
                ),
                tick(
                    "2026-11-20T14:16:00Z",
                    "customerSupportBriefed",
                    "Customer support told what to say",
                    "bob",
                    late=True,
                ),
            ],
            "comms": {"lastUpdateAt": "2026-11-20T14:10:05Z", "delivered": 2, "overdue": False},
            # Bounded in status: the oldest entries were archived, and the two overlap.
            "timeline": [
                early[-1],
                event("2026-11-20T14:04:00Z", "ChecklistTicked", "Status page updated", "bob"),
                event(
                    "2026-11-20T14:08:40Z",
                    "Approved",
                    "carol approved the undo of revision 31",
                    "carol",
                ),
                event(
                    "2026-11-20T14:08:40Z",
                    "MitigationStarted",
                    "undo of deployment/api: revision 31 -> 30 (drill: server-side dry run)",
                ),
                event(
                    "2026-11-20T14:09:30Z",
                    "Mitigated",
                    "dry run accepted; time to mitigate 660s",
                ),
                event(
                    "2026-11-20T14:10:07Z",
                    "CommsUpdate",
                    "update #2: [DRILL] Rolled back; errors gone.",
                    "bob",
                ),
                event(
                    "2026-11-20T14:15:02Z",
                    "ChecklistItemLate",
                    "checklist item still open after the first minutes: Customer support told "
                    "what to say",
                ),
                event(
                    "2026-11-20T14:16:00Z",
                    "ChecklistTicked",
                    "Customer support told what to say",
                    "bob",
                ),
                event(
                    "2026-11-20T14:30:00Z", "Resolved", "resolved; time to resolve 1890s", "carol"
                ),
                event(
                    "2026-11-30T09:00:00Z",
                    "ActionItemOverdue",
                    "action item past due: Fix the runbook link in the api-5xx alert "
                    "(owner dave, due 2026-11-25)",
                ),
            ],
        },
    }
    return incident, early


SCENARIOS: dict[str, Callable[[], tuple[dict[str, Any], list[dict[str, Any]]]]] = {
    "sev1_complete": lambda: (sev1_complete(), []),
    "sev2_unwritten": lambda: (sev2_unwritten(), []),
    "drill_overdue": drill_overdue,
}


# -- golden files ----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendering_matches_the_golden_file(scenario: str) -> None:
    incident, archived = SCENARIOS[scenario]()
    rendered = render(incident, archived_timeline=archived, now=NOW).encode("utf-8")
    golden = GOLDEN / f"postmortem_{scenario}.md"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(rendered)
    assert golden.exists(), f"{golden} is missing: run with TOURNIQUET_UPDATE_GOLDEN=1"
    # Bytes, not text: line endings and the final newline are part of the contract.
    assert rendered == golden.read_bytes(), (
        f"{golden.name} differs; if intended, regenerate with TOURNIQUET_UPDATE_GOLDEN=1 "
        "and review the diff"
    )


def test_golden_scenarios_are_the_three_kinds_asked_for() -> None:
    complete, _ = SCENARIOS["sev1_complete"]()
    unwritten, _ = SCENARIOS["sev2_unwritten"]()
    drill, archived = SCENARIOS["drill_overdue"]()
    assert missing_sections(complete) == []
    assert missing_sections(unwritten) == [
        "summary",
        "impact",
        "rootCauses",
        "wentWell",
        "wentPoorly",
        "actionItems",
    ]
    assert missing_sections(drill) == ["actionItems[2].ticket"]
    assert action_item_counts(drill, NOW) == ActionItemCounts(total=3, open=2, overdue=2)
    assert archived


def reorder(value: Any) -> Any:
    """The same data with every mapping's keys in reverse order."""
    if isinstance(value, Mapping):
        return {key: reorder(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(item) for item in value]
    return value


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendering_ignores_key_order_and_the_local_time_zone(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident, archived = SCENARIOS[scenario]()
    expected = render(incident, archived_timeline=archived, now=NOW)
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    time.tzset()
    try:
        # `now` in another zone is the same instant: the output must not move.
        chatham = NOW.astimezone(timezone(timedelta(hours=13, minutes=45)))
        assert render(reorder(incident), archived_timeline=reorder(archived), now=chatham) == (
            expected
        )
    finally:
        monkeypatch.undo()
        time.tzset()


# -- the document's parts --------------------------------------------------------------


def test_complete_postmortem_header_and_sections() -> None:
    text = render(sev1_complete(), now=NOW)
    assert text.startswith("# Postmortem: Elevated 5xx on api\n")
    assert "DRILL" not in text
    assert "| Status | Complete |" in text
    assert "**TODO**" not in text
    assert "| Incident Commander | alice |" in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Detection and response",
        "## What changed",
        "## Contributing factors",
        "## What went well",
        "## What went poorly",
        "## Action items",
    ]
    assert text.endswith(".\n") and not text.endswith("\n\n")


def test_impact_window_is_humanized_from_started_at() -> None:
    text = render(sev1_complete(), now=NOW)
    assert "- Impact started: 2026-11-27 10:00:00 UTC (spec.startedAt)" in text
    assert "- Mitigated: 2026-11-27 10:25:12 UTC, 25m 12s after it started" in text
    assert "- Resolved: 2026-11-27 11:05:03 UTC, 1h 5m 3s after it started" in text


def test_impact_window_without_status_figures_is_computed_from_creation() -> None:
    incident = sev1_complete()
    del incident["spec"]["startedAt"]
    for key in ("timeToMitigateSeconds", "timeToResolveSeconds"):
        del incident["status"][key]
    text = render(incident, now=NOW)
    assert "Impact started: 2026-11-27 10:03:10 UTC (the Incident's creation" in text
    assert "- Resolved: 2026-11-27 11:05:03 UTC, 1h 1m 53s after it started" in text


def test_an_unresolved_incident_says_how_long_it_has_been_going_on() -> None:
    incident = sev1_complete()
    for key in ("resolvedAt", "mitigatedAt", "timeToMitigateSeconds", "timeToResolveSeconds"):
        del incident["status"][key]
    text = render(incident, now=datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC))
    assert "- Mitigated: not recorded" in text
    assert "- Resolved: not yet (2h 0m 0s after it started, at generation time)" in text
    assert "| Time to resolve (MTTR) | not recorded |" in text


def test_drill_banner_and_dry_run_note() -> None:
    incident, archived = drill_overdue()
    text = render(incident, archived_timeline=archived, now=NOW)
    lines = text.splitlines()
    assert lines[0] == "# Postmortem: Game day: bad api release on staging"
    assert lines[2].startswith("> **DRILL**")
    assert "- Drill: sent as a server-side dry run; the Deployment was not changed." in text


def test_every_empty_section_is_a_clearly_marked_todo() -> None:
    text = render(sev2_unwritten(), now=NOW)
    for field in ("summary", "impact", "rootCauses", "wentWell", "wentPoorly", "actionItems"):
        assert f"Write it in `spec.postmortem.{field}`." in text
    assert "| Status | Draft |" in text
    assert "`kubectl edit incident checkout-latency -n shop`" in text
    # A pending undo was offered, not performed: its approval command is not the story.
    assert "- Approved by: nobody" in text
    assert "kubectl patch" not in text


def test_mitigation_reads_as_undo_from_revision_n_to_n_minus_1() -> None:
    text = render(sev1_complete(), now=NOW)
    assert "- Action: `RolloutUndo` of Deployment `api` from revision 7 back to revision 6" in text
    assert "- Approved by: alice" in text
    assert "- Result: **Succeeded**" in text
    assert "- Rolled out: 2026-11-27 09:58:41 UTC, 1m 19s before impact started" in text


def test_checklist_has_ticks_times_and_late_items() -> None:
    text = render(sev2_unwritten(), now=NOW)
    assert "- [x] Bridge opened: 2026-11-28 14:24:10 UTC, by erin" in text
    assert (
        "- [ ] Status page updated: not done, **late**: still open at the checklist deadline"
        in text
    )
    assert "- No comms updates were posted through the Incident." in text


def test_checklist_falls_back_to_the_responders_ticks() -> None:
    incident = sev2_unwritten()
    del incident["status"]["checklist"]
    text = render(incident, now=NOW)
    assert "- [x] Bridge opened: by erin" in text


def test_blame_is_flagged_in_contributing_factors() -> None:
    incident, _ = drill_overdue()
    assert "names an error by a person" in render(incident, now=NOW)
    assert "names an error by a person" not in render(sev1_complete(), now=NOW)


# -- the timeline ----------------------------------------------------------------------


def test_timeline_merges_archive_status_and_updates_once_each_in_time_order() -> None:
    incident, archived = drill_overdue()
    rows = merged_timeline(incident, archived)
    times = [row.at for row in rows]
    assert None not in times
    assert times == sorted(t for t in times if t is not None)
    keys = [(row.kind, row.message) for row in rows]
    assert len(keys) == len(set(keys))
    assert len(rows) == len(archived) + len(incident["status"]["timeline"]) - 1
    updates = [row for row in rows if row.kind == "CommsUpdate"]
    # The time the update was posted, not the time the operator forwarded it.
    assert [(row.at, row.actor) for row in updates] == [
        (datetime(2026, 11, 20, 14, 3, 28, tzinfo=UTC), "bob"),
        (datetime(2026, 11, 20, 14, 10, 5, tzinfo=UTC), "bob"),
    ]
    assert updates[0].message.endswith("(status page: investigating)")


def test_updates_not_yet_on_the_timeline_still_appear() -> None:
    incident = sev1_complete()
    incident["status"]["timeline"] = []
    rows = merged_timeline(incident)
    assert [row.message for row in rows] == [
        "update #1: Investigating elevated error rates on the public API. "
        "(status page: investigating)",
        "update #2: Cause identified: a bad release of api. Rolling back. "
        "(status page: identified)",
        "update #3: Error rates are back to normal; we are monitoring. (status page: monitoring)",
        "update #4: Resolved. A postmortem will follow. (status page: resolved)",
    ]
    assert {row.kind for row in rows} == {"CommsUpdate"}


def test_updates_are_numbered_like_the_operator_numbers_them() -> None:
    incident = sev1_complete()
    incident["spec"]["updates"].insert(0, "junk")
    rows = [row for row in merged_timeline(incident) if row.kind == "CommsUpdate"]
    assert len(rows) == 4
    assert rows[0].message.startswith("update #1: Investigating")


def test_duplicates_keep_their_actor_and_untimed_entries_go_last() -> None:
    incident = {
        "status": {
            "timeline": [
                {"at": "2026-11-27T10:00:00.250Z", "kind": "Note", "message": "m", "actor": "a"},
                {"at": "not a time", "kind": "Odd", "message": "kept"},
                {"at": "2026-11-27T09:00:00Z", "kind": "Early", "message": "first"},
            ]
        }
    }
    archived = [{"at": "2026-11-27T10:00:00Z", "kind": "Note", "message": "m"}]
    rows = merged_timeline(incident, archived)
    assert [(row.kind, row.actor) for row in rows] == [
        ("Early", None),
        ("Note", "a"),
        ("Odd", None),
    ]
    assert "| unknown | **Odd**: kept |  |" in render(incident, now=NOW)


# -- escaping --------------------------------------------------------------------------


def test_cells_escape_pipes_backslashes_and_line_breaks() -> None:
    assert cell("a | b") == "a \\| b"
    assert cell("line one\r\nline two\nthree") == "line one<br>line two<br>three"
    assert cell("C:\\temp\\") == "C:\\\\temp\\\\"
    assert cell(None) == "" and cell(7) == "7" and cell(True) == ""


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", line))


def test_a_hostile_message_stays_in_its_row_and_cell() -> None:
    incident = {
        "metadata": {"name": "x", "namespace": "y"},
        "status": {
            "timeline": [
                {
                    "at": "2026-11-27T10:00:00Z",
                    "kind": "Note|x",
                    "message": "a | b\n| --- |\nc\\",
                    "actor": "ev|e\\",
                }
            ]
        },
        "spec": {
            "title": "Broken | title\nwith #",
            "postmortem": {
                "actionItems": [
                    {
                        "title": "t|1\nt2",
                        "owner": "o|w",
                        "due": "2026-12-01",
                        "ticket": "https://x/|",
                    }
                ]
            },
        },
    }
    text = render(incident, now=NOW)
    row = next(line for line in text.splitlines() if line.startswith("| 2026-11-27 10:00:00"))
    assert unescaped_pipes(row) == 4
    item = next(line for line in text.splitlines() if line.startswith("| t\\|1"))
    assert unescaped_pipes(item) == 6
    assert "# Postmortem: Broken | title with \\#\n" in text


def test_headings_and_header_cells_cannot_be_broken_by_odd_names() -> None:
    text = render(
        {"metadata": {"name": "a|b\\", "namespace": "n"}, "spec": {"title": "#"}}, now=NOW
    )
    assert text.startswith("# Postmortem: \\#\n")
    row = next(line for line in text.splitlines() if line.startswith("| Incident |"))
    assert row == "| Incident | n/a\\|b\\\\ |"
    assert unescaped_pipes(row) == 3


def test_code_spans_survive_backticks() -> None:
    incident = sev1_complete()
    incident["status"]["suspect"]["change"] = "cfg: `a` -> ``b``"
    # A fence longer than any run inside, padded because the value ends with a backtick.
    assert "- Change: ``` cfg: `a` -> ``b`` ```\n" in render(incident, now=NOW)


# -- completeness and action items -----------------------------------------------------


def complete_postmortem(**changes: Any) -> dict[str, Any]:
    incident = sev1_complete()
    incident["spec"]["postmortem"].update(changes)
    return incident


def test_missing_sections_lists_each_unwritten_part_in_order() -> None:
    assert missing_sections({}) == [
        "summary",
        "impact",
        "rootCauses",
        "wentWell",
        "wentPoorly",
        "actionItems",
    ]
    blank = complete_postmortem(summary="   ", impact="\n", rootCauses=["", " "], wentWell=[])
    assert missing_sections(blank) == ["summary", "impact", "rootCauses", "wentWell"]


@pytest.mark.parametrize(
    ("item", "missing"),
    [
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "https://t/1"}, []),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "http://t/1"}, []),
        ({"owner": "o", "due": "2026-12-01", "ticket": "https://t/1"}, ["title"]),
        ({"title": "t", "due": "2026-12-01", "ticket": "https://t/1"}, ["owner"]),
        ({"title": "t", "owner": " ", "due": "2026-12-01", "ticket": "https://t/1"}, ["owner"]),
        ({"title": "t", "owner": "o", "ticket": "https://t/1"}, ["due"]),
        ({"title": "t", "owner": "o", "due": "2026-12-1", "ticket": "https://t/1"}, ["due"]),
        ({"title": "t", "owner": "o", "due": "20261201", "ticket": "https://t/1"}, ["due"]),
        ({"title": "t", "owner": "o", "due": "2026-02-30", "ticket": "https://t/1"}, ["due"]),
        ({"title": "t", "owner": "o", "due": "2026-W48-1", "ticket": "https://t/1"}, ["due"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01"}, ["ticket"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "OPS-12"}, ["ticket"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "ftp://t/1"}, ["ticket"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "https://"}, ["ticket"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "https://a b"}, ["ticket"]),
        ({"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "https://[::1"}, ["ticket"]),
        ({}, ["title", "owner", "due", "ticket"]),
    ],
)
def test_each_action_item_needs_title_owner_due_date_and_ticket_link(
    item: dict[str, Any], missing: list[str]
) -> None:
    incident = complete_postmortem(actionItems=[item])
    assert missing_sections(incident) == [f"actionItems[0].{field}" for field in missing]


def test_a_done_item_still_needs_its_fields_and_an_open_item_does_not_block_closing() -> None:
    done = {"title": "t", "done": True}
    assert missing_sections(complete_postmortem(actionItems=[done])) == [
        "actionItems[0].owner",
        "actionItems[0].due",
        "actionItems[0].ticket",
    ]
    assert missing_sections(sev1_complete()) == []  # two of its three items are open


def test_malformed_action_items_are_named_by_index() -> None:
    good = {"title": "t", "owner": "o", "due": "2026-12-01", "ticket": "https://t/1"}
    assert missing_sections(complete_postmortem(actionItems=["junk", good, None])) == [
        "actionItems[0]",
        "actionItems[2]",
    ]
    assert missing_sections(complete_postmortem(actionItems="junk")) == ["actionItems"]


def test_action_item_states_relative_to_now() -> None:
    incident = complete_postmortem(
        actionItems=[
            {"title": "due today", "owner": "o", "due": "2026-12-01"},
            {"title": "due yesterday", "owner": "o", "due": "2026-11-30"},
            {"title": "done late", "due": "2026-11-01", "done": True},
            {"title": "no due date", "due": "soon"},
            {"title": "done is not truthy", "due": "2026-11-30", "done": "true"},
            {
                "title": "  spaced\n title ",
                "owner": 42,
                "ticket": "https://t/1",
                "due": date(2026, 11, 2),
            },
        ]
    )
    assert action_items(incident, NOW) == [
        ActionItemState("due today", "o", date(2026, 12, 1), None, done=False, overdue=False),
        ActionItemState("due yesterday", "o", date(2026, 11, 30), None, done=False, overdue=True),
        ActionItemState("done late", None, date(2026, 11, 1), None, done=True, overdue=False),
        ActionItemState("no due date", None, None, None, done=False, overdue=False),
        ActionItemState(
            "done is not truthy", None, date(2026, 11, 30), None, done=False, overdue=True
        ),
        ActionItemState(
            "spaced title", "42", date(2026, 11, 2), "https://t/1", done=False, overdue=True
        ),
    ]
    assert action_item_counts(incident, NOW) == ActionItemCounts(total=6, open=5, overdue=3)


def test_overdue_is_decided_by_the_utc_day() -> None:
    incident = complete_postmortem(actionItems=[{"title": "t", "due": "2026-12-01"}])
    # 23:30 in New York on Dec 1 is already Dec 2 in UTC; a naive `now` is UTC.
    new_york = datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert action_items(incident, new_york)[0].overdue is True
    assert action_items(incident, datetime(2026, 12, 1, 23, 59))[0].overdue is False
    assert action_items(incident, datetime(2026, 12, 2, 0, 0))[0].overdue is True


def test_action_item_table_status_column() -> None:
    incident, _ = drill_overdue()
    text = render(incident, now=NOW)
    assert (
        "| Fix the runbook link in the api-5xx alert | dave | 2026-11-25 | "
        "https://tickets.example.com/OPS-1201 | Overdue |"
    ) in text
    assert "| Page the comms lead from SEV1 alerts | bob | 2026-11-27 |" in text
    assert (
        "| Run a game day for the payments team | carol | 2026-11-30 | **TODO** | Overdue |" in text
    )
    assert "2 of 3 open, 2 overdue." in text
    incident["spec"]["postmortem"]["actionItems"][2].update(due="next week", ticket="OPS-9")
    text = render(incident, now=NOW)
    assert (
        "| **TODO** (next week is not YYYY-MM-DD) "
        "| **TODO** (OPS-9 is not an http(s) link) | Open |"
    ) in text


# -- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.9, "0s"),
        (59, "59s"),
        (60, "1m 0s"),
        (1512, "25m 12s"),
        (3600, "1h 0m 0s"),
        (3903, "1h 5m 3s"),
        (3903.99, "1h 5m 3s"),
        (90061, "1d 1h 1m 1s"),
        (-5, "0s"),
        (float("nan"), "0s"),
        (float("inf"), "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# -- the ConfigMap ---------------------------------------------------------------------


def test_configmap_body_is_owned_by_the_incident() -> None:
    incident = sev1_complete()
    body = configmap(incident, "# md\n")
    assert body == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "api-errors-postmortem",
            "namespace": "production",
            "labels": {
                "app.kubernetes.io/part-of": "tourniquet",
                "app.kubernetes.io/component": "postmortem",
                "tourniquet.dev/incident": "api-errors",
            },
            "ownerReferences": [
                {
                    "apiVersion": "tourniquet.dev/v1alpha1",
                    "kind": "Incident",
                    "name": "api-errors",
                    "uid": "6f1c2a3e-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "data": {"postmortem.md": "# md\n"},
    }


def test_configmap_without_a_uid_has_no_owner_reference_rather_than_an_invalid_one() -> None:
    body = configmap({"metadata": {"name": "x"}}, "")
    assert "ownerReferences" not in body["metadata"]
    assert "namespace" not in body["metadata"]
    assert configmap(None, "")["metadata"]["name"] == configmap_name("")  # type: ignore[arg-type]


def test_configmap_name_is_the_incident_name_with_a_suffix() -> None:
    assert configmap_name("api-errors") == "api-errors-postmortem"
    assert configmap_name("a.b-c") == "a.b-c-postmortem"


@pytest.mark.parametrize(
    "name",
    [
        "a" * 253,
        "a" * 242,
        "a" * 243,
        "a" * 241 + "." + "b" * 11,
        "x" * 240 + "-" * 13,
        "",
        "Upper_Case Name",
        "..",
        "-a-",
        "ünïcode",
        "a..b",
        "a.-b",
    ],
)
def test_configmap_name_is_always_a_valid_dns_subdomain(name: str) -> None:
    result = configmap_name(name)
    assert len(result) <= 253
    assert DNS_SUBDOMAIN.fullmatch(result), result
    assert result.endswith("-postmortem")


def test_long_names_sharing_a_prefix_do_not_collide() -> None:
    first, second = "a" * 250 + "x", "a" * 250 + "y"
    assert configmap_name(first) != configmap_name(second)
    assert configmap_name(first) == configmap_name(first)
    assert configmap_name("A") != configmap_name("a")


def test_long_incident_names_still_make_valid_label_values() -> None:
    name = "a" * 200 + "." + "b" * 52
    label = configmap({"metadata": {"name": name, "uid": "u"}}, "")["metadata"]["labels"][
        "tourniquet.dev/incident"
    ]
    assert len(label) <= 63 and LABEL_VALUE.fullmatch(label)
    assert (
        configmap({"metadata": {"name": name, "uid": "u"}}, "")["metadata"]["ownerReferences"][0][
            "name"
        ]
        == name
    )


# -- malformed input never raises ------------------------------------------------------

GARBAGE: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    float("nan"),
    "",
    "x",
    [],
    {},
    ["x"],
    {"x": 1},
    {1: "x", "y": None},  # keys of mixed types cannot even be sorted
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, Mapping):
        for key in value:
            yield from paths(value[key], (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    result = copy.copy(value)
    result[path[0]] = replaced(value[path[0]], path[1:], new)
    return result


def exercise(incident: Any, archived: Any = ()) -> None:
    text = render(incident, archived_timeline=archived, now=NOW)
    assert text.startswith("# Postmortem: ") and text.endswith("\n")
    missing = missing_sections(incident)
    assert ("| Status | Complete |" in text) == (not missing)
    action_item_counts(incident, NOW)
    body = configmap(incident, text)
    assert DNS_SUBDOMAIN.fullmatch(body["metadata"]["name"])


def test_wrong_types_anywhere_never_raise() -> None:
    # Every field and subtree of two full incidents, replaced by every kind of garbage.
    for build in (sev1_complete, lambda: drill_overdue()[0]):
        incident = build()
        for path in paths(incident):
            for garbage in GARBAGE:
                exercise(replaced(incident, path, garbage))


@pytest.mark.parametrize("incident", [None, [], "incident", 42, {"spec": None}, {"status": []}])
def test_not_even_a_mapping_renders_a_draft(incident: Any) -> None:
    exercise(incident, archived=None)
    exercise(incident, archived="not a list")
    assert missing_sections(incident) == [
        "summary",
        "impact",
        "rootCauses",
        "wentWell",
        "wentPoorly",
        "actionItems",
    ]
    assert action_items(incident, NOW) == []


def test_a_suspended_gitops_owner_is_a_required_action_item_until_resumed() -> None:
    incident = sev1_complete()
    assert missing_sections(incident) == []
    incident["status"]["mitigation"]["gitops"] = {
        "tool": "Flux",
        "kind": "Kustomization",
        "name": "apps",
        "namespace": "flux-system",
        "revision": "main@sha1:0badc0ffee",
        "suspendedAt": "2026-11-27T10:20:00Z",
        "resumeCommand": "kubectl incident resume api-errors -n production",
    }
    assert missing_sections(incident) == ["gitopsResume"]
    text = render(incident, now=NOW)
    assert (
        "- **Required:** revert the change in git (`git revert 0badc0ffee`, pushed), then "
        "resume Flux Kustomization flux-system/apps: "
        "`kubectl incident resume api-errors -n production`."
    ) in text
    incident["status"]["mitigation"]["gitops"]["resumedAt"] = "2026-11-27T11:00:00Z"
    assert missing_sections(incident) == []
    assert "**Required:**" not in render(incident, now=NOW)
