"""The caller's-thread write of many small chunks (``_chunk_io._write_here``) against the
general per-part path it shortens: same stored keys and bytes, same cache contents, and
errors naming the chunk; ``CachePool.put_many`` against ``put`` one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.cache import CachePool
from ts_core.driver import _chunk_io
from ts_core.errors import ChunkStorageError
from ts_core.kvstore.memory._driver import MemoryKvStore

SHAPE = (13, 10, 7)


def metadata(fill_value: int, data_type: str = "int32") -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(SHAPE), "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 3, 5]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": fill_value,
        "codecs": [{"name": "bytes", "configuration": {"endian": "big"}}],
    }


def data_with_fill_chunks(fill_value: int) -> np.ndarray:
    data = np.arange(np.prod(SHAPE), dtype=np.int32).reshape(SHAPE)
    data[0:4, 0:3, 0:5] = fill_value  # a whole chunk of fill values (not stored)
    data[4:8, 9:10, 5:7] = fill_value  # an edge chunk of fill values (not stored)
    return data


def general_path(driver: Any, kvstore: Any, parts: Any, source: Any, batch: Any) -> None:
    for part in parts:
        _chunk_io._write_chunk(driver, kvstore, part, source, batch)


def stored(store: Any) -> dict[bytes, bytes]:
    kvstore = store._driver.chunk_kvstore
    return {key: kvstore.read(key).result().value for key in sorted(kvstore.list().result())}


def cached(store: Any) -> dict[str, bytes]:
    driver = store._driver
    cache = driver.chunk_cache
    keys = [key.decode() for key in driver.chunk_kvstore.list().result()]
    return {key: array.tobytes() for key, array in zip(keys, cache.fresh_many(keys), strict=True) if array is not None}


WRITES = {
    "whole array": lambda store, data: store.write(data),
    "transposed": lambda store, data: store.T.write(data.T),
    "offset box": lambda store, data: store[2:11, 1:9, 1:6].write(data[2:11, 1:9, 1:6]),
    "negative strides": lambda store, data: store[::-1, :, ::-1].write(data[::-1, :, ::-1]),
}


@pytest.mark.parametrize("how", WRITES)
@pytest.mark.parametrize("fill_value", [0, 7])
@pytest.mark.parametrize("pool_bytes", [0, 1 << 20])
@pytest.mark.parametrize("store_fill", [False, True])
def test_the_short_path_stores_and_caches_what_the_general_path_does(
    how: str, fill_value: int, pool_bytes: int, store_fill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = data_with_fill_chunks(fill_value)
    old = np.full(SHAPE, 3, dtype=np.int32)
    results = []
    for path in ("short", "general"):
        if path == "general":
            monkeypatch.setattr(_chunk_io, "_write_here", general_path)
        spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "recheck_cached_data": False,
                "store_data_equal_to_fill_value": store_fill, "metadata": metadata(fill_value)}
        store = ts.open(spec, create=True, context=ts.Context({"cache_pool": {"total_bytes_limit": pool_bytes}})).result()
        store.write(old).result()
        store.read().result()  # cache the old chunks: the write must replace or drop them
        WRITES[how](store, data).result()
        np.testing.assert_array_equal(store.read().result(), _offset(old, data) if how == "offset box" else data)
        results.append((stored(store), cached(store)))
    assert results[0] == results[1]


def _offset(old: np.ndarray, data: np.ndarray) -> np.ndarray:
    expected = old.copy()
    expected[2:11, 1:9, 1:6] = data[2:11, 1:9, 1:6]
    return expected


def test_a_failing_kvstore_write_names_the_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "recheck_cached_data": False, "metadata": metadata(0)}
    store = ts.open(spec, create=True, context=ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})).result()
    original = MemoryKvStore.write

    def failing(self: Any, key: bytes, value: Any, if_equal: Any) -> Any:
        if key.endswith(b"c/1/1/0"):
            raise OSError("disk on fire")
        return original(self, key, value, if_equal)

    monkeypatch.setattr(MemoryKvStore, "write", failing)
    with pytest.raises(ChunkStorageError, match=r"c/1/1/0.*disk on fire"):
        store.write(np.ones(SHAPE, np.int32)).result()
    monkeypatch.undo()
    # The chunks written before the failure were remembered with their new values.
    assert store._driver.chunk_cache.fresh("c/0/0/0") is not None
    np.testing.assert_array_equal(store[0:4, 0:3, 0:5].read().result(), 1)


def test_put_many_keeps_what_put_one_by_one_keeps() -> None:
    entries = [(f"k{n % 7}", n, 10 + n % 5) for n in range(40)] + [("huge", -1, 1000)]
    one_by_one, together = CachePool(60), CachePool(60)
    for key in ("huge", "k1", "k3"):
        one_by_one.put(key, "old", 5)
        together.put(key, "old", 5)
    for key, value, nbytes in entries:
        one_by_one.put(key, value, nbytes)
    together.put_many(entries)
    assert list(together._entries.items()) == list(one_by_one._entries.items())
    assert together.total_bytes == one_by_one.total_bytes <= 60


READ_VIEWS = {
    "whole": (lambda s: s, lambda a: a),
    "transposed box": (lambda s: s.T[1:6, 2:9, 3:12], lambda a: a.T[1:6, 2:9, 3:12]),
    "integer and strides": (lambda s: s[::-3, 4, 1::2], lambda a: a[::-3, 4, 1::2]),
    "new axis": (lambda s: s[None, 2:9, 3, None], lambda a: a[None, 2:9, 3, None]),
    "oindex": (lambda s: s.oindex[[12, 0, 5], 2:8, [6, 1]], lambda a: a[np.ix_([12, 0, 5], range(2, 8), [6, 1])]),
}


@pytest.mark.parametrize("view", READ_VIEWS)
def test_the_plain_cached_copy_copies_what_the_general_copy_does(view: str) -> None:
    from ts_core.driver._part_copy import PartCopy
    from ts_core.index_space._partition import partition_for_copy

    data = data_with_fill_chunks(7)
    ts_view, numpy_view = READ_VIEWS[view]
    spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "recheck_cached_data": False, "metadata": metadata(7)}
    store = ts.open(spec, create=True, context=ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})).result()
    store.write(data).result()
    store[0:4, 0:3, 0:5].read().result()
    driver = store._driver
    cache = driver.chunk_cache
    transform = ts_view(store).transform
    targets, missing = [], []
    for plain in (True, False):
        target = np.zeros(transform.domain.shape, np.int32)
        order, partition, vectors = partition_for_copy(transform, driver._chunk)
        copy = PartCopy(target, order, vectors)
        if plain:
            if vectors is not None:  # index vectors: read() never copies them plainly
                continue
            left = _chunk_io._copy_cached_plainly(cache, driver.chunk_key, partition, copy.view, driver._chunk)
        else:
            left = _chunk_io._copy_cached(cache, driver.chunk_key, driver.field_view, partition, copy)
        targets.append(target)
        missing.append([part.grid_indices for part in left])
    assert all(left == missing[0] for left in missing)  # the chunks never stored (all fill)
    if len(targets) == 2:
        np.testing.assert_array_equal(targets[0], targets[1])
    np.testing.assert_array_equal(ts_view(store).read().result(), numpy_view(data))
