"""Forward comms updates to every webhook the severity policy names for the incident's
severity."""

from __future__ import annotations

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core import notifications as notify
from tourniquet.core import playbook
from tourniquet.core.clock import format_time
from tourniquet.core.severity_policy import SeverityPolicy, SeverityRule
from tourniquet.notifications import delivery
from tourniquet.observability import metrics
from tourniquet.shell.runtime import Runtime


async def forward_updates(
    d: flow.Draft, rt: Runtime, policy: SeverityPolicy, rule: SeverityRule
) -> None:
    """Comms updates go to every webhook the policy names for this severity, at least
    once: a failed delivery is reported, never blocks the record."""
    pending = playbook.new_updates(d)
    if not pending:
        return
    targets = [
        t for t in policy.notifications if t.severities is None or d.severity in t.severities
    ]
    incident = d.snapshot()
    for _, update in pending:
        update = {**update, "at": update.get("at") or format_time(d.now)}
        if playbook.is_drill(d):
            update["message"] = f"[DRILL] {update.get('message', '')}"
        for target in targets:
            build = notify.slack_payload if target.format == "slack" else notify.json_payload
            result = await delivery.deliver(rt.http, target, build(update, incident, rule))
            metrics.NOTIFICATIONS.labels(
                target=target.name, result="delivered" if result.ok else "failed"
            ).inc()
            if not result.ok:
                d.notify(
                    Reason.NOTIFICATION_FAILED,
                    f"comms update not delivered to {target.name}: {result.error}",
                    warning=True,
                )
    playbook.record_updates(d, len(pending))
