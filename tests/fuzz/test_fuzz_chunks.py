"""Fuzz every format's chunk decoding (and zarr3's shard index) through a real opened array.

Chunk bytes come from whoever wrote the data set. Whatever a stored chunk holds, reading
the array gives an array of the right shape and dtype or a clear error naming the chunk's
key -- and the other chunks stay readable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ts_core as ts

from ._support import check_clear_error, fuzz_settings, mutated_bytes

SHAPE = [5, 4]
GRID_2D = {"name": "regular", "configuration": {"chunk_shape": [3, 2]}}


def _zarr(**metadata: Any) -> dict[str, Any]:
    return {"driver": "zarr", "metadata": {"shape": SHAPE, "chunks": [3, 2], **metadata}}


def _zarr3(codecs: list[Any], data_type: str = "int16", grid: Any = GRID_2D) -> dict[str, Any]:
    return {"driver": "zarr3", "metadata": {"data_type": data_type, "chunk_grid": grid, "codecs": codecs}}


def _n5(compression: dict[str, Any], data_type: str = "int16") -> dict[str, Any]:
    return {"driver": "n5", "metadata": {"dataType": data_type, "blockSize": [3, 2], "compression": compression}}


def _chunkdir(compression: str, dtype: str = "int16") -> dict[str, Any]:
    return {"driver": "chunkdir", "metadata": {"dtype": dtype, "chunks": [3, 2], "compression": compression}}


def _sharded(index_codecs: list[Any], index_location: str = "end") -> dict[str, Any]:
    sharding = {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": [1, 2],
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip"}],
            "index_codecs": index_codecs,
            "index_location": index_location,
        },
    }
    return _zarr3([sharding], grid={"name": "regular", "configuration": {"chunk_shape": [3, 4]}})


LITTLE = {"name": "bytes", "configuration": {"endian": "little"}}
#: One array per decoding path: (spec without kvstore and dtype/shape, key of the fuzzed chunk).
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "zarr-raw": (_zarr(compressor=None, dtype="<i2"), "0.0"),
    "zarr-zlib-delta-F": (_zarr(compressor={"id": "zlib", "level": 1}, filters=[{"id": "delta", "dtype": "<i2"}], order="F", dtype="<i2"), "0.0"),
    "zarr-gzip": (_zarr(compressor={"id": "gzip", "level": 1}, dtype=">u4"), "0.0"),
    "zarr-blosc": (_zarr(compressor={"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}, dtype="<f8"), "0.0"),
    "zarr-zstd": (_zarr(compressor={"id": "zstd", "level": 1}, dtype="<i8"), "0.0"),
    "zarr-structured": ({**_zarr(compressor=None, dtype=[["a", "|b1"], ["b", "<i2", [2]]], fill_value=None), "field": "b"}, "0.0"),
    "zarr3-bytes": (_zarr3([LITTLE]), "c/0/0"),
    "zarr3-transpose-gzip": (_zarr3([{"name": "transpose", "configuration": {"order": [1, 0]}}, {"name": "bytes", "configuration": {"endian": "big"}}, {"name": "gzip"}]), "c/0/0"),
    "zarr3-blosc": (_zarr3([LITTLE, {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 1, "shuffle": "shuffle", "typesize": 2, "blocksize": 0}}]), "c/0/0"),
    "zarr3-zstd-crc32c": (_zarr3([LITTLE, {"name": "zstd", "configuration": {"level": 1}}, {"name": "crc32c"}]), "c/0/0"),
    "zarr3-bool": (_zarr3([{"name": "bytes"}], data_type="bool"), "c/0/0"),
    "n5-raw": (_n5({"type": "raw"}), "0/0"),
    "n5-gzip": (_n5({"type": "gzip"}, "uint32"), "0/0"),
    "n5-bzip2": (_n5({"type": "bzip2"}, "float32"), "0/0"),
    "n5-xz": (_n5({"type": "xz"}, "int8"), "0/0"),
    "n5-blosc": (_n5({"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}, "uint64"), "0/0"),
    "n5-zstd": (_n5({"type": "zstd"}), "0/0"),
    "chunkdir-none": (_chunkdir("none"), "c/0.0"),
    "chunkdir-zlib": (_chunkdir("zlib", "float32"), "c/0.0"),
    "chunkdir-bool": (_chunkdir("none", "bool"), "c/0.0"),
}
#: Whole shards: the index (checksummed, unchecksummed, at the start) and the inner chunks.
SHARD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "crc32c-index-at-end": (_sharded([LITTLE, {"name": "crc32c"}]), "c/0/0"),
    "plain-index-at-end": (_sharded([LITTLE]), "c/0/0"),
    "plain-index-at-start": (_sharded([{"name": "bytes", "configuration": {"endian": "big"}}], "start"), "c/0/0"),
}


@dataclass
class Case:
    store: Any
    kvstore: Any
    key: str
    valid: bytes
    expected: np.ndarray[Any, Any]


@functools.cache
def opened(name: str) -> Case:
    """The array of case ``name`` with every chunk written, and the fuzzed chunk's bytes."""
    spec, key = {**CASES, **SHARD_CASES}[name]
    context = ts.Context()
    json_value = {**spec, "kvstore": "memory://array/"}
    shape = None if spec["driver"] == "zarr" else SHAPE
    store = ts.open(json_value, create=True, shape=shape, context=context).result()
    values = np.arange(int(np.prod(store.shape))).reshape(store.shape) * 7 - 30
    values = values % 3 == 0 if store.dtype.name == "bool" else values.astype(store.dtype.numpy_dtype)
    store.write(values).result()
    kvstore = ts.KvStore.open("memory://array/", context=context).result()
    valid = kvstore[key]
    return Case(store, kvstore, key, valid, store.read().result())


def check_read(case: Case, data: bytes) -> None:
    """Store ``data`` as the fuzzed chunk and read: an array or a clear error naming the key;
    the chunk that is not fuzzed (the last row) always reads back unchanged."""
    case.kvstore[case.key] = data
    try:
        result = case.store.read().result()
    except Exception as exc:
        check_clear_error(exc)
        if case.key not in str(exc):
            raise AssertionError(f"error does not name the chunk {case.key!r}: {exc}") from exc
    else:
        assert result.shape == case.expected.shape
        assert result.dtype == case.expected.dtype
    np.testing.assert_array_equal(case.store[4:].read().result(), case.expected[4:])


def test_valid_chunks_read() -> None:
    for name in [*CASES, *SHARD_CASES]:
        case = opened(name)
        check_read(case, case.valid)
        np.testing.assert_array_equal(case.store.read().result(), case.expected)


#: Inputs fuzzing found, replayed forever (the tests above draw with ``st.data()``, which
#: ``@example`` cannot pin, so their finds live here): (case, stored bytes).
REGRESSIONS = [
    # A blosc header declaring 2**31 + 48 decompressed bytes: numcodecs raised SystemError
    # ("Negative size passed to PyBytes_FromStringAndSize"); the declared size is now checked first.
    ("zarr-blosc", bytes.fromhex(
        "020133083000008030000000400000000000000000003ec000000000000037c0"
        "00000000000000c000000000000014400000000000003a400000000000804040"
    )),
]


@pytest.mark.parametrize(("name", "stored"), REGRESSIONS)
def test_regressions(name: str, stored: bytes) -> None:
    check_read(opened(name), stored)


@pytest.mark.parametrize("name", list(CASES))
@fuzz_settings(40)
@given(data=st.data())
def test_chunk_decodes_or_names_the_key(name: str, data: st.DataObject) -> None:
    case = opened(name)
    check_read(case, data.draw(mutated_bytes(case.valid), label="chunk"))


@st.composite
def damaged_index(draw: st.DrawFn, case: Case, index_at_end: bool) -> bytes:
    """The valid shard with (offset, nbytes) entries of its uint64 index overwritten."""
    shard = bytearray(case.valid)
    entries = 3 * 2 * 2  # the grid of inner chunks (3 x 2) times (offset, nbytes)
    start = len(shard) - entries * 8 if index_at_end else 0
    little = "big" not in str(case.store.spec().to_json())
    values = st.sampled_from([0, 1, 7, len(shard), len(shard) + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1])
    for _ in range(draw(st.integers(1, 4))):
        entry = draw(st.integers(0, entries - 1))
        value = draw(values | st.integers(0, len(shard)))
        at = start + entry * 8
        shard[at : at + 8] = value.to_bytes(8, "little" if little else "big")
    return bytes(shard)


@pytest.mark.parametrize("name", list(SHARD_CASES))
@fuzz_settings(40)
@given(data=st.data())
def test_shard_reads_or_names_the_shard(name: str, data: st.DataObject) -> None:
    case = opened(name)
    strategy = mutated_bytes(case.valid, max_size=512)
    if not name.startswith("crc32c"):
        strategy = strategy | damaged_index(case, index_at_end=name.endswith("end"))
    check_read(case, data.draw(strategy, label="shard"))
