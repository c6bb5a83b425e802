"""The chunkdir example's ``spec_schema``: a spec's properties from its partial ``metadata``,
and for full metadata exactly the schema of the array it creates."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ts_core as ts

M = "memory://"
FULL = {"shape": [10, 20], "chunks": [3, 4], "dtype": "uint16", "fill_value": 7, "compression": "zlib"}


def _spec(metadata: dict[str, Any], **members: Any) -> ts.Spec:
    return ts.Spec({"driver": "chunkdir", "kvstore": M, "metadata": metadata, **members})


@pytest.mark.parametrize(
    "metadata",
    [FULL, {**FULL, "compression": "none", "fill_value": "NaN", "dtype": "float32"}, {"shape": [5], "chunks": [5], "dtype": "bool", "fill_value": True, "compression": "none"}],
)
def test_full_metadata_implies_the_created_arrays_schema(metadata: dict[str, Any]) -> None:
    spec = _spec(metadata)
    created = ts.open(spec, create=True, context=ts.Context()).result()
    assert json.dumps(spec.schema.to_json()) == json.dumps(created.schema.to_json())  # NaN equal to NaN
    assert spec.domain == created.domain
    assert spec.dtype == created.dtype
    assert spec.rank == created.rank


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, {"codec": {"driver": "chunkdir"}}),
        ({"dtype": "int8"}, {"codec": {"driver": "chunkdir"}, "dtype": "int8"}),
        ({"compression": "zlib"}, {"codec": {"driver": "chunkdir", "compression": "zlib"}}),
        ({"dtype": "int8", "fill_value": 3}, {"codec": {"driver": "chunkdir"}, "dtype": "int8", "fill_value": 3}),
        ({"chunks": [2, 3]}, {
            "chunk_layout": {"grid_origin": [0, 0], "inner_order": [0, 1], "read_chunk": {"shape": [2, 3]}, "write_chunk": {"shape": [2, 3]}},
            "codec": {"driver": "chunkdir"}, "rank": 2,
        }),
        ({"shape": [4]}, {
            "chunk_layout": {"grid_origin": [0], "inner_order": [0]}, "codec": {"driver": "chunkdir"},
            "domain": {"exclusive_max": [[4]], "inclusive_min": [0]}, "rank": 1,
        }),
    ],
)
def test_partial_metadata_implies_what_it_can(metadata: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _spec(metadata).schema.to_json() == expected


def test_defaults_of_absent_members_are_not_implied() -> None:
    """A spec's metadata constrains what it names: an absent fill value or compression is
    open to whatever the stored array has, so the spec reports none."""
    spec = _spec({"shape": [5], "chunks": [5], "dtype": "bool"})
    assert spec.fill_value is None
    assert spec.codec.to_json() == {"driver": "chunkdir"}


def test_spec_properties_from_metadata() -> None:
    spec = _spec(FULL)
    assert spec.rank == 2
    assert spec.dtype == ts.uint16
    assert spec.domain == ts.IndexDomain(shape=[10, 20], implicit_upper_bounds=[True, True])
    assert spec.chunk_layout.read_chunk.shape == (3, 4)
    assert spec.codec.to_json() == {"driver": "chunkdir", "compression": "zlib"}
    assert spec.fill_value == 7
    assert spec.to_json()["dtype"] == "uint16"


def test_transform_and_labels_apply_over_the_metadata_domain() -> None:
    spec = _spec(FULL, transform={"input_labels": ["y", "x"], "input_shape": [20, 10], "output": [{"input_dimension": 1}, {"input_dimension": 0}]})
    assert spec.domain.labels == ("y", "x")
    assert spec.chunk_layout.read_chunk.shape == (4, 3)


@pytest.mark.parametrize(
    ("metadata", "members", "match"),
    [
        ({"dtype": "int8"}, {"dtype": "int16"}, "dtype"),
        ({"dtype": "int8"}, {"schema": {"dtype": "int16"}}, "dtype"),
        ({"shape": [4]}, {"rank": 2}, "rank"),
        ({"shape": [4]}, {"schema": {"domain": {"shape": [5]}}}, "domain"),
        ({"shape": [4]}, {"transform": {"input_rank": 2}}, "rank"),
        ({"fill_value": 1}, {}, "metadata.fill_value"),
        ({"dtype": "int8", "fill_value": 1000}, {}, "metadata.fill_value"),
        ({"dtype": "complex64"}, {}, "metadata.dtype"),
        ({"shape": [4, 5], "chunks": [2]}, {}, "metadata.chunks"),
        ({"chunks": [0]}, {}, r"metadata.chunks\[0\]"),
        ({"compression": "lz4"}, {}, "compression"),
    ],
)
def test_metadata_that_contradicts_the_spec_is_refused(metadata: dict[str, Any], members: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _spec(metadata, **members)
