"""`tourniquet run`'s flags, each with a TOURNIQUET_* environment default, and the one
Settings object they build. The environment is read here and nowhere else."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from tourniquet.alerts.settings import ALERTS_PATH, TOKEN_KEY, AlertSettings
from tourniquet.shell.settings import TIMELINE_LIMIT_RANGE, Settings

DEFAULTS = Settings()


def env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _secret_ref(value: str) -> str:
    namespace, slash, name = value.partition("/")
    if value and not (slash and namespace and name and "/" not in name):
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME, got {value!r}")
    return value


def add_run_arguments(run: argparse.ArgumentParser, env: Mapping[str, str] = os.environ) -> None:
    def default(name: str, value: object) -> str:
        return env.get(f"TOURNIQUET_{name}", str(value))

    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    run.add_argument(
        "--metrics-addr",
        default=default("METRICS_ADDR", DEFAULTS.metrics_addr),
        help="host:port for /metrics, /healthz, /readyz [%(default)s] (TOURNIQUET_METRICS_ADDR)",
    )
    run.add_argument(
        "--approval-policy",
        default=default("APPROVAL_POLICY", DEFAULTS.approval_policy),
        help="ValidatingAdmissionPolicy that verifies approvals [%(default)s]",
    )
    run.add_argument(
        "--trust-unverified-approvals",
        action="store_true",
        default=env_flag(env, "TOURNIQUET_TRUST_UNVERIFIED_APPROVALS"),
        help="act on approvals even when that policy is not installed (unsafe)",
    )
    run.add_argument(
        "--rollout-timeout",
        type=float,
        default=default("ROLLOUT_TIMEOUT", DEFAULTS.rollout_timeout_seconds),
        help="seconds an undo's rollout may take before it is Failed [%(default)s]",
    )
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=default("RESYNC_SECONDS", DEFAULTS.resync_seconds),
        help="how often open incidents are re-checked [%(default)s]",
    )
    run.add_argument(
        "--followup-seconds",
        type=float,
        default=default("FOLLOWUP_SECONDS", DEFAULTS.followup_seconds),
        help="how often resolved incidents are checked for postmortem deadlines [%(default)s]",
    )
    run.add_argument(
        "--timeline-limit",
        type=int,
        default=default("TIMELINE_LIMIT", DEFAULTS.timeline_limit),
        help=f"entries kept in status.timeline ({TIMELINE_LIMIT_RANGE[0]} to "
        f"{TIMELINE_LIMIT_RANGE[1]}); older ones are archived for the postmortem [%(default)s]",
    )
    run.add_argument(
        "--policy-configmap",
        default=default("POLICY_CONFIGMAP", DEFAULTS.policy_configmap),
        metavar="NAMESPACE/NAME",
        help="severity policy ConfigMap (key policy.yaml); default: the built-in playbook",
    )
    run.add_argument(
        "--policy-refresh-seconds",
        type=float,
        default=default("POLICY_REFRESH_SECONDS", DEFAULTS.policy_refresh_seconds),
        help="how often the policy ConfigMap is re-read [%(default)s]",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        default=env.get("TOURNIQUET_PEERING") or None,
        help="coordinate several replicas through this KopfPeering "
        "(default: standalone, one replica)",
    )
    run.add_argument(
        "--peering-lifetime",
        type=int,
        metavar="SECONDS",
        default=default("PEERING_LIFETIME", DEFAULTS.peering_lifetime),
        help="how long a replica's peering keepalive counts: a standby takes over this "
        "long after the active replica stops [%(default)s]",
    )
    run.add_argument("-v", "--verbose", action="store_true")
    _add_alert_arguments(run, env)


def _add_alert_arguments(run: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    group = run.add_argument_group("alerts", "the Alertmanager webhook receiver")
    group.add_argument(
        "--alerts-addr",
        default=env.get("TOURNIQUET_ALERTS_ADDR", ""),
        metavar="HOST:PORT",
        help=f"serve the Alertmanager webhook (POST {ALERTS_PATH}) here; off when empty "
        "(TOURNIQUET_ALERTS_ADDR)",
    )
    group.add_argument(
        "--alerts-token-secret",
        type=_secret_ref,
        default=env.get("TOURNIQUET_ALERTS_TOKEN_SECRET", ""),
        metavar="NAMESPACE/NAME",
        help=f"Secret whose key {TOKEN_KEY!r} is the bearer token Alertmanager must send "
        "(required with --alerts-addr)",
    )
    group.add_argument(
        "--alerts-namespace",
        default=env.get("TOURNIQUET_ALERTS_NAMESPACE", ""),
        metavar="NAMESPACE",
        help="namespace for incidents of alerts no runbook answers "
        "(default: the one -n namespace, else default)",
    )
    group.add_argument(
        "--alerts-default-commander",
        default=env.get("TOURNIQUET_ALERTS_DEFAULT_COMMANDER", ""),
        metavar="USER",
        help="Incident Commander of incidents from alerts when the runbook names none "
        "(SEV1 and SEV2 need one; without, they are declared as SEV3 with a warning)",
    )
    group.add_argument(
        "--resolve-on-alert-resolved",
        action="store_true",
        default=env_flag(env, "TOURNIQUET_RESOLVE_ON_ALERT_RESOLVED"),
        help="give the all-clear when Alertmanager reports the alert group resolved "
        "(default: only the timeline records it; the commander resolves)",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.alerts_addr and not args.alerts_token_secret:
        parser.error("--alerts-addr needs --alerts-token-secret NAMESPACE/NAME")


def settings(args: argparse.Namespace) -> Settings:
    """The one Settings object of this run."""
    namespaces = tuple(args.namespace)
    low, high = TIMELINE_LIMIT_RANGE
    return Settings(
        namespaces=namespaces,
        peering=args.peering,
        peering_lifetime=args.peering_lifetime,
        metrics_addr=args.metrics_addr,
        approval_policy=args.approval_policy,
        trust_unverified_approvals=args.trust_unverified_approvals,
        rollout_timeout_seconds=float(args.rollout_timeout),
        resync_seconds=float(args.resync_seconds),
        followup_seconds=float(args.followup_seconds),
        timeline_limit=max(low, min(int(args.timeline_limit), high)),
        policy_configmap=args.policy_configmap,
        policy_refresh_seconds=float(args.policy_refresh_seconds),
        alerts=AlertSettings(
            addr=args.alerts_addr,
            token_secret=args.alerts_token_secret,
            namespace=args.alerts_namespace,
            default_commander=args.alerts_default_commander,
            resolve_on_alert_resolved=args.resolve_on_alert_resolved,
            watched=namespaces,
        ),
    )
