"""What each verb writes, exactly as the README documents it: the Incident a `declare`
creates, and the one `kubectl patch incident` every other writing verb sends. Nothing
here talks to a cluster; the shapes come from the API models and core.lifecycle."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tourniquet.api.models import (
    ChecklistTicks,
    CommsUpdate,
    IncidentSpec,
    Roles,
    StatusPageState,
    WorkloadKind,
)
from tourniquet.api.names import API_VERSION, INCIDENT_KIND
from tourniquet.cli.kubectl_incident.grammar import checklist_items
from tourniquet.core.lifecycle import approval_patch


class CannotWrite(ValueError):
    """The verb has nothing it could write (e.g. no suspect to approve yet)."""


@dataclass(frozen=True)
class Patch:
    """One `kubectl patch incident NAME` as a responder types it."""

    body: Any
    type: Literal["merge", "json"] = "merge"
    status: bool = False  # the status subresource (approval, acknowledgement)

    @property
    def text(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))

    def kubectl_args(self, name: str, namespace: str | None) -> list[str]:
        return [
            "patch",
            "incident",
            name,
            *(["-n", namespace] if namespace else []),
            *(["--subresource=status"] if self.status else []),
            f"--type={self.type}",
            "-p",
            self.text,
        ]

    def command(self, name: str, namespace: str | None) -> str:
        """The same request as one plain kubectl command line, to show and to copy."""
        return shlex.join(["kubectl", *self.kubectl_args(name, namespace)])


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(by_alias=True, exclude_unset=True, mode="json"))


def approve(me: str, suspect: Mapping[str, Any] | None, *, accept_revert: bool = False) -> Patch:
    """Approve undoing the suspect exactly as the operator wrote it: kind, name, revision
    (and, when asked, that git may revert it)."""
    if not suspect or not suspect.get("name") or not isinstance(suspect.get("revision"), int):
        raise CannotWrite("there is no suspect to approve yet (status.suspect is empty)")
    kind = str(suspect.get("kind") or WorkloadKind.DEPLOYMENT.value)
    body = approval_patch(me, kind, str(suspect["name"]), suspect["revision"])
    if accept_revert:
        body["status"]["approval"]["acceptRevert"] = True
    return Patch(body, status=True)


def delete_stuck_pod(me: str, mitigation: Mapping[str, Any]) -> Patch:
    """Approve deleting the pod the operator named in status.mitigation.stuckPod."""
    stuck = mitigation.get("stuckPod")
    if not isinstance(stuck, Mapping) or not stuck.get("name") or stuck.get("deletedAt"):
        raise CannotWrite("the undo is not stuck on a pod (status.mitigation.stuckPod is empty)")
    return Patch({"status": {"podDeletion": {"approvedBy": me, "pod": stuck["name"]}}}, status=True)


def resume_gitops() -> Patch:
    return Patch({"spec": {"gitops": {"resume": True}}})


def acknowledge(me: str) -> Patch:
    return Patch({"status": {"acknowledgement": {"by": me}}}, status=True)


def update(me: str, message: str, status_page: str | None = None) -> Patch:
    """Append one comms update in your name (JSON patch: the list is append-only)."""
    fields: dict[str, Any] = {"author": me, "message": message}
    if status_page:
        fields["status_page"] = StatusPageState(status_page)
    value = _dump(CommsUpdate(**fields))
    return Patch([{"op": "add", "path": "/spec/updates/-", "value": value}], type="json")


def tick_item(item: str) -> str:
    """The checklist item's field name, from its name in any common spelling
    (bridgeOpened, bridge-opened, bridge_opened, bridgeopened)."""
    wanted = item.replace("-", "").replace("_", "").lower()
    for known in checklist_items():
        if known.lower() == wanted:
            return known
    raise CannotWrite(f"no checklist item {item!r}: people tick {', '.join(checklist_items())}")


def tick(me: str, item: str) -> Patch:
    field = tick_item(item)
    checklist = _dump(ChecklistTicks.model_validate({field: me}))
    return Patch({"spec": {"checklist": checklist}})


def handover(user: str) -> Patch:
    return Patch({"spec": {"roles": _dump(Roles(commander=user))}})


def resolve() -> Patch:
    return Patch({"spec": {"resolved": True}})


@dataclass(frozen=True)
class Declaration:
    """What `declare` asks for; roles other than the commander are optional."""

    name: str
    title: str
    severity: str
    commander: str
    namespace: str | None = None
    comms: str | None = None
    operations: str | None = None
    scribe: str | None = None
    scope: dict[str, Any] | None = None
    runbook: str | None = None
    started_at: str | None = None
    drill: bool = False


def incident(d: Declaration) -> dict[str, Any]:
    """The Incident to create, validated by the models (the API server's own rules)."""
    roles = {
        k: v
        for k, v in (
            ("commander", d.commander),
            ("comms", d.comms),
            ("operations", d.operations),
            ("scribe", d.scribe),
        )
        if v
    }
    spec: dict[str, Any] = {"title": d.title, "severity": d.severity, "roles": roles}
    if d.scope:
        spec["scope"] = {"selector": d.scope}
    if d.runbook:
        spec["runbookRef"] = {"name": d.runbook}
    if d.started_at:
        spec["startedAt"] = d.started_at
    if d.drill:
        spec["drill"] = True
    validated = IncidentSpec.model_validate(spec)
    metadata = {"name": d.name, **({"namespace": d.namespace} if d.namespace else {})}
    return {
        "apiVersion": API_VERSION,
        "kind": INCIDENT_KIND,
        "metadata": metadata,
        # Only what was asked for: the API server fills in the defaults.
        "spec": _dump(validated) | ({"startedAt": d.started_at} if d.started_at else {}),
    }
