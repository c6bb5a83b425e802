"""zarr3-specific behaviour: sharded I/O cost, chunk layout and codec specs, plugins, bad input."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
from ts_core.kvstore.memory._driver import MemoryKvStore


class IoLog:
    """Counts reads, bytes read and writes of every memory kvstore (instrumented in place)."""

    def __init__(self) -> None:
        self.reads = 0
        self.bytes_read = 0
        self.writes: list[bytes] = []

    def reset(self) -> None:
        self.reads, self.bytes_read, self.writes = 0, 0, []


@pytest.fixture
def io_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[IoLog]:
    log = IoLog()
    original_read, original_write = MemoryKvStore.read, MemoryKvStore.write

    def read(self: Any, key: bytes, options: Any) -> Any:
        result = original_read(self, key, options)
        log.reads += 1
        log.bytes_read += len(result.value)
        return result

    def write(self: Any, key: bytes, value: Any, if_equal: Any) -> Any:
        log.writes.append(key)
        return original_write(self, key, value, if_equal)

    monkeypatch.setattr(MemoryKvStore, "read", read)
    monkeypatch.setattr(MemoryKvStore, "write", write)
    return log


def sharded_spec(path: str, shard: list[int], inner: list[int], **configuration: Any) -> dict[str, Any]:
    return {
        "driver": "zarr3",
        "kvstore": {"driver": "memory", "path": path},
        "metadata": {
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shard}},
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": inner, "codecs": ["bytes", {"name": "zstd", "configuration": {"level": 1}}], **configuration}}],
        },
    }


def store_context(store: Any) -> Any:
    """The context a memory-backed test store was opened in (the memory store lives there)."""
    return store._driver._context


# -- sharded I/O cost ----------------------------------------------------------------------------
def test_one_voxel_of_a_1gib_shard_reads_a_few_kib(io_log: IoLog) -> None:
    store = ts.open(sharded_spec("big/", [1024] * 3, [256] * 3), create=True, dtype=ts.uint8, shape=[1024] * 3).result()
    store[0:256, 0:256, 0:256].write(np.arange(256, dtype=np.uint8)[:, None, None] % 7).result()
    store[900, 1000, 3].write(42).result()
    io_log.reset()
    assert store[100, 100, 100].read().result() == 100 % 7
    assert store[900, 1000, 3].read().result() == 42
    assert io_log.reads == 4  # per voxel: the shard index, then the inner chunk's bytes
    assert io_log.bytes_read < 8 * 1024


def test_whole_shard_write_is_one_write(io_log: IoLog) -> None:
    store = ts.open(sharded_spec("whole/", [8, 8], [2, 2]), create=True, dtype=ts.uint16, shape=[16, 8]).result()
    io_log.reset()
    store[0:8, :].write(np.arange(64, dtype=np.uint16).reshape(8, 8) + 1).result()
    assert io_log.writes == [b"whole/c/0/0"]
    assert io_log.reads == 0
    io_log.reset()
    store[9, 3].write(5).result()  # partial shard: one read of the (absent) shard, one write
    assert io_log.writes == [b"whole/c/1/0"]
    assert io_log.reads == 1
    np.testing.assert_array_equal(store[0:8].read().result(), np.arange(64).reshape(8, 8) + 1)


def test_reading_many_inner_chunks_coalesces_ranges(io_log: IoLog) -> None:
    store = ts.open(sharded_spec("many/", [8, 8], [2, 2]), create=True, dtype=ts.uint16, shape=[8, 8]).result()
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    store.write(data).result()
    io_log.reset()
    np.testing.assert_array_equal(store.read().result(), data)
    assert io_log.reads == 2  # the index, then all 16 adjacent inner chunks in one range


def test_partial_write_of_a_shard_keeps_other_inner_chunks() -> None:
    store = ts.open(sharded_spec("rmw/", [4, 4], [2, 2], index_location="start"), create=True, dtype=ts.int32, shape=[4, 4]).result()
    store.write(np.arange(16, dtype=np.int32).reshape(4, 4)).result()
    store[1:3, 1:3].write(np.zeros((2, 2), np.int32) - 1).result()
    expected = np.arange(16, dtype=np.int32).reshape(4, 4)
    expected[1:3, 1:3] = -1
    np.testing.assert_array_equal(store.read().result(), expected)
    store.write(np.zeros((4, 4), np.int32)).result()  # all fill: the shard is deleted
    assert store.kvstore.list().result() == [b"zarr.json"]


# -- schema, chunk layout, codec spec --------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"chunk_layout": ts.ChunkLayout(read_chunk_shape=[64, 64], write_chunk_shape=[256, 256])},
        {"chunk_layout": ts.ChunkLayout(read_chunk_shape=[2, 2])},
        {"chunk_layout": ts.ChunkLayout(write_chunk_shape=[40, 40])},
        {"chunk_layout": ts.ChunkLayout(inner_order=[1, 0])},
        {"codec": "zstd"},
        {"codec": "gzip", "chunk_layout": ts.ChunkLayout(read_chunk_shape=[32, 32], write_chunk_shape=[64, 64])},
    ],
    ids=["read-write", "read-only", "write-only", "inner-order", "codec", "codec-sharded"],
)
def test_create_from_schema_matches_tensorstore(options: dict[str, Any]) -> None:
    def convert(library: Any) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name, value in options.items():
            if name == "codec":
                converted[name] = library.CodecSpec({"driver": "zarr3", "codecs": [value]})
            else:
                converted[name] = library.ChunkLayout(value.to_json())
        return converted

    kwargs: dict[str, Any] = {"create": True, "dtype": "float32", "shape": [300, 500]}
    mine = ts.open({"driver": "zarr3", "kvstore": "memory://schema/"}, **kwargs, **convert(ts)).result()
    theirs = tensorstore.open({"driver": "zarr3", "kvstore": "memory://schema/"}, **kwargs, **convert(tensorstore)).result()
    assert mine.kvstore["zarr.json"] == theirs.kvstore.read("zarr.json").result().value
    assert mine.chunk_layout.to_json() == theirs.chunk_layout.to_json()
    assert mine.codec.to_json() == theirs.codec.to_json()


def test_nested_sharding_reports_innermost_read_chunk() -> None:
    inner = {"name": "sharding_indexed", "configuration": {"chunk_shape": [4, 4]}}
    store = ts.open(
        {"driver": "zarr3", "kvstore": "memory://", "metadata": {
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [64, 64]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [16, 16], "codecs": [inner]}}]}},
        create=True, dtype=ts.uint8, shape=[64, 64],
    ).result()
    assert store.chunk_layout.read_chunk.shape == (4, 4)
    assert store.chunk_layout.write_chunk.shape == (64, 64)
    store[3:40, 5:9].write(7).result()
    assert int(store.read().result().sum()) == 7 * 37 * 4


def test_attributes_and_dimension_names_round_trip() -> None:
    store = ts.open(
        {"driver": "zarr3", "kvstore": "memory://attrs/", "metadata": {"attributes": {"b": [1], "a": "x"}, "dimension_names": ["x", None]}},
        create=True, dtype=ts.int8, shape=[3, 4],
    ).result()
    assert store.domain.labels == ("x", "")
    stored = json.loads(store.kvstore["zarr.json"])
    assert stored["attributes"] == {"a": "x", "b": [1]}
    reopened = ts.open(store.spec(), open=True, context=store_context(store)).result()
    assert reopened.spec().to_json()["metadata"]["attributes"] == {"a": "x", "b": [1]}


def test_array_under_a_group() -> None:
    context = ts.Context()
    root = ts.KvStore.open("memory://tree/", context=context).result()
    root["zarr.json"] = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}).encode()
    store = ts.open({"driver": "zarr3", "kvstore": "memory://tree/", "path": "child"}, create=True, dtype=ts.uint8, shape=[4], context=context).result()
    store.write(np.arange(4, dtype=np.uint8)).result()
    assert sorted(root.list().result()) == [b"child/c/0", b"child/zarr.json", b"zarr.json"]
    reopened = ts.open({"driver": "zarr3", "kvstore": "memory://tree/child/"}, open=True, context=context).result()
    np.testing.assert_array_equal(reopened.read().result(), np.arange(4))
    with pytest.raises(ValueError, match="group, not an array"):
        ts.open({"driver": "zarr3", "kvstore": "memory://tree/"}, open=True, context=context).result()


# -- the zarr3_sharding_indexed kvstore ---------------------------------------------------------
def test_sharding_indexed_kvstore_matches_tensorstore(tmp_path: Any) -> None:
    meta = sharded_spec("", [4, 6], [2, 3])["metadata"]
    theirs = tensorstore.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "metadata": meta},
                              create=True, dtype="uint16", shape=[4, 6]).result()
    theirs[0:2, :].write(np.arange(12, dtype=np.uint16).reshape(2, 6) + 1).result()
    kvstore_spec = {
        "driver": "zarr3_sharding_indexed",
        "base": {"driver": "file", "path": f"{tmp_path}/c/0/0"},
        "grid_shape": [2, 2],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
    }
    mine = ts.KvStore.open(kvstore_spec).result()
    reference = tensorstore.KvStore.open(kvstore_spec).result()
    keys = mine.list().result()
    assert keys == sorted(reference.list().result()) == [b"\0\0\0\0\0\0\0\0", b"\0\0\0\0\0\0\0\1"]
    for key in keys:
        assert mine[key] == reference.read(key).result().value
    assert mine.read(b"\0\0\0\1\0\0\0\0").result().state == "missing"
    mine[b"\0\0\0\1\0\0\0\1"] = mine[keys[0]]  # write an inner chunk through the kvstore
    np.testing.assert_array_equal(theirs[2:4, 3:6].read().result(), np.array([[1, 2, 3], [7, 8, 9]], np.uint16))


# -- plugins ------------------------------------------------------------------------------------------
def test_third_party_codec_is_used_by_name() -> None:
    from ts_core.plugin import hookimpl, register_plugin, reset_registry
    from ts_zarr.zarr3 import BytesToBytesCodec

    class Xor(BytesToBytesCodec):
        name = "test_xor"

        def __init__(self, key: int) -> None:
            self.key = key

        @classmethod
        def from_json(cls, configuration: Any, json_path: str) -> Xor:
            return cls((configuration or {}).get("key", 0x5A))

        def encode(self, data: bytes) -> bytes:
            return bytes(b ^ self.key for b in data)

        decode = encode

        def to_json(self) -> dict[str, Any]:
            return {"configuration": {"key": self.key}, "name": self.name}

    module = types.ModuleType("zarr3_xor_codec")
    module.Xor = Xor  # type: ignore[attr-defined]
    sys.modules["zarr3_xor_codec"] = module

    class Plugin:
        @hookimpl
        def ts_register(self, registry: Any) -> None:
            registry.add("codec", "test_xor", "zarr3_xor_codec:Xor", namespace="zarr3")

    register_plugin(Plugin(), name="zarr3-xor-test")
    try:
        store = ts.open({"driver": "zarr3", "kvstore": "memory://xor/", "metadata": {"codecs": ["bytes", {"name": "test_xor", "configuration": {"key": 1}}]}},
                        create=True, dtype=ts.uint8, shape=[3]).result()
        store.write(np.array([1, 2, 3], np.uint8)).result()
        assert store.kvstore["c/0"] == bytes([0, 3, 2])
        np.testing.assert_array_equal(store.read().result(), [1, 2, 3])
    finally:
        reset_registry()
        del sys.modules["zarr3_xor_codec"]


# -- bad input -------------------------------------------------------------------------------------------
def open_with(codecs: Any, chunk: list[int] | None = None) -> Any:
    metadata: dict[str, Any] = {"codecs": codecs}
    if chunk is not None:
        metadata["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": chunk}}
    return ts.open({"driver": "zarr3", "kvstore": "memory://", "metadata": metadata}, create=True, dtype=ts.uint16, shape=[8, 8]).result()


def test_unknown_codec_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r'metadata.codecs\[1\].name: "lz5" is not a registered zarr3 codec \(known codecs: .*"blosc".*"zstd"'):
        open_with(["bytes", "lz5"])


def test_codecs_in_wrong_order() -> None:
    with pytest.raises(ValueError, match=r'codecs\[1\]: expected a bytes -> bytes codec after "zstd"'):
        open_with(["zstd", "bytes"])
    with pytest.raises(ValueError, match=r'codecs\[1\]: "transpose" is an array -> array codec'):
        open_with(["bytes", {"name": "transpose", "configuration": {"order": [1, 0]}}])


def test_shard_shape_must_be_a_multiple_of_the_inner_chunk() -> None:
    with pytest.raises(ValueError, match=r"shard shape \[8, 8\] is not a multiple of the inner chunk shape \[3, 4\]"):
        open_with([{"name": "sharding_indexed", "configuration": {"chunk_shape": [3, 4]}}], [8, 8])


def test_unknown_storage_transformer() -> None:
    with pytest.raises(ValueError, match="storage_transformers: storage transformers are not supported"):
        ts.open({"driver": "zarr3", "kvstore": "memory://", "metadata": {"storage_transformers": [{"name": "chunk_manifest"}]}},
                create=True, dtype=ts.uint8, shape=[2]).result()


def test_corrupt_shard_index_names_the_shard() -> None:
    store = ts.open(sharded_spec("corrupt/", [4, 4], [2, 2]), create=True, dtype=ts.uint16, shape=[4, 4]).result()
    store.write(np.ones((4, 4), np.uint16)).result()
    shard = bytearray(store.kvstore["c/0/0"])
    shard[-10] ^= 0xFF  # inside the index: its crc32c no longer matches
    store.kvstore["c/0/0"] = bytes(shard)
    fresh = store
    with pytest.raises(ValueError, match=r"shard 'corrupt/c/0/0': corrupt shard index: crc32c checksum mismatch"):
        fresh[0, 0].read().result()
    with pytest.raises(ValueError, match=r"shard 'corrupt/c/0/0': corrupt shard index"):
        fresh.read().result()


def test_crc32c_mismatch_names_the_key() -> None:
    store = ts.open({"driver": "zarr3", "kvstore": "memory://crc/", "metadata": {"codecs": ["bytes", "crc32c"]}},
                    create=True, dtype=ts.uint8, shape=[4]).result()
    store.write(np.arange(4, dtype=np.uint8)).result()
    store.kvstore["c/0"] = b"\1\1\2\3" + store.kvstore["c/0"][4:]
    fresh = store
    with pytest.raises(ValueError, match=r"error decoding chunk 'crc/c/0': crc32c checksum mismatch"):
        fresh.read().result()


# -- transactions and resize on sharded arrays ---------------------------------------------------------
def test_transaction_on_a_sharded_array() -> None:
    store = ts.open(sharded_spec("txn/", [4, 4], [2, 2]), create=True, dtype=ts.int16, shape=[8, 8]).result()
    data = np.arange(64, dtype=np.int16).reshape(8, 8)
    store.write(data).result()
    txn = ts.Transaction()
    store.with_transaction(txn)[1:3, 1:3].write(-1).result()  # reads and writes 4 inner chunks of one shard
    np.testing.assert_array_equal(store[1:3, 1:3].read().result(), data[1:3, 1:3])
    txn.commit_sync()
    data[1:3, 1:3] = -1
    np.testing.assert_array_equal(store.read().result(), data)


def test_resize_a_sharded_array() -> None:
    store = ts.open(sharded_spec("resize/", [4, 4], [2, 2]), create=True, dtype=ts.int16, shape=[8, 8]).result()
    store.write(np.arange(1, 65, dtype=np.int16).reshape(8, 8)).result()
    smaller = store.resize(exclusive_max=[5, 5]).result()
    grown = smaller.resize(exclusive_max=[8, 8]).result()
    expected = np.zeros((8, 8), np.int16)
    expected[:5, :5] = np.arange(1, 65, dtype=np.int16).reshape(8, 8)[:5, :5]
    np.testing.assert_array_equal(grown.read().result(), expected)


def test_storage_statistics_of_many_inner_chunks_lists_shards() -> None:
    store = ts.open(sharded_spec("stats/", [16, 16], [2, 2]), create=True, dtype=ts.uint8, shape=[32, 32]).result()
    store[0:16, 0:16].write(1).result()
    store.kvstore["stray"] = b"not a shard"
    whole = store.storage_statistics(query_not_stored=True, query_fully_stored=True).result()
    assert (whole.not_stored, whole.fully_stored) == (False, False)
    first = store[0:16, 0:16].storage_statistics(query_fully_stored=True).result()
    assert first.fully_stored


def test_open_with_equivalent_metadata_constraints() -> None:
    context = ts.Context()
    spec = {"driver": "zarr3", "kvstore": "memory://same/", "metadata": {"fill_value": "NaN"}}
    ts.open(spec, create=True, dtype=ts.float32, shape=[4], context=context).result()
    equivalent = {"fill_value": "NaN", "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}}}
    ts.open({**spec, "metadata": equivalent}, open=True, context=context).result()
    with pytest.raises(ValueError, match=r"metadata\.fill_value: expected 1\.0"):
        ts.open({**spec, "metadata": {"fill_value": 1}}, open=True, context=context).result()


def test_sharded_whole_chunk_writes_through_transposed_and_strided_views(tmp_path: Any) -> None:
    # Whole inner chunks are encoded straight from the caller's array: that must hold for
    # views whose memory order differs from the chunk's (transposed, strided sources).
    store = ts.open({
        "driver": "zarr3", "kvstore": {"driver": "file", "path": f"{tmp_path}/s/"},
        "metadata": {"shape": [8, 12], "data_type": "int32",
                     "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [8, 12]}},
                     "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [4, 4]}}]},
    }, create=True).result()
    model = np.arange(96, dtype=np.int32).reshape(8, 12)
    store.T.write(model.T.copy()).result()
    np.testing.assert_array_equal(store.read().result(), model)
    wide = np.arange(8 * 24, dtype=np.int32).reshape(8, 24)
    store.write(wide[:, ::2]).result()
    np.testing.assert_array_equal(store.read().result(), wide[:, ::2])
