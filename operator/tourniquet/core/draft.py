"""The Draft: an Incident's status as the operator is about to write it, with the timeline
entries, Events and metric observations its steps add (core/lifecycle.py and playbook.py
are the steps; the shell writes a draft in one status patch)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tourniquet.api.models import WorkloadKind
from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.api.vocabulary import (
    Observed,
)
from tourniquet.core import conditions, record, timeline
from tourniquet.core.clock import parse_time
from tourniquet.core.projections import mapping


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post: on the Incident, or on the named Deployment."""

    type: str
    reason: str
    message: str
    deployment: str | None = None
    #: The kind of the workload named by `deployment`.
    workload_kind: str = WorkloadKind.DEPLOYMENT


@dataclass(frozen=True)
class Observation:
    """A metric observation, made only once the status recording it is written."""

    kind: Observed
    value: float = 1.0
    result: str = ""
    reason: str = ""


class Draft:
    """The Incident's status as the operator is about to write it."""

    def __init__(
        self, body: Mapping[str, Any], now: datetime, timeline_limit: int = timeline.DEFAULT_LIMIT
    ) -> None:
        self.now = now
        self.timeline_limit = timeline_limit
        # One consistent snapshot: kopf's body is a live view that later events update,
        # and a status read at one moment must be written with that moment's
        # resourceVersion as precondition.
        self.metadata: dict[str, Any] = copy.deepcopy(dict(mapping(body.get("metadata"))))
        self.spec: dict[str, Any] = copy.deepcopy(dict(mapping(body.get("spec"))))
        self.old: dict[str, Any] = copy.deepcopy(dict(mapping(body.get("status"))))
        self.api_version = str(body.get("apiVersion", ""))
        self.kind = str(body.get("kind", ""))
        self.status: dict[str, Any] = copy.deepcopy(self.old)
        self.notices: list[Notice] = []
        # Timeline entries moved out of the bounded status, to archive (see timeline.spill).
        self.archived: list[dict[str, Any]] = []
        self.observations: list[Observation] = []
        # Notifications to send once this draft is written (the shell's outbox delivers
        # them); opaque to the core.
        self.outgoing: list[Any] = []

    # -- facts about the incident -------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def resource_version(self) -> str | None:
        value = self.metadata.get("resourceVersion")
        return str(value) if value else None

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def severity(self) -> str:
        return str(self.spec.get("severity", "SEV3"))

    @property
    def commander(self) -> str | None:
        value = mapping(self.spec.get("roles")).get("commander")
        return value if isinstance(value, str) and value else None

    @property
    def impact_started_at(self) -> datetime:
        """spec.startedAt when given, else when the Incident was created."""
        return (
            parse_time(self.spec.get("startedAt"))
            or parse_time(self.metadata.get("creationTimestamp"))
            or self.now
        )

    @property
    def generation(self) -> int | None:
        value = self.metadata.get("generation")
        return value if isinstance(value, int) else None

    @property
    def suspect(self) -> dict[str, Any] | None:
        value = self.status.get("suspect")
        return value if isinstance(value, dict) else None

    @property
    def approval(self) -> dict[str, Any] | None:
        value = self.status.get("approval")
        return value if isinstance(value, dict) else None

    @property
    def mitigation(self) -> dict[str, Any] | None:
        value = self.status.get("mitigation")
        return value if isinstance(value, dict) else None

    @functools.cached_property
    def archived_digests(self) -> frozenset[str]:
        """Digests of the (kind, message) the timeline record archived (core/record)."""
        annotations = mapping(self.metadata.get("annotations"))
        return record.archived_digests(record.parse_record(annotations.get(TIMELINE_ARCHIVE)))

    # -- writing ------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        event: str | None = None,
        warning: bool = False,
        deployment: str | None = None,
    ) -> bool:
        """A timeline entry, and an Event with reason `event` when given. A step re-run
        after a restart records nothing new: the timeline already holds the entry.
        Returns whether the entry is new."""
        if record.digest(kind, timeline.bounded(message)) in self.archived_digests:
            return False  # recorded already, and archived since: once is the record
        before = self.status.get("timeline") or []
        grown = timeline.append(
            before, timeline.entry(self.now, kind, message, actor), limit=len(before) + 1
        )
        added: bool = grown != before
        self.status["timeline"], spilled = timeline.spill(
            grown, self.timeline_limit, batch=max(1, self.timeline_limit // 4)
        )
        self.archived.extend(spilled)
        if event and added:
            self.notify(event, message, warning=warning, deployment=deployment)
        return added

    def notify(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        deployment: str | None = None,
        workload_kind: str = WorkloadKind.DEPLOYMENT,
    ) -> None:
        level = "Warning" if warning else "Normal"
        self.notices.append(Notice(level, reason, message, deployment, workload_kind))

    def condition(self, type_: str, status: bool, reason: str, message: str) -> None:
        self.status["conditions"] = conditions.set_condition(
            self.status.get("conditions"),
            type_,
            "True" if status else "False",
            reason,
            message,
            self.generation,
            self.now,
        )

    def observe(
        self, kind: Observed, value: float = 1.0, result: str = "", reason: str = ""
    ) -> None:
        self.observations.append(Observation(kind, value, result, reason))

    def snapshot(self) -> dict[str, Any]:
        """The object as this draft would leave it."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata,
            "spec": self.spec,
            "status": self.status,
        }

    def patch(self) -> dict[str, Any]:
        """The JSON merge patch (RFC 7386) from the old status to the draft."""
        return merge_patch(self.old, self.status)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Changed keys with their new values, nested objects diffed, removed keys as None
    (a merge patch merges nested objects, so a dropped nested key must be nulled)."""
    changed: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if before == value:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            changed[key] = merge_patch(before, value)
        else:
            changed[key] = value
    changed.update({key: None for key in old if key not in new})
    return changed


# -- the playbook, step by step --------------------------------------------------------
