"""`kubectl incident`: the whole demo flow driven only through the plugin, as the people
who would type it (`--as=`), with the shipped roles, against the real API server, the
admission policies and the operator running as its ServiceAccount. The real kubectl finds
the plugin on PATH; the plugin calls kubectl. Each refusal is the API server's message,
passed on unchanged with a non-zero exit status."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.incidents import get_incident, good_then_bad, status
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.plugin import Plugin
from devkit.polling import wait_for
from devkit.workloads import revisions

StartOperator = Callable[..., OperatorProcess]
Run = subprocess.CompletedProcess[str]


@pytest.fixture
def roles(tourniquet_installed: Cluster, namespace: str) -> Iterator[None]:
    """The shipped roles: alice and bob command (the verb approve), rita and mallory
    respond; mallory may also patch incidents/status. Everyone may read the namespace
    (the built-in view role: the postmortem draft is a ConfigMap)."""
    k = tourniquet_installed
    for binding, role, users in (
        ("commanders", "--clusterrole=tourniquet-commander", ("alice", "bob")),
        ("responders", "--clusterrole=tourniquet-responder", ("rita", "mallory")),
        ("viewers", "--clusterrole=view", ("alice", "bob", "rita", "mallory")),
    ):
        k.kubectl(
            "create", "rolebinding", binding, "-n", namespace, role,
            *(f"--user={u}" for u in users),
        )  # fmt: skip
    k.kubectl(
        "create", "role", "status-patch", "-n", namespace, "--verb=get,patch",
        "--resource=incidents.tourniquet.dev/status",
    )  # fmt: skip
    k.kubectl(
        "create", "rolebinding", "mallory-status", "-n", namespace, "--role=status-patch",
        "--user=mallory",
    )  # fmt: skip
    yield


def ok(result: Run) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}{result.stdout}"
    return result.stdout


def refused(result: Run, *words: str) -> str:
    """Refused, non-zero, in the API server's words."""
    assert result.returncode != 0, f"admitted: {result.stdout}"
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def screen_shows(plugin: Plugin, namespace: str, text: str, who: str = "rita") -> str:
    def probe() -> str | None:
        out = plugin.run("status", "api-errors", "-n", namespace, as_user=who)
        return out.stdout if out.returncode == 0 and text in out.stdout else None

    return wait_for(probe, timeout=60, what=f"kubectl incident status showing {text!r}")


def incident(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return get_incident(cluster, namespace)


def test_the_demo_flow_through_kubectl_incident(
    cluster: Cluster,
    namespace: str,
    roles: None,
    plugin: Plugin,
    start_operator: StartOperator,
) -> None:
    good_then_bad(cluster, namespace)
    start_operator()
    ns = ("-n", namespace)

    # Declare: the commander defaults to whoever types it (kubectl auth whoami, --as).
    refused(
        plugin.run(
            "declare", "api-errors", "--title", "Elevated 5xx on api", "--severity", "SEV1",
            *ns, as_user="victor",
        ),
        'User "victor" cannot create resource "incidents"',
    )  # fmt: skip
    out = ok(
        plugin.run(
            "declare", "api-errors", "--title", "Elevated 5xx on api", "--severity", "SEV1",
            "--scope", "app=api", "--comms", "bob", *ns, as_user="alice",
        )
    )  # fmt: skip
    assert "incident.tourniquet.dev/api-errors created" in out
    spec = incident(cluster, namespace)["spec"]
    assert spec["roles"] == {"commander": "alice", "comms": "bob"}
    assert spec["scope"] == {"selector": {"matchLabels": {"app": "api"}}}
    assert (spec["title"], spec["severity"]) == ("Elevated 5xx on api", "SEV1")

    # One screen: the suspect with its change, and who must do what next.
    screen = screen_shows(plugin, namespace, "approve the undo of Deployment/api revision 2")
    assert "change: api: registry.example/api:1.4.2 -> registry.example/api:1.4.3" in screen
    assert f"$ kubectl incident approve api-errors -n {namespace}" in screen
    assert "acknowledge the page" in screen

    # Refusals, each in the API server's words, and nothing written.
    refused(
        plugin.run("approve", "api-errors", "--yes", *ns, as_user="mallory"),
        'approval rejected: user "mallory" is not the Incident Commander',
        'spec.roles.commander is "alice"',
    )
    refused(
        plugin.run("approve", "api-errors", "--yes", *ns, as_user="bob"),
        'approval rejected: user "bob" is not the Incident Commander',
    )
    refused(
        plugin.run("ack", "api-errors", *ns, as_user="mallory"),
        'acknowledgement rejected: user "mallory" must be the Incident Commander',
    )
    refused(
        plugin.run("handover", "api-errors", "mallory", *ns, as_user="mallory"),
        'handover rejected: user "mallory" is not the Incident Commander',
    )
    refused(
        plugin.run("resolve", "api-errors", *ns, as_user="mallory"),
        'resolve rejected: user "mallory" is not the Incident Commander',
    )
    refused(
        plugin.run("postmortem", "api-errors", *ns, as_user="rita"),
        "no postmortem draft for api-errors yet",
    )
    assert status(incident(cluster, namespace)).get("approval") is None
    assert revisions(cluster, namespace) == [1, 2]

    # The IC takes the page (NAME left out: the one open incident here).
    ok(plugin.run("ack", *ns, as_user="alice"))
    assert status(incident(cluster, namespace))["acknowledgement"] == {"by": "alice"}

    # Comms and the checklist, each in the typer's own name.
    ok(
        plugin.run(
            "update", "api-errors", "We are investigating elevated errors on api",
            "--status-page", "Investigating", *ns, as_user="bob",
        )
    )  # fmt: skip
    assert incident(cluster, namespace)["spec"]["updates"] == [
        {
            "author": "bob",
            "message": "We are investigating elevated errors on api",
            "statusPage": "Investigating",
        }
    ]
    ok(plugin.run("tick", "api-errors", "bridge-opened", *ns, as_user="rita"))
    refused(
        plugin.run("tick", "api-errors", "bridgeOpened", *ns, as_user="mallory"),
        "a checklist tick cannot be changed once made",
    )
    assert incident(cluster, namespace)["spec"]["checklist"] == {"bridgeOpened": "rita"}

    # The IC approves: the plugin shows what will happen and asks; "no" writes nothing.
    declined = plugin.run("approve", "api-errors", *ns, as_user="alice", stdin="n\n")
    refused(declined, "not approved: nothing was written")
    assert status(incident(cluster, namespace)).get("approval") is None
    follower = plugin.follow("status", "api-errors", "-w", *ns, as_user="rita")
    try:
        approved = ok(plugin.run("approve", "api-errors", *ns, as_user="alice", stdin="y\n"))
        patch = {
            "status": {
                "approval": {
                    "approvedBy": "alice",
                    "kind": "Deployment",
                    "name": "api",
                    "revision": 2,
                }
            }
        }
        written = (
            f"kubectl patch incident api-errors -n {namespace} --subresource=status "
            f"--type=merge -p '{json.dumps(patch, separators=(',', ':'))}'"
        )
        assert written in approved
        assert "undoing Deployment/api revision 2" in approved
        assert status(incident(cluster, namespace))["approval"] == patch["status"]["approval"]
        # status -w follows it to the end of the undo.
        wait_for(
            lambda: "Mitigation  Succeeded" in follower.output,
            timeout=90,
            what="status -w showing the undo Succeeded",
            describe=lambda: follower.output[-2000:],
        )
    finally:
        follower.stop()
    assert revisions(cluster, namespace) == [2, 3]
    screen = screen_shows(plugin, namespace, "give the all-clear")

    # Hand over; the old commander can no longer give the all-clear, the new one can.
    ok(plugin.run("handover", "api-errors", "bob", *ns, as_user="alice"))
    assert incident(cluster, namespace)["spec"]["roles"]["commander"] == "bob"
    refused(
        plugin.run("resolve", "api-errors", *ns, as_user="alice"),
        'resolve rejected: user "alice" is not the Incident Commander ("bob")',
    )
    ok(plugin.run("resolve", "api-errors", *ns, as_user="bob"))
    assert incident(cluster, namespace)["spec"]["resolved"] is True

    # The record: the timeline, the postmortem draft, the list.
    wait_for(
        lambda: status(incident(cluster, namespace)).get("phase") == "Resolved",
        what="phase Resolved",
    )
    record = ok(plugin.run("timeline", "api-errors", *ns, as_user="rita"))
    for kind in ("Declared", "SuspectIdentified", "Approved", "RolloutUndone", "Resolved"):
        assert kind in record, record
    assert "We are investigating elevated errors on api" in record

    def drafted() -> str | None:
        out = plugin.run("postmortem", "api-errors", *ns, as_user="rita")
        return out.stdout if out.returncode == 0 else None

    draft = wait_for(drafted, what="the postmortem draft")
    assert draft.startswith("#"), draft[:200]
    assert "api-errors" in draft
    listed = ok(plugin.run("list", *ns, as_user="rita"))
    assert listed.splitlines()[0].split()[:4] == ["NAME", "SEVERITY", "PHASE", "COMMANDER"]
    assert listed.splitlines()[1].split()[:4] == ["api-errors", "SEV1", "Resolved", "bob"]


def test_kubectl_flags_and_completion_reach_the_plugin(
    cluster: Cluster, namespace: str, roles: None, plugin: Plugin, tmp_path: Path
) -> None:
    ns = ("-n", namespace)
    ok(
        plugin.run(
            "declare", "db-latency", "--title", "Slow queries", "--severity", "SEV3", *ns,
            as_user="rita",
        )
    )  # fmt: skip
    # --kubeconfig is passed to every kubectl call the plugin makes.
    lost = {**plugin.env, "KUBECONFIG": str(tmp_path / "missing.kubeconfig")}
    assert plugin.run("list", *ns, as_user="rita", env=lost).returncode != 0
    found = plugin.run("list", *ns, f"--kubeconfig={cluster.kubeconfig}", as_user="rita", env=lost)
    assert "db-latency" in ok(found)
    # --dry-run=server: admission runs (and refuses), nothing is stored.
    refused(
        plugin.run("resolve", "db-latency", "--dry-run=server", *ns, as_user="mallory"),
        'resolve rejected: user "mallory" is not the Incident Commander ("rita")',
    )
    ok(plugin.run("resolve", "db-latency", "--dry-run=server", *ns, as_user="rita"))
    assert not get_incident(cluster, namespace, "db-latency")["spec"].get("resolved")
    # No suspect yet: the plugin declines before writing anything.
    refused(
        plugin.run("approve", "db-latency", "--yes", *ns, as_user="rita"),
        "there is no suspect to approve yet",
    )
    # kubectl's own completion asks the plugin (kubectl >= 1.26).
    assert "approve" in plugin.complete("")
    assert plugin.complete("ap") == ["approve"]
    assert "db-latency" in plugin.complete("approve", *ns, "")
    assert plugin.complete("tick", "db-latency", "bridge") == ["bridgeOpened"]
    assert "bash" in plugin.complete("completion", "")
    script = ok(plugin.run("completion", "bash"))
    assert "complete -F _kubectl_incident kubectl-incident" in script
