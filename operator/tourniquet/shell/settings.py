"""The operator's settings: one immutable object, built once by the CLI from its flags
(each flag with a TOURNIQUET_* environment default) and handed to the shell."""

from __future__ import annotations

from dataclasses import dataclass, field

from tourniquet.alerts.settings import AlertSettings
from tourniquet.api.names import APPROVAL_POLICY_NAME

TIMELINE_LIMIT_RANGE = (10, 200)


@dataclass(frozen=True)
class Settings:
    #: The namespaces watched; empty: all of them.
    namespaces: tuple[str, ...] = ()
    #: A KopfPeering name for several replicas; None: standalone, one replica.
    peering: str | None = None
    #: Seconds a replica's peering keepalive is valid: a standby takes over this long
    #: after the active replica stops (kopf's default is 60).
    peering_lifetime: int = 60
    metrics_addr: str = "127.0.0.1:8080"
    # The ValidatingAdmissionPolicy that makes the API server check who approves.
    approval_policy: str = APPROVAL_POLICY_NAME
    # Only for clusters that cannot run admission policies: act on approvals the
    # API server did not verify. Off by default, and loud when on.
    trust_unverified_approvals: bool = False
    # How long a rollout after the undo may take before the mitigation is Failed,
    # on top of the Deployment's own progressDeadlineSeconds.
    rollout_timeout_seconds: float = 600.0
    # How often open incidents are re-checked against the in-memory indexes
    # (newer rollouts, rollout progress). Reads no API when nothing changed.
    resync_seconds: float = 2.0
    # Resolved incidents: postmortem and action-item deadlines are checked this often.
    followup_seconds: float = 60.0
    # status.timeline keeps this many entries; older ones move to an annotation and still
    # reach the postmortem.
    timeline_limit: int = 200
    # NAMESPACE/NAME of the severity policy ConfigMap (key policy.yaml); empty: the
    # built-in playbook. Re-read every policy_refresh_seconds.
    policy_configmap: str = ""
    policy_refresh_seconds: float = 10.0
    alerts: AlertSettings = field(default_factory=AlertSettings)
