"""Comms never delay the undo: webhooks that accept and never answer (issue 13, point 2)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from devkit.incidents import (
    GOOD,
    approve,
    declare,
    events,
    get_incident,
    good_then_bad,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.watch import Watch
from devkit.workloads import template_image
from test_playbook import add_update, fast_policy, run_with_policy

StartOperator = Callable[..., OperatorProcess]


class Silent:
    """A TCP server that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def test_dead_webhooks_never_delay_the_undo(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    silent: Silent,
) -> None:
    policy = fast_policy(
        notifications=[
            {"name": "chat", "url": f"{silent.url}/slack", "format": "slack"},
            {"name": "status-page", "url": f"{silent.url}/json", "format": "json"},
        ]
    )
    good_then_bad(cluster, namespace)
    op = run_with_policy(start_operator, cluster, namespace, policy)
    declare(cluster, namespace, roles={"comms": "bob"}, updates=[])
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    deployments = Watch(cluster, "deployments", namespace).start()
    try:
        for n in range(3):
            add_update(cluster, namespace, "bob", f"investigating, update {n + 1}", as_user="bob")
        since = deployments.mark()
        approve(cluster, namespace, 2)
        approved = time.monotonic()
        undone = deployments.wait(
            lambda e: e.name == "api" and template_image(e.obj) == GOOD,
            since=since,
            timeout=60,
            what="the undo patch",
        )
    finally:
        deployments.stop()
    latency = undone.at - approved
    print(f"\napproval -> Deployment patched: {latency:.3f}s")
    # Not a speed goal (make bench measures that): the undo did not wait for a webhook.
    # One delivery waiting on the hung webhooks inline would take its 2 s x 3 attempts.
    assert latency < 5.0, f"approval -> Deployment patched took {latency:.2f}s"

    # The updates are on the record, and each delivery failed on its own short clock.
    incident = wait_incident(
        cluster, namespace, lambda i: (status(i).get("comms") or {}).get("delivered") == 3, "3"
    )
    assert status(incident)["mitigation"]["result"] in ("InProgress", "Succeeded")
    wait_for(
        lambda: op.metric("tourniquet_notifications_total", result="failed") == 6,
        timeout=30,
        what="six failed deliveries (3 updates x 2 webhooks)",
        describe=lambda: str(op.metric("tourniquet_notifications_total", result="failed")),
    )
    wait_for(
        lambda: len(events(cluster, namespace, "reason=NotificationFailed")) >= 1,
        what="a NotificationFailed Event",
    )
    # Never sent twice: each update reached each webhook's socket at most three times
    # (its attempts), whatever the number of reconciles and status writes.
    assert len(silent.accepted) <= 3 * 3 * 2
    assert get_incident(cluster, namespace)["status"]["comms"]["delivered"] == 3
