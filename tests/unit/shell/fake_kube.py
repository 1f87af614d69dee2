"""A small in-memory fake of shell.kube.Kube: the same async methods, answered from
dicts, with every call recorded and failures scriptable.

It behaves like the API server where the shell's guarantees depend on it:

- every write bumps the object's resourceVersion (one counter, like etcd's revision);
- a merge patch carrying metadata.resourceVersion is a precondition: 409 if it differs;
- a JSON patch applies all of its operations or none; a failing `test` operation
  (the undo's resourceVersion test) answers 422, as the API server does;
- a status-subresource patch changes only status; a patch of the main resource leaves
  status alone; a change of a Deployment's spec bumps metadata.generation;
- a dry run (drills) validates and answers but stores nothing;
- a missing object is 404 (a GET of one is None, as Kube's GETs answer).

`fail(verb, resource, status)` makes the next matching call answer that status instead
(before touching anything); `before(verb, resource, hook)` runs `hook` just before the
next matching call, so a test can change the cluster "at exactly that moment".
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from factories import apply_merge_patch
from kubernetes.client.exceptions import ApiException

from tourniquet.api.names import INCIDENTS, RUNBOOKS

Body = dict[str, Any]
R = TypeVar("R")

DEPLOYMENTS = "deployments"
REPLICASETS = "replicasets"
STATEFULSETS = "statefulsets"
DAEMONSETS = "daemonsets"
CONTROLLERREVISIONS = "controllerrevisions"
PODS = "pods"
CONFIGMAPS = "configmaps"
EVENTS = "events"
SECRETS = "secrets"
POLICIES = "validatingadmissionpolicies"

_REASONS = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity", 500: "Internal Error"}


def api_error(status: int, message: str = "") -> ApiException:
    exc = ApiException(status=status, reason=_REASONS.get(status, "Error"))
    exc.body = message or _REASONS.get(status, "error")
    return exc


@dataclass(frozen=True)
class Call:
    """One API request as the shell made it, and how the fake answered it."""

    verb: str  # get, list, create, patch
    resource: str  # deployments, incidents/status, ...
    namespace: str | None
    name: str | None
    body: Any = None
    dry_run: bool = False
    status: int = 200

    @property
    def what(self) -> tuple[str, str]:
        return (self.verb, self.resource)


@dataclass
class _Script:
    verb: str
    resource: str
    name: str | None
    status: int = 0
    message: str = ""
    hook: Callable[[], object] | None = None


@dataclass
class _Pending:
    failures: list[_Script] = field(default_factory=list)
    hooks: list[_Script] = field(default_factory=list)


def wire(value: Any) -> Any:
    """`value` as it crosses the wire: JSON in, JSON out (a StrEnum becomes its string;
    anything JSON cannot carry fails here, as it would in the client)."""
    return json.loads(json.dumps(value))


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise api_error(422, f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise api_error(422, f"the server rejected our request: path {path} not found")
    return node


def json_patch(doc: Body, operations: Sequence[Mapping[str, Any]]) -> Body:
    """RFC 6902 (test, add, replace, remove), all or nothing."""
    result = copy.deepcopy(doc)
    for op in operations:
        path = str(op.get("path", ""))
        parts = _pointer(path)
        parent = _parent(result, parts, path)
        key = parts[-1]
        kind = op.get("op")
        if kind == "test":
            present = isinstance(parent, dict) and key in parent
            if not present or parent[key] != op.get("value"):
                raise api_error(
                    422, f"the server rejected our request: testing value {path} failed"
                )
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if key == "-" else int(key)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op.get("value")))
                else:
                    parent[index] = copy.deepcopy(op.get("value"))
            else:
                if kind == "replace" and key not in parent:
                    raise api_error(422, f"replace operation does not apply: {path} is missing")
                parent[key] = copy.deepcopy(op.get("value"))
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(key)]
            elif key in parent:
                del parent[key]
            else:
                raise api_error(422, f"remove operation does not apply: {path} is missing")
        else:
            raise api_error(422, f"unsupported JSON patch operation {kind!r}")
    return result


_REQUIREMENT = re.compile(
    r"\s*(?:(?P<not>!)(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


def selects(selector: str | None, labels: Mapping[str, str]) -> bool:
    """A labelSelector query (`a=b,c in (d,e),!f,g`) against labels."""
    if not selector:
        return True
    position = 0
    while position < len(selector):
        match = _REQUIREMENT.match(selector, position)
        if match is None or match.end() == position:
            raise api_error(400, f"unable to parse requirement: {selector[position:]!r}")
        position = match.end()
        if match["absent"]:
            if match["absent"] in labels:
                return False
            continue
        key = match["key"]
        if match["op"] in ("=", "=="):
            if labels.get(key) != match["value"]:
                return False
        elif match["op"] == "!=":
            if labels.get(key) == match["value"]:
                return False
        elif match["set"]:
            values = {v.strip() for v in match["values"].split(",") if v.strip()}
            if (match["set"] == "in") != (labels.get(key) in values):
                return False
        elif key not in labels:
            return False
    return True


class FakeKube:
    """Deployments, ReplicaSets, Incidents, Runbooks and ConfigMaps in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Body] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.calls: list[Call] = []
        #: Events posted through post_event (kopf.event is the test's to record).
        self.events: list[Body] = []
        #: What approval_policy_enforced answers.
        self.policy_enforced = True
        self._pending = _Pending()
        self._revision = itertools.count(5000)

    # -- the test's side: seed, inspect, script ------------------------------------------

    def put(self, resource: str, body: Mapping[str, Any]) -> Body:
        """Store `body` as the cluster holds it (a resourceVersion assigned if it has none)."""
        stored = copy.deepcopy(dict(body))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("resourceVersion", self._next_version())
        meta.setdefault("uid", f"uid-{resource}-{meta.get('namespace')}-{meta['name']}")
        meta.setdefault("generation", 1)
        self.objects[(resource, str(meta.get("namespace")), str(meta["name"]))] = stored
        return copy.deepcopy(stored)

    def get(self, resource: str, namespace: str, name: str) -> Body | None:
        """The stored object (a copy), without making a call."""
        found = self.objects.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def all(self, resource: str, namespace: str | None = None) -> list[Body]:
        return [
            copy.deepcopy(body)
            for (kind, ns, _), body in self.objects.items()
            if kind == resource and (namespace is None or ns == namespace)
        ]

    def edit(
        self, resource: str, namespace: str, name: str, change: Callable[[Body], None]
    ) -> Body:
        """Somebody else changes the object (no call recorded): its resourceVersion moves."""
        body = self.objects[(resource, namespace, name)]
        change(body)
        body["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(body)

    def delete(self, resource: str, namespace: str, name: str) -> None:
        self.objects.pop((resource, namespace, name), None)

    def fail(
        self, verb: str, resource: str, status: int, *, name: str | None = None, times: int = 1
    ) -> None:
        """The next `times` calls of `verb` on `resource` (and `name`) answer `status`."""
        for _ in range(times):
            self._pending.failures.append(_Script(verb, resource, name, status))

    def before(
        self, verb: str, resource: str, hook: Callable[[], object], *, name: str | None = None
    ) -> None:
        """Run `hook` once, just before the next matching call is answered."""
        self._pending.hooks.append(_Script(verb, resource, name, hook=hook))

    def calls_to(self, verb: str, resource: str) -> list[Call]:
        return [c for c in self.calls if c.what == (verb, resource)]

    def writes(self) -> list[Call]:
        """The calls that change the cluster's objects (create, patch; Events aside), in
        order."""
        return [c for c in self.calls if c.verb in ("create", "patch") and c.resource != "events"]

    # -- the machinery -------------------------------------------------------------------

    def _next_version(self) -> str:
        return str(next(self._revision))

    @staticmethod
    def _matches(script: _Script, verb: str, resource: str, name: str | None) -> bool:
        return (script.verb, script.resource) == (verb, resource) and script.name in (None, name)

    async def _call(
        self,
        verb: str,
        resource: str,
        namespace: str | None,
        name: str | None,
        answer: Callable[[], R],
        body: Any = None,
        dry_run: bool = False,
    ) -> R:
        for hook in list(self._pending.hooks):
            if self._matches(hook, verb, resource, name):
                self._pending.hooks.remove(hook)
                assert hook.hook is not None
                hook.hook()
        snapshot = wire(body)
        for failure in list(self._pending.failures):
            if self._matches(failure, verb, resource, name):
                self._pending.failures.remove(failure)
                self.calls.append(
                    Call(verb, resource, namespace, name, snapshot, dry_run, failure.status)
                )
                raise api_error(failure.status, failure.message)
        try:
            result = answer()
        except ApiException as exc:
            self.calls.append(Call(verb, resource, namespace, name, snapshot, dry_run, exc.status))
            raise
        self.calls.append(Call(verb, resource, namespace, name, snapshot, dry_run))
        return result

    def _stored(self, resource: str, namespace: str, name: str) -> Body:
        found = self.objects.get((resource, namespace, name))
        if found is None:
            raise api_error(404, f'{resource} "{name}" not found')
        return found

    def _read(self, resource: str, namespace: str, name: str) -> Body | None:
        found = self.objects.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def _merge(
        self, resource: str, namespace: str, name: str, patch: Mapping[str, Any], *, status: bool
    ) -> Body:
        patch = wire(patch)
        current = self._stored(resource, namespace, name)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise api_error(
                409,
                f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        if status:
            updated = copy.deepcopy(current)
            if "status" in patch:
                merged = apply_merge_patch(current.get("status") or {}, patch["status"])
                updated["status"] = merged
        else:
            rest = {k: v for k, v in patch.items() if k != "status"}
            updated = apply_merge_patch(current, rest)
            if "status" in current:
                updated["status"] = copy.deepcopy(current["status"])
            else:
                updated.pop("status", None)
            if updated.get("spec") != current.get("spec"):
                updated["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        updated["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if updated != current:
            updated["metadata"]["resourceVersion"] = self._next_version()
            self.objects[(resource, namespace, name)] = updated
        return copy.deepcopy(updated)

    def _create(self, resource: str, namespace: str, body: Mapping[str, Any]) -> Body:
        body = wire(body)
        meta = dict(body.get("metadata") or {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = f"{meta['generateName']}{next(self._revision):x}"
        if not name:
            raise api_error(422, "name or generateName is required")
        if (resource, namespace, name) in self.objects:
            raise api_error(409, f'{resource} "{name}" already exists')
        stored = copy.deepcopy(dict(body))
        stored["metadata"] = {**meta, "name": name, "namespace": namespace}
        stored["metadata"].pop("generateName", None)
        return self.put(resource, stored)

    # -- Kube's methods ------------------------------------------------------------------

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._call(
            "get", DEPLOYMENTS, namespace, name, lambda: self._read(DEPLOYMENTS, namespace, name)
        )

    async def list_deployments(self, namespace: str) -> list[dict[str, Any]]:
        return await self._call(
            "list", DEPLOYMENTS, namespace, None, lambda: self.all(DEPLOYMENTS, namespace)
        )

    async def list_replicasets(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        def answer() -> list[Body]:
            return [
                rs
                for rs in self.all(REPLICASETS, namespace)
                if selects(label_selector, (rs.get("metadata") or {}).get("labels") or {})
            ]

        return await self._call(
            "list", REPLICASETS, namespace, None, answer, body={"labelSelector": label_selector}
        )

    async def json_patch_deployment(
        self, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool = False
    ) -> dict[str, Any]:
        def answer() -> Body:
            current = self._stored(DEPLOYMENTS, namespace, name)
            updated = json_patch(current, wire(patch))
            if updated.get("spec") != current.get("spec"):
                generation = current["metadata"].get("generation", 1)
                updated["metadata"]["generation"] = generation + 1
            if updated != current:
                updated["metadata"]["resourceVersion"] = self._next_version()
            if not dry_run:
                self.objects[(DEPLOYMENTS, namespace, name)] = updated
            return copy.deepcopy(updated)

        return await self._call(
            "patch", DEPLOYMENTS, namespace, name, answer, body=patch, dry_run=dry_run
        )

    # StatefulSets and DaemonSets: stored under their plural ("statefulsets", ...).

    @staticmethod
    def _plural(kind: str) -> str:
        return {"StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS}[kind]

    async def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        plural = self._plural(kind)
        return await self._call(
            "get", plural, namespace, name, lambda: self._read(plural, namespace, name)
        )

    async def list_workloads(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        plural = self._plural(kind)
        return await self._call(
            "list", plural, namespace, None, lambda: self.all(plural, namespace)
        )

    async def list_controllerrevisions(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        def answer() -> list[Body]:
            return [
                r
                for r in self.all(CONTROLLERREVISIONS, namespace)
                if selects(label_selector, (r.get("metadata") or {}).get("labels") or {})
            ]

        return await self._call(
            "list",
            CONTROLLERREVISIONS,
            namespace,
            None,
            answer,
            body={"labelSelector": label_selector},
        )

    async def strategic_patch_workload(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any], *, dry_run: bool = False
    ) -> None:
        """The undo's patch shape only: metadata.resourceVersion is a precondition (409),
        spec.template with "$patch": "replace" replaces the template."""
        plural = self._plural(kind)

        def answer() -> None:
            current = self._stored(plural, namespace, name)
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != current["metadata"].get("resourceVersion"):
                raise api_error(409, "the object has been modified")
            updated = copy.deepcopy(current)
            template = ((patch.get("spec") or {}).get("template")) or None
            if template is not None:
                template = {k: v for k, v in template.items() if k != "$patch"}
                if template != updated["spec"].get("template"):
                    updated["spec"]["template"] = template
                    updated["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
                    updated["metadata"]["resourceVersion"] = self._next_version()
            if not dry_run:
                self.objects[(plural, namespace, name)] = updated

        return await self._call(
            "patch", plural, namespace, name, answer, body=patch, dry_run=dry_run
        )

    async def get_object(
        self, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """Another controller's custom resource, stored under its plural."""
        return await self._call(
            "get", plural, namespace, name, lambda: self._read(plural, namespace, name)
        )

    async def merge_patch_object(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        def answer() -> Body:
            if dry_run:
                current = self._stored(plural, namespace, name)
                return dict(apply_merge_patch(copy.deepcopy(current), wire(patch)))
            return self._merge(plural, namespace, name, patch, status=False)

        return await self._call(
            "patch", plural, namespace, name, answer, body=patch, dry_run=dry_run
        )

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if "=" in part)

        def answer() -> list[Body]:
            return [
                pod
                for pod in self.all(PODS, namespace)
                if wanted.items() <= (pod["metadata"].get("labels") or {}).items()
            ]

        return await self._call("list", PODS, namespace, None, answer)

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        def answer() -> None:
            current = self._stored(PODS, namespace, name)
            if current["metadata"].get("uid") != uid:
                raise api_error(409, f"Precondition failed: UID in precondition: {uid}")
            self.delete(PODS, namespace, name)

        await self._call("delete", PODS, namespace, name, answer)

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._call(
            "get", CONFIGMAPS, namespace, name, lambda: self._read(CONFIGMAPS, namespace, name)
        )

    async def apply_configmap(self, namespace: str, body: dict[str, Any]) -> None:
        """As Kube does it: a create, and on 409 a merge patch of data and labels."""
        name = body["metadata"]["name"]
        try:
            await self._call(
                "create",
                CONFIGMAPS,
                namespace,
                name,
                lambda: self._create(CONFIGMAPS, namespace, body),
                body=body,
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            patch = {
                "metadata": {"labels": body["metadata"].get("labels", {})},
                "data": body.get("data", {}),
            }
            await self._call(
                "patch",
                CONFIGMAPS,
                namespace,
                name,
                lambda: self._merge(CONFIGMAPS, namespace, name, patch, status=False),
                body=patch,
            )

    async def post_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str
    ) -> None:
        meta = involved["metadata"]
        event = {
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
        }

        def answer() -> None:
            # How many writes the cluster had seen when it was posted (the order matters).
            self.events.append({**event, "afterWrites": len(self.writes())})

        await self._call("create", EVENTS, meta["namespace"], None, answer, body=event)

    async def list_runbooks(self, namespaces: Sequence[str]) -> list[dict[str, Any]]:
        return await self._call(
            "list", RUNBOOKS, None, None, lambda: self._list(RUNBOOKS, namespaces)
        )

    async def list_incidents(
        self, namespaces: Sequence[str], label_selector: str
    ) -> list[dict[str, Any]]:
        def answer() -> list[Body]:
            return [
                body
                for body in self._list(INCIDENTS, namespaces)
                if selects(label_selector, (body.get("metadata") or {}).get("labels") or {})
            ]

        return await self._call(
            "list", INCIDENTS, None, None, answer, body={"labelSelector": label_selector}
        )

    def _list(self, resource: str, namespaces: Sequence[str]) -> list[Body]:
        if not namespaces:
            return self.all(resource)
        return [body for ns in namespaces for body in self.all(resource, ns)]

    async def create_incident(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        return await self._call(
            "create",
            INCIDENTS,
            namespace,
            name,
            lambda: self._create(INCIDENTS, namespace, body),
            body=body,
        )

    async def patch_incident(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "patch",
            INCIDENTS,
            namespace,
            name,
            lambda: self._merge(INCIDENTS, namespace, name, patch, status=False),
            body=patch,
        )

    async def get_runbook(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._call(
            "get", RUNBOOKS, namespace, name, lambda: self._read(RUNBOOKS, namespace, name)
        )

    async def get_peering(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        # No kopf peering in the shell's unit tests: every operator there is standalone.
        return await self._call("get", "kopfpeerings", namespace or "", name, lambda: None)

    async def patch_runbook_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "patch",
            f"{RUNBOOKS}/status",
            namespace,
            name,
            lambda: self._merge(RUNBOOKS, namespace, name, patch, status=True),
            body=patch,
        )

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        def answer() -> str | None:
            value = self.secrets.get((namespace, name), {}).get(key)
            return value.strip() or None if value else None

        return await self._call("get", SECRETS, namespace, name, answer)

    async def patch_incident_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "patch",
            f"{INCIDENTS}/status",
            namespace,
            name,
            lambda: self._merge(INCIDENTS, namespace, name, patch, status=True),
            body=patch,
        )

    async def approval_policy_enforced(self, policy: str) -> bool:
        return await self._call("get", POLICIES, None, policy, lambda: self.policy_enforced)
