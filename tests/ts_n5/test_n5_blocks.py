"""N5 blocks built by hand from the N5 spec (an independent writer), and corrupt blocks."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.driver import ChunkError


def block_bytes(values: np.ndarray[Any, Any], compress: Callable[[bytes], bytes] = bytes, mode: int = 0) -> bytes:
    """One block per the N5 spec: mode, rank, sizes (big-endian), then compressed big-endian
    elements with the first dimension varying fastest."""
    header = struct.pack(">HH", mode, values.ndim) + b"".join(struct.pack(">I", n) for n in values.shape)
    data = values.astype(values.dtype.newbyteorder(">")).tobytes(order="F")
    return header + compress(data)


def blosc_compress(data: bytes) -> bytes:
    from numcodecs import blosc

    return bytes(blosc.compress(data, b"zstd", 5, 1, 0, typesize=4))


def zstd_compress(data: bytes) -> bytes:
    from numcodecs import Zstd

    return bytes(Zstd(level=3).encode(data))


COMPRESSIONS: dict[str, tuple[dict[str, Any], Callable[[bytes], bytes]]] = {
    "raw": ({"type": "raw"}, bytes),
    "gzip": ({"type": "gzip"}, lambda data: gzip.compress(data, mtime=0)),
    "zlib": ({"type": "gzip", "useZlib": True}, zlib.compress),
    "bzip2": ({"type": "bzip2", "blockSize": 3}, lambda data: bz2.compress(data, 3)),
    "xz": ({"type": "xz", "preset": 1}, lambda data: lzma.compress(data, preset=1)),
    "blosc": ({"type": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1}, blosc_compress),
    "zstd": ({"type": "zstd"}, zstd_compress),
}


def write_dataset(root: Path, shape: list[int], block: list[int], data_type: str, compression: dict[str, Any]) -> None:
    attributes = {"dimensions": shape, "blockSize": block, "dataType": data_type, "compression": compression}
    root.mkdir(parents=True, exist_ok=True)
    (root / "attributes.json").write_text(json.dumps(attributes))


def write_block(root: Path, grid: tuple[int, ...], payload: bytes) -> None:
    path = root.joinpath(*map(str, grid)) if grid else root / "0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)


def open_n5(root: Path) -> Any:
    return ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": f"{root}/"}}, open=True).result()


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_hand_built_blocks_with_truncated_edges(tmp_path: Path, name: str) -> None:
    compression, compress = COMPRESSIONS[name]
    shape, block = [5, 7], [2, 3]
    write_dataset(tmp_path, shape, block, "int32", compression)
    expected = (np.arange(35, dtype=np.int32).reshape(5, 7) * 1000 - 7000)
    for i in range(3):
        for j in range(3):
            # Edge blocks store only their in-bounds part, as the Java N5 writer does.
            part = expected[i * 2 : (i + 1) * 2, j * 3 : (j + 1) * 3]
            write_block(tmp_path, (i, j), block_bytes(part, compress))
    store = open_n5(tmp_path)
    np.testing.assert_array_equal(store.read().result(), expected)
    np.testing.assert_array_equal(store[3:5, 5:7].read().result(), expected[3:5, 5:7])


def test_partial_write_into_truncated_edge_block(tmp_path: Path) -> None:
    write_dataset(tmp_path, [5], [4], "uint16", {"type": "raw"})
    write_block(tmp_path, (1,), block_bytes(np.array([9], np.uint16)))
    store = open_n5(tmp_path)
    np.testing.assert_array_equal(store.read().result(), [0, 0, 0, 0, 9])
    store[0:2].write([1, 2]).result()
    np.testing.assert_array_equal(open_n5(tmp_path).read().result(), [1, 2, 0, 0, 9])


@pytest.mark.parametrize("data_type", ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64"])
def test_every_data_type_big_endian(tmp_path: Path, data_type: str) -> None:
    write_dataset(tmp_path, [3, 2, 2], [3, 2, 2], data_type, {"type": "raw"})
    values = (np.arange(12) - 3).astype(data_type).reshape(3, 2, 2)
    write_block(tmp_path, (0, 0, 0), block_bytes(values))
    store = open_n5(tmp_path)
    assert store.dtype.name == data_type
    np.testing.assert_array_equal(store.read().result(), values)
    store.write(values[::-1].copy()).result()
    assert (tmp_path / "0" / "0" / "0").read_bytes() == block_bytes(values[::-1].copy())


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    data=st.data(),
)
def test_random_blocks_read_like_the_spec_says(tmp_path_factory: Any, shape: list[int], data: Any) -> None:
    block = [data.draw(st.integers(1, n)) for n in shape]
    name = data.draw(st.sampled_from(list(COMPRESSIONS)))
    compression, compress = COMPRESSIONS[name]
    root = tmp_path_factory.mktemp("n5")
    write_dataset(root, shape, block, "int32", compression)
    expected = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape) - 5
    grid = [-(-n // b) for n, b in zip(shape, block, strict=True)]
    for position in np.ndindex(*grid):
        part = expected[tuple(slice(p * b, (p + 1) * b) for p, b in zip(position, block, strict=True))]
        write_block(root, position, block_bytes(part, compress))
    np.testing.assert_array_equal(open_n5(root).read().result(), expected)


# -- corrupt blocks: errors name the block key ---------------------------------------------------
def corrupt_case(tmp_path: Path, payload: bytes, name: str = "raw") -> Any:
    compression, compress = COMPRESSIONS[name]
    write_dataset(tmp_path, [4, 3], [2, 2], "uint8", compression)
    write_block(tmp_path, (1, 1), payload)
    write_block(tmp_path, (0, 0), block_bytes(np.array([[1, 2], [3, 4]], np.uint8), compress))
    return open_n5(tmp_path)


HEADER_2x2 = struct.pack(">HHII", 0, 2, 2, 2)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (struct.pack(">HHII", 2, 2, 2, 2) + bytes(4), r"unknown block header mode 2 \(expected 0\)"),
        (struct.pack(">HHIII", 1, 2, 2, 2, 4) + bytes(4), r"varlength blocks \(header mode 1\) are not supported"),
        (struct.pack(">HHII", 0, 2, 3, 2) + bytes(6), r"block header size \[3, 2\] exceeds the blockSize \[2, 2\]"),
        (struct.pack(">HHIII", 0, 3, 2, 2, 1) + bytes(4), r"block header has 3 dimensions but the array has 2"),
        (HEADER_2x2 + bytes(3), r"block of size 2x2 needs 4 bytes of >?uint8 data after decompression, but has 3"),
        (HEADER_2x2 + bytes(5), r"block of size 2x2 needs 4 bytes .* but has 5"),
        (HEADER_2x2[:7], r"block of 7 bytes is shorter than its 12-byte header"),
        (b"\x00", r"block of 1 bytes is shorter than the 4-byte header start"),
    ],
)
def test_corrupt_block_errors_name_the_key(tmp_path: Path, payload: bytes, message: str) -> None:
    store = corrupt_case(tmp_path, payload)
    with pytest.raises(ValueError, match=rf"error decoding chunk '.*/1/1': {message}"):
        store.read().result()
    with pytest.raises(ChunkError):
        store[2:4, 2:3].read().result()
    np.testing.assert_array_equal(store[0:2, 0:2].read().result(), [[1, 2], [3, 4]])  # others still read


@pytest.mark.parametrize("name", ["gzip", "zlib", "bzip2", "xz", "zstd", "blosc"])
def test_truncated_compressed_block(tmp_path: Path, name: str) -> None:
    _, compress = COMPRESSIONS[name]
    good = block_bytes(np.arange(4, dtype=np.uint8).reshape(2, 2) + 50, compress)
    store = corrupt_case(tmp_path, good[: len(good) - 3], name)
    with pytest.raises(ValueError, match=r"error decoding chunk '.*/1/1': "):
        store.read().result()
