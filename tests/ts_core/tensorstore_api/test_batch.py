"""``ts.Batch``: deferred reads, shared chunk reads, and the lifecycle tensorstore gives it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

DATA = np.arange(30, dtype=np.uint16).reshape(5, 6)


def _store(lib: Any, path: str = "batch/") -> Any:
    store = lib.open(
        {"driver": "zarr", "kvstore": {"driver": "memory", "path": path}},
        dtype=lib.uint16, shape=[5, 6], chunk_layout=lib.ChunkLayout(chunk_shape=[2, 3]), create=True,
    ).result()
    store[...] = DATA
    return store


@pytest.fixture
def counted() -> Iterator[tuple[Any, list[bytes]]]:
    """A ts store whose kvstore driver records every key it reads."""
    store = _store(ts)
    driver = store.kvstore.driver
    keys: list[bytes] = []
    original = driver.read

    def read(key: bytes, options: Any) -> Any:
        keys.append(key)
        return original(key, options)

    driver.read = read
    yield store, keys
    del driver.read


def test_batched_reads_are_deferred_until_submit(counted: tuple[Any, list[bytes]]) -> None:
    store, keys = counted
    batch = ts.Batch()
    first = store[:3].read(batch=batch)
    second = store[3:].read(batch=batch)
    assert not first.done()
    assert not second.done()
    assert keys == []
    batch.submit()
    np.testing.assert_array_equal(first.result(), DATA[:3])
    np.testing.assert_array_equal(second.result(), DATA[3:])


def test_overlapping_batched_reads_read_each_chunk_once(counted: tuple[Any, list[bytes]]) -> None:
    store, keys = counted
    with ts.Batch() as batch:
        futures = [store[:3].read(batch=batch), store[2:].read(batch=batch), store[:, 1:4].read(batch=batch)]
    for future, expected in zip(futures, (DATA[:3], DATA[2:], DATA[:, 1:4]), strict=True):
        np.testing.assert_array_equal(future.result(), expected)
    assert len(keys) == len(set(keys)) == 6  # 3 x 2 chunks, each read once

    keys.clear()
    for region in (np.s_[:3], np.s_[2:], np.s_[:, 1:4]):
        store[region].read().result()
    assert len(keys) == 4 + 4 + 6  # without a batch every read reads its chunks


def test_batched_copy_reads_its_source_in_the_batch(counted: tuple[Any, list[bytes]]) -> None:
    source, keys = counted
    target = _store(ts, "target/")
    with ts.Batch() as batch:
        written = target[:2].write(source[3:], batch=batch)
        assert not written.copy.done()
        read = source[3:].read(batch=batch)
    written.result()
    np.testing.assert_array_equal(target[:2].read().result(), DATA[3:])
    np.testing.assert_array_equal(read.result(), DATA[3:])
    assert len(keys) == len(set(keys)) == 4


def test_batch_lifecycle_matches_tensorstore() -> None:
    for lib in (ts, tensorstore):
        store = _store(lib)
        batch = lib.Batch()
        future = store.read(batch=batch)
        batch.submit()
        batch.submit()  # a second submit does nothing
        np.testing.assert_array_equal(future.result(), DATA)
        with pytest.raises(ValueError, match="batch was already submitted"):
            store.read(batch=batch)
        with pytest.raises(TypeError):
            store.read(batch=5)


def test_dropping_the_batch_submits_it() -> None:
    store = _store(ts)
    batch = ts.Batch()
    future = store[1:2].read(batch=batch)
    del batch
    gc.collect()
    np.testing.assert_array_equal(future.result(timeout=10), DATA[1:2])


def test_errors_of_batched_reads_reach_their_futures() -> None:
    store = _store(ts)
    with ts.Batch() as batch:
        failing = store[3:9].read(batch=batch)
        fine = store[:1].read(batch=batch)
    with pytest.raises(ValueError, match="OUT_OF_RANGE"):
        failing.result()
    np.testing.assert_array_equal(fine.result(), DATA[:1])


def test_kvstore_reads_in_a_batch_are_deferred_and_identical_ones_made_once() -> None:
    kvstore = ts.KvStore.open("memory://").result()
    kvstore["a"] = b"xyz"
    keys: list[bytes] = []
    original = kvstore.driver.read

    def read(key: bytes, options: Any) -> Any:
        keys.append(key)
        return original(key, options)

    kvstore.driver.read = read
    with ts.Batch() as batch:
        first = kvstore.read("a", batch=batch)
        second = kvstore.read("a", batch=batch)
        part = kvstore.read("a", batch=batch, byte_range=slice(1, 2))
        missing = kvstore.read("b", batch=batch)
        assert not first.done()
        assert keys == []
    assert first.result().value == second.result().value == b"xyz"
    assert part.result().value == b"y"
    assert missing.result().state == "missing"
    assert sorted(keys) == [b"a", b"a", b"b"]  # the two whole reads of "a" were one
    with pytest.raises(ValueError, match="batch was already submitted"):
        kvstore.read("a", batch=batch)
