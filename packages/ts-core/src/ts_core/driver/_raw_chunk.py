"""Reading only the needed bytes of chunks stored raw (their elements and nothing else).

A format whose chunk is stored as its elements in C order of some permutation of the
chunk's dimensions (zarr3's ``bytes`` codec alone, possibly after ``transpose``; zarr v2
with no compressor and no filters) says so with ``KvsChunkedDriver.raw_chunk_layout``.
A read that takes a small part of such a chunk and will not cache it then reads only
the byte ranges holding that part, all from one version of the chunk
(``KvStore.read_byte_ranges_blocking``), and gathers the elements from them: an
``oindex`` or ``vindex`` read touching every chunk of an array reads a few kilobytes of
each instead of all of it. Anything unexpected about the stored chunk (missing bytes, a
size that is not the chunk's) sends the part down the whole-chunk path, which reports it
as it always does. A part worth reading whole is read here too (``read_whole``): the
stored bytes are the chunk's elements, so they are viewed as the chunk and copied from,
with none of the chunk cache's and codec pipeline's per-chunk work.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..index_space import ChunkPart
    from ..kvstore import ByteRangesReadResult, KvStore
    from ._part_copy import PartCopy

__all__ = ["RANGED_MIN_CHUNK_BYTES", "RawChunkLayout", "RawChunkReader"]

#: Chunks smaller than this are read whole: a ranged read's fixed cost is most of theirs.
RANGED_MIN_CHUNK_BYTES = 64 * 1024


def _as_dtype(value: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(value)
    return dtype


def _as_order(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(axis) for axis in value)


@attrs.frozen
class RawChunkLayout:
    """A chunk stored as its elements alone: the bytes of
    ``storage.transpose(order).astype(dtype)`` in C order, from offset 0, where
    ``storage`` is the decoded chunk (``grid_chunk_shape``)."""

    #: The stored element type, byte order included (``numpy.dtype(">u2")``).
    dtype: np.dtype[Any] = attrs.field(converter=_as_dtype)
    #: The permutation of the chunk's dimensions the bytes are in C order of.
    order: tuple[int, ...] = attrs.field(converter=_as_order)


def _ranges_reader(kvstore: KvStore) -> Callable[[str, list[tuple[int, int]]], ByteRangesReadResult]:
    """``kvstore.read_byte_ranges_blocking``; outside a transaction on a local kvstore, its
    driver called directly, as the KvStore calls it, without the checks of a caller's
    ranges: these are (start, stop) pairs of ints made here (a part's ranges are many,
    and checking them cost as much as planning them)."""
    driver = kvstore.driver
    if kvstore.transaction is not None or not driver.local_io:
        return kvstore.read_byte_ranges_blocking
    full_key = kvstore._full_key  # the key checks stay

    def read_ranges(key: str, ranges: list[tuple[int, int]]) -> ByteRangesReadResult:
        return driver.read_byte_ranges(full_key(key), ranges)

    return read_ranges


class RawChunkReader:
    """Reads parts of raw chunks by byte ranges for one read (see the module doc)."""

    __slots__ = (
        "_back", "_chunk_bytes", "_chunk_key", "_copy", "_dtype", "_fill", "_fill_missing", "_kvstore", "_layout",
        "_read_ranges", "_stored_shape",
    )

    def __init__(
        self,
        layout: RawChunkLayout,
        chunk_shape: tuple[int, ...],
        kvstore: KvStore,
        chunk_key: Callable[[tuple[int, ...]], str],
        copy: PartCopy,
        fill: Callable[[], np.ndarray[Any, Any]],
        fill_missing: bool,
    ) -> None:
        from ._part_copy import StoredLayout

        self._dtype = layout.dtype
        self._layout = StoredLayout(chunk_shape, layout.order, layout.dtype.itemsize)
        self._chunk_bytes = math.prod(chunk_shape) * layout.dtype.itemsize
        #: The stored bytes as an array: its shape, and the transpose back to the chunk's.
        self._stored_shape = tuple(chunk_shape[dim] for dim in layout.order)
        self._back = tuple(sorted(range(len(layout.order)), key=layout.order.__getitem__))
        self._kvstore = kvstore
        self._read_ranges = _ranges_reader(kvstore)
        self._chunk_key = chunk_key
        self._copy = copy
        self._fill = fill
        self._fill_missing = fill_missing

    def read(self, part: ChunkPart) -> bool:
        """Copy ``part`` out of its chunk by ranged reads; False (having copied nothing)
        when it is better, or only possible, read whole."""
        copy = self._copy
        pieces = copy.stored_pieces(part, self._layout)
        if pieces is None:
            return False
        key = self._chunk_key(part.grid_indices)
        try:
            result = self._read_ranges(key, pieces.ranges)
        except (OSError, ValueError):
            return False  # the whole-chunk read reports what is wrong, naming the chunk
        if result.state != "value":
            self._copy_missing(part, key)
            return True
        if result.size != self._chunk_bytes:
            return False  # not a chunk of this array (or of unknown size): read it whole
        copy.place(part, pieces.gather(result.value, self._dtype))
        return True

    def read_whole(self, part: ChunkPart) -> bool:
        """Copy ``part`` out of its chunk read whole; False (having copied nothing) when
        the stored value is not a chunk of this array, or reading it failed: the general
        path then reads it again and reports what is wrong, naming the chunk."""
        key = self._chunk_key(part.grid_indices)
        try:
            result = self._kvstore.read_blocking(key)
        except Exception:  # reported by the general path, as a chunk storage error if it is one
            return False
        if result.state != "value":
            self._copy_missing(part, key)
            return True
        value = result.value
        if len(value) != self._chunk_bytes:
            return False
        stored = np.frombuffer(value, self._dtype).reshape(self._stored_shape)
        self._copy(part, stored.transpose(self._back))
        return True

    def _copy_missing(self, part: ChunkPart, key: str) -> None:
        if not self._fill_missing:
            raise ValueError(f"chunk {self._kvstore.path + key!r} is missing")
        self._copy(part, self._fill())
