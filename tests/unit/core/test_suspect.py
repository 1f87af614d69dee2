from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from factories import T0, deployment, history, pod_template, replicaset

from tourniquet.core.projections import deployment_view, replicaset_view
from tourniquet.core.suspect import Suspect, describe_change, find_suspect


def views(
    *clusters: tuple[dict[str, Any], list[dict[str, Any]]],
) -> tuple[list[Any], list[Any]]:
    deployments = [deployment_view(d) for d, _ in clusters]
    replicasets = [replicaset_view(rs) for _, rss in clusters for rs in rss]
    return deployments, replicasets


def test_the_live_revision_of_a_single_deployment_is_the_suspect() -> None:
    api, rss = history("api", start=T0, step=timedelta(hours=1))
    suspect = find_suspect(*views((api, rss)), selector=None)
    assert suspect == Suspect(
        deployment="api",
        replica_set=rss[2]["metadata"]["name"],
        revision=3,
        previous_revision=2,
        rolled_out_at=T0 + timedelta(hours=2),
        change="api: registry/api:1.4.2 -> registry/api:1.4.3",
    )


def test_the_most_recent_rollout_in_scope_wins() -> None:
    # api rolled out at 11:00, worker at 11:30 (most recent), web at 13:00 but out of scope.
    api = history("api", start=T0, step=timedelta(hours=1), labels={"app": "api", "tier": "be"})
    worker = history(
        "worker",
        [{"worker": "registry/worker:2.0"}, {"worker": "registry/worker:2.1"}],
        start=T0 + timedelta(hours=1),
        step=timedelta(hours=1, minutes=30),
        labels={"app": "worker", "tier": "be"},
    )
    web = history(
        "web",
        [{"web": "registry/web:9"}, {"web": "registry/web:10"}],
        start=T0 + timedelta(hours=3),
        labels={"app": "web", "tier": "fe"},
    )
    deployments, replicasets = views(api, worker, web)

    in_scope = find_suspect(deployments, replicasets, {"matchLabels": {"tier": "be"}})
    assert in_scope is not None
    assert (in_scope.deployment, in_scope.revision, in_scope.previous_revision) == ("worker", 2, 1)
    assert in_scope.change == "worker: registry/worker:2.0 -> registry/worker:2.1"

    everywhere = find_suspect(deployments, replicasets, None)
    assert everywhere is not None and everywhere.deployment == "web"

    only_api = find_suspect(
        deployments,
        replicasets,
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
    )
    assert only_api is not None and only_api.deployment == "api"


def test_an_older_revision_created_later_does_not_make_a_deployment_newer() -> None:
    # Age comes from the LIVE revision's ReplicaSet only: api's stale revision-1 ReplicaSet is
    # newer than worker's live one (clock skew, re-creation), yet worker rolled out last.
    api, api_rss = history("api", [{"api": "a:1"}, {"api": "a:2"}], start=T0)
    api_rss[0]["metadata"]["creationTimestamp"] = "2026-11-27T23:00:00Z"
    worker, worker_rss = history("worker", [{"w": "w:1"}], start=T0 + timedelta(hours=5))
    suspect = find_suspect(*views((api, api_rss), (worker, worker_rss)), selector=None)
    assert suspect is not None and suspect.deployment == "worker"


def test_ties_are_broken_by_name_whatever_the_input_order() -> None:
    zeta = history("zeta", [{"z": "z:1"}, {"z": "z:2"}], start=T0, step=timedelta(0))
    alpha = history("alpha", [{"a": "a:1"}, {"a": "a:2"}], start=T0, step=timedelta(0))
    for order in ((zeta, alpha), (alpha, zeta)):
        suspect = find_suspect(*views(*order), selector=None)
        assert suspect is not None and suspect.deployment == "alpha"


def test_deployments_without_a_live_replicaset_are_skipped() -> None:
    api, api_rss = history("api", start=T0 + timedelta(days=1))
    # The controller has not created revision 4's ReplicaSet yet.
    api["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    no_revision = deployment("fresh", revision=None)
    orphan = deployment("orphan", revision=1)
    worker, worker_rss = history("worker", [{"w": "w:1"}, {"w": "w:2"}], start=T0)
    deployments, replicasets = views((api, api_rss), (worker, worker_rss))
    deployments += [deployment_view(no_revision), deployment_view(orphan)]
    suspect = find_suspect(deployments, replicasets, None)
    assert suspect is not None and suspect.deployment == "worker"


def test_no_deployment_in_scope_means_no_suspect() -> None:
    deployments, replicasets = views(history("api"))
    assert find_suspect(deployments, replicasets, {"matchLabels": {"app": "web"}}) is None
    assert find_suspect([], replicasets, None) is None
    assert find_suspect(deployments, [], None) is None


def test_replicasets_of_another_deployment_or_namespace_are_not_history() -> None:
    api, api_rss = history("api", [{"api": "a:1"}, {"api": "a:2"}])
    # A namesake in staging: different uid, its ReplicaSets must not be mixed in.
    _staging, staging_rss = history(
        "api", [{"api": "a:0"}, {"api": "a:9"}, {"api": "a:10"}], namespace="staging"
    )
    deployments, replicasets = views((api, api_rss))
    replicasets += [replicaset_view(rs) for rs in staging_rss]
    suspect = find_suspect(deployments, replicasets, None)
    assert suspect is not None
    assert (suspect.revision, suspect.previous_revision) == (2, 1)
    assert suspect.change == "api: a:1 -> a:2"


def test_previous_revision_is_the_highest_below_the_live_one() -> None:
    # After `rollout undo` to 2, revision 2's ReplicaSet becomes revision 5: history 1,3,4,5.
    api = deployment("api", images={"api": "a:2"}, revision=5)
    rss = [
        replicaset(api, revision=1, template=pod_template({"api": "a:1"}), created_at=T0),
        replicaset(api, revision=3, template=pod_template({"api": "a:3"}), created_at=T0),
        replicaset(api, revision=4, template=pod_template({"api": "a:4"}), created_at=T0),
        replicaset(api, revision=5, created_at=T0 + timedelta(hours=1)),
    ]
    suspect = find_suspect(*views((api, rss)), selector=None)
    assert suspect is not None
    assert (suspect.revision, suspect.previous_revision) == (5, 4)
    assert suspect.change == "api: a:4 -> a:2"


def test_first_rollout_lists_its_images() -> None:
    api, rss = history("api", [{"api": "registry/api:1.4.3", "envoy": "envoy:v1.31"}])
    suspect = find_suspect(*views((api, rss)), selector=None)
    assert suspect is not None and suspect.previous_revision is None
    assert suspect.change == "first rollout: api=registry/api:1.4.3, envoy=envoy:v1.31"


def test_change_lists_each_changed_added_and_removed_container() -> None:
    change = describe_change(
        (("api", "r/api:1"), ("envoy", "envoy:1"), ("logger", "fluent:1")),
        (("api", "r/api:2"), ("envoy", "envoy:1"), ("sidecar", "otel:0.9"), ("logger", "fl:2")),
        6,
        7,
    )
    assert change == ("api: r/api:1 -> r/api:2, sidecar: added otel:0.9, logger: fluent:1 -> fl:2")
    removed = describe_change((("api", "r/api:1"), ("old", "x:1")), (("api", "r/api:1"),), 6, 7)
    assert removed == "old: removed x:1"


def test_a_template_change_without_image_change_is_named_by_revision() -> None:
    labels = {"app": "api"}
    api = deployment(
        "api", template=pod_template({"api": "a:1"}, labels, serviceAccountName="x"), revision=7
    )
    rss = [
        replicaset(api, revision=6, template=pod_template({"api": "a:1"}, labels)),
        replicaset(api, revision=7, created_at=T0 + timedelta(minutes=1)),
    ]
    suspect = find_suspect(*views((api, rss)), selector=None)
    assert suspect is not None
    assert suspect.change == "pod template changed (revision 6 -> 7)"


def test_to_status_uses_the_api_field_names() -> None:
    suspect = Suspect("api", "api-7d9f", 7, 6, datetime(2026, 11, 27, 10, 0, 0, 5, tzinfo=UTC), "c")
    assert suspect.to_status() == {
        "kind": "Deployment",
        "name": "api",
        "replicaSet": "api-7d9f",
        "revision": 7,
        "previousRevision": 6,
        "rolledOutAt": "2026-11-27T10:00:00Z",
        "change": "c",
    }
    first = Suspect("api", "api-1", 1, None, T0, "first rollout: api=a:1").to_status()
    assert "previousRevision" not in first
    assert first["rolledOutAt"] == "2026-11-27T09:00:00Z"
