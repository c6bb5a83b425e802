"""The public API KvsChunkedDriver offers formats: members, ChunkCache, fill, scheduling, on_metadata."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core import Future
from ts_core.cache import CachePool
from ts_core.concurrency import Executor
from ts_core.driver import ChunkCache, KvsChunkedDriver, pull_workers, run_parts
from ts_core.errors import ChunkError


def zarr_store(path: str = "a/", **metadata: Any) -> Any:
    spec = {"driver": "zarr", "kvstore": {"driver": "memory", "path": path},
            "metadata": {"chunks": [4, 4], "compressor": None, **metadata}}
    return ts.open(spec, create=True, dtype=ts.float32, shape=[10, 8]).result()


# -- scheduling --------------------------------------------------------------------------------
def test_run_parts_runs_every_part_and_waits_for_returned_futures() -> None:
    executor = Executor(2)
    done: list[int] = []
    later: Future[None] = Future()

    def work(part: int) -> Any:
        done.append(part)
        return later if part == 3 else None

    result = run_parts(executor, [1, 2, 3], work, lambda: "all")
    time.sleep(0.05)
    assert sorted(done) == [1, 2, 3]
    assert not result.done()
    later._set_result(None)
    assert result.result(timeout=5) == "all"
    assert run_parts(executor, [], work, lambda: "none").result() == "none"


def test_run_parts_runs_one_part_on_the_callers_thread_and_reports_errors() -> None:
    threads = []
    run_parts(Executor(1), ["only"], lambda part: threads.append(threading.get_ident()), lambda: None).result()
    assert threads == [threading.get_ident()]

    def fail(part: int) -> None:
        raise OSError(f"part {part}")

    with pytest.raises(OSError, match="part"):
        run_parts(Executor(2), [1, 2], fail, lambda: None).result(timeout=5)


def test_run_parts_one_part_waits_for_chained_futures_and_their_errors() -> None:
    """One part (run on the caller's thread) completes like many: after the Future its work
    returned (and any Future that one completes with), with ``result()`` or the error."""
    outer: Future[Any] = Future()
    inner: Future[None] = Future()
    results: list[str] = []

    def result() -> str:
        results.append("called")
        return "one"

    future = run_parts(Executor(1), ["only"], lambda part: outer, result)
    assert not future.done()
    outer._set_result(inner)
    assert not future.done()
    assert results == []
    inner._set_result(None)
    assert future.result(timeout=5) == "one"
    assert results == ["called"]

    failing: Future[None] = Future()
    future = run_parts(Executor(1), ["only"], lambda part: failing, result)
    failing._set_exception(OSError("stored nothing"))
    with pytest.raises(OSError, match="stored nothing"):
        future.result(timeout=5)

    def fail(part: str) -> None:
        raise KeyError(part)

    with pytest.raises(KeyError, match="only"):
        run_parts(Executor(1), ["only"], fail, result).result(timeout=5)
    assert results == ["called"]
    done: Future[None] = Future()
    done._set_result(None)
    assert run_parts(Executor(1), ["only"], lambda part: done, lambda: 7).result() == 7


def test_pull_workers_bounds_concurrency_and_finishes_after_an_error() -> None:
    running, peak, finished = [0], [0], []
    lock = threading.Lock()

    def work(part: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        if part == 5:
            raise ValueError("part 5 failed")

    future = pull_workers(Executor(4), 2, list(range(20)), work, lambda: finished.append(True), None)
    with pytest.raises(ValueError, match="part 5 failed"):
        future.result(timeout=5)
    assert peak[0] <= 2
    assert finished == [True]
    assert pull_workers(Executor(2), 2, [1, 2, 3], lambda part: None, None, "ok").result(timeout=5) == "ok"


# -- the chunk cache ---------------------------------------------------------------------------
def cache_over(store: Any, limit: int = 1 << 20, staleness: float = 0.0) -> ChunkCache:
    return ChunkCache(CachePool(limit), store.kvstore, staleness=staleness, decode=store._driver.decode_chunk)


def test_chunk_cache_remember_fresh_discard_and_staleness() -> None:
    store = zarr_store()
    storage = np.zeros((4, 4), dtype=np.float32)
    cache = cache_over(store, staleness=100.0)
    cache.remember("0.0", b"g", 200.0, storage)
    assert cache.fresh("0.0") is storage
    cache.staleness = 300.0  # now older than the bound: must be revalidated
    assert cache.fresh("0.0") is None
    cache.discard("0.0")
    cache.staleness = 0.0
    assert cache.fresh("0.0") is None
    disabled = cache_over(store, limit=0)
    disabled.remember("0.0", b"g", 200.0, storage)
    assert not disabled.enabled
    assert disabled.fresh("0.0") is None


def test_chunk_cache_read_revalidates_and_names_the_key() -> None:
    store = zarr_store()
    store[0:4, 0:4].write(np.ones((4, 4), dtype=np.float32)).result()
    kvstore = store._driver.chunk_kvstore
    cache = cache_over(store, staleness=float("inf"))  # every entry must be revalidated
    first, generation = cache.read("0.0", kvstore)
    assert first is not None
    assert not first.flags.writeable
    assert first.sum() == 16
    again, same = cache.read("0.0", kvstore)
    assert again is first
    assert same == generation
    assert cache.read("1.1", kvstore)[0] is None  # missing reads as the fill value
    strict = ChunkCache(CachePool(0), kvstore, staleness=0.0, decode=store._driver.decode_chunk, fill_missing=False)
    with pytest.raises(ValueError, match=r"chunk 'a/1\.1' is missing"):
        strict.read("1.1", kvstore)
    with pytest.raises(ChunkError, match=r"error decoding chunk 'a/0\.0'"):
        cache.decode("0.0", b"short")


# -- what a format may use ---------------------------------------------------------------------
def test_public_members_of_the_chunked_base() -> None:
    store = zarr_store(fill_value="NaN")
    driver: KvsChunkedDriver = store._driver
    assert driver.shape == (10, 8)
    assert driver.grid_chunk_shape == (4, 4)
    assert driver.metadata.shape == (10, 8)
    assert driver.spec_members["metadata"]["fill_value"] == "NaN"
    assert driver.chunk_kvstore is driver.kvstore
    assert driver.executor.limit >= 1
    assert driver.fill_missing
    assert not driver.store_data_equal_to_fill_value
    fill = driver.fill_chunk_view
    assert not fill.flags.writeable
    assert np.isnan(fill).all()
    assert driver.fill_chunk_view is fill
    assert driver.equals_fill(driver.fill_chunk())  # NaN compares equal byte for byte
    assert not driver.equals_fill(np.zeros((4, 4), dtype=np.float32))
    store[4:8, 0:4].write(np.ones((4, 4), dtype=np.float32)).result()
    stored, _ = driver.read_stored_chunk("1.0")
    assert stored is not None
    assert stored.sum() == 16
    assert driver.read_stored_chunk("0.0")[0] is None
    with pytest.raises(IndexError, match="out of bounds for dimension 0"):
        driver.check_bounds(store[8:11].transform)


def test_covers_chunk_counts_only_in_bounds_elements() -> None:
    from ts_core.index_space import partition_index_transform

    store = zarr_store()
    driver = store._driver
    # Rows 8-9 are the last, partial chunk row: writing both covers those chunks.
    covered = [driver.covers_chunk(p) for p in partition_index_transform(store[8:10, 0:4].transform, (4, 4))]
    assert covered == [True]
    partial = [driver.covers_chunk(p) for p in partition_index_transform(store[0:3, 0:4].transform, (4, 4))]
    assert partial == [False]


def test_on_metadata_sees_metadata_at_open_and_after_revalidation(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_zarr._driver import ZarrDriver

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(ZarrDriver, "on_metadata", lambda self, metadata: seen.append(metadata.shape))
    context = ts.Context()
    spec = {"driver": "zarr", "kvstore": {"driver": "memory"}, "metadata": {"chunks": [4]}}
    store = ts.open(spec, create=True, dtype=ts.uint8, shape=[8], context=context).result()
    watching = ts.open({**spec, "recheck_cached_metadata": True}, context=context).result()
    store.resize(exclusive_max=[12]).result()
    assert watching.read().result().shape == (8,)  # this view keeps its domain ...
    assert watching._driver.shape == (12,)  # ... but the driver took the new metadata
    assert seen[0] == (8,)
    assert seen[-1] == (12,)
