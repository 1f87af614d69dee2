from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from factories import T0

from tourniquet.core.severity_policy import (
    DEFAULT_POLICY,
    DEFAULT_SOURCE,
    NotificationTarget,
    PolicyError,
    SeverityPolicy,
    SeverityRule,
    acknowledge_by,
    checklist_due,
    format_duration,
    is_overdue,
    next_update_due,
    parse_duration,
    parse_policy,
    policy_from_configmap,
    postmortem_due,
    status_view,
)

SAMPLE = Path(__file__).resolve().parents[3] / "config/samples/severity-policy-configmap.yaml"
SEV1, SEV2, SEV3 = (DEFAULT_POLICY.rules[s] for s in ("SEV1", "SEV2", "SEV3"))
SOURCE = "ConfigMap tourniquet/tourniquet-severity-policy"


def policy(text: str) -> SeverityPolicy:
    return parse_policy(textwrap.dedent(text), SOURCE)


# --- the playbook as the default ---------------------------------------------------------


def test_the_default_policy_is_the_playbook() -> None:
    assert (SEV1.respond_within, SEV1.comms_every) == (timedelta(minutes=5), timedelta(hours=1))
    assert (SEV1.page, SEV1.status_page, SEV1.channel) == (("on-call", "manager"), "red", None)
    assert (SEV2.respond_within, SEV2.comms_every) == (timedelta(minutes=15), timedelta(hours=2))
    assert (SEV2.page, SEV2.status_page, SEV2.channel) == (("on-call",), "yellow", None)
    # SEV3: next business day, internal channel only: no paging, no status page, no cadence.
    assert (SEV3.respond_within, SEV3.comms_every) == (timedelta(hours=24), None)
    assert (SEV3.page, SEV3.status_page, SEV3.channel) == ((), "none", "internal")
    assert [r.postmortem_within for r in (SEV1, SEV2, SEV3)] == [
        timedelta(hours=72),
        timedelta(hours=120),
        timedelta(hours=240),
    ]
    assert DEFAULT_POLICY.first_update_within == timedelta(minutes=5)
    assert DEFAULT_POLICY.checklist_within == timedelta(minutes=15)
    assert DEFAULT_POLICY.notifications == ()
    assert list(DEFAULT_POLICY.rules) == ["SEV1", "SEV2", "SEV3"]


def test_the_default_policy_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        DEFAULT_POLICY.rules["SEV1"] = SEV3  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SEV1.respond_within = timedelta(0)  # type: ignore[misc]


def _sample_configmap() -> dict[str, object]:
    loaded = yaml.safe_load(SAMPLE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_sample_configmap_is_exactly_the_default_policy() -> None:
    configmap = _sample_configmap()
    assert configmap["kind"] == "ConfigMap"
    assert configmap["metadata"] == {"name": "tourniquet-severity-policy"}
    parsed = policy_from_configmap(configmap)
    assert parsed.source == "ConfigMap tourniquet-severity-policy"
    assert dataclasses.replace(parsed, source=DEFAULT_SOURCE) == DEFAULT_POLICY


def test_the_samples_commented_notifications_are_a_valid_example() -> None:
    text = _sample_configmap()["data"]["policy.yaml"]  # type: ignore[index]
    lines = [line for line in text.splitlines() if line != "notifications: []"]
    uncommented = "\n".join(
        line.removeprefix("# ")
        if line.startswith("# notifications") or line.startswith("#  ")
        else line
        for line in lines
    )
    targets = parse_policy(uncommented, "sample").notifications
    assert [(t.name, t.format, t.severities) for t in targets] == [
        ("incidents-channel", "slack", frozenset({"SEV1", "SEV2"})),
        ("status-bridge", "json", None),
    ]


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("2h45m30.25s", timedelta(hours=2, minutes=45, seconds=30.25)),
        (".5s", timedelta(milliseconds=500)),
        ("1us", timedelta(microseconds=1)),
        ("1µs", timedelta(microseconds=1)),
        ("1μs", timedelta(microseconds=1)),
        ("1500ns", timedelta(microseconds=1)),  # truncated to a microsecond, as Go's is to ns
        ("-5m", timedelta(minutes=-5)),
        ("+5m", timedelta(minutes=5)),
        ("0", timedelta(0)),
        (" 72h ", timedelta(hours=72)),
        (300, timedelta(minutes=5)),
        (0, timedelta(0)),
        (-1, timedelta(seconds=-1)),
    ],
)
def test_parse_duration(value: str | int, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty duration ''; write one such as 5m or 1h30m"),
        ("-", "empty duration '-'; write one such as 5m or 1h30m"),
        (
            "3d",
            "invalid duration '3d': unknown unit 'd' (valid units: ns, us, ms, s, m, h; "
            "for days write hours, e.g. 72h)",
        ),
        (
            "300",
            "invalid duration '300': missing unit after 300 (valid units: ns, us, ms, s, m, h); "
            "a bare number of seconds must be an integer, not a string",
        ),
        (
            "1h 30m",
            "invalid duration '1h 30m': expected a number at ' 30m'; write one such as 5m or 1h30m",
        ),
        ("h", "invalid duration 'h': expected a number at 'h'; write one such as 5m or 1h30m"),
        (".s", "invalid duration '.s': expected a number at '.s'; write one such as 5m or 1h30m"),
        (
            "5m-3s",
            "invalid duration '5m-3s': expected a number at '-3s'; write one such as 5m or 1h30m",
        ),
        (True, "expected a duration such as 5m or 1h30m, not the boolean True"),
        (1.5, "expected a duration such as 5m or 1h30m (or whole seconds), not float 1.5"),
        (None, "expected a duration such as 5m or 1h30m (or whole seconds), not NoneType None"),
        (10**20, "duration of 100000000000000000000 seconds is too large"),
        ("99999999999999h", "duration '99999999999999h' is too large"),
    ],
)
def test_parse_duration_says_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(value)  # type: ignore[arg-type]
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=72), "72h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(microseconds=3), "3us"),
        (timedelta(seconds=2.5), "2.5s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_duration_round_trips(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


# --- parsing policies --------------------------------------------------------------------


def test_an_empty_policy_is_the_default_with_its_source() -> None:
    for text in ("", "# nothing yet\n", "{}"):
        parsed = parse_policy(text, SOURCE)
        assert parsed.source == SOURCE
        assert dataclasses.replace(parsed, source=DEFAULT_SOURCE) == DEFAULT_POLICY


def test_a_partial_policy_keeps_the_defaults_for_everything_left_out() -> None:
    parsed = policy(
        """
        severities:
          SEV1: {respondWithin: 2m, page: [on-call, on-call, cto]}
          SEV3:
        checklistWithin: 10m
        """
    )
    assert parsed.rules["SEV1"] == dataclasses.replace(
        SEV1, respond_within=timedelta(minutes=2), page=("on-call", "cto")
    )
    assert parsed.rules["SEV2"] == SEV2
    assert parsed.rules["SEV3"] == SEV3  # `SEV3:` with nothing under it: all defaults
    assert parsed.checklist_within == timedelta(minutes=10)
    assert parsed.first_update_within == DEFAULT_POLICY.first_update_within


def test_null_means_none_where_none_is_meaningful() -> None:
    parsed = policy(
        """
        severities:
          SEV2: {commsEvery: null}
          SEV3: {commsEvery: 30m, channel: null, statusPage: green, description: Drill}
        """
    )
    assert parsed.rules["SEV2"].comms_every is None
    assert parsed.rules["SEV3"] == dataclasses.replace(
        SEV3,
        comms_every=timedelta(minutes=30),
        channel=None,
        status_page="green",
        description="Drill",
    )


def test_integer_durations_are_seconds() -> None:
    parsed = policy("severities: {SEV1: {respondWithin: 120}}\nfirstUpdateWithin: 60")
    assert parsed.rules["SEV1"].respond_within == timedelta(minutes=2)
    assert parsed.first_update_within == timedelta(minutes=1)


def test_notifications() -> None:
    parsed = policy(
        """
        notifications:
          - name: incidents-channel
            url: https://hooks.slack.com/services/T000/B000/XXXX
            format: slack
            severities: [SEV1, SEV2]
          - {name: pager-bridge, url: "http://bridge.tools.svc:8080/hook"}
        """
    )
    slack, bridge = parsed.notifications
    assert slack == NotificationTarget(
        "incidents-channel",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "slack",
        frozenset({"SEV1", "SEV2"}),
    )
    assert bridge == NotificationTarget("pager-bridge", "http://bridge.tools.svc:8080/hook", "json")
    assert parsed.targets_for("SEV1") == (slack, bridge)
    assert parsed.targets_for("SEV3") == (bridge,)
    # A webhook URL is a credential: it must not leak through a logged repr.
    assert "XXXX" not in repr(parsed)


def test_rule_lookup_names_the_unknown_severity() -> None:
    assert DEFAULT_POLICY.rule("SEV2") is SEV2
    with pytest.raises(KeyError, match="no rule for severity 'SEV4' in built-in default policy"):
        DEFAULT_POLICY.rule("SEV4")


_URL = "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- SEV1", "policy: must be a mapping, not list ['SEV1']"),
        (
            "severity: {SEV1: {}}",
            "severity: unknown key; expected one of: severities, firstUpdateWithin, "
            "checklistWithin, notifications",
        ),
        ("severities: [SEV1]", "severities: must be a mapping, not list ['SEV1']"),
        (
            "severities: {SEV4: {}}",
            "severities.SEV4: unknown severity; expected one of: SEV1, SEV2, SEV3",
        ),
        (
            "severities: {sev1: {}}",
            "severities.sev1: unknown severity; expected one of: SEV1, SEV2, SEV3",
        ),
        ("severities: {SEV1: 5m}", "severities.SEV1: must be a mapping, not '5m'"),
        (
            "severities: {SEV1: {respondWithn: 1m}}",
            "severities.SEV1.respondWithn: unknown key; expected one of: description, "
            "respondWithin, commsEvery, page, statusPage, channel, postmortemWithin",
        ),
        (
            "severities: {SEV1: {respondWithin: 0s}}",
            "severities.SEV1.respondWithin: must be a positive duration, not '0s'",
        ),
        (
            "severities: {SEV1: {respondWithin: 0}}",
            "severities.SEV1.respondWithin: must be a positive duration, not 0",
        ),
        (
            "severities: {SEV2: {commsEvery: -1h}}",
            "severities.SEV2.commsEvery: must be a positive duration, not '-1h'",
        ),
        (
            "severities: {SEV1: {respondWithin: null}}",
            "severities.SEV1.respondWithin: must be a duration such as 5m, not null "
            "(omit it for the default)",
        ),
        (
            "severities: {SEV1: {postmortemWithin: 3d}}",
            "severities.SEV1.postmortemWithin: invalid duration '3d': unknown unit 'd' "
            "(valid units: ns, us, ms, s, m, h; for days write hours, e.g. 72h)",
        ),
        (
            "severities: {SEV3: {postmortemWithin: 8761h}}",
            "severities.SEV3.postmortemWithin: '8761h' is longer than the maximum of 8760h",
        ),
        (
            "severities: {SEV1: {respondWithin: 5.5}}",
            "severities.SEV1.respondWithin: expected a duration such as 5m or 1h30m "
            "(or whole seconds), not float 5.5",
        ),
        (
            "severities: {SEV1: {statusPage: orange}}",
            "severities.SEV1.statusPage: must be one of red, yellow, green, none, not 'orange'",
        ),
        (
            "severities: {SEV1: {statusPage: no}}",
            "severities.SEV1.statusPage: must be one of red, yellow, green, none, "
            "not the boolean false (quote it if a string was meant)",
        ),
        (
            "severities: {SEV1: {page: on-call}}",
            "severities.SEV1.page: must be a list of strings, not 'on-call'",
        ),
        (
            "severities: {SEV1: {page: [on-call, 7]}}",
            "severities.SEV1.page[1]: must be a non-empty string, not int 7",
        ),
        (
            "severities: {SEV1: {description: ''}}",
            "severities.SEV1.description: must be a non-empty string, not ''",
        ),
        (
            "severities: {SEV3: {channel: ['#a']}}",
            "severities.SEV3.channel: must be a non-empty string, not list ['#a']",
        ),
        (
            "firstUpdateWithin: soon",
            "firstUpdateWithin: invalid duration 'soon': expected a number at 'soon'; "
            "write one such as 5m or 1h30m",
        ),
        (
            "checklistWithin: -15m",
            "checklistWithin: must be a positive duration, not '-15m'",
        ),
        (
            "notifications: {name: a}",
            "notifications: must be a list, not dict {'name': 'a'}",
        ),
        (
            "notifications: [null]",
            "notifications[0]: must be a mapping with name, url and format, not null",
        ),
        (
            f"notifications: [{{url: '{_URL}'}}]",
            "notifications[0].name: is required",
        ),
        ("notifications: [{name: a}]", "notifications[0].url: is required"),
        (
            f"notifications: [{{name: a, url: '{_URL}', headers: {{}}}}]",
            "notifications[0].headers: unknown key; expected one of: name, url, format, severities",
        ),
        (
            "notifications: [{name: a, url: 'ftp://hooks.example.com/secret'}]",
            "notifications[0].url: must be an http:// or https:// URL with a host "
            "(notification 'a')",
        ),
        (
            "notifications: [{name: a, url: 'https:///secret'}]",
            "notifications[0].url: must be an http:// or https:// URL with a host "
            "(notification 'a')",
        ),
        (
            "notifications: [{name: a, url: 'http://[::1/secret'}]",
            "notifications[0].url: must be an http:// or https:// URL with a host "
            "(notification 'a')",
        ),
        (
            "notifications: [{name: a, url: 'http://hooks.example.com:99999/secret'}]",
            "notifications[0].url: must be an http:// or https:// URL with a host "
            "(notification 'a')",
        ),
        (
            f"notifications: [{{name: a, url: '{_URL}', format: teams}}]",
            "notifications[0].format: must be one of slack, json, not 'teams'",
        ),
        (
            f"notifications: [{{name: a, url: '{_URL}'}}, {{name: a, url: '{_URL}'}}]",
            "notifications[1].name: 'a' is used by another notification",
        ),
        (
            f"notifications: [{{name: a, url: '{_URL}', severities: []}}]",
            "notifications[0].severities: is empty, so nothing would ever be sent; "
            "omit it to forward every severity",
        ),
        (
            f"notifications: [{{name: a, url: '{_URL}', severities: [SEV1, SEV5]}}]",
            "notifications[0].severities[1]: unknown severity 'SEV5'; "
            "expected one of SEV1, SEV2, SEV3",
        ),
        (
            "severities:\n  SEV1: {}\n  SEV1: {respondWithin: 1m}",
            "line 3, column 3: not valid YAML: duplicate key 'SEV1'",
        ),
        (
            "severities: {SEV1: [",
            "line 1, column 21: not valid YAML: expected the node content, "
            "but found '<stream end>'",
        ),
    ],
)
def test_every_policy_error_names_the_key_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, SOURCE)
    assert str(raised.value) == f"{SOURCE}: {message}"
    assert raised.value.source == SOURCE
    # Never quote a webhook URL back: it is a credential.
    assert "secret" not in str(raised.value)


def test_a_policy_error_is_a_value_error_with_its_parts() -> None:
    error = PolicyError("cm", "checklistWithin", "must be positive")
    assert isinstance(error, ValueError)
    assert (error.key, error.problem, str(error)) == (
        "checklistWithin",
        "must be positive",
        "cm: checklistWithin: must be positive",
    )


def test_policy_from_configmap() -> None:
    configmap = {
        "metadata": {"name": "policy", "namespace": "tourniquet"},
        "data": {"policy.yaml": "firstUpdateWithin: 2m"},
    }
    parsed = policy_from_configmap(configmap)
    assert parsed.source == "ConfigMap tourniquet/policy"
    assert parsed.first_update_within == timedelta(minutes=2)
    with pytest.raises(PolicyError) as raised:
        policy_from_configmap({"metadata": {"name": "policy", "namespace": "t"}, "data": {}})
    assert str(raised.value) == "ConfigMap t/policy: data['policy.yaml']: is missing"


# --- deadlines ---------------------------------------------------------------------------


def test_acknowledge_by_follows_the_severity() -> None:
    assert acknowledge_by(T0, SEV1) == T0 + timedelta(minutes=5)
    assert acknowledge_by(T0, SEV2) == T0 + timedelta(minutes=15)
    assert acknowledge_by(T0, SEV3) == T0 + timedelta(hours=24)


def test_is_overdue_only_after_the_deadline() -> None:
    due = acknowledge_by(T0, SEV1)
    assert not is_overdue(due, T0)
    assert not is_overdue(due, due)  # "within 5 minutes" includes the fifth minute
    assert is_overdue(due, due + timedelta(microseconds=1))
    assert not is_overdue(None, datetime.max.replace(tzinfo=UTC))  # no deadline, never late


@pytest.mark.parametrize("rule", [SEV1, SEV2, SEV3], ids=lambda r: r.severity)
def test_the_first_update_is_due_5_minutes_after_declaration_for_every_severity(
    rule: SeverityRule,
) -> None:
    assert next_update_due(T0, None, rule, DEFAULT_POLICY) == T0 + timedelta(minutes=5)


def test_after_the_first_update_the_cadence_follows_the_severity() -> None:
    posted = T0 + timedelta(minutes=3)
    assert next_update_due(T0, posted, SEV1, DEFAULT_POLICY) == posted + timedelta(hours=1)
    assert next_update_due(T0, posted, SEV2, DEFAULT_POLICY) == posted + timedelta(hours=2)
    # SEV3 has no cadence: after "we are investigating", nothing more is ever due.
    assert next_update_due(T0, posted, SEV3, DEFAULT_POLICY) is None


def test_a_late_first_update_restarts_the_cadence_from_when_it_was_posted() -> None:
    late = T0 + timedelta(minutes=40)
    due = next_update_due(T0, late, SEV1, DEFAULT_POLICY)
    assert due == T0 + timedelta(minutes=100)
    assert not is_overdue(due, T0 + timedelta(minutes=100))
    assert is_overdue(due, T0 + timedelta(minutes=100, seconds=1))


def test_an_update_stamped_before_the_declaration_counts_from_the_declaration() -> None:
    skewed = T0 - timedelta(minutes=10)
    assert next_update_due(T0, skewed, SEV1, DEFAULT_POLICY) == T0 + timedelta(hours=1)


def test_the_policy_decides_the_first_update_and_the_checklist() -> None:
    short = policy(
        "firstUpdateWithin: 2s\nchecklistWithin: 3s\nseverities: {SEV1: {commsEvery: 4s}}"
    )
    assert next_update_due(T0, None, short.rules["SEV1"], short) == T0 + timedelta(seconds=2)
    assert next_update_due(T0, T0, short.rules["SEV1"], short) == T0 + timedelta(seconds=4)
    assert checklist_due(T0, short) == T0 + timedelta(seconds=3)
    assert checklist_due(T0, DEFAULT_POLICY) == T0 + timedelta(minutes=15)


def test_the_postmortem_is_due_from_resolution() -> None:
    resolved = T0 + timedelta(hours=5)
    assert postmortem_due(resolved, SEV1) == resolved + timedelta(hours=72)
    assert postmortem_due(resolved, SEV2) == resolved + timedelta(hours=120)
    assert postmortem_due(resolved, SEV3) == resolved + timedelta(hours=240)


def test_deadlines_are_utc_whatever_zone_they_are_given_in() -> None:
    naive = datetime(2026, 11, 27, 9, 0)
    cet = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    for declared in (naive, cet):
        due = acknowledge_by(declared, SEV1)
        assert due == T0 + timedelta(minutes=5)
        assert due.tzinfo == UTC
    assert is_overdue(T0, datetime(2026, 11, 27, 9, 0, 1))
    assert not is_overdue(T0, datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1))))


def test_deadlines_saturate_instead_of_overflowing() -> None:
    end = datetime.max.replace(tzinfo=UTC)
    near_end = end - timedelta(hours=1)
    assert postmortem_due(near_end, SEV3) == end
    assert next_update_due(near_end, near_end, SEV2, DEFAULT_POLICY) == end


# --- the status view ---------------------------------------------------------------------


def test_status_view() -> None:
    assert status_view(SEV1) == {
        "severity": "SEV1",
        "respondWithinSeconds": 300,
        "commsEverySeconds": 3600,
        "page": ["on-call", "manager"],
        "statusPage": "red",
    }
    assert status_view(SEV3) == {
        "severity": "SEV3",
        "respondWithinSeconds": 86400,
        "page": [],
        "statusPage": "none",
        "channel": "internal",
    }


def test_status_view_rounds_sub_second_durations_up() -> None:
    fast = dataclasses.replace(
        SEV1, respond_within=timedelta(milliseconds=500), comms_every=timedelta(seconds=1.2)
    )
    view = status_view(fast)
    assert (view["respondWithinSeconds"], view["commsEverySeconds"]) == (1, 2)
