"""A per-thread buffer for the contiguous copy of a chunk that a compressor reads.

A chunk written from a caller's array is a strided view; compressors read one contiguous
buffer, so it is copied first. A fresh array per chunk costs a page fault for every page
of it (glibc returns large freed blocks to the kernel), which was about as much CPU as the
copy and the compression of a compressible chunk together. Each encoding thread copies
into its own reused buffer instead, which the compressor has consumed before the thread
encodes the next chunk.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["MAX_SCRATCH_BYTES", "contiguous", "decoded_buffer", "output_buffer"]

#: Chunks larger than this are copied into a fresh array, so an idle thread never keeps
#: more than this much memory (workers exit after a few idle seconds; the buffer with them).
MAX_SCRATCH_BYTES = 16 * 2**20

_local = threading.local()


def _reused(name: str, nbytes: int) -> np.ndarray[Any, Any]:
    """The first ``nbytes`` of this thread's ``uint8`` buffer ``name``, grown as needed."""
    buffer: np.ndarray[Any, Any] | None = getattr(_local, name, None)
    if buffer is None or buffer.size < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        setattr(_local, name, buffer)
    return buffer[:nbytes]


def _scratch(nbytes: int) -> np.ndarray[Any, Any]:
    return _reused("buffer", nbytes)


def output_buffer(nbytes: int) -> memoryview | None:
    """A writable buffer of ``nbytes`` that this thread reuses (valid until its next
    call), for an encoder's output; None above ``MAX_SCRATCH_BYTES``. Separate from the
    buffer ``contiguous`` fills, which is the encoder's input."""
    if nbytes > MAX_SCRATCH_BYTES:
        return None
    return _reused("output", nbytes).data


def decoded_buffer(nbytes: int) -> np.ndarray[Any, Any] | None:
    """A writable flat ``uint8`` array of ``nbytes`` that this thread reuses (valid until
    its next call), for a chunk decoded only to be modified and encoded again (a
    read-modify-write); None above ``MAX_SCRATCH_BYTES``. Separate from the encoder's
    input and output buffers, which that re-encoding fills from it."""
    if nbytes > MAX_SCRATCH_BYTES:
        return None
    return _reused("decoded", nbytes)


def contiguous(array: np.ndarray[Any, Any], dtype: np.dtype[Any] | None = None) -> np.ndarray[Any, Any]:
    """``array`` (converted to ``dtype``, a byte order of the same type, when given) as a
    C-contiguous array: ``array`` itself when it already is one, else a copy in this
    thread's scratch buffer that stays valid only until this thread's next call. Callers
    hand it straight to a compressor that keeps no reference to its input."""
    dtype = array.dtype if dtype is None else dtype
    if array.flags.c_contiguous and dtype == array.dtype:
        return array
    if array.nbytes > MAX_SCRATCH_BYTES or dtype.hasobject:
        return np.ascontiguousarray(array, dtype=dtype)
    target = _scratch(array.size * dtype.itemsize).view(dtype).reshape(array.shape)
    np.copyto(target, array, casting="equiv")
    return target
