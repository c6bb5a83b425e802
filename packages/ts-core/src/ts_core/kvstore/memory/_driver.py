"""The ``memory`` kvstore: values in a dict shared through ``memory_key_value_store``."""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote, unquote

import attrs

from ...context import Context, ContextResourceProvider
from .._driver import KvStoreDriver, ReadOptions, ReadResult
from .._generation import NO_VALUE, UNKNOWN, TimestampedStorageGeneration, make_generation
from .._key_range import KeyRange
from .._url import without_url_query

__all__ = ["MemoryKvStore", "MemoryKvStoreSpec", "MemoryStorage", "MemoryStorageProvider", "parse_memory_url"]

_URL_PREFIX = "memory://"
_generation_counter = itertools.count(1)
#: What ``make_generation`` appends to a driver's version bytes (computed once: every
#: write makes a generation).
_GENERATION_SUFFIX = make_generation(b"")


class MemoryStorage:
    """The shared dict behind one ``memory_key_value_store`` resource."""

    def __init__(self) -> None:
        self.values: dict[bytes, tuple[bytes, bytes]] = {}
        # Reentrant: while an atomic transaction holds it, the one key it commits through
        # an adapter (a shard of a sharded array) may write into this storage on the same
        # thread.
        self.lock = threading.RLock()
        _storages.add(self)

    def next_generation(self) -> bytes:
        return next(_generation_counter).to_bytes(8, "little") + _GENERATION_SUFFIX


_storages: weakref.WeakSet[MemoryStorage] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    for storage in list(_storages):
        storage.lock = threading.RLock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


class MemoryStorageProvider(ContextResourceProvider):
    """``memory_key_value_store``: one in-memory key space, shared by name within a Context."""

    @classmethod
    def create(cls, spec: Any, context: Context) -> MemoryStorage:
        return MemoryStorage()


@attrs.define
class MemoryKvStoreSpec:
    memory_key_value_store: Any = "memory_key_value_store"
    atomic: bool = True


class MemoryKvStore(KvStoreDriver):
    """Reads and writes complete synchronously on the caller's thread."""

    id = "memory"
    spec_class = MemoryKvStoreSpec
    local_io = True

    def __init__(self, spec: MemoryKvStoreSpec, storage: MemoryStorage) -> None:
        self._spec = spec
        self._storage = storage

    @classmethod
    def open(cls, spec: Any, context: Context) -> MemoryKvStore:
        storage = context.resource(
            "memory_key_value_store", spec.memory_key_value_store, "kvstore.memory_key_value_store"
        )
        return cls(spec, storage)

    @property
    def spec(self) -> MemoryKvStoreSpec:
        return self._spec

    @property
    def supports_atomic_multi_key(self) -> bool:
        return bool(self._spec.atomic)

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        return _URL_PREFIX + quote(path, safe="/@:!$&'()*+,;=-._~")

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        now = time.time()
        entry = self._storage.values.get(key)
        if entry is None:
            generation = NO_VALUE
            if options.if_not_equal == generation:
                return ReadResult("unspecified", b"", TimestampedStorageGeneration(generation, now))
            return ReadResult("missing", b"", TimestampedStorageGeneration(generation, now))
        value, generation = entry
        stamp = TimestampedStorageGeneration(generation, now)
        if options.if_not_equal == generation:
            return ReadResult("unspecified", b"", stamp)
        if not options.byte_range.is_full:
            start, stop = options.byte_range.resolve(len(value), key)
            value = value[start:stop]
        return ReadResult("value", value, stamp)

    def _check(self, key: bytes, if_equal: bytes | None) -> bool:
        if if_equal is None or if_equal == UNKNOWN:
            return True
        entry = self._storage.values.get(key)
        return (NO_VALUE if entry is None else entry[1]) == if_equal

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        storage = self._storage
        with storage.lock:
            if if_equal is not None and not self._check(key, if_equal):
                return TimestampedStorageGeneration(UNKNOWN, time.time())
            if value is None:
                storage.values.pop(key, None)
                return TimestampedStorageGeneration(NO_VALUE, time.time())
            generation = storage.next_generation()
            # bytes(...) of a bytes object is that object: only other buffers are copied.
            storage.values[key] = (bytes(value), generation)
            return TimestampedStorageGeneration(generation, time.time())

    def write_many(self, writes: list[tuple[bytes, bytes | None, bytes | None]]) -> list[TimestampedStorageGeneration] | None:
        """Apply all writes or none: None if any ``if_equal`` fails (atomic commit)."""
        with self._storage.lock:
            if not self.writes_hold(writes):
                return None
            return self.apply_writes(writes)

    # -- the commit-lock protocol of atomic transactions (see supports_atomic_multi_key) --
    @property
    def storage_identity(self) -> MemoryStorage:
        return self._storage

    @property
    def commit_lock(self) -> AbstractContextManager[Any]:
        """Held by every write of this storage; an atomic commit holds it to check and apply."""
        return self._storage.lock

    def writes_hold(self, writes: list[tuple[bytes, bytes | None, bytes | None]]) -> bool:
        """Whether every ``if_equal`` of ``writes`` holds now (``commit_lock`` held)."""
        return all(self._check(key, if_equal) for key, _, if_equal in writes)

    def apply_writes(self, writes: list[tuple[bytes, bytes | None, bytes | None]]) -> list[TimestampedStorageGeneration]:
        """Store ``writes`` unconditionally (``commit_lock`` held); nothing here can fail part way."""
        stamps = []
        for key, value, _ in writes:
            if value is None:
                self._storage.values.pop(key, None)
                stamps.append(TimestampedStorageGeneration(NO_VALUE, time.time()))
            else:
                generation = self._storage.next_generation()
                self._storage.values[key] = (bytes(value), generation)
                stamps.append(TimestampedStorageGeneration(generation, time.time()))
        return stamps

    def delete_range(self, key_range: KeyRange) -> None:
        with self._storage.lock:
            for key in [k for k in self._storage.values if key_range.contains(k)]:
                del self._storage.values[key]

    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        with self._storage.lock:
            keys = [k for k in self._storage.values if key_range.contains(k)]
        return iter(keys)


def parse_memory_url(url: str) -> dict[str, Any]:
    """``memory://a/b`` -> ``{"driver": "memory", "path": "a/b"}``."""
    if not url.startswith(_URL_PREFIX):
        raise ValueError('expected "memory://path"')
    rest = without_url_query(url[len(_URL_PREFIX):])
    path = unquote(rest)
    return {"driver": "memory", "path": path} if path else {"driver": "memory"}
