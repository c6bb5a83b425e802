"""A non-atomic commit writes its keys many at once through one write batch per driver:
every key lands, the writes share their durability work, a failing key is reported and
leaves the others whole, and atomic commits stay all or nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.concurrency import Executor
from ts_core.kvstore import TransactionConflictError, _parallel
from ts_core.kvstore.file import LOCK_SUFFIX
from ts_core.kvstore.file import _driver as file_driver


def _array(path: str, **kvstore: Any) -> ts.TensorStore:
    return ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": path, **kvstore}},
        create=True, dtype=ts.uint16, shape=[32, 32], chunk_layout=ts.ChunkLayout(chunk_shape=[4, 4]),
    ).result()


def test_many_chunks_commit_in_parallel_and_all_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    array = _array(f"{tmp_path}/a/")
    array.write(np.ones((32, 32), np.uint16)).result()
    threads: set[int] = set()
    real_stage = file_driver.FileKvStore._stage

    def slow_stage(*args: Any) -> Any:
        threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the helpers to take keys too
        return real_stage(*args)

    monkeypatch.setattr(file_driver.FileKvStore, "_stage", staticmethod(slow_stage))
    txn = ts.Transaction()
    staged = array.with_transaction(txn)
    for i in range(0, 32, 4):
        for j in range(0, 32, 4):
            staged[i + 1, j + 2].write(i * 32 + j).result()  # a partial write of every chunk
    txn.commit_sync()
    assert len(threads) > 1
    expected = np.ones((32, 32), np.uint16)
    for i in range(0, 32, 4):
        for j in range(0, 32, 4):
            expected[i + 1, j + 2] = i * 32 + j
    np.testing.assert_array_equal(array.read().result(), expected)
    assert not list(tmp_path.rglob("*" + LOCK_SUFFIX))  # every staged value committed


@pytest.mark.parametrize("group_commit", [True, False])
def test_parallel_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_commit: bool) -> None:
    # With group commit (where syncfs is trusted, as on this suite's tmp), the values of
    # a 64-key commit are made durable by a few syncfs calls, not an fsync each plus one
    # per directory; elsewhere each value and each directory once is fsync'ed.
    if not group_commit:
        monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: None)
    grouped = file_driver._syncfs_for(f"{tmp_path}/x") is not None
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    fsyncs: list[int] = []
    real_fsync = file_driver.os.fsync
    monkeypatch.setattr(file_driver.os, "fsync", lambda fd: fsyncs.append(fd) or real_fsync(fd))
    txn = ts.Transaction()
    staged = store.with_transaction(txn)
    for i in range(64):
        staged.write(f"d{i % 8}/k{i}", b"v%d" % i).result()
    txn.commit_sync()
    assert len(fsyncs) == (0 if grouped else 64 + 9)  # 64 values, d0..d7 and the root
    assert [store[f"d{i % 8}/k{i}"] for i in range(64)] == [b"v%d" % i for i in range(64)]


def test_a_failing_key_fails_the_commit_and_the_others_stay_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    for i in range(16):
        store[f"k{i:02}"] = b"old"
    real_write_all = file_driver._write_all

    def failing_write_all(fd: int, data: bytes) -> None:
        if data == b"new07":
            raise OSError(28, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(file_driver, "_write_all", failing_write_all)
    txn = ts.Transaction()
    staged = store.with_transaction(txn)
    for i in range(16):
        staged.write(f"k{i:02}", b"new%02d" % i).result()
    with pytest.raises(OSError, match="No space left"):
        txn.commit_sync()
    assert txn.future.exception() is not None
    values = {i: store[f"k{i:02}"] for i in range(16)}
    assert values[7] == b"old"
    assert all(value in (b"old", b"new%02d" % i) for i, value in values.items())  # never torn
    for lock_file in tmp_path.rglob("*" + LOCK_SUFFIX):  # the failed one's may remain...
        with open(lock_file, "r+b") as left:
            assert file_driver.lock_exclusive(left.fileno(), wait=False)  # ...but no lock is held
    store["k07"] = b"again"
    assert store["k07"] == b"again"


def test_conflict_on_one_read_key_is_reported(tmp_path: Path) -> None:
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    for i in range(8):
        store[f"k{i}"] = b"0"
    txn = ts.Transaction()
    staged = store.with_transaction(txn)
    for i in range(8):
        staged.write(f"k{i}", staged[f"k{i}"] + b"1").result()  # read-dependent writes
    store["k3"] = b"changed"
    with pytest.raises(TransactionConflictError, match="k3"):
        txn.commit_sync()
    assert store["k3"] == b"changed"


def test_atomic_commit_on_memory_stays_all_or_nothing() -> None:
    context = ts.Context()
    array = ts.open(
        {"driver": "zarr3", "kvstore": "memory://a/"}, create=True, dtype=ts.int32, shape=[16],
        chunk_layout=ts.ChunkLayout(chunk_shape=[2]), context=context,
    ).result()
    array.write(np.arange(16, dtype=np.int32)).result()
    txn = ts.Transaction(atomic=True)
    staged = array.with_transaction(txn)
    staged[::2].write(np.full(8, 100, np.int32)).result()  # a partial write of every chunk
    array[6].write(-1).result()  # chunk 3 changes: fine, its modification is blind
    store = ts.KvStore.open("memory://a/", context=context).result()
    txn.commit_sync()
    expected = np.arange(16, dtype=np.int32)
    expected[::2] = 100
    np.testing.assert_array_equal(array.read().result(), expected)
    # A read-dependent write whose chunk changed: nothing of the commit is written.
    txn = ts.Transaction(atomic=True)
    staged = array.with_transaction(txn)
    before = array.read().result()
    staged.write(staged.read().result() + 1).result()
    store["c/5"] = store["c/5"]  # rewritten: a new generation
    with pytest.raises(TransactionConflictError, match="nothing was written"):
        txn.commit_sync()
    np.testing.assert_array_equal(array.read().result(), before)


def test_run_all_runs_everything_and_reports_the_first_error() -> None:
    executor = Executor(4)
    done: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> None:
        time.sleep(0.001)
        with lock:
            done.append(item)

    _parallel.run_all(executor, 4, list(range(50)), work)
    assert sorted(done) == list(range(50))

    def failing(item: int) -> None:
        if item == 3:
            raise ValueError("item 3")
        work(item)

    done.clear()
    with pytest.raises(ValueError, match="item 3"):
        _parallel.run_all(executor, 4, list(range(50)), failing)
    assert 3 not in done
    assert len(done) < 50  # no new item started after the error


def test_run_all_on_a_saturated_pool_does_not_deadlock() -> None:
    executor = Executor(1)
    results: list[int] = []

    def outer() -> None:  # runs on the pool's only thread: helpers can never start
        _parallel.run_all(executor, 4, list(range(5)), results.append)

    executor.submit(outer).result(timeout=10)
    assert results == list(range(5))
