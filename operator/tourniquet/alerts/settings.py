"""Settings of the alert receiver: `tourniquet run` flags, each with a TOURNIQUET_* default.

--alerts-addr HOST:PORT            serve the Alertmanager webhook (POST /alerts); off when empty
--alerts-token-secret NS/NAME      the Secret whose key `token` is the bearer token
--alerts-namespace NS              where alerts no runbook answers declare incidents
--alerts-default-commander USER    commander when the runbook names none (SEV1/SEV2 need one)
--resolve-on-alert-resolved        a resolved alert group gives the all-clear (default: off)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

ALERTS_PATH = "/alerts"
TOKEN_KEY = "token"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AlertSettings:
    addr: str = ""
    token_secret: str = ""
    namespace: str = ""
    default_commander: str = ""
    resolve_on_alert_resolved: bool = False
    #: The namespaces the operator watches; empty: all of them.
    watched: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> AlertSettings:
        watched = os.environ.get("TOURNIQUET_WATCH_NAMESPACES", "")
        return cls(
            addr=os.environ.get("TOURNIQUET_ALERTS_ADDR", ""),
            token_secret=os.environ.get("TOURNIQUET_ALERTS_TOKEN_SECRET", ""),
            namespace=os.environ.get("TOURNIQUET_ALERTS_NAMESPACE", ""),
            default_commander=os.environ.get("TOURNIQUET_ALERTS_DEFAULT_COMMANDER", ""),
            resolve_on_alert_resolved=_env_flag("TOURNIQUET_RESOLVE_ON_ALERT_RESOLVED"),
            watched=tuple(n for n in watched.split(",") if n),
        )

    @property
    def secret_ref(self) -> tuple[str, str]:
        namespace, _, name = self.token_secret.partition("/")
        return namespace, name

    @property
    def incident_namespace(self) -> str:
        """Where incidents of alerts no runbook answers go: --alerts-namespace, else the
        one watched namespace, else default."""
        if self.namespace:
            return self.namespace
        return self.watched[0] if len(self.watched) == 1 else "default"


def _secret_ref(value: str) -> str:
    namespace, slash, name = value.partition("/")
    if value and not (slash and namespace and name and "/" not in name):
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME, got {value!r}")
    return value


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The receiver's flags on `tourniquet run`."""
    defaults = AlertSettings.from_env()
    group = run.add_argument_group("alerts", "the Alertmanager webhook receiver")
    group.add_argument(
        "--alerts-addr",
        default=defaults.addr,
        metavar="HOST:PORT",
        help=f"serve the Alertmanager webhook (POST {ALERTS_PATH}) here; off when empty "
        "(TOURNIQUET_ALERTS_ADDR)",
    )
    group.add_argument(
        "--alerts-token-secret",
        type=_secret_ref,
        default=defaults.token_secret,
        metavar="NAMESPACE/NAME",
        help=f"Secret whose key {TOKEN_KEY!r} is the bearer token Alertmanager must send "
        "(required with --alerts-addr)",
    )
    group.add_argument(
        "--alerts-namespace",
        default=defaults.namespace,
        metavar="NAMESPACE",
        help="namespace for incidents of alerts no runbook answers "
        "(default: the one -n namespace, else default)",
    )
    group.add_argument(
        "--alerts-default-commander",
        default=defaults.default_commander,
        metavar="USER",
        help="Incident Commander of incidents from alerts when the runbook names none "
        "(SEV1 and SEV2 need one; without, they are declared as SEV3 with a warning)",
    )
    group.add_argument(
        "--resolve-on-alert-resolved",
        action="store_true",
        default=defaults.resolve_on_alert_resolved,
        help="give the all-clear when Alertmanager reports the alert group resolved "
        "(default: only the timeline records it; the commander resolves)",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.alerts_addr and not args.alerts_token_secret:
        parser.error("--alerts-addr needs --alerts-token-secret NAMESPACE/NAME")


def to_env(args: argparse.Namespace, namespaces: Sequence[str]) -> dict[str, str]:
    return {
        "TOURNIQUET_ALERTS_ADDR": args.alerts_addr,
        "TOURNIQUET_ALERTS_TOKEN_SECRET": args.alerts_token_secret,
        "TOURNIQUET_ALERTS_NAMESPACE": args.alerts_namespace,
        "TOURNIQUET_ALERTS_DEFAULT_COMMANDER": args.alerts_default_commander,
        "TOURNIQUET_RESOLVE_ON_ALERT_RESOLVED": "true" if args.resolve_on_alert_resolved else "",
        "TOURNIQUET_WATCH_NAMESPACES": ",".join(namespaces),
    }
