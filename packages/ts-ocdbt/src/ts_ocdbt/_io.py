"""Reading and writing an OCDBT database's data files through its base kvstore.

:class:`OcdbtIO` is what the writer and the driver share: decoded B+tree and version tree
nodes by reference (a byte-range read of their data file, kept in a small LRU cache, since
a node at a given place never changes), out-of-line values (whole or a byte range of
them), and writing new data files. :func:`value_generation` is the storage generation a
stored value has: a hash of what its leaf entry stores, as tensorstore's (another hash).
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from ts_core.kvstore import KvStore, make_generation

from .format import (
    BtreeNode,
    Config,
    IndirectDataReference,
    VersionTreeNode,
    read_btree_node,
    read_indirect,
    read_version_tree_node,
)

__all__ = ["DEFAULT_NODE_CACHE_BYTES", "OcdbtIO", "value_generation"]

#: Bytes of encoded nodes an :class:`OcdbtIO` keeps decoded.
DEFAULT_NODE_CACHE_BYTES: Final = 64 * 2**20
#: Node reads :meth:`OcdbtIO.prefetch_btree_nodes` has in flight at once.
MAX_CONCURRENT_NODE_READS: Final = 16
#: Bytes of the value hash in a generation (as many as tensorstore's).
_GENERATION_DIGEST_BYTES: Final = 20
#: The first byte of what is hashed: how the value is stored.
_OUT_OF_LINE_MARK: Final = b"\x00"
_INLINE_MARK: Final = b"\x01"


def value_generation(value: bytes | IndirectDataReference) -> bytes:
    """The storage generation of a value stored in a leaf: a hash of the inline bytes, or of
    the place an out-of-line value lives (which never changes once written).

    tensorstore hashes the same things with BLAKE3; ts uses BLAKE2b from ``hashlib`` so as
    not to depend on a ``blake3`` package, always (never "BLAKE3 when installed": processes
    with and without it would then disagree). A generation is never stored and only compared
    with another one ts computed, so it need not equal the wheel's digest; it must be the
    same in every ts process and after reopening (it depends only on what the leaf stores,
    and a data file's path is relative to the database) and differ between values. The
    layout below is fixed (a test pins it): changing it would make a generation read by one
    ts version fail a condition checked by another.
    """
    hasher = hashlib.blake2b(digest_size=_GENERATION_DIGEST_BYTES)
    if isinstance(value, IndirectDataReference):
        base_path, relative_path = value.file_id.base_path, value.file_id.relative_path
        hasher.update(_OUT_OF_LINE_MARK)
        hasher.update(value.offset.to_bytes(8, "little") + value.length.to_bytes(8, "little"))
        # Lengths first, so no two (base, relative) splits of one path hash alike.
        hasher.update(
            len(base_path).to_bytes(8, "little") + len(relative_path).to_bytes(8, "little")
        )
        hasher.update(base_path)
        hasher.update(relative_path)
    else:
        hasher.update(_INLINE_MARK)
        hasher.update(value)
    return make_generation(hasher.digest())


class _NodeCache:
    """Decoded nodes by place, least recently used evicted past ``max_bytes`` of encoding."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[bytes, int, int, str], Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        _caches.add(self)

    def _after_fork(self) -> None:
        # Another thread of the parent may have held the lock when it forked.
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, int, int, str]) -> Any:
        with self._lock:
            node = self._entries.get(key)
            if node is not None:
                self._entries.move_to_end(key)
            return node

    def replace(self, key: tuple[bytes, int, int, str], node: Any) -> None:
        """Store ``node`` in place of what ``key`` holds, if it is still cached."""
        with self._lock:
            if key in self._entries:
                self._entries[key] = node

    def put(self, key: tuple[bytes, int, int, str], node: Any) -> None:
        size = key[2]
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = node
            self._bytes += size
            while self._bytes > self.max_bytes:
                old_key, _ = self._entries.popitem(last=False)
                self._bytes -= old_key[2]


_caches: weakref.WeakSet[_NodeCache] = weakref.WeakSet()


def _reset_caches_after_fork() -> None:
    for cache in list(_caches):
        cache._after_fork()


os.register_at_fork(after_in_child=_reset_caches_after_fork)


class OcdbtIO:
    """The data files of the database rooted at ``base`` (a KvStore whose path is the
    database directory): cached node reads, value reads, data file writes.

    ``config`` (when known) bounds how large a decoded node may be.
    """

    def __init__(
        self,
        base: KvStore,
        config: Config | None = None,
        *,
        cache_bytes: int = DEFAULT_NODE_CACHE_BYTES,
    ) -> None:
        self.base = base
        self.config = config
        self._cache = _NodeCache(cache_bytes)

    @staticmethod
    def _cache_key(reference: IndirectDataReference, kind: str) -> tuple[bytes, int, int, str]:
        return (reference.file_id.full_path, reference.offset, reference.length, kind)

    def read_btree_node(self, reference: IndirectDataReference) -> BtreeNode:
        """The decoded B+tree node at ``reference`` (errors name the data file and place)."""
        key = self._cache_key(reference, "btreenode")
        node = self._cache.get(key)
        if node is None:
            node = read_btree_node(self.base, reference, self.config)
            self._cache.put(key, node)
        elif node.__class__ is not BtreeNode:  # remembered as what makes it
            node = node()
            self._cache.replace(key, node)
        return node  # type: ignore[no-any-return]

    def prefetch_btree_nodes(self, references: Sequence[IndirectDataReference]) -> None:
        """Read the nodes at ``references`` into the cache concurrently (a remote base
        kvstore answers many reads at once; a local one gains nothing, so it is skipped)."""
        if self.base.driver.local_io:
            return
        missing = [
            ref for ref in references if self._cache.get(self._cache_key(ref, "btreenode")) is None
        ]
        if len(missing) < 2:
            return
        with ThreadPoolExecutor(min(len(missing), MAX_CONCURRENT_NODE_READS)) as pool:
            for future in [pool.submit(self.read_btree_node, ref) for ref in missing]:
                future.result()

    def read_version_tree_node(self, reference: IndirectDataReference) -> VersionTreeNode:
        """The decoded version tree node at ``reference``."""
        key = self._cache_key(reference, "versionnode")
        node = self._cache.get(key)
        if node is None:
            node = read_version_tree_node(self.base, reference)
            self._cache.put(key, node)
        return node  # type: ignore[no-any-return]

    def read_value(
        self, value: bytes | IndirectDataReference, start: int = 0, stop: int | None = None
    ) -> bytes:
        """Bytes ``[start, stop)`` of a leaf's value; an out-of-line value is read with one
        byte-range read of just those bytes of its data file."""
        size = value.length if isinstance(value, IndirectDataReference) else len(value)
        stop = size if stop is None else stop
        if not 0 <= start <= stop <= size:
            raise ValueError(f"byte range [{start}, {stop}) is not valid for a {size}-byte value")
        if not isinstance(value, IndirectDataReference):
            return value[start:stop]
        if start == stop:
            return b""
        part = IndirectDataReference(value.file_id, value.offset + start, stop - start)
        return read_indirect(self.base, part)

    def write_data_file(self, path: bytes, data: bytes) -> None:
        """Store a new data file at ``path`` (relative to the database root)."""
        self.base.write_blocking(path, data)

    def remember_btree_node(
        self, reference: IndirectDataReference, node: BtreeNode | Callable[[], BtreeNode]
    ) -> None:
        """Cache a node this process just encoded, so the next commit need not read it back:
        the node, or a function making it when it is first read (a writer encodes a leaf
        from columns and builds its entry objects only if it is read again)."""
        self._cache.put(self._cache_key(reference, "btreenode"), node)

    def remember_version_tree_node(
        self, reference: IndirectDataReference, node: VersionTreeNode
    ) -> None:
        self._cache.put(self._cache_key(reference, "versionnode"), node)
