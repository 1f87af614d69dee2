"""`kubectl get KIND -n NS -w --output-watch-events -o json`, on a background thread,
every event stamped with time.monotonic() the moment its line arrives: timing without
polling (the resolution is the watch's delivery latency, a few ms)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devkit.kubectl import Cluster
from devkit.polling import WaitTimeout


@dataclass(frozen=True)
class Event:
    at: float  # time.monotonic() when the line arrived
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


class Watch:
    """Restarted if kubectl exits (the server ends watches after a while); a restart
    re-lists current objects as ADDED, so no state is missed, only late."""

    def __init__(self, cluster: Cluster, kind: str, namespace: str) -> None:
        self.cluster, self.kind, self.namespace = cluster, kind, namespace
        self.events: list[Event] = []
        self.restarts = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> Watch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping:
            watch = ("-w", "--output-watch-events", "-o", "json")
            self._proc = self.cluster.popen(
                "get", self.kind, "-n", self.namespace, *watch, stderr=subprocess.DEVNULL
            )
            assert self._proc.stdout is not None
            decoder, buffer = json.JSONDecoder(), ""
            for line in self._proc.stdout:
                at = time.monotonic()
                buffer += line
                # An event ends in a top-level "}": a line of its own when kubectl indents
                # it, the end of its one line when not. Only then is decoding worth trying
                # (at every line, a large object would be read once per line of it).
                end = line.rstrip("\r\n")
                if not (end == "}" or (end.startswith("{") and end.endswith("}"))):
                    continue
                try:
                    parsed, _ = decoder.raw_decode(buffer.strip())
                except json.JSONDecodeError:
                    continue  # an event printed over several lines: read on
                buffer = ""
                with self._cond:
                    self.events.append(Event(at, parsed.get("type", ""), parsed.get("object", {})))
                    self._cond.notify_all()
            self._proc.wait()
            if not self._stopping:
                self.restarts += 1

    def mark(self) -> int:
        """Where the events seen so far end: pass it as `since` to wait past them."""
        with self._cond:
            return len(self.events)

    def wait(
        self, predicate: Callable[[Event], bool], *, since: int, timeout: float, what: str
    ) -> Event:
        """The first event from index `since` on that satisfies `predicate` (WaitTimeout
        after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    last = (
                        (self.events[-1].name, self.events[-1].obj.get("status"))
                        if self.events
                        else None
                    )
                    raise WaitTimeout(f"no watch event for {what} in {timeout}s; last: {last}")
                self._cond.wait(remaining)

    def history(self, name: str, since: int = 0) -> list[Event]:
        with self._cond:
            return [e for e in self.events[since:] if e.name == name]

    def latest(self, name: str) -> dict[str, Any]:
        """The object as the last event showed it ({} before any)."""
        history = self.history(name)
        return history[-1].obj if history else {}

    def stop(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        self._thread.join(5)
