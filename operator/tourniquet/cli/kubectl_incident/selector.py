"""A label selector as kubectl's `-l` takes it (`app=api,tier in (web,api),!canary`), turned
into spec.scope.selector (metav1.LabelSelector: matchLabels and matchExpressions)."""

from __future__ import annotations

import re
from typing import Any

from tourniquet.api.models import LabelSelector, LabelSelectorOperator


class SelectorError(ValueError):
    """The selector is not one kubectl would accept."""


_SET = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)$")
_EQUALS = re.compile(r"^(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS = re.compile(r"^(?P<bang>!?)\s*(?P<key>[^\s!=(),]+)$")


def _requirements(text: str) -> list[str]:
    """Split on the commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def parse_selector(text: str) -> dict[str, Any]:
    """spec.scope.selector for `text`, in the API's wire form (camelCase)."""
    labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for part in _requirements(text):
        if not part:
            raise SelectorError(f"empty requirement in selector {text!r}")
        if match := _SET.match(part):
            op = LabelSelectorOperator.IN if match["op"] == "in" else LabelSelectorOperator.NOT_IN
            values = [v.strip() for v in match["values"].split(",") if v.strip()]
            expressions.append({"key": match["key"], "operator": op.value, "values": values})
        elif match := _EQUALS.match(part):
            if match["op"] == "!=":
                expressions.append(
                    {
                        "key": match["key"],
                        "operator": LabelSelectorOperator.NOT_IN.value,
                        "values": [match["value"]],
                    }
                )
            else:
                labels[match["key"]] = match["value"]
        elif match := _EXISTS.match(part):
            op = (
                LabelSelectorOperator.DOES_NOT_EXIST
                if match["bang"]
                else LabelSelectorOperator.EXISTS
            )
            expressions.append({"key": match["key"], "operator": op.value})
        else:
            raise SelectorError(f"cannot parse {part!r} in selector {text!r}")
    model = LabelSelector.model_validate(
        {
            **({"matchLabels": labels} if labels else {}),
            **({"matchExpressions": expressions} if expressions else {}),
        }
    )
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")
