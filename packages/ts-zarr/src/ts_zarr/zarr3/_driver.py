"""The ``zarr3`` TensorStore driver.

Without sharding, one stored object holds one chunk. With a ``sharding_indexed`` codec the
driver's chunk grid is the inner-chunk grid and its chunk store is a ``ShardedChunkStore``
over the base kvstore, so a read of one inner chunk costs an index read and one byte range.
Whole-array reads and writes are grouped per shard: a shard's wanted inner chunks are read
with coalesced range reads, and a shard is written once (directly when the write covers it,
else read-modify-write conditioned on the generation read).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core.driver import KvsChunkedDriver, SchemaConstraints, check_metadata_members
from ts_core.errors import ChunkError, SpecError
from ts_core.kvstore import UNKNOWN, KvStore

from ._create import metadata_for_create
from ._metadata import METADATA_KEY, Zarr3Metadata, parse_metadata
from ._shard_io import IndexedShard, chunk_generation
from ._sharding_kvstore import INNER_KEY_SEPARATOR, ShardedChunkStore

if TYPE_CHECKING:
    from ts_core import Future
    from ts_core.index_space import IndexTransform
    from ts_core.kvstore import Transaction

__all__ = ["Zarr3Driver"]

Position = tuple[int, ...]


class Zarr3Driver(KvsChunkedDriver):
    """zarr v3 arrays: ``zarr.json`` metadata, a codec chain, optional sharding."""

    id = "zarr3"
    metadata_key = METADATA_KEY

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
        stored = metadata.to_json()

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

        check_metadata_members(stored, spec_members.get("metadata"), normalize)
        wanted_dtype = schema.numpy_dtype
        if wanted_dtype is not None and not metadata.data_type.is_raw and wanted_dtype != metadata.data_type.numpy_dtype:
            raise SpecError("dtype", f"expected {wanted_dtype} but the stored array has {metadata.data_type.name}")

    # -- configuration -----------------------------------------------------------------------
    def _configure(self, metadata: Zarr3Metadata) -> None:
        super()._configure(metadata)
        kvstore = self._kvstore
        if isinstance(kvstore.driver, ShardedChunkStore):
            kvstore = KvStore(kvstore.driver.base, kvstore.path, kvstore.transaction, kvstore.context)
        self._base_kvstore = kvstore
        self._sharding = metadata.codecs.sharding
        self._chain = metadata.codecs if self._sharding is None else self._sharding.inner_chain
        if self._sharding is not None:
            path = kvstore.path.encode("utf-8")
            chunk_store = ShardedChunkStore(
                kvstore.driver, self._sharding.index_format, path,
                lambda key: not key.endswith(METADATA_KEY.encode()),
            )
            self._kvstore = KvStore(chunk_store, kvstore.path, kvstore.transaction, kvstore.context)

    @property
    def kvstore(self) -> KvStore:
        return self._base_kvstore

    def array_shape(self, metadata: Zarr3Metadata) -> tuple[int, ...]:
        return metadata.shape

    def chunk_shape(self, metadata: Zarr3Metadata) -> tuple[int, ...]:
        sharding = metadata.codecs.sharding
        return metadata.chunk_shape if sharding is None else sharding.chunk_shape

    @property
    def inner_shape(self) -> tuple[int, ...]:
        return self._metadata.data_type.inner_shape

    def with_shape(self, metadata: Zarr3Metadata, shape: tuple[int, ...]) -> Zarr3Metadata:
        return metadata.with_shape(shape)

    def _shard_of(self, grid_indices: Sequence[int]) -> tuple[tuple[int, ...], Position]:
        grid = self._sharding.grid_shape
        indices = grid_indices[: len(grid)]
        return tuple(i // n for i, n in zip(indices, grid, strict=True)), tuple(i % n for i, n in zip(indices, grid, strict=True))

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        rank = self._metadata.rank
        if self._sharding is None:
            return self._metadata.chunk_key(grid_indices[:rank])
        shard, position = self._shard_of(grid_indices)
        return f"{self._metadata.chunk_key(shard)}{INNER_KEY_SEPARATOR}{','.join(map(str, position))}"

    def dimension_labels(self) -> list[str]:
        names = self._metadata.dimension_names
        labels = [""] * self._metadata.rank if names is None else [n or "" for n in names]
        return labels + [""] * len(self.inner_shape)

    # -- codec ---------------------------------------------------------------------------------
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        metadata = self._metadata
        storage = np.zeros(tuple(self.chunk_shape(metadata)) + metadata.data_type.inner_shape, dtype=metadata.data_type.numpy_dtype)
        storage[...] = metadata.fill_value
        return storage

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        return self._chain.decode(data)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        return self._chain.encode(storage)

    # -- schema ---------------------------------------------------------------------------------
    def check_codec_constraint(self, codec: Any) -> None:
        """zarr3 codec constraints are partial chains (``["zstd"]`` constrains one stage);
        they shape new arrays but are not compared with an existing array's chain."""

    def codec_json(self) -> dict[str, Any]:
        return {"codecs": _with_index_locations(self._metadata.codecs.to_json()), "driver": "zarr3"}

    def fill_value_array(self) -> np.ndarray[Any, Any]:
        return self._metadata.fill_value

    def inner_order(self) -> list[int]:
        rank = len(self._shape)
        chain = self._chain
        while True:
            if chain.array_codecs:
                codec = chain.array_codecs[0][0]
                order = list(getattr(codec, "order", ()))
                if sorted(order) == list(range(self._metadata.rank)):
                    return order + list(range(len(order), rank))
            sharding = chain.sharding
            if sharding is None:
                return list(range(rank))
            chain = sharding.inner_chain

    def _read_chunk_shape(self) -> tuple[int, ...]:
        """The innermost chunk shape (nested sharding reports its deepest level, as tensorstore)."""
        shape = tuple(self.chunk_shape(self._metadata))
        chain = self._chain
        while chain is not None and chain.sharding is not None:
            shape = chain.sharding.chunk_shape
            chain = chain.sharding.inner_chain
        return shape + self.inner_shape

    @property
    def schema(self) -> Any:
        from ts_core.schema import ChunkLayout, CodecSpec, Schema

        rank = len(self._shape)
        layout = ChunkLayout(
            grid_origin=[0] * rank,
            inner_order=self.inner_order(),
            read_chunk=ChunkLayout.Grid(shape=list(self._read_chunk_shape())),
            write_chunk=ChunkLayout.Grid(shape=list(self._metadata.chunk_shape + self.inner_shape)),
        )
        return Schema(
            dtype=self.numpy_dtype, domain=self.domain, chunk_layout=layout,
            codec=CodecSpec(self.codec_json()), fill_value=self.fill_value_array(),
        )

    def spec_json(self) -> dict[str, Any]:
        return {
            "driver": "zarr3",
            "kvstore": self._base_kvstore.spec().to_json(),
            "metadata": self._metadata.to_json(),
        }

    # -- sharded reads and writes, grouped per shard -------------------------------------------
    def _groups(self, parts: list[Any]) -> list[tuple[tuple[int, ...], dict[Position, list[Any]]]]:
        groups: dict[tuple[int, ...], dict[Position, list[Any]]] = {}
        for part in parts:
            shard, position = self._shard_of(part.grid_indices)
            groups.setdefault(shard, {}).setdefault(position, []).append(part)
        return list(groups.items())

    def _shard(self, shard: tuple[int, ...]) -> IndexedShard:
        key = (self._base_kvstore.path + self._metadata.chunk_key(shard)).encode("utf-8")
        return IndexedShard(self._base_kvstore.driver, key, self._sharding.index_format)

    def _inner_key(self, shard: tuple[int, ...], position: Position) -> str:
        return f"{self._metadata.chunk_key(shard)}{INNER_KEY_SEPARATOR}{','.join(map(str, position))}"

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        from ts_core.index_space import partition_index_transform

        if self._sharding is None or transaction is not None:
            return super().read(transform, transaction)
        self._check_bounds(transform)
        target = np.empty(transform.domain.shape, dtype=self.numpy_dtype)
        groups = self._groups(list(partition_index_transform(transform, self._chunk)))

        def read_shard(group: tuple[tuple[int, ...], dict[Position, list[Any]]]) -> None:
            shard, members = group
            if len(members) == 1:
                (position,) = members
                stored, _ = self._read_storage(self._inner_key(shard, position), self._kvstore)
                storages: Iterator[tuple[Position, np.ndarray[Any, Any] | None]] = iter([(position, stored)])
            else:
                storages = self._read_inner_chunks(shard, list(members))
            for position, stored in storages:  # each decoded chunk is copied out, then dropped
                source = self._fill if stored is None else stored
                for part in members[position]:
                    target[part.array_selection] = source[part.cell_selection]

        return self._run_all(groups, read_shard, lambda: target)

    def _read_inner_chunks(
        self, shard: tuple[int, ...], positions: list[Position]
    ) -> Iterator[tuple[Position, np.ndarray[Any, Any] | None]]:
        """(position, decoded inner chunk or None) for ``positions`` of one shard: fresh cache
        entries, then one index read and coalesced ranges. Chunks are decoded one at a time
        as the caller asks, so a shard never holds all its decoded chunks at once."""
        wanted = []
        for position in positions:
            cached = self._cache_pool.get(self._cache_key(self._inner_key(shard, position)))
            if cached is not None and cached[1] >= self._data_staleness:
                yield position, cached[2]
            else:
                wanted.append(position)
        if not wanted:
            return
        result, chunks = self._shard(shard).read_chunks(wanted)
        for position in wanted:
            key = self._inner_key(shard, position)
            if position not in chunks:
                if not self._fill_missing:
                    raise ValueError(f"chunk {self._kvstore.path + key!r} is missing")
                yield position, None
                continue
            encoded = chunks.pop(position)
            try:
                storage = self.decode_chunk(encoded)
            except Exception as exc:
                raise ChunkError(f"error decoding chunk {self._kvstore.path + key!r}: {exc}") from exc
            storage.setflags(write=False)
            self._remember(self._cache_key(key), chunk_generation(encoded), result.stamp.time, storage)
            yield position, storage

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None) -> Future[None]:
        from ts_core.index_space import partition_index_transform

        if self._sharding is None or transaction is not None:
            return super().write(transform, source, transaction)
        self._check_bounds(transform)
        groups = self._groups(list(partition_index_transform(transform, self._chunk)))
        return self._run_all(groups, lambda group: self._write_shard(group[0], group[1], source), lambda: None)

    def _positions_in_bounds(self, shard: tuple[int, ...]) -> int:
        count = 1
        for dim, (index, grid) in enumerate(zip(shard, self._sharding.grid_shape, strict=True)):
            inner = self._chunk[dim]
            remaining = self._shape[dim] - index * grid * inner
            count *= min(grid, -(-remaining // inner))
        return count

    def _write_shard(self, shard: tuple[int, ...], members: dict[Position, list[Any]], source: np.ndarray[Any, Any]) -> None:
        """Write one shard once: directly when every in-bounds inner chunk is overwritten, else RMW."""
        covered = {p for p, parts in members.items() if any(self._covers_chunk(part) for part in parts)}
        whole = len(covered) == self._positions_in_bounds(shard) == len(members)
        target = self._shard(shard)
        while True:
            generation, chunks = (None, {}) if whole else target.read_all()
            for position, parts in members.items():
                to_copy = parts
                whole_part = parts[0] if position in covered and len(parts) == 1 else None
                if whole_part is not None and source[whole_part.array_selection].shape == self._chunk:
                    # An interior chunk overwritten whole: encode straight from the source.
                    storage = source[whole_part.array_selection]
                    to_copy = []
                elif position in covered or position not in chunks:
                    storage = self.fill_chunk()
                else:
                    key = self._inner_key(shard, position)
                    try:
                        storage = np.array(self.decode_chunk(chunks[position]), copy=True)
                    except Exception as exc:
                        raise ChunkError(f"error decoding chunk {self._kvstore.path + key!r}: {exc}") from exc
                for part in to_copy:
                    storage[part.cell_selection] = source[part.array_selection]
                if not self._store_fill and self._equals_fill(storage):
                    chunks.pop(position, None)
                else:
                    chunks[position] = self.encode_chunk(storage)
            stamp = target.write_all(chunks, generation)
            if generation is None or stamp.generation != UNKNOWN:
                break
        for position in members:
            self._cache_pool.discard(self._cache_key(self._inner_key(shard, position)))


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
