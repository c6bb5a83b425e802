"""Helpers shared by the object-store drivers: byte ranges over HTTP, stamps, key prefixes."""

from __future__ import annotations

import re
import time

from ts_core.kvstore import (
    NO_VALUE,
    ByteRange,
    KeyRange,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    prefix_range,
)

__all__ = [
    "common_prefix",
    "missing_result",
    "range_header",
    "total_size_from_content_range",
]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


def range_header(byte_range: ByteRange) -> str | None:
    """The HTTP ``Range`` value for a byte range; None for the whole value or an empty range.

    An empty (or inverted) range has no HTTP form: the caller fetches the size instead.
    """
    if byte_range.is_full:
        return None
    start, stop = byte_range.inclusive_min, byte_range.exclusive_max
    if start < 0:
        return f"bytes={start}"  # the last -start bytes
    if stop is None:
        return f"bytes={start}-"
    if stop <= start:
        return None
    return f"bytes={start}-{stop - 1}"


def total_size_from_content_range(header: str | None) -> int | None:
    """``bytes 0-9/10`` or ``bytes */10`` -> 10; None when unknown."""
    if not header:
        return None
    match = _CONTENT_RANGE.match(header)
    if match is None or match.group(3) == "*":
        return None
    return int(match.group(3))


def slice_full_value(value: bytes, byte_range: ByteRange, key: bytes) -> bytes:
    start, stop = byte_range.resolve(len(value), key)
    return value[start:stop]


def missing_result(options: ReadOptions, started: float) -> ReadResult:
    stamp = TimestampedStorageGeneration(NO_VALUE, started)
    return ReadResult("unspecified" if options.if_not_equal == NO_VALUE else "missing", b"", stamp)


def now() -> float:
    return time.time()


def common_prefix(key_range: KeyRange) -> bytes:
    """A prefix shared by every key of ``key_range`` (what a listing request can ask for)."""
    lower, upper = key_range.inclusive_min, key_range.exclusive_max
    if not upper:
        return b""
    if prefix_range(lower).exclusive_max == upper:  # exactly "every key starting with lower"
        return lower
    length = 0
    for a, b in zip(lower, upper, strict=False):
        if a != b:
            break
        length += 1
    return lower[:length]
