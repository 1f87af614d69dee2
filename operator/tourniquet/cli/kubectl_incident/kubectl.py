"""The thin part: every request is a kubectl command, with the user's kubectl flags, so
kubectl's authentication, contexts and impersonation apply exactly, and a refusal is the
API server's own message."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tourniquet.cli.kubectl_incident.invocation import KubectlFlags
from tourniquet.cli.kubectl_incident.stream import JsonStream

#: Which kubectl to run: $KUBECTL when set (e.g. a pinned one), else kubectl on PATH.
KUBECTL_ENV = "KUBECTL"


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; `stderr` is what it (and the API server) said."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(result.stderr.strip() or f"kubectl exited {result.returncode}")
        self.returncode = result.returncode or 1
        self.stderr = result.stderr


@dataclass(frozen=True)
class Kubectl:
    flags: KubectlFlags
    binary: str = field(default_factory=lambda: os.environ.get(KUBECTL_ENV) or "kubectl")

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *args, *self.flags.args]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl ARGS; KubectlFailed when it exits non-zero."""
        try:
            result = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True)
        except FileNotFoundError:
            message = f"error: {self.binary} not found: install kubectl or set ${KUBECTL_ENV}\n"
            raise KubectlFailed(subprocess.CompletedProcess(args, 1, "", message)) from None
        if result.returncode != 0:
            raise KubectlFailed(result)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def whoami(self) -> str:
        """Your user name as the API server sees it (SelfSubjectReview; honours --as)."""
        review = self.json("auth", "whoami")
        return str(review["status"]["userInfo"]["username"])

    def watch(self, *args: str) -> Iterator[Any]:
        """`kubectl get ARGS -o json --watch`: each version of the object as it changes."""
        proc = subprocess.Popen(
            self.argv(*args, "-o", "json", "--watch"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stream = JsonStream()
        try:
            for line in proc.stdout:
                yield from stream.feed(line)
        finally:
            proc.terminate()
            proc.wait()
        if proc.returncode not in (0, -15):
            raise KubectlFailed(
                subprocess.CompletedProcess(args, proc.returncode, "", proc.stderr.read())
            )
