"""Write the blameless postmortem draft into its ConfigMap, owned by the Incident."""

from __future__ import annotations

import hashlib

from tourniquet.api.vocabulary import Reason
from tourniquet.core import postmortem
from tourniquet.core.clock import format_time
from tourniquet.core.draft import Draft
from tourniquet.shell.failures import failure_of
from tourniquet.shell.kube import ApiException
from tourniquet.shell.runtime import Runtime
from tourniquet.shell.status_writer import archived_timeline
from tourniquet.shell.timeline_record import sealed_chunks, sealed_digests


async def write_postmortem(d: Draft, rt: Runtime) -> None:
    """The blameless draft, in a ConfigMap owned by the Incident; rewritten only when
    its content changes."""
    state = d.status.get("postmortem")
    if not isinstance(state, dict):
        return
    markdown = postmortem.render(
        d.snapshot(),
        archived_timeline=archived_timeline(d),
        now=d.now,
        sealed_chunks=sealed_chunks(d),
        sealed=sealed_digests(d),
    )
    # The "Generated at" line changes every time; the content is what counts.
    content = "\n".join(ln for ln in markdown.splitlines() if not ln.startswith("| Generated at"))
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    old = d.old.get("postmortem") or {}
    if old.get("digest") == digest:
        state.update(digest=digest, renderedAt=old.get("renderedAt"))
        return
    try:
        await rt.kube.apply_configmap(d.namespace, postmortem.configmap(d.snapshot(), markdown))
    except ApiException as exc:
        failure = failure_of(exc)
        if failure.retryable:
            raise
        # A definite no: somebody else's (or an immutable) ConfigMap holds the name, or
        # the confinement policy refuses it. Said once; tried again only when the content
        # changes, never on every pass.
        d.record(
            Reason.POSTMORTEM_NOT_WRITTEN,
            f"the postmortem draft could not be written to configmap/{state['configMap']}: "
            f"{failure.describe()}; delete or rename that ConfigMap and the draft follows",
            event=Reason.POSTMORTEM_NOT_WRITTEN,
            warning=True,
        )
        state.update(digest=digest, renderedAt=old.get("renderedAt"))
        return
    if not old.get("digest"):
        d.record(
            Reason.POSTMORTEM_DRAFTED,
            f"blameless postmortem draft in configmap/{state['configMap']}; print it with "
            f"kubectl get configmap {state['configMap']} -n {d.namespace} "
            "-o jsonpath='{.data.postmortem\\.md}'",
            event=Reason.POSTMORTEM_DRAFTED,
        )
    state.update(digest=digest, renderedAt=format_time(d.now))
