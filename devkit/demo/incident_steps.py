"""The demo's story, steps 4 to 10: a healthy v1, a bad v2, the Incident and its suspect,
an approval the API server refuses, the Incident Commander's approval and the undo, the
all-clear, and MTTR from /metrics."""

from __future__ import annotations

import difflib
import json
from typing import Any

from devkit.demo.narrator import DemoFailed
from devkit.demo.script import (
    COMMANDER,
    DEPLOYMENT,
    EXPECTED_METRICS,
    IMAGE_BAD,
    IMAGE_GOOD,
    INCIDENT,
    INTRUDER,
    NAMESPACE,
    TIMELINE,
    TTM,
    TTR,
    approve_command,
    deployment_manifest,
    grep_pattern,
    incident_manifest,
    interesting_metric_lines,
    shown,
)
from devkit.demo.session import Session
from devkit.incidents import events, patch_args
from devkit.manifests import RESOLVE_PATCH, to_yaml
from devkit.metrics import histogram_mean, metric_sum
from devkit.net import http_get_or_none
from devkit.workloads import revision_of, template_image

APP = f"app={DEPLOYMENT}"


def deploy_v1(s: Session) -> None:
    k = s.k
    v1 = s.write("api-v1.yaml", to_yaml(deployment_manifest(IMAGE_GOOD)))
    s.cat(v1)
    k.show("apply", "-f", str(v1))
    rollout = ("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE)
    k.show(*rollout, "--timeout=90s", timeout=100)
    k.show("get", "deployment", DEPLOYMENT, "-n", NAMESPACE)
    dep = s.c.get("deployment", DEPLOYMENT, NAMESPACE)
    conditions = {c.get("type"): c.get("status") for c in dep["status"].get("conditions", [])}
    if conditions.get("Available") != "True" or dep["status"].get("availableReplicas") != 3:
        raise DemoFailed(f"deployment/{DEPLOYMENT} is not Available with 3 replicas")
    s.narrator.ok(f"deployment/{DEPLOYMENT} is Available, 3/3 replicas on {IMAGE_GOOD}")


def deploy_bad_v2(s: Session) -> None:
    n, k = s.narrator, s.k
    v1 = s.workdir / "api-v1.yaml"
    v2 = s.write("api-v2.yaml", to_yaml(deployment_manifest(IMAGE_BAD, bad=True)))
    diff = difflib.unified_diff(
        v1.read_text().splitlines(), v2.read_text().splitlines(), str(v1), str(v2), lineterm=""
    )
    n.command(shown(["diff", "-u", str(v1), str(v2)]))
    n.output("\n".join(diff))
    k.show("apply", "-f", str(v2))
    rollout = ("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE)
    k.show(*rollout, "--timeout=60s", timeout=75, expect_failure=True)
    k.show("get", "replicasets", "-n", NAMESPACE, "-l", APP, "-o", "wide")
    k.show("get", "pods", "-n", NAMESPACE, "-l", APP)
    dep = s.c.get("deployment", DEPLOYMENT, NAMESPACE)
    replicasets = s.c.kubectl("get", "replicasets", "-n", NAMESPACE, "-l", APP, "-o", "json")
    items = json.loads(replicasets.stdout)["items"]
    new = [rs for rs in items if revision_of(rs) == revision_of(dep)]
    if revision_of(dep) != 2 or len(new) != 1:
        raise DemoFailed(f"expected deployment/{DEPLOYMENT} at revision 2 with its ReplicaSet")
    rs = new[0]["metadata"]["name"]
    if (new[0].get("status") or {}).get("readyReplicas", 0) != 0:
        raise DemoFailed(f"the bad ReplicaSet {rs} has ready pods")
    n.ok(
        f"revision 2 (replicaset/{rs}, {IMAGE_BAD}) is stuck with 0 ready pods; "
        "revision 1 still runs"
    )


def declare(s: Session) -> None:
    n, k = s.narrator, s.k
    path = s.write("incident.yaml", to_yaml(incident_manifest()))
    s.cat(path)
    k.show("apply", "-f", str(path))
    status = s.wait(
        "the operator to name the suspect (status.suspect)",
        lambda: s.status() if s.status().get("suspect") else None,
        describe=lambda: json.dumps(s.status())[:400],
    )
    get = ("get", "incident", INCIDENT, "-n", NAMESPACE)
    k.show(*get, "-o", "wide")
    k.show(*get, "-o", "jsonpath={.status.suspect}")
    n.blank()
    k.show(*get, "-o", "jsonpath={.status.mitigation.message}")
    n.blank()
    suspect, mitigation = status["suspect"], status.get("mitigation") or {}
    name = suspect.get("name", suspect.get("deployment"))  # the new shape, or the old
    seen = (name, suspect.get("revision"), suspect.get("previousRevision"))
    if seen != (DEPLOYMENT, 2, 1):
        raise DemoFailed(f"unexpected suspect {seen}, expected ({DEPLOYMENT!r}, 2, 1)")
    if IMAGE_BAD not in str(suspect.get("change")):
        raise DemoFailed(f"the suspect's change {suspect.get('change')!r} lacks {IMAGE_BAD}")
    s.suspect_revision = int(suspect["revision"])
    command = shown(approve_command(s.suspect_revision))
    if mitigation.get("result") != "Pending" or command not in str(mitigation.get("message")):
        raise DemoFailed(
            f"expected a Pending mitigation whose message offers `{command}`, got {mitigation}"
        )
    n.ok(
        f"suspect: deployment/{DEPLOYMENT} revision {s.suspect_revision} "
        f"({suspect['change']}); the undo awaits {COMMANDER}'s approval"
    )


def intruder_denied(s: Session) -> None:
    n, k = s.narrator, s.k
    own = approve_command(s.suspect_revision, approver=INTRUDER)[1:]
    in_name = approve_command(s.suspect_revision, approver=COMMANDER)[1:]

    # Admission policies take effect asynchronously after they are installed; a
    # server-side dry run checks the policy without changing anything.
    def enforced() -> bool:
        result = s.c.kubectl(*own, "--dry-run=server", as_user=INTRUDER, check=False)
        return result.returncode != 0 and "approval rejected" in result.stderr

    s.wait("the API server to enforce the approval policy", enforced, timeout=60)
    n.blank()
    for args, expected in (
        (own, "is not the Incident Commander"),
        (in_name, f'cannot approve in the name of "{COMMANDER}"'),
    ):
        output = k.show(*args, as_user=INTRUDER, expect_failure=True)
        if expected not in output:
            raise DemoFailed(f"expected the API server to say {expected!r}")
        n.blank()
    k.show("get", "incident", INCIDENT, "-n", NAMESPACE, "-o", "jsonpath={.status.approval}")
    n.note("(empty: nobody has approved)")
    if s.status().get("approval"):
        raise DemoFailed(f"status.approval is set: {s.status()['approval']}")
    n.ok(f"{INTRUDER} was denied twice by the API server; status.approval is still empty")


def approve_and_undo(s: Session) -> None:
    n, k = s.narrator, s.k
    k.show(*approve_command(s.suspect_revision)[1:], as_user=COMMANDER)
    seen: list[str] = []

    def mitigated() -> dict[str, Any] | None:
        mitigation = s.status().get("mitigation") or {}
        result = str(mitigation.get("result"))
        if not seen or seen[-1] != result:
            seen.append(result)
            n.output(f"status.mitigation.result: {result} ({mitigation.get('message', '')})")
        if result in ("Failed", "Refused"):
            raise DemoFailed(
                f"the undo was {result}: {mitigation.get('reason')}: {mitigation.get('message')}"
            )
        return mitigation if result == "Succeeded" else None

    mitigation = s.wait("status.mitigation.result to be Succeeded", mitigated)
    if mitigation.get("fromRevision") != 2 or mitigation.get("toRevision") != 1:
        raise DemoFailed(f"expected an undo from revision 2 to 1, got {mitigation}")
    n.blank()
    k.show("rollout", "history", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE)
    k.show("get", "deployment", DEPLOYMENT, "-n", NAMESPACE, "-o", "wide")
    dep = s.c.get("deployment", DEPLOYMENT, NAMESPACE)
    image = template_image(dep)
    if image != IMAGE_GOOD or dep["spec"]["template"]["spec"].get("nodeSelector"):
        raise DemoFailed(f"deployment/{DEPLOYMENT} runs {image}, not the {IMAGE_GOOD} template")
    if (dep.get("status") or {}).get("availableReplicas") != 3:
        raise DemoFailed(f"deployment/{DEPLOYMENT} does not have 3 available replicas")
    n.ok(f"deployment/{DEPLOYMENT} is back on {IMAGE_GOOD} with 3/3 available replicas")
    n.blank()

    def event(kind: str, name: str, reason: str) -> None:
        s.wait(
            f"the {reason} Event on the {kind}",
            lambda: events(
                s.c, NAMESPACE, f"involvedObject.kind={kind}", f"reason={reason}", name=name
            ),
            timeout=30,
        )

    event("Deployment", DEPLOYMENT, "RolloutUndone")
    k.show("events", "-n", NAMESPACE, f"--for=deployment/{DEPLOYMENT}")
    n.blank()
    event("Incident", INCIDENT, "Mitigated")
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


def resolve(s: Session) -> None:
    n, k = s.narrator, s.k
    k.show(*patch_args(INCIDENT, NAMESPACE, RESOLVE_PATCH), as_user=COMMANDER)
    status = s.wait(
        "phase Resolved",
        lambda: (
            st
            if (st := s.status()).get("phase") == "Resolved"
            and st.get("timeToResolveSeconds") is not None
            else None
        ),
        describe=lambda: str(s.status().get("phase")),
    )
    get = ("get", "incident", INCIDENT, "-n", NAMESPACE)
    k.show(*get)
    n.blank()
    timeline = '{range .status.timeline[*]}{.at}{"  "}{.kind}{": "}{.message}{"\\n"}{end}'
    k.show(*get, "-o", f"jsonpath={timeline}")
    n.blank()
    k.show(
        *get,
        "-o",
        'jsonpath=timeToMitigateSeconds: {.status.timeToMitigateSeconds}{"\\n"}'
        'timeToResolveSeconds:  {.status.timeToResolveSeconds}{"\\n"}',
    )
    kinds = [entry.get("kind") for entry in status.get("timeline") or []]
    missing = [kind for kind in TIMELINE if kind not in kinds]
    if missing:
        raise DemoFailed(f"the timeline has no {', '.join(missing)} entry: {kinds}")
    ttm, ttr = status.get("timeToMitigateSeconds"), status.get("timeToResolveSeconds")
    if not isinstance(ttm, int | float) or not isinstance(ttr, int | float) or ttm > ttr:
        raise DemoFailed(f"implausible times: to mitigate {ttm}, to resolve {ttr}")
    n.note(
        "both are measured from spec.startedAt, or from the Incident's creation when it "
        "is not set, as here"
    )
    n.ok(f"resolved: time to mitigate {ttm:.1f}s, time to resolve {ttr:.1f}s")


def metrics(s: Session) -> None:
    n, url = s.narrator, f"{s.op.base_url}/metrics"
    text = s.wait(
        f"{TTR}_count on /metrics",
        lambda: t if (t := http_get_or_none(url)) and metric_sum(t, f"{TTR}_count") >= 1 else None,
        timeout=30,
    )
    n.note("fetched by the demo with urllib; the same with curl, _bucket lines left out:")
    n.command(f"curl -s {url} | grep -E '{grep_pattern()}'")
    n.output("\n".join(interesting_metric_lines(text)))
    n.blank()
    wrong = {
        f"{name}{labels}": got
        for name, labels, value in EXPECTED_METRICS
        if (got := metric_sum(text, name, exact=True, **labels)) != value
    }
    if wrong:
        raise DemoFailed(f"unexpected metrics {wrong}, expected {EXPECTED_METRICS}")
    mttr, mttm = histogram_mean(text, TTR), histogram_mean(text, TTM)
    assert mttr is not None and mttm is not None
    total, count = metric_sum(text, f"{TTR}_sum"), metric_sum(text, f"{TTR}_count")
    n.output(f"MTTR: {mttr:.0f} s   ({TTR}_sum / _count = {total:.1f} / {count:.0f})")
    n.output(f"mean time to mitigate: {mttm:.0f} s")
