"""The fake is only as good as its likeness: the same methods as shell.kube.Kube, and the
API server's answers where the shell's guarantees depend on them."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from factories import NAMESPACE, history
from fake_kube import DEPLOYMENTS, REPLICASETS, FakeKube, selects
from shell_scenario import INCIDENT_STATUS, run

from tourniquet.api.names import INCIDENTS
from tourniquet.shell.kube import ApiException, Kube


def public_coroutines(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_the_fake_has_every_method_of_kube_with_its_signature() -> None:
    real, fake = public_coroutines(Kube), public_coroutines(FakeKube)
    assert sorted(set(real) - set(fake)) == [], "FakeKube lacks these Kube methods"
    for name, signature in real.items():
        assert str(fake[name]) == str(signature), name


def stored(kube: FakeKube, resource: str, name: str) -> dict[str, Any]:
    found = kube.get(resource, NAMESPACE, name)
    assert found is not None
    return found


def seeded() -> FakeKube:
    kube = FakeKube()
    deployment, replicasets = history()
    kube.put(DEPLOYMENTS, deployment)
    for rs in replicasets:
        kube.put(REPLICASETS, rs)
    kube.put(INCIDENTS, {"metadata": {"name": "i", "namespace": NAMESPACE}, "spec": {}})
    return kube


def test_a_failed_json_patch_test_changes_nothing_and_answers_422() -> None:
    kube = seeded()
    before = kube.get(DEPLOYMENTS, NAMESPACE, "api")
    patch: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "stale"},
        {"op": "replace", "path": "/spec/replicas", "value": 9},
    ]

    with pytest.raises(ApiException) as raised:
        run(kube.json_patch_deployment(NAMESPACE, "api", patch))

    assert raised.value.status == 422
    assert kube.get(DEPLOYMENTS, NAMESPACE, "api") == before
    assert kube.calls[-1].status == 422


def test_a_json_patch_bumps_the_resource_version_and_generation_unless_a_dry_run() -> None:
    kube = seeded()
    version = stored(kube, DEPLOYMENTS, "api")["metadata"]["resourceVersion"]
    patch: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "replace", "path": "/spec/replicas", "value": 9},
    ]

    dry = run(kube.json_patch_deployment(NAMESPACE, "api", patch, dry_run=True))
    assert dry["spec"]["replicas"] == 9
    assert stored(kube, DEPLOYMENTS, "api")["spec"]["replicas"] == 3

    done = run(kube.json_patch_deployment(NAMESPACE, "api", patch))
    assert done["metadata"]["resourceVersion"] != version
    assert done["metadata"]["generation"] == 2
    assert kube.get(DEPLOYMENTS, NAMESPACE, "api") == done


def test_a_status_merge_patch_has_a_precondition_and_touches_only_status() -> None:
    kube = seeded()
    version = stored(kube, INCIDENTS, "i")["metadata"]["resourceVersion"]

    with pytest.raises(ApiException) as raised:
        run(
            kube.patch_incident_status(
                NAMESPACE, "i", {"metadata": {"resourceVersion": "0"}, "status": {"phase": "X"}}
            )
        )
    assert raised.value.status == 409

    written = run(
        kube.patch_incident_status(
            NAMESPACE,
            "i",
            {"metadata": {"resourceVersion": version}, "spec": {"x": 1}, "status": {"phase": "X"}},
        )
    )
    assert written["status"] == {"phase": "X"}
    assert written["spec"] == {}
    assert written["metadata"]["resourceVersion"] != version
    removed = run(kube.patch_incident_status(NAMESPACE, "i", {"status": {"phase": None}}))
    assert removed["status"] == {}


def test_scripted_failures_answer_once_and_are_recorded() -> None:
    kube = seeded()
    kube.fail("patch", INCIDENT_STATUS, 500)

    with pytest.raises(ApiException):
        run(kube.patch_incident_status(NAMESPACE, "i", {"status": {"phase": "X"}}))
    run(kube.patch_incident_status(NAMESPACE, "i", {"status": {"phase": "X"}}))

    assert [c.status for c in kube.calls] == [500, 200]
    assert stored(kube, INCIDENTS, "i")["status"] == {"phase": "X"}


def test_a_missing_object_is_none_to_get_and_404_to_patch() -> None:
    kube = FakeKube()
    assert run(kube.get_deployment(NAMESPACE, "nope")) is None
    with pytest.raises(ApiException) as raised:
        run(kube.patch_incident_status(NAMESPACE, "nope", {"status": {}}))
    assert raised.value.status == 404


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("app=api", True),
        ("app=web", False),
        ("app=api,tier notin (db)", True),
        ("tier in (web,api)", False),
        ("!tier", True),
        ("app", True),
        ("app!=api", False),
    ],
)
def test_label_selectors(selector: str, selected: bool) -> None:
    assert selects(selector, {"app": "api"}) is selected
