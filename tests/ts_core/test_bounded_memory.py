"""Copying or writing an array holds a bounded amount of memory, whatever its size."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import ts_core as ts
from ts_core.tensorstore import _tensorstore


def zarr(path: Path, context: dict[str, object] | None = None, **kwargs: object) -> ts.TensorStore:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{path}/"},
            "metadata": {"chunks": [256, 256], "compressor": {"id": "zstd", "level": 1}}}
    return ts.open(spec, context=ts.Context(context or {"file_io_sync": False}), **kwargs).result()


def test_store_to_store_copy_is_sliced_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape = (2048, 4096)  # 16 MiB of uint16
    source = zarr(tmp_path / "src", create=True, dtype=ts.uint16, shape=list(shape))
    rows = np.arange(shape[0], dtype=np.uint16)[:, None]
    for start in range(0, shape[0], 256):
        source[start : start + 256].write(np.broadcast_to(rows[start : start + 256], (256, shape[1]))).result()
    target = zarr(tmp_path / "dst", create=True, dtype=ts.uint16, shape=list(shape))
    monkeypatch.setattr(_tensorstore, "COPY_SLAB_BYTES", 1 << 20)  # 1 MiB slabs

    gc.collect()
    tracemalloc.start()
    target.write(source).result()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Reading the source whole would alone take 16 MiB.
    assert peak < 12 << 20, f"copy of a 16 MiB array peaked at {peak >> 20} MiB"
    for start in range(0, shape[0], 512):  # check in pieces, also bounded
        np.testing.assert_array_equal(
            target[start : start + 512, :8].read().result(), np.broadcast_to(rows[start : start + 512], (512, 8))
        )


def test_bulk_write_keeps_few_encoded_chunks_in_flight(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 60000, size=(4096, 2048), dtype=np.uint16)  # 16 MiB
    # One slow (fsync'ed) writer thread: encoding outpaces writing, so without back-pressure
    # the encoded chunks would pile up in the writer's queue.
    slow = {"file_io_concurrency": {"limit": 1}, "file_io_sync": True}
    store = zarr(tmp_path / "bulk", context=slow, create=True, dtype=ts.uint16, shape=[4096, 2048])
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    store.write(data).result()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 128 chunks of 128 KiB: all encoded at once would be ~16 MiB on top of the source.
    assert peak < 8 << 20, f"bulk write peaked at {peak >> 20} MiB above the source"
    np.testing.assert_array_equal(store[100:110, 2000:2010].read().result(), data[100:110, 2000:2010])


def test_written_array_is_free_once_the_write_returns(tmp_path: Path) -> None:
    """A write of many chunks to a file store keeps no reference to the caller's array
    after it completes: a loop of writes (a Dask worker's tasks) holds one block at a time,
    and the next block can reuse the memory of the previous one."""
    import weakref

    store = zarr(tmp_path / "loop", create=True, dtype=ts.uint16, shape=[1024, 1024])
    for row in (0, 512):
        block = np.full((512, 1024), row, dtype=np.uint16)  # 8 chunks: written by the I/O pool
        ref = weakref.ref(block)
        store[row : row + 512] = block
        del block
        assert ref() is None, "the written array outlived the write"
    assert store[511:513, 0].read().result().tolist() == [0, 512]


def test_copy_shape_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    source = ts.array(np.zeros((3, 3), np.uint8))
    target = zarr(tmp_path / "t", create=True, dtype=ts.uint8, shape=[4, 4])
    with pytest.raises(ValueError, match=r"cannot copy a source of shape \(3, 3\) to the target shape \(4, 4\)"):
        target.write(source)
