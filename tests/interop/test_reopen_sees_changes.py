"""Reopening an array reads its metadata again: what is remembered between opens (validated
specs, parsed kvstore specs, checked codecs, parsed dtypes) never hides a change on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts


def _zarr2(shape: list[int], dtype: str, compressor: Any) -> dict[str, Any]:
    return {"chunks": [4] * len(shape), "compressor": compressor, "dtype": dtype, "shape": shape,
            "fill_value": 0, "order": "C", "filters": None}


def _zarr3(shape: list[int], dtype: str, level: int) -> dict[str, Any]:
    return {"zarr_format": 3, "node_type": "array", "shape": shape, "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4] * len(shape)}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                       {"name": "zstd", "configuration": {"level": level, "checksum": False}}]}


@pytest.mark.parametrize(
    ("driver", "first", "second"),
    [
        ("zarr", _zarr2([8, 8], "<u2", {"id": "zstd", "level": 1}), _zarr2([6, 10, 2], "<f4", {"id": "zstd", "level": 3})),
        ("zarr", _zarr2([8], "<i4", None), _zarr2([8], "<i4", {"id": "gzip", "level": 2})),
        ("zarr3", _zarr3([8, 8], "uint16", 1), _zarr3([5, 3], "int32", 2)),
        ("n5", {"dimensions": [8, 8], "blockSize": [4, 4], "dataType": "uint16", "compression": {"type": "raw"}},
         {"dimensions": [9, 7], "blockSize": [3, 3], "dataType": "float32", "compression": {"type": "gzip"}}),
    ],
)
def test_a_changed_metadata_file_is_seen_by_the_next_open(
    tmp_path: Path, driver: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    spec = {"driver": driver, "kvstore": {"driver": "file", "path": f"{tmp_path}/array/"}}
    context = ts.Context()
    for metadata in (first, second, first):
        written = tensorstore.open({**spec, "metadata": metadata}, create=True, delete_existing=True).result()
        written[...] = np.arange(written.size, dtype=written.dtype.numpy_dtype).reshape(written.shape)
        for opened in (ts.open(spec).result(), ts.open(spec, context=context).result()):
            assert opened.shape == written.shape
            assert opened.dtype.name == written.dtype.name
            assert opened.spec().to_json()["metadata"] == written.spec().to_json()["metadata"]
            np.testing.assert_array_equal(opened.read().result(), written.read().result())


def test_errors_are_never_remembered(tmp_path: Path) -> None:
    """Specs and metadata that failed stay failing, with the same message, however often."""
    path = f"{tmp_path}/bad/"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / ".zarray").write_text(
        '{"chunks":[4],"compressor":{"id":"zstd","level":"x"},"dtype":"<u2","fill_value":0,'
        '"filters":null,"order":"C","shape":[8],"zarr_format":2}'
    )
    messages = set()
    for _ in range(3):
        with pytest.raises(ValueError, match=r"compressor\.level") as info:
            ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}}).result()
        messages.add(str(info.value))
        with pytest.raises(ValueError, match=r"^kvstore\.path: expected string") as bad_spec:
            ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": 3}}).result()
        messages.add(str(bad_spec.value))
    assert len(messages) == 2
