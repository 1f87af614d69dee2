from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from factories import LAST_APPLIED, REVISION, T0, deployment, history, pod_template, replicaset

from tourniquet.core.rollback import (
    ANNOTATIONS_TO_SKIP,
    AlreadyAtRevision,
    DeploymentPaused,
    NoRolloutHistory,
    RevisionNotFound,
    UndoPlan,
    equal_ignore_hash,
    owned_replicasets,
    select_revision,
    undo_plan,
)


def names(replicasets: list[Any]) -> list[str]:
    return [rs["metadata"]["name"] for rs in replicasets]


def test_annotations_to_skip_are_kubectls() -> None:
    assert {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    } == ANNOTATIONS_TO_SKIP


def test_owned_replicasets_follow_the_controller_reference_uid() -> None:
    api, rss = history("api")
    other, other_rss = history("worker", [{"w": "w:1"}])
    adopted_elsewhere = copy.deepcopy(rss[0])
    adopted_elsewhere["metadata"]["ownerReferences"][0]["controller"] = False
    adopted_elsewhere["metadata"]["name"] = "api-not-controlled"
    everything = [*rss, *other_rss, adopted_elsewhere, "garbage", {}]
    assert names(owned_replicasets(api, everything)) == names(rss)  # type: ignore[arg-type]
    assert names(owned_replicasets(other, everything)) == names(other_rss)  # type: ignore[arg-type]


def test_a_deployment_without_uid_owns_nothing() -> None:
    api, rss = history("api")
    del api["metadata"]["uid"]
    for rs in rss:
        del rs["metadata"]["ownerReferences"][0]["uid"]
    assert owned_replicasets(api, rss) == []


def test_select_revision_zero_is_the_previous_revision() -> None:
    api, rss = history("api")
    assert select_revision(api, reversed(rss)) is rss[1]


def test_select_revision_n_is_that_revision() -> None:
    api, rss = history("api")
    assert select_revision(api, rss, 1) is rss[0]
    assert select_revision(api, rss, 3) is rss[2]


def test_unknown_or_negative_revisions_are_not_found() -> None:
    api, rss = history("api")
    with pytest.raises(RevisionNotFound, match="unable to find specified revision 9 in history"):
        select_revision(api, rss, 9)
    with pytest.raises(RevisionNotFound, match="revision -1"):
        select_revision(api, rss, -1)


def test_a_single_revision_has_no_history() -> None:
    api, rss = history("api", [{"api": "a:1"}])
    with pytest.raises(NoRolloutHistory, match='no rollout history found for deployment "api"'):
        select_revision(api, rss)
    with pytest.raises(NoRolloutHistory):
        select_revision(api, [])


def test_only_replicasets_matching_the_deployment_selector_count() -> None:
    # kubectl lists ReplicaSets by the Deployment's selector before checking the owner.
    api, rss = history("api")
    rss[1]["metadata"]["labels"] = {"app": "relabelled"}
    assert select_revision(api, rss) is rss[0]
    api["spec"]["selector"] = None  # LabelSelectorAsSelector(nil) selects nothing
    with pytest.raises(NoRolloutHistory):
        select_revision(api, rss)


def test_replicasets_in_another_namespace_are_not_listed() -> None:
    api, rss = history("api")
    rss[1]["metadata"]["namespace"] = "staging"
    assert select_revision(api, rss) is rss[0]


def test_a_missing_revision_annotation_counts_as_revision_zero_like_kubectl() -> None:
    api, rss = history("api", [{"api": "a:1"}, {"api": "a:2"}])
    del rss[0]["metadata"]["annotations"][REVISION]
    assert select_revision(api, rss) is rss[0]
    assert select_revision(api, rss, 2) is rss[1]


def test_a_garbled_revision_annotation_is_skipped_like_kubectl() -> None:
    api, rss = history("api")
    rss[1]["metadata"]["annotations"][REVISION] = "two"
    assert select_revision(api, rss) is rss[0]


def test_duplicate_revisions_resolve_in_kubectls_order() -> None:
    # GetAllReplicaSets yields old ReplicaSets oldest first and the one matching the
    # Deployment's template last, so with a duplicated revision the oldest old one wins.
    api = deployment("api", images={"api": "a:3"}, revision=3)
    new = replicaset(api, revision=2, created_at=T0)
    old_late = replicaset(
        api, revision=2, template=pod_template({"api": "a:2"}), created_at=T0 + timedelta(hours=2)
    )
    old_early = replicaset(
        api, revision=2, template=pod_template({"api": "b:2"}), created_at=T0 + timedelta(hours=1)
    )
    assert select_revision(api, [new, old_late, old_early], 2) is old_early
    live = replicaset(api, revision=3, created_at=T0 + timedelta(hours=3))
    assert select_revision(api, [live, old_late, old_early]) is old_early
    # With no ReplicaSet matching the template, the first one seen keeps "previous".
    api["spec"]["template"] = pod_template({"api": "a:4"})
    live["metadata"]["creationTimestamp"] = "2026-11-27T08:00:00Z"
    assert select_revision(api, [old_late, live, old_early]) is old_early


def test_equal_ignore_hash_ignores_only_the_hash_label() -> None:
    api, rss = history("api")
    assert equal_ignore_hash(api["spec"]["template"], rss[2]["spec"]["template"])
    assert not equal_ignore_hash(api["spec"]["template"], rss[1]["spec"]["template"])
    relabelled = copy.deepcopy(rss[2]["spec"]["template"])
    relabelled["metadata"]["labels"]["track"] = "canary"
    assert not equal_ignore_hash(api["spec"]["template"], relabelled)


def test_equal_ignore_hash_treats_unset_null_and_empty_lists_alike() -> None:
    # apimachinery's Semantic.DeepEqual: nil and empty slices are equal.
    a = pod_template({"api": "a:1"})
    b = copy.deepcopy(a)
    b["metadata"]["creationTimestamp"] = None
    b["spec"]["volumes"] = []
    del a["metadata"]["creationTimestamp"]
    assert equal_ignore_hash(a, b)
    only_hash = pod_template({"api": "a:1"}, {"pod-template-hash": "abc"})
    no_labels = pod_template({"api": "a:1"})
    del no_labels["metadata"]["labels"]
    assert equal_ignore_hash(only_hash, no_labels)


def test_equal_ignore_hash_does_not_mutate_its_inputs() -> None:
    _, rss = history("api")
    template = rss[0]["spec"]["template"]
    before = copy.deepcopy(template)
    equal_ignore_hash(template, rss[1]["spec"]["template"])
    assert template == before
    assert "pod-template-hash" in template["metadata"]["labels"]


def test_equal_ignore_hash_tolerates_malformed_templates() -> None:
    assert equal_ignore_hash(None, {})
    assert equal_ignore_hash({"metadata": {"labels": {"pod-template-hash": "x"}}}, {"metadata": {}})
    assert not equal_ignore_hash("x", pod_template({"api": "a:1"}))


def test_undo_plan_is_kubectls_patch_guarded_by_resource_version() -> None:
    api, rss = history("api", resource_version="98765")
    plan = undo_plan(api, rss)
    expected_template = pod_template({"api": "registry/api:1.4.2"})
    assert plan == UndoPlan(
        from_revision=3,
        to_revision=2,
        replica_set=rss[1]["metadata"]["name"],
        patch=[
            {"op": "test", "path": "/metadata/resourceVersion", "value": "98765"},
            {"op": "replace", "path": "/spec/template", "value": expected_template},
            {
                "op": "replace",
                "path": "/metadata/annotations",
                # The RS's desired/max-replicas and revision are skipped: the Deployment's win.
                "value": {
                    LAST_APPLIED: api["metadata"]["annotations"][LAST_APPLIED],
                    REVISION: "3",
                },
            },
        ],
    )
    assert "pod-template-hash" not in plan.patch[1]["value"]["metadata"]["labels"]


def test_undo_annotations_keep_the_deployments_skipped_keys_and_take_the_rest_from_the_rs() -> None:
    api = deployment(
        "api",
        images={"api": "a:3"},
        revision=3,
        annotations={
            "deployment.kubernetes.io/revision-history": "1",
            "kubernetes.io/change-cause": "deploy 1.4.3",
            "team": "platform",
            "only-on-deployment": "dropped, as kubectl drops it",
        },
    )
    target = replicaset(
        api,
        revision=2,
        template=pod_template({"api": "a:2"}),
        annotations={
            "kubernetes.io/change-cause": "deploy 1.4.2",
            "team": "payments",
            "deployment.kubernetes.io/desired-replicas": "5",
            "deployment.kubernetes.io/max-replicas": "7",
            "deployment.kubernetes.io/revision-history": "0",
            "deprecated.deployment.rollback.to": "1",
        },
    )
    del target["metadata"]["annotations"]["only-on-deployment"]
    live = replicaset(api, revision=3, created_at=T0 + timedelta(hours=1))
    plan = undo_plan(api, [target, live])
    assert plan.patch[2]["value"] == {
        LAST_APPLIED: api["metadata"]["annotations"][LAST_APPLIED],
        REVISION: "3",
        "deployment.kubernetes.io/revision-history": "1",
        "kubernetes.io/change-cause": "deploy 1.4.2",
        "team": "payments",
    }
    assert list(plan.patch[2]["value"]) == sorted(plan.patch[2]["value"])


def test_undo_to_a_specific_revision() -> None:
    api, rss = history("api")
    plan = undo_plan(api, rss, to_revision=1)
    assert (plan.from_revision, plan.to_revision) == (3, 1)
    assert plan.replica_set == rss[0]["metadata"]["name"]
    assert plan.patch[1]["value"]["spec"]["containers"][0]["image"] == "registry/api:1.4.1"


def test_undo_does_not_mutate_its_inputs() -> None:
    api, rss = history("api")
    before = copy.deepcopy((api, rss))
    plan = undo_plan(api, rss)
    plan.patch[1]["value"]["spec"]["containers"][0]["image"] = "tampered"
    assert (api, rss) == before


def test_undo_to_the_template_already_running_is_skipped() -> None:
    # Someone already set the template back to revision 2; the controller has not caught up.
    api, rss = history("api")
    api["spec"]["template"] = pod_template({"api": "registry/api:1.4.2"})
    with pytest.raises(AlreadyAtRevision, match="already matches revision 2") as skipped:
        undo_plan(api, rss)
    assert skipped.value.revision == 2


def test_a_paused_deployment_is_refused_like_kubectl() -> None:
    api, rss = history("api", paused=True)
    with pytest.raises(DeploymentPaused, match="kubectl rollout resume deployment/api"):
        undo_plan(api, rss)


def test_undo_without_history_raises() -> None:
    api, rss = history("api", [{"api": "a:1"}])
    with pytest.raises(NoRolloutHistory):
        undo_plan(api, rss)
