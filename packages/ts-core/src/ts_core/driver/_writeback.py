"""Writeback of single-chunk writes on a local kvstore with an I/O pool (``file``).

A write that touches one chunk returns as soon as its values are copied: the chunk's
read-modify-write (or the write of a whole chunk the caller encoded) runs on the
kvstore's I/O pool, not on the caller's thread. A few drainer threads take the chunks
whose writeback is ready: one taken while no other is ready is stored on its own, as a
single write; those that gathered while a drainer was busy are stored through one write
batch, which fsyncs their files several at once and each directory once, and complete
together when it made them durable (group commit, with fewer threads and wake-ups than
a thread per write). The writes of one chunk are queued per chunk: those
that arrive while the chunk's queued writeback has not started join it and are stored by
one read-modify-write, applied in the order they were issued; a write that arrives while
the chunk's writeback runs starts the next one, which waits for it. So writes of one
chunk land in issue order and coalesce under load.

A synchronous write of a chunk (a bulk write's write batch) first settles the chunk's
queued writebacks (``settle``): it runs a queued one itself and waits for a running one,
which needs no other thread, so it lands after them and never waits for a pool.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .._executor import default_concurrency
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
    """Edits of one chunk stored together, and the Future of all of them; ``small_slots``:
    the slots of small edits it holds one of (None: it holds one of the whole-chunk bound)."""

    __slots__ = ("edits", "future", "small_slots")

    def __init__(self, small_slots: _SmallEditSlots | None = None) -> None:
        self.edits: list[Edit] = []
        self.future: Future[None] = Future()
        self.small_slots = small_slots


class _SmallEditSlots:
    """An array's slots for writebacks of small edits: a count kept under ``_lock`` (taken
    anyway to queue an edit), so a small write takes and returns its slot without a
    semaphore or a callback of its own. A writer finding none free waits on ``freed``."""

    __slots__ = ("free", "freed", "waiting")

    def __init__(self, count: int) -> None:
        self.free = count
        self.waiting = 0  # writers waiting for a slot (under _lock)
        self.freed = threading.Condition(threading.Lock())

    def wait(self) -> None:
        """Wait until a slot is free (``free`` is changed under ``_lock``, then ``freed`` is
        notified if anyone waits: checked under ``freed``, no wake-up is missed)."""
        with self.freed:
            while self.free <= 0:
                self.freed.wait(1.0)


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
    _ready.clear()
    _draining[0] = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def queue_write(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, edit: Edit) -> Future[None]:
    """Queue ``edit`` of chunk ``key``; the Future completes when it is stored (durably)."""
    pool = kvstore.driver.executor
    assert pool is not None
    identity = (driver, key)
    # Back-pressure: a bounded number of writebacks (each holding its values) in flight
    # per array; a slot is kept by a new writeback until it is stored. Small edits take
    # slots of their own, many more: a burst of small writes is not held back by the
    # bound meant for whole chunks (yet holds at most SMALL_EDITS_IN_FLIGHT of them).
    # An edit joining a queued writeback needs a free slot too, without keeping it.
    small = _small_edit_slots(driver) if edit.values is not None and edit.values.nbytes <= SMALL_EDIT_BYTES else None
    if small is None:
        slots = driver._write_slots
        slots.acquire()
    waited = False
    while True:
        with _lock:
            if small is not None:
                small.waiting -= waited
                waited = small.free <= 0
                if waited:
                    small.waiting += 1
            if not waited:
                queue = queued_chunks.get(identity)
                if queue is None:
                    queue = queued_chunks[identity] = _ChunkQueue()
                pending = queue.next
                new = pending is None
                if pending is None:
                    pending = queue.next = _Writeback(small)
                    if small is not None:
                        small.free -= 1
                pending.edits.append(edit)
                writeback = pending
                start = new and queue.running is None and _make_ready(driver, kvstore, key)
        if not waited:
            break
        assert small is not None
        small.wait()
    if small is None:
        if new:
            writeback.future.add_done_callback(lambda _: slots.release())
        else:
            slots.release()
    if start:
        pool.submit(_drain)
    return writeback.future


#: An edit of at most this many bytes of values is small (see ``queue_write``).
SMALL_EDIT_BYTES = 1 << 16
#: Writebacks of small edits in flight per array, at most (so at most 64 MiB of values).
SMALL_EDITS_IN_FLIGHT = 1024


def _small_edit_slots(driver: KvsChunkedDriver[Any]) -> _SmallEditSlots:
    """The array's slots for writebacks of small edits (made on first use)."""
    slots: _SmallEditSlots | None = getattr(driver, "_small_edit_slots", None)
    if slots is None:
        with _lock:
            slots = getattr(driver, "_small_edit_slots", None)
            if slots is None:
                slots = _SmallEditSlots(SMALL_EDITS_IN_FLIGHT)
                driver._small_edit_slots = slots  # type: ignore[attr-defined]
    return slots


#: Chunks whose next writeback may start, oldest first: (driver, kvstore, key).
_ready: collections.deque[tuple[Any, Any, str]] = collections.deque()
#: Threads running ``_drain``.
_draining = [0]
#: Writebacks a drainer stores with one durability barrier at most.
GROUP_LIMIT = 64
#: id of a kvstore driver -> (a weak reference to it, how many drainers its writes keep
#: busy: ``WriteBatch.writers``).
_drainer_limits: dict[int, tuple[weakref.ref[Any], int]] = {}


def _make_ready(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str) -> bool:
    """Add chunk ``key`` to the ready writebacks (``_lock`` held); whether a drainer must
    be started for it."""
    _ready.append((driver, kvstore, key))
    kvstore_driver = kvstore.driver
    known = _drainer_limits.get(id(kvstore_driver))
    if known is None or known[0]() is not kvstore_driver:
        pool = kvstore_driver.executor
        assert pool is not None
        writers = kvstore_driver.write_batch().writers(kvstore.path.encode("utf-8"), default_concurrency())
        if len(_drainer_limits) >= 64:
            _drainer_limits.clear()
        known = _drainer_limits[id(kvstore_driver)] = (weakref.ref(kvstore_driver), max(1, min(pool.limit, writers)))
    if _draining[0] >= known[1]:
        return False
    _draining[0] += 1
    return True


def _drain() -> None:
    """Store ready writebacks until none is left (on an I/O pool thread).

    A writeback taken while no other is ready is stored on its own, each write durable
    as it is made (as a single write); otherwise the writebacks taken one after another
    go through one write batch per kvstore and complete together once the batch made
    them durable: concurrent writes of many chunks share their fsyncs (group commit).
    A chunk's writeback counts as running until its batch finished, so the chunk's next
    writeback reads what it stored.
    """
    while True:
        with _lock:
            first = _take_ready()
            if first is None:
                _draining[0] -= 1
                return
            alone = not _ready
        if alone:
            driver, kvstore, key, queue, writeback = first
            _finish(driver, kvstore, key, queue, writeback, _stored(driver, kvstore, key, writeback.edits, None))
        else:
            _store_group(first)


_Taken = tuple["KvsChunkedDriver[Any]", "KvStore", str, _ChunkQueue, _Writeback]


def _take_ready(kvstore_driver: Any = None) -> _Taken | None:
    """The oldest ready writeback, now running (``_lock`` held); None if none is left,
    or if it writes through another kvstore driver than ``kvstore_driver`` (when given)."""
    while _ready:
        if kvstore_driver is not None and _ready[0][1].driver is not kvstore_driver:
            return None
        driver, kvstore, key = _ready.popleft()
        queue = queued_chunks.get((driver, key))
        if queue is None or queue.running is not None or queue.next is None:
            continue  # stored meanwhile by a synchronous write of the chunk (settle)
        writeback = queue.running = queue.next
        queue.next = None
        return driver, kvstore, key, queue, writeback
    return None


def _store_group(first: _Taken) -> None:
    """Store ``first`` and the writebacks through the same kvstore driver that become
    ready meanwhile (up to ``GROUP_LIMIT``) through one write batch, then complete them
    all. One batch only: a thread holding staged locks of two batches could wait in one
    for a lock the other holds."""
    kvstore_driver = first[1].driver
    batch = kvstore_driver.write_batch()
    taken: list[_Taken] = []
    errors: list[BaseException | None] = []

    def complete(count: int) -> None:
        """Make the first ``count`` writebacks taken durable and complete them."""
        try:
            storage_call("making durable the chunks written under", first[1].path, batch.finish)
        except BaseException as exc:
            finished: BaseException | None = exc
        else:
            finished = None
        done = list(zip(taken[:count], errors[:count], strict=True))
        del taken[:count], errors[:count]
        for (driver, kvstore, key, queue, writeback), error in done:
            _finish(driver, kvstore, key, queue, writeback, error or finished)

    if hasattr(batch, "whole_filesystem_sync"):
        # A few small chunks: fsync'ed each (several at once), not a syncfs that would
        # also wait for every other dirty file of the filesystem.
        batch.whole_filesystem_sync = False
    if hasattr(batch, "on_wait"):
        # A write about to wait for a lock (another writer of its chunk holds it) first
        # completes the writebacks before it: a thread waiting for one of those (settle)
        # may hold that lock.
        batch.on_wait = lambda: complete(len(taken) - 1) if len(taken) > 1 else None
    item: _Taken | None = first
    try:
        while item is not None:
            driver, kvstore, key, _, writeback = item
            taken.append(item)
            errors.append(None)
            errors[-1] = _stored(driver, kvstore, key, writeback.edits, batch)
            if len(taken) >= GROUP_LIMIT:
                break
            with _lock:
                item = _take_ready(kvstore_driver)
        complete(len(taken))
    finally:
        if hasattr(batch, "on_wait"):
            # The hook and ``complete`` refer to each other through the batch: a cycle that
            # would keep the batch and the first writeback's values until a collection.
            batch.on_wait = None


def _stored(
    driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, edits: list[Edit], batch: Any
) -> BaseException | None:
    """``_store``'s error, or None."""
    try:
        _store(driver, kvstore, key, edits, batch)
    except BaseException as exc:
        return exc
    return None


def _finish(
    driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, queue: _ChunkQueue, writeback: _Writeback,
    error: BaseException | None,
) -> None:
    """Complete the chunk's running ``writeback``; make its next one ready (if any)."""
    identity = (driver, key)
    small = writeback.small_slots
    with _lock:
        queue.running = None
        follow = queue.next is not None
        if not follow:
            del queued_chunks[identity]
        start = follow and _make_ready(driver, kvstore, key)
        if small is not None:
            small.free += 1
            wake = small.waiting > 0
    if small is not None and wake:
        with small.freed:
            small.freed.notify_all()
    if error is None:
        writeback.future._set_result(None)
    else:
        writeback.future._set_exception(error)
    if start:
        pool = kvstore.driver.executor
        assert pool is not None
        pool.submit(_drain)


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
    and store it on this thread (its entry in ``_ready``, if any, is then skipped)."""
    identity = (driver, key)
    with _lock:
        queue = queued_chunks.get(identity)
        if queue is None or queue.running is not None or queue.next is None:
            return
        writeback = queue.running = queue.next
        queue.next = None
    _finish(driver, kvstore, key, queue, writeback, _stored(driver, kvstore, key, writeback.edits, None))


def _store(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, edits: list[Edit], batch: Any = None) -> None:
    """Store ``edits`` of chunk ``key`` (in order) with one write: unconditional from the
    last whole-chunk edit on, else a read-modify-write retried when another writer got
    there first."""
    from ._chunk_io import store

    last_cover = max((index for index, edit in enumerate(edits) if edit.covers), default=None)
    if last_cover == len(edits) - 1:  # a whole chunk, encoded already
        edit = edits[-1]
        stamp = storage_call("writing chunk", kvstore.path + key, kvstore.write_blocking, key, edit.encoded, None, batch)
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
        if store(driver, kvstore, key, storage, generation, batch):
            return
