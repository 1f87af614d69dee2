"""The demo's stage: the control plane with Tourniquet's API (step 1), a fresh namespace
with its people (2), the operator (3), and the clean-up (11)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devkit.cluster import INSTALL, ClusterUnavailable, local_cluster
from devkit.demo.narrator import DemoFailed
from devkit.demo.script import (
    COMMANDER,
    DEADLINE,
    INCIDENT,
    INTRUDER,
    NAMESPACE,
    rbac_manifests,
    shown,
)
from devkit.demo.session import Session
from devkit.identity import operator_cluster
from devkit.incidents import strip_finalizers, wait_namespace_gone
from devkit.manifests import to_yaml
from devkit.operator import OperatorProcess, stop_orphan
from devkit.paths import REPO


def control_plane(s: Session) -> None:
    n = s.narrator
    n.command("hack/cluster.sh up")
    try:
        s.cluster = local_cluster(progress=None)  # its progress goes to the terminal
    except ClusterUnavailable as exc:
        raise DemoFailed(str(exc)) from exc
    n.output(f"export KUBECONFIG={s.c.kubeconfig}")
    n.note(f"`kubectl` below is {s.c.kubectl_bin} (the API server's version)")
    n.note(f"and KUBECONFIG={s.c.kubeconfig}")
    n.blank()
    for args in INSTALL:
        s.k.show(*args, timeout=90)


def namespace(s: Session) -> None:
    n, k = s.narrator, s.k
    stale = stop_orphan(s.pidfile, NAMESPACE)
    if stale is not None:
        n.note(f"stopped the operator a previous demo left running (pid {stale})")
    if s.c.exists("namespace", NAMESPACE):
        # No operator runs now: nobody would remove the finalizers of the old Incidents,
        # and the namespace would never go away.
        for name in strip_finalizers(s.c, NAMESPACE):
            n.note(f"incident {name} had a finalizer and no operator to remove it: removed")
        k.show("delete", "namespace", NAMESPACE, "--wait=false")
        with n.waiting(f"namespace {NAMESPACE} to be gone", DEADLINE):
            wait_namespace_gone(s.c, NAMESPACE, DEADLINE)
    k.show("create", "namespace", NAMESPACE)
    n.blank()
    rbac = s.write("rbac.yaml", to_yaml(*rbac_manifests()))
    s.cat(rbac)
    k.show("apply", "-f", str(rbac))
    for user in (COMMANDER, INTRUDER):
        for verb, sub in (("patch", ["--subresource=status"]), ("approve", [])):
            answer = k.show(
                "auth", "can-i", verb, "incidents.tourniquet.dev", *sub, "-n", NAMESPACE,
                as_user=user,
            )  # fmt: skip
            if answer.strip() != "yes":
                raise DemoFailed(f"RBAC should let {user} {verb} incidents")


def start_operator(s: Session) -> None:
    n = s.narrator
    identity = s.workdir / "operator.kubeconfig"
    python = Path(sys.executable)
    typed = str(python.relative_to(REPO)) if python.is_relative_to(REPO) else str(python)
    # What `make run` does: a kubeconfig with a token of the operator's ServiceAccount.
    n.command(shown([typed, "-m", "devkit.identity", str(identity)]))
    operator_cluster(s.c, identity)
    n.output(str(identity))
    op = OperatorProcess(
        identity, NAMESPACE, s.workdir / "operator.log", tuning=(), pidfile=s.pidfile
    )
    s.operator = op
    op.start(wait=False)
    argv = [typed, *op.command[1:]]
    n.command(f"KUBECONFIG={identity} {shown(argv)} >{op.log_path} 2>&1 &")
    n.output(f"[pid {op.pid}]")
    s.wait(f"{op.base_url}/healthz to answer", lambda: op.alive() and op.healthy(), timeout=60)
    n.output(op.get("/healthz").strip())


def clean_up(s: Session) -> None:
    n, op = s.narrator, s.op
    n.command(f"kill -TERM {op.pid}")
    started = time.monotonic()
    code = s.stop_operator()
    if code is None:
        raise DemoFailed("the operator did not exit within 30s of SIGTERM (killed)")
    n.ok(f"operator exited with code {code} after {time.monotonic() - started:.1f}s")
    if code != 0:
        raise DemoFailed(f"the operator exited with code {code} on SIGTERM")
    n.blank()
    for line in (
        "Look around (the namespace stays; the operator is stopped):",
        f"  export KUBECONFIG={s.c.kubeconfig}",
        f"  alias kubectl={s.c.kubectl_bin}",
        f"  kubectl get inc -n {NAMESPACE}",
        f"  kubectl describe inc {INCIDENT} -n {NAMESPACE}",
        f"  kubectl get inc {INCIDENT} -n {NAMESPACE} -o yaml",
        f"  kubectl get events -n {NAMESPACE} --sort-by=.lastTimestamp",
        f"  less {op.log_path}    # the operator's log; manifests are beside it",
        "Remove it:",
        f"  kubectl delete namespace {NAMESPACE}",
        "(`make demo` again recreates everything.)",
    ):
        n.output(line)
