"""Writeback of single-chunk writes on a local kvstore with an I/O pool (``file``).

A write that touches one chunk returns as soon as its values are copied: the chunk's
read-modify-write (or the write of a whole chunk the caller encoded) runs on the
kvstore's I/O pool, so many such writes wait for their fsyncs at once instead of one
after another on the caller's thread. The writes of one chunk are queued per chunk: those
that arrive while the chunk's queued writeback has not started join it and are stored by
one read-modify-write, applied in the order they were issued; a write that arrives while
the chunk's writeback runs starts the next one, which waits for it. So writes of one
chunk land in issue order and coalesce under load.

A synchronous write of a chunk (a bulk write's write batch) first settles the chunk's
queued writebacks (``settle``): it runs a queued one itself and waits for a running one,
which needs no other thread, so it lands after them and never waits for a pool.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._future import Future
from ._storage_call import storage_call

if TYPE_CHECKING:
    from ..kvstore import KvStore
    from ._chunked import KvsChunkedDriver

__all__ = ["Edit", "queue_write", "queued_chunks", "settle"]


class Edit:
    """One write of a chunk: new values for ``cell_selection`` (copied), or a whole chunk
    already encoded (``covers``; ``encoded`` None: the chunk equals the fill value and
    is deleted) with the read-only array the cache may keep (``cached``)."""

    __slots__ = ("cached", "cell_selection", "covers", "encoded", "values")

    def __init__(
        self,
        cell_selection: Any = None,
        values: np.ndarray[Any, Any] | None = None,
        covers: bool = False,
        encoded: bytes | None = None,
        cached: np.ndarray[Any, Any] | None = None,
    ) -> None:
        self.cell_selection = cell_selection
        self.values = values
        self.covers = covers
        self.encoded = encoded
        self.cached = cached


class _Writeback:
    """Edits of one chunk stored together, and the Future of all of them."""

    __slots__ = ("edits", "future")

    def __init__(self) -> None:
        self.edits: list[Edit] = []
        self.future: Future[None] = Future()


class _ChunkQueue:
    """The writebacks of one chunk: the one running and the next one collecting edits."""

    __slots__ = ("next", "running")

    def __init__(self) -> None:
        self.running: _Writeback | None = None
        self.next: _Writeback | None = None


_lock = threading.Lock()
#: (driver, chunk key) -> its queue, while it has a writeback queued or running.
queued_chunks: dict[tuple[Any, str], _ChunkQueue] = {}


def _reset_after_fork() -> None:
    # The parent's writebacks run on threads a forked child does not have.
    global _lock
    _lock = threading.Lock()
    queued_chunks.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def queue_write(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, edit: Edit) -> Future[None]:
    """Queue ``edit`` of chunk ``key``; the Future completes when it is stored (durably)."""
    pool = kvstore.driver.executor
    assert pool is not None
    identity = (driver, key)
    # Back-pressure: a bounded number of writebacks (each holding its values) in flight
    # per array; a slot is kept by a new writeback until it is stored.
    slots = driver._write_slots
    slots.acquire()
    with _lock:
        queue = queued_chunks.get(identity)
        if queue is None:
            queue = queued_chunks[identity] = _ChunkQueue()
        writeback = queue.next
        new = writeback is None
        if writeback is None:
            writeback = queue.next = _Writeback()
        writeback.edits.append(edit)
        start = new and queue.running is None
    if new:
        writeback.future.add_done_callback(lambda _: slots.release())
    else:
        slots.release()
    if start:
        pool.submit(_run_next, driver, kvstore, key)
    return writeback.future


def settle(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str) -> None:
    """Store every queued writeback of chunk ``key`` before a synchronous write of it."""
    identity = (driver, key)
    while identity in queued_chunks:
        with _lock:
            queue = queued_chunks.get(identity)
            running = None if queue is None else queue.running
        if queue is None:
            return
        if running is not None:
            running.future.exception()  # wait: it runs on a thread and needs no other
        else:
            _run_next(driver, kvstore, key)


def _run_next(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str) -> None:
    """Take the chunk's next writeback, unless another thread did or one is running,
    store it, then start the one that gathered meanwhile (if any)."""
    identity = (driver, key)
    with _lock:
        queue = queued_chunks.get(identity)
        if queue is None or queue.running is not None or queue.next is None:
            return
        writeback = queue.running = queue.next
        queue.next = None
    try:
        _store(driver, kvstore, key, writeback.edits)
    except BaseException as exc:
        error: BaseException | None = exc
    else:
        error = None
    with _lock:
        queue.running = None
        follow = queue.next is not None
        if not follow:
            del queued_chunks[identity]
    if error is None:
        writeback.future._set_result(None)
    else:
        writeback.future._set_exception(error)
    if follow:
        pool = kvstore.driver.executor
        assert pool is not None
        pool.submit(_run_next, driver, kvstore, key)


def _store(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, edits: list[Edit]) -> None:
    """Store ``edits`` of chunk ``key`` (in order) with one write: unconditional from the
    last whole-chunk edit on, else a read-modify-write retried when another writer got
    there first."""
    from ._chunk_io import store

    last_cover = max((index for index, edit in enumerate(edits) if edit.covers), default=None)
    if last_cover == len(edits) - 1:  # a whole chunk, encoded already
        edit = edits[-1]
        stamp = storage_call("writing chunk", kvstore.path + key, kvstore.write_blocking, key, edit.encoded)
        cache = driver.chunk_cache
        if edit.cached is None:
            cache.discard(key)
        else:
            cache.remember(key, stamp.generation, time.time(), edit.cached)
        return
    field_view = driver.field_view
    while True:
        if last_cover is not None:
            base = edits[last_cover]
            storage = (
                driver.fill_chunk() if base.encoded is None
                else driver.chunk_cache.decode_transient(key, base.encoded, driver.decode_chunk_transient)
            )
            generation = None
            remaining = edits[last_cover + 1:]
        else:
            # Writable, possibly this thread's reused buffer: store() encodes it before
            # this thread decodes again (and a cache keeps its own copy of a view).
            current, generation = driver.chunk_cache.read_for_update(key, kvstore, driver.decode_chunk_transient)
            storage = driver.fill_chunk() if current is None else current
            remaining = edits
        for edit in remaining:
            field_view(storage)[edit.cell_selection] = edit.values
        if store(driver, kvstore, key, storage, generation):
            return
