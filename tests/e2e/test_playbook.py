"""The rest of the playbook on the real control plane: the severity policy, roles and
acknowledgement, comms cadence with real webhooks, the first-15-minutes checklist, the
postmortem and drills. Short policy durations stand in for minutes of waiting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from devkit.incidents import (
    BAD,
    approve,
    condition,
    declare,
    get_incident,
    good_then_bad,
    mitigation_is,
    patch_incident,
    resolve,
    status,
    undo_events,
    wait_event,
    wait_incident,
)
from devkit.kubectl import Cluster, KubectlError
from devkit.manifests import operator_config_read
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.workloads import image_of, revisions

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
from tourniquet.core.record import parse_record

StartOperator = Callable[..., OperatorProcess]
POLICY = "tourniquet-severity-policy"


def policy_configmap(cluster: Cluster, namespace: str, policy: dict[str, Any]) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": POLICY},
            "data": {"policy.yaml": yaml.safe_dump(policy)},
        },
        namespace,
    )
    for grant in operator_config_read(
        namespace, "configmaps", POLICY, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
    ):
        cluster.apply(grant)


def fast_policy(**overrides: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "severities": {
            "SEV1": {"respondWithin": "2s", "commsEvery": "1h", "postmortemWithin": "1h"},
            "SEV2": {"respondWithin": "2s", "commsEvery": "1h", "postmortemWithin": "1h"},
        },
        "firstUpdateWithin": "1s",
        "checklistWithin": "2s",
    }
    policy.update(overrides)
    return policy


def run_with_policy(
    start_operator: StartOperator, cluster: Cluster, namespace: str, policy: dict[str, Any]
) -> OperatorProcess:
    policy_configmap(cluster, namespace, policy)
    return start_operator(
        "--policy-configmap", f"{namespace}/{POLICY}", "--policy-refresh-seconds", "0.5"
    )


def timeline_kinds(incident: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in status(incident).get("timeline") or []]


# --- the severity policy ------------------------------------------------------------


def test_policy_sets_deadlines_and_a_change_applies_without_restart(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    op = run_with_policy(start_operator, cluster, namespace, fast_policy())
    declare(cluster, namespace, severity="SEV2")
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "Acknowledged").get("reason") == "AcknowledgementOverdue",
        "acknowledgement overdue",
    )
    s = status(incident)
    assert s["policy"]["respondWithinSeconds"] == 2
    assert s["policy"]["statusPage"] == "yellow"
    assert s["deadlines"]["acknowledgeBy"] > s["declaredAt"]
    wait_event(cluster, namespace, "AcknowledgementOverdue", warning=True)
    op.wait_metric("tourniquet_acknowledgements_overdue_total", 1, severity="SEV2")
    # The platform team relaxes SEV2: the running operator follows.
    policy_configmap(
        cluster,
        namespace,
        fast_policy(
            severities={
                "SEV2": {"respondWithin": "30m", "commsEvery": "2h", "statusPage": "yellow"}
            }
        ),
    )
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: (status(i).get("policy") or {}).get("respondWithinSeconds") == 1800,
        "the new policy applied",
    )
    assert status(incident)["policy"]["commsEverySeconds"] == 7200
    assert op.running


def test_an_invalid_policy_is_reported_and_ignored(
    cluster: Cluster, namespace: str, start_operator: StartOperator
) -> None:
    op = run_with_policy(start_operator, cluster, namespace, fast_policy())
    policy_configmap(cluster, namespace, {"severities": {"SEV2": {"respondWithin": "soon"}}})
    wait_event(cluster, namespace, "PolicyInvalid", name=POLICY, warning=True)
    declare(cluster, namespace, severity="SEV2")
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("policy")), "policy applied"
    )
    # The last good policy stays in force.
    assert status(incident)["policy"]["respondWithinSeconds"] == 2
    assert op.running


# --- roles and acknowledgement ----------------------------------------------------------


def test_roles_are_checked_and_handovers_recorded(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    op = start_operator()
    cluster.apply(
        {
            "apiVersion": "tourniquet.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": "api-errors"},
            "spec": {
                "title": "5xx",
                "severity": "SEV2",
                "roles": {"commander": "alice", "operations": "alice"},
            },
        },
        namespace,
    )
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "RolesValid").get("reason") == "CommanderIsOperationsLead",
        "the IC-at-the-terminal warning",
    )
    assert condition(incident, "RolesValid")["status"] == "False"
    wait_event(cluster, namespace, "CommanderIsOperationsLead", warning=True)

    declare(cluster, namespace, "small", severity="SEV3", commander=None)
    wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "RolesValid").get("reason") == "NoCommander",
        "no-commander warning",
        name="small",
    )

    # Only the commander acknowledges, in their own name.
    denied = patch_incident(
        cluster,
        namespace,
        '{"status":{"acknowledgement":{"by":"mallory"}}}',
        as_user="mallory",
        status=True,
        check=False,
    )
    assert "acknowledgement rejected" in denied.stderr
    patch_incident(
        cluster,
        namespace,
        '{"status":{"acknowledgement":{"by":"alice"}}}',
        as_user="alice",
        status=True,
    )
    incident = wait_incident(
        cluster, namespace, lambda i: bool(status(i).get("acknowledgedAt")), "acknowledged"
    )
    assert status(incident)["timeToAcknowledgeSeconds"] >= 0
    assert condition(incident, "Acknowledged")["status"] == "True"
    op.wait_metric("tourniquet_incident_time_to_acknowledge_seconds_count", 1, severity="SEV2")
    # Handover: carol takes operations, bob takes command.
    patch_incident(
        cluster,
        namespace,
        '{"spec":{"roles":{"commander":"bob","operations":"carol"}}}',
        as_user="alice",
    )
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "RolesValid").get("status") == "True",
        "valid roles after the handover",
    )
    handovers = [e for e in status(incident)["timeline"] if e["kind"] == "RoleHandover"]
    assert {e["message"] for e in handovers} == {
        "commander: alice -> bob",
        "operations: alice -> carol",
    }


# --- comms cadence with real webhooks --------------------------------------------------------


class Receiver:
    """A real HTTP server standing in for Slack and a status-page bridge."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def add_update(
    cluster: Cluster, namespace: str, author: str, message: str, as_user: str, check: bool = True
) -> Any:
    patch = [
        {
            "op": "add",
            "path": "/spec/updates/-",
            "value": {"author": author, "message": message, "statusPage": "Investigating"},
        }
    ]
    return patch_incident(
        cluster, namespace, json.dumps(patch), as_user=as_user, check=check, kind="json"
    )


def test_comms_updates_are_validated_forwarded_and_kept_on_cadence(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    receiver: Receiver,
) -> None:
    policy = fast_policy(
        notifications=[
            {"name": "incidents-channel", "url": f"{receiver.url}/slack", "format": "slack"},
            {
                "name": "status-bridge",
                "url": f"{receiver.url}/json",
                "format": "json",
                "severities": ["SEV1"],
            },
        ]
    )
    op = run_with_policy(start_operator, cluster, namespace, policy)
    declare(cluster, namespace, updates=[])
    # Nobody said anything within the first-update window: overdue.
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "CommsOnTrack").get("reason") == "CommsOverdue",
        "first update overdue",
    )
    assert status(incident)["comms"]["overdue"] is True
    wait_event(cluster, namespace, "CommsOverdue", warning=True)
    op.wait_metric("tourniquet_incidents_comms_overdue", 1, severity="SEV1")
    # Someone else's name, an empty message: the API server says no.
    forged = add_update(cluster, namespace, "bob", "all good", as_user="mallory", check=False)
    assert 'comms update rejected: user "mallory"' in forged.stderr
    empty = add_update(cluster, namespace, "bob", "", as_user="bob", check=False)
    assert "spec.updates[0].message" in empty.stderr

    add_update(cluster, namespace, "bob", "We are investigating elevated 5xx on api", as_user="bob")
    wait_for(
        lambda: len(receiver.at("/slack")) == 1 and len(receiver.at("/json")) == 1,
        what="both webhooks called",
    )
    slack = receiver.at("/slack")[0]
    assert "We are investigating elevated 5xx on api" in json.dumps(slack)
    assert slack["attachments"][0]["color"] == "#d00000"  # SEV1: status page red
    generic = receiver.at("/json")[0]
    assert generic["update"]["author"] == "bob"
    assert generic["incident"]["severity"] == "SEV1"
    assert generic["statusPageColour"] == "red"

    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "CommsOnTrack").get("status") == "True",
        "comms back on track",
    )
    comms = status(incident)["comms"]
    assert comms["delivered"] == 1 and comms["overdue"] is False
    assert comms["nextUpdateDue"] > comms["lastUpdateAt"]  # lastUpdateAt + 1h cadence
    assert "CommsUpdate" in timeline_kinds(incident)

    # History is append-only: an earlier update cannot be rewritten.
    rewrite = patch_incident(
        cluster,
        namespace,
        json.dumps([{"op": "replace", "path": "/spec/updates/0/message", "value": "nothing"}]),
        as_user="bob",
        kind="json",
        check=False,
    )
    assert "append-only" in rewrite.stderr
    assert (
        op.metric("tourniquet_notifications_total", target="incidents-channel", result="delivered")
        == 1
    )


# --- the first 15 minutes ----------------------------------------------------------------


def test_checklist_ticks_itself_where_it_can_and_flags_late_items(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = run_with_policy(start_operator, cluster, namespace, fast_policy())
    declare(cluster, namespace)

    def item(incident: dict[str, Any], name: str) -> dict[str, Any]:
        return next(i for i in status(incident).get("checklist") or [] if i["item"] == name)

    incident = wait_incident(
        cluster,
        namespace,
        lambda i: bool(status(i).get("checklist")) and item(i, "rollbackConsidered")["done"],
        "auto ticks",
    )
    for auto in (
        "commanderDeclared",
        "severityAssigned",
        "recentDeployIdentified",
        "rollbackConsidered",
    ):
        assert item(incident, auto)["done"], auto
    assert not item(incident, "bridgeOpened")["done"]

    forged = patch_incident(
        cluster,
        namespace,
        '{"spec":{"checklist":{"bridgeOpened":"bob"}}}',
        as_user="mallory",
        check=False,
    )
    assert "checklist tick rejected" in forged.stderr
    patch_incident(
        cluster, namespace, '{"spec":{"checklist":{"bridgeOpened":"bob"}}}', as_user="bob"
    )

    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "ChecklistComplete").get("reason") == "ChecklistItemsLate",
        "late checklist items",
    )
    assert item(incident, "bridgeOpened")["done"] and item(incident, "bridgeOpened")["by"] == "bob"
    assert item(incident, "customerSupportBriefed").get("late") is True
    late = wait_event(cluster, namespace, "ChecklistItemLate", warning=True)
    assert any("Customer support" in m for m in late)
    op.wait_metric("tourniquet_checklist_items_late_total", 1, item="statusPageUpdated")


# --- postmortem ------------------------------------------------------------------------------


def test_postmortem_is_drafted_completed_and_closes_the_incident(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    policy = fast_policy(severities={"SEV1": {"postmortemWithin": "2s"}})
    op = run_with_policy(start_operator, cluster, namespace, policy)
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2)
    wait_incident(cluster, namespace, mitigation_is("Succeeded"), "mitigated", timeout=90)
    resolve(cluster, namespace)

    incident = wait_incident(
        cluster,
        namespace,
        lambda i: condition(i, "PostmortemComplete").get("reason") == "PostmortemOverdue",
        "postmortem overdue",
    )
    cm_name = status(incident)["postmortem"]["configMap"]
    assert cm_name == "api-errors-postmortem"
    markdown = cluster.kubectl(
        "get", "configmap", cm_name, "-n", namespace, "-o", r"jsonpath={.data.postmortem\.md}"
    ).stdout
    assert markdown.startswith("# Postmortem: Elevated 5xx on api")
    for section in ("## Impact", "## Timeline", "## Action items"):
        assert section in markdown
    assert f"api: {'registry.example/api:1.4.2'} -> {BAD}" in markdown or "revision 2" in markdown
    owner = cluster.get("configmap", cm_name, namespace)["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Incident" and owner["uid"] == incident["metadata"]["uid"]
    assert "summary" in status(incident)["postmortem"]["missing"]
    op.wait_metric("tourniquet_postmortems_overdue", 1, severity="SEV1")
    # An action item without a ticket is not an action item.
    bad = {
        "spec": {
            "postmortem": {
                "actionItems": [{"title": "alert on 5xx", "owner": "carol", "due": "2027-01-15"}]
            }
        }
    }
    result = patch_incident(cluster, namespace, json.dumps(bad), check=False)
    assert "spec.postmortem.actionItems[0].ticket: Required value" in result.stderr

    complete = {
        "spec": {
            "postmortem": {
                "summary": "A bad api release returned 5xx for 12 minutes.",
                "impact": "About 4% of api requests failed between 10:02 and 10:14 UTC.",
                "rootCauses": [
                    "The release had no canary stage",
                    "Readiness checks missed the bug",
                ],
                "wentWell": ["The suspect rollout was found in seconds"],
                "wentPoorly": ["The first status page update came late"],
                "actionItems": [
                    {
                        "title": "Add a canary stage",
                        "owner": "carol",
                        "due": "2020-01-15",
                        "ticket": "https://tickets.example/OPS-1",
                    },
                    {
                        "title": "Readiness checks the error rate",
                        "owner": "dave",
                        "due": "2099-01-15",
                        "ticket": "https://tickets.example/OPS-2",
                        "done": True,
                    },
                ],
            }
        }
    }
    patch_incident(cluster, namespace, json.dumps(complete))
    incident = wait_incident(
        cluster, namespace, lambda i: status(i).get("phase") == "Closed", "Closed"
    )
    pm = status(incident)["postmortem"]
    assert pm["complete"] is True and "missing" not in pm
    assert pm["actionItemsOpen"] == 1 and pm["actionItemsOverdue"] == 1
    wait_event(cluster, namespace, "ActionItemOverdue", warning=True)
    op.wait_metric("tourniquet_action_items_overdue", 1, severity="SEV1")
    markdown = cluster.kubectl(
        "get", "configmap", cm_name, "-n", namespace, "-o", r"jsonpath={.data.postmortem\.md}"
    ).stdout
    assert "The release had no canary stage" in markdown
    assert "https://tickets.example/OPS-1" in markdown


# --- drills ---------------------------------------------------------------------------------


def test_a_drill_runs_the_playbook_without_touching_the_deployment(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    op = start_operator()
    declare(cluster, namespace, severity="SEV2", drill=True)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    approve(cluster, namespace, 2)
    incident = wait_incident(cluster, namespace, mitigation_is("Succeeded"), "rehearsed")
    assert "dry run" in status(incident)["mitigation"]["message"]
    # The API server admitted the undo, and stored nothing.
    assert image_of(cluster, namespace) == BAD
    assert revisions(cluster, namespace) == [1, 2]
    assert undo_events(cluster, namespace) == 0
    resolve(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: status(i).get("phase") == "Resolved", "resolved")
    assert (
        op.metric(
            "tourniquet_incident_time_to_resolve_seconds_count", severity="SEV2", drill="true"
        )
        == 1
    )
    # Real incidents' series keep exactly the contract's labels; the drill is not in them.
    ttr = "tourniquet_incident_time_to_resolve_seconds_count"
    assert op.metric(ttr, exact=True, severity="SEV2") == 0
    assert op.metric("tourniquet_rollbacks_total", exact=True, result="succeeded") == 0
    op.wait_metric("tourniquet_rollbacks_total", 1, result="succeeded", drill="true")
    with pytest.raises(KubectlError, match="drill cannot change"):
        patch_incident(cluster, namespace, '{"spec":{"drill":false}}')
    assert get_incident(cluster, namespace)["spec"]["drill"] is True


def test_the_postmortem_keeps_the_whole_timeline_status_keeps_a_bounded_one(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    start_operator("--timeline-limit", "12")
    declare(cluster, namespace, severity="SEV3", commander="alice", updates=[])
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("checklist")), "declared")
    updates = [
        {
            "op": "add",
            "path": "/spec/updates/-",
            "value": {"author": "bob", "message": f"still investigating, round {n}"},
        }
        for n in range(1, 21)
    ]
    patch_incident(cluster, namespace, updates, as_user="bob", kind="json")
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: (status(i).get("comms") or {}).get("delivered") == 20,
        "20 updates recorded",
    )
    entries = status(incident)["timeline"]
    assert len(entries) <= 12
    assert entries[0]["kind"] == "Declared"  # the declaration always stays
    assert "Severity assigned" not in [e["message"] for e in entries]
    archive = parse_record(incident["metadata"]["annotations"]["tourniquet.dev/timeline-archive"])
    assert any(e["message"] == "Severity assigned" for e in archive.entries)

    resolve(cluster, namespace)
    incident = wait_incident(
        cluster,
        namespace,
        lambda i: bool((status(i).get("postmortem") or {}).get("digest")),
        "postmortem drafted",
    )
    markdown = cluster.kubectl(
        "get",
        "configmap",
        "api-errors-postmortem",
        "-n",
        namespace,
        "-o",
        r"jsonpath={.data.postmortem\.md}",
    ).stdout
    assert "Severity assigned" in markdown  # archived, yet in the postmortem
    for n in (1, 20):
        assert f"still investigating, round {n}" in markdown
