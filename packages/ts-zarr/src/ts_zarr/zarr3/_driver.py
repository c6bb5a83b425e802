"""The ``zarr3`` TensorStore driver.

Without sharding, one stored object holds one chunk. With a ``sharding_indexed`` codec the
driver's chunk grid is the inner-chunk grid and its chunk store is a ``ShardedChunkStore``
over the base kvstore, so a read of one inner chunk costs an index read and one byte range.
Whole-array reads and writes are grouped per shard: a shard's wanted inner chunks are read
with coalesced range reads, and a shard is written once (directly when the write covers it,
else read-modify-write conditioned on the generation read, through the one shard
read-modify-write, ``IndexedShard.read_modify_write``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core.driver import (
    KvsChunkedDriver,
    RawChunkLayout,
    SchemaConstraints,
    check_metadata_members,
    pull_workers,
    run_parts,
)
from ts_core.errors import SpecError
from ts_core.kvstore import KvStore, WriteBatch

from ._create import check_dimension_units, metadata_for_create, stored_dimension_units
from ._metadata import METADATA_KEY, Zarr3Metadata, parse_metadata
from ._shard_io import IndexedShard, chunk_generation
from ._sharding_kvstore import INNER_KEY_SEPARATOR, ShardedChunkStore

if TYPE_CHECKING:
    from ts_core import Future
    from ts_core.index_space import IndexTransform
    from ts_core.kvstore import Transaction

__all__ = ["Zarr3Driver"]

Position = tuple[int, ...]
#: A read of few shards is cut into runs of inner chunks decoding to at least this many
#: bytes each (more work than the extra index read each run makes).
MIN_RUN_BYTES = 1 << 20


class Zarr3Driver(KvsChunkedDriver[Zarr3Metadata]):
    """zarr v3 arrays: ``zarr.json`` metadata, a codec chain, optional sharding."""

    id = "zarr3"
    metadata_key = METADATA_KEY

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What the spec's ``metadata`` implies (rank, dtype, domain, chunk layout, codec,
        fill value), checked against the spec's own dtype, rank, transform and domain."""
        from .._spec_schema import check_spec_members, zarr3_spec_schema

        implied = zarr3_spec_schema(json_value)
        check_spec_members(implied, json_value)
        return implied

    @classmethod
    def normalize_spec_metadata(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """The spec's ``metadata`` as tensorstore's Spec writes it (sorted, defaults filled in)."""
        from .._spec_schema import normalize_zarr3_metadata

        return normalize_zarr3_metadata(json_value)

    @classmethod
    def spec_rank(cls, json_value: dict[str, Any]) -> int | None:
        """The spec's own rank: as tensorstore, only with a ``data_type`` (whose inner
        dimensions count too)."""
        from .._spec_schema import zarr3_spec_rank

        return zarr3_spec_rank(json_value)

    # -- metadata --------------------------------------------------------------------------
    @classmethod
    def parse_stored_metadata(cls, data: bytes) -> Zarr3Metadata:
        return parse_metadata(data)

    @classmethod
    def encode_metadata(cls, metadata: Zarr3Metadata) -> bytes:
        return metadata.encode()

    @classmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> Zarr3Metadata:
        return metadata_for_create(spec_members, schema)

    @classmethod
    def check_metadata(cls, metadata: Zarr3Metadata, spec_members: dict[str, Any], schema: SchemaConstraints) -> None:
        stored = metadata.to_json() if spec_members.get("metadata") else {}

        def normalize(member: str, wanted: Any) -> Any:
            if member == "codecs":
                from ._pipeline import parse_codec_chain
                from .codec_api import ChunkSpec

                spec = ChunkSpec(metadata.chunk_shape, metadata.data_type.numpy_dtype, metadata.data_type.inner_shape, metadata.fill_value)
                return parse_codec_chain(wanted, "metadata.codecs", spec).to_json()
            if member in ("chunk_key_encoding", "fill_value"):
                from ._metadata import build_metadata

                return build_metadata({**stored, member: wanted}, "metadata").to_json()[member]
            if member == "node_type" and wanted == "array":
                return stored.get(member)  # only arrays are opened here
            return wanted

        if spec_members.get("metadata"):
            check_metadata_members(stored, spec_members["metadata"], normalize)
        attributes = metadata.attributes
        if schema.dimension_units is not None and isinstance(attributes, dict) and attributes.get("dimension_units") is not None:
            check_dimension_units(schema.dimension_units, attributes["dimension_units"])
        wanted_dtype = schema.numpy_dtype
        if wanted_dtype is not None and not metadata.data_type.is_raw and wanted_dtype != metadata.data_type.numpy_dtype:
            raise SpecError("dtype", f"expected {wanted_dtype} but the stored array has {metadata.data_type.name}")

    # -- configuration -----------------------------------------------------------------------
    def on_metadata(self, metadata: Zarr3Metadata) -> None:
        self._sharding = metadata.codecs.sharding
        self._chain = metadata.codecs if self._sharding is None else self._sharding.inner_chain
        self._key_template = metadata.chunk_key_template() if self._sharding is None else None
        self._sharded_kvstore: KvStore | None = None
        if self._sharding is not None:
            kvstore = self.kvstore
            chunk_store = ShardedChunkStore(
                kvstore.driver, self._sharding.index_format, kvstore.path.encode("utf-8"),
                lambda key: not key.endswith(METADATA_KEY.encode()),
            )
            self._sharded_kvstore = KvStore(chunk_store, kvstore.path, kvstore.transaction, kvstore.context)

    @property
    def chunk_kvstore(self) -> KvStore:
        """With sharding, the ShardedChunkStore whose keys are ``<shard key>|<position>``."""
        return self.kvstore if self._sharded_kvstore is None else self._sharded_kvstore

    def array_shape(self, metadata: Zarr3Metadata) -> tuple[int, ...]:
        return metadata.shape

    def chunk_shape(self, metadata: Zarr3Metadata) -> tuple[int, ...]:
        sharding = metadata.codecs.sharding
        return metadata.chunk_shape if sharding is None else sharding.chunk_shape

    @property
    def inner_shape(self) -> tuple[int, ...]:
        return self.metadata.data_type.inner_shape

    def with_shape(self, metadata: Zarr3Metadata, shape: tuple[int, ...]) -> Zarr3Metadata:
        return metadata.with_shape(shape)

    def _shard_of(self, grid_indices: Sequence[int]) -> tuple[tuple[int, ...], Position]:
        grid = self._sharding.grid_shape
        indices = grid_indices[: len(grid)]
        return tuple(i // n for i, n in zip(indices, grid, strict=True)), tuple(i % n for i, n in zip(indices, grid, strict=True))

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        template = self._key_template
        if template is not None:  # unsharded (the template ignores a field's inner indices)
            return template.format(*grid_indices)
        shard, position = self._shard_of(grid_indices)
        return f"{self.metadata.chunk_key(shard)}{INNER_KEY_SEPARATOR}{','.join(map(str, position))}"

    def dimension_labels(self) -> list[str]:
        names = self.metadata.dimension_names
        labels = [""] * self.metadata.rank if names is None else [n or "" for n in names]
        return labels + [""] * len(self.inner_shape)

    # -- codec ---------------------------------------------------------------------------------
    def storage_dtype(self) -> np.dtype[Any]:
        storage: np.dtype[Any] = self.metadata.data_type.numpy_dtype
        return storage

    def fill_chunk(self) -> np.ndarray[Any, Any]:
        metadata = self.metadata
        storage = np.zeros(tuple(self.chunk_shape(metadata)) + metadata.data_type.inner_shape, dtype=metadata.data_type.numpy_dtype)
        if any(np.asarray(metadata.fill_value).tobytes()):
            # An all-zero-bytes fill (the common case) is what np.zeros already holds: leaving
            # it untouched keeps the pages unmapped, so opening an array costs no chunk memset.
            storage[...] = metadata.fill_value
        return storage

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        return self._chain.decode(data)

    def raw_chunk_layout(self) -> RawChunkLayout | None:
        """Unsharded chunks of the ``bytes`` codec alone (after any ``transpose``s) are
        their elements: reads of a small part of one need only its bytes."""
        from ._codecs import BytesCodec, TransposeCodec

        chain = self._chain
        if self._sharding is not None or chain.bytes_codecs or type(chain.array_to_bytes) is not BytesCodec:
            return None
        spec = chain.bytes_spec
        if spec.inner_shape or spec.dtype.hasobject:
            return None
        order = list(range(len(spec.shape)))
        for codec, _ in chain.array_codecs:
            if type(codec) is not TransposeCodec:
                return None
            order = [order[axis] for axis in codec.order]
        return RawChunkLayout(chain.array_to_bytes.stored_dtype(spec.dtype), order)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        return self._chain.encode(storage)

    def encode_chunk_transient(self, storage: np.ndarray[Any, Any]) -> bytes | memoryview:
        return self._chain.encode_transient(storage)

    def decode_chunk_transient(self, data: bytes) -> np.ndarray[Any, Any]:
        return self._chain.decode_transient(data)

    # -- schema ---------------------------------------------------------------------------------
    def check_codec_constraint(self, codec: Any) -> None:
        """zarr3 codec constraints are partial chains (``["zstd"]`` constrains one stage);
        they shape new arrays but are not compared with an existing array's chain."""

    def codec_json(self) -> dict[str, Any]:
        return {"codecs": _with_index_locations(self.metadata.codecs.to_json()), "driver": "zarr3"}

    def fill_value_array(self) -> np.ndarray[Any, Any]:
        return self.metadata.fill_value

    def inner_order(self) -> list[int]:
        rank = len(self.shape)
        chain = self._chain
        while True:
            if chain.array_codecs:
                codec = chain.array_codecs[0][0]
                order = list(getattr(codec, "order", ()))
                if sorted(order) == list(range(self.metadata.rank)):
                    return order + list(range(len(order), rank))
            sharding = chain.sharding
            if sharding is None:
                return list(range(rank))
            chain = sharding.inner_chain

    def _read_chunk_shape(self) -> tuple[int, ...]:
        """The innermost chunk shape (nested sharding reports its deepest level, as tensorstore)."""
        shape = tuple(self.chunk_shape(self.metadata))
        chain = self._chain
        while chain is not None and chain.sharding is not None:
            shape = chain.sharding.chunk_shape
            chain = chain.sharding.inner_chain
        return shape + self.inner_shape

    @property
    def schema(self) -> Any:
        from ts_core.schema import ChunkLayout, CodecSpec, Schema

        rank = len(self.shape)
        layout = ChunkLayout(
            grid_origin=[0] * rank,
            inner_order=self.inner_order(),
            read_chunk=ChunkLayout.Grid(shape=list(self._read_chunk_shape())),
            write_chunk=ChunkLayout.Grid(shape=list(self.metadata.chunk_shape + self.inner_shape)),
        )
        units = stored_dimension_units(dict(self.metadata.attributes or {}))
        return Schema(
            dtype=self.numpy_dtype, domain=self.domain, chunk_layout=layout,
            codec=CodecSpec(self.codec_json()), fill_value=self.fill_value_array(),
            dimension_units=None if units is None else units + [None] * len(self.inner_shape),
        )

    def spec_json(self) -> dict[str, Any]:
        return {
            "driver": "zarr3",
            "kvstore": self.kvstore.spec().to_json(),
            "metadata": self.metadata.to_json(),
        }

    # -- sharded reads and writes, grouped per shard -------------------------------------------
    def _groups(self, parts: list[Any]) -> list[tuple[tuple[int, ...], dict[Position, list[Any]]]]:
        groups: dict[tuple[int, ...], dict[Position, list[Any]]] = {}
        for part in parts:
            shard, position = self._shard_of(part.grid_indices)
            groups.setdefault(shard, {}).setdefault(position, []).append(part)
        return list(groups.items())

    def _shard(self, shard: tuple[int, ...]) -> IndexedShard:
        kvstore = self.kvstore
        relative = self.metadata.chunk_key(shard).encode("utf-8")
        # The shard is read and written through the base driver directly: confine its key
        # as the KvStore front end would.
        kvstore.driver.check_key(kvstore.path, relative)
        return IndexedShard(kvstore.driver, kvstore.path.encode("utf-8") + relative, self._sharding.index_format)

    def _inner_key(self, shard: tuple[int, ...], position: Position) -> str:
        return f"{self.metadata.chunk_key(shard)}{INNER_KEY_SEPARATOR}{','.join(map(str, position))}"

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        from ts_core.index_space import partition_index_transform

        if self._sharding is None or transaction is not None:
            return super().read(transform, transaction)
        self.check_bounds(transform)
        target = np.empty(transform.domain.shape, dtype=self.numpy_dtype)
        groups = self._groups(list(partition_index_transform(transform, self.grid_chunk_shape)))
        if len(groups) < self.executor.limit and self.kvstore.driver.local_io:
            chunk_bytes = int(np.prod(self.grid_chunk_shape)) * self.numpy_dtype.itemsize
            groups = _split_groups(groups, self.executor.limit, max(1, MIN_RUN_BYTES // chunk_bytes))
        chunk_kvstore = self.chunk_kvstore

        def read_shard(group: tuple[tuple[int, ...], dict[Position, list[Any]]]) -> None:
            shard, members = group
            if len(members) == 1 and self.chunk_cache.enabled:  # uncached: no digest needed
                (position,) = members
                stored, _ = self.read_stored_chunk(self._inner_key(shard, position), chunk_kvstore)
                storages: Iterator[tuple[Position, np.ndarray[Any, Any] | None]] = iter([(position, stored)])
            else:
                storages = self._read_inner_chunks(shard, list(members))
            for position, stored in storages:  # each decoded chunk is copied out, then dropped
                source = self.fill_chunk_view if stored is None else stored
                for part in members[position]:
                    target[part.array_selection] = source[part.cell_selection]

        return run_parts(self.executor, groups, read_shard, lambda: target)

    def _read_inner_chunks(
        self, shard: tuple[int, ...], positions: list[Position]
    ) -> Iterator[tuple[Position, np.ndarray[Any, Any] | None]]:
        """(position, decoded inner chunk or None) for ``positions`` of one shard: fresh cache
        entries, then one index read and coalesced ranges. Chunks are decoded one at a time
        as the caller asks, so a shard never holds all its decoded chunks at once."""
        cache = self.chunk_cache
        caching = cache.enabled
        wanted = []
        for position in positions:
            cached = cache.fresh(self._inner_key(shard, position)) if caching else None
            if cached is not None:
                yield position, cached
            else:
                wanted.append(position)
        if not wanted:
            return
        result, chunks = self._shard(shard).read_chunks(wanted)
        for position in wanted:
            key = self._inner_key(shard, position)
            if position not in chunks:
                if not self.fill_missing:
                    raise ValueError(f"chunk {self.chunk_kvstore.path + key!r} is missing")
                yield position, None
                continue
            encoded = chunks.pop(position)
            storage = cache.decode(key, encoded)
            storage.setflags(write=False)
            if caching:  # the digest of a chunk's bytes is its generation: only worth it to cache
                cache.remember(key, chunk_generation(encoded), result.stamp.time, storage)
            yield position, storage

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None) -> Future[None]:
        from ts_core.index_space import partition_index_transform

        if self._sharding is None or transaction is not None:
            return super().write(transform, source, transaction)
        self.check_bounds(transform)
        groups = self._groups(list(partition_index_transform(transform, self.grid_chunk_shape)))
        base = self.kvstore.driver
        if len(groups) > 1 and base.local_io:
            return self._write_shards_locally(groups, source)
        return run_parts(self.executor, groups, lambda group: self._write_shard(group[0], group[1], source), lambda: None)

    def _write_shards_locally(
        self, groups: list[tuple[tuple[int, ...], dict[Position, list[Any]]]], source: np.ndarray[Any, Any]
    ) -> Future[None]:
        """Write many shards to a local kvstore (file, memory) as the chunked write does: a
        few workers each encode a shard and write it into one write batch of the base
        kvstore, so durability work (the file kvstore's syncs) is shared by the shards and
        overlaps the encoding of the next ones instead of stalling each worker."""
        base = self.kvstore.driver
        io_pool = base.executor
        pool = io_pool if io_pool is not None else self.executor
        batch = base.write_batch()
        limit = pool.limit
        if io_pool is not None:
            limit = min(limit, batch.writers(self.kvstore.path.encode("utf-8"), self.executor.limit))
        return pull_workers(
            pool, limit, groups, lambda group: self._write_shard(group[0], group[1], source, batch), batch.finish, None
        )

    def _positions_in_bounds(self, shard: tuple[int, ...]) -> int:
        count = 1
        chunk, shape = self.grid_chunk_shape, self.shape
        for dim, (index, grid) in enumerate(zip(shard, self._sharding.grid_shape, strict=True)):
            inner = chunk[dim]
            remaining = shape[dim] - index * grid * inner
            count *= min(grid, -(-remaining // inner))
        return count

    def _write_shard(
        self,
        shard: tuple[int, ...],
        members: dict[Position, list[Any]],
        source: np.ndarray[Any, Any],
        batch: WriteBatch | None = None,
    ) -> None:
        """Write one shard once: directly when every in-bounds inner chunk is overwritten, else
        read-modify-write (``IndexedShard.read_modify_write``, retried on a conflict)."""
        covered = {p for p, parts in members.items() if any(self.covers_chunk(part) for part in parts)}
        whole = len(covered) == self._positions_in_bounds(shard) == len(members)
        chunk_shape = self.grid_chunk_shape
        store_fill = self.store_data_equal_to_fill_value
        cache = self.chunk_cache

        def update(chunks: dict[Position, bytes]) -> bool:
            for position, parts in members.items():
                to_copy = parts
                whole_part = parts[0] if position in covered and len(parts) == 1 else None
                if whole_part is not None and source[whole_part.array_selection].shape == chunk_shape:
                    # An interior chunk overwritten whole: encode straight from the source.
                    storage = source[whole_part.array_selection]
                    to_copy = []
                elif position in covered or position not in chunks:
                    storage = self.fill_chunk()
                else:
                    storage = np.array(cache.decode(self._inner_key(shard, position), chunks[position]), copy=True)
                for part in to_copy:
                    storage[part.cell_selection] = source[part.array_selection]
                if not store_fill and self.equals_fill(storage):
                    chunks.pop(position, None)
                else:
                    chunks[position] = self.encode_chunk(storage)
            return True

        self._shard(shard).read_modify_write(update, read=not whole, batch=batch)
        for position in members:
            cache.discard(self._inner_key(shard, position))


def _split_groups(
    groups: list[tuple[tuple[int, ...], dict[Position, list[Any]]]], workers: int, min_run: int = 1
) -> list[tuple[tuple[int, ...], dict[Position, list[Any]]]]:
    """Shard groups cut into runs of at least ``min_run`` consecutive inner chunks, so a
    read of fewer shards than ``workers`` still decodes on every worker (each run reads the
    shard index and its own byte ranges; inner chunks are stored in position order, so a
    run stays coalesced)."""
    pieces_per_shard = -(-workers // max(len(groups), 1))
    split = []
    for shard, members in groups:
        positions = sorted(members)
        size = max(min_run, -(-len(positions) // pieces_per_shard))
        for start in range(0, len(positions), size):
            split.append((shard, {position: members[position] for position in positions[start : start + size]}))
    return split


def _with_index_locations(codecs: list[Any]) -> list[Any]:
    """Codec JSON with every shard's ``index_location`` spelled out (as tensorstore's CodecSpec)."""
    result = []
    for codec in codecs:
        if codec.get("name") == "sharding_indexed":
            configuration = dict(codec["configuration"])
            configuration.setdefault("index_location", "end")
            configuration["codecs"] = _with_index_locations(configuration["codecs"])
            codec = {**codec, "configuration": configuration}
        result.append(codec)
    return result
