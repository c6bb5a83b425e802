"""ts.Spec normalisation against the tensorstore wheel: the rank, transform, schema and
metadata a spec's format members imply, and the schema checks made when it is opened."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

M = "memory://"
GRID = {"name": "regular", "configuration": {"chunk_shape": [10, 20]}}
TRANSPOSE = {"name": "transpose", "configuration": {"order": [1, 0]}}


def _attempt(get: Any) -> Any:
    try:
        return get()
    except ValueError:
        return "ValueError"


def _view(lib: Any, json_value: dict[str, Any]) -> dict[str, Any]:
    """What a Spec reports; a property that raises shows as "ValueError"."""
    spec = lib.Spec(json_value)

    def fill() -> Any:
        value = spec.fill_value
        return None if value is None else repr(np.asarray(value).tolist())

    def units() -> Any:
        value = spec.dimension_units
        return None if value is None else [None if unit is None else unit.to_json() for unit in value]

    return {
        "json": spec.to_json(),
        "rank": spec.rank,
        "schema": _attempt(lambda: spec.schema.to_json()),
        "chunk_layout": _attempt(lambda: spec.chunk_layout.to_json()),
        "codec": _attempt(lambda: None if spec.codec is None else spec.codec.to_json()),
        "fill_value": _attempt(fill),
        "dimension_units": _attempt(units),
    }


def _same(json_value: dict[str, Any]) -> dict[str, Any]:
    json_value = {"kvstore": M, **json_value}
    ours, theirs = _view(ts_core, json_value), _view(tensorstore, json_value)
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)  # NaN equals NaN
    return ours


@pytest.mark.parametrize(
    "json_value",
    [
        {"driver": "zarr", "metadata": {"dtype": "<u2", "chunks": [2, 3]}},
        {"driver": "zarr", "metadata": {"dtype": "|S3", "chunks": [2, 3]}},
        {"driver": "n5", "metadata": {"blockSize": [2, 3]}},
        {"driver": "n5", "metadata": {"resolution": [1, 2]}},
        {"driver": "zarr3", "metadata": {"data_type": "int8", "chunk_grid": GRID}},
        {"driver": "zarr3", "metadata": {"chunk_grid": GRID}},  # no data_type: no rank of its own
        {"driver": "zarr3", "metadata": {"attributes": {"dimension_units": ["nm", None]}}},
    ],
)
def test_rank_implied_without_a_domain_is_written_as_rank(json_value: dict[str, Any]) -> None:
    _same(json_value)


@pytest.mark.parametrize(
    "json_value",
    [
        {"driver": "zarr", "metadata": {"dtype": "<u2", "shape": [10, 20]}, "schema": {"domain": {"labels": ["x", "y"]}}},
        {"driver": "zarr", "metadata": {"shape": [10, 20]}, "schema": {"domain": {"inclusive_min": [0, 0], "exclusive_max": [10, [20]]}}},
        {"driver": "zarr", "metadata": {"shape": [10, 20], "dtype": "|S3"}, "schema": {"domain": {"labels": ["x", "y", "z"]}}},
        {"driver": "zarr3", "metadata": {"shape": [10, 20]}, "schema": {"domain": {"labels": ["a", "b"]}}},
        {"driver": "n5", "metadata": {"dimensions": [10, 20]}, "schema": {"domain": {"labels": ["a", "b"]}}},
        {"driver": "zarr", "metadata": {"dtype": "|S3", "shape": [10, 20]}},  # the inner dimension stays explicit
    ],
)
def test_implied_domain_merges_with_the_schema_domain(json_value: dict[str, Any]) -> None:
    _same(json_value)


def test_labelled_schema_domain_gets_the_metadata_bounds() -> None:
    spec = ts_core.Spec({"driver": "zarr", "kvstore": M, "metadata": {"dtype": "<u2", "shape": [10, 20]},
                         "schema": {"domain": {"labels": ["x", "y"]}}})
    assert spec.domain == ts_core.IndexDomain(labels=["x", "y"], shape=[10, 20], implicit_upper_bounds=[True, True])


@pytest.mark.parametrize(
    "json_value",
    [
        # The metadata's fill value wins over the schema's.
        {"driver": "zarr", "metadata": {"dtype": "<u2", "shape": [10], "fill_value": 3}, "schema": {"fill_value": 4}},
        # A chunk-layout conflict shows in schema and chunk_layout only.
        {"driver": "zarr", "metadata": {"dtype": "<u2", "shape": [10], "chunks": [5]},
         "schema": {"chunk_layout": {"read_chunk": {"shape": [4]}}}},
        {"driver": "zarr", "metadata": {"dtype": "<c8", "shape": [10], "fill_value": [1, 2]}},
        {"driver": "zarr3", "metadata": {"data_type": "complex64", "shape": [3], "fill_value": [1, 2]}},
    ],
)
def test_schema_members_as_tensorstore(json_value: dict[str, Any]) -> None:
    _same(json_value)


def test_rank_too_small_for_a_field_is_refused() -> None:
    json_value = {"driver": "zarr", "kvstore": M, "rank": 0, "metadata": {"dtype": "|S3"}}
    with pytest.raises(ValueError, match=r"(?i)rank"):
        tensorstore.Spec(json_value)
    with pytest.raises(ValueError, match=r"^rank: rank 0 is not compatible with metadata\.dtype"):
        ts_core.Spec(json_value)


def test_complex_fill_value_comes_from_the_metadata() -> None:
    spec = ts_core.Spec({"driver": "zarr", "kvstore": M, "metadata": {"dtype": "<c8", "shape": [10], "fill_value": [1, 2]}})
    assert spec.fill_value == np.complex64(1 + 2j)
    assert spec.schema.to_json()["fill_value"] == [1.0, 2.0]


@pytest.mark.parametrize(
    "json_value",
    [
        {"driver": "zarr", "rank": 2},
        {"driver": "zarr3", "rank": 2},
        {"driver": "n5", "rank": 2},
        {"driver": "zarr", "schema": {"domain": {"shape": [10, 20]}}},
        {"driver": "n5", "schema": {"domain": {"shape": [3, 4]}}},
        {"driver": "zarr", "rank": 3, "metadata": {"dtype": "|S3"}},
        {"driver": "zarr", "schema": {"domain": {"shape": [2, 3]}}, "metadata": {"order": "F", "dtype": "<u2"}},
        {"driver": "zarr3", "rank": 2, "metadata": {"codecs": [TRANSPOSE, "bytes"]}},
        {"driver": "zarr3", "transform": {"input_shape": [2, 3]}},
        {"driver": "zarr", "rank": 2, "schema": {"chunk_layout": {"grid_origin": [1, 2]}}},
        {"driver": "zarr3", "metadata": {"chunk_grid": GRID, "attributes": {"dimension_units": ["nm", None]}}},
        {"driver": "zarr3", "rank": 2, "schema": {"dimension_units": ["nm", None]}},
        # Rank 0, or only a field's inner dimensions: the whole domain is known.
        {"driver": "zarr", "rank": 0},
        {"driver": "zarr3", "rank": 0},
        {"driver": "n5", "rank": 0},
        {"driver": "zarr", "rank": 0, "metadata": {"dtype": "<u2"}},
        {"driver": "zarr3", "rank": 0, "metadata": {"data_type": "int8"}},
        {"driver": "zarr", "rank": 1, "metadata": {"dtype": "|S3"}},
    ],
)
def test_grid_origin_and_units_once_the_rank_is_known(json_value: dict[str, Any]) -> None:
    _same(json_value)


@pytest.mark.parametrize(
    ("driver", "metadata"),
    [
        ("zarr", {"shape": [10], "dtype": "<f4", "fill_value": 3, "filters": [], "compressor": {"id": "blosc"},
                  "zarr_format": 2, "order": "C", "dimension_separator": "/"}),
        ("zarr", {"compressor": {"id": "gzip"}}),
        ("zarr", {"compressor": {"id": "zstd"}}),
        ("zarr", {"dtype": "<u2", "fill_value": 3}),
        ("zarr", {"dtype": "<c8", "fill_value": [1, 2]}),
        ("zarr", {"dtype": "<f4", "fill_value": "NaN"}),
        ("zarr", {"compressor": None, "filters": None}),
        ("zarr3", {"chunk_grid": GRID}),
        ("zarr3", {"codecs": [{"name": "gzip"}], "data_type": "float32", "fill_value": 3}),
        ("zarr3", {"codecs": ["bytes", {"name": "blosc"}]}),
        ("zarr3", {"attributes": {"z": 1, "a": {"y": 1, "b": 2}}, "chunk_key_encoding": {"name": "v2"}}),
        ("zarr3", {"codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2], "codecs": ["bytes"]}}]}),
        ("n5", {"compression": {"type": "gzip"}}),
        ("n5", {"compression": {"type": "xz"}}),
        ("n5", {"dimensions": [3], "dataType": "float32", "resolution": [1], "units": ["nm"], "extra": {"z": 1, "a": 1}}),
    ],
)
def test_metadata_written_as_tensorstore(driver: str, metadata: dict[str, Any]) -> None:
    ours = _same({"driver": driver, "metadata": metadata})
    assert list(ours["json"]["metadata"]) == sorted(ours["json"]["metadata"])


@pytest.mark.parametrize("driver", ["zarr", "zarr3", "n5"])
@pytest.mark.parametrize(
    "domain",
    [{"labels": ["x", "y"]}, {"labels": ["x", "y"], "inclusive_min": [0, 0]}, {"shape": [4, 6]}],
)
def test_created_with_a_schema_domain_as_tensorstore(driver: str, domain: dict[str, Any]) -> None:
    def create(lib: Any) -> Any:
        return _attempt(lambda: lib.open({"driver": driver, "kvstore": M}, create=True, dtype=lib.uint8,
                                         shape=[4, 5], schema=lib.Schema({"domain": domain})).result().domain.to_json())

    assert create(ts_core) == create(tensorstore)


@pytest.mark.parametrize(
    ("domain", "error"),
    [
        ({"labels": ["x", "y"]}, None),
        ({"labels": ["x", "y"], "inclusive_min": [0, 0]}, None),
        ({"shape": [4, 5]}, None),
        ({"shape": [4, 6]}, r"schema\.domain: expected shape \[4, 6\] but the array has shape \[4, 5\]"),
        ({"inclusive_min": [1, 0]}, r"schema\.domain: .*mismatch in dimension 0: lower bounds do not match"),
    ],
)
def test_opened_with_a_partial_schema_domain(domain: dict[str, Any], error: str | None) -> None:
    outcomes = []
    for lib in (ts_core, tensorstore):
        context = lib.Context()
        lib.open({"driver": "zarr3", "kvstore": M}, create=True, dtype=lib.uint8, shape=[4, 5], context=context).result()
        outcomes.append(_attempt(lambda lib=lib, context=context: lib.open(
            {"driver": "zarr3", "kvstore": M, "schema": {"domain": domain}}, context=context).result().shape))
    assert outcomes[0] == outcomes[1]
    if error is not None:
        context = ts_core.Context()
        ts_core.open({"driver": "zarr3", "kvstore": M}, create=True, dtype=ts_core.uint8, shape=[4, 5], context=context).result()
        with pytest.raises(ValueError, match=error):
            ts_core.open({"driver": "zarr3", "kvstore": M, "schema": {"domain": domain}}, context=context).result()
