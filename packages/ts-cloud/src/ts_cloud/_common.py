"""Helpers shared by the cloud kvstores: missing-key results, stamps, key prefixes,
bucket-name checks.

How a read's HTTP response becomes a ReadResult is in ``_read_response``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ts_core.errors import SpecError
from ts_core.kvstore import (
    NO_VALUE,
    KeyRange,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    prefix_range,
)

__all__ = ["check_bucket_name", "common_prefix", "missing_result", "now"]


def missing_result(options: ReadOptions, started: float) -> ReadResult:
    """A read of a missing key: ``unspecified`` when ``if_not_equal`` was "no value"."""
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


def check_bucket_name(bucket: str, service: str, problem: Callable[[str], str | None]) -> None:
    """SpecError naming ``bucket`` when ``problem(bucket)`` says why it cannot name a
    bucket of ``service`` ("S3", "GCS"); an empty name is reported when the store opens."""
    reason = problem(bucket) if bucket else None
    if reason is not None:
        raise SpecError("bucket", f'Invalid {service} bucket name: "{bucket}" ({reason})')
