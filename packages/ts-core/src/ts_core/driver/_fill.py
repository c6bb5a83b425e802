"""The fill chunk of a chunked array: what a missing chunk reads as, and what need not be stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FillChunk"]

#: Positions of a chunk compared with the fill value before the whole chunk is.
PROBE_POSITIONS = 64
#: Chunks up to this many bytes are compared whole at once (their bytes against the fill
#: chunk's): cheaper than a probe for small chunks, written by the hundred thousand.
SMALL_CHUNK_BYTES = 4096


class FillChunk:
    """The read-only chunk of fill values of one metadata version, made on first use, and a
    byte-exact comparison with it (so NaN fill values compare equal)."""

    __slots__ = ("_bytes", "_chunk", "_make", "_probe")

    def __init__(self, make: Callable[[], np.ndarray[Any, Any]]) -> None:
        self._make = make
        self._chunk: np.ndarray[Any, Any] | None = None
        self._probe: tuple[Any, np.ndarray[Any, Any]] | None = None
        self._bytes: bytes | None = None  # of a small fill chunk

    @property
    def chunk(self) -> np.ndarray[Any, Any]:
        """The read-only storage array of fill values, shared by every reader."""
        chunk = self._chunk
        if chunk is None:
            chunk = self._make()
            chunk.setflags(write=False)
            self._chunk = chunk
        return chunk

    def _probe_positions(self) -> tuple[Any, np.ndarray[Any, Any]]:
        """Evenly spread positions of a chunk and the fill value's bytes there (one
        fancy-indexing call, whatever the chunk's layout)."""
        if self._probe is None:
            fill = self.chunk
            count = min(fill.size, PROBE_POSITIONS)
            positions = np.arange(count, dtype=np.intp) * (fill.size - 1) // max(count - 1, 1)
            where = np.unravel_index(positions, fill.shape)
            self._probe = (where, np.ascontiguousarray(fill[where]).view(np.uint8))
        return self._probe

    def equals(self, storage: np.ndarray[Any, Any]) -> bool:
        """Whether ``storage`` holds exactly the fill chunk's bytes.

        A sparse probe is compared first, without copying the chunk, which rejects almost
        every real chunk cheaply.
        """
        fill = self.chunk
        if storage.shape != fill.shape:
            return False
        if fill.nbytes <= SMALL_CHUNK_BYTES and storage.dtype == fill.dtype:
            if self._bytes is None:
                self._bytes = fill.tobytes()
            return storage.tobytes() == self._bytes
        if fill.ndim and fill.size:
            where, expected = self._probe_positions()
            if not np.array_equal(np.ascontiguousarray(storage[where]).view(np.uint8), expected):
                return False
        stored_bytes = np.ascontiguousarray(storage).reshape(-1).view(np.uint8)
        return bool(np.array_equal(stored_bytes, np.ascontiguousarray(fill).reshape(-1).view(np.uint8)))
