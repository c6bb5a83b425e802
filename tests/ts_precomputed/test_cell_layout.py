"""Chunks handed to the encoding in their own memory order: the driver's cell buffer (its
bytes are the x-fastest layout), compressed_segmentation streams that do not depend on the
input's memory order, and whole volumes, edge chunks, several channels and transactions
written from C-, Fortran- and otherwise-ordered arrays, read back by the tensorstore wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_precomputed._chunk_store import cell_array, cell_buffer
from ts_precomputed._compressed_segmentation import CompressedSegmentationEncoding

tensorstore = pytest.importorskip("tensorstore")

BLOCK = {"compressed_segmentation_block_size": [4, 4, 2]}


def orders(data: np.ndarray) -> dict[str, np.ndarray]:
    """``data`` in C order, Fortran order, and with its axes stored in a mixed order."""
    mixed = np.ascontiguousarray(data.transpose(2, 0, 3, 1)).transpose(1, 3, 0, 2)
    return {"C": np.ascontiguousarray(data), "F": np.asfortranarray(data), "mixed": mixed}


def test_cell_buffer_bytes_are_the_x_fastest_layout() -> None:
    cell = np.arange(2 * 3 * 4 * 2, dtype="<u8").reshape(2, 3, 4, 2)
    for name, array in orders(cell).items():
        buffer = cell_buffer(array)
        assert bytes(buffer) == cell.tobytes(order="F"), name
        back = cell_array(buffer, np.dtype("<u8"), cell.shape)
        assert np.array_equal(back, cell), name
        assert np.shares_memory(back, array), name
        assert not back.flags.writeable  # a decoded view never writes into the staged value
        assert cell_array(buffer, np.dtype("<u8"), cell.shape, writable=True).flags.writeable
    plain = cell_array(cell.tobytes(order="F"), np.dtype("<u8"), cell.shape)
    assert np.array_equal(plain, cell)


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
@pytest.mark.parametrize("shape", [(9, 7, 5, 1), (8, 8, 4, 3), (1, 1, 1, 2)])
def test_compressed_segmentation_stream_does_not_depend_on_memory_order(dtype: str, shape: tuple[int, ...]) -> None:
    data = np.random.default_rng(0).integers(0, 9, size=shape).astype(dtype)
    encoding = CompressedSegmentationEncoding(np.dtype(dtype), shape[3], BLOCK, {})
    streams = {name: encoding.encode(array) for name, array in orders(data).items()}
    read_only = np.asfortranarray(data)
    read_only.setflags(write=False)
    streams["read-only"] = encoding.encode(read_only)
    streams["strided"] = encoding.encode(np.repeat(data, 2, axis=0)[::2])
    assert len(set(streams.values())) == 1, sorted(streams)
    assert np.array_equal(encoding.decode(streams["C"], shape), data)  # type: ignore[arg-type]


def spec(path: Path, dtype: str, size: list[int], channels: int) -> dict[str, Any]:
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {"type": "segmentation", "data_type": dtype, "num_channels": channels},
        "scale_metadata": {"size": size, "chunk_size": [8, 8, 4], "resolution": [1, 1, 1],
                           "encoding": "compressed_segmentation", **BLOCK},
    }


def wheel_read(path: Path) -> np.ndarray:
    opened = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(path)}})
    return np.asarray(opened.result().read().result())


@pytest.mark.parametrize("order", ["C", "F", "mixed"])
@pytest.mark.parametrize(("dtype", "size", "channels"), [("uint64", [20, 11, 9], 1), ("uint32", [16, 9, 5], 3)])
def test_volumes_written_from_any_order_read_back_in_the_wheel(
    tmp_path: Path, order: str, dtype: str, size: list[int], channels: int
) -> None:
    data = np.random.default_rng(1).integers(0, 12, size=(*size, channels)).astype(dtype)
    store = ts.open(spec(tmp_path, dtype, size, channels), create=True).result()
    store.write(orders(data)[order]).result()  # many chunks, edge chunks truncated
    assert np.array_equal(wheel_read(tmp_path), data)
    store[0:8, 0:8, 0:4].write(orders(data + 1)[order][0:8, 0:8, 0:4]).result()  # one whole chunk
    store[1:3, 2:5, 1:2].write(data[1:3, 2:5, 1:2] + 2).result()  # read-modify-write
    expected = data.copy()
    expected[0:8, 0:8, 0:4] += 1
    expected[1:3, 2:5, 1:2] = data[1:3, 2:5, 1:2] + 2
    assert np.array_equal(wheel_read(tmp_path), expected)


def test_transaction_reads_its_own_staged_chunks(tmp_path: Path) -> None:
    data = np.random.default_rng(2).integers(0, 12, size=(20, 11, 9, 1)).astype("uint64")
    store = ts.open(spec(tmp_path, "uint64", [20, 11, 9], 1), create=True).result()
    store.write(data).result()
    txn = ts.Transaction()
    staged = store.with_transaction(txn)
    staged.write(orders(data + 5)["mixed"]).result()
    assert np.array_equal(staged.read().result(), data + 5)
    staged[0:5, 0:5, 0:3].write(data[0:5, 0:5, 0:3]).result()  # a modification on a staged chunk
    expected = data + 5
    expected[0:5, 0:5, 0:3] = data[0:5, 0:5, 0:3]
    assert np.array_equal(staged.read().result(), expected)
    assert np.array_equal(wheel_read(tmp_path), data)  # nothing written before the commit
    txn.commit_async().result()
    assert np.array_equal(wheel_read(tmp_path), expected)
