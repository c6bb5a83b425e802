"""The neuroglancer_uint64_sharded kvstore: conformance over memory and file bases, byte-range
reads, write_many, 16-byte keys, corrupt shards and spec errors."""

from __future__ import annotations

import struct
from typing import Any

import pytest

import ts_core as ts
from ts_core.kvstore import NO_VALUE, KvStoreDriver, ReadOptions, ReadResult
from ts_core.testing.kvstore import KvStoreConformance
from ts_precomputed._sharded_kvstore import ShardedKvStore
from ts_precomputed._sharding import ShardingSpec, encode_shard

SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1",
    "hash": "identity",
    "preshift_bits": 1,
    "minishard_bits": 2,
    "shard_bits": 2,
    "data_encoding": "raw",
    "minishard_index_encoding": "gzip",
}


def key(chunk_id: int) -> bytes:
    return struct.pack(">Q", chunk_id)


def open_store(base: Any, **metadata: Any) -> ts.KvStore:
    return ts.KvStore.open(
        {"driver": "neuroglancer_uint64_sharded", "base": base, "metadata": {**SHARDING, **metadata}}
    ).result()


class ChunkIdKeys:
    """The suite's key names as 8-byte chunk ids: the name's bytes, NUL-padded or cut to 8
    bytes (the same order; the suite's names stay distinct)."""

    supports_path_prefix = False
    # A chunk's generation is a digest of its bytes (see the module's docstring).
    generation_changes_on_identical_rewrite = False

    def key(self, name: str) -> bytes:
        return name.encode().ljust(8, b"\x00")[:8]


class TestMemoryConformance(ChunkIdKeys, KvStoreConformance):
    @pytest.fixture
    def kvstore(self) -> ts.KvStore:
        return open_store("memory://conformance/")


class TestFileConformance(ChunkIdKeys, KvStoreConformance):
    @pytest.fixture
    def kvstore(self, tmp_path: Any) -> ts.KvStore:
        return open_store(f"file://{tmp_path}/sharded", data_encoding="gzip", hash="murmurhash3_x86_128")


# -- what reads and writes ask of the base ----------------------------------------------------
class CountingDriver(KvStoreDriver):
    """Wraps a driver, recording every read's (key, byte range) and every write's key."""

    id = "counting_test"
    spec_class = dict

    def __init__(self, inner: KvStoreDriver) -> None:
        self.inner = inner
        self.reads: list[tuple[bytes, int, int | None]] = []
        self.writes: list[bytes] = []

    @classmethod
    def open(cls, spec: Any, context: Any) -> CountingDriver:
        raise NotImplementedError

    @property
    def spec(self) -> Any:
        return self.inner.spec

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        self.reads.append((key, options.byte_range.inclusive_min, options.byte_range.exclusive_max))
        return self.inner.read(key, options)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        self.writes.append(key)
        return self.inner.write(key, value, if_equal)

    def delete_range(self, key_range: Any) -> None:
        self.inner.delete_range(key_range)

    def list(self, key_range: Any) -> Any:
        return self.inner.list(key_range)


def counting_store(**metadata: Any) -> tuple[ShardedKvStore, CountingDriver]:
    base = ts.KvStore.open("memory://counted/").result()
    counting = CountingDriver(base.driver)
    sharding = ShardingSpec.from_json({**SHARDING, **metadata})
    return ShardedKvStore.over(ts.KvStore(counting, base.path), sharding), counting


def test_read_fetches_index_entry_minishard_index_and_data_only() -> None:
    store, counting = counting_store(minishard_bits=4)
    store.write_many({chunk_id: bytes([chunk_id % 256]) * 1000 for chunk_id in range(0, 4000, 7)})
    counting.reads.clear()
    result = store.read(key(14), ReadOptions())
    assert result.value == bytes([14]) * 1000
    # shard index entry (16 bytes), minishard index, chunk data: three ranged reads
    assert len(counting.reads) == 3
    (_, start, stop), *_ = counting.reads
    minishard = ShardingSpec.from_json({**SHARDING, "minishard_bits": 4}).locate(14)[1]
    assert (start, stop) == (16 * minishard, 16 * minishard + 16)
    assert all(stop is not None and stop - start <= 1000 + 4096 for _, start, stop in counting.reads)
    # the shard unchanged, the minishard index is remembered: entry and data only
    counting.reads.clear()
    assert store.read(key(14), ReadOptions()).value == bytes([14]) * 1000
    assert len(counting.reads) == 2
    store.write(key(14), b"new", None)
    counting.reads.clear()
    assert store.read(key(14), ReadOptions()).value == b"new"  # a new generation: read again
    assert len(counting.reads) == 3


def test_write_many_writes_each_shard_once_and_whole_shards_without_reading() -> None:
    store, counting = counting_store()
    values = {chunk_id: b"v%d" % chunk_id for chunk_id in range(64)}
    store.write_many(values, whole_shards=True)
    assert counting.reads == []
    shards = {store.shard_of(chunk_id) for chunk_id in values}
    assert sorted(counting.writes) == sorted(store.shard(s).key for s in shards)
    counting.writes.clear()
    store.write_many({1: b"one", 2: None})  # one shard, read-modify-write
    assert len(counting.writes) == 1
    assert store.read(key(1), ReadOptions()).value == b"one"
    assert store.read(key(2), ReadOptions()).state == "missing"
    assert store.read(key(3), ReadOptions()).value == b"v3"


def test_sized_key_reads_bytes_before_the_chunk() -> None:
    store = open_store("memory://sized/", minishard_index_encoding="raw")
    store[key(0)] = b"first"
    store[key(1)] = b"second"  # chunk ids 0 and 1: same shard and minishard, stored in order
    assert store.read(key(1) + struct.pack(">Q", 3)).result().value == b"rst"
    assert store.read(key(0) + struct.pack(">Q", 0)).result().value == b""
    assert store.read(key(5) + struct.pack(">Q", 1)).result().state == "missing"
    with pytest.raises(ValueError, match="exceeds the offset"):
        store.read(key(0) + struct.pack(">Q", 1)).result()
    with pytest.raises(ValueError, match="read-only"):
        store.write(key(0) + struct.pack(">Q", 1), b"x").result()
    assert store.list().result() == [key(0), key(1)]


def test_invalid_keys_are_named() -> None:
    store = open_store("memory://keys/")
    with pytest.raises(ValueError, match=r"invalid key b'abc'"):
        store.read("abc").result()
    with pytest.raises(ValueError, match=r"invalid key b'\\x00\\x01'"):
        store.write(b"\x00\x01", b"x").result()


def test_spec_json_as_tensorstore() -> None:
    store = open_store("memory://spec", data_encoding="gzip")
    assert store.spec().to_json() == {
        "base": {"driver": "memory", "path": "spec/"},
        "driver": "neuroglancer_uint64_sharded",
        "metadata": {**SHARDING, "data_encoding": "gzip"},
    }
    store[key(16)] = b"x"  # 16 >> preshift_bits 1 = 8: minishard 0 (low 2 bits), shard 2
    assert store.base is not None
    assert store.base.list().result() == [b"2.shard"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shard_bits": 63}, r"kvstore\.metadata\.shard_bits: expected an integer in \[0, 62\]"),
        ({"minishard_bits": 33}, r"kvstore\.metadata\.minishard_bits"),
        ({"hash": "md5"}, r"kvstore\.metadata\.hash"),
        ({"@type": "v2"}, r"kvstore\.metadata\.@type"),
        ({"data_encoding": "zstd"}, r"kvstore\.metadata\.data_encoding"),
        ({"preshift_bits": -1}, r"kvstore\.metadata\.preshift_bits"),
        ({"extra": 1}, r"kvstore\.metadata"),
    ],
)
def test_bad_sharding_spec_names_the_member(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store("memory://bad/", **change)


def test_missing_members_are_named() -> None:
    with pytest.raises(ValueError, match=r"kvstore.*metadata"):
        ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": "memory://"}).result()
    incomplete = {k: v for k, v in SHARDING.items() if k != "shard_bits"}
    with pytest.raises(ValueError, match="shard_bits"):
        ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": "memory://", "metadata": incomplete}).result()


# -- corrupt shards ---------------------------------------------------------------------------
def corrupt_setup(tmp_path: Any) -> tuple[ts.KvStore, ts.KvStore, bytes, bytes]:
    """A store with chunks 0..63 over a file base; the name of one shard and its bytes."""
    store = open_store(f"file://{tmp_path}/corrupt", minishard_index_encoding="raw")
    store.driver.write_many({chunk_id: b"c%d" % chunk_id for chunk_id in range(64)})  # type: ignore[attr-defined]
    base = store.base
    assert base is not None
    return store, base, b"0.shard", base[b"0.shard"]


def entry(minishard: int, start: int, end: int) -> tuple[int, bytes]:
    return 16 * minishard, struct.pack("<QQ", start, end)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (entry(0, 0, 1 << 40), r"minishard 0 gives its index \d+ bytes|past the end"),
        (entry(0, 50, 10), r"minishard 0 is not a valid byte range \[50, 10\)"),
        (entry(0, 2**63, 2**64 - 1), r"minishard 0 is not a valid byte range"),
        (entry(0, 0, 4000), r"points to bytes \[\d+, \d+\), past the end of the shard"),
        (entry(0, 0, 5), r"invalid minishard index length 5"),
    ],
)
def test_corrupt_shard_index_is_an_error_naming_the_shard(
    tmp_path: Any, patch: tuple[int, bytes], message: str
) -> None:
    store, base, name, data = corrupt_setup(tmp_path)
    offset, replacement = patch
    corrupted = data[:offset] + replacement + data[offset + len(replacement) :]
    base[name] = corrupted
    chunk_in_minishard_0 = next(c for c in range(64) if store.driver.sharding.locate(c) == (0, 0))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=message) as raised:
        store.read(key(chunk_in_minishard_0)).result()
    assert "0.shard" in str(raised.value)
    # other shards stay readable
    other = next(c for c in range(64) if store.driver.sharding.locate(c)[0] != 0)  # type: ignore[attr-defined]
    assert store[key(other)] == b"c%d" % other
    # writing into the corrupt shard refuses rather than dropping its chunks
    with pytest.raises(ValueError, match=r"0\.shard"):
        store.write(key(chunk_in_minishard_0), b"new").result()
    assert base[name] == corrupted  # untouched
    with pytest.raises(ValueError, match=r"0\.shard"):
        store.list().result()


def test_overlapping_minishard_indices_are_refused_on_write(tmp_path: Any) -> None:
    store, base, name, data = corrupt_setup(tmp_path)
    index = bytearray(data[:64])
    index[16:32] = index[0:16]  # minishard 1 claims minishard 0's index
    base[name] = bytes(index) + data[64:]
    with pytest.raises(ValueError, match="overlap"):
        store.write(key(0), b"x").result()


def test_truncated_shard_is_an_error(tmp_path: Any) -> None:
    store, base, name, data = corrupt_setup(tmp_path)
    base[name] = data[:10]
    with pytest.raises(ValueError, match=r"0\.shard.*shorter than its 64-byte shard index"):
        store.read(key(0)).result()


def test_corrupt_gzip_data_names_the_chunk(tmp_path: Any) -> None:
    store = open_store(f"file://{tmp_path}/gz", data_encoding="gzip")
    sharding = ShardingSpec.from_json({**SHARDING, "data_encoding": "gzip"})
    shard = encode_shard(sharding, {0: b"not gzip at all"})
    assert store.base is not None
    assert shard is not None
    store.base[b"0.shard"] = shard
    with pytest.raises(ValueError, match="chunk 0: invalid gzip data"):
        store.read(key(0)).result()


def test_empty_shard_is_deleted() -> None:
    store = open_store("memory://empty/")
    store[key(5)] = b"x"
    del store[key(5)]
    assert store.base is not None
    assert store.base.list().result() == []
    assert store.read(key(5)).result().stamp.generation == NO_VALUE


class ClippingDriver(CountingDriver):
    """A base that answers a range past the end with the bytes there are (as some HTTP
    servers do) instead of an error."""

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        whole = self.inner.read(key, ReadOptions(options.if_not_equal, options.staleness_bound))
        if whole.state != "value" or options.byte_range.is_full:
            return whole
        start, stop = options.byte_range.inclusive_min, options.byte_range.exclusive_max
        return ReadResult("value", whole.value[start:stop], whole.stamp)


def test_ranges_cut_short_by_the_base_are_corrupt_shards() -> None:
    base = ts.KvStore.open("memory://clipped/").result()
    store = ShardedKvStore.over(ts.KvStore(ClippingDriver(base.driver), base.path), ShardingSpec.from_json(SHARDING))
    store.write_many({chunk_id: b"c%d" % chunk_id for chunk_id in range(16)})
    assert store.read(key(3), ReadOptions()).value == b"c3"
    shard = store.shard(0)
    data = base.driver.read(shard.key, ReadOptions()).value
    minishard = store.sharding.locate(0)[1]
    patched = bytearray(data)
    patched[16 * minishard : 16 * minishard + 16] = struct.pack("<QQ", 0, len(data) + 100)
    base.driver.write(shard.key, bytes(patched), None)
    with pytest.raises(ValueError, match=r"corrupt shard .*0\.shard.*past the end of the shard"):
        store.read(key(0), ReadOptions())
    base.driver.write(shard.key, data[:10], None)
    with pytest.raises(ValueError, match="shorter than its 64-byte shard index"):
        store.read(key(0), ReadOptions())


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_keeps_reading() -> None:
    import os

    store = open_store("memory://forked/")
    store[key(4)] = b"four"
    assert store[key(4)] == b"four"  # minishard index now remembered
    driver = store.driver
    assert isinstance(driver, ShardedKvStore)
    with driver.minishard_indexes.lock:  # held while the process forks
        pid = os.fork()
        if pid == 0:  # the child: its copy of the cache has a fresh lock and no entries
            ok = store[key(4)] == b"four" and len(driver.minishard_indexes.entries) == 1
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
