"""The one shard read-modify-write (IndexedShard.read_modify_write) and both of its users."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.kvstore import NO_VALUE, UNKNOWN
from ts_zarr.zarr3._shard_io import IndexedShard, chunk_generation


def sharded_store(path: str = "a/") -> Any:
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "memory", "path": path},
        "metadata": {
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2]}}],
        },
    }
    return ts.open(spec, create=True, dtype=ts.uint8, shape=[8, 8]).result()


def shard_of(store: Any, shard_key: str = "c/0/0") -> IndexedShard:
    driver = store._driver
    kvstore = driver.kvstore
    return IndexedShard(kvstore.driver, (kvstore.path + shard_key).encode(), driver.metadata.codecs.sharding.index_format)


def test_update_returning_false_writes_nothing() -> None:
    store = sharded_store()
    shard = shard_of(store)
    assert shard.read_modify_write(lambda chunks: False) is None
    assert shard.read_all() == (NO_VALUE, {})


def test_conflict_is_retried_on_what_the_other_writer_stored() -> None:
    store = sharded_store()
    shard = shard_of(store)
    calls = []

    def update(chunks: dict[Any, bytes]) -> bool:
        calls.append(dict(chunks))
        if len(calls) == 1:  # another writer changes the shard between our read and write
            shard.write_all({(1, 1): b"theirs"}, None)
        chunks[(0, 0)] = b"ours"
        return True

    stamp = shard.read_modify_write(update)
    assert stamp is not None
    assert stamp.generation != UNKNOWN
    assert calls == [{}, {(1, 1): b"theirs"}]
    assert shard.read_all()[1] == {(0, 0): b"ours", (1, 1): b"theirs"}


def test_write_chunk_conditions_and_deletes() -> None:
    store = sharded_store()
    shard = shard_of(store)
    first = shard.write_chunk((0, 1), b"one", None)
    assert first.generation == chunk_generation(b"one")
    assert shard.write_chunk((0, 1), b"two", chunk_generation(b"stale")).generation == UNKNOWN
    assert shard.read_all()[1] == {(0, 1): b"one"}
    assert shard.write_chunk((1, 0), None, None).generation == NO_VALUE  # absent: nothing written
    assert shard.write_chunk((0, 1), None, chunk_generation(b"one")).generation == NO_VALUE  # deleted
    assert shard.read_all() == (NO_VALUE, {})  # no chunk left: the shard object is gone


def test_driver_and_chunk_store_writes_share_the_one_read_modify_write(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = IndexedShard.read_modify_write

    def counted(self: IndexedShard, update: Any, *, read: bool = True, batch: Any = None) -> Any:
        calls.append(read)
        return original(self, update, read=read, batch=batch)

    monkeypatch.setattr(IndexedShard, "read_modify_write", counted)
    store = sharded_store()
    store[0:4, 0:4].write(np.full((4, 4), 1, dtype=np.uint8)).result()  # a whole shard: no read
    assert calls == [False]
    store[0, 0].write(2).result()  # grouped partial shard write
    assert calls == [False, True]
    with ts.Transaction() as txn:  # committed through ShardedChunkStore.write -> write_chunk
        store.with_transaction(txn)[1, 1].write(3).result()
    assert calls == [False, True, True]
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[0:4, 0:4] = 1
    expected[0, 0], expected[1, 1] = 2, 3
    np.testing.assert_array_equal(store.read().result(), expected)


def file_sharded_spec(path: Any) -> dict[str, Any]:
    return {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {
            "shape": [12, 10, 9], "data_type": "uint16", "fill_value": 0,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4, 3]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": [2, 2, 3], "codecs": ["bytes", {"name": "zstd", "configuration": {"level": 1}}]}}],
        },
    }


def test_a_write_of_many_shards_goes_into_one_write_batch(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[Any] = []
    original = IndexedShard.read_modify_write

    def spied(self: IndexedShard, update: Any, *, read: bool = True, batch: Any = None) -> Any:
        batches.append(batch)
        return original(self, update, read=read, batch=batch)

    monkeypatch.setattr(IndexedShard, "read_modify_write", spied)
    store = ts.open(file_sharded_spec(tmp_path), create=True).result()
    data = np.arange(12 * 10 * 9, dtype=np.uint16).reshape(12, 10, 9)
    store.write(data).result()
    assert len(batches) == 3 * 3 * 3
    assert batches[0] is not None
    assert all(batch is batches[0] for batch in batches)
    batches.clear()
    store[0:4, 0:4, 0:3].write(data[0:4, 0:4, 0:3] + 1).result()  # one shard: written directly
    assert batches == [None]
    import tensorstore

    data[0:4, 0:4, 0:3] += 1
    np.testing.assert_array_equal(tensorstore.open(file_sharded_spec(tmp_path), open=True).result().read().result(), data)


def test_partial_shard_writes_in_a_batch_keep_the_other_inner_chunks(tmp_path: Any) -> None:
    store = ts.open(file_sharded_spec(tmp_path), create=True).result()
    data = (np.arange(12 * 10 * 9, dtype=np.int64) * 7919 % 60000).astype(np.uint16).reshape(12, 10, 9)
    store.write(data).result()
    store[3:9, 1:7, 2:5].write(np.full((6, 6, 3), 9, dtype=np.uint16)).result()  # parts of 12 shards
    data[3:9, 1:7, 2:5] = 9
    np.testing.assert_array_equal(ts.open(file_sharded_spec(tmp_path), open=True).result().read().result(), data)
    import tensorstore

    np.testing.assert_array_equal(tensorstore.open(file_sharded_spec(tmp_path), open=True).result().read().result(), data)


def test_split_groups_cuts_few_shards_into_runs_of_consecutive_inner_chunks() -> None:
    from ts_zarr.zarr3._driver import _split_groups

    members = {(i, j): [f"part{i}{j}"] for i in range(3) for j in range(2)}
    one = _split_groups([((0, 0), members)], 2)
    assert [sorted(piece) for _, piece in one] == [[(0, 0), (0, 1), (1, 0)], [(1, 1), (2, 0), (2, 1)]]
    assert all(shard == (0, 0) for shard, _ in one)
    assert {position: parts for _, piece in one for position, parts in piece.items()} == members
    two = _split_groups([((0, 0), members), ((0, 1), {(0, 0): ["x"]})], 2)
    assert len(two) == 2  # as many groups as workers already: unchanged


@pytest.mark.parametrize("cache_bytes", [0, 1 << 24])
def test_reads_of_one_shard_on_many_workers_match_the_wheel(
    tmp_path: Any, cache_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorstore

    from ts_zarr.zarr3 import _driver

    runs: list[int] = []
    original = _driver._split_groups

    def spied(groups: Any, workers: int, min_run: int = 1) -> Any:
        split = original(groups, max(workers, 2), min_run)
        runs.append(len(split))
        return split

    monkeypatch.setattr(_driver, "_split_groups", spied)
    spec = file_sharded_spec(tmp_path)
    spec["metadata"].update(shape=[128, 128, 64])
    spec["metadata"]["chunk_grid"]["configuration"]["chunk_shape"] = [128, 128, 64]  # one shard
    spec["metadata"]["codecs"][0]["configuration"]["chunk_shape"] = [64, 64, 64]  # of 512 KiB inner chunks
    data = (np.arange(128 * 128 * 64, dtype=np.int64) * 2654435761 % 60000).astype(np.uint16).reshape(128, 128, 64)
    tensorstore.open(spec, create=True).result().write(data).result()
    store = ts.open(spec, open=True, context=ts.Context({"cache_pool": {"total_bytes_limit": cache_bytes}})).result()
    for _ in range(2):  # the second time from the cache, when there is one
        np.testing.assert_array_equal(store.read().result(), data)
        np.testing.assert_array_equal(store[1:110:3, ::-2, 4:].read().result(), data[1:110:3, ::-2, 4:])
    assert runs[0] == 2  # four inner chunks of 512 KiB: two runs of two (at least 1 MiB each)
