"""Persistent faults end in a clear record, not a hot loop: an undo the API server denies,
a postmortem ConfigMap the operator may not write (issue 13, point 1)."""

from __future__ import annotations

import time
from collections.abc import Callable

from devkit.incidents import (
    BAD,
    approve,
    condition,
    declare,
    events,
    get_incident,
    good_then_bad,
    mitigation_is,
    patch_incident,
    resolve,
    status,
    wait_incident,
)
from devkit.kubectl import Cluster
from devkit.operator import OperatorProcess
from devkit.polling import wait_for
from devkit.watch import Watch
from devkit.workloads import image_of

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

StartOperator = Callable[..., OperatorProcess]
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
# How long the Incident's writes are counted once the mitigation has failed. A hot loop
# writes several times a second (the resync runs every 0.5 s in the tests).
WINDOW_S = 60
MAX_WRITES = 12


def deny_operator_deployment_updates(cluster: Cluster, namespace: str) -> str:
    """A ValidatingAdmissionPolicy (bound with Deny) that answers 403 to the operator's
    Deployment updates in `namespace`: say, a policy that blocks the old image."""
    name = f"tq-deny-undo-{namespace}"[:63]
    cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": f"request.userInfo.username != '{OPERATOR_USER}'",
                        "message": "image rollbacks are blocked by the release freeze",
                        # 403, as an authorization-style policy answers (the default, 422,
                        # is what a schema-style one says)
                        "reason": "Forbidden",
                    }
                ],
            },
        }
    )
    cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        }
    )
    # Admission policies take effect a moment after they are created: wait until the
    # operator's identity is really refused (a server-side dry run changes nothing).
    wait_for(
        lambda: "release freeze"
        in cluster.kubectl(
            "annotate", "deployment/api", "-n", namespace, "tq-probe=1", "--dry-run=server",
            as_user=OPERATOR_USER, check=False,
        ).stderr,
        what="the deny policy in force",
    )  # fmt: skip
    return name


def foreign_postmortem(cluster: Cluster, namespace: str, incident: str) -> None:
    """Somebody else's immutable ConfigMap where the postmortem draft would go."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{incident}-postmortem"},
            "immutable": True,
            "data": {"owner": "not tourniquet"},
        },
        namespace,
    )


def writes(watch: Watch, name: str, since: int) -> int:
    return sum(1 for e in watch.history(name, since) if e.type == "MODIFIED")


def test_denied_undo_and_foreign_postmortem_end_in_a_record_not_a_loop(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    good_then_bad(cluster, namespace)
    policy = deny_operator_deployment_updates(cluster, namespace)
    try:
        foreign_postmortem(cluster, namespace, "api-errors")
        watch = Watch(cluster, "incidents", namespace).start()
        try:
            start_operator()
            declare(cluster, namespace)
            wait_incident(cluster, namespace, lambda i: bool(status(i).get("suspect")), "suspect")
            approve(cluster, namespace, 2)
            incident = wait_incident(
                cluster, namespace, mitigation_is("Failed"), "the undo Failed", timeout=60
            )
            mitigation = status(incident)["mitigation"]
            assert mitigation["reason"] == "UndoRejected", mitigation
            assert "release freeze" in mitigation["message"] and "403" in mitigation["message"]
            assert image_of(cluster, namespace) == BAD, "the denied undo changed nothing"

            resolve(cluster, namespace)
            incident = wait_incident(
                cluster,
                namespace,
                lambda i: any(
                    e["kind"] == "PostmortemNotWritten" for e in status(i).get("timeline") or []
                ),
                "the refused postmortem on the record",
            )
            assert condition(incident, "Ready")["status"] == "True", condition(incident, "Ready")
            assert events(cluster, namespace, "reason=PostmortemNotWritten")

            since = watch.mark()
            start = time.monotonic()
            wait_for(
                lambda: (
                    time.monotonic() - start >= WINDOW_S
                    or writes(watch, "api-errors", since) > MAX_WRITES
                ),
                timeout=WINDOW_S + 10,
                interval=1,
                what="the observation window",
            )
            count = writes(watch, "api-errors", since)
            print(f"\nIncident writes in {WINDOW_S}s after the failures: {count}")
            assert count <= MAX_WRITES, f"{count} Incident writes in {WINDOW_S}s: a hot loop"
            final = get_incident(cluster, namespace)
            reasons = [c.get("reason") for c in status(final).get("conditions") or []]
            assert "ReconcileError" not in reasons, status(final)["conditions"]
        finally:
            watch.stop()
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                        policy, "--ignore-not-found", check=False)  # fmt: skip


# --- point 7: nothing stuck -----------------------------------------------------------

COMPLETE_POSTMORTEM = {
    "spec": {
        "postmortem": {
            "summary": "A bad api release returned 5xx for 12 minutes.",
            "impact": "About 4% of api requests failed.",
            "rootCauses": ["The release had no canary stage"],
            "wentWell": ["The suspect rollout was found in seconds"],
            "wentPoorly": ["The first status page update came late"],
            "actionItems": [
                {
                    "title": "Add a canary stage",
                    "owner": "carol",
                    "due": "2099-01-15",
                    "ticket": "https://tickets.example/OPS-1",
                    "done": True,
                }
            ],
        }
    }
}


def test_a_closed_incident_holds_no_finalizer_and_no_timer(
    cluster: Cluster, namespace: str, people: tuple[str, ...], start_operator: StartOperator
) -> None:
    op = start_operator()
    declare(cluster, namespace)
    wait_incident(cluster, namespace, lambda i: bool(status(i).get("declaredAt")), "declared")
    assert get_incident(cluster, namespace)["metadata"].get("finalizers"), "open: finalized"
    resolve(cluster, namespace)
    patch_incident(cluster, namespace, COMPLETE_POSTMORTEM)
    wait_incident(cluster, namespace, lambda i: status(i).get("phase") == "Closed", "Closed")
    wait_incident(
        cluster,
        namespace,
        lambda i: not i["metadata"].get("finalizers"),
        "the finalizer released once Closed",
    )
    # No timer re-renders a Closed incident's postmortem (the follow-up runs every second
    # in the tests): over three seconds, nothing reconciles it.
    before = op.metric("tourniquet_reconciles_total")
    start = time.monotonic()
    wait_for(lambda: time.monotonic() - start > 3, interval=0.5, what="three seconds")
    assert op.metric("tourniquet_reconciles_total") == before

    # Uninstalled: the operator is gone for good. Deleting the namespace still completes.
    op.stop()
    done = cluster.kubectl(
        "delete", "namespace", namespace, "--wait=true", "--timeout=60s", check=False
    )
    assert done.returncode == 0, done.stderr
    assert not cluster.exists("namespace", namespace)
