"""Sharded scales of the neuroglancer_precomputed driver: the driver conformance suite, what
grouped reads and writes ask of the kvstore, transactions, and corrupt shards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.driver import DriverConformance

VOXEL_OFFSET = [5, -3, 2]
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 1,
    "minishard_bits": 1, "shard_bits": 3, "data_encoding": "gzip", "minishard_index_encoding": "gzip",
}


def volume_view(store: Any, rank: int) -> Any:
    """The first ``rank`` dimensions of a 4-D volume, moved to the origin."""
    moved = store[ts.d[:].translate_to[0]]
    return moved[(slice(None),) * rank + (0,) * (4 - rank)]


def create(kvstore: Any, size: list[int], chunk_size: list[int], dtype: str = "uint16", context: Any = None, **sharding: Any) -> Any:
    return ts.open(
        {
            "driver": "neuroglancer_precomputed",
            "kvstore": kvstore,
            "multiscale_metadata": {"data_type": dtype, "num_channels": 1, "type": "image"},
            "scale_metadata": {
                "size": size, "voxel_offset": VOXEL_OFFSET, "chunk_size": chunk_size,
                "resolution": [4, 4, 40], "encoding": "raw", "sharding": {**SHARDING, **sharding},
            },
        },
        create=True,
        context=context,
    ).result()


class TestShardedConformance(DriverConformance):
    driver = "neuroglancer_precomputed"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        assert fill_value in (None, 0)  # precomputed has no fill value: missing chunks read as 0
        rank = len(shape)
        store = create(
            kvstore, list(shape) + [1] * (3 - rank), list(chunks) + [1] * (3 - rank), np.dtype(dtype).name, context
        )
        return volume_view(store, rank)

    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4), "uint16")
        np.testing.assert_array_equal(store.read().result(), np.zeros((7, 9), np.uint16))
        assert store.fill_value is None

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        store[0:2, 0:2].write(np.zeros((2, 2), np.uint16)).result()
        assert [k for k in store.kvstore.list().result() if k != b"info"] == []
        store[2:4, 2:4].write(np.ones((2, 2), np.uint16)).result()
        # chunk (1, 1, 0) has Morton code 3; preshift 1 and minishard 1: shard 0
        assert [k for k in store.kvstore.list().result() if k != b"info"] == [b"4_4_40/0.shard"]

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = np.arange(30, dtype=np.uint16).reshape(6, 5)
        store.write(data).result()
        reopened = ts.open(store.spec(), open=True, context=self._context).result()
        np.testing.assert_array_equal(reopened.read().result(), data)
        assert reopened.spec().to_json()["scale_metadata"]["sharding"] == SHARDING

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4,), (2,))
        store.write(np.arange(4, dtype=np.uint16)).result()
        spec = store.spec().to_json()
        spec.pop("transform", None)
        fresh = ts.open(spec, create=True, delete_existing=True, context=self._context).result()
        np.testing.assert_array_equal(fresh.read().result(), np.zeros((4, 1, 1, 1), np.uint16))


def memory_counts() -> tuple[int, int]:
    metrics = {m["name"]: m["values"][0]["value"] for m in ts.experimental_collect_matching_metrics("/tensorstore/kvstore/memory/")
               if m["name"].endswith(("/read", "/write"))}
    return metrics.get("/tensorstore/kvstore/memory/read", 0), metrics.get("/tensorstore/kvstore/memory/write", 0)


def test_whole_shards_are_written_once_without_reading() -> None:
    # 8x8x8 chunks of 4^3 voxels; preshift 3 + minishard 0: a shard is 2x2x2 chunks
    store = create("memory://whole/", [32, 32, 32], [4, 4, 4], preshift_bits=3, minishard_bits=0, shard_bits=6)
    data = np.random.default_rng(0).integers(0, 1000, (32, 32, 32, 1), dtype=np.uint16)
    reads, writes = memory_counts()
    store.write(data).result()
    after_reads, after_writes = memory_counts()
    assert after_reads == reads  # no shard read
    assert after_writes - writes == 64  # one write per shard
    np.testing.assert_array_equal(store.read().result(), data)
    assert memory_counts()[1] == after_writes
    # a write covering exactly one shard's 2x2x2 chunks: one write, still no read
    store[5:13, -3:5, 2:10].write(np.full((8, 8, 8, 1), 7, np.uint16)).result()
    assert memory_counts() == (memory_counts()[0], after_writes + 1)


def test_partial_shard_writes_keep_the_other_chunks() -> None:
    store = create("memory://partial/", [32, 32, 32], [4, 4, 4], preshift_bits=3, minishard_bits=0, shard_bits=6)
    data = np.random.default_rng(1).integers(1, 1000, (32, 32, 32, 1), dtype=np.uint16)
    store.write(data).result()
    reads, writes = memory_counts()
    store[6:8, -3:-1, 3:4].write(np.zeros((2, 2, 1, 1), np.uint16)).result()  # part of one chunk
    data[1:3, 0:2, 1:2] = 0
    after_reads, after_writes = memory_counts()
    assert after_writes - writes == 1
    assert after_reads - reads == 1  # the whole shard, once
    np.testing.assert_array_equal(store.read().result(), data)


def test_reads_fetch_only_what_they_need() -> None:
    store = create("memory://ranged/", [32, 32, 32], [4, 4, 4], preshift_bits=3, minishard_bits=0, shard_bits=6)
    store.write(np.ones((32, 32, 32, 1), np.uint16)).result()
    reads, _ = memory_counts()
    np.testing.assert_array_equal(store[5:9, -3:1, 2:6].read().result(), np.ones((4, 4, 4, 1)))
    # shard index entry, minishard index, one chunk (the default cache pool keeps nothing)
    assert memory_counts()[0] - reads == 3


def test_transactions_on_a_sharded_scale() -> None:
    store = create("memory://txn/", [16, 16, 8], [4, 4, 4])
    store[5:9, -3:1, 2:6].write(np.full((4, 4, 4, 1), 3, np.uint16)).result()
    txn = ts.Transaction()
    staged = store.with_transaction(txn)
    staged[9:13, -3:1, 2:6].write(np.full((4, 4, 4, 1), 4, np.uint16)).result()
    staged[5:7, -3:1, 2:6].write(np.full((2, 4, 4, 1), 5, np.uint16)).result()
    assert int(store[9, -3, 2, 0].read().result()) == 0  # not yet visible
    assert int(staged[9, -3, 2, 0].read().result()) == 4  # read-your-writes
    txn.commit_sync()
    expected = np.zeros((16, 16, 8, 1), np.uint16)
    expected[0:4, 0:4, 0:4] = 3
    expected[0:2, 0:4, 0:4] = 5
    expected[4:8, 0:4, 0:4] = 4
    np.testing.assert_array_equal(store.read().result(), expected)


def test_corrupt_shard_is_named_and_other_shards_stay_readable(tmp_path: Any) -> None:
    store = create(f"file://{tmp_path}/", [16, 16, 8], [4, 4, 4], data_encoding="raw")
    store.write(np.ones((16, 16, 8, 1), np.uint16)).result()
    shard_keys = sorted(k for k in store.kvstore.list().result() if k.endswith(b".shard"))
    assert len(shard_keys) > 1
    bad = shard_keys[0]
    store.kvstore[bad] = b"\xff" * 40  # a shard index entry pointing far past the end
    with pytest.raises(ValueError, match=bad.decode().split("/")[-1].replace(".", r"\.")):
        store.read().result()
    # the chunks of the other shards still read
    reopened = ts.open(store.spec(), open=True).result()
    assert int(reopened[13, 5, 6, 0].read().result()) == 1


def test_sharding_errors_name_the_member() -> None:
    with pytest.raises(ValueError, match=r"sharding\.minishard_bits|sharding.*minishard_bits"):
        create("memory://bad/", [16, 16, 8], [4, 4, 4], minishard_bits=40)


@pytest.mark.parametrize(
    ("hash", "preshift", "minishard", "shard"),
    [("identity", 2, 2, 4), ("identity", 1, 1, 6), ("identity", 0, 0, 8), ("identity", 2, 2, 3), ("murmurhash3_x86_128", 2, 2, 4)],
)
def test_write_chunk_is_the_shard_as_tensorstore(tmp_path: Any, hash: str, preshift: int, minishard: int, shard: int) -> None:
    import tensorstore

    sharding = {**SHARDING, "hash": hash, "preshift_bits": preshift, "minishard_bits": minishard, "shard_bits": shard}
    theirs = tensorstore.open(
        {
            "driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/",
            "multiscale_metadata": {"type": "image", "data_type": "uint16", "num_channels": 2},
            "scale_metadata": {
                "resolution": [4, 4, 40], "size": [50, 40, 30], "voxel_offset": VOXEL_OFFSET,
                "chunk_size": [8, 8, 8], "encoding": "raw", "sharding": sharding,
            },
        },
        create=True,
    ).result()
    ours = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/"}).result()
    assert ours.schema.chunk_layout.to_json() == theirs.schema.chunk_layout.to_json()
    assert ours.schema.codec.to_json() == theirs.schema.codec.to_json()


def created_sharding(lib: Any, layout: dict[str, Any] | None, codec: dict[str, Any] | None, scale: dict[str, Any]) -> Any:
    import json

    context = lib.Context()
    options: dict[str, Any] = {}
    if layout is not None:
        options["chunk_layout"] = lib.ChunkLayout(**layout)
    if codec is not None:
        options["codec"] = lib.CodecSpec({"driver": "neuroglancer_precomputed", **codec})
    store = lib.open(
        {
            "driver": "neuroglancer_precomputed", "kvstore": "memory://chosen/",
            "multiscale_metadata": {"num_channels": 2, "data_type": "uint8"},
            "scale_metadata": {"resolution": [8, 8, 8], "chunk_size": [64, 64, 64], "size": [34432, 39552, 51508],
                               "voxel_offset": [20, 30, 40], **scale},
        },
        create=True, context=context, **options,
    ).result()
    return json.loads(bytes(store.kvstore.read("info").result().value))["scales"][0].get("sharding")


@pytest.mark.parametrize(
    ("layout", "codec", "scale"),
    [
        (None, None, {}),
        ({"write_chunk_elements": 8_000_000_000}, None, {}),
        ({"write_chunk_elements": 64**3 * 3}, None, {}),
        ({"write_chunk_shape_soft_constraint": [1000, 3000, 0, 0]}, None, {}),
        (None, {"shard_data_encoding": "raw"}, {}),
        ({"write_chunk_elements": 8_000_000_000}, None, {"sharding": None}),
        # A hard write chunk shape is the shards' box; only the read chunk must match chunk_size.
        ({"write_chunk_shape": [1024, 1024, 512, 2], "read_chunk_shape": [64, 64, 64, 2]}, None, {}),
        ({"write_chunk_shape": [512, 512, 512, 0]}, None, {}),
        ({"write_chunk_shape": [128, 0, 0, 0], "write_chunk_elements": 64**3 * 16}, None, {}),
    ],
)
def test_new_scales_choose_sharding_as_tensorstore(layout: Any, codec: Any, scale: Any) -> None:
    import tensorstore

    assert created_sharding(ts, layout, codec, scale) == created_sharding(tensorstore, layout, codec, scale)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sharding": {**SHARDING, "hash": "md5"}}, r"scales\[0\]\.sharding\.hash: expected one of"),
        ({"sharding": {**SHARDING, "minishard_bits": "2"}}, r"scales\[0\]\.sharding\.minishard_bits"),
        (
            {"sharding": SHARDING, "size": [2**40] * 3, "chunk_sizes": [[1, 1, 1]]},
            r"scales\[0\]\.sharding: .*chunk keys would exceed 64 bits",
        ),
    ],
)
def test_bad_sharding_in_info_names_the_member(change: dict[str, Any], message: str) -> None:
    import json

    context = ts.Context()
    scale = {"chunk_sizes": [[8, 8, 8]], "encoding": "raw", "key": "s", "resolution": [1, 1, 1],
             "size": [16, 16, 16], "voxel_offset": [0, 0, 0], **change}
    info = {"@type": "neuroglancer_multiscale_volume", "data_type": "uint8", "num_channels": 1, "type": "image",
            "scales": [scale]}
    ts.KvStore.open("memory://badinfo/", context=context).result()["info"] = json.dumps(info).encode()
    with pytest.raises(ValueError, match=message):
        ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://badinfo/"}, context=context).result()
