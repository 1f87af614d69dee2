"""Each verb: read what it needs with kubectl, build the patch (patches.py) or the screen
(screen.py), write or print. A refusal is kubectl's (the API server's) own message, passed
on by main.py with kubectl's exit status."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from tourniquet.cli.kubectl_incident import patches, screen
from tourniquet.cli.kubectl_incident.completion import SCRIPTS
from tourniquet.cli.kubectl_incident.invocation import Invocation
from tourniquet.cli.kubectl_incident.kubectl import Kubectl
from tourniquet.cli.kubectl_incident.selector import parse_selector

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Refused(RuntimeError):
    """The plugin itself declines (nothing was sent): the message says why."""


@dataclass
class Console:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    ask: Callable[[str], str] = input
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())


def _namespace_words(namespace: str | None) -> str:
    return f" in namespace {namespace}" if namespace else " in the current namespace"


def incident_name(k: Kubectl, inv: Invocation) -> str:
    """NAME as given, else the one open incident of the namespace (or, when none is open,
    its only incident: the postmortem of the one just resolved)."""
    if inv.incident:
        return inv.incident
    views = [screen.View(i) for i in k.json("get", "incidents")["items"]]
    names = sorted(v.name for v in views if v.is_open) or (
        [views[0].name] if len(views) == 1 else []
    )
    where = _namespace_words(inv.kubectl.namespace)
    if not names:
        raise Refused(f"no open incident{where}: name one (kubectl incident list)")
    if len(names) > 1:
        raise Refused(f"{len(names)} open incidents{where} ({', '.join(names)}): name one")
    return names[0]


def _get(k: Kubectl, inv: Invocation) -> dict[str, Any]:
    return dict(k.json("get", "incident", incident_name(k, inv)))


def _send(k: Kubectl, c: Console, inv: Invocation, name: str, patch: patches.Patch) -> int:
    """Send the verb's one patch (or, with --dry-run=client, show it)."""
    namespace = inv.kubectl.namespace
    if inv.option("dry_run") == "client":
        c.out.write(patch.command(name, namespace) + "\n")
        return 0
    dry = ["--dry-run=server"] if inv.option("dry_run") == "server" else []
    result = k.run(*patch.kubectl_args(name, None), *dry)
    c.out.write(result.stdout)
    return 0


def declare(k: Kubectl, c: Console, inv: Invocation) -> int:
    (name,) = inv.words
    if not inv.option("title") or not inv.option("severity"):
        raise Refused("declare needs --title TEXT and --severity SEV1|SEV2|SEV3")
    scope = inv.option("scope")
    try:
        manifest = patches.incident(
            patches.Declaration(
                name=name,
                title=inv.option("title"),
                severity=inv.option("severity"),
                commander=inv.option("commander") or k.whoami(),
                comms=inv.option("comms"),
                operations=inv.option("operations"),
                scribe=inv.option("scribe"),
                scope=parse_selector(scope) if scope else None,
                runbook=inv.option("runbook"),
                started_at=inv.option("started_at"),
                drill=bool(inv.option("drill")),
            )
        )
    except ValueError as exc:
        raise Refused(f"cannot declare {name}: {exc}") from None
    body = json.dumps(manifest, indent=2)
    if inv.option("dry_run") == "client":
        c.out.write(body + "\n")
        return 0
    dry = ["--dry-run=server"] if inv.option("dry_run") == "server" else []
    c.out.write(k.run("create", "-f", "-", *dry, stdin=body).stdout)
    ns = ["-n", inv.kubectl.namespace] if inv.kubectl.namespace else []
    c.out.write(f"next: {' '.join(['kubectl', 'incident', 'status', name, *ns])}\n")
    return 0


def status(k: Kubectl, c: Console, inv: Invocation) -> int:
    name = incident_name(k, inv)
    if not inv.option("watch"):
        c.out.write(screen.status_screen(k.json("get", "incident", name), c.now()))
        return 0
    clear = CLEAR_SCREEN if c.out.isatty() else "\n" + "-" * 72 + "\n"
    # Stopped by a signal (`timeout`, a supervisor), still stop the kubectl watch it runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for version in k.watch("get", "incident", name):
            c.out.write(clear + screen.status_screen(version, c.now()))
            c.out.flush()
    except KeyboardInterrupt:
        pass
    return 0


def approve(k: Kubectl, c: Console, inv: Invocation) -> int:
    incident = _get(k, inv)
    view = screen.View(incident)
    me = k.whoami()
    try:
        patch = patches.approve(me, view.suspect, accept_revert=bool(inv.option("accept_revert")))
    except patches.CannotWrite as exc:
        raise Refused(f"cannot approve {view.name}: {exc}; see kubectl incident status") from None
    s = view.suspect
    c.out.write(
        f"Approve, as {me}, undoing {screen.suspect_text(s)} for incident {view.name}"
        f"{_namespace_words(view.namespace)}:\n"
        f"  change:  {s.get('change') or '-'}\n"
        f"  undo:    back to revision {s.get('previousRevision') or '-'}; the operator first "
        "re-checks that nothing moved on, then does what kubectl rollout undo does and "
        "follows the rollout\n"
        f"{_gitops_line(s)}"
        f"  writes:  {patch.command(view.name, view.namespace)}\n"
    )
    if not inv.option("yes") and inv.option("dry_run") != "client":
        try:
            answer = c.ask("Approve? [y/N] ")
        except EOFError:
            answer = ""
        if not c.interactive:
            c.out.write("\n")  # the answer came from a pipe: end the prompt's line
        if answer.strip().lower() not in ("y", "yes"):
            raise Refused("not approved: nothing was written (--yes skips this question)")
    sent = _send(k, c, inv, view.name, patch)
    if not inv.option("dry_run") or inv.option("dry_run") == "none":
        c.out.write(f"follow the undo: {view.command('status', '-w')}\n")
    return sent


def _gitops_line(suspect: Mapping[str, Any]) -> str:
    owner = screen.owner_text(suspect.get("owner"))
    if not owner:
        return ""
    return f"  gitops:  {owner}; the operator suspends it first, so that the undo holds\n"


def delete_stuck_pod(k: Kubectl, c: Console, inv: Invocation) -> int:
    view = screen.View(_get(k, inv))
    try:
        patch = patches.delete_stuck_pod(k.whoami(), view.mitigation)
    except patches.CannotWrite as exc:
        raise Refused(f"{view.name}: {exc}; see kubectl incident status") from None
    return _send(k, c, inv, view.name, patch)


def resume(k: Kubectl, c: Console, inv: Invocation) -> int:
    incident = _get(k, inv)
    view = screen.View(incident)
    if not screen.gitops_owner(incident):
        raise Refused(f"{view.name}: the undo suspended no GitOps owner: nothing to resume")
    sent = _send(k, c, inv, view.name, patches.resume_gitops())
    c.out.write(
        "the operator resumes it once git no longer holds the undone revision: "
        f"{view.command('status', '-w')}\n"
    )
    return sent


def ack(k: Kubectl, c: Console, inv: Invocation) -> int:
    return _send(k, c, inv, incident_name(k, inv), patches.acknowledge(k.whoami()))


def update(k: Kubectl, c: Console, inv: Invocation) -> int:
    (message,) = inv.words
    name = incident_name(k, inv)
    return _send(k, c, inv, name, patches.update(k.whoami(), message, inv.option("status_page")))


def tick(k: Kubectl, c: Console, inv: Invocation) -> int:
    (item,) = inv.words
    try:
        patches.tick_item(item)
    except patches.CannotWrite as exc:
        raise Refused(str(exc)) from None
    name = incident_name(k, inv)
    return _send(k, c, inv, name, patches.tick(k.whoami(), item))


def handover(k: Kubectl, c: Console, inv: Invocation) -> int:
    (user,) = inv.words
    return _send(k, c, inv, incident_name(k, inv), patches.handover(user))


def resolve(k: Kubectl, c: Console, inv: Invocation) -> int:
    return _send(k, c, inv, incident_name(k, inv), patches.resolve())


def timeline(k: Kubectl, c: Console, inv: Invocation) -> int:
    c.out.write(screen.timeline(_get(k, inv)))
    return 0


def postmortem(k: Kubectl, c: Console, inv: Invocation) -> int:
    name = incident_name(k, inv)
    found = k.run(
        "get", "configmap", f"{name}-postmortem", "--ignore-not-found",
        "-o", r"jsonpath={.data.postmortem\.md}",
    )  # fmt: skip
    if not found.stdout:
        raise Refused(
            f"no postmortem draft for {name} yet: the operator writes it (ConfigMap "
            f"{name}-postmortem) on the all-clear (kubectl incident resolve {name})"
        )
    c.out.write(found.stdout if found.stdout.endswith("\n") else found.stdout + "\n")
    return 0


def list_incidents(k: Kubectl, c: Console, inv: Invocation) -> int:
    everywhere = bool(inv.option("all_namespaces"))
    items = k.json("get", "incidents", *(["-A"] if everywhere else []))["items"]
    c.out.write(screen.incident_list(items, c.now(), namespaces=everywhere))
    return 0


def completion(k: Kubectl, c: Console, inv: Invocation) -> int:
    (shell,) = inv.words
    script = SCRIPTS.get(shell)
    if script is None:
        raise Refused(f"no completion for {shell!r}: choose {' or '.join(SCRIPTS)}")
    c.out.write(script)
    return 0


VERB = Callable[[Kubectl, Console, Invocation], int]
VERBS: dict[str, VERB] = {
    "declare": declare,
    "status": status,
    "approve": approve,
    "ack": ack,
    "update": update,
    "tick": tick,
    "handover": handover,
    "resolve": resolve,
    "resume": resume,
    "delete-stuck-pod": delete_stuck_pod,
    "timeline": timeline,
    "postmortem": postmortem,
    "list": list_incidents,
    "completion": completion,
}
