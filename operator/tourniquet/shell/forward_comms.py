"""Forward comms updates to every webhook the severity policy names for the incident's
severity: staged on the draft here, delivered by the outbox once the status recording
them is written (shell/outbox.py)."""

from __future__ import annotations

from tourniquet.core import notifications as notify
from tourniquet.core import playbook
from tourniquet.core.clock import format_time
from tourniquet.core.draft import Draft
from tourniquet.core.severity_policy import SeverityPolicy, SeverityRule
from tourniquet.shell.outbox import Delivery


def stage_updates(d: Draft, policy: SeverityPolicy, rule: SeverityRule) -> None:
    """Comms updates go to every webhook the policy names for this severity; nothing here
    waits on a webhook. Sent once the status recording them is written: an operator
    killed between that write and the delivery does not send them again (the outbox is
    in memory), which is the price of never sending a batch twice."""
    pending = playbook.new_updates(d)
    if not pending:
        return
    targets = [
        t for t in policy.notifications if t.severities is None or d.severity in t.severities
    ]
    incident = d.snapshot()
    involved = {
        "apiVersion": d.api_version,
        "kind": d.kind,
        "metadata": {k: d.metadata.get(k) for k in ("name", "namespace", "uid")},
    }
    for _, update in pending:
        update = {**update, "at": update.get("at") or format_time(d.now)}
        if playbook.is_drill(d):
            update["message"] = f"[DRILL] {update.get('message', '')}"
        for target in targets:
            build = notify.slack_payload if target.format == "slack" else notify.json_payload
            d.outgoing.append(Delivery(target, build(update, incident, rule), involved))
    playbook.record_updates(d, len(pending))
