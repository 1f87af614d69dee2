"""A real Prometheus and a real Alertmanager on loopback, for the alert e2e tests.

The binaries are Debian's packages (`hack/install-promstack.sh`, which `make test`
runs): `prometheus` and `prometheus-alertmanager` (or `alertmanager`) on PATH, or named by
TOURNIQUET_PROMETHEUS_BINARY / TOURNIQUET_ALERTMANAGER_BINARY. Each test gets its own
pair with generated configuration in its tmp dir, on free ports, with clustering off;
they are stopped (and their logs attached to a failing test's report) afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from devkit.metrics import labelled_sum
from devkit.net import answers, free_port, http_get, http_json
from devkit.polling import wait_for
from devkit.process import LoggedProcess


def binary(env: str, *names: str) -> str | None:
    named = os.environ.get(env)
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in names if (found := shutil.which(name))), None)


def prometheus_binary() -> str | None:
    return binary("TOURNIQUET_PROMETHEUS_BINARY", "prometheus")


def alertmanager_binary() -> str | None:
    return binary("TOURNIQUET_ALERTMANAGER_BINARY", "prometheus-alertmanager", "alertmanager")


def version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return (out.stdout or out.stderr).splitlines()[0]


class Server:
    """One of the pair: its binary, its own directory and free port, its process."""

    name = ""

    def __init__(self, path: str, workdir: Path) -> None:
        self.path = path
        self.dir = workdir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: LoggedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, *flags: str) -> None:
        """Run it with `flags` on its port, until it answers /-/ready."""
        argv = [self.path, *flags, f"--web.listen-address=127.0.0.1:{self.port}"]
        self.process = LoggedProcess(self.name, argv, self.dir / f"{self.name}.log").start()
        wait_for(self.ready, timeout=60, what=f"{self.name} ready")

    def ready(self) -> bool:
        """Both servers answer /-/ready once they serve; a crash fails the wait at once."""
        assert self.process is not None
        return self.process.alive() and answers(f"{self.url}/-/ready")


class Alertmanager(Server):
    """Alertmanager with a webhook receiver per (name, url, token), routed by alertname."""

    name = "alertmanager"

    def config(
        self, receivers: Mapping[str, tuple[str, str]], routes: Mapping[str, str]
    ) -> dict[str, Any]:
        """receivers: name -> (webhook url, bearer token); routes: alertname -> receiver.
        Fast timers: a group is notified 1s after it fires and every 2s again."""
        timers = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "2s"}
        default = next(iter(receivers))
        return {
            "route": {
                "receiver": default,
                "group_by": ["alertname"],
                **timers,
                "routes": [
                    {"receiver": receiver, "matchers": [f'alertname="{alertname}"'], **timers}
                    for alertname, receiver in routes.items()
                ],
            },
            "receivers": [
                {
                    "name": name,
                    "webhook_configs": [
                        {
                            "url": url,
                            "send_resolved": True,
                            "max_alerts": 0,
                            "http_config": {
                                "authorization": {"type": "Bearer", "credentials": token}
                            },
                        }
                    ],
                }
                for name, (url, token) in receivers.items()
            ],
        }

    def start(
        self, receivers: Mapping[str, tuple[str, str]], routes: Mapping[str, str]
    ) -> Alertmanager:
        config = self.dir / "alertmanager.yml"
        config.write_text(yaml.safe_dump(self.config(receivers, routes)))
        self.launch(
            f"--config.file={config}",
            f"--storage.path={self.dir / 'data'}",
            "--cluster.listen-address=",  # no HA gossip: nothing else on the machine
            "--log.level=debug",
        )
        return self

    def metric(self, name: str, **labels: str) -> float:
        return labelled_sum(http_get(f"{self.url}/metrics"), name, labels)

    def notifications(self) -> float:
        """Webhook notifications attempted (failed ones included)."""
        return self.metric("alertmanager_notifications_total", integration="webhook")

    def failed_notifications(self) -> float:
        return self.metric("alertmanager_notifications_failed_total", integration="webhook")


class Prometheus(Server):
    """Prometheus evaluating the given alerting rules every second, sending to an
    Alertmanager, and scraping the given targets every second."""

    name = "prometheus"

    @property
    def rules_path(self) -> Path:
        return self.dir / "rules.yml"

    def write_rules(self, rules: Sequence[Mapping[str, Any]]) -> None:
        groups = {"groups": [{"name": "tourniquet-e2e", "interval": "1s", "rules": list(rules)}]}
        self.rules_path.write_text(yaml.safe_dump(groups))

    def start(
        self,
        rules: Sequence[Mapping[str, Any]],
        alertmanager: Alertmanager,
        scrape: Mapping[str, str],
    ) -> Prometheus:
        """scrape: job name -> host:port serving /metrics."""
        self.write_rules(rules)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules_path)],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}
                ]
            },
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in scrape.items()
            ],
        }
        path = self.dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.launch(
            f"--config.file={path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            "--web.enable-lifecycle",
            # re-send firing alerts to Alertmanager every second (default 1m)
            "--rules.alert.resend-delay=1s",
        )
        return self

    def reload(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.write_rules(rules)
        with urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/-/reload", method="POST"), timeout=10
        ) as r:
            assert r.status == 200

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL query (the HTTP API's data.result)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = http_json(url)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def targets_up(self) -> dict[str, str]:
        answer = http_json(f"{self.url}/api/v1/targets")
        return {t["labels"]["job"]: t["health"] for t in answer["data"]["activeTargets"]}


class PromStack:
    """The pair, started and stopped together."""

    def __init__(self, prometheus: str, alertmanager: str, workdir: Path) -> None:
        self.alertmanager = Alertmanager(alertmanager, workdir)
        self.prometheus = Prometheus(prometheus, workdir)

    def logs(self) -> str:
        parts = []
        for p in (self.prometheus.process, self.alertmanager.process):
            if p is not None:
                parts.append(f"--- {p.name} ---\n{p.log(limit=20000)}")
        return "\n".join(parts) or "(not started)"

    def stop(self) -> None:
        for p in (self.prometheus.process, self.alertmanager.process):
            if p is not None:
                p.stop(timeout=15)
