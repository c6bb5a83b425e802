"""zarr v2: a chunk whose compressed bytes expand far past the chunk's size fails at that size.

Each "bomb" is 32 MiB of zeros compressed to a few KB, stored as the one chunk of a 128 KiB
array; reading it must raise an error naming the chunk key while the memory traced during
the read stays within a small multiple of the chunk (not the 32 MiB the data claims).
"""

from __future__ import annotations

import functools
from typing import Any

import numcodecs
import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import ChunkError
from ts_core.testing.safety import read_traced

CHUNK_SHAPE = [256, 256]
CHUNK_NBYTES = 256 * 256 * 2
BOMB_NBYTES = 32 * 2**20
#: Traced memory a refused read may use: a few chunks (xz's 256 KiB preset-0 dictionary included).
MEMORY_ALLOWANCE = 8 * CHUNK_NBYTES

COMPRESSORS: dict[str, dict[str, Any]] = {
    "zlib": {"id": "zlib", "level": 1},
    "gzip": {"id": "gzip", "level": 1},
    "bz2": {"id": "bz2", "level": 1},
    "lzma": {"id": "lzma", "preset": 0},
    "zstd": {"id": "zstd", "level": 1},
    "blosc-lz4": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1},
    "blosc-zstd": {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1},
    "lz4": {"id": "lz4", "acceleration": 1},
}


@functools.cache
def bomb(name: str) -> bytes:
    return bytes(numcodecs.get_codec(dict(COMPRESSORS[name])).encode(bytes(BOMB_NBYTES)))


def open_array(compressor: dict[str, Any] | None, filters: list[dict[str, Any]] | None = None) -> Any:
    metadata = {"chunks": CHUNK_SHAPE, "compressor": compressor, "filters": filters}
    return ts.open(
        {"driver": "zarr", "kvstore": {"driver": "memory", "path": "bombs/"}, "metadata": metadata},
        create=True, dtype=ts.uint16, shape=CHUNK_SHAPE,
    ).result()


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_bomb_is_refused_naming_the_chunk(name: str) -> None:
    store = open_array(COMPRESSORS[name])
    store.kvstore["0.0"] = bomb(name)
    error, peak = read_traced(store)
    assert isinstance(error, ChunkError)
    assert "'bombs/0.0'" in str(error)
    assert f"more than {CHUNK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE, f"{peak} bytes traced while refusing a {len(bomb(name))}-byte bomb"


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_valid_chunk_decodes_and_truncated_is_a_clear_error(name: str) -> None:
    store = open_array(COMPRESSORS[name])
    data = np.arange(CHUNK_NBYTES // 2, dtype=np.uint16).reshape(CHUNK_SHAPE)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)
    stored = store.kvstore["0.0"]
    store.kvstore["0.0"] = stored[: len(stored) // 2]
    with pytest.raises(ValueError, match=r"error decoding chunk 'bombs/0\.0'"):
        store.read().result()


def test_filter_chain_stages_are_bounded() -> None:
    # A compressor used as a filter: zstd (the compressor) yields a zlib stream that expands
    # past the chunk; the zlib filter stops at the chunk's size.
    store = open_array({"id": "zstd", "level": 1}, [{"id": "zlib", "level": 1}])
    inner = bytes(numcodecs.Zlib(level=1).encode(bytes(BOMB_NBYTES)))
    store.kvstore["0.0"] = bytes(numcodecs.Zstd(level=1).encode(inner))
    error, peak = read_traced(store)
    assert isinstance(error, ValueError)
    assert "'bombs/0.0'" in str(error)
    assert f"zlib data decompresses to more than {CHUNK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE
    # The compressor stage itself is bounded by what the filter can encode the chunk to.
    store.kvstore["0.0"] = bomb("zstd")
    error, peak = read_traced(store)
    assert isinstance(error, ValueError)
    assert "zstd data declares 33554432 decompressed bytes, more than" in str(error)
    assert peak < MEMORY_ALLOWANCE


def test_size_changing_filters_still_decode() -> None:
    # astype halves the bytes the compressor sees; delta keeps them: both decode within the limits.
    store = ts.open(
        {
            "driver": "zarr",
            "kvstore": {"driver": "memory"},
            "metadata": {
                "chunks": [64],
                "dtype": "<f8",
                "compressor": {"id": "zlib", "level": 1},
                "filters": [{"id": "astype", "encode_dtype": "<f4", "decode_dtype": "<f8"}, {"id": "delta", "dtype": "<f4"}],
            },
        },
        create=True, shape=[64],
    ).result()
    data = np.arange(64, dtype=np.float64)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)


def test_bomb_behind_a_delta_filter_is_refused() -> None:
    store = open_array({"id": "zlib", "level": 1}, [{"id": "delta", "dtype": "<u2"}])
    store.kvstore["0.0"] = bomb("zlib")
    error, peak = read_traced(store)
    assert isinstance(error, ValueError)
    assert f"'bombs/0.0': zlib data decompresses to more than {CHUNK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE
