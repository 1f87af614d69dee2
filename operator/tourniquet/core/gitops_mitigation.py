"""The undo in a GitOps cluster: suspend the owner, then undo, then resume once git is
reverted. A plain `rollout undo` of a workload Flux or Argo CD applies from git is
re-applied within one reconcile interval; suspended, the undo holds.

Pure decisions on the Draft; the shell (shell/gitops_owner) reads and patches the owner.
"""

from __future__ import annotations

from typing import Any

from tourniquet.api.vocabulary import ConditionType, Observed, Reason
from tourniquet.core.clock import format_time
from tourniquet.core.draft import Draft
from tourniquet.core.gitops import GitOpsOwner, commit_of, manual_suspend_command, owner_from_status
from tourniquet.core.guards import Refusal
from tourniquet.core.projections import mapping, text


def resume_command(d: Draft) -> str:
    return f"kubectl incident resume {d.name} -n {d.namespace}"


def owner_note(d: Draft, owner: GitOpsOwner | None, revision: object) -> str:
    """What the approval message says about the suspect's GitOps owner."""
    if owner is None:
        return ""
    if owner.reconciles is False:
        return f"; {owner.describe()} applies it from git but is suspended already"
    return (
        f"; {owner.describe()} applies it from git and would re-apply revision {revision}, "
        f"so approving suspends it first (resume it with `{resume_command(d)}` once git is "
        "reverted)"
    )


def owner_to_suspend(d: Draft) -> GitOpsOwner | None:
    """The owner the undo must suspend first: one that reconciles, or that could not be
    read (then the suspension itself finds out)."""
    owner = owner_from_status(mapping(d.suspect).get("owner"))
    if owner is None or owner.reconciles is False:
        return None
    return owner


def accepts_revert(d: Draft) -> bool:
    """The IC approved undoing even though the owner will re-apply git."""
    return mapping(d.approval).get("acceptRevert") is True


def suspension_refused(d: Draft, owner: GitOpsOwner, detail: str) -> Refusal | None:
    """The operator may not suspend the owner: the undo would be reverted within one
    interval, so it is refused, unless the IC accepted exactly that."""
    if accepts_revert(d):
        return None
    return Refusal(
        Reason.GITOPS_SUSPEND_FORBIDDEN,
        f"{owner.describe()} applies {mapping(d.suspect).get('name')} from git and Tourniquet "
        f"may not suspend it ({detail}), so an undo would be re-applied from git within one "
        f"interval. Suspend it yourself (`{manual_suspend_command(owner)}`) and approve "
        "again, grant the operator the tourniquet-operator-gitops ClusterRole, or approve "
        "with acceptRevert: true to undo anyway.",
    )


def suspension(
    d: Draft, owner: GitOpsOwner, revision: str | None, *, drill: bool
) -> dict[str, Any]:
    """status.mitigation.gitops once the owner is suspended (a drill's dry run leaves it
    untouched and says so), with the entry on the timeline."""
    record: dict[str, Any] = {
        "tool": owner.tool,
        "kind": owner.kind,
        "name": owner.name,
        "namespace": owner.namespace,
        "resumeCommand": resume_command(d),
    }
    if revision:
        record["revision"] = revision
    at = f" (it had applied {revision})" if revision else ""
    if drill:
        record["notSuspended"] = "a drill: the suspension was a server-side dry run"
        d.record(
            Reason.GITOPS_SUSPENDED,
            f"drill: the suspension of {owner.describe()} was sent as a dry run{at}",
            event=Reason.GITOPS_SUSPENDED,
        )
    else:
        record["suspendedAt"] = format_time(d.now)
        d.record(
            Reason.GITOPS_SUSPENDED,
            f"{owner.describe()} suspended so that the undo holds{at}; once git is reverted, "
            f"resume it with `{resume_command(d)}`",
            event=Reason.GITOPS_SUSPENDED,
        )
        d.condition(
            ConditionType.RECONCILIATION_SUSPENDED,
            True,
            Reason.GITOPS_SUSPENDED,
            f"{owner.describe()} is suspended by this incident: revert the change in git, "
            f"then run `{resume_command(d)}`",
        )
    d.observe(Observed.GITOPS, result="suspended", reason=owner.kind)
    return record


def unsuspended(d: Draft, owner: GitOpsOwner, detail: str) -> dict[str, Any]:
    """The IC accepted an undo the owner will revert: recorded as such."""
    message = (
        f"{owner.describe()} was not suspended ({detail}); as the approval accepted, "
        "it will re-apply the undone revision from git"
    )
    d.record(Reason.GITOPS_NOT_SUSPENDED, message, event=Reason.GITOPS_NOT_SUSPENDED, warning=True)
    d.observe(Observed.GITOPS, result="refused", reason=owner.kind)
    return {
        "tool": owner.tool,
        "kind": owner.kind,
        "name": owner.name,
        "namespace": owner.namespace,
        "notSuspended": detail[:1024],
    }


def suspended_owner(d: Draft) -> GitOpsOwner | None:
    """The owner this incident suspended and has not resumed yet."""
    gitops = mapping(mapping(d.mitigation).get("gitops"))
    if not gitops.get("suspendedAt") or gitops.get("resumedAt"):
        return None
    return owner_from_status(gitops)


def resume_requested(d: Draft) -> bool:
    return mapping(d.spec.get("gitops")).get("resume") is True and suspended_owner(d) is not None


def git_still_bad(d: Draft, current: str | None) -> bool:
    """Git provably still holds what was undone: the owner's source has not moved since
    the suspension. (A new commit may not revert it; that the operator cannot tell.)"""
    suspended_at = text(mapping(mapping(d.mitigation).get("gitops")).get("revision"))
    return bool(suspended_at) and current is not None and current == suspended_at


def resume_waits_for_git(d: Draft, owner: GitOpsOwner) -> None:
    gitops = mapping(mapping(d.mitigation).get("gitops"))
    commit = commit_of(text(gitops.get("revision")))
    message = (
        f"resume of {owner.describe()} waits: git still holds {gitops.get('revision')}, the "
        f"revision that was undone; revert it in git (git revert {commit or '<commit>'}) and "
        "push: the operator resumes it as soon as the source has moved on"
    )
    d.condition(
        ConditionType.RECONCILIATION_SUSPENDED, True, Reason.GITOPS_RESUME_WAITS_FOR_GIT, message
    )
    d.record(Reason.GITOPS_RESUME_WAITS_FOR_GIT, message, event=Reason.GITOPS_RESUME_WAITS_FOR_GIT)


def resumed(d: Draft, owner: GitOpsOwner, current: str | None) -> None:
    gitops = (d.mitigation or {}).get("gitops")
    if isinstance(gitops, dict):
        gitops["resumedAt"] = format_time(d.now)
    at = f" (git is at {current})" if current else ""
    message = f"{owner.describe()} resumed{at}: it reconciles from git again"
    d.record(Reason.GITOPS_RESUMED, message, event=Reason.GITOPS_RESUMED)
    d.condition(ConditionType.RECONCILIATION_SUSPENDED, False, Reason.GITOPS_RESUMED, message)
    d.observe(Observed.GITOPS, result="resumed", reason=owner.kind)


def resume_failed(d: Draft, owner: GitOpsOwner, detail: str) -> None:
    message = f"could not resume {owner.describe()}: {detail}"
    d.condition(ConditionType.RECONCILIATION_SUSPENDED, True, Reason.GITOPS_RESUME_FAILED, message)
    d.record(Reason.GITOPS_RESUME_FAILED, message, event=Reason.GITOPS_RESUME_FAILED, warning=True)
