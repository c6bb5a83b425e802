"""Transactional chunk writes: staged copies packed into shared blocks (bounded memory,
freed with the staged chunks) and whole chunks staged encoded, never reading the stored chunk."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver import _chunk_io
from ts_core.driver._chunk_io import STAGING_ALIGNMENT, StagingBlocks

CHUNK = 64  # 64^2 uint16: 8 KiB chunks
SHAPE = (256, 256)


def spec(path: Path, ocdbt: bool = False) -> dict[str, Any]:
    kvstore: dict[str, Any] = {"driver": "file", "path": str(path)}
    if ocdbt:
        kvstore = {"driver": "ocdbt", "base": kvstore}
    return {
        "driver": "zarr3", "kvstore": kvstore,
        "metadata": {
            "zarr_format": 3, "node_type": "array", "shape": list(SHAPE), "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [CHUNK, CHUNK]}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        },
    }


def block_of(staged: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    base = staged
    while base.base is not None:
        base = base.base
    return base


def test_staged_copies_share_blocks_sized_to_the_write() -> None:
    values = np.arange(3 * 40_000, dtype=np.float64).reshape(3, 200, 200)  # 320 KB each
    staging = StagingBlocks(values.nbytes)
    copies = [staging.copy(values[i]) for i in range(3)]
    for i, copy in enumerate(copies):
        np.testing.assert_array_equal(copy, values[i])
        assert not copy.flags.writeable
        assert copy.ctypes.data % STAGING_ALIGNMENT == 0
    blocks = {id(block_of(copy)) for copy in copies}
    assert len(blocks) == 1
    assert block_of(copies[0]).nbytes < values.nbytes + 3 * STAGING_ALIGNMENT  # no block beyond the write


def test_a_block_is_freed_with_its_last_staged_copy() -> None:
    values = np.ones((4, 100_000), dtype=np.int16)  # 200 KB each
    staging = StagingBlocks(values.nbytes)
    copies = [staging.copy(row) for row in values]
    block = weakref.ref(block_of(copies[0]))
    del staging
    copies.pop()
    copies.pop(0)
    gc.collect()
    assert block() is not None  # copies remain in it
    copies.clear()
    gc.collect()
    assert block() is None


def test_small_odd_and_object_values_are_held_apart() -> None:
    staging = StagingBlocks(1 << 30)
    small = staging.copy(np.arange(10, dtype=np.int32))
    assert not small.flags.writeable
    objects = np.array([object()] * 100_000, dtype=object)
    held = staging.copy(objects)
    assert held[5] is objects[5]
    strided = np.arange(200_000, dtype=np.int64)[::2]
    copy = staging.copy(strided)
    np.testing.assert_array_equal(copy, strided)


@pytest.mark.parametrize("ocdbt", [False, True])
def test_transactional_writes_store_what_they_staged(tmp_path: Path, ocdbt: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_chunk_io, "HELD_COPY_BYTES", 1024)  # stage the 8 KiB chunks in blocks
    monkeypatch.setattr(_chunk_io, "STAGING_BLOCK_BYTES", 5 * 8192)  # several blocks per write
    store = ts.open(spec(tmp_path, ocdbt), create=True).result()
    data = np.random.default_rng(0).integers(0, 60_000, SHAPE, dtype=np.uint16)
    expected = np.zeros(SHAPE, dtype=np.uint16)
    with ts.Transaction() as txn:
        view = store.with_transaction(txn)
        view.write(data).result()
        view[10:150, 3:200].write(data[:140, :197] + 1).result()  # partial chunks over staged ones
        expected[:] = data
        expected[10:150, 3:200] = data[:140, :197] + 1
        np.testing.assert_array_equal(view.read().result(), expected)
    reopened = ts.open(spec(tmp_path, ocdbt)).result()
    np.testing.assert_array_equal(reopened.read().result(), expected)


@pytest.mark.parametrize("ocdbt", [False, True])
def test_whole_chunk_writes_do_not_read_or_condition_on_the_stored_chunk(tmp_path: Path, ocdbt: bool) -> None:
    store = ts.open(spec(tmp_path, ocdbt), create=True).result()
    store.write(np.full(SHAPE, 7, dtype=np.uint16)).result()
    txn = ts.Transaction(atomic=ocdbt)
    view = store.with_transaction(txn)
    view[:CHUNK * 2, :].write(np.full((CHUNK * 2, SHAPE[1]), 1, dtype=np.uint16)).result()  # whole chunks
    view[CHUNK * 2:, :5].write(np.full((SHAPE[0] - CHUNK * 2, 5), 2, dtype=np.uint16)).result()  # partial ones
    # Another writer changes every chunk before the commit: the whole chunks are
    # overwritten blindly, the partial ones re-applied on top of what is stored.
    store.write(np.full(SHAPE, 9, dtype=np.uint16)).result()
    entries = txn._stores.values()
    whole_keys = [key for state in entries for key, entry in state.keys.items() if entry.written]
    whole_keys += [key for state in entries for key in state.values]  # set blindly, unconditioned
    assert len(whole_keys) == 2 * (SHAPE[1] // CHUNK)
    assert all(entry.condition is None for state in entries for entry in state.keys.values())
    txn.commit_sync()
    expected = np.full(SHAPE, 9, dtype=np.uint16)
    expected[:CHUNK * 2] = 1
    expected[CHUNK * 2:, :5] = 2
    np.testing.assert_array_equal(store.read().result(), expected)


def test_reading_a_chunk_written_whole_in_a_transaction_reads_no_storage(tmp_path: Path) -> None:
    store = ts.open(spec(tmp_path), create=True).result()
    store.write(np.full(SHAPE, 7, dtype=np.uint16)).result()
    txn = ts.Transaction()
    view = store.with_transaction(txn)
    view[:CHUNK, :CHUNK].write(np.full((CHUNK, CHUNK), 3, dtype=np.uint16)).result()
    view[1:3, 1:3].write(np.full((2, 2), 4, dtype=np.uint16)).result()
    np.testing.assert_array_equal(view[:4, :4].read().result(), [[3, 3, 3, 3], [3, 4, 4, 3], [3, 4, 4, 3], [3, 3, 3, 3]])
    (entry,) = (entry for state in txn._stores.values() for entry in state.keys.values())
    assert entry.snapshot is None
    assert entry.condition is None
    store.write(np.full(SHAPE, 9, dtype=np.uint16)).result()
    txn.commit_sync()
    assert store[2, 2].read().result() == 4
    assert store[0, 0].read().result() == 3
    assert store[CHUNK, CHUNK].read().result() == 9


def test_staged_writes_keep_no_reference_to_the_callers_array(tmp_path: Path) -> None:
    store = ts.open(spec(tmp_path, ocdbt=True), create=True).result()
    source = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    expected = source.copy()
    expected[5:70, 9:100] = 1
    with ts.Transaction() as txn:
        view = store.with_transaction(txn)
        view.write(source).result()  # whole chunks
        partial = np.ones((65, 91), dtype=np.uint16)
        view[5:70, 9:100].write(partial).result()  # partial ones (over whole ones)
        source[:] = 0
        partial[:] = 0
    np.testing.assert_array_equal(store.read().result(), expected)


@pytest.mark.parametrize("dtype", ["uint16", "complex128"])  # 8 KiB chunks: caller's thread; 64 KiB: workers
def test_staging_on_the_callers_thread_or_workers_fails_the_write_on_an_error(
    tmp_path: Path, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = spec(tmp_path)
    layout["metadata"]["data_type"] = dtype
    layout["metadata"]["fill_value"] = [0, 0] if dtype.startswith("complex") else 0
    store = ts.open(layout, create=True).result()
    data = np.arange(np.prod(SHAPE), dtype=dtype).reshape(SHAPE)
    with ts.Transaction() as txn:
        store.with_transaction(txn).write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)
    calls = []

    def failing(storage: Any) -> bytes:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("encoder failed")
        return bytes(storage.tobytes())

    monkeypatch.setattr(store._driver, "encode_chunk", failing)
    txn = ts.Transaction()
    with pytest.raises(RuntimeError, match="encoder failed"):
        store.with_transaction(txn).write(data + 1).result()
    txn.abort()
    np.testing.assert_array_equal(store.read().result(), data)
