"""`tourniquet run`'s flags: environment defaults, validation, and the one Settings."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import pytest

from tourniquet.alerts.settings import AlertSettings
from tourniquet.cli import flags
from tourniquet.shell.settings import Settings


def parse(
    *argv: str, env: Mapping[str, str] | None = None
) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    flags.add_run_arguments(parser, env or {})
    return parser, parser.parse_args(argv)


def test_defaults_are_the_settings_defaults() -> None:
    _, args = parse()
    assert flags.settings(args) == Settings()


def test_environment_defaults_and_flags_build_one_settings_object() -> None:
    env = {
        "TOURNIQUET_METRICS_ADDR": "127.0.0.1:9999",
        "TOURNIQUET_POLICY_CONFIGMAP": "ops/policy",
        "TOURNIQUET_TRUST_UNVERIFIED_APPROVALS": "yes",
        "TOURNIQUET_RESOLVE_ON_ALERT_RESOLVED": "true",
    }
    _, args = parse(
        "-n",
        "team-api",
        "--alerts-addr",
        "127.0.0.1:9095",
        "--alerts-token-secret",
        "ops/alert-token",
        "--alerts-default-commander",
        "oncall",
        "--timeline-limit",
        "5000",
        env=env,
    )
    settings = flags.settings(args)
    assert settings.namespaces == ("team-api",)
    assert settings.metrics_addr == "127.0.0.1:9999"
    assert settings.policy_configmap == "ops/policy"
    assert settings.trust_unverified_approvals is True
    assert settings.timeline_limit == 200  # clamped to the supported range
    alerts = settings.alerts
    assert alerts.addr == "127.0.0.1:9095"
    assert alerts.secret_ref == ("ops", "alert-token")
    assert alerts.default_commander == "oncall"
    assert alerts.resolve_on_alert_resolved is True
    assert alerts.watched == ("team-api",)
    assert alerts.incident_namespace == "team-api"
    assert AlertSettings(namespace="x").incident_namespace == "x"
    assert AlertSettings(watched=("a", "b")).incident_namespace == "default"


def test_receiver_needs_a_token_secret() -> None:
    parser, args = parse("--alerts-addr", "127.0.0.1:9095")
    with pytest.raises(SystemExit):
        flags.check(parser, args)
    for bad in ("nosecret", "ns/", "/name", "a/b/c"):
        with pytest.raises(SystemExit):
            parse("--alerts-token-secret", bad)
