"""Spec properties an n5 spec's partial ``metadata`` implies, compared with tensorstore."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

M = "memory://"


def _properties(lib: Any, json_value: dict[str, Any]) -> dict[str, str]:
    """Every Spec property, as JSON text."""
    spec = lib.Spec(json_value)
    fill = spec.fill_value
    values = {
        "rank": spec.rank,
        "dtype": None if spec.dtype is None else spec.dtype.name,
        "domain": None if spec.domain is None else spec.domain.to_json(),
        "transform": None if spec.transform is None else spec.transform.to_json(),
        "schema": spec.schema.to_json(),
        "codec": None if spec.codec is None else spec.codec.to_json(),
        "chunk_layout": spec.chunk_layout.to_json(),
        "fill_value": None if fill is None else np.asarray(fill).tolist(),
        "dimension_units": None if spec.dimension_units is None else [None if u is None else u.to_json() for u in spec.dimension_units],
    }
    return {name: json.dumps(value, sort_keys=True) for name, value in values.items()}


CASES = [
    {},
    {"dimensions": [10, 20]},
    {"dataType": "float32"},
    {"axes": ["a", ""]},
    {"dimensions": [10, 20], "axes": ["x", "y"]},
    {"compression": {"type": "gzip"}},
    {"compression": {"type": "raw"}},
    {"compression": {"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}},
    {"dimensions": [10, 20], "blockSize": [3, 4], "dataType": "uint8", "compression": {"type": "zstd"}},
    {"dimensions": [100, 200], "dataType": "uint16", "blockSize": [10, 20], "axes": ["x", "y"], "units": ["nm", "um"], "resolution": [4, 5]},
    {"dimensions": [10, 20], "units": ["nm", "s"]},
    {"dimensions": [10, 20], "resolution": [2, 3]},
    {"blockSize": [10, 20]},
    {"units": ["nm", "s"]},
]


@pytest.mark.parametrize("metadata", CASES)
def test_n5_metadata_properties_match_tensorstore(metadata: dict[str, Any]) -> None:
    json_value = {"driver": "n5", "kvstore": M, "metadata": metadata}
    assert _properties(ts_core, json_value) == _properties(tensorstore, json_value)


@pytest.mark.parametrize(
    "extra",
    [
        {"transform": {"input_shape": [3, 4]}},
        {"transform": {"input_labels": ["p", "q"], "input_inclusive_min": [1, 2], "input_exclusive_max": [5, 6]}},
        {"dtype": "uint16"},
        {"rank": 2},
        {"schema": {"domain": {"shape": [10, 20]}}},
        {"schema": {"dimension_units": ["4nm", None]}},
        {"schema": {"chunk_layout": {"write_chunk": {"shape": [5, 5]}}}},
    ],
)
def test_n5_metadata_with_spec_members_matches_tensorstore(extra: dict[str, Any]) -> None:
    json_value = {"driver": "n5", "kvstore": M, "metadata": {"dimensions": [10, 20], "dataType": "uint16"}, **extra}
    assert _properties(ts_core, json_value) == _properties(tensorstore, json_value)


@pytest.mark.parametrize(
    "json_value",
    [
        {"metadata": {"dimensions": [10, 20], "axes": ["x", "y"]}, "schema": {"domain": {"labels": ["x", "z"]}}},
        {"metadata": {"dimensions": [10, 20]}, "schema": {"domain": {"shape": [10, 21]}}},
        {"metadata": {"dataType": "uint8"}, "dtype": "int8"},
        {"metadata": {"dimensions": [10, 20], "blockSize": [3]}},
        {"metadata": {"dimensions": [10, 20], "axes": ["x"]}},
        {"metadata": {"dimensions": [10, 20]}, "rank": 3},
        {"metadata": {"dataType": "complex"}},
    ],
)
def test_n5_metadata_conflicts_raise_value_error_as_tensorstore(json_value: dict[str, Any]) -> None:
    json_value = {"driver": "n5", "kvstore": M, **json_value}
    with pytest.raises(ValueError, match=r"(?i)metadata|dtype|rank|domain|dataType"):
        tensorstore.Spec(json_value)
    with pytest.raises(ValueError, match=r"metadata|dtype|rank|domain"):
        ts_core.Spec(json_value)


@pytest.mark.parametrize(
    "units",
    [["2nm", "4s"], ["2nm", None]],
)
def test_n5_units_conflicting_with_metadata_raise_on_schema(units: list[Any]) -> None:
    json_value = {
        "driver": "n5", "kvstore": M, "metadata": {"dimensions": [10, 20], "units": ["nm", "s"], "resolution": [1, 4]},
        "schema": {"dimension_units": units},
    }
    for lib in (ts_core, tensorstore):
        spec = lib.Spec(json_value)
        with pytest.raises(ValueError, match=r"(?i)dimension units"):
            _ = spec.schema


def test_n5_create_with_labelled_domain_matches_tensorstore() -> None:
    def create(lib: Any) -> Any:
        domain = lib.IndexDomain(labels=["x", "y"], shape=[4, 5])
        return lib.open({"driver": "n5", "kvstore": "memory://"}, create=True, domain=domain, dtype=lib.uint8).result()

    ours, theirs = create(ts_core), create(tensorstore)
    assert ours.domain.to_json() == theirs.domain.to_json()
    assert ours.spec().to_json()["metadata"] == theirs.spec().to_json()["metadata"]
