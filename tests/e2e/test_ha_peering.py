"""High availability with kopf peering (issue 13, point 4), on the real control plane: two
operator processes as its ServiceAccount, one KopfPeering. Exactly one acts, both are
ready (the active one and a standby); the active one is SIGKILLed mid-undo (claimed, the
patch not yet sent), the standby takes over within the peering lifetime, and the incident
ends with exactly one undo.

kopf's peering CRD is installed here as the chart's README says (kopf's `peering.yaml`),
and the operator is granted the peering resource as the chart grants it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from devkit.incidents import (
    approve,
    declare,
    good_then_bad,
    mitigation_is,
    status,
    undo_events,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.manifests import rbac_binding, rbac_role, service_account
from devkit.operator import OperatorProcess
from devkit.polling import wait_for

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

StartOperator = Callable[..., OperatorProcess]

PEERING = "tourniquet"
LIFETIME = 8  # seconds: the standby takes over this long after the active one stops
REPLICAS = ("tourniquet-6f7c9d-x2k4q", "tourniquet-6f7c9d-p8m3z")  # as a Deployment names pods

KOPF_PEERING_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kopfpeerings.kopf.dev"},
    "spec": {
        "scope": "Namespaced",
        "group": "kopf.dev",
        "names": {"kind": "KopfPeering", "plural": "kopfpeerings", "singular": "kopfpeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                },
            }
        ],
    },
}


def install_peering(cluster: Cluster, namespace: str) -> None:
    cluster.apply(KOPF_PEERING_CRD)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=30s"
    )
    cluster.apply(
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}},
        namespace,
    )
    rules = [
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["kopfpeerings"],
            "verbs": ["get", "list", "watch", "patch"],
        }
    ]
    subject = service_account(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
    cluster.apply(rbac_role("tourniquet-peering", rules, namespace))
    cluster.apply(
        rbac_binding(
            "tourniquet-peering", "tourniquet-peering", [subject], namespace, role_kind="Role"
        )
    )


def test_one_replica_acts_and_the_standby_takes_over_mid_undo(
    cluster: Cluster,
    namespace: str,
    people: tuple[str, ...],
    start_operator: StartOperator,
    tmp_path: Path,
) -> None:
    install_peering(cluster, namespace)
    good_then_bad(cluster, namespace)
    # Whichever replica acts stops between its claim and the undo's patch while this file
    # exists (devkit's hold point), to be SIGKILLed there.
    hold = tmp_path / "hold"
    hold.write_text("")
    replicas = [
        start_operator(
            "--peering",
            PEERING,
            POD_NAME=pod,
            TOURNIQUET_PEERING_LIFETIME=str(LIFETIME),
            TOURNIQUET_HOLD_AT="before-undo-patch",
            TOURNIQUET_HOLD_FILE=str(hold),
        )
        for pod in REPLICAS
    ]
    wait_for(
        lambda: all(op.ready() for op in replicas),
        timeout=30,
        what="both replicas ready: the active one and a standby",
    )

    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
    acting = [op for op in replicas if op.metric("tourniquet_reconciles_total") > 0]
    assert len(acting) == 1, "exactly one replica acts"
    active = acting[0]
    standby = next(op for op in replicas if op is not active)

    approve(cluster, namespace, 2, as_user="alice")
    wait_for(
        lambda: Path(f"{hold}.reached").exists(),
        timeout=30,
        what="the active replica claimed the undo and holds before its patch",
    )
    active.kill()
    killed = time.monotonic()
    hold.unlink()  # the standby must not wait there
    assert undo_events(cluster, namespace) == 0
    incident = wait_incident(
        cluster, namespace, mitigation_is("Succeeded"), "Succeeded", timeout=LIFETIME + 60
    )
    took = time.monotonic() - killed
    print(f"standby took over and finished the undo {took:.1f} s after the active one died")
    assert took < LIFETIME + 30
    wait_for(lambda: undo_events(cluster, namespace) == 1, what="one RolloutUndone Event")
    kinds = [e["kind"] for e in status(incident)["timeline"]]
    assert kinds.count("RolloutUndone") == 1, kinds
    assert standby.ready()
