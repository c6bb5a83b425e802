"""Kvstores whose values are inner chunks stored inside shards of a base kvstore.

``ShardingIndexedKvStore`` is the public ``zarr3_sharding_indexed`` kvstore (as in
tensorstore): it views one shard, its keys are the inner-chunk grid positions as big-endian
uint32s. ``ShardedChunkStore`` is the zarr3 driver's view of a whole array: keys
``<shard key>|<i>,<j>,...`` address inner chunks, and every other key passes through to
the base store (so ``zarr.json`` reads and writes are unchanged).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from ts_core.kvstore import (
    KeyRange,
    KvStore,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedConditionFailed,
    StagedWrite,
    TimestampedStorageGeneration,
    commit_staged,
    prefix_range,
)

from ._shard_io import IndexedShard, Position, chunk_generation
from ._sharding import ShardIndexFormat

__all__ = ["INNER_KEY_SEPARATOR", "ShardedChunkStore", "ShardingIndexedKvStore"]

#: Separates the shard key from the inner-chunk position in ShardedChunkStore keys.
INNER_KEY_SEPARATOR = "|"
#: Bytes per dimension of a zarr3_sharding_indexed key (big-endian uint32, as tensorstore).
_KEY_BYTES_PER_DIM = 4


def _slice_value(result: ReadResult, options: ReadOptions, key: bytes) -> ReadResult:
    if result.state != "value" or options.byte_range.is_full:
        return result
    start, stop = options.byte_range.resolve(len(result.value), key)
    return ReadResult("value", result.value[start:stop], result.stamp)


def _read_inner(shard: IndexedShard, position: tuple[int, ...], options: ReadOptions, key: bytes) -> ReadResult:
    result, chunks = shard.read_chunks([position])
    value = chunks.get(position)
    stamp = TimestampedStorageGeneration(chunk_generation(value), result.stamp.time)
    if options.if_not_equal == stamp.generation:
        return ReadResult("unspecified", b"", stamp)
    if value is None:
        return ReadResult("missing", b"", stamp)
    return _slice_value(ReadResult("value", value, stamp), options, key)


class ShardedChunkStore(KvStoreDriver):
    """The zarr3 driver's chunk store over a base driver (not registered; not user-visible)."""

    id = "zarr3_sharded_chunks"
    spec_class = dict

    def __init__(self, base: KvStoreDriver, index_format: ShardIndexFormat, prefix: bytes, is_shard_key: Callable[[bytes], bool]) -> None:
        self.base = base
        self.format = index_format
        self._prefix = prefix
        self._is_shard_key = is_shard_key
        self.local_io = base.local_io  # type: ignore[misc]

    @classmethod
    def open(cls, spec: Any, context: Any) -> ShardedChunkStore:
        raise NotImplementedError("ShardedChunkStore is created by the zarr3 driver")

    @property
    def spec(self) -> Any:
        return self.base.spec

    @property
    def executor(self) -> Any:
        return self.base.executor

    # Keys are confined like the base's: a shard key is a key of the base store.
    def check_path(self, path: str) -> None:
        self.base.check_path(path)

    def check_key(self, path: str, key: bytes) -> None:
        parts = self.split_key(key)
        self.base.check_key(path, key if parts is None else parts[0])

    def check_key_range(self, path: str, key_range: KeyRange) -> None:
        self.base.check_key_range(path, key_range)

    def split_key(self, key: bytes) -> tuple[bytes, tuple[int, ...]] | None:
        text = key.decode("utf-8", "surrogateescape")
        shard_key, separator, position = text.rpartition(INNER_KEY_SEPARATOR)
        if not separator:
            return None
        return shard_key.encode("utf-8", "surrogateescape"), tuple(int(p) for p in position.split(",") if p)

    def shard(self, shard_key: bytes) -> IndexedShard:
        return IndexedShard(self.base, shard_key, self.format)

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        parts = self.split_key(key)
        if parts is None:
            return self.base.read(key, options)
        return _read_inner(self.shard(parts[0]), parts[1], options, key)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        parts = self.split_key(key)
        if parts is None:
            return self.base.write(key, value, if_equal)
        return self.shard(parts[0]).write_chunk(parts[1], value, if_equal)

    # -- atomic multi-key commits, when the base has them (ocdbt) ---------------------------
    @property
    def commits_atomically(self) -> bool:
        return self.base.commits_atomically

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        # Keys other than inner chunks pass through to the base, in the same commit.
        return self.base if self.base.commits_atomically else None

    def lower_staged(
        self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()
    ) -> tuple[list[StagedWrite], list[KeyRange]]:
        """Inner-chunk writes grouped into one modification per shard, in this store's index
        format (other keys, such as ``zarr.json``, pass through unchanged); an inner chunk's
        condition is checked on the shard the base hands each modification."""
        direct: list[StagedWrite] = []
        by_shard: dict[bytes, list[tuple[Position, StagedWrite]]] = {}
        for write in writes:
            parts = self.split_key(write.key)
            if parts is None:
                direct.append(write)
            else:
                by_shard.setdefault(parts[0], []).append((parts[1], write))
        shard_writes = [StagedWrite(key, self._shard_modification(items)) for key, items in by_shard.items()]
        return [*direct, *shard_writes], list(deleted_ranges)

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        """This store's writes committed by the base in one step."""
        if self.atomic_base is None:
            return super().commit_atomic(writes, deleted_ranges)  # raises: the base cannot
        return commit_staged(self, writes, deleted_ranges)

    def _shard_modification(self, items: list[tuple[Position, StagedWrite]]) -> Callable[[bytes | None], bytes | None]:
        def modify(stored: bytes | None) -> bytes | None:
            chunks = {} if stored is None else self.format.split(stored)
            for position, write in items:
                current = chunks.get(position)
                if write.condition is not None and write.condition != chunk_generation(current):
                    raise _InnerConditionFailed
                if write.modify is None:
                    continue
                new_value = write.modify(current)
                if new_value is None:
                    chunks.pop(position, None)
                else:
                    chunks[position] = new_value
            return self.format.assemble(chunks)

        return modify

    def delete_range(self, key_range: KeyRange) -> None:
        inner = [k for k in self.list(key_range) if INNER_KEY_SEPARATOR.encode() in k]
        for key in inner:
            self.write(key, None, None)
        self.base.delete_range(key_range)

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        keys = []
        for key in self.base.list(prefix_range(self._prefix)):
            if not self._is_shard_key(key):
                if key_range.contains(key):
                    keys.append(key)
                continue
            try:
                positions = self.shard(key).present_positions()
            except ValueError:
                continue  # not a shard (a stray object, another node's metadata): not listed
            for position in positions:
                    inner = key + (INNER_KEY_SEPARATOR + ",".join(map(str, position))).encode()
                    if key_range.contains(inner):
                        keys.append(inner)
        return keys


class _InnerConditionFailed(StagedConditionFailed):
    """An inner chunk's condition failed inside an atomic commit: nothing is written."""


@attrs.define
class ShardingIndexedSpec:
    """Members of a ``zarr3_sharding_indexed`` kvstore spec."""

    base: Any = None
    grid_shape: list[int] = attrs.field(factory=list)
    index_codecs: list[Any] = attrs.field(factory=list)
    index_location: str = "end"
    cache_pool: Any = None
    data_copy_concurrency: Any = None


class ShardingIndexedKvStore(KvStoreDriver):
    """One shard as a kvstore: keys are inner-chunk positions (big-endian uint32 each)."""

    id = "zarr3_sharding_indexed"
    spec_class = ShardingIndexedSpec

    def __init__(self, spec: ShardingIndexedSpec, base: KvStore) -> None:
        from ts_core.schema import check_chunk_bytes

        # The index (two uint64 per inner chunk) is made whole when the format is built.
        check_chunk_bytes((*spec.grid_shape, 2), 8, "kvstore.grid_shape", what="shard index")
        self._spec = spec
        self._base = base
        self.format = ShardIndexFormat(tuple(spec.grid_shape), spec.index_codecs, spec.index_location, "kvstore")
        self.local_io = base.driver.local_io  # type: ignore[misc]
        self._shard = IndexedShard(base.driver, base.path.encode("utf-8"), self.format)

    @classmethod
    def open(cls, spec: ShardingIndexedSpec, context: Any) -> ShardingIndexedKvStore:
        if spec.base is None:
            raise ValueError('kvstore.base: the "zarr3_sharding_indexed" kvstore needs a "base" kvstore')
        return cls(spec, KvStore.open(spec.base, context=context).result())

    @property
    def spec(self) -> ShardingIndexedSpec:
        return self._spec

    @property
    def executor(self) -> Any:
        return self._base.driver.executor

    def _position(self, key: bytes) -> tuple[int, ...] | None:
        rank = len(self.format.grid_shape)
        if len(key) != rank * _KEY_BYTES_PER_DIM:
            return None
        position = struct.unpack(f">{rank}I", key)
        if any(p >= n for p, n in zip(position, self.format.grid_shape, strict=True)):
            return None
        return position

    def _key(self, position: tuple[int, ...]) -> bytes:
        return struct.pack(f">{len(position)}I", *position)

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        position = self._position(key)
        if position is None:
            return ReadResult("missing", b"", TimestampedStorageGeneration(b"\x02", time.time()))
        return _read_inner(self._shard, position, options, key)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        position = self._position(key)
        if position is None:
            raise ValueError(f"invalid key {key!r} for a shard with grid shape {list(self.format.grid_shape)}")
        return self._shard.write_chunk(position, value, if_equal)

    def delete_range(self, key_range: KeyRange) -> None:
        for key in self.list(key_range):
            self.write(key, None, None)

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        keys = (self._key(p) for p in self._shard.present_positions())
        return [k for k in keys if key_range.contains(k)]
