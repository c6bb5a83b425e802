"""Unpickling a TensorStore reopens it from the metadata its pickle carries, as the wheel's
does (open mode ``assume_cached_metadata``): no metadata read, whatever storage holds now."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core


def _create(library: Any, path: Path) -> Any:
    return library.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}},
        create=True, dtype="uint16", shape=[10, 10], chunk_layout=library.ChunkLayout(chunk_shape=[5, 5]),
    ).result()


@pytest.mark.parametrize("change", ["unchanged", "resized", "recreated", "deleted"])
def test_unpickled_store_keeps_the_pickled_metadata_as_the_wheel(tmp_path: Path, change: str) -> None:
    seen = {}
    for library in (ts_core, tensorstore):
        path = tmp_path / library.__name__
        store = _create(library, path)
        store[0:5, 0:5] = 3
        payload = pickle.dumps(store[1:])
        if change == "resized":
            store.resize(exclusive_max=[20, 10]).result()
        elif change == "recreated":
            library.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}, create=True,
                         delete_existing=True, dtype="float32", shape=[4]).result()
        elif change == "deleted":
            shutil.rmtree(path)
        reopened = pickle.loads(payload)
        spec = reopened.spec().to_json()
        seen[library.__name__] = (
            reopened.dtype.name, reopened.domain.inclusive_min, reopened.domain.exclusive_max,
            spec["metadata"]["shape"], spec["metadata"]["codecs"], spec["transform"],
        )
    assert seen["ts_core"] == seen["tensorstore"]
    assert seen["ts_core"][0] == "uint16"


def test_unpickled_store_reads_and_writes_what_is_stored(tmp_path: Path) -> None:
    store = _create(ts_core, tmp_path / "a")
    store[...] = np.arange(100, dtype=np.uint16).reshape(10, 10)
    reopened = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(reopened.read().result(), np.arange(100).reshape(10, 10))
    reopened[2:7, 3] = 999
    assert store[2:7, 3].read().result().tolist() == [999] * 5
    # The wheel reads what the unpickled ts store wrote.
    wheel = tensorstore.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "a")}}).result()
    np.testing.assert_array_equal(wheel.read().result(), store.read().result())


def test_unpickled_store_resolves_and_resizes_against_storage(tmp_path: Path) -> None:
    """What depends on the stored metadata still reads it: a resize by another writer is
    seen by resolve, and a resize starts from the stored shape."""
    store = _create(ts_core, tmp_path / "a")
    payload = pickle.dumps(store)
    store.resize(exclusive_max=[20, 10]).result()
    assert pickle.loads(payload).resolve().result().domain.exclusive_max == (20, 10)
    resized = pickle.loads(payload).resize(exclusive_max=[30, 10]).result()
    assert resized.domain.exclusive_max == (30, 10)
    assert ts_core.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "a")}}).result().shape == (30, 10)


def test_unpickled_memory_store_opens_empty_with_the_pickled_metadata() -> None:
    store = ts_core.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype="int32", shape=[4]).result()
    store[...] = [1, 2, 3, 4]
    reopened = pickle.loads(pickle.dumps(store))  # a new, empty memory store
    assert reopened.read().result().tolist() == [0, 0, 0, 0]
    reopened[1] = 5
    assert reopened.read().result().tolist() == [0, 5, 0, 0]


@pytest.mark.parametrize("library", [ts_core, tensorstore], ids=["ts", "tensorstore"])
def test_unpickled_adapters_of_a_memory_store_open_with_their_nested_metadata(library: Any) -> None:
    """cast, downsample and stack carry their arrays' metadata inside ``base``/``layers``:
    each reopens from it (a new, empty memory store), as the wheel's do."""
    store = library.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype="int32", shape=[4]).result()
    store[...] = [1, 2, 3, 4]
    views = {
        "cast": (library.cast(store, library.float32), [0.0] * 4),
        "downsample": (library.downsample(store, [2], "mean"), [0, 0]),
        "stack": (library.stack([store, library.cast(store, library.int32)]), [[0] * 4] * 2),
    }
    for name, (view, expected) in views.items():
        assert pickle.loads(pickle.dumps(view)).read().result().tolist() == expected, name


def test_unpickled_cast_of_a_file_store_reads_what_storage_holds(tmp_path: Path) -> None:
    """The nested metadata spares the metadata read only: chunks are read from storage."""
    store = _create(ts_core, tmp_path / "a")
    store[...] = np.arange(100, dtype=store.dtype.numpy_dtype).reshape(store.shape)
    view = ts_core.cast(store, ts_core.float64)[2:4, 3]
    payload = pickle.dumps(view)
    store[2:4, 3] = [70, 80]
    assert pickle.loads(payload).read().result().tolist() == [70.0, 80.0]
