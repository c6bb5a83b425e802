"""zarr3: bytes -> bytes codecs, sharded inner chunks and shard indexes never decode past
the size the chunk spec gives them; a shard index pointing past what an inner chunk can
be is an error, not a huge read."""

from __future__ import annotations

import functools
from typing import Any

import google_crc32c
import numcodecs
import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import ChunkError
from ts_core.testing.safety import read_traced

CHUNK_SHAPE = [256, 256]
CHUNK_NBYTES = 256 * 256 * 2
BOMB_NBYTES = 32 * 2**20
MEMORY_ALLOWANCE = 8 * CHUNK_NBYTES
MISSING = 2**64 - 1


@functools.cache
def zeros_bomb(codec: str) -> bytes:
    zeros = bytes(BOMB_NBYTES)
    if codec == "gzip":
        return bytes(numcodecs.GZip(level=1).encode(zeros))
    if codec == "zstd":
        return bytes(numcodecs.Zstd(level=1).encode(zeros))
    return bytes(numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1).encode(zeros))


def open_array(codecs: list[Any], shape: list[int] = CHUNK_SHAPE, chunk_shape: list[int] = CHUNK_SHAPE) -> Any:
    metadata = {
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape}},
        "codecs": codecs,
        "data_type": "uint16",
        "shape": shape,
    }
    return ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "memory", "path": "bombs/"}, "metadata": metadata}, create=True
    ).result()


@pytest.mark.parametrize("codec", ["gzip", "zstd", "blosc"])
def test_bytes_codec_bomb_is_refused_naming_the_chunk(codec: str) -> None:
    store = open_array([{"name": "bytes"}, {"name": codec}])
    store.kvstore["c/0/0"] = zeros_bomb(codec)
    error, peak = read_traced(store)
    assert isinstance(error, ChunkError)
    assert "'bombs/c/0/0'" in str(error)
    assert f"more than {CHUNK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE


@pytest.mark.parametrize("codec", ["gzip", "zstd", "blosc"])
def test_valid_and_truncated_chunks(codec: str) -> None:
    store = open_array([{"name": "bytes"}, {"name": codec}])
    data = np.arange(CHUNK_NBYTES // 2, dtype=np.uint16).reshape(CHUNK_SHAPE)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)
    stored = store.kvstore["c/0/0"]
    store.kvstore["c/0/0"] = stored[: len(stored) // 2]
    with pytest.raises(ChunkError, match=r"error decoding chunk 'bombs/c/0/0': .*(truncated|corrupt)"):
        store.read().result()


def test_limit_passes_through_a_checksum() -> None:
    # [bytes, zstd, crc32c]: the crc32c codec strips 4 bytes, then zstd stops at the chunk's size.
    store = open_array([{"name": "bytes"}, {"name": "zstd"}, {"name": "crc32c"}])
    bomb = zeros_bomb("zstd")
    store.kvstore["c/0/0"] = bomb + google_crc32c.value(bomb).to_bytes(4, "little")
    error, peak = read_traced(store)
    assert isinstance(error, ChunkError)
    assert f"'bombs/c/0/0': zstd data declares {BOMB_NBYTES} decompressed bytes, more than {CHUNK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE


def shard(chunks: dict[tuple[int, int], tuple[int, int]], payload: bytes, grid: tuple[int, int] = (2, 2)) -> bytes:
    """``payload`` then an index (default index codecs: little-endian uint64, crc32c) at the end."""
    index = np.full((*grid, 2), MISSING, dtype="<u8")
    for position, entry in chunks.items():
        index[position] = entry
    encoded = index.tobytes()
    return payload + encoded + google_crc32c.value(encoded).to_bytes(4, "little")


SHARDED = [{"name": "sharding_indexed", "configuration": {"chunk_shape": [128, 128], "codecs": [{"name": "bytes"}, {"name": "zstd"}]}}]
INNER_NBYTES = 128 * 128 * 2


def test_sharded_inner_chunk_bomb_is_refused() -> None:
    store = open_array(SHARDED)
    bomb = zeros_bomb("zstd")
    store.kvstore["c/0/0"] = shard({(0, 1): (0, len(bomb))}, bomb)
    error, peak = read_traced(store)
    assert isinstance(error, ChunkError)
    assert "'bombs/c/0/0" in str(error)
    assert f"more than {INNER_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE
    # Chunks the index does not name still read as the fill value.
    np.testing.assert_array_equal(store[:128, :128].read().result(), 0)


def test_shard_index_beyond_an_inner_chunk_is_an_error_not_a_huge_read() -> None:
    store = open_array(SHARDED)
    store.kvstore["c/0/0"] = shard({(0, 0): (0, 2**40)}, b"x" * 16)
    with pytest.raises(ValueError, match=r"corrupt shard 'bombs/c/0/0'.* 1099511627776 bytes, but inner chunks encode to at most"):
        store.read().result()


def test_shard_index_past_the_end_of_the_shard_is_an_error() -> None:
    store = open_array(SHARDED)
    valid = bytes(numcodecs.Zstd(level=1).encode(bytes(INNER_NBYTES)))
    store.kvstore["c/0/0"] = shard({(0, 0): (50_000, len(valid))}, valid)
    with pytest.raises(ValueError, match=r"corrupt shard 'bombs/c/0/0': .*\[50000, 50019\)"):
        store.read().result()


def test_sharded_valid_data_round_trips() -> None:
    store = open_array(SHARDED)
    data = np.arange(CHUNK_NBYTES // 2, dtype=np.uint16).reshape(CHUNK_SHAPE)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)
    np.testing.assert_array_equal(store[100:200, 5:7].read().result(), data[100:200, 5:7])


@pytest.mark.parametrize("compressor", ["zstd", "gzip", "blosc"])
def test_shard_index_codecs_must_have_a_fixed_size(compressor: str) -> None:
    # The index is read by its size, so a compressed index could neither be read back nor
    # be bounded; as in tensorstore, such index codecs are refused when the array is opened.
    codecs = [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [16, 16], "codecs": [{"name": "bytes"}],
        "index_codecs": [{"name": "bytes"}, {"name": compressor}],
    }}]
    with pytest.raises(ValueError, match=rf"^metadata\.codecs\[0\]\.configuration\.index_codecs: .*'{compressor}'"):
        open_array(codecs)
