"""Sharded scales of the ``neuroglancer_precomputed`` driver.

A sharded scale stores its chunks in a ``neuroglancer_uint64_sharded`` kvstore below the
scale's key; a chunk's id is the compressed Morton code of its grid position. The driver
keeps naming chunks by their bounds (``x0-x1_y0-y1_z0-z1``): ``ChunkIdStore`` maps those
keys onto chunk ids, under the same ``EncodedChunkStore`` the unsharded format uses, so
single-chunk and transactional reads and writes work unchanged. The store is bound at the
scale's directory, as an unsharded scale's is, so its keys name the scale. A transaction
commits the chunks through ``commit_atomic`` down the chain, one write per shard (one
version of an ocdbt base).

Whole-array reads and writes outside a transaction are grouped per shard instead: a
shard's wanted chunks are fetched with one index read and coalesced byte ranges, and a
shard is written once, with no read when the write overwrites every chunk it holds,
otherwise read-modify-write conditioned on the shard's generation (repeated on a
conflict). Decoding and encoding run chunk by chunk on the driver's pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core import Future, Promise
from ts_core.driver import run_parts
from ts_core.kvstore import (
    KeyRange,
    KvStore,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedWrite,
    TimestampedStorageGeneration,
)

from ._chunk_store import EncodedChunkStore, chunk_bounds
from ._sharded_kvstore import (
    LoweredWrites,
    ShardedKvStore,
    chunk_generation,
    chunk_id_key,
    key_chunk_id,
)
from ._sharding import (
    ShardChunkHierarchy,
    ShardingSpec,
    choose_sharding_bits,
    chunks_in_shard,
    compressed_morton_codes,
    compressed_z_index_bits,
    decode_compressed_morton_codes,
    encode_data,
    shard_chunk_hierarchy,
)

if TYPE_CHECKING:
    from ts_core.index_space import IndexTransform

    from ._driver import PrecomputedDriver
    from ._metadata import MultiscaleMetadata, ScaleMetadata
    from .encoding_api import ChunkEncoding

__all__ = [
    "ChunkIdStore",
    "check_sharding",
    "choose_sharding",
    "read_sharded",
    "sharded_chunk_store",
    "sharded_write_chunk_shape",
    "write_chunk_shape",
    "write_sharded",
]


def check_sharding(
    sharding: Any, size: Sequence[int], chunk_size: Sequence[int], json_path: str
) -> ShardingSpec:
    """The scale's sharding spec, checked (errors name the member below ``json_path``),
    also against the scale: its chunk ids must fit in 64 bits."""
    spec = ShardingSpec.from_json(sharding, json_path)
    bits = compressed_z_index_bits(size, chunk_size)
    if sum(bits) > 64:
        from ts_core.errors import SpecError

        raise SpecError(
            json_path,
            f'"size" of {list(size)} with "chunk_size" of {list(chunk_size)} is not compatible with '
            "sharded format because the chunk keys would exceed 64 bits",
        )
    return spec


def choose_sharding(
    layout: Any, size: Sequence[int], chunk_size: Sequence[int], encoding: str, shard_data_encoding: str | None
) -> dict[str, Any] | None:
    """The ``sharding`` of a new scale whose spec does not give one, chosen as tensorstore
    chooses it from the write chunk constraints of the chunk layout ``layout`` (a
    ``ts.ChunkLayout``); None (unsharded) when a shard would hold a single chunk and no
    ``shard_data_encoding`` asks for sharding."""
    grid = layout.write_chunk
    hard_shape = list(grid.shape or ())
    soft_shape = list(grid.shape_soft_constraint or ())
    shape = [hard_shape[d] if d < len(hard_shape) and hard_shape[d] else (soft_shape[d] if d < len(soft_shape) else None) for d in range(3)]
    hard = [bool(d < len(hard_shape) and hard_shape[d]) for d in range(3)]
    elements = grid.elements if grid.elements is not None else grid.elements_soft_constraint
    try:
        preshift, minishard, shard = choose_sharding_bits(shape, hard, elements, size, chunk_size)
    except ValueError as exc:
        from ts_core.errors import SpecError

        raise SpecError("chunk_layout.write_chunk", str(exc)) from None
    if preshift == 0 and minishard == 0 and shard_data_encoding is None:
        return None
    if shard_data_encoding is None:
        shard_data_encoding = "raw" if encoding == "jpeg" else "gzip"
    return ShardingSpec(
        hash="identity", preshift_bits=preshift, minishard_bits=minishard, shard_bits=shard,
        data_encoding=shard_data_encoding, minishard_index_encoding="gzip",
    ).to_json()


def write_chunk_shape(sharding: ShardingSpec, size: Sequence[int], chunk_size: Sequence[int], num_channels: int) -> list[int]:
    """The scale's write chunk shape, as tensorstore reports it: a shard's box (whole chunks)
    when shards are boxes of the grid, else the whole volume rounded up to chunks."""
    hierarchy = shard_chunk_hierarchy(sharding, size, chunk_size)
    shape = []
    for dim in range(3):
        chunk = int(chunk_size[dim])
        extent = int(size[dim]) if hierarchy is None else min(hierarchy.shard_shape_in_chunks[dim] * chunk, int(size[dim]))
        shape.append(-(-extent // chunk) * chunk)
    return [*shape, num_channels]


def sharded_write_chunk_shape(driver: PrecomputedDriver) -> list[int]:
    """The write chunk shape of the driver's (sharded) scale."""
    scale = driver.scale
    chunk_size = driver.chunk_size_of(driver.metadata)
    sharding = check_sharding(scale.sharding, scale.size, chunk_size, f"scales[{driver.scale_index}].sharding")
    return write_chunk_shape(sharding, scale.size, chunk_size, driver.metadata.num_channels)


class ChunkIdStore(KvStoreDriver):
    """Chunk-bounds keys (``x0-x1_y0-y1_z0-z1``) of one scale mapped onto the chunk ids of
    its sharded kvstore (not registered; created by the driver)."""

    id = "neuroglancer_precomputed_sharded_chunks"
    spec_class = dict

    def __init__(
        self, sharded: ShardedKvStore, voxel_offset: Sequence[int], size: Sequence[int], chunk_size: Sequence[int], prefix: str = ""
    ) -> None:
        self.sharded = sharded
        #: The scale's directory the driver binds this store at (its keys' prefix).
        self.prefix = prefix.encode("utf-8")
        self.voxel_offset = tuple(int(v) for v in voxel_offset)
        self.size = tuple(int(v) for v in size)
        self.chunk_size = tuple(int(v) for v in chunk_size)
        self.z_index_bits = compressed_z_index_bits(self.size, self.chunk_size)
        self.local_io = sharded.local_io  # type: ignore[misc]

    @classmethod
    def open(cls, spec: Any, context: Any) -> ChunkIdStore:
        raise NotImplementedError("the sharded chunk store is created by the neuroglancer_precomputed driver")

    @property
    def spec(self) -> Any:
        return self.sharded.spec

    @property
    def executor(self) -> Any:
        return self.sharded.executor

    def chunk_id(self, key: bytes) -> int:
        """The chunk id of a chunk-bounds key; ValueError naming the key otherwise."""
        bounds = chunk_bounds(key)
        if bounds is not None:
            grid = []
            for (start, stop), origin, chunk, extent in zip(bounds, self.voxel_offset, self.chunk_size, self.size, strict=True):
                index, remainder = divmod(start - origin, chunk)
                if remainder or not 0 <= index * chunk < extent or stop != origin + min((index + 1) * chunk, extent):
                    break
                grid.append(index)
            else:
                return int(compressed_morton_codes(grid, self.z_index_bits))
        raise ValueError(f"{key.decode('utf-8', 'backslashreplace')!r} is not a chunk key of this scale")

    def chunk_key(self, chunk_id: int) -> bytes:
        grid = decode_compressed_morton_codes(np.uint64(chunk_id), self.z_index_bits)
        parts = []
        for index, origin, chunk, extent in zip(grid, self.voxel_offset, self.chunk_size, self.size, strict=True):
            start = int(index) * chunk
            parts.append(f"{origin + start}-{origin + min(start + chunk, extent)}")
        return "_".join(parts).encode()

    def describe_key(self, key: bytes) -> str:
        try:
            return self.sharded.describe_key(chunk_id_key(self.chunk_id(key)))
        except ValueError:
            return super().describe_key(key)

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        return self.sharded.read(chunk_id_key(self.chunk_id(key)), options)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self.sharded.write(chunk_id_key(self.chunk_id(key)), value, if_equal)

    def delete_range(self, key_range: KeyRange) -> None:
        doomed = list(self.list(key_range))
        if doomed:
            self.sharded.write_many({self.chunk_id(key): None for key in doomed})

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        keys = (self.prefix + self.chunk_key(key_chunk_id(k)) for k in self.sharded.list(KeyRange()))
        return [key for key in keys if key_range.contains(key)]

    # -- transactions: down to the sharded store, one write per shard ---------------------------
    @property
    def commits_atomically(self) -> bool:
        return self.sharded.commits_atomically

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        return self.sharded

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> LoweredWrites:
        """Chunk-bounds writes (and deleted ranges, as deletions of the chunks in them) as
        writes of the sharded store's chunk-id keys."""
        lowered = [
            StagedWrite(chunk_id_key(self.chunk_id(key)), _delete, reads_stored=False)
            for key_range in deleted_ranges
            for key in self.list(key_range)
        ]
        for write in writes:
            lowered.append(StagedWrite(chunk_id_key(self.chunk_id(write.key)), write.modify, write.condition, write.reads_stored))
        return lowered, []

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        return self.sharded.commit_atomic(*self.lower_staged(writes, deleted_ranges))


def sharded_chunk_store(
    driver: PrecomputedDriver, metadata: MultiscaleMetadata, scale: ScaleMetadata, encoding: ChunkEncoding
) -> KvStore:
    """The driver's chunk kvstore of a sharded scale (the seam ``_driver`` imports)."""
    from ._driver import resolve_scale_key

    chunk_size = driver.chunk_size_of(metadata)
    sharding = check_sharding(scale.sharding, scale.size, chunk_size, f"scales[{driver.scale_index}].sharding")
    kvstore = driver.kvstore
    prefix = resolve_scale_key(kvstore.path, scale.key)
    directory = prefix + "/" if prefix else ""
    base = KvStore(kvstore.driver, directory, None, kvstore.context)
    ids = ChunkIdStore(ShardedKvStore.over(base, sharding), scale.voxel_offset, scale.size, chunk_size, directory)
    store = EncodedChunkStore(ids, encoding, tuple(driver.chunk_shape(metadata)), metadata.dtype)  # type: ignore[arg-type]
    return KvStore(store, directory, kvstore.transaction, kvstore.context)


def _delete(stored: bytes | None) -> bytes | None:
    return None


# -- grouped reads and writes ------------------------------------------------------------------------
class _Scale:
    """What grouped I/O needs of a sharded scale, taken from the driver once per call."""

    def __init__(self, driver: PrecomputedDriver) -> None:
        self.driver = driver
        self.encoded: EncodedChunkStore = driver.chunk_kvstore.driver  # type: ignore[assignment]
        self.ids: ChunkIdStore = self.encoded.base  # type: ignore[assignment]
        self.sharded = self.ids.sharded
        self.sharding = self.sharded.sharding

    def group(self, parts: Sequence[Any]) -> dict[int, dict[int, list[Any]]]:
        """Partition parts by shard, then by chunk id."""
        grid = np.array([part.grid_indices[:3] for part in parts], dtype=np.int64).reshape(-1, 3)
        ids = compressed_morton_codes(grid, self.ids.z_index_bits)
        shards, _ = self.sharding.locate_many(ids)
        groups: dict[int, dict[int, list[Any]]] = {}
        for part, chunk_id, shard in zip(parts, ids.tolist(), shards.tolist(), strict=True):
            groups.setdefault(int(shard), {}).setdefault(int(chunk_id), []).append(part)
        return groups

    def key(self, chunk_id: int) -> str:
        return self.ids.chunk_key(chunk_id).decode()

    def decode(self, key: str, stored: bytes) -> np.ndarray[Any, Any]:
        """A stored chunk (data-encoded, then in the scale's encoding) to a read-only cell."""
        value = self.sharded.decode(stored, self.ids.chunk_id(key.encode()))
        storage = self.driver.chunk_cache.decode(key, self.encoded.to_cell(key.encode(), value))
        storage.setflags(write=False)
        return storage

    def encode(self, key: str, storage: np.ndarray[Any, Any]) -> bytes:
        """A cell to its stored bytes (scale encoding, then data encoding)."""
        return encode_data(self.encoded.to_stored(key.encode(), self.driver.encode_chunk(storage)), self.sharding.data_encoding)


def _chain(first: Future[Any], then: Callable[[], Future[Any]]) -> Future[Any]:
    """A future of ``then()``'s future, started once ``first`` succeeds."""
    promise: Promise[Any]
    future: Future[Any]
    promise, future = Promise.new()

    def started(done: Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            promise.set_exception(error)
            return
        try:
            second = then()
        except BaseException as exc:
            promise.set_exception(exc)
            return

        def finished(last: Future[Any]) -> None:
            failure = last.exception()
            if failure is not None:
                promise.set_exception(failure)
            else:
                promise.set_result(last.result())

        second.add_done_callback(finished)

    first.add_done_callback(started)
    return future


def read_sharded(driver: PrecomputedDriver, transform: IndexTransform) -> Future[np.ndarray[Any, Any]]:
    """Read ``transform`` (on the zero-based grid) of a sharded scale, grouped per shard."""
    from ts_core.index_space import partition_index_transform

    driver.check_bounds(transform)
    scale = _Scale(driver)
    target = np.empty(transform.domain.shape, dtype=driver.numpy_dtype)
    groups = scale.group(list(partition_index_transform(transform, driver.grid_chunk_shape)))
    cache = driver.chunk_cache
    fetched: list[tuple[str, bytes | None, float, list[Any]]] = []  # key, stored, stamp time, parts

    def copy_out(storage: np.ndarray[Any, Any] | None, parts: list[Any]) -> None:
        source = driver.fill_chunk_view if storage is None else storage
        for part in parts:
            target[part.array_selection] = source[part.cell_selection]

    def fetch_shard(item: tuple[int, dict[int, list[Any]]]) -> None:
        shard, members = item
        wanted = []
        for chunk_id, parts in members.items():
            cached = cache.fresh(scale.key(chunk_id))
            if cached is not None:
                copy_out(cached, parts)
            else:
                wanted.append(chunk_id)
        if not wanted:
            return
        stamp, chunks = scale.sharded.shard(shard).read_chunks(wanted)
        for chunk_id in wanted:
            key = scale.key(chunk_id)
            stored = chunks.get(chunk_id)
            if stored is None and not driver.fill_missing:
                raise ValueError(f"chunk {driver.chunk_kvstore.path + key!r} is missing")
            fetched.append((key, stored, stamp.time, members[chunk_id]))

    def decode_chunk(item: tuple[str, bytes | None, float, list[Any]]) -> None:
        key, stored, stamp_time, parts = item
        if stored is None:
            copy_out(None, parts)
            return
        storage = scale.decode(key, stored)
        cache.remember(key, chunk_generation(stored), stamp_time, storage)
        copy_out(storage, parts)

    fetching = run_parts(driver.executor, list(groups.items()), fetch_shard, lambda: None)
    return _chain(fetching, lambda: run_parts(driver.executor, fetched, decode_chunk, lambda: target))


def _chunks_in_volume(scale: _Scale) -> int:
    return int(np.prod([-(-n // c) for n, c in zip(scale.ids.size, scale.ids.chunk_size, strict=True)]))


def write_sharded(driver: PrecomputedDriver, transform: IndexTransform, source: np.ndarray[Any, Any]) -> Future[None]:
    """Write ``source`` to ``transform`` (on the zero-based grid) of a sharded scale: every
    shard written once; no read for a shard whose every chunk is overwritten."""
    from ts_core.index_space import partition_index_transform

    driver.check_bounds(transform)
    scale = _Scale(driver)
    groups = scale.group(list(partition_index_transform(transform, driver.grid_chunk_shape)))
    hierarchy: ShardChunkHierarchy | None = shard_chunk_hierarchy(scale.sharding, scale.ids.size, scale.ids.chunk_size)
    chunk_shape = tuple(driver.grid_chunk_shape)
    store_fill = driver.store_data_equal_to_fill_value
    covered = {
        chunk_id
        for members in groups.values()
        for chunk_id, parts in members.items()
        if any(driver.covers_chunk(part) for part in parts)
    }
    everything = len(covered) == _chunks_in_volume(scale)

    def whole(shard: int, members: dict[int, list[Any]]) -> bool:
        if not all(chunk_id in covered for chunk_id in members):
            return False
        if everything:
            return True
        return hierarchy is not None and chunks_in_shard(hierarchy, shard) == len(members)

    # Phase one: encode every chunk the write overwrites whole (needs nothing stored).
    encoded: dict[int, bytes | None] = {}
    overwritten = [(chunk_id, parts) for members in groups.values() for chunk_id, parts in members.items() if chunk_id in covered]

    def build(parts: list[Any], existing: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any]:
        if existing is None and len(parts) == 1 and source[parts[0].array_selection].shape == chunk_shape:
            interior: np.ndarray[Any, Any] = source[parts[0].array_selection]
            return interior  # an interior chunk overwritten whole
        storage = driver.fill_chunk() if existing is None else np.array(existing, copy=True, order="F")
        for part in parts:
            storage[part.cell_selection] = source[part.array_selection]
        return storage

    def stored_bytes(key: str, storage: np.ndarray[Any, Any]) -> bytes | None:
        if not store_fill and driver.equals_fill(storage):
            return None
        return scale.encode(key, storage)

    def encode_overwritten(item: tuple[int, list[Any]]) -> None:
        chunk_id, parts = item
        encoded[chunk_id] = stored_bytes(scale.key(chunk_id), build(parts, None))

    # Phase two: one write per shard.
    def write_shard(item: tuple[int, dict[int, list[Any]]]) -> None:
        shard, members = item

        def update(chunks: dict[int, bytes]) -> bool:
            for chunk_id, parts in members.items():
                if chunk_id in covered:
                    stored = encoded[chunk_id]
                else:
                    key = scale.key(chunk_id)
                    previous = chunks.get(chunk_id)
                    existing = None if previous is None else scale.decode(key, previous)
                    stored = stored_bytes(key, build(parts, existing))
                if stored is None:
                    chunks.pop(chunk_id, None)
                else:
                    chunks[chunk_id] = stored
            return True

        try:
            scale.sharded.shard(shard).read_modify_write(update, read=not whole(shard, members))
        finally:
            for chunk_id in members:
                driver.chunk_cache.discard(scale.key(chunk_id))

    encoding = run_parts(driver.executor, overwritten, encode_overwritten, lambda: None)
    return _chain(encoding, lambda: run_parts(driver.executor, list(groups.items()), write_shard, lambda: None))
