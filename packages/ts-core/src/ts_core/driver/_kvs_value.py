"""KvsValueDriver: a TensorStore over one kvstore value decoded whole.

The base of the ``json`` driver and the image drivers (``png``, ``jpeg``, ...), where the
array is not chunked: one stored value (a JSON document, an image file) decodes to the
entire array. The base opens the kvstore a spec names (``kvstore`` plus ``path``), keeps
the decoded value with its storage generation (in the driver, and in the context's
``cache_pool`` for other stores on the same key), revalidates it as ``recheck_cached_data``
says (tensorstore's default for these drivers: data older than the open is rechecked), and
writes by read-modify-write conditioned on the generation it read.
"""

from __future__ import annotations

import abc
import json
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .._executor import run_inline
from .._future import Future
from ..errors import SpecError
from ..kvstore import NO_VALUE, UNKNOWN, KvStore
from ._bounds import check_in_bounds
from ._driver import Driver
from ._open_options import staleness_bound
from ._storage_call import storage_call

if TYPE_CHECKING:
    from .._executor import Executor
    from ..cache import CachePool
    from ..context import Context
    from ..kvstore import Transaction
    from ._open_options import OpenOptions

__all__ = ["KvsValueDriver", "StoredValue"]

#: How many times a non-transactional write re-reads and re-applies after losing a race.
_MAX_WRITE_RETRIES = 1000


class _Entry:
    """The decoded value of one key, shared by every driver open on it with one cache pool
    (tensorstore's pinned cache entry: alive while a driver holds it, whatever the pool's
    size limit)."""

    __slots__ = ("__weakref__", "current", "lock", "store")

    def __init__(self, store: KvStore) -> None:
        self.lock = threading.Lock()
        self.current: StoredValue | None = None
        #: One kvstore handle for all: a transaction tells kvstores apart by driver, so
        #: stores sharing the entry see each other's staged writes.
        self.store = store


_entries: weakref.WeakValueDictionary[tuple[Any, ...], _Entry] = weakref.WeakValueDictionary()
_entries_lock = threading.Lock()


def _reset_after_fork() -> None:
    """Fresh locks in a forked child (a lock another thread held at the fork would never
    be released there); the entries stay, so stores opened before the fork keep working."""
    global _entries_lock
    _entries_lock = threading.Lock()
    for entry in list(_entries.values()):
        entry.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _shared_entry(key: tuple[Any, ...], store: KvStore) -> _Entry:
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry(store)
        return entry


class StoredValue:
    """A decoded value as of a storage generation (``value`` None: the key is missing)."""

    __slots__ = ("generation", "stamp_time", "value")

    def __init__(self, value: Any, generation: bytes, stamp_time: float) -> None:
        self.value = value
        self.generation = generation
        self.stamp_time = stamp_time


def open_value_kvstore(driver_id: str, json_value: dict[str, Any], context: Context, transaction: Any) -> tuple[KvStore, str]:
    """The kvstore holding the value a spec names, and the value's key within it.

    The key is the last component of the spec's path (``kvstore.path`` joined with
    ``path``); the returned store's path is everything before it.
    """
    from ..kvstore import KvStoreSpec

    if "kvstore" not in json_value:
        raise SpecError("kvstore", f'the "{driver_id}" driver needs a "kvstore" member')
    spec = KvStoreSpec(json_value["kvstore"])
    if json_value.get("path"):
        spec = spec / json_value["path"]
    full_path = spec.path
    if not full_path or full_path.endswith("/"):
        raise SpecError(
            "kvstore.path", f'the "{driver_id}" driver reads one value: the path must name a key, but is {full_path!r}'
        )
    directory, _, key = full_path.rpartition("/")
    spec.path = directory + "/" if directory else ""
    return KvStore.open(spec, context=context, transaction=transaction).result(), key


class KvsValueDriver(Driver):
    """One kvstore value decoded to the whole array; subclasses supply the codec."""

    id: ClassVar[str]
    #: Spec members the subclass interprets (kept in ``spec_json`` when given).
    format_members: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, kvstore: KvStore, key: str, json_value: dict[str, Any], context: Context, options: OpenOptions) -> None:
        self._store = kvstore
        self._key = key
        self._context = context
        self._spec_members = {name: json_value[name] for name in self.format_members if name in json_value}
        self._recheck = json_value.get("recheck_cached_data")
        self._executor: Executor = context.resource(
            "data_copy_concurrency", json_value.get("data_copy_concurrency"), "data_copy_concurrency"
        )
        self._pool: CachePool = context.resource("cache_pool", json_value.get("cache_pool"), "cache_pool")
        # An image or a JSON document is data and metadata at once: the later of the two
        # staleness bounds applies (tensorstore's rule); unspecified means the open time.
        bounds = [
            staleness_bound(json_value[name], options.open_time, name)
            for name in ("recheck_cached_data", "recheck_cached_metadata")
            if name in json_value
        ]
        self._staleness = max(bounds) if bounds else options.open_time
        self._cache_key = (
            type(self).id, json.dumps(kvstore.spec().to_json(), sort_keys=True), self.full_key, self.cache_variant()
        )
        self._entry = _shared_entry((self._pool, *self._cache_key), kvstore)
        self._store = self._entry.store

    # -- the format -------------------------------------------------------------------------
    @abc.abstractmethod
    def decode_value(self, data: bytes) -> Any:
        """Decode the stored bytes; raise ValueError saying what is wrong (the base adds the key)."""

    @abc.abstractmethod
    def value_nbytes(self, value: Any) -> int:
        """Bytes a decoded value occupies in the cache pool."""

    def missing_error(self, action: str) -> Exception:
        """The error for a missing value when ``action`` ("reading", "writing") needs it."""
        return ValueError(f"error {action} {self.full_key!r}: not found")

    def cache_variant(self) -> Any:
        """Distinguishes decoded values of one key that differ by spec (a tiff ``page``)."""
        return None

    # -- what subclasses use ---------------------------------------------------------------------
    @property
    def full_key(self) -> str:
        """The value's key within its kvstore driver (the spec's whole path)."""
        return self._store.path + self._key

    @property
    def executor(self) -> Executor:
        return self._executor

    def decode(self, data: bytes) -> Any:
        """``decode_value`` with failures naming the key."""
        try:
            return self.decode_value(data)
        except NotImplementedError as exc:
            raise NotImplementedError(f"error reading {self.full_key!r}: {exc}") from exc
        except MemoryError as exc:
            raise ValueError(f"error reading {self.full_key!r}: out of memory decoding it") from exc
        except Exception as exc:
            raise ValueError(f"error reading {self.full_key!r}: {exc}") from exc

    def _pool_key(self) -> tuple[Any, ...]:
        return self._cache_key

    def _remember(self, stored: StoredValue) -> None:
        with self._entry.lock:
            self._entry.current = stored
        if stored.value is not None and self._pool.total_bytes_limit:
            self._pool.put(self._pool_key(), stored, self.value_nbytes(stored.value))

    def _forget(self) -> None:
        """Drop the cached value after a write (the next read fetches what was stored)."""
        with self._entry.lock:
            self._entry.current = None
        self._pool.discard(self._pool_key())

    def load(self, transaction: Transaction | None = None, staleness: float | None = None) -> StoredValue:
        """The stored value, decoded, no older than ``staleness`` (default: the spec's
        bound); in a transaction, as the transaction sees it (its own writes included)."""
        if transaction is not None:
            store = self._store.with_transaction(transaction)
            result = storage_call("reading", self.full_key, store.read_blocking, self._key)
            if result.state == "missing":
                return StoredValue(None, NO_VALUE, result.stamp.time)
            return StoredValue(self.decode(result.value), result.stamp.generation, result.stamp.time)
        bound = self._staleness if staleness is None else staleness
        cached = self._entry.current
        if cached is None and self._pool.total_bytes_limit:
            cached = self._pool.get(self._pool_key())
        if cached is not None and cached.stamp_time >= bound:
            return cached
        if_not_equal = cached.generation if cached is not None and cached.value is not None else None
        result = storage_call("reading", self.full_key, self._store.read_blocking, self._key, if_not_equal)
        if result.state == "unspecified" and cached is not None:
            stored = StoredValue(cached.value, cached.generation, result.stamp.time)
        elif result.state == "missing":
            stored = StoredValue(None, NO_VALUE, result.stamp.time)
        else:
            stored = StoredValue(self.decode(result.value), result.stamp.generation, result.stamp.time)
        self._remember(stored)
        return stored

    def submit(self, function: Callable[[], Any]) -> Future[Any]:
        """Run ``function`` on the ``data_copy_concurrency`` pool, or inline when the
        current value needs no I/O (a fresh cached value)."""
        cached = self._entry.current
        if cached is not None and cached.stamp_time >= self._staleness:
            return run_inline(function)
        return self._executor.submit(function)

    def modify(self, update: Callable[[Any], bytes], transaction: Transaction | None) -> None:
        """Replace the stored value with ``update(current decoded value or None)``.

        Outside a transaction: read, update, write conditioned on the generation read,
        and on a lost race re-read and re-apply. In a transaction: staged as a
        modification of the stored bytes, applied to what is stored at commit.
        """
        if transaction is not None:
            def modification(data: bytes | None) -> bytes | None:
                return update(None if data is None else self.decode(data))

            transaction._modify(self._store.driver, self.full_key.encode("utf-8"), modification)
            return
        staleness: float | None = None
        for _ in range(_MAX_WRITE_RETRIES):
            current = self.load(staleness=staleness)
            new_data = update(current.value)
            stamp = storage_call(
                "writing", self.full_key, self._store.write_blocking, self._key, new_data, current.generation
            )
            if stamp.generation != UNKNOWN:
                self._forget()
                return
            staleness = time.time()  # lost a race: the cached value is out of date
        raise ValueError(f"error writing {self.full_key!r}: lost {_MAX_WRITE_RETRIES} races with other writers in a row")

    def replace(self, data: bytes, transaction: Transaction | None) -> None:
        """Store ``data`` whatever is stored now (a write that does not depend on it)."""
        store = self._store if transaction is None else self._store.with_transaction(transaction)
        storage_call("writing", self.full_key, store.write_blocking, self._key, data)
        if transaction is None:
            self._forget()

    # -- the Driver contract -------------------------------------------------------------------
    @property
    def kvstore(self) -> KvStore:
        """The value's kvstore, its path the value's key (as tensorstore reports it)."""
        return KvStore(self._store.driver, self.full_key, None, self._store.context)

    def value_spec_json(self) -> dict[str, Any]:
        """The members every value driver's spec has: driver, kvstore, staleness, format options."""
        json_value: dict[str, Any] = {"driver": self.id, "kvstore": self.kvstore.spec().to_json()}
        if self._recheck is not None:
            json_value["recheck_cached_data"] = self._recheck
        json_value.update(self._spec_members)
        return json_value

    def spec_json(self) -> dict[str, Any]:
        return self.value_spec_json()

    def stored_chunk_counts(self, transform: Any, transaction: Transaction | None) -> tuple[int, int]:
        """The one value: stored or not."""
        store = self._store if transaction is None else self._store.with_transaction(transaction)
        result = storage_call("reading", self.full_key, store.read_blocking, self._key)
        return (0 if result.state == "missing" else 1, 1)


def copy_out(source: np.ndarray[Any, Any], transform: Any) -> np.ndarray[Any, Any]:
    """The region of ``source`` (the whole array) that ``transform`` selects, as a new array."""
    from ..index_space import partition_index_transform

    target = np.empty(transform.domain.shape, dtype=source.dtype)
    if target.size == 0:
        return target
    check_in_bounds(transform, source.shape)
    if source.ndim == 0:
        # Every position shows the one element; assigned one by one, so an element that
        # is itself a sequence (a JSON array) is not spread over the target.
        element = source[()]
        for index in np.ndindex(target.shape):
            target[index] = element
        return target
    for part in partition_index_transform(transform, source.shape or ()):
        target[part.array_selection] = source[part.cell_selection]
    return target


def copy_in(target: np.ndarray[Any, Any], transform: Any, source: np.ndarray[Any, Any]) -> None:
    """Write ``source`` (of the transform's input shape) into the region of ``target`` it selects."""
    from ..index_space import partition_index_transform

    if source.size == 0:
        return
    check_in_bounds(transform, target.shape)
    for part in partition_index_transform(transform, target.shape or ()):
        target[part.cell_selection] = source[part.array_selection]
