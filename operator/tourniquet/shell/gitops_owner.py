"""The GitOps owner of the suspect: read when the suspect is named, suspended before the
undo, resumed when the IC asks and git has moved on. Decisions are the core's
(core/gitops, core/gitops_mitigation); this module does the reads and patches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tourniquet.core import gitops_mitigation as steps
from tourniquet.core import playbook
from tourniquet.core.draft import Draft
from tourniquet.core.gitops import (
    GitOpsOwner,
    applied_revision,
    owner_of,
    reconciles,
    resume_patch,
    source_of,
    source_revision,
    suspend_patch,
    suspended_by,
)
from tourniquet.core.guards import Refusal
from tourniquet.core.projections import mapping
from tourniquet.shell.failures import failure_of
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime

log = logging.getLogger("tourniquet")


async def _read(rt: Runtime, owner: GitOpsOwner) -> dict[str, Any] | None:
    api = owner.api
    return await rt.kube.get_object(api.group, api.version, api.plural, owner.namespace, owner.name)


async def owner_of_workload(rt: Runtime, workload: Mapping[str, Any]) -> GitOpsOwner | None:
    """Who applies this workload from git, and whether it reconciles now (unknown when
    the operator may not read it)."""
    owner = owner_of(mapping(workload.get("metadata")))
    if owner is None:
        return None
    try:
        return owner.read(await _read(rt, owner))
    except ApiException as exc:
        if failure_of(exc).retryable:
            raise
        return owner  # 403: the suspension will say so, with the fix


def _forbidden(exc: ApiException, owner: GitOpsOwner, verb: str) -> str:
    api = owner.api
    return (
        f"{verb} {api.plural}.{api.group} {owner.namespace}/{owner.name}: "
        f"{failure_of(exc).describe()}"
    )


async def suspend_first(d: Draft, rt: Runtime) -> dict[str, Any] | Refusal | None:
    """Suspend the suspect's owner before the undo: status.mitigation.gitops to claim, a
    refusal (the operator may not, and the IC did not accept the revert), or None (no
    owner that reconciles)."""
    owner = steps.owner_to_suspend(d)
    if owner is None:
        return None
    api = owner.api
    incident = f"{d.namespace}/{d.name}"
    try:
        obj = await _read(rt, owner)
        if obj is None:
            return None  # gone (or its CRD): nothing re-applies git
        if not reconciles(owner.kind, obj):
            if suspended_by(obj) != incident:
                return None  # suspended by someone else: not ours to resume
            # Ours, from an attempt whose claim did not land: record it this time.
            return steps.suspension(
                d, owner, applied_revision(owner.kind, obj), drill=playbook.is_drill(d)
            )
        await rt.kube.merge_patch_object(
            api.group,
            api.version,
            api.plural,
            owner.namespace,
            owner.name,
            suspend_patch(owner, obj, incident),
            dry_run=playbook.is_drill(d),
        )
    except ApiException as exc:
        if failure_of(exc).retryable:
            raise  # the API's trouble: retried after a backoff, nothing claimed yet
        detail = _forbidden(exc, owner, "suspend")
        log.warning("%s/%s: cannot suspend %s: %s", d.namespace, d.name, owner.describe(), detail)
        return steps.suspension_refused(d, owner, detail) or steps.unsuspended(d, owner, detail)
    return steps.suspension(d, owner, applied_revision(owner.kind, obj), drill=playbook.is_drill(d))


async def _git_revision(rt: Runtime, owner: GitOpsOwner, obj: Mapping[str, Any]) -> str | None:
    """Where git is now, as the owner's source last fetched it (None: cannot tell)."""
    source = source_of(owner, obj)
    if source is None:
        return applied_revision(owner.kind, obj) if owner.kind == "Application" else None
    found = await rt.kube.get_object(
        source.api.group, source.api.version, source.api.plural, source.namespace, source.name
    )
    return None if found is None else source_revision(found)


async def resume_if_asked(d: Draft, rt: Runtime) -> None:
    """The IC asked to resume (spec.gitops.resume): resume once git no longer provably
    holds the undone revision."""
    if not steps.resume_requested(d):
        return
    owner = steps.suspended_owner(d)
    assert owner is not None
    api = owner.api
    try:
        obj = await _read(rt, owner)
        if obj is None:
            steps.resumed(d, owner, None)  # deleted meanwhile: nothing is suspended
            return
        current = await _git_revision(rt, owner, obj)
        if steps.git_still_bad(d, current):
            steps.resume_waits_for_git(d, owner)
            return
        await rt.kube.merge_patch_object(
            api.group,
            api.version,
            api.plural,
            owner.namespace,
            owner.name,
            resume_patch(owner, obj),
        )
    except ApiException as exc:
        if failure_of(exc).retryable:
            raise
        steps.resume_failed(d, owner, _forbidden(exc, owner, "resume"))
        return
    steps.resumed(d, owner, current)
