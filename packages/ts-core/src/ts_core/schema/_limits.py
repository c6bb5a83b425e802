"""Size limits checked before anything is allocated: a chunk, and the result of a read.

Neither tensorstore nor zarr-python states a chunk-size limit; a chunk of 2**40 elements
simply fails later with an allocation error (or an overcommitted process killed by the
kernel). ts refuses such shapes up front, with an error naming the metadata member:

* a decoded chunk (one cell of the chunk grid, with any inner element dimensions) may
  hold at most :data:`MAX_CHUNK_BYTES` bytes (16 GiB): 256 times the largest chunk
  zarr-python's automatic chunking chooses (64 MiB), and blosc cannot compress a buffer
  above 2 GiB at all. The check depends only on the metadata, so an array opens (or
  fails to) identically on every machine.
* the result of a read may be at most the machine's physical memory (:func:`read_bytes_limit`),
  which it could never fit in anyway.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from .._validation import SpecError

__all__ = ["MAX_CHUNK_BYTES", "check_chunk_bytes", "check_read_bytes", "read_bytes_limit"]

#: Largest decoded chunk, in bytes, that a chunked driver accepts (16 GiB).
MAX_CHUNK_BYTES = 2**34
#: Read-result bound where the physical memory size is unknown: the 47-bit user address
#: space of x86-64 and arm64 processes, which no allocation can exceed.
_ADDRESS_SPACE_BYTES = 2**47


def _byte_size(shape: Sequence[int], itemsize: int) -> int:
    return math.prod(int(n) for n in shape) * int(itemsize)


def _gib(size: int) -> str:
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def check_chunk_bytes(shape: Sequence[int], itemsize: int | None, json_path: str, what: str = "chunk") -> None:
    """Raise ``SpecError`` at ``json_path`` if a ``shape`` chunk of ``itemsize``-byte
    elements exceeds :data:`MAX_CHUNK_BYTES` (computed exactly: no overflow). With
    ``itemsize`` None (not known yet) each element counts as one byte."""
    size = _byte_size(shape, itemsize or 1)
    if size > MAX_CHUNK_BYTES:
        elements = f"{itemsize}-byte elements is {size} bytes" if itemsize else f"{size} elements is at least {size} bytes"
        raise SpecError(
            json_path,
            f"{what} shape {list(shape)} of {elements} ({_gib(size)}) decoded, above the "
            f"limit of {MAX_CHUNK_BYTES} bytes ({_gib(MAX_CHUNK_BYTES)}) per chunk",
        )


#: Largest extent of one dimension: an index domain ends at most at 2**62 - 1
#: (tensorstore's kMaxFiniteIndex + 1), so no larger shape has a domain.
MAX_DIMENSION_SIZE = 2**62 - 1


def check_shape(shape: Sequence[int], json_path: str) -> None:
    """Raise ``SpecError`` at ``json_path`` if a dimension of ``shape`` is beyond
    :data:`MAX_DIMENSION_SIZE` (such an array could be opened but never indexed)."""
    for dim, size in enumerate(shape):
        if int(size) > MAX_DIMENSION_SIZE:
            raise SpecError(
                json_path,
                f"dimension {dim} of shape {list(shape)} is {size}, beyond the largest index "
                f"range of {MAX_DIMENSION_SIZE} elements",
            )


#: A read result this small fits in any machine ts runs on, so its size is not checked
#: against the physical memory (two ``sysconf`` calls, a noticeable part of a small read).
_SURELY_FITS = 1 << 24


def read_bytes_limit() -> int:
    """Largest read result, in bytes: the physical memory size (2**47 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return _ADDRESS_SPACE_BYTES


def check_read_bytes(shape: Sequence[int], itemsize: int) -> None:
    """Raise ``ValueError`` naming the shape and byte count if a read result of ``shape``
    cannot fit in memory; called before the result array is allocated."""
    size = _byte_size(shape, itemsize)
    if size <= _SURELY_FITS:  # most reads: no need to ask the system
        return
    limit = read_bytes_limit()
    if size > limit:
        raise ValueError(
            f"read result of shape {list(shape)} and {itemsize}-byte elements would need "
            f"{size} bytes ({_gib(size)}), more than this machine's {limit} bytes "
            f"({_gib(limit)}) of memory; read a smaller region"
        )
