"""The exceptions ts raises, and the helpers that make their messages name what is wrong.

Plugins raise these (never a bare ``Exception``) so a user sees the same kinds of error
whatever driver, kvstore or codec failed:

* :class:`SpecError` — a spec, metadata object or option is invalid; ``json_path`` names
  the offending member (``"metadata.chunks[1]"``).
* :class:`ChunkError` — stored chunk bytes could not be decoded (corrupt, truncated,
  the wrong size); the message names the chunk's key.
* :class:`ChunkStorageError` — the kvstore failed while reading or writing a chunk.
* :class:`TransactionConflictError` — a transaction's commit found that what it read
  has changed.
* :class:`OutOfRangeError` — a read or write reaches outside the array's bounds (a
  ``ValueError`` as in tensorstore, and an ``IndexError``).

``describe(value)`` renders a JSON value the way error messages quote it.
"""

from __future__ import annotations

from ._validation import SpecError, describe

__all__ = [
    "ChunkError",
    "ChunkStorageError",
    "OutOfRangeError",
    "SpecError",
    "TransactionConflictError",
    "describe",
]


class ChunkError(ValueError):
    """A stored chunk could not be decoded (corrupt, truncated, wrong size)."""


class ChunkStorageError(OSError):
    """The kvstore failed while reading or writing a chunk; names the chunk's key."""


class TransactionConflictError(ValueError):
    """The data a transaction depends on changed before it committed."""


class OutOfRangeError(ValueError, IndexError):
    """A read or write outside the array's bounds: a ValueError as in tensorstore, and an
    IndexError, so code that catches either sees it. Drivers raise it from bounds checks."""

    def __str__(self) -> str:
        message = super().__str__()
        return message if message.startswith("OUT_OF_RANGE") else f"OUT_OF_RANGE: {message}"
