"""Differential tests of the sharded format against the tensorstore wheel, both ways, on
``file://`` stores; and two processes writing one shard at once."""

from __future__ import annotations

import multiprocessing
import random
import struct
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

CASES = [
    pytest.param("identity", 0, "raw", "raw", id="identity-raw"),
    pytest.param("identity", 3, "gzip", "gzip", id="identity-preshift3-gzip"),
    pytest.param("murmurhash3_x86_128", 0, "gzip", "raw", id="murmur-gzipdata"),
    pytest.param("murmurhash3_x86_128", 2, "raw", "gzip", id="murmur-preshift2-gzipindex"),
]


def sharding(hash: str, preshift: int, data: str, index: str, minishard: int = 2, shard: int = 3) -> dict[str, Any]:
    return {
        "@type": "neuroglancer_uint64_sharded_v1", "hash": hash, "preshift_bits": preshift,
        "minishard_bits": minishard, "shard_bits": shard, "data_encoding": data, "minishard_index_encoding": index,
    }


def random_values(seed: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    ids = {rng.getrandbits(rng.choice([8, 20, 64])) for _ in range(80)}
    return {struct.pack(">Q", i): rng.randbytes(rng.randint(0, 300)) for i in ids}


@pytest.mark.parametrize(("hash", "preshift", "data", "index"), CASES)
def test_kvstore_written_by_ts_reads_identically_in_tensorstore(tmp_path: Any, hash: str, preshift: int, data: str, index: str) -> None:
    spec = {"driver": "neuroglancer_uint64_sharded", "base": f"file://{tmp_path}/s/", "metadata": sharding(hash, preshift, data, index)}
    ours = ts.KvStore.open(spec).result()
    values = random_values(1)
    items = list(values.items())
    for key, value in items[:20]:
        ours[key] = value  # single-key read-modify-writes
    ours.driver.write_many(dict(items[20:]))  # type: ignore[attr-defined]
    theirs = tensorstore.KvStore.open(spec).result()
    assert sorted(theirs.list().result()) == sorted(values)
    for key, value in values.items():
        assert theirs[key] == value
    assert theirs.spec().to_json() == ours.spec().to_json()


@pytest.mark.parametrize(("hash", "preshift", "data", "index"), CASES)
def test_kvstore_written_by_tensorstore_reads_identically_in_ts(tmp_path: Any, hash: str, preshift: int, data: str, index: str) -> None:
    spec = {"driver": "neuroglancer_uint64_sharded", "base": f"file://{tmp_path}/s/", "metadata": sharding(hash, preshift, data, index)}
    theirs = tensorstore.KvStore.open(spec).result()
    values = random_values(2)
    txn = tensorstore.Transaction()
    for key, value in values.items():
        theirs.with_transaction(txn)[key] = value
    txn.commit_sync()
    ours = ts.KvStore.open(spec).result()
    assert ours.list().result() == sorted(values)
    for key, value in values.items():
        assert ours[key] == value
    # and our updates of their shards keep every other chunk
    first = next(iter(values))
    ours[first] = b"changed"
    del ours[list(values)[1]]
    assert theirs[first] == b"changed"
    assert sorted(theirs.list().result()) == sorted(list(values)[:1] + list(values)[2:])


def volume_spec(path: Any, hash: str, preshift: int, data: str, index: str, shard_bits: int = 3) -> dict[str, Any]:
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": f"file://{path}/",
        "multiscale_metadata": {"type": "segmentation", "data_type": "uint32", "num_channels": 2},
        "scale_metadata": {
            "resolution": [4, 4, 40], "size": [37, 29, 21], "voxel_offset": [5, -3, 2], "chunk_size": [8, 8, 4],
            "encoding": "raw", "sharding": sharding(hash, preshift, data, index, minishard=2, shard=shard_bits),
        },
    }


@pytest.mark.parametrize(("hash", "preshift", "data", "index"), CASES)
def test_sharded_volume_round_trips_with_tensorstore(tmp_path: Any, hash: str, preshift: int, data: str, index: str) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**32, size=(37, 29, 21, 2), dtype=np.uint32)
    ours = ts.open(volume_spec(tmp_path / "a", hash, preshift, data, index), create=True).result()
    ours.write(values).result()
    ours[10:20, 0:5, 4:9, 1].write(7).result()  # a partial write: shard read-modify-writes
    values[5:15, 3:8, 2:7, 1] = 7
    theirs = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/a/"}).result()
    np.testing.assert_array_equal(theirs.read().result(), values)
    np.testing.assert_array_equal(theirs[12:30, -3:4].read().result(), values[7:25, 0:7])

    theirs_b = tensorstore.open(volume_spec(tmp_path / "b", hash, preshift, data, index), create=True).result()
    theirs_b.write(values).result()
    theirs_b[6:9, 20:26, 2:3, 0].write(9).result()
    values[1:4, 23:29, 0:1, 0] = 9
    ours_b = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/b/"}).result()
    np.testing.assert_array_equal(ours_b.read().result(), values)
    np.testing.assert_array_equal(ours_b[30:42, 10:26, 2:23:3].read().result(), values[25:37, 13:29, 0:21:3])
    # the info tensorstore wrote is the one we read back
    assert ours_b.spec().to_json()["scale_metadata"]["sharding"] == sharding(hash, preshift, data, index)


def test_sharded_volume_with_one_shard_and_empty_chunks(tmp_path: Any) -> None:
    """Chunks equal to zero are not stored (as tensorstore), and a volume in a single shard."""
    spec = volume_spec(tmp_path, "identity", 0, "raw", "raw", shard_bits=0)
    ours = ts.open(spec, create=True).result()
    ours[5:13, -3:5, 2:6].write(np.ones((8, 8, 4, 2), np.uint32)).result()  # one chunk
    assert ours.kvstore.list().result() == [b"4_4_40/0.shard", b"info"]
    theirs = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/"}).result()
    expected = np.zeros((37, 29, 21, 2), np.uint32)
    expected[0:8, 0:8, 0:4] = 1
    np.testing.assert_array_equal(theirs.read().result(), expected)
    ours.write(np.zeros_like(expected)).result()
    assert ours.kvstore.list().result() == [b"info"]


# -- two processes, one shard -----------------------------------------------------------------------
WRITES_PER_PROCESS = 200


#: What each writing process runs: spawned children cannot import test modules (pytest
#: loads them by path), so the target is ``exec`` of this code, with ``ARGS`` its globals.
WRITER = """
import struct
import ts_core as ts
base, first, count, metadata, barrier = ARGS
store = ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": base, "metadata": metadata}).result()
barrier.wait(60)  # both processes write at once
for chunk_id in range(first, first + count):
    store[struct.pack(">Q", chunk_id)] = b"value %d" % chunk_id
"""


@pytest.mark.slow  # two spawned interpreters and 400 fsynced shard rewrites: about 5 s
def test_two_processes_writing_one_shard_lose_nothing(tmp_path: Any) -> None:
    base = f"file://{tmp_path}/shared/"
    metadata = sharding("identity", 0, "raw", "gzip", minishard=3, shard=0)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=exec, args=(WRITER, {"ARGS": (base, n * WRITES_PER_PROCESS, WRITES_PER_PROCESS, metadata, barrier)})
        )
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
        assert worker.exitcode == 0
    store = ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": base, "metadata": metadata}).result()
    assert store.base is not None
    assert store.base.list().result() == [b"0.shard"]  # every chunk in one shard
    keys = store.list().result()
    assert len(keys) == 2 * WRITES_PER_PROCESS
    for chunk_id in range(2 * WRITES_PER_PROCESS):
        assert store[struct.pack(">Q", chunk_id)] == b"value %d" % chunk_id
    theirs = tensorstore.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": base, "metadata": metadata}).result()
    assert len(theirs.list().result()) == 2 * WRITES_PER_PROCESS
