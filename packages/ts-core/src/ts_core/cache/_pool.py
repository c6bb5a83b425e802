"""CachePool: a byte-limited LRU shared by every store opened with the same Context."""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["CachePool"]


class CachePool:
    """Least-recently-used cache bounded by the total ``nbytes`` of its entries.

    A limit of 0 disables caching (tensorstore's default): ``put`` stores nothing.
    """

    def __init__(self, total_bytes_limit: int = 0) -> None:
        if total_bytes_limit < 0:
            raise ValueError(f"total_bytes_limit must be >= 0, got {total_bytes_limit}")
        self.total_bytes_limit = total_bytes_limit
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total_bytes = 0
        _pools.add(self)

    def get(self, key: Hashable) -> Any | None:
        """The cached value for ``key`` (marking it recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def get_many(self, keys: Sequence[Hashable]) -> list[Any | None]:
        """``get`` of each of ``keys`` under one lock (a many-chunk read's lookups)."""
        entries = self._entries
        found: list[Any | None] = []
        with self._lock:
            for key in keys:
                entry = entries.get(key)
                if entry is None:
                    found.append(None)
                else:
                    entries.move_to_end(key)
                    found.append(entry[0])
        return found

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Insert or replace ``key``; evicts least recently used entries past the limit
        (an entry larger than the whole pool only drops the old one)."""
        self.put_many(((key, value, nbytes),))

    def put_many(self, entries: Sequence[tuple[Hashable, Any, int]]) -> None:
        """``put`` of each ``(key, value, nbytes)`` in order, under one lock (the chunks of
        a many-chunk write)."""
        limit = self.total_bytes_limit
        stored = self._entries
        with self._lock:
            for key, value, nbytes in entries:
                old = stored.pop(key, None)
                if old is not None:
                    self.total_bytes -= old[1]
                if nbytes > limit:
                    continue
                stored[key] = (value, nbytes)
                self.total_bytes += nbytes
            while self.total_bytes > limit:
                _, (_, evicted_bytes) = stored.popitem(last=False)
                self.total_bytes -= evicted_bytes

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.total_bytes -= old[1]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"CachePool(total_bytes_limit={self.total_bytes_limit}, total_bytes={self.total_bytes})"


_pools: weakref.WeakSet[CachePool] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    # A lock held by a parent thread at fork time would stay locked forever in the child.
    for pool in list(_pools):
        pool._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)
