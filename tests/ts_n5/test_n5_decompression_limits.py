"""N5: a block decompresses to at most the size its header declares (itself at most
``blockSize``), so a few KB that expand to 32 MiB fail early, naming the block's key."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import struct
import zlib
from typing import Any

import numcodecs
import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import ChunkError
from ts_core.testing.safety import read_traced

BLOCK = [256, 256]
BLOCK_NBYTES = 256 * 256 * 2
BOMB_NBYTES = 32 * 2**20
MEMORY_ALLOWANCE = 8 * BLOCK_NBYTES

COMPRESSIONS: dict[str, tuple[dict[str, Any], Any]] = {
    "gzip": ({"type": "gzip", "level": 1}, lambda data: gzip.compress(data, 1)),
    "zlib": ({"type": "gzip", "level": 1, "useZlib": True}, lambda data: zlib.compress(data, 1)),
    "bzip2": ({"type": "bzip2", "blockSize": 1}, lambda data: bz2.compress(data, 1)),
    "xz": ({"type": "xz", "preset": 0}, lambda data: lzma.compress(data, preset=0)),
    "blosc": (
        {"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1},
        lambda data: numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1).encode(data),
    ),
    "zstd": ({"type": "zstd", "level": 1}, lambda data: numcodecs.Zstd(level=1).encode(data)),
}


def header(sizes: list[int]) -> bytes:
    return struct.pack(f">HH{len(sizes)}I", 0, len(sizes), *sizes)


@functools.cache
def bomb(name: str) -> bytes:
    return bytes(COMPRESSIONS[name][1](bytes(BOMB_NBYTES)))


def open_array(compression: dict[str, Any]) -> Any:
    metadata = {"dimensions": BLOCK, "blockSize": BLOCK, "dataType": "uint16", "compression": compression}
    return ts.open({"driver": "n5", "kvstore": {"driver": "memory", "path": "bombs/"}, "metadata": metadata}, create=True).result()


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_bomb_is_refused_naming_the_block(name: str) -> None:
    store = open_array(COMPRESSIONS[name][0])
    store.kvstore["0/0"] = header(BLOCK) + bomb(name)
    error, peak = read_traced(store)
    assert isinstance(error, ChunkError)
    assert "'bombs/0/0'" in str(error)
    assert f"more than {BLOCK_NBYTES}" in str(error)
    assert peak < MEMORY_ALLOWANCE


@pytest.mark.parametrize("name", ["zstd", "gzip"])
def test_edge_block_is_bounded_by_its_declared_shape(name: str) -> None:
    # A header declaring a 10x10 block allows 200 bytes, not the whole blockSize.
    store = open_array(COMPRESSIONS[name][0])
    store.kvstore["0/0"] = header([10, 10]) + bytes(COMPRESSIONS[name][1](bytes(300)))
    with pytest.raises(ChunkError, match=r"'bombs/0/0'.*more than 200"):
        store.read().result()
    store.kvstore["0/0"] = header([10, 10]) + bytes(COMPRESSIONS[name][1](np.arange(100, dtype=">u2").tobytes()))
    np.testing.assert_array_equal(store[:10, :10].read().result(), np.arange(100, dtype=np.uint16).reshape(10, 10).T)


def test_header_larger_than_block_size_is_refused() -> None:
    store = open_array(COMPRESSIONS["zstd"][0])
    store.kvstore["0/0"] = header([4096, 4096]) + bomb("zstd")
    with pytest.raises(ChunkError, match=r"'bombs/0/0'.*exceeds the blockSize \[256, 256\]"):
        store.read().result()


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_valid_and_truncated_blocks(name: str) -> None:
    store = open_array(COMPRESSIONS[name][0])
    data = np.arange(BLOCK_NBYTES // 2, dtype=np.uint16).reshape(BLOCK)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)
    stored = store.kvstore["0/0"]
    store.kvstore["0/0"] = stored[: 12 + (len(stored) - 12) // 2]
    with pytest.raises(ChunkError, match=r"error decoding chunk 'bombs/0/0': .*(truncated|corrupt)"):
        store.read().result()
