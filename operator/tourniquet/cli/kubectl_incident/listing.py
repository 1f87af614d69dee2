"""Names for completion, asked of the cluster with kubectl (and the flags typed so far).
A failure (no cluster, no permission) offers nothing rather than an error mid-<TAB>."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from tourniquet.cli.kubectl_incident.kubectl import KUBECTL_ENV

TIMEOUT_SECONDS = 5


class KubectlLister:
    def __init__(self) -> None:
        self.binary = os.environ.get(KUBECTL_ENV) or "kubectl"

    def _names(self, *args: str) -> list[str]:
        try:
            result = subprocess.run(
                [self.binary, *args], capture_output=True, text=True, timeout=TIMEOUT_SECONDS
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        return result.stdout.split() if result.returncode == 0 else []

    def incidents(self, kubectl_args: Sequence[str]) -> list[str]:
        return self._names(
            "get", "incidents", "-o", "jsonpath={.items[*].metadata.name}", *kubectl_args
        )

    def namespaces(self, kubectl_args: Sequence[str]) -> list[str]:
        return self._names(
            "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}", *kubectl_args
        )

    def contexts(self, kubectl_args: Sequence[str]) -> list[str]:
        return self._names("config", "get-contexts", "-o", "name", *kubectl_args)
