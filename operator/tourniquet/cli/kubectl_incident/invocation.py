"""`kubectl incident VERB [NAME] ...` parsed: the verb, the incident it names (or None:
the one open incident of the namespace), its words, its flags, and the kubectl flags to
pass through. Built from grammar.py's tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tourniquet.cli.kubectl_incident.grammar import KUBECTL_FLAGS, VERBS, Flag, Verb

PROG = "kubectl incident"
EPILOG = (
    "kubectl's flags (-n, --context, --kubeconfig, --as, --as-group, ...) apply to every "
    "request: the API server decides what you may do, and says why when it refuses."
)


@dataclass(frozen=True)
class KubectlFlags:
    """The kubectl flags given on the command line, to pass to every kubectl call."""

    args: tuple[str, ...] = ()
    namespace: str | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> KubectlFlags:
        args: list[str] = []
        for flag in KUBECTL_FLAGS:
            value = values.get(flag.dest)
            if value is None or value is False:
                continue
            if not flag.takes_value:
                args.append(flag.long)
            elif flag.repeat:
                args.extend(f"{flag.long}={v}" for v in value)
            else:
                args.append(f"{flag.long}={value}")
        namespace = values.get("namespace")
        return cls(tuple(args), namespace if isinstance(namespace, str) else None)


@dataclass(frozen=True)
class Invocation:
    verb: str
    incident: str | None
    words: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    kubectl: KubectlFlags = KubectlFlags()

    def option(self, name: str) -> Any:
        return self.options.get(name)


def _add_flag(parser: argparse._ActionsContainer, flag: Flag, *, suppress: bool) -> None:
    kwargs: dict[str, Any] = {"help": flag.help, "dest": flag.dest}
    if suppress:
        # Given both before and after the verb, the later one wins, never a default.
        kwargs["default"] = argparse.SUPPRESS
    if not flag.takes_value:
        kwargs["action"] = "store_true"
    else:
        kwargs["metavar"] = flag.metavar
        if flag.repeat:
            kwargs["action"] = "append"
        if flag.choices is not None:
            kwargs["choices"] = list(flag.choices())
    parser.add_argument(*flag.names, **kwargs)


def _add_verb(sub: Any, verb: Verb) -> None:
    words = " ".join(w for w, _ in verb.words)
    usage = f"{PROG} {verb.name}" + (" [NAME]" if verb.takes_incident else "")
    usage += f" {words}" if words else ""
    parser = sub.add_parser(
        verb.name, help=verb.help, description=verb.help, usage=usage + " [flags]", epilog=EPILOG
    )
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    for flag in verb.flags:
        _add_flag(parser, flag, suppress=False)
    kube = parser.add_argument_group("kubectl flags")
    for flag in KUBECTL_FLAGS:
        _add_flag(kube, flag, suppress=True)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG,
        description="The incident-response playbook at the terminal: declare, see who must "
        "do what next, approve the undo, post updates, tick the checklist, hand over, "
        "resolve, and read the timeline and the postmortem.",
        epilog=EPILOG,
    )
    for flag in KUBECTL_FLAGS:
        _add_flag(top, flag, suppress=False)
    sub = top.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        _add_verb(sub, verb)
    return top


def _split_words(
    p: argparse.ArgumentParser, verb: Verb, words: Sequence[str]
) -> tuple[str | None, tuple[str, ...]]:
    """NAME (when given) and the verb's own words: one word more than the verb takes is the
    incident's name."""
    wanted = len(verb.words)
    if verb.takes_incident and len(words) == wanted + 1:
        return words[0], tuple(words[1:])
    if len(words) == wanted:
        return None, tuple(words)
    names = " ".join(w for w, _ in verb.words)
    expected = ("[NAME] " if verb.takes_incident else "") + names
    hint = " (quote a message with spaces)" if verb.name == "update" else ""
    p.error(f"{verb.name} takes {expected.strip() or 'no arguments'}{hint}")


def parse(argv: Sequence[str]) -> Invocation:
    """The invocation; exits with status 2 and kubectl-style usage on a bad command line."""
    p = parser()
    values = vars(p.parse_args(list(argv)))
    name = values.pop("verb")
    verb = next(v for v in VERBS if v.name == name)
    incident, words = _split_words(p, verb, values.pop("words"))
    kube = {f.dest for f in KUBECTL_FLAGS}
    options = {k: v for k, v in values.items() if k not in kube}
    return Invocation(name, incident, words, options, KubectlFlags.from_values(values))
