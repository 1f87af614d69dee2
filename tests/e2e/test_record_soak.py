"""A bounded record under a flapping alert (issue 13, point 3), on the real control plane:
one Incident gets hundreds of timeline entries from an alert that resolves and fires
again through the operator's real receiver, plus 100 comms updates; its status keeps
being written, no object outgrows its limit, and once resolved the postmortem (its
ConfigMap and the timeline chunks it names) has every entry ever on the timeline, once.

Every flap waits for its entry before the next (kopf coalesces events of one object
within 0.1 s, so unpaced flaps would be fewer entries, not more); a flap takes about a
second (four reconciles and two notifications). TQ_SOAK_FLAPS sets how many: 50 by default
(with the 100 long updates, some 200 entries and 150 KiB of record, past the 96 KiB the
Incident itself may hold); TQ_SOAK_FLAPS=1000 is the 2,000-entry soak (some 20 minutes).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devkit.incidents import patch_incident, resolve
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.watch import Watch
from receiver_client import alert, make_token, notification, post
from test_alerts import Receiver, start_receiver

from tourniquet.api.names import TIMELINE_ARCHIVE
from tourniquet.core import record
from tourniquet.core.postmortem import cell

StartOperator = Callable[..., OperatorProcess]

FLAPS = int(os.environ.get("TQ_SOAK_FLAPS", "50"))
UPDATES = 100
# Long enough that the entries outgrow the 96 KiB annotation many times over.
ALERTNAME = "FlappingCheckoutLatency" + "X" * 200
CONFIGMAP_LIMIT = 1024 * 1024


@pytest.fixture
def token(cluster: Cluster, namespace: str) -> str:
    return make_token(cluster, namespace)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_configmaps(cluster: Cluster, namespace: str, incident: str) -> list[dict[str, Any]]:
    """The postmortem draft and the timeline chunks: the ConfigMaps labelled with it."""
    selector = f"tourniquet.dev/incident={incident}"
    out = cluster.kubectl("get", "configmaps", "-n", namespace, "-l", selector, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def _rows(markdown: str) -> list[str]:
    """`**Kind**: message` of each timeline table row of a postmortem or a chunk."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and "**" in line:
            cells = line.split(" | ")
            if len(cells) >= 3:
                rows.append(cells[1])
    return rows


def test_a_flapping_alert_and_100_updates_keep_a_bounded_complete_record(
    cluster: Cluster,
    start_operator: StartOperator,
    namespace: str,
    people: tuple[str, ...],
    token: str,
) -> None:
    receiver: Receiver = start_receiver(
        start_operator,
        namespace,
        "--alerts-default-commander",
        "alice",
        "--timeline-limit",
        "20",
    )
    started = time.monotonic()
    status, answer = post(receiver, notification([alert(ALERTNAME)]), token)
    assert status == 200 and answer["created"], answer
    name = answer["incident"].split("/")[1]

    watch = Watch(cluster, "incidents", namespace).start()
    seen: set[str] = set()

    def timeline_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
        """What an Incident shows of its timeline: status.timeline and the entries waiting
        in the archive annotation (those sealed into chunks are only in the ConfigMaps)."""
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        pending = record.parse_record(annotations.get(TIMELINE_ARCHIVE)).entries
        return [*pending, *((obj.get("status") or {}).get("timeline") or [])]

    def sealed(obj: dict[str, Any]) -> int:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        return record.parse_record(annotations.get(TIMELINE_ARCHIVE)).sealed

    try:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        updates = iter(range(UPDATES))
        flaps = [_stamp(base + timedelta(seconds=i)) for i in range(FLAPS)]
        for i, ended in enumerate(flaps):
            resolved = notification([dict(alert(ALERTNAME), status="resolved", endsAt=ended)])
            resolved["status"] = "resolved"
            code, answer = post(receiver, resolved, token)
            assert code == 200, answer

            # Paced: this flap is on the record (on the Incident, or sealed into a chunk)
            # before the alert fires again. Its own entry, not just any new chunk: the
            # operator is level-triggered, and a firing that lands before the resolution is
            # recorded leaves nothing to record.
            def recorded(ended: str = ended) -> bool:
                needle = f"resolved at {ended}"
                if any(needle in str(t.get("message")) for t in timeline_of(watch.latest(name))):
                    return True
                return any(
                    needle in text
                    for cm in record_configmaps(cluster, namespace, name)
                    for text in (cm.get("data") or {}).values()
                )

            wait_for(recorded, timeout=20, what=f"flap {i}: resolved at {ended} on the record")
            code, answer = post(receiver, notification([alert(ALERTNAME)]), token)
            assert code == 200, answer
            if (
                i % max(1, FLAPS // 5) == 0 and i // max(1, FLAPS // 5) < 5
            ):  # the comms updates, in five batches among the flaps
                ops = [
                    {
                        "op": "add",
                        "path": "/spec/updates/-",
                        "value": {"author": "alice", "message": f"update {n}: " + "still " * 170},
                    }
                    for n in [next(updates) for _ in range(UPDATES // 5)]
                ]
                patch_incident(cluster, namespace, ops, kind="json", as_user="alice", name=name)
        flapped = time.monotonic() - started
        resolve(cluster, namespace, name)
        last: dict[str, str] = {}

        def complete() -> bool:
            for event in watch.history(name):
                for t in timeline_of(event.obj):
                    # As the postmortem's table shows it (pipes and backslashes escaped).
                    seen.add(f"**{cell(t.get('kind'))}**: {cell(t.get('message'))}")
            cms = record_configmaps(cluster, namespace, name)
            rows: list[str] = []
            for cm in sorted(cms, key=lambda c: c["metadata"]["name"]):
                for text in (cm.get("data") or {}).values():
                    rows += _rows(text)
            counts = Counter(rows)
            twice = sum(1 for c in counts.values() if c > 1)
            missing = sorted(m[:160] for m in seen - counts.keys())
            last["seen"] = (
                f"{len(seen)} entries seen, {len(rows)} rows in {len(cms)} ConfigMaps; "
                f"missing {len(missing)} {missing[:2]}, twice {twice}"
            )
            flapped_once = all(
                sum(1 for r in rows if f"resolved at {ended}" in r) == 1 for ended in flaps
            )
            return (
                bool(rows)
                and flapped_once
                and all(counts[s] == 1 for s in seen)
                and max(counts.values()) == 1
            )

        wait_for(
            complete,
            timeout=60,
            what="the postmortem with every timeline entry exactly once",
            describe=lambda: last.get("seen", ""),
        )

        # The postmortem is written before the status that says Resolved.
        def resolved() -> bool:
            phase = (watch.latest(name).get("status") or {}).get("phase")
            return phase in ("Resolved", "Closed")

        wait_for(resolved, timeout=30, what="the Incident Resolved")
    finally:
        watch.stop()
    incident = cluster.get("incident", name, namespace=namespace)
    annotations = incident["metadata"].get("annotations") or {}
    size = sum(len(k) + len(v) for k, v in annotations.items())
    cms = record_configmaps(cluster, namespace, name)
    biggest = max(sum(len(v) for v in (cm.get("data") or {}).values()) for cm in cms)
    print(
        f"{FLAPS} flaps + {UPDATES} updates in {flapped:.0f} s: {len(seen)} timeline entries; "
        f"annotations {size} B (archive {len(annotations.get(TIMELINE_ARCHIVE, ''))} B); "
        f"{len(cms)} ConfigMaps, largest {biggest} B"
    )
    assert incident["status"]["phase"] in ("Resolved", "Closed")
    assert len(incident["status"]["timeline"]) <= 20
    # The archive and a few small ones: kopf keeps no copy of the (100 KiB) spec there.
    assert size < record.BUDGET_BYTES + 1024
    assert biggest < CONFIGMAP_LIMIT // 2
    assert len(seen) >= FLAPS + UPDATES
    assert "422" not in receiver.operator.log()
