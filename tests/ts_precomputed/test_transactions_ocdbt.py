"""Precomputed volumes in transactions: over ocdbt every chunk and shard of a commit is one
new database version (read back by the tensorstore wheel); over a plain base a
transaction's chunks are committed with one conditional write per shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import TransactionConflictError
from ts_precomputed import _sharded_kvstore

SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 3, "minishard_bits": 1,
    "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip",
}


def volume_spec(kvstore: Any, sharding: Any, *, key: str | None = None, resolution: int = 1, encoding: str = "raw") -> dict[str, Any]:
    scale: dict[str, Any] = {
        "size": [64, 64, 32], "chunk_size": [16, 16, 16], "encoding": encoding, "sharding": sharding,
        "resolution": [resolution] * 3,
    }
    if key is not None:
        scale["key"] = key
    return {
        "driver": "neuroglancer_precomputed", "kvstore": kvstore,
        "multiscale_metadata": {"data_type": "uint16", "num_channels": 1, "type": "image"},
        "scale_metadata": scale,
    }


def ocdbt(tmp_path: Path) -> dict[str, Any]:
    return {"driver": "ocdbt", "base": f"file://{tmp_path}/"}


def version_count(tmp_path: Path) -> int:
    import ts_ocdbt

    return len(ts_ocdbt.list_versions(ts.KvStore.open(ocdbt(tmp_path)).result()).result())


def data(shape: tuple[int, ...], seed: int) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).integers(0, 60000, size=shape, dtype=np.uint16)


@pytest.mark.parametrize("sharding", [None, SHARDING], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "not-atomic"])
def test_a_transaction_over_ocdbt_is_one_version(tmp_path: Path, sharding: Any, atomic: bool) -> None:
    import tensorstore

    store = ts.open(volume_spec(ocdbt(tmp_path), sharding), create=True).result()
    before = version_count(tmp_path)
    values = data((64, 64, 32, 1), 1)
    txn = ts.Transaction(atomic=atomic)
    store.with_transaction(txn)[:] = values  # 32 chunks (2 shards when sharded)
    store.with_transaction(txn)[3:20, 5:9, 1:2] = 7  # a partial write on top
    values[3:20, 5:9, 1:2] = 7
    assert version_count(tmp_path) == before  # nothing visible before the commit
    txn.commit_sync()
    assert version_count(tmp_path) == before + 1
    np.testing.assert_array_equal(store.read().result(), values)
    theirs = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": ocdbt(tmp_path)}).result()
    np.testing.assert_array_equal(theirs.read().result(), values)


def test_two_scales_in_one_atomic_transaction_are_one_version(tmp_path: Path) -> None:
    """Chunks of an unsharded and a sharded scale of one volume, committed together."""
    import tensorstore

    fine = ts.open(volume_spec(ocdbt(tmp_path), None, key="fine"), create=True).result()
    coarse = ts.open(volume_spec(ocdbt(tmp_path), SHARDING, key="coarse", resolution=2), create=True).result()
    before = version_count(tmp_path)
    fine_values, coarse_values = data((64, 64, 32, 1), 2), data((64, 64, 32, 1), 3)
    with ts.Transaction(atomic=True) as txn:
        fine.with_transaction(txn)[:] = fine_values
        coarse.with_transaction(txn)[:] = coarse_values
    assert version_count(tmp_path) == before + 1
    for scale_index, values in ((0, fine_values), (1, coarse_values)):
        theirs = tensorstore.open(
            {"driver": "neuroglancer_precomputed", "kvstore": ocdbt(tmp_path), "scale_index": scale_index}
        ).result()
        np.testing.assert_array_equal(theirs.read().result(), values)


def test_a_stale_read_commits_nothing_over_ocdbt(tmp_path: Path) -> None:
    store = ts.open(volume_spec(ocdbt(tmp_path), SHARDING), create=True).result()
    store[:] = data((64, 64, 32, 1), 4)
    before = version_count(tmp_path)
    txn = ts.Transaction(atomic=True)
    seen = store.with_transaction(txn)[0:16, 0:16, 0:16].read().result()
    store.with_transaction(txn)[16:48, 0:16, 0:16] = seen[:, :, :, :].repeat(2, axis=0)
    store[0, 0, 0] = 1  # another writer changes the chunk the transaction read
    with pytest.raises(TransactionConflictError):
        txn.commit_sync()
    assert version_count(tmp_path) == before + 1  # only the other writer's version


# -- plain bases: one conditional write per shard ---------------------------------------------
@pytest.fixture
def shard_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Keys of the shard writes made while the test runs."""
    written: list[bytes] = []
    original = _sharded_kvstore.ShardFile.write_all

    def write_all(self: Any, chunks: Any, if_equal: bytes | None) -> Any:
        written.append(self.key)
        return original(self, chunks, if_equal)

    monkeypatch.setattr(_sharded_kvstore.ShardFile, "write_all", write_all)
    return written


# The 8 chunks of 16^3 in x, y, z in [0, 32) are chunk ids 0-7: one preshift group of shard 0.
ONE_SHARD = (slice(0, 32), slice(0, 32), slice(0, 32))


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "not-atomic"])
def test_eight_chunks_of_one_shard_are_one_shard_write(tmp_path: Path, shard_writes: list[bytes], atomic: bool) -> None:
    import tensorstore

    store = ts.open(volume_spec(f"file://{tmp_path}/", SHARDING), create=True).result()
    values = data((32, 32, 32, 1), 5)
    shard_writes.clear()
    with ts.Transaction(atomic=atomic) as txn:
        store.with_transaction(txn)[ONE_SHARD] = values
    assert len(shard_writes) == 1
    theirs = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/"}).result()
    np.testing.assert_array_equal(theirs[ONE_SHARD].read().result(), values)


def test_chunks_of_several_shards_are_one_write_each(tmp_path: Path, shard_writes: list[bytes]) -> None:
    store = ts.open(volume_spec("memory://v/", SHARDING), create=True).result()
    store[:] = data((64, 64, 32, 1), 6)
    values = store.read().result()
    shard_writes.clear()
    with ts.Transaction() as txn:
        view = store.with_transaction(txn)
        view[0:64, 0:64, 0:32] = 3  # all 32 chunks, 16 in each of the two shards ...
        view[1:2, 1:2, 1:2] = 9  # ... then one voxel again
    values[:] = 3
    values[1, 1, 1] = 9
    assert sorted(shard_writes) == [b"v/1_1_1/0.shard", b"v/1_1_1/1.shard"]
    np.testing.assert_array_equal(store.read().result(), values)


def test_a_stale_read_of_a_shard_commits_nothing(tmp_path: Path, shard_writes: list[bytes]) -> None:
    store = ts.open(volume_spec("memory://v/", SHARDING), create=True).result()
    store[:] = data((64, 64, 32, 1), 7)
    txn = ts.Transaction()
    store.with_transaction(txn)[0:16, 0:16, 0:16].read().result()
    store.with_transaction(txn)[0:64, 0:64, 0:32] = 5  # chunks of every shard
    store[0, 0, 0] = 1  # another writer changes the chunk the transaction read
    expected = store.read().result()
    shard_writes.clear()
    with pytest.raises(TransactionConflictError):
        txn.commit_sync()
    assert shard_writes == []
    np.testing.assert_array_equal(store.read().result(), expected)


def test_a_concurrent_write_to_other_chunks_of_the_shard_is_kept(tmp_path: Path) -> None:
    """The shard changed after the transaction read one chunk, but not that chunk: the
    commit redoes the shard on top of the other writer's chunk, losing nothing."""
    store = ts.open(volume_spec("memory://v/", SHARDING), create=True).result()
    store[:] = 0
    txn = ts.Transaction()
    seen = store.with_transaction(txn)[0:16, 0:16, 0:16].read().result()
    store.with_transaction(txn)[0:16, 0:16, 0:16] = seen + 1
    store[16:32, 0:16, 0:16] = 2  # another chunk of the same shard
    txn.commit_sync()
    result = store.read().result()
    assert (result[0:16, 0:16, 0:16] == 1).all()
    assert (result[16:32, 0:16, 0:16] == 2).all()


def test_the_sharded_kvstore_over_ocdbt_commits_one_version(tmp_path: Path) -> None:
    """The public neuroglancer_uint64_sharded kvstore: its chunks and a key written to the
    database itself in the same transaction are one version."""
    import struct

    import tensorstore

    sharding = {**SHARDING, "hash": "murmurhash3_x86_128", "data_encoding": "raw"}
    spec = {"driver": "neuroglancer_uint64_sharded", "base": {**ocdbt(tmp_path), "path": "s/"}, "metadata": sharding}
    database = ts.KvStore.open(ocdbt(tmp_path)).result()
    database["first"] = b"0"
    before = version_count(tmp_path)
    with ts.Transaction(atomic=True) as txn:
        chunks = ts.KvStore.open(spec).result().with_transaction(txn)
        for chunk_id in range(20):
            chunks[struct.pack(">Q", chunk_id)] = b"v%d" % chunk_id
        database.with_transaction(txn)["other"] = b"x"
    assert version_count(tmp_path) == before + 1
    theirs = tensorstore.KvStore.open(spec).result()
    assert [theirs.read(struct.pack(">Q", i)).result().value for i in range(20)] == [b"v%d" % i for i in range(20)]
    assert tensorstore.KvStore.open(ocdbt(tmp_path)).result().read("other").result().value == b"x"
