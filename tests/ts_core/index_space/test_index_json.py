"""JSON round trips for every map kind, and parsing of JSON written by the tensorstore wheel."""

from __future__ import annotations

import json as jsonlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import ts_core.index_space as my

from .index_space_strategies import transform_json

ts = pytest.importorskip("tensorstore")

CASES: list[dict[str, Any]] = [
    {"input_rank": 3},
    {"input_shape": [2, 3], "input_labels": ["a", "b"]},
    {"input_inclusive_min": [1, ["-inf"]], "input_exclusive_max": [[5], "+inf"]},
    {"input_inclusive_min": [0], "input_inclusive_max": [[4]]},
    {"input_shape": [2], "output": [{"offset": 7}]},
    {"input_shape": [2], "output": [{"input_dimension": 0, "offset": -3, "stride": -2}]},
    {"input_shape": [2, 1], "output": [{"index_array": [[1], [2]], "offset": 1, "stride": 3}]},
    {"input_shape": [2], "output": [{"index_array": [1, 9], "index_array_bounds": [0, 5]}]},
    {"input_shape": [2], "output": [{"index_array": [1, -9], "index_array_bounds": ["-inf", 5]}]},
    {"input_shape": [0], "output": [{"index_array": [], "offset": 4}]},
    {"input_rank": 0, "output": [{"offset": 1}, {}]},
]


@pytest.mark.parametrize("value", CASES)
def test_parse_and_write_like_tensorstore(value: dict[str, Any]) -> None:
    theirs = ts.IndexTransform(json=value)
    ours = my.IndexTransform(json=value)
    assert ours.to_json() == theirs.to_json()
    # byte-identical serialisation (key order included)
    assert jsonlib.dumps(ours.to_json()) == jsonlib.dumps(theirs.to_json())
    assert my.IndexTransform(json=theirs.to_json()).to_json() == ours.to_json()
    assert repr(ours) == repr(theirs)


def test_round_trip_of_each_map_kind() -> None:
    t = my.IndexTransform(
        input_inclusive_min=[1, 0],
        input_shape=[2, 3],
        implicit_upper_bounds=[False, True],
        input_labels=["x", ""],
        output=[
            my.OutputIndexMap(5),
            my.OutputIndexMap(input_dimension=1, offset=2, stride=-1),
            my.OutputIndexMap(index_array=[[1], [7]], offset=1, stride=2, index_range=my.Dim(0, 5)),
        ],
    )
    again = my.IndexTransform(json=t.to_json())
    assert again.to_json() == t.to_json()
    assert again.output[2].index_range == my.Dim(0, 5, implicit_lower=False, implicit_upper=False)
    assert my.IndexDomain(json=t.domain.to_json()) == t.domain


@settings(max_examples=300, deadline=None)
@given(transform_json(finite=False))
def test_random_json_matches_tensorstore(value: dict[str, Any]) -> None:
    try:
        theirs = ts.IndexTransform(json=value)
    except ValueError:
        with pytest.raises(ValueError, match="Error parsing index transform from JSON"):
            my.IndexTransform(json=value)
        return
    ours = my.IndexTransform(json=value)
    assert jsonlib.dumps(ours.to_json()) == jsonlib.dumps(theirs.to_json())
    assert jsonlib.dumps(ours.domain.to_json()) == jsonlib.dumps(theirs.domain.to_json())
    assert repr(ours) == repr(theirs)
    assert my.IndexTransform(json=ours.to_json()) == ours


@pytest.mark.parametrize(
    ("value", "member"),
    [
        ({"output": [{"offset": 5}]}, "At least one of"),
        ({"input_rank": 1, "input_shape": [1, 2]}, "input_shape"),
        ({"input_shape": [2], "output": [{"input_dimension": 3}]}, "Input dimension 3"),
        ({"input_shape": [2], "output": [{"stride": 2}]}, "stride"),
        ({"input_shape": [2], "bogus": 1}, "extra members"),
        ({"input_inclusive_min": ["+inf"]}, "input_inclusive_min"),
    ],
)
def test_json_errors_name_the_member(value: dict[str, Any], member: str) -> None:
    with pytest.raises(ValueError, match="Error parsing index transform from JSON") as info:
        my.IndexTransform(json=value)
    assert member in str(info.value)
    with pytest.raises(ValueError):  # noqa: PT011 - the wheel agrees it is invalid
        ts.IndexTransform(json=value)


def test_index_array_is_read_only_and_compact() -> None:
    t = my.IndexTransform(input_shape=[2, 3])[[[1], [0]], [0, 1, 2]]
    array = t.output[0].index_array
    assert array is not None
    assert array.shape == (2, 1)
    assert not array.flags.writeable
    np.testing.assert_array_equal(array, [[1], [0]])
