"""Shell completion, in the protocol kubectl (>= 1.26) speaks with plugins: for
`kubectl incident approve -n prod <TAB>` kubectl runs `kubectl_complete-incident approve
-n prod ""` and reads one candidate per line, then `:DIRECTIVE` (cobra's). The same
answers serve `kubectl-incident __complete ...`, which the scripts of `kubectl incident
completion bash|zsh` call.

Candidates come from grammar.py's tables; incident names, namespaces and contexts are
asked of the cluster through a `Lister` (kubectl, in the shell), so this stays testable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tourniquet.cli.kubectl_incident.grammar import (
    KUBECTL_FLAGS,
    SHELLS,
    VERB_NAMES,
    Flag,
    Slot,
    Verb,
    checklist_items,
    verb,
)

#: cobra's ShellCompDirectiveNoFileComp: never fall back to file names.
NO_FILE_COMPLETION = 4


class Lister(Protocol):
    """Names on the cluster, asked with the kubectl flags typed so far."""

    def incidents(self, kubectl_args: Sequence[str]) -> list[str]: ...
    def namespaces(self, kubectl_args: Sequence[str]) -> list[str]: ...
    def contexts(self, kubectl_args: Sequence[str]) -> list[str]: ...


@dataclass
class Typed:
    """What the words typed so far say: the verb, its positionals, a flag still waiting
    for its value, and the kubectl flags (to ask the cluster with)."""

    verb: Verb | None = None
    typed_verb: str | None = None
    positionals: list[str] = field(default_factory=list)
    pending: Flag | None = None
    kubectl_args: list[str] = field(default_factory=list)


def _flags(v: Verb | None) -> tuple[Flag, ...]:
    return (*(v.flags if v else ()), *KUBECTL_FLAGS)


def _find(name: str, v: Verb | None) -> Flag | None:
    return next((f for f in _flags(v) if name in f.names), None)


def read(words: Sequence[str]) -> Typed:
    typed = Typed()
    for word in words:
        if typed.pending is not None:
            if typed.pending in KUBECTL_FLAGS:
                typed.kubectl_args.append(f"{typed.pending.long}={word}")
            typed.pending = None
        elif word.startswith("-") and word != "-":
            name, eq, _ = word.partition("=")
            flag = _find(name, typed.verb)
            if flag is not None and flag.takes_value and not eq:
                typed.pending = flag
            elif flag is not None and flag in KUBECTL_FLAGS:
                typed.kubectl_args.append(word)
        elif typed.typed_verb is None:
            typed.typed_verb, typed.verb = word, verb(word)
        else:
            typed.positionals.append(word)
    return typed


def _slot_values(slot: Slot, typed: Typed, lister: Lister) -> list[str]:
    if slot is Slot.INCIDENT:
        return lister.incidents(typed.kubectl_args)
    if slot is Slot.ITEM:
        return list(checklist_items())
    if slot is Slot.SHELL:
        return list(SHELLS)
    return []  # users and free text: nothing to offer


def _flag_values(flag: Flag, typed: Typed, lister: Lister) -> list[str]:
    if flag.choices is not None:
        return list(flag.choices())
    if flag.long == "--namespace":
        return lister.namespaces(typed.kubectl_args)
    if flag.long == "--context":
        return lister.contexts(typed.kubectl_args)
    return []


def candidates(words: Sequence[str], lister: Lister) -> list[str]:
    """What may come next; `words[-1]` is the word being completed (maybe empty)."""
    *done, current = list(words) or [""]
    typed = read(done)
    if typed.pending is not None:
        found = _flag_values(typed.pending, typed, lister)
    elif current.startswith("-"):
        found = [name for f in _flags(typed.verb) for name in f.names if name.startswith("--")]
    elif typed.typed_verb is None:
        found = list(VERB_NAMES)
    elif typed.verb is None:
        found = []
    else:
        found = _positional(typed.verb, typed, lister)
    return [c for c in found if c.startswith(current)]


def _positional(v: Verb, typed: Typed, lister: Lister) -> list[str]:
    slots = [slot for _, slot in v.words]
    at = len(typed.positionals)
    if not v.takes_incident:
        return _slot_values(slots[at], typed, lister) if at < len(slots) else []
    if at == 0:
        # NAME is optional: either the incident or the verb's first word fits here.
        first = _slot_values(slots[0], typed, lister) if slots else []
        return [*lister.incidents(typed.kubectl_args), *first]
    return _slot_values(slots[at - 1], typed, lister) if at - 1 < len(slots) else []


def answer(words: Sequence[str], lister: Lister) -> str:
    """The reply in kubectl's plugin completion protocol."""
    return "".join(f"{c}\n" for c in candidates(words, lister)) + f":{NO_FILE_COMPLETION}\n"


BASH = """\
# bash completion for kubectl-incident:  source <(kubectl incident completion bash)
# (`kubectl incident <TAB>` needs only kubectl's own: source <(kubectl completion bash))
_kubectl_incident() {
    local out
    out="$(kubectl-incident __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" || return
    out="${out%:*}"
    local IFS=$'\\n'
    COMPREPLY=($(compgen -W "${out}" -- "${COMP_WORDS[COMP_CWORD]}"))
}
complete -F _kubectl_incident kubectl-incident
"""

ZSH = """\
#compdef kubectl-incident
# zsh completion for kubectl-incident:  source <(kubectl incident completion zsh)
# (`kubectl incident <TAB>` needs only kubectl's own: source <(kubectl completion zsh))
_kubectl_incident() {
    local -a lines
    lines=("${(@f)$(kubectl-incident __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    compadd -- "${(@)lines[1,-2]}"
}
compdef _kubectl_incident kubectl-incident
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH}
