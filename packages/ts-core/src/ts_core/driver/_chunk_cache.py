"""The chunk cache of a chunked array: decoded chunks in the shared ``cache_pool``.

Entries are ``(generation, stamp time, read-only storage array)`` tuples (a revalidation
that finds the chunk unchanged puts a new one with the later time). A tuple of bytes, a
float and an array holds nothing the garbage collector tracks, so CPython stops tracking it:
a pool of hundreds of thousands of small chunks then adds nothing to each full collection
(mutable entries made those collections a fifth of a many-chunk write's time). A lookup newer than the
``recheck_cached_data`` bound is used as is; an older one is revalidated with a read
conditioned on its generation (``if_not_equal``), so an unchanged chunk is not read again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ChunkError, ChunkStorageError

if TYPE_CHECKING:
    from ..cache import CachePool
    from ..kvstore import KvStore

__all__ = ["ChunkCache"]


class ChunkCache:
    """Decoded chunks of one array, validated by storage generation and staleness.

    Keys are chunk keys relative to the kvstore that was last ``bind``-ed (the array's
    chunk kvstore); ``read`` reads and decodes a stored chunk through the cache, with
    errors naming the full key.
    """

    __slots__ = ("_decode", "_namespace", "_path", "fill_missing", "pool", "staleness")

    def __init__(
        self,
        pool: CachePool,
        kvstore: KvStore,
        *,
        staleness: float,
        decode: Callable[[bytes], np.ndarray[Any, Any]],
        fill_missing: bool = True,
    ) -> None:
        #: The shared byte-limited pool the entries live in.
        self.pool = pool
        #: Entries stamped at or after this time are used without asking storage.
        self.staleness = staleness
        #: Whether a missing chunk reads as None (the fill value) rather than an error.
        self.fill_missing = fill_missing
        self._decode = decode
        self._namespace = 0
        self._path = ""
        self.bind(kvstore)

    def bind(self, kvstore: KvStore) -> None:
        """Key entries by ``kvstore``'s driver and path (the store chunks are read from)."""
        self._namespace = id(kvstore.driver)
        self._path = kvstore.path

    @property
    def enabled(self) -> bool:
        """Whether the pool keeps anything (a ``total_bytes_limit`` of 0 disables caching)."""
        return bool(self.pool.total_bytes_limit)

    def pool_key(self, key: str) -> tuple[int, str]:
        """The pool key of chunk ``key``."""
        return (self._namespace, self._path + key)

    def fresh(self, key: str) -> np.ndarray[Any, Any] | None:
        """The cached storage of chunk ``key`` if it is recent enough to use unchecked."""
        cached = self.pool.get((self._namespace, self._path + key))
        if cached is not None and cached[1] >= self.staleness:
            return cached[2]  # type: ignore[no-any-return]
        return None

    def fresh_many(self, keys: Sequence[str]) -> list[np.ndarray[Any, Any] | None]:
        """``fresh`` of each of ``keys``, looked up together (one pool lock for all)."""
        namespace, path, staleness = self._namespace, self._path, self.staleness
        entries = self.pool.get_many([(namespace, path + key) for key in keys])
        return [None if e is None or e[1] < staleness else e[2] for e in entries]

    def remember(self, key: str, generation: bytes, stamp_time: float, storage: np.ndarray[Any, Any]) -> None:
        """Cache the read-only ``storage`` of chunk ``key`` as of ``generation``/``stamp_time``."""
        if self.pool.total_bytes_limit:
            self.pool.put((self._namespace, self._path + key), (generation, stamp_time, storage), storage.nbytes)

    def remember_many(self, entries: Sequence[tuple[str, bytes, float, np.ndarray[Any, Any]]]) -> None:
        """``remember`` of each ``(key, generation, stamp_time, storage)``, under one pool lock."""
        if self.pool.total_bytes_limit:
            namespace, path = self._namespace, self._path
            self.pool.put_many([
                ((namespace, path + key), (generation, stamp_time, storage), storage.nbytes)
                for key, generation, stamp_time, storage in entries
            ])

    def discard(self, key: str) -> None:
        """Forget chunk ``key`` (after a write whose result is not cached)."""
        self.pool.discard((self._namespace, self._path + key))

    def decode(self, key: str, data: bytes) -> np.ndarray[Any, Any]:
        """Decode the stored bytes of chunk ``key``; a failure is a ChunkError naming the key."""
        try:
            return self._decode(data)
        except Exception as exc:
            raise ChunkError(f"error decoding chunk {self._path + key!r}: {exc}") from exc

    def read(self, key: str, kvstore: KvStore) -> tuple[np.ndarray[Any, Any] | None, bytes]:
        """The stored chunk ``key`` of ``kvstore`` (read-only array, or None if missing) and
        its generation; outside a transaction through the cache."""
        pool = self.pool
        pool_key = (self._namespace, self._path + key)
        cached = pool.get(pool_key) if kvstore.transaction is None else None
        if cached is None:
            result = _read_stored(kvstore, key)
        else:
            generation, stamp_time, storage = cached
            if stamp_time >= self.staleness:
                return storage, generation
            result = _read_stored(kvstore, key, generation)
            if result.state == "unspecified":  # unchanged: only the entry's stamp moves on
                if result.stamp.time > stamp_time:
                    pool.put(pool_key, (generation, result.stamp.time, storage), storage.nbytes)
                return storage, generation
        decoded = self._decode_stored(key, kvstore, result, self._decode)
        if decoded is None:
            return None, result.stamp.generation
        storage = decoded
        storage.setflags(write=False)
        if kvstore.transaction is None and pool.total_bytes_limit:
            pool.put(pool_key, (result.stamp.generation, result.stamp.time, storage), storage.nbytes)
        return storage, result.stamp.generation

    def read_for_update(
        self, key: str, kvstore: KvStore, decode_transient: Callable[[bytes], np.ndarray[Any, Any]]
    ) -> tuple[np.ndarray[Any, Any] | None, bytes]:
        """``read``, as a writable array to modify and store again (None if missing), and its
        generation. When nothing is cached (a pool that keeps nothing, or a transaction) the
        chunk is decoded by ``decode_transient`` (``decode_chunk_transient``: possibly into
        this thread's reused buffer) and never cached: no new chunk-sized arrays per update,
        whose first touch of every page costs a page fault. The caller encodes it before
        this thread decodes again and keeps no reference to it."""
        if self.pool.total_bytes_limit and kvstore.transaction is None:
            current, generation = self.read(key, kvstore)
            return (None if current is None else current.copy(order="K")), generation
        result = _read_stored(kvstore, key)
        return self._decode_stored(key, kvstore, result, decode_transient), result.stamp.generation

    def _decode_stored(
        self, key: str, kvstore: KvStore, result: Any, decode: Callable[[bytes], np.ndarray[Any, Any]]
    ) -> np.ndarray[Any, Any] | None:
        """The chunk ``result`` read for ``key``, decoded by ``decode``; None if it is missing
        (a ValueError if missing chunks are not filled), a ChunkError if it does not decode."""
        if result.state == "missing":
            if not self.fill_missing:
                raise ValueError(f"chunk {kvstore.path + key!r} is missing")
            return None
        return self.decode_transient(key, result.value, decode)

    def decode_transient(
        self, key: str, data: bytes, decode_transient: Callable[[bytes], np.ndarray[Any, Any]]
    ) -> np.ndarray[Any, Any]:
        """``decode`` through ``decode_transient`` (see ``read_for_update``)."""
        try:
            return decode_transient(data)
        except Exception as exc:
            raise ChunkError(f"error decoding chunk {self._path + key!r}: {exc}") from exc


def _read_stored(kvstore: KvStore, key: str, if_not_equal: bytes | None = None) -> Any:
    """``kvstore.read_blocking(key)``; a storage failure is a ChunkStorageError naming the
    chunk (ValueError, TypeError and ChunkStorageError pass as they are)."""
    try:
        if if_not_equal is None:
            return kvstore.read_blocking(key)
        return kvstore.read_blocking(key, if_not_equal=if_not_equal)
    except (ValueError, TypeError, ChunkStorageError):
        raise
    except Exception as exc:
        raise ChunkStorageError(
            f"reading chunk {kvstore.path + key!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
