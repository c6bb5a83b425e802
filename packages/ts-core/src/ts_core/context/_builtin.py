"""ts-core's own context resources; registered through the ``ts`` entry point like any plugin."""

from __future__ import annotations

import os
import random
import re
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .._executor import Executor, default_concurrency
from ._context import Context
from ._provider import ContextResourceProvider

__all__ = [
    "CachePoolProvider",
    "DataCopyConcurrency",
    "FileIoConcurrency",
    "FileIoLocking",
    "FileIoMode",
    "FileIoRetries",
    "FileIoRetryPolicy",
    "FileIoSync",
    "parse_duration",
]

#: The process-wide "shared" pools, by resource name (they reset themselves in a forked child).
_shared_executors: dict[str, Executor] = {}
_shared_lock = threading.Lock()


def _reset_shared_lock_after_fork() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()  # a parent thread may have held it at fork time


os.register_at_fork(after_in_child=_reset_shared_lock_after_fork)

#: Threads for "shared" file I/O concurrency, at least. File threads mostly wait in the
#: kernel (fsync, reads), and a local disk completes many concurrent fsyncs faster than
#: a few: bulk zarr writes measured ~15% faster with 16 than with 4 on a 2-core machine.
MIN_SHARED_FILE_IO_CONCURRENCY = 16


class CachePoolProvider(ContextResourceProvider):
    """``cache_pool``: the in-memory cache, bounded by ``total_bytes_limit`` (default 0)."""

    @classmethod
    def create(cls, spec: Any, context: Context) -> Any:
        global _cache_pool_class
        if _cache_pool_class is None:  # the cache layer sits above this one: imported on first use
            from ..cache import CachePool

            _cache_pool_class = CachePool
        return _cache_pool_class(int(spec.get("total_bytes_limit", 0)))


_cache_pool_class: Any = None


class _ConcurrencyProvider(ContextResourceProvider):
    """``{"limit": n}`` makes a pool of its own; ``"shared"`` (the default) is one pool per
    resource kind for the whole process, as in tensorstore, so opening many arrays with
    default contexts does not multiply threads."""

    name = "ts"
    shared_default = True

    @classmethod
    def shared_limit(cls) -> int:
        return default_concurrency()

    @classmethod
    def create(cls, spec: Any, context: Context) -> Executor:
        limit = spec.get("limit", "shared")
        if limit != "shared":
            return Executor(int(limit), cls.name)
        with _shared_lock:
            shared = _shared_executors.get(cls.name)
            if shared is None:
                shared = _shared_executors[cls.name] = Executor(cls.shared_limit(), cls.name)
            return shared


class DataCopyConcurrency(_ConcurrencyProvider):
    """``data_copy_concurrency``: threads for encoding, decoding and copying (default: cores)."""

    name = "ts-data-copy"


class FileIoConcurrency(_ConcurrencyProvider):
    """``file_io_concurrency``: threads for blocking file I/O (default: max(16, cores))."""

    name = "ts-file-io"

    @classmethod
    def shared_limit(cls) -> int:
        return max(MIN_SHARED_FILE_IO_CONCURRENCY, default_concurrency())


class FileIoSync(ContextResourceProvider):
    """``file_io_sync``: whether file writes are fsync'ed before they are reported done."""

    default_spec = True
    config_only = True
    shared_default = True

    @classmethod
    def create(cls, spec: Any, context: Context) -> bool:
        return bool(spec)


class FileIoLocking(ContextResourceProvider):
    """``file_io_locking``: accepted for compatibility with tensorstore specs.

    ts always uses its lock-file protocol (which is what keeps conditional writes safe
    across processes), whatever ``mode`` says; the JSON is kept so specs round-trip.
    """

    config_only = True
    shared_default = True  # read-only

    @classmethod
    def create(cls, spec: Any, context: Context) -> Mapping[str, Any]:
        return MappingProxyType(dict(spec))


class FileIoMode(ContextResourceProvider):
    """``file_io_mode``: accepted for compatibility; ts reads files with ordinary I/O."""

    config_only = True
    shared_default = True  # read-only

    @classmethod
    def create(cls, spec: Any, context: Context) -> Mapping[str, Any]:
        return MappingProxyType(dict(spec))


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, name: str) -> float:
    """``"1s"``, ``"250ms"``, ``"1m30s"`` (tensorstore's duration strings) -> seconds."""
    parts = _DURATION_PART.findall(text) if isinstance(text, str) else []
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(
            f'{name}: expected a duration formatted as a string using time units "ns", "us", '
            f'"ms", "s", "m" or "h", but received: {text!r}'
        )
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


@attrs.frozen
class FileIoRetryPolicy:
    """Bounded exponential backoff for transient file errors: retry ``n`` (from 0) waits
    up to ``initial_delay * 2**n``, never more than ``max_delay``."""

    max_retries: int = 0
    initial_delay: float = 1.0
    max_delay: float = 32.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based), jittered in the upper half."""
        ceiling = min(self.max_delay, self.initial_delay * (2.0**attempt))
        return ceiling * (0.5 + random.random() / 2)


class FileIoRetries(ContextResourceProvider):
    """``file_io_retries``: how often the ``file`` kvstore retries a read or a listing that
    failed with a transient error (``{"max_retries": 0, "initial_delay": "1s",
    "max_delay": "32s"}`` by default: no retries, as in tensorstore)."""

    config_only = True
    shared_default = True  # a frozen policy

    @classmethod
    def create(cls, spec: Any, context: Context) -> FileIoRetryPolicy:
        return FileIoRetryPolicy(
            max_retries=int(spec.get("max_retries", 0)),
            initial_delay=parse_duration(spec.get("initial_delay", "1s"), "file_io_retries.initial_delay"),
            max_delay=parse_duration(spec.get("max_delay", "32s"), "file_io_retries.max_delay"),
        )
