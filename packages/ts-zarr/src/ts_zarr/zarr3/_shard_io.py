"""Reading and writing single inner chunks of a stored shard through a base kvstore driver.

Reads fetch the index (one byte-range read) and then only the inner chunk's bytes; both
reads must see the same shard generation, else they are repeated. Writes rewrite the shard
conditioned on the generation read, so concurrent writers to one shard lose nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    ByteRange,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    WriteBatch,
    coalesce_byte_ranges,
)

from ._sharding import MISSING, ShardIndexFormat

__all__ = ["IndexedShard", "chunk_generation", "coalesce", "read_range"]

Position = tuple[int, ...]
#: Gap (bytes) below which two wanted byte ranges of a shard are read as one.
COALESCE_GAP = 4096


def chunk_generation(value: bytes | None) -> bytes:
    """Generation of one inner chunk: a digest of its bytes (no value when absent).

    Inner chunks share their shard's generation, which every write to the shard changes;
    a digest changes only when this chunk does, so a transaction that read one inner chunk
    does not conflict with its own writes to the chunk's neighbours.
    """
    if value is None:
        return NO_VALUE
    import hashlib  # here: importing it loads OpenSSL, ~7 ms of every process opening a zarr3 array

    return hashlib.blake2b(value, digest_size=16).digest() + b"\x00"


def read_range(
    driver: KvStoreDriver, key: bytes, start: int = 0, stop: int | None = None, if_not_equal: bytes | None = None
) -> ReadResult:
    """One read of ``key`` (bytes ``[start, stop)``; a negative start is a suffix)."""
    return driver.read(key, ReadOptions(if_not_equal=if_not_equal, byte_range=ByteRange(start, stop)))


def coalesce(ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP) -> list[tuple[int, int]]:
    """Ranges that overlap or lie at most ``gap`` apart merged (one ranged read each)."""
    return coalesce_byte_ranges(ranges, gap)


class IndexedShard:
    """One shard object (``key`` in ``driver``) laid out by ``index_format``."""

    def __init__(self, driver: KvStoreDriver, key: bytes, index_format: ShardIndexFormat) -> None:
        self.driver, self.key, self.format = driver, key, index_format

    def _name(self) -> str:
        return self.key.decode("utf-8", "surrogateescape")

    def read_index(self, if_not_equal: bytes | None = None) -> tuple[ReadResult, np.ndarray[Any, Any] | None]:
        """The index read (state/stamp) and the decoded index (None if missing or unchanged)."""
        start, stop = self.format.index_byte_range()
        try:
            result = read_range(self.driver, self.key, start, stop, if_not_equal)
        except ValueError as exc:
            raise ValueError(f"corrupt shard {self._name()!r}: {exc}") from None
        if result.state != "value":
            return result, None
        try:
            return result, self.format.decode_index(result.value)
        except ValueError as exc:
            raise ValueError(f"shard {self._name()!r}: {exc}") from None

    def read_chunks(self, positions: Sequence[Position], if_not_equal: bytes | None = None) -> tuple[ReadResult, dict[Position, bytes]]:
        """Encoded inner chunks at ``positions`` (absent ones omitted), with coalesced range reads."""
        while True:
            result, index = self.read_index(if_not_equal)
            if index is None:
                return result, {}
            generation = result.stamp.generation
            wanted = {}
            for position in positions:
                offset, nbytes = (int(v) for v in index[position])
                if offset != MISSING:
                    limit = self.format.max_chunk_size
                    if limit is not None and nbytes > limit:  # a corrupt index must not cause a huge read
                        raise ValueError(
                            f"corrupt shard {self._name()!r}: its index gives inner chunk {list(position)} "
                            f"{nbytes} bytes, but inner chunks encode to at most {limit}"
                        )
                    wanted[position] = (offset, offset + nbytes)
            chunks: dict[Position, bytes] = {}
            consistent = True
            for start, stop in coalesce(wanted.values()):
                if start == stop:
                    continue
                try:
                    part = read_range(self.driver, self.key, start, stop)
                except ValueError as exc:
                    raise ValueError(f"corrupt shard {self._name()!r}: {exc}") from None
                if part.state != "value" or part.stamp.generation != generation:
                    consistent = False  # rewritten between the index read and this one
                    break
                if len(part.value) < stop - start:
                    raise ValueError(
                        f"corrupt shard {self._name()!r}: its index points to bytes [{start}, {stop}), "
                        f"past the end of the shard"
                    )
                for position, (chunk_start, chunk_stop) in wanted.items():
                    if start <= chunk_start and chunk_stop <= stop:
                        chunks[position] = part.value[chunk_start - start : chunk_stop - start]
            if consistent:
                for position, (chunk_start, chunk_stop) in wanted.items():
                    if chunk_start == chunk_stop:
                        chunks[position] = b""
                return result, chunks
            if_not_equal = None

    def read_all(self) -> tuple[bytes, dict[Position, bytes]]:
        """Generation and every present inner chunk of the whole shard (one read)."""
        result = self.driver.read(self.key, ReadOptions())
        if result.state != "value":
            return result.stamp.generation or NO_VALUE, {}
        try:
            return result.stamp.generation, self.format.split(result.value)
        except ValueError as exc:
            raise ValueError(f"shard {self._name()!r}: {exc}") from None

    def write_all(
        self, chunks: dict[Position, bytes], if_equal: bytes | None, batch: WriteBatch | None = None
    ) -> TimestampedStorageGeneration:
        """Replace the shard (delete it when no chunk is left), into ``batch`` if given."""
        writer = self.driver if batch is None else batch
        return writer.write(self.key, self.format.assemble(chunks), if_equal)

    def read_modify_write(
        self, update: Callable[[dict[Position, bytes]], bool], *, read: bool = True, batch: WriteBatch | None = None
    ) -> TimestampedStorageGeneration | None:
        """Apply ``update`` to the shard's encoded inner chunks (changed in place) and write the
        shard conditioned on the generation read; if the shard changed meanwhile, read it and
        apply ``update`` again. ``update`` returns False to write nothing (then None is
        returned). With ``read=False`` the shard is replaced unconditionally, from no chunks.
        With a ``batch`` (of this shard's driver) the write goes into it, durable once the
        batch finishes.

        The one shard read-modify-write: the zarr3 driver's grouped writes and single inner
        chunk writes (``write_chunk``) both go through it.
        """
        while True:
            generation, chunks = self.read_all() if read else (None, {})
            if not update(chunks):
                return None
            stamp = self.write_all(chunks, generation, batch)
            if generation is None or stamp.generation != UNKNOWN:
                return stamp

    def write_chunk(self, position: Position, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        """Read-modify-write one inner chunk; ``if_equal`` is the chunk's ``chunk_generation``."""
        unchanged = [NO_VALUE]  # the stamp's generation when nothing is written

        def update(chunks: dict[Position, bytes]) -> bool:
            if if_equal not in (None, UNKNOWN) and if_equal != chunk_generation(chunks.get(position)):
                unchanged[0] = UNKNOWN  # the condition failed
                return False
            if value is not None:
                chunks[position] = value
                return True
            return chunks.pop(position, None) is not None  # deleting an absent chunk writes nothing

        stamp = self.read_modify_write(update)
        if stamp is None:
            return TimestampedStorageGeneration(unchanged[0], time.time())
        return TimestampedStorageGeneration(chunk_generation(value), stamp.time)

    def present_positions(self) -> list[Position]:
        _, index = self.read_index()
        if index is None:
            return []
        present = np.argwhere(index[..., 0] != MISSING)
        return [tuple(int(i) for i in row) for row in present]
