"""The kvstore a precomputed scale's chunks are read from and written to by the driver.

The chunked-driver base hands whole grid cells to ``encode_chunk`` and expects whole grid
cells from ``decode_chunk``, without saying which chunk they are. Precomputed chunks at the
upper edge of a volume are stored truncated to the volume, and their encoding must be told
their shape. So the driver's own chunk codec is the raw layout of a whole cell (``x``
fastest, little-endian: what a ``raw`` interior chunk stores), and this adapter, which
sees each chunk's key (``x0-x1_y0-y1_z0-z1``, the chunk's bounds), converts between that
and the scale's encoding of the truncated chunk. A raw interior chunk passes through
untouched; nothing else about reads and writes (generations, conditions, listing)
changes.

In a transaction over a base that commits many keys at once (ocdbt), or over a sharded
scale's chunk-id store, the chunks are committed through ``commit_atomic``: each staged
chunk becomes a write of its stored (encoded) bytes (``lower_staged``), lowered adapter by
adapter down to the store that commits them, so a volume's chunks (and shards) become one
ocdbt version together with whatever else the transaction wrote to that database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ts_core.errors import ChunkError
from ts_core.kvstore import (
    KeyRange,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedWrite,
    TimestampedStorageGeneration,
    WriteBatch,
    commit_staged,
)

from ._sharded_kvstore import LoweredWrites
from .encoding_api import ChunkEncoding

__all__ = ["EncodedChunkStore", "cell_array", "cell_buffer", "chunk_bounds"]

#: One dimension of a chunk key: ``<start>-<stop>`` (either may be negative).
_BOUNDS = re.compile(rb"(-?\d+)-(-?\d+)")


def chunk_bounds(key: bytes) -> tuple[tuple[int, int], ...] | None:
    """The ``(start, stop)`` per XYZ dimension a chunk key names, or None if it names none."""
    name = key.rsplit(b"/", 1)[-1]
    parts = name.split(b"_")
    if len(parts) != 3:
        return None
    bounds = []
    for part in parts:
        match = _BOUNDS.fullmatch(part)
        if match is None:
            return None
        bounds.append((int(match.group(1)), int(match.group(2))))
    return tuple(bounds)


def cell_buffer(cell: np.ndarray[Any, Any]) -> memoryview:
    """A whole cell (``x, y, z, channel``, any memory order) as the bytes of its x-fastest
    layout, without copying it: a buffer over the reversed axes, whose logical (C) order
    is x fastest. ``bytes()`` of it is that layout; ``cell_array`` takes the cell back."""
    return cell.transpose().data


def cell_array(value: bytes | memoryview, dtype: np.dtype[Any], shape: tuple[int, ...], writable: bool = False) -> np.ndarray[Any, Any]:
    """The whole cell of ``shape`` whose x-fastest layout ``value`` holds: a view of a
    ``cell_buffer`` (writable if asked and it is), else of the bytes (read-only)."""
    if isinstance(value, memoryview) and value.ndim == len(shape):
        cell = np.asarray(value).view(dtype).transpose()
        if tuple(cell.shape) != tuple(shape):
            raise ChunkError(f"a cell of shape {list(cell.shape)} is not a chunk of shape {list(shape)}")
        if not writable and cell.flags.writeable:
            cell = cell.view()
            cell.setflags(write=False)
        return cell
    return np.frombuffer(value, dtype=dtype).reshape(shape, order="F")


class EncodedChunkStore(KvStoreDriver):
    """Chunks of one scale in its encoding, seen as whole raw grid cells (not registered)."""

    id = "neuroglancer_precomputed_chunks"
    spec_class = dict

    def __init__(self, base: KvStoreDriver, encoding: ChunkEncoding, chunk_shape: tuple[int, int, int, int], dtype: np.dtype[Any]) -> None:
        self.base = base
        self.encoding = encoding
        #: Shape of a grid cell, ``(x, y, z, channel)``.
        self.chunk_shape = chunk_shape
        #: Element type of the whole-cell layout (little-endian).
        self.stored_dtype = np.dtype(dtype).newbyteorder("<")
        self.cell_bytes = int(np.prod(chunk_shape)) * self.stored_dtype.itemsize
        self.passthrough = encoding.name == "raw"
        self.local_io = base.local_io  # type: ignore[misc]

    @classmethod
    def open(cls, spec: Any, context: Any) -> EncodedChunkStore:
        raise NotImplementedError("the precomputed chunk store is created by the neuroglancer_precomputed driver")

    @property
    def spec(self) -> Any:
        return self.base.spec

    @property
    def executor(self) -> Any:
        return self.base.executor

    # -- conversions ------------------------------------------------------------------------
    def stored_shape(self, key: bytes) -> tuple[int, int, int, int]:
        """The (truncated) shape of the chunk ``key`` names."""
        bounds = chunk_bounds(key)
        if bounds is None:
            raise ChunkError(f"{key.decode('utf-8', 'backslashreplace')!r} is not a chunk key")
        shape = tuple(stop - start for start, stop in bounds)
        if any(not 0 < extent <= cell for extent, cell in zip(shape, self.chunk_shape, strict=False)):
            raise ChunkError(f"chunk key {key.decode('utf-8', 'backslashreplace')!r} does not name a chunk of this scale")
        return (*shape, self.chunk_shape[3])  # type: ignore[return-value]

    def to_cell(self, key: bytes, data: bytes) -> bytes:
        """Stored bytes of chunk ``key`` to the whole-cell layout; ChunkError naming the key."""
        shape = self.stored_shape(key)
        try:
            if self.passthrough and shape == self.chunk_shape:
                if len(data) != self.cell_bytes:
                    self.encoding.decode(data, shape)  # raises, saying what is wrong
                return data
            chunk = self.encoding.decode(data, shape)
            if tuple(chunk.shape) != shape:
                raise ChunkError(f"the encoding decoded a chunk of shape {list(chunk.shape)}, not {list(shape)}")
        except Exception as exc:
            raise ChunkError(f"error decoding chunk {key.decode('utf-8', 'backslashreplace')!r}: {exc}") from exc
        if shape == self.chunk_shape:
            cell = np.asarray(chunk, dtype=self.stored_dtype, order="F")
        else:
            cell = np.zeros(self.chunk_shape, dtype=self.stored_dtype, order="F")
            cell[: shape[0], : shape[1], : shape[2]] = chunk
        return cell.tobytes(order="F")

    def to_stored(self, key: bytes, value: bytes) -> bytes:
        """The whole-cell layout of chunk ``key`` to its stored (truncated, encoded) bytes.

        ``value`` may be a ``cell_buffer`` (the driver's own copy of the cell): the
        encoding then reads that array as it is, in its memory order."""
        shape = self.stored_shape(key)
        if self.passthrough and shape == self.chunk_shape:
            return value if isinstance(value, bytes) else bytes(value)
        cell = cell_array(value, self.stored_dtype, self.chunk_shape, writable=True)
        return self.encoding.encode(cell[: shape[0], : shape[1], : shape[2]])

    # -- the kvstore contract ------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        whole = options if options.byte_range.is_full else ReadOptions(options.if_not_equal, options.staleness_bound)
        result = self.base.read(key, whole)
        if result.state != "value":
            return result
        value = self.to_cell(key, result.value)
        if not options.byte_range.is_full:
            start, stop = options.byte_range.resolve(len(value), key)
            value = value[start:stop]
        return ReadResult("value", value, result.stamp)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self.base.write(key, None if value is None else self.to_stored(key, value), if_equal)

    def write_batch(self) -> WriteBatch:
        return _EncodingWriteBatch(self, self.base.write_batch())

    def delete_range(self, key_range: KeyRange) -> None:
        self.base.delete_range(key_range)

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        return self.base.list(key_range)

    def check_path(self, path: str) -> None:
        self.base.check_path(path)

    def check_key(self, path: str, key: bytes) -> None:
        self.base.check_key(path, key)

    def check_key_range(self, path: str, key_range: KeyRange) -> None:
        self.base.check_key_range(path, key_range)

    def describe_key(self, key: bytes) -> str:
        return self.base.describe_key(key)

    # -- transactions: chunks committed with the base's commit_atomic --------------------------
    @property
    def commits_atomically(self) -> bool:
        return self.base.commits_atomically

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        return self.base if self.base.commits_atomically else None

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> LoweredWrites:
        """Staged whole-cell chunks as writes of their stored bytes (same keys)."""
        return [self._stored_write(write) for write in writes], list(deleted_ranges)

    def _stored_write(self, write: StagedWrite) -> StagedWrite:
        modify = write.modify
        if modify is None:
            return write
        key, reads_stored = write.key, write.reads_stored

        def stored_modify(stored: bytes | None) -> bytes | None:
            cell = modify(self.to_cell(key, stored) if reads_stored and stored is not None else None)
            return None if cell is None else self.to_stored(key, cell)

        return StagedWrite(key, stored_modify, write.condition, reads_stored)

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        """Commit chunks with one ``commit_atomic`` call of the store at the bottom of the
        chain, each encoded by this store and lowered adapter by adapter."""
        if self.atomic_base is None:
            return super().commit_atomic(writes, deleted_ranges)  # raises: the base cannot
        return commit_staged(self, writes, deleted_ranges)


class _EncodingWriteBatch(WriteBatch):
    """The base store's write batch, with each value encoded first."""

    def __init__(self, store: EncodedChunkStore, base_batch: WriteBatch) -> None:
        super().__init__(store)
        self.store = store
        self.base_batch = base_batch

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self.base_batch.write(key, None if value is None else self.store.to_stored(key, value), if_equal)

    def finish(self) -> None:
        self.base_batch.finish()

    def writers(self, key_prefix: bytes, cores: int) -> int:
        return self.base_batch.writers(key_prefix, cores)
