"""Operator configuration: command-line flags, each with a TOURNIQUET_* environment default."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from tourniquet.api.names import APPROVAL_POLICY_NAME


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
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
    # NAMESPACE/NAME of the severity policy ConfigMap (key policy.yaml); empty: the
    # built-in playbook. Re-read every policy_refresh_seconds.
    # status.timeline keeps this many entries; older ones move to an annotation and still
    # reach the postmortem.
    timeline_limit: int = 200
    policy_configmap: str = ""
    policy_refresh_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            metrics_addr=os.environ.get("TOURNIQUET_METRICS_ADDR", cls.metrics_addr),
            approval_policy=os.environ.get("TOURNIQUET_APPROVAL_POLICY", cls.approval_policy),
            trust_unverified_approvals=_env_flag("TOURNIQUET_TRUST_UNVERIFIED_APPROVALS"),
            rollout_timeout_seconds=float(
                os.environ.get("TOURNIQUET_ROLLOUT_TIMEOUT", cls.rollout_timeout_seconds)
            ),
            resync_seconds=float(os.environ.get("TOURNIQUET_RESYNC_SECONDS", cls.resync_seconds)),
            followup_seconds=float(
                os.environ.get("TOURNIQUET_FOLLOWUP_SECONDS", cls.followup_seconds)
            ),
            timeline_limit=int(os.environ.get("TOURNIQUET_TIMELINE_LIMIT", cls.timeline_limit)),
            policy_configmap=os.environ.get("TOURNIQUET_POLICY_CONFIGMAP", cls.policy_configmap),
            policy_refresh_seconds=float(
                os.environ.get("TOURNIQUET_POLICY_REFRESH_SECONDS", cls.policy_refresh_seconds)
            ),
        )


@functools.cache
def current() -> Settings:
    """The operator's settings, read once: `tourniquet run` sets the environment from its
    flags before the handlers are imported."""
    return Settings.from_env()
