"""What the demo shows, as data: its names, its manifests, the commands it prints, and
the lines of /metrics worth reading. Pure (unit-tested in tests/unit/devkit)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from devkit import manifests
from devkit.incidents import approve_args
from devkit.manifests import NO_NODE

NAMESPACE = "tourniquet-demo"
INCIDENT = "api-errors"
DEPLOYMENT = "api"
COMMANDER = "alice"
INTRUDER = "mallory"
IMAGE_GOOD = "registry.example/api:1.4.2"
IMAGE_BAD = "registry.example/api:1.4.3"
# The shipped people role that holds the verb `approve` (make install applies it), bound
# here to the commander and the intruder alike.
COMMANDER_ROLE = "tourniquet-commander"
BINDING = "tourniquet-demo-commanders"
DEADLINE = 90.0  # the longest any wait of the demo may take

TTR = "tourniquet_incident_time_to_resolve_seconds"
TTM = "tourniquet_incident_time_to_mitigate_seconds"
METRIC_PREFIXES = (
    f"{TTR}_sum",
    f"{TTR}_count",
    f"{TTM}_sum",
    f"{TTM}_count",
    "tourniquet_rollbacks_total",
    "tourniquet_incidents_",
)
# What /metrics must say after the demo's one incident, as (name, labels, value).
EXPECTED_METRICS: tuple[tuple[str, dict[str, str], float], ...] = (
    ("tourniquet_incidents_declared_total", {"severity": "SEV1"}, 1.0),
    ("tourniquet_incidents_open", {"severity": "SEV1"}, 0.0),
    ("tourniquet_rollbacks_total", {"result": "succeeded"}, 1.0),
    ("tourniquet_rollbacks_total", {"result": "refused"}, 0.0),
    (f"{TTR}_count", {"severity": "SEV1"}, 1.0),
    (f"{TTM}_count", {"severity": "SEV1"}, 1.0),
)
TIMELINE = ("Declared", "SuspectIdentified", "Approved", "RolloutUndone", "Mitigated", "Resolved")


def shown(args: Sequence[str]) -> str:
    """A command as a user would type it (shell quoting)."""
    return shlex.join(args)


def approve_command(revision: int, approver: str = COMMANDER) -> list[str]:
    """The approval the Incident offers, as argv (without --as)."""
    args = approve_args(INCIDENT, NAMESPACE, revision, approver, target=DEPLOYMENT)
    return ["kubectl", *args]


def deployment_manifest(image: str, *, bad: bool = False) -> dict[str, Any]:
    """api with three replicas; a bad release also has a nodeSelector no node matches,
    so its pods never become Ready (a crash-looping release, for the demo's purpose).
    progressDeadlineSeconds 15 makes that visible in seconds."""
    return manifests.deployment(
        DEPLOYMENT,
        image,
        namespace=NAMESPACE,
        replicas=3,
        progress_deadline=15,
        node_selector=NO_NODE if bad else None,
    )


def incident_manifest() -> dict[str, Any]:
    return manifests.incident(
        INCIDENT,
        namespace=NAMESPACE,
        commander=COMMANDER,
        roles={"comms": "bob"},
        selector={"matchLabels": {"app": DEPLOYMENT}},
    )


def rbac_manifests() -> list[dict[str, Any]]:
    """The same rights on Incidents for the commander and the intruder, the verb approve
    included: RBAC is not what stops the wrong person from approving."""
    return [manifests.role_binding(BINDING, NAMESPACE, COMMANDER_ROLE, (COMMANDER, INTRUDER))]


def interesting_metric_lines(text: str) -> list[str]:
    """The lines of /metrics the demo prints (no _bucket, no comments, no other metrics)."""
    return [line for line in text.splitlines() if line.startswith(METRIC_PREFIXES)]


def grep_pattern() -> str:
    """`grep -E` for the same lines, as the demo prints the equivalent curl."""
    return "^(" + "|".join(re.escape(p) for p in METRIC_PREFIXES) + ")"
