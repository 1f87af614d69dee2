"""The playbook's own I/O: comms updates out to the notification webhooks, the
postmortem draft into its ConfigMap."""

from __future__ import annotations

import hashlib

import kopf

from tourniquet.api.vocabulary import Reason
from tourniquet.core import lifecycle as flow
from tourniquet.core import notifications as notify
from tourniquet.core import playbook, postmortem
from tourniquet.core.clock import format_time
from tourniquet.core.severity_policy import SeverityPolicy, SeverityRule
from tourniquet.notifications import delivery
from tourniquet.observability import metrics
from tourniquet.shell.status_writer import archived_timeline


async def forward_updates(
    d: flow.Draft, memo: kopf.Memo, policy: SeverityPolicy, rule: SeverityRule
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
            result = await delivery.deliver(memo.http, target, build(update, incident, rule))
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


async def write_postmortem(d: flow.Draft, memo: kopf.Memo) -> None:
    """The blameless draft, in a ConfigMap owned by the Incident; rewritten only when
    its content changes."""
    state = d.status.get("postmortem")
    if not isinstance(state, dict):
        return
    markdown = postmortem.render(d.snapshot(), archived_timeline=archived_timeline(d), now=d.now)
    # The "Generated at" line changes every time; the content is what counts.
    content = "\n".join(ln for ln in markdown.splitlines() if not ln.startswith("| Generated at"))
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    old = d.old.get("postmortem") or {}
    if old.get("digest") == digest:
        state.update(digest=digest, renderedAt=old.get("renderedAt"))
        return
    await memo.kube.apply_configmap(d.namespace, postmortem.configmap(d.snapshot(), markdown))
    if not old.get("digest"):
        d.record(
            Reason.POSTMORTEM_DRAFTED,
            f"blameless postmortem draft in configmap/{state['configMap']}; print it with "
            f"kubectl get configmap {state['configMap']} -n {d.namespace} "
            "-o jsonpath='{.data.postmortem\\.md}'",
            event=Reason.POSTMORTEM_DRAFTED,
        )
    state.update(digest=digest, renderedAt=format_time(d.now))
