"""The demo, as the list of its steps: a title, why it matters, and what it does."""

from __future__ import annotations

from functools import partial

from devkit.demo import cluster_steps, incident_steps
from devkit.demo.narrator import Step
from devkit.demo.script import COMMANDER, DEPLOYMENT, IMAGE_BAD, IMAGE_GOOD, INTRUDER, NAMESPACE
from devkit.demo.session import Session


def steps(s: Session) -> list[Step]:
    return [
        Step(
            "Start the local control plane and install Tourniquet's API",
            "Tourniquet is tested against real Kubernetes components: etcd, kube-apiserver, "
            "kube-controller-manager and kube-scheduler, with kwok's fake nodes, built once "
            "from pinned sources (the first run takes minutes) and reused. Then what `make "
            "install` installs: the CRDs, the admission policies (only the Incident Commander "
            "approves; only the operator writes the record), the people roles and the "
            "operator's ServiceAccount.",
            partial(cluster_steps.control_plane, s),
        ),
        Step(
            "A fresh namespace, and who may do what",
            f"The demo plays in its own namespace, recreated on every run. {COMMANDER} will "
            f"be the Incident Commander, {INTRUDER} will not; RBAC gives both the same "
            "rights on Incidents (the shipped tourniquet-commander role, with the verb "
            "approve), so what stops the wrong person from approving is not RBAC but the API "
            "server's admission policy (step 7).",
            partial(cluster_steps.namespace, s),
        ),
        Step(
            "Start the operator",
            f"The IC approves, the operator acts. It runs as its own ServiceAccount (a token), "
            f"never as cluster admin, as in production. It watches only {NAMESPACE} (-n): "
            "other namespaces belong to other people. It serves /metrics and /healthz.",
            partial(cluster_steps.start_operator, s),
        ),
        Step(
            f"Deploy {DEPLOYMENT} v1 ({IMAGE_GOOD})",
            "A healthy service: three replicas on kwok's fake nodes. progressDeadlineSeconds: "
            "15 makes a stuck rollout visible in seconds instead of the default ten minutes.",
            partial(incident_steps.deploy_v1, s),
        ),
        Step(
            f"Roll out a bad v2 ({IMAGE_BAD})",
            "In this demo 'bad' means its pods can never become Ready, like a crash-looping "
            "release: a nodeSelector that matches no node. The new ReplicaSet is stuck and "
            "the Deployment exceeds its progress deadline.",
            partial(incident_steps.deploy_bad_v2, s),
        ),
        Step(
            "Declare the incident",
            "Mitigate before diagnosing: declare the Incident as soon as users hurt. "
            "Tourniquet names the most recent rollout in scope as the suspect and offers "
            "to undo it, with the exact command the Incident Commander runs to approve. It "
            "does nothing to the Deployment on its own.",
            partial(incident_steps.declare, s),
        ),
        Step(
            f"{INTRUDER} cannot approve",
            "RBAC lets her patch the Incident's status, but the ValidatingAdmissionPolicy "
            "tourniquet-incident-approval, checked by the API server itself, only accepts an "
            "approval made by spec.roles.commander in their own name. The operator acts only "
            "on approvals the API server has verified.",
            partial(incident_steps.intruder_denied, s),
        ),
        Step(
            f"The Incident Commander ({COMMANDER}) approves; the operator undoes the rollout",
            "The operator re-checks the approval and that the Deployment did not move on, "
            "then does what `kubectl rollout undo` does (with a resourceVersion "
            "precondition), and follows the rollout as `kubectl rollout status` would. "
            "Everything is recorded: status, timeline, Events.",
            partial(incident_steps.approve_and_undo, s),
        ),
        Step(
            "All clear",
            "The service is healthy again; the IC resolves the Incident. The timeline, "
            "written by the operator as things happened, is the start of the postmortem.",
            partial(incident_steps.resolve, s),
        ),
        Step(
            "MTTR from /metrics",
            "The same durations are Prometheus histograms: mean time to resolve is "
            "_sum / _count (in PromQL, rate(..._sum[1w]) / rate(..._count[1w])).",
            partial(incident_steps.metrics, s),
        ),
        Step(
            "Clean up",
            "Stop the operator gracefully (SIGTERM). The namespace stays for you to explore.",
            partial(cluster_steps.clean_up, s),
        ),
    ]
