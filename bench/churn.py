"""A steady churn of Deployment updates for `make bench-scale`: an annotation bumped
round-robin over the populated Deployments at a fixed rate, for as long as it runs.

Sent from an asyncio loop in a thread over one aiohttp connection pool, with `WORKERS`
requests in flight: the synchronous client from a thread pool topped out at ~60 updates/s
on this 2-core machine (the GIL and urllib3, not the API server), short of the 100/s the
benchmark asks for. Each Deployment update also makes the deployment controller update its
ReplicaSet's annotations, so the operator's watches see about twice as many events."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence

import aiohttp
import kubernetes
from devkit.kubectl import Cluster

from tourniquet.shell.api_stream import ApiAccess


class Churn:
    #: Enough in flight that the API server's latency, not the sender, sets the pace.
    WORKERS = 16

    def __init__(self, cluster: Cluster, spaces: Sequence[str], per: int, rate: float) -> None:
        client = kubernetes.config.new_client_from_config(config_file=cluster.kubeconfig)
        self.access = ApiAccess(client.configuration)
        self.spaces, self.per, self.rate = spaces, per, rate
        self.sent = self.failed = 0
        self.achieved = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> Churn:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.achieved = self.sent / (time.monotonic() - self.started)
        self._stop.set()
        self._thread.join(timeout=30)

    async def _main(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.WORKERS)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session, w) for w in range(self.WORKERS)))

    async def _worker(self, session: aiohttp.ClientSession, worker: int) -> None:
        # Each worker keeps its own schedule, so a slow answer is caught up, not lost.
        interval = self.WORKERS / self.rate
        due = time.monotonic() + worker * interval / self.WORKERS
        i = worker
        while not self._stop.is_set():
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += interval
            namespace = self.spaces[i % len(self.spaces)]
            name = f"app-{(i // len(self.spaces)) % self.per}"
            url = f"{self.access.base}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            headers = {**self.access.headers(), "Content-Type": "application/merge-patch+json"}
            body = json.dumps({"metadata": {"annotations": {"tq.bench/churn": str(i)}}})
            try:
                async with session.patch(
                    url, data=body, headers=headers, ssl=self.access.ssl
                ) as response:
                    await response.read()
                    ok = response.status < 300
            except aiohttp.ClientError:
                ok = False  # a lost update is counted as not sent, not fatal
            if ok:
                self.sent += 1
            else:
                self.failed += 1
            i += self.WORKERS
