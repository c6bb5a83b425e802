"""Objects pickled into other processes (fork, spawn, forkserver) reopen and work; an open
transaction refuses to pickle; a forked child keeps using what its parent opened."""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts

# Children started by spawn/forkserver import the function they run by name.
sys.path.insert(0, str(Path(__file__).resolve().parent / "process_helpers"))
import ts_process_workers

START_METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]
CACHED = ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}, "data_copy_concurrency": {"limit": 2}})


def _open(driver: str, path: Path) -> ts.TensorStore:
    kvstore = {"driver": "file", "path": f"{path}/{driver}/"}
    if driver == "neuroglancer_precomputed":
        return ts.open(
            {"driver": driver, "kvstore": kvstore,
             "multiscale_metadata": {"data_type": "uint16", "num_channels": 1, "type": "image"},
             "scale_metadata": {"size": [6, 5, 1], "resolution": [1, 1, 1], "encoding": "raw", "chunk_size": [4, 3, 1]}},
            create=True, context=CACHED,
        ).result()
    return ts.open({"driver": driver, "kvstore": kvstore}, create=True, shape=[6, 5], dtype="uint16",
                   chunk_layout=ts.ChunkLayout(write_chunk_shape=[4, 3]), context=CACHED).result()


DRIVERS = ("zarr", "zarr3", "n5", "neuroglancer_precomputed")


def _objects(tmp_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Stores used in this process (written, read, cached), their views and the other kinds."""
    stores, views, values = {}, {}, {}
    for number, driver in enumerate(DRIVERS):
        store = _open(driver, tmp_path)
        value = (np.arange(30, dtype=np.uint16).reshape(6, 5) + number).reshape(store.shape)
        store[...] = value
        assert (store.read().result() == value).all()  # fills the cache in this process
        stores[driver], views[driver], values[driver] = store, store[1:4, ::2], value
    kvstore = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/kv/"}).result()
    kvstore["key"] = b"parent"
    memory_store = ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, shape=[3], dtype="int32").result()
    memory_store[...] = [1, 2, 3]
    objects = {
        "stores": stores, "views": views, "kvstore": kvstore, "memory_store": memory_store,
        "spec": stores["zarr"].spec(), "context": CACHED, "schema": stores["zarr3"].schema,
        "transform": stores["n5"][1:, ::-1].transform, "domain": stores["zarr"][2:].domain,
        "layout": stores["neuroglancer_precomputed"].chunk_layout,
        "context_spec": ts.Context.Spec({"file_io_concurrency": {"limit": 3}}),
    }
    return objects, values


@pytest.mark.parametrize("method", START_METHODS)
def test_objects_pickled_into_another_process_work(method: str, tmp_path: Path) -> None:
    objects, values = _objects(tmp_path)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method)) as pool:
        report = pool.submit(ts_process_workers.use_pickled, pickle.dumps(objects)).result(timeout=120)
    for driver, value in values.items():
        np.testing.assert_array_equal(report[f"{driver}.read"], value)
        expected = value.copy()
        expected[1:4, ::2] += 100  # the child's write through the pickled view
        store = objects["stores"][driver]
        np.testing.assert_array_equal(ts.open(store.spec()).result().read().result(), expected)
        assert report[f"{driver}.view_domain"] == str(objects["views"][driver].domain)
    assert report["kvstore.value"] == b"parent"
    assert objects["kvstore"]["from_child"] == b"child"
    assert report["spec.json"] == objects["spec"].to_json()
    written = values["zarr"].copy()
    written[1:4, ::2] += 100
    np.testing.assert_array_equal(report["spec.opened"], written)  # the child reopened what it wrote
    assert report["context.cache_pool"] == {"total_bytes_limit": 1 << 20}
    assert report["schema.json"] == objects["schema"].to_json()
    for kind in ("transform", "domain", "layout", "context_spec"):
        assert report[f"{kind}.json"] == objects[kind].to_json()
    # A memory kvstore lives in one process: the child opens a new, empty one (fill values).
    np.testing.assert_array_equal(report["memory.read"], [0, 0, 0])


def test_the_pickle_carries_the_context_and_shares_it() -> None:
    store = ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, shape=[4], dtype="int32",
                    context=CACHED).result()
    whole, tail = pickle.loads(pickle.dumps((store, store[2:])))
    whole[...] = [1, 2, 3, 4]
    np.testing.assert_array_equal(tail.read().result(), [3, 4])  # one new memory store, shared
    assert whole.spec(unbind_context=True).to_json()["context"]["cache_pool"] == {"total_bytes_limit": 1 << 20}
    pair = (ts.KvStore.open("memory://", context=CACHED).result(), ts.KvStore.open("memory://", context=CACHED).result())
    kv_a, kv_b = pickle.loads(pickle.dumps(pair))
    kv_a["k"] = b"v"
    assert kv_b["k"] == b"v"


def test_an_open_transaction_refuses_to_pickle(tmp_path: Path) -> None:
    store = _open("zarr", tmp_path)
    kvstore = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/kv/"}).result()
    with ts.Transaction() as transaction:
        for bound in (transaction, store.with_transaction(transaction), store.with_transaction(transaction)[1:],
                      kvstore.with_transaction(transaction)):
            with pytest.raises(TypeError, match=r"[Tt]ransaction"):
                pickle.dumps(bound)
        store.with_transaction(transaction)[0, 0] = 7
    assert pickle.loads(pickle.dumps(store))[0, 0].read().result() == 7  # the store alone still pickles


@pytest.mark.skipif("fork" not in START_METHODS, reason="fork is a POSIX start method")
def test_a_forked_child_uses_what_the_parent_opened_while_a_parent_thread_reads(tmp_path: Path) -> None:
    store = _open("zarr3", tmp_path)
    kvstore = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/kv/"}).result()
    store[...] = np.ones(store.shape, np.uint16)
    kvstore["key"] = b"parent"
    stop = threading.Event()

    def keep_reading() -> None:  # holds I/O threads, cache and file locks busy across the fork
        while not stop.is_set():
            store.read().result()
            kvstore["key"]

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        def child(row: int) -> None:
            assert (store[5].read().result() == 1).all()  # a row no child writes
            store[row, :] = 7 + row
            kvstore[f"from_child{row}"] = kvstore["key"] + b"+child"

        context = multiprocessing.get_context("fork")
        processes = [context.Process(target=child, args=(row,)) for row in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
    finally:
        stop.set()
        reader.join()
    np.testing.assert_array_equal(store.read().result()[:, 0], [7, 8, 9, 1, 1, 1])
    assert [kvstore[f"from_child{row}"] for row in range(3)] == [b"parent+child"] * 3
