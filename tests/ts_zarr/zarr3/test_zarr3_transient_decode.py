"""A read-modify-write decodes a chunk into its thread's reused buffer (``decode_transient``)
and gives the values the general path gives: checked against ``decode`` and, for small
writes into existing chunks (one after another, concurrent, in a transaction, with and
without a cache), against the tensorstore wheel reading the result."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore
import zstandard

import ts_core as ts
from ts_core.errors import ChunkError
from ts_zarr.zarr3._pipeline import parse_codec_chain
from ts_zarr.zarr3.codec_api import ChunkSpec

SHAPE = (8, 6, 4)


def _chain(codecs: list[Any], dtype: str = "uint16") -> Any:
    return parse_codec_chain(codecs, "codecs", ChunkSpec(SHAPE, np.dtype(dtype), (), np.zeros((), dtype)))


def _chunk(dtype: str = "uint16") -> np.ndarray[Any, Any]:
    return (np.arange(np.prod(SHAPE)) * 7 % 50).astype(dtype).reshape(SHAPE)


@pytest.mark.parametrize("dtype", ["uint16", "float64", "int8"])
def test_zstd_chunk_decodes_into_one_reused_writable_buffer(dtype: str) -> None:
    chain = _chain([{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 1}}], dtype)
    first_values, second_values = _chunk(dtype), _chunk(dtype)[::-1].copy()
    first = chain.decode_transient(chain.encode(first_values))
    np.testing.assert_array_equal(first, first_values)
    assert first.dtype == chain.decode(chain.encode(first_values)).dtype
    assert first.flags.writeable
    assert first.flags.c_contiguous
    second = chain.decode_transient(chain.encode(second_values))
    np.testing.assert_array_equal(second, second_values)
    assert np.shares_memory(first, second)  # this thread's buffer: valid until its next call


def test_each_thread_decodes_into_its_own_buffer() -> None:
    chain = _chain([{"name": "bytes"}, {"name": "zstd"}])
    encoded = chain.encode(_chunk())
    seen: list[np.ndarray[Any, Any]] = []
    worker = threading.Thread(target=lambda: seen.append(chain.decode_transient(encoded)))
    worker.start()
    worker.join()
    assert not np.shares_memory(chain.decode_transient(encoded), seen[0])


def test_frames_without_a_size_and_several_frames_decode_alike() -> None:
    chain = _chain([{"name": "bytes"}, {"name": "zstd"}])
    raw = _chunk().tobytes()
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    half = len(raw) // 2
    two_frames = zstandard.ZstdCompressor().compress(raw[:half]) + zstandard.ZstdCompressor().compress(raw[half:])
    for data in (unsized, two_frames):
        np.testing.assert_array_equal(chain.decode_transient(data), _chunk())


@pytest.mark.parametrize("size", [-2, 2])
def test_data_of_another_size_fails_as_decode_does(size: int) -> None:
    chain = _chain([{"name": "bytes"}, {"name": "zstd"}])
    raw = _chunk().tobytes()
    data = zstandard.ZstdCompressor().compress(raw[:size] if size < 0 else raw + b"\0" * size)
    with pytest.raises((ValueError, ChunkError)) as general:
        chain.decode(data)
    with pytest.raises(type(general.value)):
        chain.decode_transient(data)
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(raw[:size] if size < 0 else raw + b"\0" * size)
    with pytest.raises((ValueError, ChunkError)):
        chain.decode_transient(unsized)


@pytest.mark.parametrize("codecs", [
    [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd"}],  # not native order
    [{"name": "transpose", "configuration": {"order": [2, 0, 1]}}, {"name": "bytes"}, {"name": "zstd"}],
    [{"name": "bytes"}, {"name": "gzip"}],  # a codec that does not decode into a buffer
    [{"name": "bytes"}],
])
def test_other_chains_decode_into_a_new_writable_copy(codecs: list[Any]) -> None:
    chain = _chain(codecs)
    encoded = chain.encode(_chunk())
    first, second = chain.decode_transient(encoded), chain.decode_transient(encoded)
    np.testing.assert_array_equal(first, _chunk())
    assert first.flags.writeable
    assert not np.shares_memory(first, second)
    assert not np.shares_memory(first, np.frombuffer(encoded, np.uint8))


def _existing_array(path: Path, codecs: list[Any]) -> tuple[dict[str, Any], np.ndarray[Any, Any]]:
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)},
            "metadata": {"shape": [32, 32, 16], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [8, 8, 8]}},
                         "data_type": "uint16", "codecs": codecs, "fill_value": 3}}
    expected = (np.arange(32 * 32 * 16) * 2654435761 % 4096).astype(np.uint16).reshape(32, 32, 16)
    tensorstore.open(spec, create=True).result().write(expected).result()
    return spec, expected


CODECS = [
    [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 1}}],
    [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd"}],
    [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [4, 4, 4], "codecs": [{"name": "bytes"}, {"name": "zstd"}], "index_codecs": [{"name": "bytes"}, {"name": "crc32c"}]}}],
]


@pytest.mark.parametrize("codecs", CODECS, ids=["zstd", "big-endian", "sharded"])
@pytest.mark.parametrize("mode", ["sequential", "concurrent", "transaction"])
@pytest.mark.parametrize("cached", [False, True])
def test_small_writes_into_existing_chunks_match_the_wheel(tmp_path: Path, codecs: list[Any], mode: str, cached: bool) -> None:
    spec, expected = _existing_array(tmp_path, codecs)
    context = ts.Context({"cache_pool": {"total_bytes_limit": (64 << 20) if cached else 0}})
    store = ts.open(spec, open=True, context=context).result()
    if cached:
        store.read().result()  # the cache holds every chunk: updates must not modify its arrays
    rng = np.random.default_rng(5)
    boxes = []
    for _ in range(12):  # some boxes share a chunk (coalesced or queued one after another)
        corner = rng.integers(0, [30, 30, 14])
        boxes.append(tuple(slice(int(c), int(c) + 2) for c in corner))
    values = [np.full((2, 2, 2), 100 + k, np.uint16) for k in range(len(boxes))]
    if mode == "sequential":
        for box, value in zip(boxes, values, strict=True):
            store[box].write(value).result()
    else:
        transaction = ts.Transaction() if mode == "transaction" else None
        view = store.with_transaction(transaction) if transaction is not None else store
        futures = [view[box].write(value) for box, value in zip(boxes, values, strict=True)]
        for future in futures:
            future.result()
        if transaction is not None:
            transaction.commit_async().result()
    for box, value in zip(boxes, values, strict=True):
        expected[box] = value
    oracle = tensorstore.open(spec, open=True, context=tensorstore.Context({"cache_pool": {"total_bytes_limit": 0}})).result()
    np.testing.assert_array_equal(oracle.read().result(), expected)
    np.testing.assert_array_equal(store.read().result(), expected)
