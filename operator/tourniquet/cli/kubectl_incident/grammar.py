"""The plugin's command line, declared once: the verbs, their arguments and flags, and the
kubectl flags passed through to every kubectl call. The argument parser (invocation.py)
and shell completion (completion.py) are both built from these tables, so `--help` and
<TAB> never disagree.

Standard library only: completion runs on every <TAB> and must start fast. Choices that
live in the API models are looked up lazily (a callable), when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Slot(StrEnum):
    """What a positional argument names, for completion."""

    INCIDENT = "incident"
    ITEM = "item"
    USER = "user"
    TEXT = "text"
    SHELL = "shell"


@dataclass(frozen=True)
class Flag:
    """One command-line flag. Without a metavar it is a switch."""

    names: tuple[str, ...]
    help: str
    metavar: str | None = None
    choices: Callable[[], Sequence[str]] | None = None
    repeat: bool = False
    dest_name: str | None = None

    @property
    def dest(self) -> str:
        return self.dest_name or self.names[-1].lstrip("-").replace("-", "_")

    @property
    def long(self) -> str:
        return self.names[-1]

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None


@dataclass(frozen=True)
class Verb:
    """One `kubectl incident VERB`: its words after the verb and its own flags.

    `takes_incident`: an incident NAME may come first; without it the one open incident of
    the namespace is meant. `words`: the arguments after NAME, in order."""

    name: str
    help: str
    words: tuple[tuple[str, Slot], ...] = ()
    takes_incident: bool = True
    flags: tuple[Flag, ...] = ()


def _severities() -> Sequence[str]:
    from tourniquet.api.models import Severity

    return [s.value for s in Severity]


def _status_page_states() -> Sequence[str]:
    from tourniquet.api.models import StatusPageState

    return [s.value for s in StatusPageState]


def checklist_items() -> Sequence[str]:
    """The checklist items people tick (the operator ticks the others itself)."""
    from tourniquet.api.models import ChecklistTicks

    return [field.alias or name for name, field in ChecklistTicks.model_fields.items()]


#: kubectl's own flags, passed through unchanged to every kubectl call the plugin makes,
#: so authentication, the context and impersonation are exactly kubectl's.
KUBECTL_FLAGS: tuple[Flag, ...] = (
    Flag(("-n", "--namespace"), "the namespace (default: the context's)", "NAMESPACE"),
    Flag(("--context",), "the kubeconfig context to use", "CONTEXT"),
    Flag(("--kubeconfig",), "path to the kubeconfig file", "PATH"),
    Flag(("--cluster",), "the kubeconfig cluster to use", "CLUSTER"),
    Flag(("--user",), "the kubeconfig user to use", "USER", dest_name="kube_user"),
    Flag(("--as",), "act as this user (impersonation)", "USER", dest_name="as_user"),
    Flag(("--as-group",), "act as this group (repeatable)", "GROUP", repeat=True),
    Flag(("--as-uid",), "act as this UID", "UID"),
    Flag(("-s", "--server"), "the API server's address", "URL"),
    Flag(("--token",), "bearer token for the API server", "TOKEN"),
    Flag(("--request-timeout",), "how long to wait for one request, e.g. 10s", "DURATION"),
    Flag(("--insecure-skip-tls-verify",), "do not verify the server's certificate"),
)

_DRY_RUN = Flag(
    ("--dry-run",),
    "server: the API server checks it (admission included) and stores nothing; "
    "client: print the kubectl command instead of running it",
    "MODE",
    choices=lambda: ("none", "server", "client"),
)

VERBS: tuple[Verb, ...] = (
    Verb(
        "declare",
        "declare an incident; you are its commander unless --commander says otherwise",
        words=(("NAME", Slot.TEXT),),
        takes_incident=False,
        flags=(
            Flag(("--title",), "one line saying what is wrong", "TEXT"),
            Flag(("--severity",), "SEV1, SEV2 or SEV3", "SEV", choices=_severities),
            Flag(("--commander",), "the Incident Commander (default: you)", "USER"),
            Flag(("--comms",), "the communications lead", "USER"),
            Flag(("--operations",), "the operations lead", "USER"),
            Flag(("--scribe",), "the scribe", "USER"),
            Flag(
                ("--scope", "-l", "--selector"),
                "where to look for the suspect rollout: a label selector, e.g. app=api "
                "(default: every Deployment in the namespace)",
                "SELECTOR",
                dest_name="scope",
            ),
            Flag(("--runbook",), "the Runbook for this incident, in its namespace", "NAME"),
            Flag(("--started-at",), "when the impact started (RFC 3339)", "TIME"),
            Flag(("--drill",), "a game-day drill: the undo is a server-side dry run"),
            _DRY_RUN,
        ),
    ),
    Verb(
        "status",
        "one screen: phase, suspect, who must do what next, deadlines",
        flags=(Flag(("-w", "--watch"), "follow it: redraw on every change"),),
    ),
    Verb(
        "approve",
        "approve undoing the current suspect (asks first unless --yes)",
        flags=(
            Flag(("-y", "--yes"), "do not ask for confirmation"),
            Flag(
                ("--accept-revert",),
                "undo even though the operator may not suspend the suspect's GitOps owner "
                "(it will re-apply the bad revision from git)",
            ),
            _DRY_RUN,
        ),
    ),
    Verb("ack", "acknowledge the page (the Incident Commander)", flags=(_DRY_RUN,)),
    Verb(
        "update",
        "post a comms update, in your name",
        words=(("MESSAGE", Slot.TEXT),),
        flags=(
            Flag(
                ("--status-page",),
                "what the status page says: Investigating, Identified, Monitoring or Resolved",
                "STATE",
                choices=_status_page_states,
            ),
            _DRY_RUN,
        ),
    ),
    Verb(
        "tick",
        "tick a checklist item, in your name",
        words=(("ITEM", Slot.ITEM),),
        flags=(_DRY_RUN,),
    ),
    Verb(
        "handover",
        "hand command over to USER",
        words=(("USER", Slot.USER),),
        flags=(_DRY_RUN,),
    ),
    Verb("resolve", "give the all-clear (the Incident Commander)", flags=(_DRY_RUN,)),
    Verb(
        "delete-stuck-pod",
        "approve deleting the StatefulSet pod the undo is stuck on (the Incident Commander)",
        flags=(_DRY_RUN,),
    ),
    Verb(
        "resume",
        "resume the GitOps owner the undo suspended, once git is reverted (the Incident Commander)",
        flags=(_DRY_RUN,),
    ),
    Verb("timeline", "what happened, in order (the complete record)"),
    Verb("postmortem", "print the postmortem draft (Markdown)"),
    Verb(
        "list",
        "the incidents here, with who must act next",
        takes_incident=False,
        flags=(Flag(("-A", "--all-namespaces"), "in every namespace"),),
    ),
    Verb(
        "completion",
        "print a shell completion script for kubectl-incident (kubectl incident <TAB> "
        "works through kubectl's own completion)",
        words=(("SHELL", Slot.SHELL),),
        takes_incident=False,
    ),
)

VERB_NAMES: tuple[str, ...] = tuple(v.name for v in VERBS)
SHELLS: tuple[str, ...] = ("bash", "zsh")


def verb(name: str) -> Verb | None:
    return next((v for v in VERBS if v.name == name), None)
