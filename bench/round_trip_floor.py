"""The floor under approval -> Deployment patched: the two round trips the undo cannot do
without (the claim, a status patch of the Incident; the undo, a JSON patch of the
Deployment), timed on their own with the operator's client and identity, on the very
objects of a run, as dry runs (the API server admits and validates them, stores nothing).

What the operator adds on top of their sum is its own cost: the watch delivering the
approval, the reconcile, the thread hops. The sum is what a sequential claim-then-patch
can reach on this control plane; it grows with the Incident's size (the API server's work
per status patch does, ~7 ms for a bare Incident, ~12 ms for one with its record)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

from tourniquet.api.names import GROUP, INCIDENTS, VERSION
from tourniquet.shell.kube import Kube

REPEATS = 5


@dataclass(frozen=True)
class Floor:
    claim_ms: float
    patch_ms: float


def measure(kubeconfig: str, incident: Mapping[str, Any], deployment: str) -> Floor:
    """`kubeconfig`: the operator's identity (which may list and watch Incidents, not get
    them: `incident` is the body a watch delivered)."""
    return asyncio.run(_measure(kubeconfig, incident, deployment))


async def _measure(kubeconfig: str, incident: Mapping[str, Any], deployment: str) -> Floor:
    client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    custom, kube = kubernetes.client.CustomObjectsApi(client), Kube(client)
    try:
        namespace, name = incident["metadata"]["namespace"], incident["metadata"]["name"]
        status = incident.get("status") or {}
        # What a claim writes: the mitigation, its condition and its timeline entries.
        claim = {k: status[k] for k in ("mitigation", "conditions", "timeline") if k in status}
        target = await kube.get_deployment(namespace, deployment)
        assert target is not None, f"deployment/{deployment} is gone"
        undo = [
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": target["metadata"]["resourceVersion"]},
            {"op": "replace", "path": "/spec/template", "value": target["spec"]["template"]},
        ]  # fmt: skip

        async def claim_once() -> None:
            # As the operator's Kube sends it: the synchronous client, in a thread.
            await asyncio.to_thread(
                custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                INCIDENTS,
                name,
                {"status": claim},
                _content_type="application/merge-patch+json",
                dry_run="All",
            )

        async def patch_once() -> None:
            await kube.json_patch_deployment(namespace, deployment, undo, dry_run=True)

        return Floor(await _median(claim_once), await _median(patch_once))
    finally:
        client.close()


async def _median(call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        await call()
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)
