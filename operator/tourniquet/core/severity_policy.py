"""The severity policy: the playbook's severities as configuration the platform team owns.

The policy lives in a ConfigMap (data key `policy.yaml`), shaped like the playbook itself:

    severities:
      SEV1: {description: ..., respondWithin: 5m, commsEvery: 1h, page: [on-call, manager],
             statusPage: red, postmortemWithin: 72h}
      ...
    firstUpdateWithin: 5m
    checklistWithin: 15m
    notifications: [{name: ..., url: https://..., format: slack, severities: [SEV1]}]

A partial policy is allowed: a severity left out, or a field left out of a severity, keeps
the playbook's default (DEFAULT_POLICY), so a team can change one number without restating
the rest. Everything that is present is validated, and the first problem is reported as a
PolicyError naming the key and what is wrong with it: a typo must never silently fall back
to a default, because a misspelt `respondWithin` would quietly keep a deadline the platform
team believes it changed.

The deadline arithmetic below is pure: every function takes the moments it needs (`now`
included) and never reads the clock.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

import yaml

SEVERITIES: Final = ("SEV1", "SEV2", "SEV3")
STATUS_PAGE_COLOURS: Final = ("red", "yellow", "green", "none")
NOTIFICATION_FORMATS: Final = ("slack", "json")
POLICY_KEY: Final = "policy.yaml"
CONFIGMAP_NAME: Final = "tourniquet-severity-policy"
DEFAULT_SOURCE: Final = "built-in default policy"

# Deadlines are added to timestamps; a year is far beyond any playbook's window and keeps
# that arithmetic well inside what datetime can represent.
MAX_DURATION: Final = timedelta(days=365)


class PolicyError(ValueError):
    """A policy that cannot be used, with where it came from and which key is wrong."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SeverityRule:
    severity: str
    description: str
    respond_within: timedelta
    comms_every: timedelta | None  # None: no update cadence (SEV3)
    page: tuple[str, ...]
    status_page: str  # red | yellow | green | none
    channel: str | None  # None: the usual incidents channel
    postmortem_within: timedelta  # counted from resolution


@dataclass(frozen=True)
class NotificationTarget:
    name: str
    # Webhook URLs (Slack's above all) are credentials: keep them out of reprs and logs.
    url: str = field(repr=False)
    format: str  # slack | json
    severities: frozenset[str] | None = None  # None: every severity

    def wants(self, severity: str) -> bool:
        return self.severities is None or severity in self.severities


@dataclass(frozen=True)
class SeverityPolicy:
    rules: Mapping[str, SeverityRule]
    first_update_within: timedelta
    checklist_within: timedelta
    notifications: tuple[NotificationTarget, ...]
    source: str

    def rule(self, severity: str) -> SeverityRule:
        try:
            return self.rules[severity]
        except KeyError:
            raise KeyError(
                f"no rule for severity {severity!r} in {self.source}; "
                f"expected one of {', '.join(SEVERITIES)}"
            ) from None

    def targets_for(self, severity: str) -> tuple[NotificationTarget, ...]:
        """The webhooks a comms update of an incident of `severity` is forwarded to."""
        return tuple(target for target in self.notifications if target.wants(severity))


def _rules(*rules: SeverityRule) -> Mapping[str, SeverityRule]:
    # Read-only, so a policy shared between handlers cannot be changed by one of them.
    return MappingProxyType({rule.severity: rule for rule in rules})


# The playbook, word for word: SEV3's "next business day" becomes 24 hours, and its
# "internal channel only" means no paging, no status page and no update cadence.
DEFAULT_POLICY: Final = SeverityPolicy(
    rules=_rules(
        SeverityRule(
            severity="SEV1",
            description="Total outage or data loss for many users",
            respond_within=timedelta(minutes=5),
            comms_every=timedelta(hours=1),
            page=("on-call", "manager"),
            status_page="red",
            channel=None,
            postmortem_within=timedelta(hours=72),
        ),
        SeverityRule(
            severity="SEV2",
            description="Major feature broken or significant degradation",
            respond_within=timedelta(minutes=15),
            comms_every=timedelta(hours=2),
            page=("on-call",),
            status_page="yellow",
            channel=None,
            postmortem_within=timedelta(hours=120),
        ),
        SeverityRule(
            severity="SEV3",
            description="Minor issue with no user-visible impact",
            respond_within=timedelta(hours=24),
            comms_every=None,
            page=(),
            status_page="none",
            channel="internal",
            postmortem_within=timedelta(hours=240),
        ),
    ),
    first_update_within=timedelta(minutes=5),
    checklist_within=timedelta(minutes=15),
    notifications=(),
    source=DEFAULT_SOURCE,
)


# --- durations -------------------------------------------------------------------------

# Go's time.ParseDuration units. Go has no day unit; neither do we, so "3d" gets a message
# pointing at "72h".
_UNIT_MICROSECONDS: Final = {
    "ns": Fraction(1, 1000),
    "us": Fraction(1),
    "µs": Fraction(1),  # U+00B5 micro sign
    "μs": Fraction(1),  # U+03BC Greek mu
    "ms": Fraction(1000),
    "s": Fraction(1_000_000),
    "m": Fraction(60_000_000),
    "h": Fraction(3_600_000_000),
}
# "ms" before "m": an alternation takes the first unit that matches.
_COMPONENT = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)?")
_VALID_UNITS = "ns, us, ms, s, m, h"


def parse_duration(value: str | int) -> timedelta:
    """A Go-style duration ("90s", "5m", "1h30m", "500ms", "-1.5h") or whole seconds.

    Like time.ParseDuration: a sequence of decimal numbers each with a unit, an optional
    leading sign, and "0" on its own. Precision is a microsecond (timedelta's); finer parts
    are truncated. Raises ValueError saying what is wrong.
    """
    if isinstance(value, bool):
        # YAML 1.1 reads yes/no/on/off as booleans; True is an int to Python, not a duration.
        raise ValueError(f"expected a duration such as 5m or 1h30m, not the boolean {value}")
    if isinstance(value, int):
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise ValueError(f"duration of {value} seconds is too large") from None
    if not isinstance(value, str):
        raise ValueError(
            f"expected a duration such as 5m or 1h30m (or whole seconds), "
            f"not {type(value).__name__} {value!r}"
        )
    original = value
    text = value.strip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return timedelta(0)
    if not text:
        raise ValueError(f"empty duration {original!r}; write one such as 5m or 1h30m")
    total = Fraction(0)
    position = 0
    while position < len(text):
        match = _COMPONENT.match(text, position)
        number, unit = (match[1], match[2]) if match else ("", None)
        if not number or number == ".":
            raise ValueError(
                f"invalid duration {original!r}: expected a number at {text[position:]!r}; "
                "write one such as 5m or 1h30m"
            )
        if unit is None:
            rest = text[position + len(number) :]
            if rest:
                bad_unit = re.match(r"[^0-9.]+", rest)
                found = bad_unit[0] if bad_unit else rest
                raise ValueError(
                    f"invalid duration {original!r}: unknown unit {found!r} "
                    f"(valid units: {_VALID_UNITS}; for days write hours, e.g. 72h)"
                )
            raise ValueError(
                f"invalid duration {original!r}: missing unit after {number} "
                f"(valid units: {_VALID_UNITS}); a bare number of seconds must be an integer, "
                "not a string"
            )
        total += Fraction(number) * _UNIT_MICROSECONDS[unit]
        position = match.end() if match else len(text)
    try:
        return sign * timedelta(microseconds=int(total))
    except OverflowError:
        raise ValueError(f"duration {original!r} is too large") from None


def format_duration(delta: timedelta) -> str:
    """The shortest Go-style spelling, "1h30m" or "500ms": how messages quote durations."""
    micros = delta // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    parts = [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    if micros and not seconds and not parts:
        parts.append(f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}us")
    elif seconds or micros:
        fraction = f".{micros:06d}".rstrip("0") if micros else ""
        parts.append(f"{seconds}{fraction}s")
    return sign + "".join(parts)


# --- parsing ---------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one.

    Two `SEV1:` blocks in a hand-edited ConfigMap would otherwise drop the first without a
    word.
    """


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class _Reader:
    """Validates one policy document, naming every key by its path for the error."""

    source: str

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(self.source, key, problem)

    def mapping(
        self, value: object, key: str, allowed: Sequence[str], noun: str = "key"
    ) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key or "policy", f"must be a mapping, not {_describe(value)}")
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                raise self.fail(where, f"unknown {noun}; expected one of: {', '.join(allowed)}")
        return value

    def duration(self, value: object, key: str, *, nullable: bool = False) -> timedelta | None:
        if value is None:
            if nullable:
                return None
            raise self.fail(
                key, "must be a duration such as 5m, not null (omit it for the default)"
            )
        try:
            delta = parse_duration(value)  # type: ignore[arg-type]
        except ValueError as error:
            raise self.fail(key, str(error)) from None
        if delta <= timedelta(0):
            raise self.fail(key, f"must be a positive duration, not {value!r}")
        if delta > MAX_DURATION:
            raise self.fail(
                key, f"{value!r} is longer than the maximum of {format_duration(MAX_DURATION)}"
            )
        return delta

    def required_duration(self, value: object, key: str) -> timedelta:
        delta = self.duration(value, key)
        assert delta is not None  # not nullable, so duration() raised instead
        return delta

    def string(self, value: object, key: str, *, nullable: bool = False) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {_describe(value)}")
        return value.strip()

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of strings, not {_describe(value)}")
        result: list[str] = []
        for index, item in enumerate(value):
            name = self.string(item, f"{key}[{index}]")
            if name is not None and name not in result:
                result.append(name)
        return tuple(result)

    def choice(self, value: object, key: str, choices: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {_describe(value)}")
        return value


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        # The classic YAML 1.1 surprise: `statusPage: no` is a boolean, not a string.
        return f"the boolean {str(value).lower()} (quote it if a string was meant)"
    if isinstance(value, str):
        return repr(value)
    return f"{type(value).__name__} {value!r}"


_TOP_KEYS: Final = ("severities", "firstUpdateWithin", "checklistWithin", "notifications")
_RULE_KEYS: Final = (
    "description",
    "respondWithin",
    "commsEvery",
    "page",
    "statusPage",
    "channel",
    "postmortemWithin",
)
_TARGET_KEYS: Final = ("name", "url", "format", "severities")


def _rule(reader: _Reader, severity: str, value: object) -> SeverityRule:
    default = DEFAULT_POLICY.rules[severity]
    key = f"severities.{severity}"
    data = reader.mapping(value, key, _RULE_KEYS)
    fields: dict[str, Any] = {}
    if "description" in data:
        fields["description"] = reader.string(data["description"], f"{key}.description")
    if "respondWithin" in data:
        fields["respond_within"] = reader.duration(data["respondWithin"], f"{key}.respondWithin")
    if "commsEvery" in data:
        # null is meaningful here: no update cadence at all, as the playbook has for SEV3.
        fields["comms_every"] = reader.duration(
            data["commsEvery"], f"{key}.commsEvery", nullable=True
        )
    if "page" in data:
        fields["page"] = reader.strings(data["page"], f"{key}.page")
    if "statusPage" in data:
        fields["status_page"] = reader.choice(
            data["statusPage"], f"{key}.statusPage", STATUS_PAGE_COLOURS
        )
    if "channel" in data:
        fields["channel"] = reader.string(data["channel"], f"{key}.channel", nullable=True)
    if "postmortemWithin" in data:
        fields["postmortem_within"] = reader.duration(
            data["postmortemWithin"], f"{key}.postmortemWithin"
        )
    return _replace(default, fields)


def _replace(rule: SeverityRule, fields: Mapping[str, Any]) -> SeverityRule:
    values = {name: getattr(rule, name) for name in rule.__dataclass_fields__}
    values.update(fields)
    return SeverityRule(**values)


def _target(reader: _Reader, index: int, value: object, names: set[str]) -> NotificationTarget:
    key = f"notifications[{index}]"
    if not isinstance(value, Mapping):
        raise reader.fail(
            key, f"must be a mapping with name, url and format, not {_describe(value)}"
        )
    data = reader.mapping(value, key, _TARGET_KEYS)
    for required in ("name", "url"):
        if required not in data:
            raise reader.fail(f"{key}.{required}", "is required")
    name = reader.string(data["name"], f"{key}.name") or ""
    if name in names:
        raise reader.fail(f"{key}.name", f"{name!r} is used by another notification")
    names.add(name)
    url = reader.string(data["url"], f"{key}.url") or ""
    # Never quote the URL back: a Slack webhook URL is a credential.
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unbalanced IPv6 bracket, a port out of range
        usable = False
    if not usable:
        raise reader.fail(
            f"{key}.url", f"must be an http:// or https:// URL with a host (notification {name!r})"
        )
    fmt = reader.choice(data.get("format", "json"), f"{key}.format", NOTIFICATION_FORMATS)
    severities: frozenset[str] | None = None
    if "severities" in data and data["severities"] is not None:
        listed = reader.strings(data["severities"], f"{key}.severities")
        if not listed:
            raise reader.fail(
                f"{key}.severities",
                "is empty, so nothing would ever be sent; omit it to forward every severity",
            )
        for position, severity in enumerate(listed):
            if severity not in SEVERITIES:
                raise reader.fail(
                    f"{key}.severities[{position}]",
                    f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}",
                )
        severities = frozenset(listed)
    return NotificationTarget(name=name, url=url, format=fmt, severities=severities)


def _load(text: str, source: str) -> object:
    try:
        # A SafeLoader subclass: no arbitrary Python objects from a ConfigMap.
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError(source, where, f"not valid YAML: {problem}") from None


def parse_policy(text: str, source: str) -> SeverityPolicy:
    """The policy in `text` (the ConfigMap's `policy.yaml`), defaults filling the gaps.

    `source` names where it came from ("ConfigMap tourniquet/tourniquet-severity-policy")
    and prefixes every PolicyError. An empty document is the default policy.
    """
    reader = _Reader(source)
    document = reader.mapping(_load(text, source), "", _TOP_KEYS)
    severities = reader.mapping(
        document.get("severities"), "severities", SEVERITIES, noun="severity"
    )
    rules = {
        severity: _rule(reader, severity, severities[severity])
        if severity in severities
        else DEFAULT_POLICY.rules[severity]
        for severity in SEVERITIES
    }
    first_update = DEFAULT_POLICY.first_update_within
    if "firstUpdateWithin" in document:
        first_update = reader.required_duration(document["firstUpdateWithin"], "firstUpdateWithin")
    checklist = DEFAULT_POLICY.checklist_within
    if "checklistWithin" in document:
        checklist = reader.required_duration(document["checklistWithin"], "checklistWithin")
    targets: list[NotificationTarget] = []
    listed = document.get("notifications")
    if listed is not None:
        if not isinstance(listed, list):
            raise reader.fail("notifications", f"must be a list, not {_describe(listed)}")
        names: set[str] = set()
        targets = [_target(reader, index, item, names) for index, item in enumerate(listed)]
    return SeverityPolicy(
        rules=_rules(*rules.values()),
        first_update_within=first_update,
        checklist_within=checklist,
        notifications=tuple(targets),
        source=source,
    )


def policy_from_configmap(configmap: Mapping[str, Any]) -> SeverityPolicy:
    """The policy in a ConfigMap body, named after it in errors."""
    metadata = configmap.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    source = f"ConfigMap {namespace}/{name}" if namespace else f"ConfigMap {name}"
    data = configmap.get("data")
    text = data.get(POLICY_KEY) if isinstance(data, Mapping) else None
    if not isinstance(text, str):
        raise PolicyError(source, f"data[{POLICY_KEY!r}]", "is missing")
    return parse_policy(text, source)


# --- deadlines -------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    # Naive datetimes are taken to be UTC, the only zone the API speaks.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_LATEST: Final = datetime.max.replace(tzinfo=UTC)


def _after(moment: datetime, delta: timedelta) -> datetime:
    # Saturate instead of raising OverflowError for a timestamp near year 9999.
    start = _utc(moment)
    return _LATEST if _LATEST - start < delta else start + delta


def acknowledge_by(declared_at: datetime, rule: SeverityRule) -> datetime:
    """When the Incident Commander must have acknowledged the incident."""
    return _after(declared_at, rule.respond_within)


def next_update_due(
    declared_at: datetime,
    last_update_at: datetime | None,
    rule: SeverityRule,
    policy: SeverityPolicy,
) -> datetime | None:
    """When the next comms update is due, or None when the severity has no cadence.

    The first update ("we are investigating") is due `firstUpdateWithin` after declaration
    for every severity, SEV3 included: fixing silently without comms is a pitfall whatever
    the severity. After it, every `commsEvery`. An update stamped before the declaration
    (clock skew) counts as made at the declaration, so the cadence never starts in the past.
    """
    if last_update_at is None:
        return _after(declared_at, policy.first_update_within)
    if rule.comms_every is None:
        return None
    return _after(max(_utc(declared_at), _utc(last_update_at)), rule.comms_every)


def checklist_due(declared_at: datetime, policy: SeverityPolicy) -> datetime:
    """When every item of the first-15-minutes checklist must be ticked."""
    return _after(declared_at, policy.checklist_within)


def postmortem_due(resolved_at: datetime, rule: SeverityRule) -> datetime:
    """When the postmortem must be complete, counted from resolution."""
    return _after(resolved_at, rule.postmortem_within)


def is_overdue(due: datetime | None, now: datetime) -> bool:
    """Past the deadline. "Within 5 minutes" includes the fifth minute itself, so a
    deadline is missed only after it; no deadline (None) is never missed."""
    return due is not None and _utc(now) > _utc(due)


def _seconds(delta: timedelta) -> int:
    # Whole seconds for the status (an integer in the CRD), rounded up so a sub-second
    # test policy never reads as 0.
    micros = delta // timedelta(microseconds=1)
    return -(-micros // 1_000_000)


def status_view(rule: SeverityRule) -> dict[str, Any]:
    """The rule applied to an incident, camelCase for its status. Absent values are left
    out rather than written as null (a structural schema would prune them anyway)."""
    view: dict[str, Any] = {
        "severity": rule.severity,
        "respondWithinSeconds": _seconds(rule.respond_within),
    }
    if rule.comms_every is not None:
        view["commsEverySeconds"] = _seconds(rule.comms_every)
    view["page"] = list(rule.page)
    view["statusPage"] = rule.status_page
    if rule.channel is not None:
        view["channel"] = rule.channel
    return view
