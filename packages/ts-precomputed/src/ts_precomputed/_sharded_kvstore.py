"""The ``neuroglancer_uint64_sharded`` kvstore: chunks stored in the shards of a base kvstore.

Keys are chunk ids as 8-byte big-endian uint64s (tensorstore's 16-byte form, a chunk id and
a size, reads that many raw bytes just before the chunk; it is read-only and not listed).
A read fetches only what it needs with byte-range reads of the shard: its shard index
entry, its minishard index, its data; the three must see one shard generation, else the
read starts again. A write is a read-modify-write of the whole shard conditioned on the
generation read, repeated on a conflict, so concurrent writers of one shard lose nothing;
``write_many`` writes many chunks with one shard write each.

A chunk's generation is a digest of its stored bytes, not the shard's generation (which
tensorstore reports): writing one chunk of a shard leaves its neighbours' generations
alone, so a transaction that read a chunk does not conflict with writes to the others.

A transaction commits its chunks through ``commit_atomic``, grouped per shard: one
conditional write per shard, each chunk's condition checked against the shard it read.
Over a base that commits many keys at once (ocdbt) every shard goes to the base in one
call (one version); over a plain base the shards are written one after another, each all
or nothing (see docs/precomputed.md, Sharding).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ts_core.errors import TransactionConflictError
from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    ByteRange,
    KeyRange,
    KvStore,
    KvStoreDriver,
    KvStoreSpec,
    ReadOptions,
    ReadResult,
    StagedConditionFailed,
    StagedWrite,
    TimestampedStorageGeneration,
    coalesce_byte_ranges,
    commit_staged,
    make_generation,
    prefix_range,
)

from ._sharding import (
    MAX_MINISHARD_INDEX_BYTES,
    SHARD_INDEX_ENTRY_BYTES,
    MinishardIndex,
    ShardingSpec,
    decode_data,
    decode_minishard_index,
    decode_shard_index,
    encode_data,
    encode_shard,
    split_shard,
)

__all__ = [
    "ChunkConditionFailed",
    "MinishardIndexCache",
    "ShardFile",
    "ShardedKvStore",
    "ShardedKvStoreSpec",
    "chunk_generation",
    "chunk_id_key",
    "key_chunk_id",
]

#: How often a read starts again when the shard changes between its byte-range reads.
MAX_READ_ATTEMPTS = 20
#: Gap (bytes) below which two wanted byte ranges of a shard are read as one.
COALESCE_GAP = 4096
#: Bytes of a chunk-id key, and of the read-only (chunk id, size before chunk) key.
CHUNK_KEY_BYTES = 8
SIZED_KEY_BYTES = 16
#: Decoded minishard indices a sharded kvstore keeps (each at most a few KiB for typical
#: shards; the ones of recently read shards).
MINISHARD_INDEX_CACHE_ENTRIES = 1024
#: First and largest pause (seconds) after a shard write lost to another writer.
CONFLICT_BACKOFF = 0.001
MAX_CONFLICT_BACKOFF = 0.05


#: What an adapter's ``lower`` gives: writes and deleted ranges of the store below it.
LoweredWrites = tuple[list[StagedWrite], list[KeyRange]]


def chunk_id_key(chunk_id: int) -> bytes:
    """The 8-byte big-endian key of a chunk id."""
    return struct.pack(">Q", chunk_id)


def key_chunk_id(key: bytes) -> int:
    """The chunk id an 8-byte key names; ValueError naming the key otherwise."""
    if len(key) != CHUNK_KEY_BYTES:
        raise ValueError(f"invalid key {key!r}: a neuroglancer_uint64_sharded key is an 8-byte big-endian chunk id")
    return int(struct.unpack(">Q", key)[0])


def chunk_generation(stored: bytes | None) -> bytes:
    """Generation of one chunk: a digest of its stored bytes (no value when absent)."""
    if stored is None:
        return NO_VALUE
    return make_generation(hashlib.blake2b(stored, digest_size=16).digest())


def coalesce(ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP) -> list[tuple[int, int]]:
    """Ranges that overlap or lie at most ``gap`` apart merged (one ranged read each)."""
    return coalesce_byte_ranges(ranges, gap)


_caches: weakref.WeakSet[MinishardIndexCache] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for cache in list(_caches):
        cache.reset()


os.register_at_fork(after_in_child=_reset_after_fork)


class MinishardIndexCache:
    """Decoded minishard indices by (shard key, minishard, shard generation), the most
    recently used few kept: a chunk read whose shard is unchanged then skips the read of
    its minishard index (the shard index entry read gives the generation)."""

    def __init__(self, capacity: int = MINISHARD_INDEX_CACHE_ENTRIES) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[bytes, int, bytes], MinishardIndex] = OrderedDict()
        self.lock = threading.Lock()
        _caches.add(self)

    def reset(self) -> None:
        """Forget everything, with a new lock (in a forked child, where another thread of
        the parent may have held the old one)."""
        self.lock = threading.Lock()
        self.entries = OrderedDict()

    def get(self, key: tuple[bytes, int, bytes]) -> MinishardIndex | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: tuple[bytes, int, bytes], index: MinishardIndex) -> None:
        with self.lock:
            self.entries[key] = index
            self.entries.move_to_end(key)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)


class ChunkConditionFailed(StagedConditionFailed):
    """A chunk's condition failed inside a commit's shard modification: the commit writes
    nothing (raised through the base's ``commit_atomic``; the commit reports a conflict)."""


class _ShardChanged(Exception):
    """The shard was rewritten between two reads of one operation: start again."""


class ShardFile:
    """One shard object (full key ``key`` in the base driver ``base``)."""

    def __init__(self, base: KvStoreDriver, key: bytes, spec: ShardingSpec, cache: MinishardIndexCache | None = None) -> None:
        self.base, self.key, self.spec = base, key, spec
        self.cache = cache

    @property
    def name(self) -> str:
        """The shard as error messages name it."""
        return f"shard {self.base.describe_key(self.key)}"

    # -- reads -----------------------------------------------------------------------------
    def _read_range(self, start: int, stop: int, generation: bytes | None, what: str) -> ReadResult:
        """Bytes ``[start, stop)`` of the shard; _ShardChanged if its generation is not
        ``generation`` (unless None), ValueError naming the shard if they lie past its end."""
        try:
            result = self.base.read(self.key, ReadOptions(byte_range=ByteRange(start, stop)))
        except ValueError:
            current = self.base.read(self.key, ReadOptions(byte_range=ByteRange(0, 0)))
            if generation is not None and current.stamp.generation != generation:
                raise _ShardChanged from None
            raise ValueError(f"corrupt {self.name}: {what} points to bytes [{start}, {stop}), past the end of the shard") from None
        if generation is not None and (result.state != "value" or result.stamp.generation != generation):
            raise _ShardChanged
        if result.state == "value" and len(result.value) != stop - start:  # a store that cuts ranges short
            raise ValueError(f"corrupt {self.name}: {what} points to bytes [{start}, {stop}), past the end of the shard")
        return result

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        for _ in range(MAX_READ_ATTEMPTS):
            try:
                return attempt()
            except _ShardChanged:
                continue
        raise ValueError(f"{self.name} kept changing while it was read ({MAX_READ_ATTEMPTS} attempts)")

    def _read_index_entries(self, minishards: Iterable[int]) -> tuple[ReadResult, dict[int, tuple[int, int]]]:
        """Shard index entries of ``minishards`` (absolute byte ranges of their minishard
        indices; empty minishards omitted). The result is 'missing' for no shard."""
        header = self.spec.shard_index_size
        wanted = sorted(set(minishards))
        ranges = coalesce((m * SHARD_INDEX_ENTRY_BYTES, (m + 1) * SHARD_INDEX_ENTRY_BYTES) for m in wanted)
        first: ReadResult | None = None
        entries: dict[int, tuple[int, int]] = {}
        for start, stop in ranges:
            if first is None:
                try:
                    result = self.base.read(self.key, ReadOptions(byte_range=ByteRange(start, stop)))
                except ValueError:
                    raise ValueError(f"corrupt {self.name}: shorter than its {header}-byte shard index") from None
                if result.state != "value":
                    return result, {}
                if len(result.value) != stop - start:
                    raise ValueError(f"corrupt {self.name}: shorter than its {header}-byte shard index")
                first = result
            else:
                result = self._read_range(start, stop, first.stamp.generation, "the shard index")
            decoded = decode_shard_index(result.value, f"corrupt {self.name}")
            for m in wanted:
                if start <= m * SHARD_INDEX_ENTRY_BYTES < stop:
                    begin, end = (int(v) for v in decoded[(m * SHARD_INDEX_ENTRY_BYTES - start) // SHARD_INDEX_ENTRY_BYTES])
                    if end - begin > MAX_MINISHARD_INDEX_BYTES:
                        raise ValueError(
                            f"corrupt {self.name}: shard index entry for minishard {m} gives its index "
                            f"{end - begin} bytes, more than the {MAX_MINISHARD_INDEX_BYTES} allowed"
                        )
                    if end > begin:
                        entries[m] = (header + begin, header + end)
        assert first is not None
        return first, entries

    def _read_minishard_indexes(
        self, entries: Mapping[int, tuple[int, int]], generation: bytes
    ) -> dict[int, MinishardIndex]:
        indexes: dict[int, MinishardIndex] = {}
        cache = self.cache
        wanted = dict(entries)
        if cache is not None:
            for minishard in list(wanted):
                cached = cache.get((self.key, minishard, generation))
                if cached is not None:
                    indexes[minishard] = cached
                    del wanted[minishard]
        for start, stop in coalesce(wanted.values()):
            part = self._read_range(start, stop, generation, "the shard index")
            for minishard, (begin, end) in wanted.items():
                if start <= begin and end <= stop:
                    indexes[minishard] = decode_minishard_index(
                        part.value[begin - start : end - start], self.spec.minishard_index_encoding,
                        f"corrupt {self.name}: minishard {minishard}",
                    )
                    if cache is not None:
                        cache.put((self.key, minishard, generation), indexes[minishard])
        return indexes

    def read_chunks(self, chunk_ids: Sequence[int]) -> tuple[TimestampedStorageGeneration, dict[int, bytes]]:
        """Stored (data-encoded) bytes of the chunks ``chunk_ids`` of this shard (absent ones
        omitted) and the shard's stamp: index entries, minishard indices and data each
        fetched with coalesced byte-range reads of one shard generation."""
        located = {chunk_id: self.spec.locate(chunk_id)[1] for chunk_id in chunk_ids}
        header = self.spec.shard_index_size

        def attempt() -> tuple[TimestampedStorageGeneration, dict[int, bytes]]:
            result, entries = self._read_index_entries(located.values())
            if result.state != "value":
                return result.stamp, {}
            generation = result.stamp.generation
            indexes = self._read_minishard_indexes(entries, generation)
            wanted: dict[int, tuple[int, int]] = {}
            for chunk_id, minishard in located.items():
                index = indexes.get(minishard)
                found = None if index is None else index.find(chunk_id)
                if found is not None:
                    wanted[chunk_id] = (header + found[0], header + found[1])
            chunks: dict[int, bytes] = {}
            for start, stop in coalesce(r for r in wanted.values() if r[1] > r[0]):
                part = self._read_range(start, stop, generation, "a minishard index")
                for chunk_id, (begin, end) in wanted.items():
                    if start <= begin and end <= stop and end > begin:
                        chunks[chunk_id] = part.value[begin - start : end - start]
            for chunk_id, (begin, end) in wanted.items():
                if end == begin:
                    chunks[chunk_id] = b""
            return result.stamp, chunks

        stamp: TimestampedStorageGeneration
        stamp, chunks = self._retrying(attempt)
        return stamp, chunks

    def read_before_chunk(self, chunk_id: int, size: int) -> tuple[TimestampedStorageGeneration, bytes | None]:
        """The ``size`` raw bytes just before chunk ``chunk_id`` in the shard (None when the
        chunk is absent)."""
        minishard = self.spec.locate(chunk_id)[1]
        header = self.spec.shard_index_size

        def attempt() -> tuple[TimestampedStorageGeneration, bytes | None]:
            result, entries = self._read_index_entries([minishard])
            if result.state != "value" or minishard not in entries:
                return result.stamp, None
            index = self._read_minishard_indexes(entries, result.stamp.generation)[minishard]
            found = index.find(chunk_id)
            if found is None:
                return result.stamp, None
            if size > found[0]:
                raise ValueError(f"requested size {size} exceeds the offset {found[0]} of chunk {chunk_id} in {self.name}")
            start = header + found[0]
            return result.stamp, self._read_range(start - size, start, result.stamp.generation, "a minishard index").value

        stamp: TimestampedStorageGeneration
        stamp, value = self._retrying(attempt)
        return stamp, value

    def chunk_ids(self) -> list[int]:
        """Ids of every chunk in the shard (reads the indices, not the data)."""

        def attempt() -> list[int]:
            result, entries = self._read_index_entries(range(self.spec.num_minishards))
            if result.state != "value":
                return []
            indexes = self._read_minishard_indexes(entries, result.stamp.generation)
            return sorted(int(i) for index in indexes.values() for i in index.chunk_ids)

        ids: list[int] = self._retrying(attempt)
        return ids

    def read_all(self) -> tuple[bytes, dict[int, bytes]]:
        """Generation and every chunk (stored bytes) of the whole shard, in one read."""
        result = self.base.read(self.key, ReadOptions())
        if result.state != "value":
            return NO_VALUE, {}
        return result.stamp.generation, split_shard(self.spec, result.value, f"corrupt {self.name}")

    # -- writes ------------------------------------------------------------------------------
    def write_all(self, chunks: Mapping[int, bytes], if_equal: bytes | None) -> TimestampedStorageGeneration:
        """Replace the shard by one holding ``chunks`` (delete it when there are none)."""
        return self.base.write(self.key, encode_shard(self.spec, chunks), if_equal)

    def read_modify_write(
        self, update: Callable[[dict[int, bytes]], bool], *, read: bool = True
    ) -> TimestampedStorageGeneration | None:
        """Apply ``update`` to the shard's chunks (a dict changed in place) and write the
        shard conditioned on the generation read; when another writer got there first,
        read again and re-apply. ``update`` returning False writes nothing (None is
        returned). With ``read=False`` the shard is written once, from no chunks, with no
        read and no condition (the caller replaces every chunk it holds)."""
        conflicts = 0
        while True:
            generation, chunks = self.read_all() if read else (None, {})
            if not update(chunks):
                return None
            stamp = self.write_all(chunks, generation)
            if generation is None or stamp.generation != UNKNOWN:
                return stamp
            # Another writer got there first: back off a little (randomised, growing), so
            # writers contending for one shard take turns instead of colliding again.
            conflicts += 1
            time.sleep(random.uniform(0, min(CONFLICT_BACKOFF * (1 << min(conflicts, 10)), MAX_CONFLICT_BACKOFF)))


def _deleted(stored: bytes | None) -> bytes | None:
    return None


# -- the kvstore driver ------------------------------------------------------------------------
def _base_json(value: Any) -> Any:
    if value is None:
        return None
    json_value = KvStoreSpec(value, json_path="base").to_json()
    path = json_value.get("path", "")
    if path and not path.endswith("/"):
        json_value["path"] = path + "/"  # shards live in the base path as a directory
    return json_value


def _metadata_json(value: Any) -> Any:
    """The sharding spec with its defaults spelled out (as tensorstore's spec writes it);
    one the schema lets through but that is still invalid is reported by ``open``, where
    the error can name its full JSON path."""
    try:
        return None if value is None else ShardingSpec.from_json(value, "metadata").to_json()
    except ValueError:
        return value


@attrs.define
class ShardedKvStoreSpec:
    """Members of a ``neuroglancer_uint64_sharded`` kvstore spec."""

    base: Any = attrs.field(default=None, converter=_base_json)
    metadata: Any = attrs.field(default=None, converter=_metadata_json)
    cache_pool: Any = "cache_pool"
    data_copy_concurrency: Any = "data_copy_concurrency"


class ShardedKvStore(KvStoreDriver):
    """Chunk ids (8-byte big-endian keys) stored in ``<base>/<shard>.shard`` files."""

    id = "neuroglancer_uint64_sharded"
    spec_class = ShardedKvStoreSpec

    def __init__(self, spec: ShardedKvStoreSpec | None, base: KvStore, sharding: ShardingSpec) -> None:
        self._spec = spec
        self._base_kvstore = base
        self.sharding = sharding
        self.base = base.driver
        self.prefix = base.path.encode("utf-8")
        self.minishard_indexes = MinishardIndexCache()
        self.local_io = base.driver.local_io  # type: ignore[misc]

    @classmethod
    def open(cls, spec: ShardedKvStoreSpec, context: Any) -> ShardedKvStore:
        if spec.base is None:
            raise ValueError('kvstore.base: the "neuroglancer_uint64_sharded" kvstore needs a "base" kvstore')
        if spec.metadata is None:
            raise ValueError('kvstore.metadata: the "neuroglancer_uint64_sharded" kvstore needs its sharding "metadata"')
        base = KvStore.open(spec.base, context=context).result()
        return cls(spec, base, ShardingSpec.from_json(spec.metadata, "kvstore.metadata"))

    @classmethod
    def over(cls, base: KvStore, sharding: ShardingSpec) -> ShardedKvStore:
        """The kvstore of ``sharding`` over an open base kvstore (the driver's sharded scales)."""
        path = base.path if not base.path or base.path.endswith("/") else base.path + "/"
        return cls(None, KvStore(base.driver, path, base.transaction, base.context), sharding)

    @property
    def spec(self) -> ShardedKvStoreSpec:
        if self._spec is None:
            self._spec = ShardedKvStoreSpec(base=self._base_kvstore.spec().to_json(), metadata=self.sharding.to_json())
        return self._spec

    @classmethod
    def base_spec(cls, spec: ShardedKvStoreSpec) -> Any:
        return spec.base

    @property
    def base_kvstore(self) -> KvStore:
        return self._base_kvstore

    @property
    def executor(self) -> Any:
        return self.base.executor

    def shard(self, shard: int) -> ShardFile:
        """The shard file of shard number ``shard``."""
        return ShardFile(self.base, self.prefix + self.sharding.shard_name(shard).encode(), self.sharding, self.minishard_indexes)

    def shard_of(self, chunk_id: int) -> int:
        return self.sharding.locate(chunk_id)[0]

    def describe_key(self, key: bytes) -> str:
        if len(key) not in (CHUNK_KEY_BYTES, SIZED_KEY_BYTES):
            return f"invalid key {key!r}"
        chunk_id = int(struct.unpack(">Q", key[:8])[0])
        shard, minishard = self.sharding.locate(chunk_id)
        return f"chunk {chunk_id} in minishard {minishard} in {self.shard(shard).name}"

    # -- reads -------------------------------------------------------------------------------
    def decode(self, stored: bytes, chunk_id: int) -> bytes:
        """A chunk's value from its stored bytes (``data_encoding``)."""
        return decode_data(stored, self.sharding.data_encoding, f"chunk {chunk_id}")

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        if len(key) == SIZED_KEY_BYTES:
            chunk_id, size = struct.unpack(">QQ", key)
            stamp, before = self.shard(self.shard_of(chunk_id)).read_before_chunk(int(chunk_id), int(size))
            return self._result(key, before, TimestampedStorageGeneration(chunk_generation(before), stamp.time), options)
        chunk_id = key_chunk_id(key)
        stamp, chunks = self.shard(self.shard_of(chunk_id)).read_chunks([chunk_id])
        stored = chunks.get(chunk_id)
        value = None if stored is None else self.decode(stored, chunk_id)
        return self._result(key, value, TimestampedStorageGeneration(chunk_generation(stored), stamp.time), options)

    def _result(self, key: bytes, value: bytes | None, stamp: TimestampedStorageGeneration, options: ReadOptions) -> ReadResult:
        if options.if_not_equal == stamp.generation:
            return ReadResult("unspecified", b"", stamp)
        if value is None:
            return ReadResult("missing", b"", stamp)
        if not options.byte_range.is_full:
            start, stop = options.byte_range.resolve(len(value), key)
            value = value[start:stop]
        return ReadResult("value", value, stamp)

    # -- writes ------------------------------------------------------------------------------
    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if len(key) == SIZED_KEY_BYTES:
            raise ValueError(f"key {key!r}: a 16-byte (chunk id, size) key is read-only")
        chunk_id = key_chunk_id(key)
        stored = None if value is None else encode_data(value, self.sharding.data_encoding)
        outcome = [NO_VALUE]  # generation reported when nothing is written

        def update(chunks: dict[int, bytes]) -> bool:
            if if_equal not in (None, UNKNOWN) and if_equal != chunk_generation(chunks.get(chunk_id)):
                outcome[0] = UNKNOWN  # the condition failed
                return False
            if stored is not None:
                chunks[chunk_id] = stored
                return True
            return chunks.pop(chunk_id, None) is not None  # deleting an absent chunk writes nothing

        stamp = self.shard(self.shard_of(chunk_id)).read_modify_write(update)
        if stamp is None:
            return TimestampedStorageGeneration(outcome[0], time.time())
        return TimestampedStorageGeneration(chunk_generation(stored), stamp.time)

    def write_many(
        self, values: Mapping[bytes | int, bytes | None], *, whole_shards: bool = False
    ) -> dict[int, bytes]:
        """Write (or, for None, delete) many chunks, one shard write per shard touched.

        Keys are chunk ids or their 8-byte keys. Each shard is read, changed and written
        back conditioned on the generation read (again on a conflict); with
        ``whole_shards=True`` every shard touched is replaced by exactly the chunks given
        for it, with one write and no read. Returns each chunk id's new generation.
        """
        groups: dict[int, dict[int, bytes | None]] = {}
        for key, value in values.items():
            chunk_id = key if isinstance(key, int) else key_chunk_id(key)
            stored = None if value is None else encode_data(value, self.sharding.data_encoding)
            groups.setdefault(self.shard_of(chunk_id), {})[chunk_id] = stored
        generations: dict[int, bytes] = {}
        for shard, members in groups.items():

            def update(chunks: dict[int, bytes], members: dict[int, bytes | None] = members) -> bool:
                for chunk_id, stored in members.items():
                    if stored is None:
                        chunks.pop(chunk_id, None)
                    else:
                        chunks[chunk_id] = stored
                return True

            self.shard(shard).read_modify_write(update, read=not whole_shards)
            generations.update((chunk_id, chunk_generation(stored)) for chunk_id, stored in members.items())
        return generations

    def delete_range(self, key_range: KeyRange) -> None:
        doomed = [key_chunk_id(key) for key in self.list(key_range)]
        if doomed:
            self.write_many(dict.fromkeys(doomed))

    # -- transactions: one write per shard ------------------------------------------------------
    @property
    def commits_atomically(self) -> bool:
        return True

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        # Over ocdbt the shards of every chunk join the base's commit: one version.
        return self.base if self.base.commits_atomically else None

    def owns(self, key: bytes) -> bool:
        """Whether ``key`` is a chunk key of this store (an 8-byte chunk id)."""
        return len(key) == CHUNK_KEY_BYTES

    def deletes_in(self, key_ranges: Sequence[KeyRange]) -> list[StagedWrite]:
        """Deletions of the stored chunks in ``key_ranges`` (this store's keys)."""
        return [StagedWrite(key, _deleted, reads_stored=False) for key_range in key_ranges for key in self.list(key_range)]

    def group_by_shard(self, writes: Sequence[StagedWrite]) -> dict[int, list[tuple[int, StagedWrite]]]:
        """Chunk writes by shard number, in order."""
        groups: dict[int, list[tuple[int, StagedWrite]]] = {}
        for write in writes:
            chunk_id = key_chunk_id(write.key)
            groups.setdefault(self.shard_of(chunk_id), []).append((chunk_id, write))
        return dict(sorted(groups.items()))

    def apply_writes(self, chunks: dict[int, bytes], items: Sequence[tuple[int, StagedWrite]]) -> None:
        """Apply chunk writes to a shard's chunks (stored bytes by id) in place;
        ChunkConditionFailed when a chunk's condition does not hold."""
        for chunk_id, write in items:
            current = chunks.get(chunk_id)
            if write.condition is not None and write.condition not in (UNKNOWN, chunk_generation(current)):
                raise ChunkConditionFailed(chunk_id)
            if write.modify is None:
                continue
            old = None if current is None or not write.reads_stored else self.decode(current, chunk_id)
            new = write.modify(old)
            if new is None:
                chunks.pop(chunk_id, None)
            else:
                chunks[chunk_id] = encode_data(new, self.sharding.data_encoding)

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> LoweredWrites:
        """This store's chunk writes (and deleted ranges) as one modification per shard of
        the base store; a failed chunk condition raises ChunkConditionFailed from it."""
        groups = self.group_by_shard([*self.deletes_in(deleted_ranges), *writes])
        lowered = []
        for shard, items in groups.items():
            shard_file = self.shard(shard)

            def modify(stored: bytes | None, items: list[tuple[int, StagedWrite]] = items, shard_file: ShardFile = shard_file) -> bytes | None:
                chunks = {} if stored is None else split_shard(self.sharding, stored, f"corrupt {shard_file.name}")
                self.apply_writes(chunks, items)
                return encode_shard(self.sharding, chunks)

            lowered.append(StagedWrite(shard_file.key, modify))
        return lowered, []

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        """Commit a transaction's chunks with one conditional write per shard.

        Over a base with ``commit_atomic`` (ocdbt) all shards are committed by the base in one
        step (a transaction lowers them with ``lower_staged`` into its one commit). Over
        a plain base each shard is written once, conditioned on the shard read; the shards
        are committed in order, each all or nothing: a chunk condition that fails before
        anything is written returns False, one that fails at a later shard (another writer
        changed a chunk in between) raises TransactionConflictError naming the shards
        already written. A shard write lost to another writer that changed other chunks
        is redone on the new shard, so nothing is lost.
        """
        for write in writes:
            if not self.owns(write.key):
                raise ValueError(f"invalid key {write.key!r}: a neuroglancer_uint64_sharded key is an 8-byte big-endian chunk id")
        if self.atomic_base is not None:
            return commit_staged(self, writes, deleted_ranges)
        groups = self.group_by_shard([*self.deletes_in(deleted_ranges), *writes])
        # Check every condition before writing anything: a transaction that read stale
        # chunks fails with nothing written.
        first_reads = {shard: self.shard(shard).read_all() for shard in groups}
        try:
            for shard, items in groups.items():
                self.apply_writes(dict(first_reads[shard][1]), items)
        except ChunkConditionFailed:
            return False
        written: list[str] = []
        for shard, items in groups.items():
            shard_file = self.shard(shard)
            generation, chunks = first_reads[shard]
            conflicts = 0
            while True:
                try:
                    self.apply_writes(chunks, items)
                except ChunkConditionFailed:
                    raise TransactionConflictError(
                        f"commit conflict in {shard_file.name}: a chunk this transaction read changed since; "
                        f"shards already committed: {', '.join(written)}; retry the transaction"
                    ) from None
                if any(write.modify is not None for _, write in items):
                    stamp = shard_file.write_all(chunks, generation)
                    if stamp.generation == UNKNOWN:  # another writer got there first: again
                        conflicts += 1
                        time.sleep(random.uniform(0, min(CONFLICT_BACKOFF * (1 << min(conflicts, 10)), MAX_CONFLICT_BACKOFF)))
                        generation, chunks = shard_file.read_all()
                        continue
                written.append(shard_file.name)
                break
        return True

    # -- listing -------------------------------------------------------------------------------
    def shard_numbers(self) -> list[int]:
        """Numbers of the shards stored in the base kvstore."""
        numbers = []
        for key in self.base.list(prefix_range(self.prefix)):
            shard = self.sharding.parse_shard_name(key[len(self.prefix) :].decode("utf-8", "replace"))
            if shard is not None:
                numbers.append(shard)
        return sorted(numbers)

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        keys = []
        for shard in self.shard_numbers():
            for chunk_id in self.shard(shard).chunk_ids():
                key = chunk_id_key(chunk_id)
                if key_range.contains(key):
                    keys.append(key)
        return keys
