"""zarr3 metadata of the wrong JSON types: a ValueError naming the JSON path, never a bare
TypeError from deep inside, on create (spec ``metadata``) and on open (stored zarr.json)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import tensorstore

import ts_core as ts

GOOD: dict[str, Any] = {
    "zarr_format": 3, "node_type": "array", "shape": [4, 6], "data_type": "uint8",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": 0, "codecs": [{"name": "bytes"}], "dimension_names": ["x", "y"], "attributes": {},
}

BAD_CHUNK_SHAPES = ["abc", [1.5], {"a": 1}, None, 5, True, [True], [0], [-1], [[1]], ["1"], [2], [2, 3, 4], [2**70, 1]]

#: Wrongly typed values tried for every member (and for the nested ones below).
BAD_VALUES: list[Any] = [
    "abc", 1.5, {"a": 1}, None, 5, [1.5], True, [None], ["x"], [], [[1]], -1, {"name": 5},
    {"name": "regular", "configuration": 5}, {"name": "regular", "configuration": {"chunk_shape": "ab"}},
    {"name": "regular", "configuration": {"chunk_shape": None}}, {"name": "default", "configuration": {"separator": 5}},
    [{"name": 5}], [5], [{"name": "bytes", "configuration": 5}],
]
MEMBERS = [*GOOD, "chunk_grid.configuration", "chunk_grid.configuration.chunk_shape",
           "chunk_key_encoding.configuration", "chunk_key_encoding.configuration.separator"]


def _with(path: str, value: Any) -> dict[str, Any]:
    metadata = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = metadata
    for parent in parents:
        target = target[parent]
    target[last] = value
    return metadata


def _create(library: Any, metadata: dict[str, Any]) -> None:
    constraints = {k: v for k, v in metadata.items() if k not in ("zarr_format", "node_type")}
    library.open({"driver": "zarr3", "kvstore": "memory://", "metadata": constraints},
                 create=True, context=library.Context()).result()


def _open_stored(metadata: dict[str, Any]) -> None:
    context = ts.Context()
    ts.KvStore.open("memory://", context=context).result().write("zarr.json", json.dumps(metadata).encode()).result()
    ts.open({"driver": "zarr3", "kvstore": "memory://"}, context=context).result()


@pytest.mark.parametrize("chunk_shape", BAD_CHUNK_SHAPES, ids=repr)
def test_bad_chunk_shape_names_its_path_like_the_wheel_refuses_it(chunk_shape: Any) -> None:
    metadata = _with("chunk_grid.configuration.chunk_shape", chunk_shape)
    # (the wheel cannot even convert 2**70 to JSON: OverflowError)
    with pytest.raises((ValueError, OverflowError)):
        tensorstore.open({"driver": "zarr3", "kvstore": "memory://", "metadata": metadata}, create=True).result()
    with pytest.raises(ValueError, match=r"^metadata\.chunk_grid\.configuration\.chunk_shape"):
        _create(ts, metadata)
    with pytest.raises(ValueError, match=r"chunk_grid\.configuration\.chunk_shape"):
        _open_stored(metadata)


def test_chunk_shape_that_is_not_an_array_is_not_read_element_by_element() -> None:
    with pytest.raises(ValueError, match=r'chunk_shape: expected array, but received: "abc"'):
        _create(ts, _with("chunk_grid.configuration.chunk_shape", "abc"))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"name": "regular"}, r'configuration: missing required member "chunk_shape"'),
        ({"name": "rectilinear", "configuration": {"chunk_shape": [2, 3]}}, r'chunk_grid\.name: only the "regular"'),
        ({"name": "regular", "configuration": {"chunk_shape": [2, 3], "x": 1}}, r"configuration\.x: unexpected member"),
    ],
)
def test_chunk_grid_members_on_create(grid: Any, message: str) -> None:
    with pytest.raises(ValueError, match="chunk_grid"):
        _create(tensorstore, _with("chunk_grid", grid))
    with pytest.raises(ValueError, match=message):
        _create(ts, _with("chunk_grid", grid))


def test_chunk_shape_rank_is_checked_before_a_read_chunk_shape_is_combined_with_it() -> None:
    metadata = {"shape": [4, 6], "data_type": "uint8",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}}
    with pytest.raises(ValueError, match=r"chunk_shape: rank 1 does not match the rank 2"):
        ts.open({"driver": "zarr3", "kvstore": "memory://", "metadata": metadata}, create=True,
                chunk_layout=ts.ChunkLayout(read_chunk_shape=[1, 1])).result()


@pytest.mark.parametrize("member", MEMBERS)
def test_type_fuzz_gives_errors_that_name_the_member(member: str) -> None:
    top = member.split(".")[0]
    for value in BAD_VALUES:
        metadata = _with(member, value)
        for attempt in (lambda: _create(ts, metadata), lambda: _open_stored(metadata)):  # noqa: B023
            message = _error_message(attempt)
            assert message is None or top in message, (member, value, message)


def _error_message(attempt: Any) -> str | None:
    """The ValueError ``attempt`` raises (None if it succeeds); any other exception propagates."""
    try:
        attempt()
    except ValueError as error:
        return str(error)
    return None


def test_unknown_chunk_key_encoding_members_are_refused_as_by_the_wheel() -> None:
    metadata = _with("chunk_key_encoding.configuration", {"separator": "/", "a": 1})
    with pytest.raises(ValueError, match="extra members"):
        _create(tensorstore, metadata)
    with pytest.raises(ValueError, match=r"chunk_key_encoding\.configuration\.a: unexpected member"):
        _create(ts, metadata)
