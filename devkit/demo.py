"""`make demo`: Tourniquet's main job on the local control plane, narrated step by step.

A bad rollout hurts a service; the on-call declares an Incident; Tourniquet names the
suspect rollout and offers its undo; someone who is not the Incident Commander cannot
approve it; the Incident Commander approves; the operator undoes the rollout, follows
it to completion and records everything; the all-clear; MTTR from /metrics.

Every command is the real one, printed before it runs (`$ kubectl ...`) and followed
by its real output. Every wait is a poll with a deadline. Exit status 0 means every
step's check passed. Runnable again at any time: the namespace is recreated.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

NAMESPACE = "tourniquet-demo"
INCIDENT = "api-errors"
DEPLOYMENT = "api"
COMMANDER = "alice"
INTRUDER = "mallory"
IMAGE_GOOD = "registry.example/api:1.4.2"
IMAGE_BAD = "registry.example/api:1.4.3"
CLUSTER_ROLE = "tourniquet-demo-commander"
NO_SUCH_NODE = {"tourniquet.dev/demo-no-such-node": "true"}
DEADLINE = 90.0
# How the demo's own operator process is recognised (by /proc/PID/cmdline).
OPERATOR_CMDLINE = ("-m tourniquet run", f"-n {NAMESPACE} ")
POLL_INTERVAL = 0.25
WIDTH = 88

METRIC_PREFIXES = (
    "tourniquet_incident_time_to_resolve_seconds_sum",
    "tourniquet_incident_time_to_resolve_seconds_count",
    "tourniquet_incident_time_to_mitigate_seconds_sum",
    "tourniquet_incident_time_to_mitigate_seconds_count",
    "tourniquet_rollbacks_total",
    "tourniquet_incidents_",
)


class DemoFailed(Exception):
    """A step's check did not pass; the message says what was expected."""


# -- pure helpers (unit-tested) ----------------------------------------------------------


def shown(args: Sequence[str]) -> str:
    """A command as a user would type it: shell quoting, `kubectl` for the pinned binary."""
    return shlex.join(args)


def approve_command(revision: int, approver: str = COMMANDER) -> list[str]:
    """The approval the Incident offers, as argv (without --as)."""
    payload = {"status": {"approval": {"approvedBy": approver, "revision": revision}}}
    return [
        "kubectl",
        "patch",
        "incident",
        INCIDENT,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(payload, separators=(",", ":")),
    ]


def deployment_manifest(image: str, *, bad: bool = False) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "containers": [{"name": DEPLOYMENT, "image": image}],
        # kwok's fake nodes may carry this taint; tolerate it so pods land there.
        "tolerations": [
            {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
        ],
        "terminationGracePeriodSeconds": 0,
    }
    if bad:
        pod_spec["nodeSelector"] = dict(NO_SUCH_NODE)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": {"app": DEPLOYMENT}},
        "spec": {
            "replicas": 3,
            "progressDeadlineSeconds": 15,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {"metadata": {"labels": {"app": DEPLOYMENT}}, "spec": pod_spec},
        },
    }


def incident_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "tourniquet.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": INCIDENT, "namespace": NAMESPACE},
        "spec": {
            "title": "Elevated 5xx on api",
            "severity": "SEV1",
            "roles": {"commander": COMMANDER, "comms": "bob"},
            "scope": {"selector": {"matchLabels": {"app": DEPLOYMENT}}},
        },
    }


def rbac_manifests() -> list[dict[str, Any]]:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE},
        "rules": [
            {
                "apiGroups": ["tourniquet.dev"],
                "resources": ["incidents", "incidents/status"],
                "verbs": ["get", "list", "watch", "patch"],
            },
            {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": CLUSTER_ROLE, "namespace": NAMESPACE},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": CLUSTER_ROLE,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
            for user in (COMMANDER, INTRUDER)
        ],
    }
    return [role, binding]


def to_yaml(*docs: Mapping[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(dict(doc), sort_keys=False) for doc in docs)


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")


def metric_samples(text: str) -> dict[str, float]:
    """Prometheus text exposition as {'name{labels}': value} (comments skipped)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        samples[match["name"] + (match["labels"] or "")] = value
    return samples


def metric_total(samples: Mapping[str, float], name: str) -> float:
    """The sum of a metric's samples over all its label values."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def interesting_metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(METRIC_PREFIXES)]


def mean_seconds(samples: Mapping[str, float], histogram: str) -> float | None:
    """sum / count of a histogram over all label values; None before any observation."""
    count = metric_total(samples, f"{histogram}_count")
    if count <= 0:
        return None
    return metric_total(samples, f"{histogram}_sum") / count


def revision(obj: Mapping[str, Any]) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get("deployment.kubernetes.io/revision", 0))
    except (TypeError, ValueError):
        return 0


# -- the shell: printing, kubectl, the operator process -----------------------------------


class Narrator:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def _print(self, text: str = "") -> None:
        print(text, flush=True)

    def headline(self, number: int, total: int, title: str) -> None:
        text = f"{number}/{total}  {title}"
        self._print()
        if self.tty:
            self._print(f"\033[1m{text}\033[0m")
        else:
            self._print(text)
            self._print("=" * len(text))

    def why(self, text: str) -> None:
        self._print(textwrap.fill(" ".join(text.split()), WIDTH))
        self._print()

    def command(self, line: str) -> None:
        self._print(f"$ {line}")

    def output(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self._print(f"  {line}")

    def note(self, text: str) -> None:
        self._print(f"# {text}")

    def ok(self, text: str) -> None:
        self._print(f"ok: {text}")

    def blank(self) -> None:
        self._print()


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Kubectl:
    binary: str
    kubeconfig: str
    cwd: Path
    narrator: Narrator

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig}

    def argv(self, args: Sequence[str], as_user: str | None) -> list[str]:
        return ["kubectl", *args, *([f"--as={as_user}"] if as_user else [])]

    def show(
        self,
        *args: str,
        as_user: str | None = None,
        timeout: float = 60,
        expect_failure: bool = False,
    ) -> Result:
        """Print the command, run it, stream its output (stdout and stderr as they
        come), and fail the step unless it exits as expected."""
        argv = self.argv(args, as_user)
        self.narrator.command(shown(argv))
        proc = subprocess.Popen(
            [self.binary, *argv[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        lines = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                self.narrator.output(line)
            code = proc.wait()
        except BaseException:  # interrupted: leave no kubectl behind
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        result = Result(code, "".join(lines), "")
        if code == -signal.SIGKILL:
            raise DemoFailed(f"`{shown(argv)}` did not finish within {timeout:.0f}s")
        if expect_failure and code == 0:
            raise DemoFailed(f"`{shown(argv)}` was expected to fail, but it succeeded")
        if not expect_failure and code != 0:
            raise DemoFailed(f"`{shown(argv)}` exited {code}")
        return result

    def quiet(
        self, *args: str, as_user: str | None = None, stdin: str | None = None, timeout: float = 30
    ) -> Result:
        """Run without printing (the demo's own checks and polls)."""
        argv = self.argv(args, as_user)
        try:
            proc = subprocess.run(
                [self.binary, *argv[1:]],
                input=stdin,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=self.cwd,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Result(-1, "", f"timed out after {timeout:.0f}s")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def exists(self, kind: str, name: str) -> bool:
        """Whether a cluster-scoped object exists; an unreachable API server fails the step."""
        result = self.quiet("get", kind, name, "-o", "name", "--ignore-not-found")
        if result.returncode != 0:
            raise DemoFailed(f"kubectl get {kind} {name}: {result.stderr.strip()}")
        return bool(result.stdout.strip())

    def get(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed; None when it is not there (or not reachable)."""
        result = self.quiet("get", *args, "-o", "json")
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)


def poll(
    narrator: Narrator,
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float = DEADLINE,
    interval: float = POLL_INTERVAL,
    on_tick: Callable[[], None] | None = None,
    last: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` until it returns something truthy, or fail saying what did not happen."""
    narrator.note(f"waiting up to {timeout:.0f}s for {what}")
    started = time.monotonic()
    while True:
        value = probe()
        if value:
            narrator.ok(f"done after {time.monotonic() - started:.1f}s")
            return value
        if time.monotonic() - started > timeout:
            detail = f"; last seen: {last()}" if last else ""
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        if on_tick:
            on_tick()
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body.decode() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def cache_root() -> Path:
    """Where hack/cluster.sh keeps its cache (the same variables decide)."""
    if os.environ.get("TOURNIQUET_CACHE"):
        return Path(os.environ["TOURNIQUET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tourniquet"


class Operator:
    """The operator as a background process, logging to a file, watching NAMESPACE only."""

    def __init__(self, python: str, kubeconfig: str, cwd: Path, log_path: Path) -> None:
        self.python = python
        self.kubeconfig = kubeconfig
        self.cwd = cwd
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "tourniquet",
            "run",
            "-n",
            NAMESPACE,
            "--metrics-addr",
            f"127.0.0.1:{self.port}",
        ]

    def start(self) -> None:
        self.port = free_port()
        # Fault-injection and other TOURNIQUET_* settings from the caller's shell must not
        # change what the demo shows; the flags above say everything.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOURNIQUET_")}
        env["KUBECONFIG"] = self.kubeconfig
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                # Its own process group: Ctrl-C in the terminal reaches the demo, which
                # then stops the operator gracefully.
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then wait; SIGKILL only if it does not exit in time (returns None)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no operator log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the operator log is empty)"


def pid_alive_with(pid: int, *needles: str) -> bool:
    """Whether `pid` runs and its command line contains every needle (Linux /proc)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return all(needle in cmdline for needle in needles)


# -- the demo -------------------------------------------------------------------------------


@dataclass
class Step:
    title: str
    why: str
    run: Callable[[], None]


@dataclass
class Demo:
    repo: Path
    narrator: Narrator
    workdir: Path
    kubeconfig: str = ""
    kubectl: Kubectl | None = None
    operator: Operator | None = None
    suspect_revision: int = 0
    steps: list[Step] = field(default_factory=list)

    @property
    def k(self) -> Kubectl:
        if self.kubectl is None:
            raise DemoFailed("the control plane is not up (step 1 did not run)")
        return self.kubectl

    @property
    def op(self) -> Operator:
        if self.operator is None:
            raise DemoFailed("the operator is not running (step 3 did not run)")
        return self.operator

    @property
    def pidfile(self) -> Path:
        return cache_root() / "demo-operator.pid"

    def operator_alive(self) -> None:
        op = self.operator
        if op is not None and op.proc is not None and op.proc.poll() is not None:
            raise DemoFailed(f"the operator exited unexpectedly (code {op.proc.returncode})")

    def wait(self, what: str, probe: Callable[[], T | None], **kwargs: Any) -> T:
        """poll(), failing at once if the operator dies meanwhile."""
        return poll(self.narrator, what, probe, on_tick=self.operator_alive, **kwargs)

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(text)
        return path

    def cat(self, path: Path) -> None:
        self.narrator.command(shown(["cat", str(path)]))
        self.narrator.output(path.read_text())

    def incident(self) -> dict[str, Any]:
        obj = self.k.get("incident", INCIDENT, "-n", NAMESPACE)
        return obj if isinstance(obj, dict) else {}

    def status(self) -> dict[str, Any]:
        value = self.incident().get("status")
        return value if isinstance(value, dict) else {}

    # -- 1 ----------------------------------------------------------------------------------

    def control_plane(self) -> None:
        n = self.narrator
        script = self.repo / "hack" / "cluster.sh"
        n.command("hack/cluster.sh up")
        proc = subprocess.run(
            [str(script), "up"], stdout=subprocess.PIPE, stderr=None, text=True, cwd=self.repo
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("export KUBECONFIG="):
            raise DemoFailed(f"hack/cluster.sh up exited {proc.returncode} without a kubeconfig")
        n.output(lines[-1])
        self.kubeconfig = lines[-1].split("=", 1)[1].strip()
        env = subprocess.run(
            [str(script), "env"], capture_output=True, text=True, cwd=self.repo, check=False
        ).stdout
        paths = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)
        binary = paths.get("KWOK_KUBECTL_BINARY") or shutil.which("kubectl")
        if not binary:
            raise DemoFailed("no kubectl: hack/cluster.sh env names none and none is on PATH")
        self.kubectl = Kubectl(binary, self.kubeconfig, self.repo, n)
        n.note(f"`kubectl` below is {binary} (the API server's version)")
        n.note(f"and KUBECONFIG={self.kubeconfig}")
        n.blank()
        k = self.k
        k.show("apply", "-f", "crds/")
        k.show("apply", "-f", "config/policy/approval-policy.yaml")
        k.show(
            "wait",
            "--for=condition=Established",
            "crd/incidents.tourniquet.dev",
            "crd/runbooks.tourniquet.dev",
            "--timeout=60s",
            timeout=90,
        )

    # -- 2 ----------------------------------------------------------------------------------

    def stop_stale_operator(self) -> None:
        """A demo killed with SIGKILL leaves its operator running; it must not race ours."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if pid_alive_with(pid, *OPERATOR_CMDLINE):
            self.narrator.note(f"stopping the operator a previous demo left running (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            poll(
                self.narrator,
                f"the old operator (pid {pid}) to exit",
                lambda: not pid_alive_with(pid, *OPERATOR_CMDLINE),
                timeout=30,
            )
        self.pidfile.unlink(missing_ok=True)

    def strip_finalizers(self) -> None:
        """No operator runs now (a stale one was stopped above): nobody would remove the
        finalizers of the old Incidents, and the namespace would never go away."""
        incidents = self.k.get("incidents", "-n", NAMESPACE)
        for item in (incidents or {}).get("items", []):
            meta = item.get("metadata") or {}
            if meta.get("finalizers"):
                self.narrator.note(
                    f"incident {meta.get('name')} has the finalizer(s) "
                    f"{', '.join(meta['finalizers'])}, and no operator runs to remove them:"
                )
                self.k.show(
                    "patch",
                    "incident",
                    str(meta.get("name")),
                    "-n",
                    NAMESPACE,
                    "--type=merge",
                    "-p",
                    '{"metadata":{"finalizers":null}}',
                )

    def namespace(self) -> None:
        n, k = self.narrator, self.k
        self.stop_stale_operator()
        if k.exists("namespace", NAMESPACE):
            self.strip_finalizers()
            k.show("delete", "namespace", NAMESPACE, "--wait=false")

            def gone() -> bool:
                if not k.exists("namespace", NAMESPACE):
                    return True
                self.strip_finalizers()
                return False

            poll(
                n,
                f"namespace {NAMESPACE} to be gone",
                gone,
                interval=1.0,
                last=lambda: str(
                    (k.get("namespace", NAMESPACE) or {}).get("status", {}).get("conditions", "")
                ),
            )
        k.show("create", "namespace", NAMESPACE)
        n.blank()
        rbac = self.write("rbac.yaml", to_yaml(*rbac_manifests()))
        self.cat(rbac)
        k.show("apply", "-f", str(rbac))
        for user in (COMMANDER, INTRUDER):
            result = k.show(
                "auth",
                "can-i",
                "patch",
                "incidents.tourniquet.dev",
                "--subresource=status",
                "-n",
                NAMESPACE,
                as_user=user,
            )
            if result.output.strip() != "yes":
                raise DemoFailed(f"RBAC should let {user} patch incidents/status")

    # -- 3 ----------------------------------------------------------------------------------

    def start_operator(self) -> None:
        n = self.narrator
        op = Operator(sys.executable, self.kubeconfig, self.repo, self.workdir / "operator.log")
        self.operator = op
        op.start()
        assert op.proc is not None
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(str(op.proc.pid))
        argv = op.argv()
        python = Path(argv[0])
        if python.is_relative_to(self.repo):
            argv[0] = str(python.relative_to(self.repo))
        n.command(f"{shown(argv)} >{op.log_path} 2>&1 &")
        n.output(f"[pid {op.proc.pid}]")

        def healthy() -> bool:
            if not op.running():
                raise DemoFailed(f"the operator exited with code {op.proc and op.proc.returncode}")
            return http_get(f"{op.base_url}/healthz", timeout=2) is not None

        poll(n, f"{op.base_url}/healthz to answer", healthy, timeout=60)
        n.output((http_get(f"{op.base_url}/healthz") or "").strip())

    # -- 4 ----------------------------------------------------------------------------------

    def deploy_v1(self) -> None:
        k = self.k
        v1 = self.write("api-v1.yaml", to_yaml(deployment_manifest(IMAGE_GOOD)))
        self.cat(v1)
        k.show("apply", "-f", str(v1))
        k.show(
            "rollout",
            "status",
            f"deployment/{DEPLOYMENT}",
            "-n",
            NAMESPACE,
            "--timeout=90s",
            timeout=100,
        )
        k.show("get", "deployment", DEPLOYMENT, "-n", NAMESPACE)
        dep = k.get("deployment", DEPLOYMENT, "-n", NAMESPACE) or {}
        conditions = {c.get("type"): c.get("status") for c in dep["status"].get("conditions", [])}
        if conditions.get("Available") != "True" or dep["status"].get("availableReplicas") != 3:
            raise DemoFailed(f"deployment/{DEPLOYMENT} is not Available with 3 replicas")
        self.narrator.ok(f"deployment/{DEPLOYMENT} is Available, 3/3 replicas on {IMAGE_GOOD}")

    # -- 5 ----------------------------------------------------------------------------------

    def deploy_bad_v2(self) -> None:
        n, k = self.narrator, self.k
        v1 = self.workdir / "api-v1.yaml"
        v2 = self.write("api-v2.yaml", to_yaml(deployment_manifest(IMAGE_BAD, bad=True)))
        diff = difflib.unified_diff(
            v1.read_text().splitlines(),
            v2.read_text().splitlines(),
            str(v1),
            str(v2),
            lineterm="",
        )
        n.command(shown(["diff", "-u", str(v1), str(v2)]))
        n.output("\n".join(diff))
        k.show("apply", "-f", str(v2))
        k.show(
            "rollout",
            "status",
            f"deployment/{DEPLOYMENT}",
            "-n",
            NAMESPACE,
            "--timeout=60s",
            timeout=75,
            expect_failure=True,
        )
        k.show("get", "replicasets", "-n", NAMESPACE, "-l", f"app={DEPLOYMENT}", "-o", "wide")
        k.show("get", "pods", "-n", NAMESPACE, "-l", f"app={DEPLOYMENT}")
        dep = k.get("deployment", DEPLOYMENT, "-n", NAMESPACE) or {}
        rs_list = (k.get("replicasets", "-n", NAMESPACE, "-l", f"app={DEPLOYMENT}") or {}).get(
            "items", []
        )
        new = [rs for rs in rs_list if revision(rs) == revision(dep)]
        if revision(dep) != 2 or len(new) != 1:
            raise DemoFailed(f"expected deployment/{DEPLOYMENT} at revision 2 with its ReplicaSet")
        rs = new[0]
        if (rs.get("status") or {}).get("readyReplicas", 0) != 0:
            raise DemoFailed(f"the bad ReplicaSet {rs['metadata']['name']} has ready pods")
        n.ok(
            f"revision 2 (replicaset/{rs['metadata']['name']}, {IMAGE_BAD}) is stuck with "
            "0 ready pods; revision 1 still runs"
        )

    # -- 6 ----------------------------------------------------------------------------------

    def declare(self) -> None:
        n, k = self.narrator, self.k
        path = self.write("incident.yaml", to_yaml(incident_manifest()))
        self.cat(path)
        k.show("apply", "-f", str(path))
        status = self.wait(
            "the operator to name the suspect (status.suspect)",
            lambda: self.status() if self.status().get("suspect") else None,
            last=lambda: json.dumps(self.status())[:400],
        )
        k.show("get", "incident", INCIDENT, "-n", NAMESPACE, "-o", "wide")
        k.show("get", "incident", INCIDENT, "-n", NAMESPACE, "-o", "jsonpath={.status.suspect}")
        n.blank()
        k.show(
            "get",
            "incident",
            INCIDENT,
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.status.mitigation.message}",
        )
        n.blank()
        suspect = status["suspect"]
        mitigation = status.get("mitigation") or {}
        expected = {"deployment": DEPLOYMENT, "revision": 2, "previousRevision": 1}
        wrong = {key: suspect.get(key) for key in expected if suspect.get(key) != expected[key]}
        if wrong:
            raise DemoFailed(f"unexpected suspect {wrong}, expected {expected}")
        if IMAGE_BAD not in str(suspect.get("change")):
            raise DemoFailed(f"the suspect's change {suspect.get('change')!r} lacks {IMAGE_BAD}")
        self.suspect_revision = int(suspect["revision"])
        command = shown(approve_command(self.suspect_revision))
        if mitigation.get("result") != "Pending" or command not in str(mitigation.get("message")):
            raise DemoFailed(
                f"expected a Pending mitigation whose message offers `{command}`, got {mitigation}"
            )
        n.ok(
            f"suspect: deployment/{DEPLOYMENT} revision {self.suspect_revision} "
            f"({suspect['change']}); the undo awaits {COMMANDER}'s approval"
        )

    # -- 7 ----------------------------------------------------------------------------------

    def intruder_denied(self) -> None:
        n, k = self.narrator, self.k
        own = approve_command(self.suspect_revision, approver=INTRUDER)
        in_name = approve_command(self.suspect_revision, approver=COMMANDER)

        # Admission policies take effect asynchronously after they are installed; a
        # server-side dry run checks the policy without changing anything.
        def enforced() -> bool:
            result = k.quiet(*own[1:], "--dry-run=server", as_user=INTRUDER)
            return result.returncode != 0 and "approval rejected" in result.stderr

        self.wait("the API server to enforce the approval policy", enforced, timeout=60)
        n.blank()
        for argv, expected in (
            (own, "is not the Incident Commander"),
            (in_name, f'cannot approve in the name of "{COMMANDER}"'),
        ):
            result = k.show(*argv[1:], as_user=INTRUDER, expect_failure=True)
            if expected not in result.output:
                raise DemoFailed(f"expected the API server to say {expected!r}")
            n.blank()
        k.show("get", "incident", INCIDENT, "-n", NAMESPACE, "-o", "jsonpath={.status.approval}")
        n.note("(empty: nobody has approved)")
        if self.status().get("approval"):
            raise DemoFailed(f"status.approval is set: {self.status()['approval']}")
        n.ok(f"{INTRUDER} was denied twice by the API server; status.approval is still empty")

    # -- 8 ----------------------------------------------------------------------------------

    def approve_and_undo(self) -> None:
        n, k = self.narrator, self.k
        k.show(*approve_command(self.suspect_revision)[1:], as_user=COMMANDER)
        seen: list[str] = []

        def mitigated() -> dict[str, Any] | None:
            mitigation = self.status().get("mitigation") or {}
            result = str(mitigation.get("result"))
            if not seen or seen[-1] != result:
                seen.append(result)
                n.output(f"status.mitigation.result: {result} ({mitigation.get('message', '')})")
            if result in ("Failed", "Refused"):
                raise DemoFailed(
                    f"the undo was {result}: {mitigation.get('reason')}: "
                    f"{mitigation.get('message')}"
                )
            return mitigation if result == "Succeeded" else None

        mitigation = self.wait("status.mitigation.result to be Succeeded", mitigated)
        if mitigation.get("fromRevision") != 2 or mitigation.get("toRevision") != 1:
            raise DemoFailed(f"expected an undo from revision 2 to 1, got {mitigation}")
        n.blank()
        k.show("rollout", "history", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE)
        k.show("get", "deployment", DEPLOYMENT, "-n", NAMESPACE, "-o", "wide")
        dep = k.get("deployment", DEPLOYMENT, "-n", NAMESPACE) or {}
        pod_spec = dep["spec"]["template"]["spec"]
        image = pod_spec["containers"][0]["image"]
        if image != IMAGE_GOOD or pod_spec.get("nodeSelector"):
            raise DemoFailed(f"deployment/{DEPLOYMENT} runs {image}, not the {IMAGE_GOOD} template")
        if (dep.get("status") or {}).get("availableReplicas") != 3:
            raise DemoFailed(f"deployment/{DEPLOYMENT} does not have 3 available replicas")
        n.ok(f"deployment/{DEPLOYMENT} is back on {IMAGE_GOOD} with 3/3 available replicas")
        n.blank()

        def event(kind: str, name: str, reason: str) -> Callable[[], bool]:
            selector = f"involvedObject.kind={kind},involvedObject.name={name},reason={reason}"
            return lambda: bool(
                (k.get("events", "-n", NAMESPACE, "--field-selector", selector) or {}).get("items")
            )

        self.wait(
            "Tourniquet's RolloutUndone Event on the Deployment",
            event("Deployment", DEPLOYMENT, "RolloutUndone"),
            timeout=30,
        )
        k.show("events", "-n", NAMESPACE, f"--for=deployment/{DEPLOYMENT}")
        n.blank()
        self.wait(
            "the Mitigated Event on the Incident",
            event("Incident", INCIDENT, "Mitigated"),
            timeout=30,
        )
        # kubectl events orders by lastTimestamp, to the second; eventTime has microseconds.
        k.show(
            "get",
            "events",
            "-n",
            NAMESPACE,
            f"--field-selector=involvedObject.kind=Incident,involvedObject.name={INCIDENT}",
            "--sort-by=.eventTime",
            "-o",
            "custom-columns=TIME:.eventTime,TYPE:.type,REASON:.reason,MESSAGE:.message",
        )

    # -- 9 ----------------------------------------------------------------------------------

    def resolve(self) -> None:
        n, k = self.narrator, self.k
        k.show(
            "patch",
            "incident",
            INCIDENT,
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            '{"spec":{"resolved":true}}',
            as_user=COMMANDER,
        )
        status = self.wait(
            "phase Resolved",
            lambda: (
                s
                if (s := self.status()).get("phase") == "Resolved"
                and s.get("timeToResolveSeconds") is not None
                else None
            ),
            last=lambda: str(self.status().get("phase")),
        )
        k.show("get", "incident", INCIDENT, "-n", NAMESPACE)
        n.blank()
        k.show(
            "get",
            "incident",
            INCIDENT,
            "-n",
            NAMESPACE,
            "-o",
            'jsonpath={range .status.timeline[*]}{.at}{"  "}{.kind}{": "}{.message}{"\\n"}{end}',
        )
        n.blank()
        k.show(
            "get",
            "incident",
            INCIDENT,
            "-n",
            NAMESPACE,
            "-o",
            'jsonpath=timeToMitigateSeconds: {.status.timeToMitigateSeconds}{"\\n"}'
            'timeToResolveSeconds:  {.status.timeToResolveSeconds}{"\\n"}',
        )
        kinds = [entry.get("kind") for entry in status.get("timeline") or []]
        for kind in (
            "Declared",
            "SuspectIdentified",
            "Approved",
            "RolloutUndone",
            "Mitigated",
            "Resolved",
        ):
            if kind not in kinds:
                raise DemoFailed(f"the timeline has no {kind} entry: {kinds}")
        ttm, ttr = status.get("timeToMitigateSeconds"), status.get("timeToResolveSeconds")
        if not isinstance(ttm, int | float) or not isinstance(ttr, int | float) or ttm > ttr:
            raise DemoFailed(f"implausible times: to mitigate {ttm}, to resolve {ttr}")
        n.note(
            "both are measured from spec.startedAt, or from the Incident's creation when it "
            "is not set, as here"
        )
        n.ok(f"resolved: time to mitigate {ttm:.1f}s, time to resolve {ttr:.1f}s")

    # -- 10 ---------------------------------------------------------------------------------

    def metrics(self) -> None:
        n = self.narrator
        url = f"{self.op.base_url}/metrics"
        ttr = "tourniquet_incident_time_to_resolve_seconds"
        text = self.wait(
            f"{ttr}_count on /metrics",
            lambda: (
                t
                if (t := http_get(url)) and metric_total(metric_samples(t), f"{ttr}_count") >= 1
                else None
            ),
            timeout=30,
        )
        pattern = "|".join(re.escape(p) for p in METRIC_PREFIXES)
        n.note("fetched by the demo with urllib; the same with curl, _bucket lines left out:")
        n.command(f"curl -s {url} | grep -E '^({pattern})'")
        n.output("\n".join(interesting_metric_lines(text)))
        n.blank()
        samples = metric_samples(text)
        expected = {
            'tourniquet_incidents_declared_total{severity="SEV1"}': 1.0,
            'tourniquet_incidents_open{severity="SEV1"}': 0.0,
            'tourniquet_rollbacks_total{result="succeeded"}': 1.0,
            'tourniquet_rollbacks_total{result="refused"}': 0.0,
            f'{ttr}_count{{severity="SEV1"}}': 1.0,
            'tourniquet_incident_time_to_mitigate_seconds_count{severity="SEV1"}': 1.0,
        }
        wrong = {k: samples.get(k) for k, v in expected.items() if samples.get(k) != v}
        if wrong:
            raise DemoFailed(f"unexpected metrics {wrong}, expected {expected}")
        mttr = mean_seconds(samples, ttr)
        mttm = mean_seconds(samples, "tourniquet_incident_time_to_mitigate_seconds")
        assert mttr is not None and mttm is not None
        total = metric_total(samples, f"{ttr}_sum")
        count = metric_total(samples, f"{ttr}_count")
        n.output(f"MTTR: {mttr:.0f} s   ({ttr}_sum / _count = {total:.1f} / {count:.0f})")
        n.output(f"mean time to mitigate: {mttm:.0f} s")

    # -- 11 ---------------------------------------------------------------------------------

    def clean_up(self) -> None:
        n = self.narrator
        op = self.op
        assert op.proc is not None
        n.command(f"kill -TERM {op.proc.pid}")
        started = time.monotonic()
        code = op.stop(timeout=30)
        self.pidfile.unlink(missing_ok=True)
        if code is None:
            raise DemoFailed("the operator did not exit within 30s of SIGTERM (killed)")
        n.ok(f"operator exited with code {code} after {time.monotonic() - started:.1f}s")
        if code != 0:
            raise DemoFailed(f"the operator exited with code {code} on SIGTERM")
        n.blank()
        for line in (
            "Look around (the namespace stays; the operator is stopped):",
            f"  export KUBECONFIG={self.kubeconfig}",
            f"  alias kubectl={self.k.binary}",
            f"  kubectl get inc -n {NAMESPACE}",
            f"  kubectl describe inc {INCIDENT} -n {NAMESPACE}",
            f"  kubectl get inc {INCIDENT} -n {NAMESPACE} -o yaml",
            f"  kubectl get events -n {NAMESPACE} --sort-by=.lastTimestamp",
            f"  less {op.log_path}    # the operator's log; manifests are beside it",
            "Remove it:",
            f"  kubectl delete namespace {NAMESPACE}",
            f"  kubectl delete clusterrole {CLUSTER_ROLE}",
            "(`make demo` again recreates everything.)",
        ):
            n.output(line)

    # -- running ----------------------------------------------------------------------------

    def plan(self) -> list[Step]:
        return [
            Step(
                "Start the local control plane and install Tourniquet's API",
                "Tourniquet is tested against real Kubernetes components: etcd, kube-apiserver, "
                "kube-controller-manager and kube-scheduler, with kwok's fake nodes, built once "
                "from pinned sources (the first run takes minutes) and reused. Then the Incident "
                "CRD and the admission policy that lets only the Incident Commander approve.",
                self.control_plane,
            ),
            Step(
                "A fresh namespace, and who may do what",
                f"The demo plays in its own namespace, recreated on every run. {COMMANDER} will "
                f"be the Incident Commander, {INTRUDER} will not; RBAC gives both the same "
                "rights on Incidents, so what stops the wrong person from approving is not RBAC "
                "but the API server's admission policy (step 7).",
                self.namespace,
            ),
            Step(
                "Start the operator",
                f"The IC approves, the operator acts. It watches only {NAMESPACE} (-n): other "
                "namespaces belong to other people. It serves /metrics and /healthz.",
                self.start_operator,
            ),
            Step(
                f"Deploy {DEPLOYMENT} v1 ({IMAGE_GOOD})",
                "A healthy service: three replicas on kwok's fake nodes. progressDeadlineSeconds: "
                "15 makes a stuck rollout visible in seconds instead of the default ten minutes.",
                self.deploy_v1,
            ),
            Step(
                f"Roll out a bad v2 ({IMAGE_BAD})",
                "In this demo 'bad' means its pods can never become Ready, like a crash-looping "
                "release: a nodeSelector that matches no node. The new ReplicaSet is stuck and "
                "the Deployment exceeds its progress deadline.",
                self.deploy_bad_v2,
            ),
            Step(
                "Declare the incident",
                "Mitigate before diagnosing: declare the Incident as soon as users hurt. "
                "Tourniquet names the most recent rollout in scope as the suspect and offers "
                "to undo it, with the exact command the Incident Commander runs to approve. It "
                "does nothing to the Deployment on its own.",
                self.declare,
            ),
            Step(
                f"{INTRUDER} cannot approve",
                "RBAC lets her patch the Incident's status, but the ValidatingAdmissionPolicy "
                "tourniquet-incident-approval, checked by the API server itself, only accepts an "
                "approval made by spec.roles.commander in their own name. The operator acts only "
                "on approvals the API server has verified.",
                self.intruder_denied,
            ),
            Step(
                f"The Incident Commander ({COMMANDER}) approves; the operator undoes the rollout",
                "The operator re-checks the approval and that the Deployment did not move on, "
                "then does what `kubectl rollout undo` does (with a resourceVersion "
                "precondition), and follows the rollout as `kubectl rollout status` would. "
                "Everything is recorded: status, timeline, Events.",
                self.approve_and_undo,
            ),
            Step(
                "All clear",
                "The service is healthy again; the IC resolves the Incident. The timeline, "
                "written by the operator as things happened, is the start of the postmortem.",
                self.resolve,
            ),
            Step(
                "MTTR from /metrics",
                "The same durations are Prometheus histograms: mean time to resolve is "
                "_sum / _count (in PromQL, rate(..._sum[1w]) / rate(..._count[1w])).",
                self.metrics,
            ),
            Step(
                "Clean up",
                "Stop the operator gracefully (SIGTERM). The namespace stays for you to explore.",
                self.clean_up,
            ),
        ]

    def run(self) -> int:
        n = self.narrator
        steps = self.plan()
        started = time.monotonic()
        interrupted = False
        failed: tuple[int, str] | None = None
        current = 0
        try:
            for current, step in enumerate(steps, 1):
                n.headline(current, len(steps), step.title)
                n.why(step.why)
                try:
                    step.run()
                except DemoFailed as exc:
                    failed = (current, str(exc))
                    break
        except KeyboardInterrupt:
            failed = (current, "interrupted")
            interrupted = True
        finally:
            if self.operator is not None and self.operator.running():
                self.operator.stop(timeout=30)
                self.pidfile.unlink(missing_ok=True)
        elapsed = time.monotonic() - started
        n.blank()
        if failed is None:
            n.output(f"Demo passed: {len(steps)}/{len(steps)} steps in {elapsed:.0f}s.")
            return 0
        number, message = failed
        where = f"step {number}/{len(steps)} ({steps[number - 1].title})" if number else "setup"
        verdict = "INTERRUPTED" if interrupted else "FAILED"
        text = f"DEMO {verdict} in {where} after {elapsed:.0f}s: {message}"
        print(f"\033[1m{text}\033[0m" if n.tty else text, flush=True)
        if self.operator is not None:
            print(f"\nLast lines of the operator log ({self.operator.log_path}):", flush=True)
            n.output(self.operator.log_tail())
        return 130 if interrupted else 1


def find_repo() -> Path:
    for candidate in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (candidate / "hack" / "cluster.sh").is_file() and (candidate / "crds").is_dir():
            return candidate
    raise SystemExit("devkit.demo: run it from the repository (make demo)")


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    # SIGTERM (a CI timeout, `kill`) stops the demo like Ctrl-C: the operator is stopped too.
    signal.signal(signal.SIGTERM, _interrupted)
    repo = find_repo()
    workdir = Path(tempfile.mkdtemp(prefix="tourniquet-demo-"))
    demo = Demo(repo=repo, narrator=Narrator(sys.stdout.isatty()), workdir=workdir)
    sys.exit(demo.run())


if __name__ == "__main__":
    main()
