from __future__ import annotations

from typing import Any

import pytest

from tourniquet.core.selectors import matches

API = {"app": "api", "tier": "web", "team": "payments"}


@pytest.mark.parametrize("selector", [None, {}, {"matchLabels": {}, "matchExpressions": []}])
def test_an_empty_selector_selects_everything(selector: dict[str, Any] | None) -> None:
    assert matches(API, selector)
    assert matches({}, selector)
    assert matches(None, selector)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "api"}}, True),
        ({"matchLabels": {"app": "api", "tier": "web"}}, True),
        ({"matchLabels": {"app": "api", "tier": "db"}}, False),
        ({"matchLabels": {"missing": ""}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}, False),
        ({"matchExpressions": [{"key": "nope", "operator": "In", "values": ["x"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, False),
        # NotIn is satisfied by an absent key, as in the API server.
        ({"matchExpressions": [{"key": "nope", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "nope", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "nope", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, False),
    ],
)
def test_label_selector_semantics(selector: dict[str, Any], expected: bool) -> None:
    assert matches(API, selector) is expected


def test_match_labels_and_expressions_must_all_hold() -> None:
    selector = {
        "matchLabels": {"app": "api"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert matches(API, selector)
    assert not matches({**API, "canary": "true"}, selector)
    assert not matches({**API, "app": "worker"}, selector)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "tier", "operator": "in", "values": ["web"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["web"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "tier", "operator": "NotIn"}]},
        {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["web"]}]},
        {"matchExpressions": [{"operator": "Exists"}]},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": [1]}]},
        {"matchExpressions": ["tier in (web)"]},
        {"matchExpressions": {"key": "tier"}},
        {"matchLabels": ["app"]},
        {"matchLabels": {"replicas": 3}},
        "app=api",
    ],
)
def test_an_invalid_selector_selects_nothing(selector: Any) -> None:
    assert not matches(API, selector)


def test_an_invalid_expression_is_not_masked_by_an_earlier_mismatch() -> None:
    # Whatever the order, an invalid selector answers the same: nothing.
    valid_miss = {"key": "nope", "operator": "Exists"}
    invalid = {"key": "tier", "operator": "Bogus"}
    assert not matches(API, {"matchExpressions": [valid_miss, invalid]})
    assert not matches(API, {"matchExpressions": [invalid, valid_miss]})
    negated = {"key": "nope", "operator": "DoesNotExist"}
    assert not matches(API, {"matchExpressions": [negated, invalid]})


def test_selector_string_renders_a_label_selector_query() -> None:
    from tourniquet.core.selectors import selector_string

    deployment = {
        "spec": {
            "selector": {
                "matchLabels": {"app": "api", "tier": "backend"},
                "matchExpressions": [
                    {"key": "track", "operator": "In", "values": ["stable", "canary"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                    {"key": "team", "operator": "Exists"},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                ],
            }
        }
    }
    assert selector_string(deployment) == (
        "app=api,tier=backend,track in (canary,stable),!legacy,team,env notin (dev)"
    )
    assert selector_string({"spec": {"selector": {"matchLabels": {"app": "api"}}}}) == "app=api"
    # Anything it cannot express safely means "no server-side filter", never a wrong one.
    assert (
        selector_string(
            {"spec": {"selector": {"matchExpressions": [{"key": "x", "operator": "In"}]}}}
        )
        is None
    )
    assert selector_string({"spec": {}}) is None
    assert selector_string(None) is None
