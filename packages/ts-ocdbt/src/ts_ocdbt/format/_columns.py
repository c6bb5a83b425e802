"""Whole columns of a node at once: the prefix compression of sorted keys and varint
columns, computed with numpy instead of a Python step per entry (a leaf may hold tens of
thousands of keys). Every result is byte-identical to the entry-by-entry definition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from ._codec import common_prefix_length

__all__ = ["KeyColumns", "key_columns", "varint_column"]

#: Keys are compared as rows of a zero-padded byte matrix when it has at most this many
#: cells (a few MiB of temporaries); longer keys take the entry-by-entry path.
_MAX_MATRIX_CELLS: Final = 1 << 22
#: A uint64 varint takes at most 10 bytes of 7 bits each.
_MAX_VARINT_BYTES: Final = 10


def varint_column(values: Sequence[int] | np.ndarray[Any, Any]) -> bytes:
    """The unsigned LEB128 encodings of ``values``, concatenated."""
    array = np.asarray(values, dtype=np.uint64)
    if not array.size:
        return b""
    if int(array.max()) < 0x80:  # the common case: one byte each
        return array.astype(np.uint8).tobytes()
    sizes = np.ones(array.shape, dtype=np.int64)
    for shift in range(7, 7 * _MAX_VARINT_BYTES, 7):
        sizes += array >= np.uint64(1 << shift)
    starts = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    for index in range(int(sizes.max())):
        rows = np.flatnonzero(sizes > index)
        digits = (array[rows] >> np.uint64(7 * index)) & np.uint64(0x7F)
        more = (sizes[rows] > index + 1).astype(np.uint64) << np.uint64(7)
        out[starts[rows] + index] = (digits | more).astype(np.uint8)
    return out.tobytes()


class KeyColumns:
    """Sorted keys stored without their first ``excluded`` bytes, prefix-compressed against
    each other (the B+tree node's key columns): the first ``prefix_lengths[i - 1]`` bytes
    of stored key ``i`` are those of stored key ``i - 1`` and the next
    ``suffix_lengths[i]`` are in ``suffixes``; ``max_length`` is the longest full key.
    (The lengths are int64 arrays or lists of ints: what ``varint_column`` encodes.)"""

    __slots__ = ("max_length", "prefix_lengths", "suffix_lengths", "suffixes")

    def __init__(
        self,
        prefix_lengths: Sequence[int] | np.ndarray[Any, Any],
        suffix_lengths: Sequence[int] | np.ndarray[Any, Any],
        suffixes: bytes,
        max_length: int,
    ) -> None:
        self.prefix_lengths = prefix_lengths
        self.suffix_lengths = suffix_lengths
        self.suffixes = suffixes
        self.max_length = max_length


def key_columns(
    keys: Sequence[bytes], excluded: int = 0, lengths: np.ndarray[Any, Any] | None = None
) -> KeyColumns:
    """Prefix-compress ``keys``, which must be strictly increasing and all start with the
    same ``excluded`` bytes (dropped); ValueError naming the first pair out of order.
    ``lengths`` are the keys' lengths (int64), if the caller has them already."""
    count = len(keys)
    if lengths is None:
        lengths = np.fromiter(map(len, keys), dtype=np.int64, count=count)
    width = int(lengths.max()) if count else 0
    if count < 2 or width == 0 or count * width > _MAX_MATRIX_CELLS:
        return _key_columns_by_entry(keys, excluded)
    matrix = np.array(keys, dtype=f"S{width}").view(np.uint8).reshape(count, width)
    differ = matrix[1:] != matrix[:-1]
    first_difference = differ.argmax(axis=1)  # 0 also where the rows do not differ at all
    first_difference[~differ[np.arange(count - 1), first_difference]] = width
    del differ
    shorter = np.minimum(lengths[1:], lengths[:-1])
    common = np.minimum(first_difference, shorter)
    # Key i sorts after key i - 1: at their first differing byte, or by being longer when
    # the previous key is a prefix of it (the zero padding is never compared).
    rows = np.arange(1, count)
    column = np.minimum(common, width - 1)
    increasing = np.where(
        common < shorter,
        matrix[rows, column] > matrix[rows - 1, column],
        lengths[1:] > lengths[:-1],
    )
    if not increasing.all():
        i = int(np.argmin(increasing)) + 1
        raise ValueError(f"b+tree node keys out of order: {keys[i]!r} after {keys[i - 1]!r}")
    if int(common.min()) < excluded:
        raise ValueError(f"the keys of a b+tree node do not all share the {excluded} bytes it excludes")
    starts = np.concatenate(([excluded], common))  # where each key's stored suffix starts
    columns = np.arange(width)
    stored = (columns >= starts[:, None]) & (columns < lengths[:, None])
    return KeyColumns(common - excluded, lengths - starts, matrix[stored].tobytes(), width)


def _key_columns_by_entry(keys: Sequence[bytes], excluded: int) -> KeyColumns:
    starts = [excluded]
    for i in range(1, len(keys)):
        if keys[i] <= keys[i - 1]:
            raise ValueError(f"b+tree node keys out of order: {keys[i]!r} after {keys[i - 1]!r}")
        common = common_prefix_length(keys[i - 1], keys[i])
        if common < excluded:
            raise ValueError(f"the keys of a b+tree node do not all share the {excluded} bytes it excludes")
        starts.append(common)
    suffixes = b"".join([key[start:] for key, start in zip(keys, starts, strict=True)])
    suffix_lengths = [len(key) - start for key, start in zip(keys, starts, strict=True)]
    return KeyColumns(
        [start - excluded for start in starts[1:]],
        suffix_lengths,
        suffixes,
        max(map(len, keys), default=0),
    )
