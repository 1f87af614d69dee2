"""The sealed chunks of an Incident's timeline record: ConfigMaps `<postmortem>-t00000`,
`-t00001`, ... next to its postmortem draft, labelled and owned like it (the operator's
confinement policy lets it write no other ConfigMap), each holding one chunk as JSON
(`timeline.json`) and as the postmortem's table rows (`timeline.md`). Written once,
when sealed, and never read back: the operator needs no `get` on ConfigMaps."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tourniquet.core import postmortem
from tourniquet.core.projections import mapping

JSON_KEY: Final = "timeline.json"
MARKDOWN_KEY: Final = "timeline.md"
COMPONENT: Final = "timeline"
_MAX_NAME: Final = 253


def chunk_name(incident_name: str, index: int) -> str:
    """A DNS subdomain of at most 253 characters, distinct from any postmortem's name
    (those end in -postmortem) and from every other chunk's."""
    suffix = f"-t{index:05d}"
    base = postmortem.configmap_name(incident_name)
    return base[: _MAX_NAME - len(suffix)].rstrip(".-") + suffix


def chunk_names(incident_name: str, sealed: int) -> list[str]:
    return [chunk_name(incident_name, i) for i in range(sealed)]


def configmap(
    incident: Mapping[str, Any], index: int, entries: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    rows = postmortem.timeline_rows(entries)
    cm = postmortem.configmap(incident, "")
    name = str(mapping(incident.get("metadata")).get("name") or "")
    cm["metadata"]["name"] = chunk_name(name, index)
    cm["metadata"]["labels"][postmortem.COMPONENT_LABEL] = COMPONENT
    cm["data"] = {
        JSON_KEY: json.dumps(list(entries), separators=(",", ":")),
        MARKDOWN_KEY: "\n".join(rows) + "\n",
    }
    return cm
