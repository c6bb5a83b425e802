"""Single-chunk writes to a file kvstore are queued per chunk and stored on its I/O pool:
they run at once for different chunks, coalesce for one chunk, land in issue order, and
report storage errors on every write they carried."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver import ChunkStorageError, _writeback
from ts_core.kvstore.file import _driver as file_driver


def _open(path: Path, **options: Any) -> ts.TensorStore:
    return ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/"}},
        create=True, dtype=ts.int32, shape=[64, 64], chunk_layout=ts.ChunkLayout(chunk_shape=[16, 16]), **options,
    ).result()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[bytes]]:
    """The first chunk write of the file driver waits until ``release`` is set."""
    started, release = threading.Event(), threading.Event()
    writes: list[bytes] = []
    real_write = file_driver.FileKvStore._write

    def gated(self: Any, key: bytes, *args: Any) -> Any:
        if b"/c/" in key:  # a chunk, not the metadata
            writes.append(key)
            if len(writes) == 1:
                started.set()
                assert release.wait(10)
        return real_write(self, key, *args)

    monkeypatch.setattr(file_driver.FileKvStore, "_write", gated)
    return started, release, writes


def test_writes_to_different_chunks_all_land(tmp_path: Path) -> None:
    array = _open(tmp_path)
    model = np.zeros((64, 64), np.int32)
    futures = []
    rng = np.random.default_rng(1)
    for cell in rng.permutation(16 * 16)[:60]:  # disjoint 4x4 blocks, in and across chunks
        i, j = divmod(int(cell), 16)
        i, j = 4 * i + 2 * (i % 2), 4 * j
        block = rng.integers(0, 1000, size=(4, 4), dtype=np.int32)
        model[i:i + 4, j:j + 4] = block[: 64 - i]
        futures.append(array[i:i + 4, j:j + 4].write(block[: 64 - i]))
    for future in futures:
        future.result()
    assert not _writeback.queued_chunks
    reopened = ts.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result()
    np.testing.assert_array_equal(reopened.read().result(), model)


def test_writes_to_one_chunk_coalesce_in_issue_order(tmp_path: Path, gate: Any) -> None:
    started, release, writes = gate
    array = _open(tmp_path)
    first = array[0, 0].write(-1)  # its writeback runs, held at its kvstore write
    assert started.wait(10)
    later = [array[0, 0:k].write(np.full(k, k, np.int32)) for k in range(1, 9)]
    later.append(array[1, 1].write(7))
    release.set()
    for future in [first, *later]:
        future.result()
    assert len(writes) == 2  # the held writeback, then one for the nine queued meanwhile
    row = array[0, 0:9].read().result()
    np.testing.assert_array_equal(row, [8] * 8 + [0])  # the last write issued wins
    assert array[1, 1].read().result() == 7


def test_a_bulk_write_lands_after_queued_writes_of_its_chunks(tmp_path: Path, gate: Any) -> None:
    started, release, _ = gate
    array = _open(tmp_path)
    array[0, 0].write(-1)  # held
    assert started.wait(10)
    array[0, 1].write(-2)  # queued behind it, not started
    threading.Timer(0.05, release.set).start()
    array.write(np.arange(64 * 64, dtype=np.int32).reshape(64, 64)).result()  # bulk, synchronous
    np.testing.assert_array_equal(array.read().result(), np.arange(64 * 64).reshape(64, 64))


def test_whole_chunk_then_partial_writes_coalesce(tmp_path: Path, gate: Any) -> None:
    started, release, writes = gate
    array = _open(tmp_path)
    array[40, 40].write(1)  # held (another chunk)
    assert started.wait(10)
    whole = array[0:16, 0:16].write(np.full((16, 16), 5, np.int32))  # chunk (0, 0), first edit
    partial = array[2, 3].write(9)  # joins it: applied on the whole chunk, no read
    # A writeback of chunk (0, 0) runs at once on another I/O thread: it started before
    # the partial write joined or after. Either way both land, in order.
    release.set()
    whole.result()
    partial.result()
    expected = np.full((16, 16), 5, np.int32)
    expected[2, 3] = 9
    np.testing.assert_array_equal(array[0:16, 0:16].read().result(), expected)
    assert len(writes) in (2, 3)


def test_storage_errors_reach_every_coalesced_write(tmp_path: Path, gate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release, _ = gate
    array = _open(tmp_path)
    array[0, 0].write(1)  # held
    assert started.wait(10)
    real_write_all = file_driver._write_all

    def failing_write_all(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    queued = [array[0, k].write(k) for k in range(1, 4)]
    monkeypatch.setattr(file_driver, "_write_all", failing_write_all)
    release.set()
    for future in queued:
        with pytest.raises(ChunkStorageError, match="No space left"):
            future.result()
    monkeypatch.setattr(file_driver, "_write_all", real_write_all)
    array[0, 1].write(1).result()  # the chunk can be written again
    np.testing.assert_array_equal(array[0, 0:4].read().result(), [0, 1, 0, 0])
    assert not _writeback.queued_chunks


def test_concurrent_small_writes_match_tensorstore(tmp_path: Path) -> None:
    # Overlapping writes in flight at once land in issue order within one chunk (the
    # chunk's queue); tensorstore promises no order for them, so the wheel is compared
    # on disjoint writes, many into the same chunks (coalesced) and some across chunks.
    import tensorstore  # the dev group's oracle: a missing install must fail, not skip
    array = _open(tmp_path)
    model = np.zeros((64, 64), np.int32)
    rng = np.random.default_rng(7)
    futures = []
    for cell in rng.permutation(21 * 21)[:150]:
        i, j = divmod(int(cell), 21)
        value = int(rng.integers(1, 1 << 20))
        model[3 * i:3 * i + 3, 3 * j:3 * j + 3] = value
        futures.append(array[3 * i:3 * i + 3, 3 * j:3 * j + 3].write(value))
    for future in futures:
        future.result()
    theirs = tensorstore.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result()
    np.testing.assert_array_equal(theirs.read().result(), model)


def test_writers_of_one_chunk_through_separate_arrays_lose_nothing(tmp_path: Path) -> None:
    # Each array handle has its own chunk queues, so writes of one chunk through different
    # handles race in storage: their read-modify-writes are conditioned on what they read
    # and retried, and every element written lands. Read back by the wheel too.
    import tensorstore  # the dev group's oracle

    _open(tmp_path)
    handles = [ts.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result() for _ in range(4)]
    model = np.zeros((64, 64), np.int32)
    futures = []
    for step in range(12):  # interleaved across handles: many writes of chunk (0, 0) in flight
        for index, handle in enumerate(handles):
            row, column = step, 4 * index + step % 4
            model[row, column] = 1 + 100 * index + step
            futures.append(handle[row, column].write(1 + 100 * index + step))
    for future in futures:
        future.result()
    assert not _writeback.queued_chunks
    np.testing.assert_array_equal(handles[0].read().result(), model)
    theirs = tensorstore.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result()
    np.testing.assert_array_equal(theirs.read().result(), model)


def test_concurrent_writes_of_many_chunks_share_their_durability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # While one chunk's writeback is stored, the writes issued meanwhile gather; they are
    # then stored through one write batch and complete once it made them durable.
    store = _open(tmp_path)
    finished: list[int] = []
    real_finish = file_driver._FileWriteBatch.finish

    def finish(self: Any) -> None:
        real_finish(self)
        finished.append(len(writes))

    writes: list[bytes] = []
    real_write = file_driver._FileWriteBatch.write

    def write(self: Any, key: bytes, *args: Any) -> Any:
        writes.append(key)
        return real_write(self, key, *args)

    monkeypatch.setattr(file_driver._FileWriteBatch, "finish", finish)
    monkeypatch.setattr(file_driver._FileWriteBatch, "write", write)
    model = np.zeros((64, 64), np.int32)
    futures = []
    for round_ in range(3):
        for row in range(4):
            for column in range(4):
                model[16 * row + round_, 16 * column] = 1 + round_ * 16 + row * 4 + column
                futures.append(store[16 * row + round_, 16 * column].write(1 + round_ * 16 + row * 4 + column))
    for future in futures:
        future.result()
    assert not _writeback.queued_chunks
    assert finished  # some writes shared a batch (the first one, alone, does not)
    assert len(writes) < len(futures) or len(finished) < len(writes)
    np.testing.assert_array_equal(store.read().result(), model)


def test_grouped_writebacks_leave_no_reference_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A write batch that stored a group is freed as soon as its drainer is done, without
    # waiting for a garbage collection (it would keep the first writeback's values).
    store = _open(tmp_path)
    batches: list[weakref.ref[Any]] = []
    real_finish = file_driver._FileWriteBatch.finish

    def finish(self: Any) -> None:
        batches.append(weakref.ref(self))
        real_finish(self)

    monkeypatch.setattr(file_driver._FileWriteBatch, "finish", finish)
    gc.disable()
    try:
        for round_ in range(3):
            futures = [store[16 * row + round_, 16 * column].write(round_) for row in range(4) for column in range(4)]
            for future in futures:
                future.result()
        deadline = time.monotonic() + 10
        while _writeback._draining[0] and time.monotonic() < deadline:
            time.sleep(0.001)
        assert batches
        assert [ref for ref in batches if ref() is not None] == []
    finally:
        gc.enable()


def test_a_grouped_writeback_never_waits_for_a_writer_that_waits_for_it(tmp_path: Path) -> None:
    # A bulk write holds staged chunk locks while it settles queued writebacks of other
    # chunks; small writes through another handle queue writebacks of the chunks it holds.
    # A group waiting for one of those locks first completes what it stored, so the bulk
    # write's wait ends and so does the group's.
    import tensorstore  # the dev group's oracle

    first = _open(tmp_path)
    second = ts.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result()
    done = threading.Event()
    errors: list[BaseException] = []

    def race() -> None:
        try:
            for round_ in range(6):
                small = [handle[16 * (k % 4) + round_, 16 * (k // 4) + 1].write(round_ + k)
                         for k in range(16) for handle in (first, second)]
                bulk = first[:, 8 + round_ % 4].write(np.full(64, 1000 + round_, np.int32))
                for future in [*small, bulk]:
                    future.result()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=race, daemon=True)
    thread.start()
    assert done.wait(60), "writers waited for each other"
    assert not errors
    theirs = tensorstore.open({"driver": "zarr3", "kvstore": f"file://{tmp_path}/"}).result().read().result()
    np.testing.assert_array_equal(theirs, first.read().result())
    assert (theirs[:, 8 + 5 % 4] == 1005).all()


@pytest.mark.parametrize("values", [
    np.arange(512, dtype=np.uint16).reshape(8, 8, 8),
    np.arange(4096, dtype=np.float64).reshape(16, 16, 16)[::2, 3, 1:9],  # a strided view
    np.zeros((3, 0), np.int8),
    np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", ">f8")]),
    np.arange(1 << 15, dtype=np.int64),  # larger than HELD_COPY_BYTES: copied by NumPy
])
def test_held_copy_is_a_read_only_copy(values: np.ndarray[Any, Any]) -> None:
    from ts_core.driver._chunk_io import held_copy

    copy = held_copy(values)
    np.testing.assert_array_equal(copy, values)
    assert copy.dtype == values.dtype
    assert copy.shape == values.shape
    assert not copy.flags.writeable
    assert not np.shares_memory(copy, values)


def _hold_writebacks(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make every writeback wait until the returned event is set (at most 10 s)."""
    release = threading.Event()
    real_store = _writeback._store

    def held(*args: Any) -> None:
        assert release.wait(10)
        real_store(*args)

    monkeypatch.setattr(_writeback, "_store", held)
    return release


def test_a_burst_of_small_writes_is_not_held_at_the_whole_chunk_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # While every writeback is held, more small writes than the whole-chunk bound (twice
    # the I/O threads) are still issued without waiting.
    store = _open(tmp_path, context=ts.Context({"file_io_concurrency": {"limit": 2}, "data_copy_concurrency": {"limit": 2}}))
    release = _hold_writebacks(monkeypatch)
    issued: list[Any] = []

    def issue() -> None:
        issued.extend(store[row, column].write(1) for row in range(0, 64, 16) for column in range(0, 64, 2))

    issuer = threading.Thread(target=issue)
    issuer.start()
    issuer.join(10)
    count = len(issued)
    release.set()
    issuer.join()
    assert count == 128
    for future in issued:
        future.result()
    assert int(store.read().result().sum()) == 128


def test_small_writes_wait_for_a_slot_once_the_small_edit_bound_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With every writeback held, a small write beyond SMALL_EDITS_IN_FLIGHT writebacks waits
    # (also one that would join a queued writeback) until a stored writeback frees a slot.
    monkeypatch.setattr(_writeback, "SMALL_EDITS_IN_FLIGHT", 3)
    store = _open(tmp_path)
    release = _hold_writebacks(monkeypatch)
    issued: list[Any] = []
    cells = [(0, 0), (16, 0), (32, 0), (0, 0), (48, 0), (0, 16)]

    def issue() -> None:
        for value, (row, column) in enumerate(cells, start=1):
            issued.append(store[row:row + 2, column:column + 2].write(value))

    issuer = threading.Thread(target=issue)
    issuer.start()
    deadline = time.monotonic() + 10
    while len(issued) < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.1)
    held_back = len(issued)
    release.set()
    issuer.join(10)
    assert held_back == 3
    for future in issued:
        future.result()
    expected = np.zeros((64, 64), np.int32)
    for value, (row, column) in enumerate(cells, start=1):
        expected[row:row + 2, column:column + 2] = value
    np.testing.assert_array_equal(store.read().result(), expected)
    assert not _writeback.queued_chunks
    slots = store._driver._small_edit_slots  # type: ignore[attr-defined]
    assert (slots.free, slots.waiting) == (3, 0)
