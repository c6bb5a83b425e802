"""zarr v2 arrays written by ts are read by zarr-python and tensorstore, and the reverse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore
import zarr
from numcodecs import GZip, Zstd

import ts_core as ts

COMPRESSORS: dict[str, Any] = {
    "raw": None,
    "blosc": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
    "zstd": {"id": "zstd", "level": 1},
    "gzip": {"id": "gzip", "level": 5},
}
CASES = [
    pytest.param(name, order, separator, id=f"{name}-{order}-{'slash' if separator == '/' else 'dot'}")
    for name in COMPRESSORS
    for order in ("C", "F")
    for separator in (".", "/")
]


def sample(shape: tuple[int, ...], dtype: Any) -> np.ndarray[Any, Any]:
    return (np.arange(int(np.prod(shape))) * 7 % 251).astype(dtype).reshape(shape)


@pytest.mark.parametrize(("compressor", "order", "separator"), CASES)
def test_ts_writes_others_read(tmp_path: Path, compressor: str, order: str, separator: str) -> None:
    data = sample((9, 13), np.int16)
    metadata = {
        "chunks": [4, 5],
        "compressor": COMPRESSORS[compressor],
        "order": order,
        "dimension_separator": separator,
        "fill_value": -1,
    }
    store = ts.open(
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "metadata": metadata},
        create=True, dtype=ts.int16, shape=[9, 13],
    ).result()
    store[:, :12].write(data[:, :12]).result()  # the last column stays fill
    expected = data.copy()
    expected[:, 12] = -1

    np.testing.assert_array_equal(zarr.open_array(str(tmp_path), mode="r", zarr_format=2)[...], expected)
    theirs = tensorstore.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}).result()
    np.testing.assert_array_equal(theirs.read().result(), expected)


@pytest.mark.parametrize(("compressor", "order", "separator"), CASES)
def test_zarr_python_writes_ts_reads(tmp_path: Path, compressor: str, order: str, separator: str) -> None:
    codec = {"raw": None, "blosc": "blosc", "zstd": Zstd(level=1), "gzip": GZip(level=5)}[compressor]
    kwargs: dict[str, Any] = {"compressors": codec} if codec != "blosc" else {}
    array = zarr.create_array(
        str(tmp_path), shape=(9, 13), chunks=(4, 5), dtype="int16", zarr_format=2, order=order,
        fill_value=-1, chunk_key_encoding={"name": "v2", "separator": separator}, **kwargs,
    )
    data = sample((9, 13), np.int16)
    array[:, :12] = data[:, :12]
    expected = data.copy()
    expected[:, 12] = -1
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}, open=True).result()
    np.testing.assert_array_equal(store.read().result(), expected)


@pytest.mark.parametrize(("compressor", "order", "separator"), CASES)
def test_tensorstore_writes_ts_reads(tmp_path: Path, compressor: str, order: str, separator: str) -> None:
    metadata = {
        "chunks": [4, 5],
        "compressor": COMPRESSORS[compressor],
        "order": order,
        "dimension_separator": separator,
        "fill_value": -1,
        "dtype": "<i2",
        "shape": [9, 13],
    }
    theirs = tensorstore.open(
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "metadata": metadata}, create=True
    ).result()
    data = sample((9, 13), np.int16)
    theirs[:, :12].write(data[:, :12]).result()
    expected = data.copy()
    expected[:, 12] = -1
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}, open=True).result()
    np.testing.assert_array_equal(store.read().result(), expected)
    assert (tmp_path / ".zarray").read_bytes() == store.kvstore[".zarray"]


def test_structured_dtype_both_ways(tmp_path: Path) -> None:
    dtype = [["x", "<u2"], ["y", "<f8"]]
    metadata = {"chunks": [3], "compressor": None, "dtype": dtype, "shape": [5], "fill_value": None}
    for field in ("x", "y"):
        ts.open(
            {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "metadata": metadata, "field": field},
            create=field == "x", open=field == "y",
        ).result()[1:4].write([10, 20, 30] if field == "y" else [1, 2, 3]).result()  # int64 arrays: no safe cast
    theirs = zarr.open_array(str(tmp_path), mode="r", zarr_format=2)[...]
    np.testing.assert_array_equal(theirs["x"], [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(theirs["y"], [0, 10, 20, 30, 0])
    ts_y = tensorstore.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "field": "y"}).result()
    np.testing.assert_array_equal(ts_y.read().result(), [0, 10, 20, 30, 0])


@pytest.mark.parametrize("fill", [np.nan, np.inf, 2.5])
def test_special_fill_values(tmp_path: Path, fill: float) -> None:
    store = ts.open(
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}},
        create=True, dtype=ts.float32, shape=[4], fill_value=fill,
    ).result()
    store[1].write(0).result()
    expected = np.array([fill, 0, fill, fill], np.float32)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path), mode="r", zarr_format=2)[...], expected)
    theirs = tensorstore.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}).result()
    np.testing.assert_array_equal(theirs.read().result(), expected)
