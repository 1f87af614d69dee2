"""Keeps the severity policy current from its ConfigMap, so a change applies without a
restart. A broken policy never replaces a working one: it is reported and ignored."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tourniquet.api.vocabulary import Reason
from tourniquet.core.severity_policy import (
    DEFAULT_POLICY,
    PolicyError,
    SeverityPolicy,
    parse_policy,
)
from tourniquet.shell.kube import Kube

log = logging.getLogger("tourniquet.policy")

POLICY_KEY = "policy.yaml"


class PolicyWatch:
    def __init__(self, ref: str, interval: float) -> None:
        namespace, _, name = ref.partition("/")
        self.namespace, self.name = (namespace, name) if name else ("", "")
        self.interval = interval
        self.policy: SeverityPolicy = DEFAULT_POLICY
        self._version: str | None = None
        self.error: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.name)

    async def refresh(self, kube: Kube) -> None:
        if not self.configured:
            return
        cm = await kube.get_configmap(self.namespace, self.name)
        if cm is None:
            if self._version is not None or self.error is None:
                log.warning(
                    "severity policy %s/%s not found; using the built-in playbook",
                    self.namespace,
                    self.name,
                )
            self.policy, self._version = DEFAULT_POLICY, None
            self.error = "not found"
            return
        version = cm["metadata"].get("resourceVersion")
        if version == self._version:
            return
        self._version = version
        text = (cm.get("data") or {}).get(POLICY_KEY, "")
        try:
            self.policy = parse_policy(text, source=f"configmap/{self.namespace}/{self.name}")
        except PolicyError as exc:
            self.error = str(exc)
            log.error(
                "severity policy %s/%s rejected, keeping the previous one: %s",
                self.namespace,
                self.name,
                exc,
            )
            await kube.post_event(
                _ref(cm),
                "Warning",
                Reason.POLICY_INVALID,
                f"ignored, the previous policy stays in force: {exc}",
            )
            return
        self.error = None
        log.info(
            "severity policy loaded from %s/%s (resourceVersion %s)",
            self.namespace,
            self.name,
            version,
        )
        await kube.post_event(_ref(cm), "Normal", Reason.POLICY_LOADED, "severity policy in force")

    async def run(self, kube: Kube) -> None:
        while True:
            try:
                await self.refresh(kube)
            except asyncio.CancelledError:
                raise
            except Exception:  # the API may be briefly away; the next poll retries
                log.exception("reading the severity policy failed")
            await asyncio.sleep(self.interval)


def _ref(cm: dict[str, Any]) -> dict[str, Any]:
    meta = cm["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
    }
