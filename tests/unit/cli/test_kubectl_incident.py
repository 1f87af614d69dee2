"""`kubectl incident`: the patches each verb writes (the README's, byte for byte), the
command line it accepts, kubectl's selector syntax, and the watch stream."""

from __future__ import annotations

import json

import pytest

from tourniquet.cli.kubectl_incident import patches
from tourniquet.cli.kubectl_incident.invocation import parse
from tourniquet.cli.kubectl_incident.selector import SelectorError, parse_selector
from tourniquet.cli.kubectl_incident.stream import JsonStream
from tourniquet.core.lifecycle import approval_patch

SUSPECT = {"kind": "Deployment", "name": "api", "revision": 7, "previousRevision": 6}


# -- the patches ----------------------------------------------------------------------------


def test_approve_writes_the_documented_patch_with_the_suspect_filled_in() -> None:
    patch = patches.approve("alice", SUSPECT)
    assert patch.body == approval_patch("alice", "Deployment", "api", 7)
    assert patch.command("api-errors", "production") == (
        "kubectl patch incident api-errors -n production --subresource=status --type=merge "
        """-p '{"status":{"approval":{"approvedBy":"alice","kind":"Deployment","name":"api","""
        """"revision":7}}}'"""
    )


@pytest.mark.parametrize("suspect", [None, {}, {"name": "api"}, {"revision": 2}])
def test_there_is_nothing_to_approve_without_a_suspect(suspect: dict[str, object]) -> None:
    with pytest.raises(patches.CannotWrite, match="no suspect"):
        patches.approve("alice", suspect)


def test_each_writing_verb_sends_the_readme_patch() -> None:
    cases = [
        (patches.acknowledge("alice"), {"status": {"acknowledgement": {"by": "alice"}}}, True),
        (patches.resolve(), {"spec": {"resolved": True}}, False),
        (patches.handover("bob"), {"spec": {"roles": {"commander": "bob"}}}, False),
        (
            patches.tick("bob", "bridgeOpened"),
            {"spec": {"checklist": {"bridgeOpened": "bob"}}},
            False,
        ),
    ]
    for patch, body, on_status in cases:
        assert (patch.body, patch.type, patch.status) == (body, "merge", on_status)
    update = patches.update("bob", "We are investigating")
    assert update.type == "json"
    assert update.body == [
        {
            "op": "add",
            "path": "/spec/updates/-",
            "value": {"author": "bob", "message": "We are investigating"},
        }
    ]
    assert update.kubectl_args("api-errors", None) == [
        "patch",
        "incident",
        "api-errors",
        "--type=json",
        "-p",
        json.dumps(update.body, separators=(",", ":")),
    ]


def test_an_update_may_say_what_the_status_page_shows() -> None:
    value = patches.update("bob", "Fixed", "Resolved").body[0]["value"]
    assert value == {"author": "bob", "message": "Fixed", "statusPage": "Resolved"}
    with pytest.raises(ValueError):
        patches.update("bob", "Fixed", "AllGood")


@pytest.mark.parametrize(
    ("typed", "item"),
    [
        ("bridgeOpened", "bridgeOpened"),
        ("bridge-opened", "bridgeOpened"),
        ("status_page_updated", "statusPageUpdated"),
        ("CustomerSupportBriefed", "customerSupportBriefed"),
    ],
)
def test_checklist_items_in_any_spelling(typed: str, item: str) -> None:
    assert patches.tick_item(typed) == item


def test_an_unknown_checklist_item_names_the_ones_people_tick() -> None:
    with pytest.raises(patches.CannotWrite, match="bridgeOpened, statusPageUpdated"):
        patches.tick_item("coffee")


def test_declare_writes_only_what_was_asked_for() -> None:
    manifest = patches.incident(
        patches.Declaration(
            name="api-errors",
            title="Elevated 5xx on api",
            severity="SEV1",
            commander="alice",
            namespace="production",
            comms="bob",
            scope=parse_selector("app=api"),
        )
    )
    assert manifest == {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "api-errors", "namespace": "production"},
        "spec": {
            "title": "Elevated 5xx on api",
            "severity": "SEV1",
            "roles": {"commander": "alice", "comms": "bob"},
            "scope": {"selector": {"matchLabels": {"app": "api"}}},
        },
    }


def test_declare_keeps_the_start_time_as_typed_and_rejects_what_the_api_would() -> None:
    d = patches.Declaration(
        "x", "t", "SEV3", "alice", started_at="2026-11-27T10:00:00Z", drill=True
    )
    spec = patches.incident(d)["spec"]
    assert (spec["startedAt"], spec["drill"]) == ("2026-11-27T10:00:00Z", True)
    with pytest.raises(ValueError):
        patches.incident(patches.Declaration("x", "t", "SEV9", "alice"))
    with pytest.raises(ValueError):
        patches.incident(patches.Declaration("x", "", "SEV1", "alice"))


# -- the command line -----------------------------------------------------------------------


def test_kubectl_flags_pass_through_from_anywhere_on_the_line() -> None:
    inv = parse(
        [
            "-n",
            "prod",
            "approve",
            "api-errors",
            "--as=alice",
            "--as-group",
            "g1",
            "--as-group=g2",
            "--context",
            "c1",
            "--kubeconfig=/k",
            "--yes",
        ]
    )
    assert (inv.verb, inv.incident, inv.option("yes")) == ("approve", "api-errors", True)
    assert inv.kubectl.namespace == "prod"
    assert inv.kubectl.args == (
        "--namespace=prod",
        "--context=c1",
        "--kubeconfig=/k",
        "--as=alice",
        "--as-group=g1",
        "--as-group=g2",
    )


def test_the_name_is_optional_one_word_more_is_the_name() -> None:
    assert (parse(["update", "We are on it"]).incident, parse(["update", "x"]).words) == (
        None,
        ("x",),
    )
    inv = parse(["update", "api-errors", "We are on it", "-n", "prod"])
    assert (inv.incident, inv.words) == ("api-errors", ("We are on it",))
    assert parse(["handover", "bob"]).words == ("bob",)
    assert parse(["tick", "api-errors", "bridgeOpened"]).incident == "api-errors"
    assert parse(["status", "-w"]).option("watch") is True


def test_a_bad_command_line_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["update", "a", "b", "c"],
        ["fly"],
        ["declare"],
        ["declare", "x", "--severity", "SEV9"],
    ):
        with pytest.raises(SystemExit) as exit_:
            parse(argv)
        assert exit_.value.code == 2
    assert "quote a message with spaces" in capsys.readouterr().err


# -- selectors and the watch stream -----------------------------------------------------------


def test_selectors_as_kubectl_writes_them() -> None:
    assert parse_selector("app=api,tier==web") == {"matchLabels": {"app": "api", "tier": "web"}}
    assert parse_selector("env in (prod, prod-eu),!canary,track,app!=db") == {
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "prod-eu"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "track", "operator": "Exists"},
            {"key": "app", "operator": "NotIn", "values": ["db"]},
        ]
    }
    for bad in ("app=api,", "a b c", "env in ()"):
        with pytest.raises((SelectorError, ValueError)):
            parse_selector(bad)


def test_the_watch_stream_splits_into_objects_as_text_arrives() -> None:
    stream = JsonStream()
    text = json.dumps({"a": 1}, indent=4) + "\n" + json.dumps({"b": [1, 2]}, indent=4) + "\n"
    cut = len(text) - 7
    assert stream.feed(text[:cut]) == [{"a": 1}]
    assert stream.feed(text[cut:]) == [{"b": [1, 2]}]
    assert stream.feed("\n") == []
