"""Alertmanager notifications in, Incidents out. Pure: parsing the webhook payload,
deciding the Incident an alert group declares, and what a resolved group changes.

One alert group declares one Incident. Its name is derived from the group key and
the start of the group's earliest firing alert, so a re-sent notification (Alertmanager
repeats them, and an HA pair sends each one twice) names the same Incident and its
create is refused by the API server with 409: never a duplicate. The receiver also
looks for an open Incident of the same group (label ``tourniquet.dev/alert-group``)
first, so alerts joining a group that is already being handled add no Incident either.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from tourniquet.api.models import IncidentSpec, Severity
from tourniquet.api.names import (
    ALERT_GROUP_LABEL,
    ALERT_STATUS,
    ALERT_STATUS_AT,
    ALERTNAME_LABEL,
    API_VERSION,
    AUTO_RESOLVE,
    SEVERITY_SOURCE,
    SOURCE_LABEL,
)
from tourniquet.core.clock import format_time
from tourniquet.core.projections import mapping, text
from tourniquet.core.runbooks import Match

SOURCE = "alertmanager"

#: Alertmanager's webhook payload version this receiver understands.
WEBHOOK_VERSION = "4"

#: The alert's severity label, mapped onto the playbook's severities.
SEVERITY_LABELS: Mapping[str, Severity] = {
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "error": Severity.SEV2,
    "warning": Severity.SEV2,
    "info": Severity.SEV3,
    "none": Severity.SEV3,
}
DEFAULT_SEVERITY = Severity.SEV3

# The bounds of spec.alert (models.IncidentAlert): longer values are cut, not refused.
_MAX_LABELS, _MAX_LABEL_VALUE = 64, 1024
_MAX_ANNOTATIONS, _MAX_ANNOTATION_VALUE = 32, 4096
_MAX_KEY = 253
_MAX_QUOTED = 63
_ELLIPSIS = "…"
# Go's zero time.Time, which Alertmanager sends for an unset endsAt.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PayloadError(ValueError):
    """The request body is not an Alertmanager webhook notification (HTTP 400)."""


class _Payload(BaseModel):
    # Alertmanager may add fields: what is not used here is ignored, not refused.
    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="ignore")


class WebhookAlert(_Payload):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


class Notification(_Payload):
    """Alertmanager's webhook notification (version 4)."""

    version: str
    group_key: str = Field(min_length=1)
    # Alertmanager counts what it left out: never negative (spec.alert.firing is >= 0).
    truncated_alerts: int = Field(default=0, ge=0, le=2**31)
    status: Literal["firing", "resolved"]
    receiver: str = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict)
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(min_length=1)

    @cached_property
    def firing(self) -> list[WebhookAlert]:
        """The firing alerts, earliest first (ties by fingerprint: a stable order)."""
        alerts = [a for a in self.alerts if a.status == "firing"]
        return sorted(alerts, key=lambda a: (_moment(a.starts_at) or _EPOCH, a.fingerprint))


def _moment(value: datetime | None) -> datetime | None:
    """An aware UTC time, or None for Go's zero time and other pre-epoch stand-ins."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value if value > _EPOCH else None


#: Alerts validated per step: the receiver parses in a worker thread, and between steps
#: the event loop's thread gets the interpreter back (one validation of 8,000 alerts at
#: once would hold it for a tenth of a second or more).
_ALERTS_PER_STEP = 200


def _problems(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    problems = [
        f"{'.'.join(map(str, (*prefix, *e['loc']))) or 'body'}: {e['msg']}"
        for e in exc.errors()[:5]
    ]
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(problems) + more


def _alerts(raw: Any) -> list[WebhookAlert]:
    if not isinstance(raw, list):
        return []  # the notification's own validation says what is wrong
    alerts: list[WebhookAlert] = []
    for start in range(0, len(raw), _ALERTS_PER_STEP):
        for index, item in enumerate(raw[start : start + _ALERTS_PER_STEP], start):
            try:
                alerts.append(WebhookAlert.model_validate(item))
            except ValidationError as exc:
                raise PayloadError(
                    "not an Alertmanager webhook notification: " + _problems(exc, ("alerts", index))
                ) from None
    return alerts


def parse_notification(raw: bytes) -> Notification:
    """The notification in ``raw``, or PayloadError saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PayloadError(
            "the body must be a JSON object: an Alertmanager webhook notification "
            f"(version {WEBHOOK_VERSION}), got {type(body).__name__}"
        )
    version = body.get("version")
    if version is not None and version != WEBHOOK_VERSION:
        raise PayloadError(
            f"unsupported webhook payload version {version!r}: this receiver reads "
            f"Alertmanager's version {WEBHOOK_VERSION!r}"
        )
    if isinstance(body.get("alerts"), list):
        body = {**body, "alerts": _alerts(body["alerts"])}
    try:
        return Notification.model_validate(body)
    except ValidationError as exc:
        raise PayloadError("not an Alertmanager webhook notification: " + _problems(exc)) from None


# --- severity ------------------------------------------------------------------------------


def severity_from_label(value: str | None) -> Severity | None:
    """critical → SEV1, warning → SEV2, info → SEV3; SEV1..SEV3 as they are."""
    if not value:
        return None
    key = value.strip().lower()
    if key in ("sev1", "sev2", "sev3"):
        return Severity(key.upper())
    return SEVERITY_LABELS.get(key)


# --- naming --------------------------------------------------------------------------------


def group_hash(group_key: str) -> str:
    """A label value (at most 63 characters) that stands for the group key."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:32]


def _slug(name: str, limit: int = 40) -> str:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", name)
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")
    return slug[:limit].strip("-") or "alert"


def incident_name(alertname: str, group_key: str, starts_at: datetime | None) -> str:
    """e.g. api-high-error-rate-3f9c2a1b0d: readable, and the same for every notification
    of one alert group episode."""
    episode = format_time(starts_at) if starts_at else ""
    digest = hashlib.sha256(f"{group_key}\n{episode}".encode()).hexdigest()[:10]
    return f"{_slug(alertname)}-{digest}"


# --- the Incident an alert group declares ---------------------------------------------------


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _bounded(values: Mapping[str, str], count: int, length: int) -> dict[str, str]:
    kept = sorted((k, v) for k, v in values.items() if 0 < len(k) <= _MAX_KEY)
    return {k: _cut(v, length) for k, v in kept[:count]}


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Declaration:
    """The Incident to create for a firing alert group, and why it looks as it does."""

    namespace: str
    name: str
    manifest: dict[str, Any]
    severity: str
    severity_source: str
    runbook: str | None
    alertname: str
    group: str
    warnings: tuple[str, ...] = field(default=())


def declare(
    n: Notification,
    match: Match | None,
    *,
    namespace: str,
    default_commander: str | None = None,
    now: datetime | None = None,
) -> Declaration:
    """The Incident a firing notification declares. ``namespace`` is used when no
    runbook answers the alert (a runbook's incidents live in its namespace). A start
    later than ``now`` (a sender's clock ahead) is recorded as ``now``: the impact cannot
    start after it is reported, and time to resolve must not come out as zero.

    PayloadError when the group cannot become a valid Incident: the API server would
    refuse it every time, so the receiver answers 400 (Alertmanager retries only 5xx)."""
    firing = n.firing or sorted(n.alerts, key=lambda a: a.fingerprint)
    first = firing[0]
    alertname = (
        n.common_labels.get("alertname")
        or (text(match.ref.get("alertname")) if match else "")
        or first.alertname
    )
    starts = [m for m in (_moment(a.starts_at) for a in firing) if m is not None]
    episode_start = min(starts) if starts else None
    starts_at = episode_start if now is None or episode_start is None else min(episode_start, now)
    runbook_spec = mapping(match.runbook.spec) if match else {}
    warnings: list[str] = []

    given = n.common_labels.get("severity") or first.labels.get("severity")
    from_label = severity_from_label(given)
    # Quoted in an annotation: bounded, as a label value is (an annotation over the
    # object's 256 KiB budget would make every create fail).
    label = _cut(given, _MAX_QUOTED) if given else given
    if match is not None:
        severity = Severity(runbook_spec["severity"])
        source = f"from runbook {match.runbook.name}"
    elif from_label is not None:
        severity, source = from_label, f"from the alert's label severity={label}"
    else:
        severity = DEFAULT_SEVERITY
        source = (
            f"by default: no runbook, and the severity label {label!r} is not one of "
            f"{', '.join(sorted(SEVERITY_LABELS))}, SEV1..SEV3"
            if label
            else "by default: no runbook and no severity label"
        )

    roles = {k: v for k, v in mapping(runbook_spec.get("roles")).items() if v}
    if not roles.get("commander") and default_commander:
        roles["commander"] = default_commander
        source += f"; Incident Commander {default_commander} (--alerts-default-commander)"
    if severity in (Severity.SEV1, Severity.SEV2) and not roles.get("commander"):
        warning = (
            f"{severity} needs an Incident Commander but neither "
            f"{'runbook ' + match.runbook.name if match else 'a runbook'} (spec.roles.commander) "
            "nor --alerts-default-commander names one: declared as SEV3; name a commander "
            "and raise the severity"
        )
        warnings.append(warning)
        source += f"; {warning}"
        severity = Severity.SEV3

    summary = n.common_annotations.get("summary") or first.annotations.get("summary")
    title = f"{alertname}: {summary}" if summary else f"{alertname} firing"
    spec: dict[str, Any] = {"title": _cut(title or "alert firing", 200), "severity": str(severity)}
    if roles:
        spec["roles"] = roles
    if match is not None and runbook_spec.get("scope"):
        spec["scope"] = runbook_spec["scope"]
    if starts_at is not None:
        spec["startedAt"] = format_time(starts_at)
    if match is not None:
        spec["runbookRef"] = {"name": match.runbook.name}
    alert: dict[str, Any] = {"receiver": _cut(n.receiver, 253), "groupKey": _cut(n.group_key, 2048)}
    if alertname:
        alert["alertname"] = _cut(alertname, 253)
    labels = n.common_labels or first.labels
    if labels:
        alert["labels"] = _bounded(labels, _MAX_LABELS, _MAX_LABEL_VALUE)
    annotations = n.common_annotations or first.annotations
    if annotations:
        alert["annotations"] = _bounded(annotations, _MAX_ANNOTATIONS, _MAX_ANNOTATION_VALUE)
    if starts_at is not None:
        alert["startsAt"] = format_time(starts_at)
    if first.generator_url:
        alert["generatorURL"] = _cut(first.generator_url, 2048)
    if n.external_url:
        alert["externalURL"] = _cut(n.external_url, 2048)
    alert["firing"] = len(n.firing) + (n.truncated_alerts if n.status == "firing" else 0)
    spec["alert"] = alert

    try:
        IncidentSpec.model_validate(spec)
    except ValidationError as exc:
        raise PayloadError(
            "the alert group cannot become a valid Incident: " + _problems(exc, ("spec",))
        ) from None

    group = group_hash(n.group_key)
    target = match.runbook.namespace if match else namespace
    # Named by the group's own start, not the clamped one: every notification of the
    # episode must name the same Incident, whatever the time it arrives.
    name = incident_name(alertname, n.group_key, episode_start)
    metadata_labels = {ALERT_GROUP_LABEL: group, SOURCE_LABEL: SOURCE}
    if alertname and len(alertname) <= 63 and _LABEL_VALUE.match(alertname):
        metadata_labels[ALERTNAME_LABEL] = alertname
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "Incident",
        "metadata": {
            "name": name,
            "namespace": target,
            "labels": metadata_labels,
            # alert-status annotations come with later notifications (resolved, firing
            # again): the declaration itself is on the timeline as AlertFiring.
            "annotations": {SEVERITY_SOURCE: f"{severity} {source}"},
        },
        "spec": spec,
    }
    return Declaration(
        namespace=target,
        name=name,
        manifest=manifest,
        severity=str(severity),
        severity_source=source,
        runbook=match.runbook.name if match else None,
        alertname=alertname,
        group=group,
        warnings=tuple(warnings),
    )


# --- notifications about an Incident already declared ---------------------------------------


def is_open(incident: Mapping[str, Any]) -> bool:
    return not mapping(incident.get("spec")).get("resolved") and not mapping(
        incident.get("metadata")
    ).get("deletionTimestamp")


def _created(incident: Mapping[str, Any]) -> str:
    return text(mapping(incident.get("metadata")).get("creationTimestamp"))


def current_incident(incidents: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Of the Incidents a group declared: the open one (the newest, should there be
    several), else None."""
    live = [i for i in incidents if is_open(i)]
    return max(live, key=_created) if live else None


def latest_incident(incidents: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The open Incident of the group, else its most recent one."""
    return current_incident(incidents) or (max(incidents, key=_created) if incidents else None)


def resolved_at(n: Notification) -> datetime | None:
    ends = [m for m in (_moment(a.ends_at) for a in n.alerts) if m is not None]
    return max(ends) if ends else None


def status_patch(
    incident: Mapping[str, Any],
    n: Notification,
    *,
    now: datetime,
    auto_resolve: bool = False,
) -> dict[str, Any] | None:
    """The merge patch that records on ``incident`` what ``n`` says (firing again, or
    resolved), or None when it says nothing new. The operator's reconcile puts it on the
    timeline; with ``auto_resolve`` a resolved group also gives the all-clear."""
    annotations = mapping(mapping(incident.get("metadata")).get("annotations"))
    if n.status == "resolved":
        if annotations.get(ALERT_STATUS) == "resolved":
            return None
        at = format_time(resolved_at(n) or now)
        patch: dict[str, Any] = {
            "metadata": {"annotations": {ALERT_STATUS: "resolved", ALERT_STATUS_AT: at}}
        }
        if auto_resolve and is_open(incident):
            patch["spec"] = {"resolved": True}
        return patch
    if annotations.get(ALERT_STATUS) != "resolved":
        return None  # still firing: a re-sent notification
    return {
        "metadata": {"annotations": {ALERT_STATUS: "firing", ALERT_STATUS_AT: format_time(now)}}
    }


def auto_resolve_refused(patch: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """``patch`` without the all-clear, noting why the API server refused it."""
    annotations = dict(mapping(mapping(patch.get("metadata")).get("annotations")))
    annotations[AUTO_RESOLVE] = _cut(reason, 1024)
    return {"metadata": {"annotations": annotations}}
