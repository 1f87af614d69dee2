from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from factories import T0, deployment, history, replicaset

from tourniquet.core.projections import (
    UNKNOWN_TIME,
    DeploymentView,
    ReplicaSetView,
    deployment_view,
    parse_revision,
    replicaset_view,
)


def test_deployment_view_keeps_what_the_suspect_search_needs() -> None:
    body = deployment(
        "api",
        images={"api": "registry/api:1.4.3", "envoy": "envoyproxy/envoy:v1.31"},
        revision=7,
        labels={"app": "api", "tier": "web"},
        paused=True,
    )
    assert deployment_view(body) == DeploymentView(
        namespace="production",
        name="api",
        uid="uid-deploy-production-api",
        labels={"app": "api", "tier": "web"},
        revision=7,
        paused=True,
        images=(("api", "registry/api:1.4.3"), ("envoy", "envoyproxy/envoy:v1.31")),
        resource_version=body["metadata"].get("resourceVersion", ""),
    )


def test_replicaset_view_follows_the_controller_reference_to_its_deployment() -> None:
    owner, replicasets = history(start=T0, step=timedelta(minutes=30))
    view = replicaset_view(replicasets[1])
    assert view == ReplicaSetView(
        namespace="production",
        name=replicasets[1]["metadata"]["name"],
        uid=replicasets[1]["metadata"]["uid"],
        owner_uid=owner["metadata"]["uid"],
        owner_name="api",
        revision=2,
        created_at=T0 + timedelta(minutes=30),
        images=(("api", "registry/api:1.4.2"),),
    )


def test_views_are_immutable() -> None:
    view = deployment_view(deployment())
    with pytest.raises(AttributeError):
        view.name = "other"  # type: ignore[misc]


def test_a_non_controller_or_non_deployment_owner_is_no_owner() -> None:
    owner = deployment()
    rs = replicaset(owner, revision=1)
    rs["metadata"]["ownerReferences"][0]["controller"] = False
    assert replicaset_view(rs).owner_uid is None

    rs["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u-1"},
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": "api",
            "uid": "u-2",
            "controller": True,
        },
    ]
    view = replicaset_view(rs)
    assert (view.owner_uid, view.owner_name) == (None, None)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("7", 7),
        ("+7", 7),
        ("007", 7),
        ("-1", -1),
        ("7.0", None),
        (" 7", None),
        ("1_0", None),
        ("", None),
        ("seven", None),
        ("\u0667", None),  # ARABIC-INDIC DIGIT SEVEN: int() takes it, Go does not
        ("9223372036854775808", None),
        (7, None),
    ],
)
def test_revision_parses_like_go_strconv(annotation: Any, expected: int | None) -> None:
    assert parse_revision(annotation) == expected
    body = deployment(revision=None, annotations={"deployment.kubernetes.io/revision": annotation})
    assert deployment_view(body).revision == expected


def test_missing_revision_is_none() -> None:
    assert deployment_view(deployment(revision=None)).revision is None
    rs = replicaset(deployment(), revision=None)
    assert replicaset_view(rs).revision is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metadata": None, "spec": None},
        {"metadata": "api", "spec": []},
        {
            "metadata": {"name": 3, "labels": ["app"], "annotations": "x", "ownerReferences": {}},
            "spec": {"template": {"spec": {"containers": "api"}}},
        },
        {
            "metadata": {"ownerReferences": ["x", None]},
            "spec": {"template": {"spec": {"containers": [None, 3, {"name": "api"}]}}},
        },
    ],
)
def test_malformed_bodies_project_without_raising(body: dict[str, Any]) -> None:
    deployment_like = deployment_view(body)
    assert (deployment_like.name, deployment_like.uid, deployment_like.revision) == ("", "", None)
    assert deployment_like.paused is False
    rs = replicaset_view(body)
    assert rs.owner_uid is None
    assert rs.created_at == UNKNOWN_TIME
    assert all(isinstance(name, str) and isinstance(image, str) for name, image in rs.images)


def test_malformed_containers_keep_what_can_be_read() -> None:
    body = {"spec": {"template": {"spec": {"containers": [None, {"name": "api"}, {"image": 3}]}}}}
    assert deployment_view(body).images == (("api", ""), ("", ""))


def test_labels_keep_only_string_pairs_and_paused_must_be_true() -> None:
    body = deployment(labels={"app": "api"})
    body["metadata"]["labels"]["replicas"] = 3
    body["spec"]["paused"] = "true"
    view = deployment_view(body)
    assert view.labels == {"app": "api"}
    assert view.paused is False


def test_an_unparseable_creation_time_is_the_oldest_possible() -> None:
    rs = replicaset(deployment(), revision=1)
    rs["metadata"]["creationTimestamp"] = "last tuesday"
    assert replicaset_view(rs).created_at == UNKNOWN_TIME
    assert UNKNOWN_TIME < T0
