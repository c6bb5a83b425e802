"""Differential property tests: random transforms and index expressions give the same result
(domain, output maps, JSON) or the same kind of error in ts_core and in the tensorstore wheel."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ts_core.index_space as my

from .index_space_strategies import (
    build_dim_expression,
    dim_expression,
    numpy_index,
    transform_json,
)

ts = pytest.importorskip("tensorstore")

EXAMPLES = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ERRORS = (IndexError, ValueError, TypeError)


def _log(*args: Any) -> None:
    """Append the case to $TS_CASE_LOG (to find inputs that crash the wheel, which kills pytest)."""
    import os

    if os.environ.get("TS_CASE_LOG"):
        with open(os.environ["TS_CASE_LOG"], "a") as f:
            print(*args, file=f, flush=True)


def outcome(fn: Any) -> Any:
    """Result JSON, or the exception class name for the errors tensorstore raises."""
    try:
        result = fn()
    except _ERRORS as exc:
        return ("error", type(exc).__name__)
    return result.to_json()


def assert_same(ours: Any, theirs: Any, context: Any) -> None:
    if isinstance(theirs, tuple) and isinstance(ours, tuple):
        return  # both errors; the exception kinds can legitimately differ (IndexError vs ValueError)
    assert ours == theirs, context


def both_transforms(json: dict[str, Any]) -> tuple[Any, Any]:
    try:
        theirs = ts.IndexTransform(json=json)
    except ValueError:
        with pytest.raises(ValueError, match="Error parsing index transform from JSON"):
            my.IndexTransform(json=json)
        return None, None
    ours = my.IndexTransform(json=json)
    assert ours.to_json() == theirs.to_json()
    return ours, theirs


@EXAMPLES
@given(transform_json(), numpy_index(), st.sampled_from(("default", "oindex", "vindex")))
def test_numpy_indexing_matches_tensorstore(
    json: dict[str, Any], index: tuple[Any, ...], mode: str
) -> None:
    ours, theirs = both_transforms(json)
    if ours is None:
        return

    _log("NP", json, index, mode)

    def apply(t: Any) -> Any:
        return (t if mode == "default" else getattr(t, mode))[index]

    assert_same(outcome(lambda: apply(ours)), outcome(lambda: apply(theirs)), (json, index, mode))


@EXAMPLES
@given(transform_json(), dim_expression())
def test_dim_expressions_match_tensorstore(json: dict[str, Any], expr: Any) -> None:
    ours, theirs = both_transforms(json)
    if ours is None:
        return
    selection, ops = expr
    _log("DE", json, selection, ops)
    mine = outcome(lambda: ours[build_dim_expression(my, selection, ops)])
    reference = outcome(lambda: theirs[build_dim_expression(ts, selection, ops)])
    assert_same(mine, reference, (json, selection, ops))


@EXAMPLES
@given(transform_json(finite=False), transform_json(finite=False))
def test_composition_matches_tensorstore(
    outer_json: dict[str, Any], inner_json: dict[str, Any]
) -> None:
    _log("CO", outer_json, inner_json)
    outer, outer_ts = both_transforms(outer_json)
    inner, inner_ts = both_transforms(inner_json)
    if outer is None or inner is None:
        return
    # Several output dims constraining one input dim with contradictory bounds: the wheel's
    # error-or-not outcome there is not reproduced (see docs/indexing.md, "Known differences").
    used = [m["input_dimension"] for m in inner_json.get("output", []) if "input_dimension" in m]
    assume(len(used) == len(set(used)))
    assert_same(
        outcome(lambda: outer[inner]), outcome(lambda: outer_ts[inner_ts]), (outer_json, inner_json)
    )


@EXAMPLES
@given(transform_json(finite=False), dim_expression())
def test_domains_and_repr_match_tensorstore(json: dict[str, Any], expr: Any) -> None:
    ours, theirs = both_transforms(json)
    if ours is None:
        return
    _log("DOM", json, expr)
    assert repr(ours) == repr(theirs)
    assert repr(ours.domain) == repr(theirs.domain)
    assert ours.domain.to_json() == theirs.domain.to_json()
    selection, ops = expr
    mine = outcome(lambda: ours.domain[build_dim_expression(my, selection, ops)])
    reference = outcome(lambda: theirs.domain[build_dim_expression(ts, selection, ops)])
    assert_same(mine, reference, (json, selection, ops))


@EXAMPLES
@given(transform_json(finite=False), st.data())
def test_indexing_by_domain_matches_tensorstore(json: dict[str, Any], data: st.DataObject) -> None:
    ours, theirs = both_transforms(json)
    if ours is None:
        return
    rank = ours.input_rank
    keep = (
        sorted(data.draw(st.sets(st.integers(0, max(rank - 1, 0)), max_size=rank))) if rank else []
    )
    labelled = data.draw(st.booleans())
    lo = [data.draw(st.integers(-3, 3)) for _ in keep]
    size = [data.draw(st.integers(0, 4)) for _ in keep]
    labels = [ours.input_labels[k] if labelled else "" for k in keep]
    if not labelled:
        keep, lo, size, labels = (
            list(range(rank)),
            [*lo, *([0] * rank)][:rank],
            [*size, *([1] * rank)][:rank],
            [""] * rank,
        )
    mine = outcome(lambda: ours[my.IndexDomain(inclusive_min=lo, shape=size, labels=labels)])
    reference = outcome(lambda: theirs[ts.IndexDomain(inclusive_min=lo, shape=size, labels=labels)])
    assert_same(mine, reference, (json, lo, size, labels))
