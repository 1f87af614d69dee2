"""The Incident's full timeline record, kept bounded per object (core/record.py): entries
spilled out of status.timeline wait in the archive annotation; past a few dozen KiB they
are sealed into a chunk ConfigMap owned by the Incident (core/record_chunks.py), and
the annotation keeps only counts and digests. The postmortem names the chunks."""

from __future__ import annotations

import logging
from typing import Any

from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.core import record, record_chunks
from tourniquet.core.draft import Draft
from tourniquet.shell.failures import failure_of
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime

log = logging.getLogger("tourniquet")


def current(d: Draft) -> record.Record:
    return record.parse_record((d.metadata.get("annotations") or {}).get(TIMELINE_ARCHIVE))


def archived_entries(d: Draft) -> list[dict[str, Any]]:
    """The archived entries not yet sealed into a chunk."""
    return [dict(e) for e in current(d).entries]


def sealed_chunks(d: Draft) -> list[str]:
    return record_chunks.chunk_names(d.name, current(d).sealed)


def sealed_digests(d: Draft) -> frozenset[str]:
    return record.archived_digests(current(d))


async def archive(d: Draft, rt: Runtime) -> bool:
    """Archive what the draft spilled; True when the Incident's annotation changed (the
    status is then written on the next event, at the new resourceVersion).

    The chunk goes first, then the annotation that counts it: a crash between the two
    writes the same chunk again (create-or-replace, a superset of what it held), never
    a gap. A chunk refused for good keeps the entries in the annotation, whose own budget
    then drops the oldest, counted."""
    before = current(d)
    after, chunk = record.advance(before, d.archived)
    if after == before:
        return False
    if chunk:
        body = record_chunks.configmap(d.snapshot(), before.sealed, chunk)
        try:
            await rt.kube.apply_configmap(d.namespace, body)
        except ApiException as exc:
            failure = failure_of(exc)
            if failure.retryable:
                raise
            log.warning(
                "%s/%s: timeline chunk %s not written (%s): kept on the Incident, bounded",
                d.namespace,
                d.name,
                body["metadata"]["name"],
                failure.describe(),
            )
            after = record.unsealed(before, d.archived)
    # With the resourceVersion read as precondition: a reconcile of a stale body (kopf may
    # still deliver the event of a version this replaced) must not count chunks again.
    try:
        await rt.kube.patch_incident(
            d.namespace,
            d.name,
            {
                "metadata": {
                    "resourceVersion": d.resource_version,
                    "annotations": {TIMELINE_ARCHIVE: record.dump(after)},
                }
            },
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
        return True  # changed meanwhile: the next event decides on the current record
    superseded = rt.superseded.setdefault(d.uid, [])
    superseded.append(d.resource_version)
    del superseded[:-16]
    return True
