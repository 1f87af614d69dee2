"""What the operator registers with kopf, read from its own registry."""

from __future__ import annotations

import kopf

from tourniquet.api.names import FINALIZER, GROUP, INCIDENTS, VERSION
from tourniquet.shell.registration import Operator, _is_gone, _is_live, tune_kopf
from tourniquet.shell.settings import Settings


def test_no_change_detecting_handler_so_kopf_copies_no_spec_into_annotations() -> None:
    # Any on.create/update/delete/resume handler makes kopf store the whole spec (every
    # comms update) in an annotation on each change: half the 256 KiB all annotations share.
    registry = Operator(Settings()).registry
    assert not registry._changing.has_handlers(resource=kopf.Resource(GROUP, VERSION, INCIDENTS))
    ids = {h.id for h in registry._watching.get_all_handlers()}
    assert {"incident-event", "incident_gone"} <= ids
    timers = {h.id for h in registry._spawning.get_all_handlers()}
    assert {"incident-resync", "incident-followup"} <= timers


def test_a_deleted_incident_is_forgotten_not_reconciled() -> None:
    gone = kopf.Body({"metadata": {"name": "x"}})
    deleting = kopf.Body({"metadata": {"name": "x", "deletionTimestamp": "2026-12-01T00:00:00Z"}})
    assert _is_gone(type="DELETED") and not _is_gone(type="MODIFIED") and not _is_gone(type=None)
    assert not _is_live(gone, type="DELETED")
    assert not _is_live(deleting, type="MODIFIED")
    assert _is_live(gone, type="MODIFIED") and _is_live(gone)  # timers pass no event type


def test_named_namespaces_are_served_at_once_without_listing_every_namespace() -> None:
    # Namespaced RBAC forbids listing namespaces; kopf would retry that for ~54 s first.
    namespaced, clusterwide = kopf.OperatorSettings(), kopf.OperatorSettings()
    tune_kopf(namespaced, Settings(namespaces=("team-a", "team-b")))
    tune_kopf(clusterwide, Settings())
    assert namespaced.scanning.disabled
    assert not clusterwide.scanning.disabled
    assert namespaced.persistence.finalizer == clusterwide.persistence.finalizer == FINALIZER
