"""Reading and writing the chunks of a chunked array.

A read partitions the transform onto the chunk grid and copies each chunk's part out of
the cached or decoded chunk. A write encodes a chunk it covers straight away and does a
read-modify-write of one it covers partly, conditioned on the generation it read and
retried on a conflict, so concurrent writers to disjoint parts of one chunk lose
nothing. In a transaction a chunk written whole is staged encoded (a blind overwrite),
and a partial write as a modification of the stored chunk.
"""

from __future__ import annotations

import itertools
import math
import operator
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._future import Future
from ..kvstore import UNKNOWN
from ._fill import SMALL_CHUNK_BYTES as SMALL_FILL_COMPARE_BYTES
from ._part_copy import PartCopy
from ._raw_chunk import RANGED_MIN_CHUNK_BYTES, RawChunkReader
from ._scheduling import pull_workers, run_parts, shared_reads
from ._storage_call import storage_call
from ._writeback import Edit, queue_write, queued_chunks, settle

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ..index_space import ChunkPart, IndexTransform
    from ..kvstore import KvStore, Transaction
    from ._chunk_cache import ChunkCache
    from ._chunked import KvsChunkedDriver

__all__ = ["covers_chunk", "read", "stored_chunk_counts", "store", "write"]


def _chunk_kvstore(driver: KvsChunkedDriver[Any], transaction: Transaction | None) -> KvStore:
    kvstore = driver.chunk_kvstore
    return kvstore if transaction is None else kvstore.with_transaction(transaction)


# -- read --------------------------------------------------------------------------------------
def read(driver: KvsChunkedDriver[Any], transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
    """Read the region ``transform`` selects (the base of ``KvsChunkedDriver.read``).

    Parts are copied into the result viewed in chunk dimension order, so a transposed view
    costs one strided copy per chunk. Chunks fresh in the cache are copied on the caller's
    thread first; only the others are read, decoded and copied by workers (or inline too,
    when per-chunk work is Python-bound: see ``python_bound``).
    """
    from ..index_space._partition import partition_for_copy
    from ..schema import check_read_bytes

    driver.check_bounds(transform)
    kvstore = _chunk_kvstore(driver, transaction)
    check_read_bytes(transform.domain.shape, driver.numpy_dtype.itemsize)
    target = np.empty(transform.domain.shape, dtype=driver.numpy_dtype)
    order, partition, vectors = partition_for_copy(transform, driver._chunk)
    copy = PartCopy(target, order, vectors)
    chunk_key = driver.chunk_key
    field_view = driver.field_view
    batch_reads = shared_reads.get()
    cache = driver.chunk_cache
    partition, count = _counted(partition)
    parts: Iterable[ChunkPart] = partition  # made as the workers take them
    # (With recheck_cached_data true, the default, no entry is fresh: no lookup pass.)
    if transaction is None and batch_reads is None and cache.enabled and cache.staleness != math.inf:
        try:
            fill_chunk = driver._fill_state.chunk
            if vectors is None and field_view(fill_chunk) is fill_chunk:  # basic indexing, whole chunks
                parts = _copy_cached_plainly(cache, chunk_key, partition, copy.view, driver._chunk)
            else:
                parts = _copy_cached(cache, chunk_key, field_view, partition, copy)
        except Exception as exc:
            future: Future[np.ndarray[Any, Any]] = Future()
            future._set_exception(exc)
            return future
        count = len(parts)
    read_stored = cache.read
    if batch_reads is not None:  # in a ts.Batch: each chunk is read once for all its reads
        read_cached = read_stored

        def read_stored(key: str, kvstore: KvStore) -> tuple[np.ndarray[Any, Any] | None, bytes]:
            identity = (id(driver), id(kvstore.driver), kvstore.path, id(kvstore.transaction), key)
            return batch_reads.read(identity, lambda: read_cached(key, kvstore))

    fill = driver._fill_state
    ranged = _ranged_reader(driver, kvstore, batch_reads is None, copy)

    def read_part(part: ChunkPart) -> None:
        if ranged is not None and (ranged.read(part) or ranged.read_whole(part)):
            return
        storage, _ = read_stored(chunk_key(part.grid_indices), kvstore)
        copy(part, field_view(fill.chunk if storage is None else storage))

    if count <= 1 or python_bound(driver, kvstore) or _small_local_read(count, driver, kvstore):  # no scheduling at all
        return pull_workers(None, 1, parts, read_part, None, target)
    if ranged is not None and vectors is not None:
        # A part read by ranges is a few quick system calls and Python: when the first
        # part of an index-array read is, its parts are alike (a box's edge parts are not
        # its interior ones), and the rest are read on this thread too (workers would
        # only pass the GIL to each other).
        remaining = iter(parts)
        first = next(remaining, None)
        if first is not None:
            try:
                sparse = ranged.read(first)
            except Exception as exc:
                failed: Future[np.ndarray[Any, Any]] = Future()
                failed._set_exception(exc)
                return failed
            if sparse:
                return pull_workers(None, 1, remaining, read_part, None, target)
            parts = itertools.chain((first,), remaining)
    executor = driver._executor
    if kvstore.transaction is None and kvstore.driver.local_io:
        # Local reads are quick: a worker per data-copy thread reads, decodes and
        # copies chunk after chunk, with no hand-off per chunk.
        return pull_workers(executor, executor.limit, parts, read_part, None, target)
    return run_parts(executor, list(parts), read_part, lambda: target)


def _ranged_reader(driver: KvsChunkedDriver[Any], kvstore: KvStore, unbatched: bool, copy: PartCopy) -> RawChunkReader | None:
    """A reader of small parts of raw chunks by byte ranges, when this read may use one:
    outside transactions and batches, with the chunk cache off (a whole chunk read
    would be kept), from a kvstore whose ranged reads pay, for a format whose chunks are
    raw elements of the exposed dtype's shape (see ``_raw_chunk``)."""
    if not unbatched or kvstore.transaction is not None or driver.chunk_cache.enabled:
        return None
    if not kvstore.driver.ranged_reads_pay or driver.inner_shape:
        return None
    fill_chunk = driver._fill_state.chunk
    if driver.field_view(fill_chunk) is not fill_chunk or fill_chunk.nbytes < RANGED_MIN_CHUNK_BYTES:
        return None
    layout = driver.raw_chunk_layout()
    if layout is None:
        return None
    fill = driver._fill_state
    return RawChunkReader(
        layout, driver._chunk, kvstore, driver.chunk_key, copy, lambda: fill.chunk, driver.fill_missing
    )


def _counted(partition: Iterator[ChunkPart]) -> tuple[Iterator[ChunkPart], int]:
    """``partition`` and its number of parts (listed first if it does not know it)."""
    count = operator.length_hint(partition, -1)
    if count >= 0:
        return partition, count
    listed = list(partition)
    return iter(listed), len(listed)


#: Parts looked up in the cache together (bounded, so the parts in hand stay few).
CACHE_LOOKUP_BATCH = 128


def _copy_cached(
    cache: ChunkCache,
    chunk_key: Callable[[tuple[int, ...]], str],
    field_view: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
    partition: Iterator[ChunkPart],
    copy: PartCopy,
) -> list[ChunkPart]:
    """Copy the parts whose chunks are fresh in the cache; return the others."""
    missing = []
    while batch := list(itertools.islice(partition, CACHE_LOOKUP_BATCH)):
        keys = [chunk_key(part.grid_indices) for part in batch]
        for part, storage in zip(batch, cache.fresh_many(keys), strict=True):
            if storage is None:
                missing.append(part)
            else:
                copy(part, field_view(storage))
    return missing


def _copy_cached_plainly(
    cache: ChunkCache,
    chunk_key: Callable[[tuple[int, ...]], str],
    partition: Iterator[ChunkPart],
    view: np.ndarray[Any, Any],
    chunk: tuple[int, ...],
) -> list[ChunkPart]:
    """``_copy_cached`` for parts of ints and slices (no index vectors) of chunks read
    whole (no field view): one assignment per part, a whole chunk copied as it is (the
    per-part calls were half of a cached read of many small chunks)."""
    whole = tuple(slice(0, extent, 1) for extent in chunk)
    fresh_many = cache.fresh_many
    missing = []
    while batch := list(itertools.islice(partition, CACHE_LOOKUP_BATCH)):
        for part, storage in zip(batch, fresh_many([chunk_key(part.grid_indices) for part in batch]), strict=True):
            if storage is None:
                missing.append(part)
            else:
                cells = part.cell_selection
                view[part.array_selection] = storage if cells == whole else storage[cells]
    return missing


#: A chunk at most this large costs more in per-chunk Python (partition, key, cache, copy
#: call) than in the work a thread could do without the GIL, so with an in-process kvstore a
#: second worker only adds GIL hand-offs: two threads measured ~2x slower than one.
PYTHON_BOUND_CHUNK_BYTES = 32 * 1024


#: A read of at most this many chunks, each at most this large, from a local kvstore is done
#: on the caller's thread: handing a few small chunks to workers costs more than reading them.
SMALL_LOCAL_READ_CHUNKS = 8
SMALL_LOCAL_READ_CHUNK_BYTES = 64 * 1024


def _small_local_read(count: int, driver: KvsChunkedDriver[Any], kvstore: KvStore) -> bool:
    return (
        count <= SMALL_LOCAL_READ_CHUNKS
        and kvstore.transaction is None
        and kvstore.driver.local_io
        and driver._fill_state.chunk.nbytes <= SMALL_LOCAL_READ_CHUNK_BYTES
    )


def python_bound(driver: KvsChunkedDriver[Any], kvstore: KvStore) -> bool:
    """Whether per-chunk work on ``kvstore`` is best done on one thread (the caller's):
    small chunks of an in-process kvstore (no I/O pool), where nothing releases the GIL."""
    return (
        kvstore.transaction is None
        and kvstore.driver.executor is None
        and kvstore.driver.local_io
        and driver._fill_state.chunk.nbytes <= PYTHON_BOUND_CHUNK_BYTES
    )


def stored_chunk_counts(driver: KvsChunkedDriver[Any], transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
    """(stored, total) chunks intersecting ``transform``."""
    from ..index_space._partition import partition_in_storage_order

    driver.check_bounds(transform)
    kvstore = _chunk_kvstore(driver, transaction)
    _, partition = partition_in_storage_order(transform, driver._chunk)
    keys = {driver.chunk_key(part.grid_indices) for part in partition}
    if not keys:
        return (0, 0)
    if len(keys) > 64:  # one listing beats many reads
        listed = {k.decode("utf-8", "surrogateescape") for k in kvstore.list().result()}
        return (len(keys & listed), len(keys))
    present = sum(kvstore.read_blocking(key).state == "value" for key in keys)
    return (present, len(keys))


# -- write -------------------------------------------------------------------------------------
def write(
    driver: KvsChunkedDriver[Any], transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
) -> Future[None]:
    """Write ``source`` to the region ``transform`` selects (the base of ``KvsChunkedDriver.write``).

    The parts select from ``source`` viewed in chunk dimension order (a transposed view, no
    copy), so writing through a permuted view partitions into slices like a plain box.
    """
    from ..index_space._partition import partition_in_storage_order

    driver.check_bounds(transform)
    kvstore = _chunk_kvstore(driver, transaction)
    order, partition = partition_in_storage_order(transform, driver._chunk)
    partition, count = _counted(partition)
    source = source.transpose(order)

    if transaction is None and kvstore.driver.local_io and count > 1:
        return _write_locally(driver, kvstore, partition, source)
    # The staged copies of a transaction's chunks share a few blocks (the parts are
    # disjoint: together at most the source's size).
    staging = None if transaction is None else StagingBlocks(source.nbytes)

    def write_part(part: Any) -> Future[Any] | None:
        return _write_chunk(driver, kvstore, part, source, staging=staging)

    if transaction is not None and count > 1:
        # Staging a part is synchronous (a copy, or an encoding): workers take part after
        # part, no hand-off per part; small chunks (Python-bound) on the caller's thread.
        executor = driver._executor
        small = driver._fill_state.chunk.nbytes <= PYTHON_BOUND_CHUNK_BYTES
        return pull_workers(None if small else executor, executor.limit, partition, write_part, None, None)
    return run_parts(driver._executor, list(partition), write_part, lambda: None)


def _write_locally(driver: KvsChunkedDriver[Any], kvstore: KvStore, parts: Iterator[ChunkPart], source: np.ndarray[Any, Any]) -> Future[None]:
    """Write many chunks to a local kvstore (file, memory) with a few pull workers.

    Each worker takes the next part, encodes it and writes it into the kvstore's write
    batch itself, then takes another. Nothing is handed from thread to thread per
    chunk: in CPython every hand-off (a queue, a Future callback, a semaphore) costs
    GIL round trips and futex calls, which were most of the CPU time of a bulk write.
    The workers run on the kvstore's I/O pool, as many as the batch asks for (more
    when each write waits for its own fsync); the batch makes everything durable
    before the returned Future completes. Memory stays bounded at one chunk per
    worker. Python-bound writes (``python_bound``) run on the caller's thread.
    """
    executor = driver._executor
    io_pool = kvstore.driver.executor
    pool = io_pool if io_pool is not None else executor
    run_on = None if python_bound(driver, kvstore) else pool
    batch = kvstore.driver.write_batch()  # durability work shared by all the chunks
    limit = pool.limit if io_pool is None else min(
        pool.limit, batch.writers(kvstore.path.encode("utf-8"), executor.limit)
    )

    def finish() -> None:  # also after an error: what was written is made durable
        storage_call("making durable the chunks written under", kvstore.path, batch.finish)

    if run_on is None:
        future: Future[None] = Future()
        try:
            try:
                _write_here(driver, kvstore, parts, source, batch)
            finally:
                finish()
        except Exception as exc:
            future._set_exception(exc)
        else:
            future._set_result(None)
        return future
    return pull_workers(
        run_on, limit, parts, lambda part: _write_chunk(driver, kvstore, part, source, batch=batch), finish, None
    )


#: Whole chunks a caller's-thread write remembers in the cache together (one pool lock):
#: few, so the copies waiting for the pool stay small and an overwritten chunk's old
#: entry is replaced soon.
REMEMBER_BLOCK = 64


def _write_here(driver: KvsChunkedDriver[Any], kvstore: KvStore, parts: Iterable[ChunkPart], source: np.ndarray[Any, Any], batch: Any) -> None:
    """Write every part on the caller's thread (a ``python_bound`` write of many chunks).

    A part that is a whole chunk of plain storage (no field view) goes the shortest way:
    key, fill comparison, encode, one batch write, and a cache entry remembered with
    others; any other part is written by ``_write_chunk``. What the cache keeps and what is
    stored are the same as ``_write_chunk``'s.
    """
    chunk = driver._chunk
    whole = tuple(slice(0, extent, 1) for extent in chunk)
    fill_state = driver._fill_state
    fill_chunk = fill_state.chunk
    if driver.field_view(fill_chunk) is not fill_chunk or source.dtype != fill_chunk.dtype:
        for part in parts:
            _write_chunk(driver, kvstore, part, source, batch)
        return
    skip_fill = not driver._store_fill
    # A small chunk's bytes are compared whole (as FillChunk.equals does for it).
    fill_bytes = fill_chunk.tobytes() if skip_fill and fill_chunk.nbytes <= SMALL_FILL_COMPARE_BYTES else None
    fill_equals = fill_state.equals
    cache = driver.chunk_cache
    keep = bool(cache.pool.total_bytes_limit)
    # A batch that copies values out gets this thread's reusable encoding (see ``store``).
    encode: Callable[[np.ndarray[Any, Any]], Any] = (
        driver.encode_chunk_transient if batch.copies_values else driver.encode_chunk
    )
    chunk_key = driver.chunk_key
    write = kvstore.write_blocking
    path = kvstore.path
    remembered: list[tuple[str, bytes, float, np.ndarray[Any, Any]]] = []
    try:
        for part in parts:
            if part.cell_selection != whole:
                _write_chunk(driver, kvstore, part, source, batch)
                continue
            key = chunk_key(part.grid_indices)
            if queued_chunks:
                settle(driver, kvstore, key)
            # One gather from the caller's array into a C-order copy (the cache's own, if it
            # keeps chunks): comparing and encoding it are then plain byte copies.
            values = np.array(source[part.array_selection], copy=True)
            if skip_fill and (values.tobytes() == fill_bytes if fill_bytes is not None else fill_equals(values)):
                storage_call("deleting chunk", path + key, write, key, None, None, batch)
                cache.discard(key)
                continue
            encoded = encode(values)
            stamp = storage_call("writing chunk", path + key, write, key, encoded, None, batch)
            if keep:
                values.setflags(write=False)
                remembered.append((key, stamp.generation, stamp.time, values))
                if len(remembered) >= REMEMBER_BLOCK:
                    cache.remember_many(remembered)
                    remembered = []
    finally:
        if remembered:  # also after an error: what was written replaces what was cached
            cache.remember_many(remembered)


def covers_chunk(driver: KvsChunkedDriver[Any], part: Any) -> bool:
    """Whether ``part`` overwrites every in-bounds element of its chunk. Never for a view of
    one field of chunks that store more (a structured dtype): the other fields' stored values
    must be read and kept."""
    fill = driver._fill_state.chunk
    if driver.field_view(fill) is not fill:
        return False
    selection = part.cell_selection
    chunk = driver._chunk
    if not isinstance(selection, tuple) or len(selection) != len(chunk):
        return False
    shape = driver._shape
    for dim, item in enumerate(selection):
        if not isinstance(item, slice):
            return False
        start, stop, step = item.indices(chunk[dim])
        in_bounds = min(chunk[dim], shape[dim] - part.grid_indices[dim] * chunk[dim])
        if step != 1 or start != 0 or stop < in_bounds:
            return False
    return True


def _write_chunk(
    driver: KvsChunkedDriver[Any],
    kvstore: KvStore,
    part: Any,
    source: np.ndarray[Any, Any],
    batch: Any = None,
    staging: StagingBlocks | None = None,
) -> Future[Any] | None:
    """Write one part; a whole-chunk write returns the Future of its kvstore write, or
    with a kvstore write ``batch`` writes on this thread (into it) and returns None.
    In a transaction the part's values are staged (copied into ``staging``'s blocks)."""
    key = driver.chunk_key(part.grid_indices)
    values = source[part.array_selection]
    if kvstore.transaction is not None:
        if covers_chunk(driver, part):
            _stage_whole_chunk(driver, kvstore, key, part, values)
        else:
            staged = held_copy(values) if staging is None else staging.copy(values)
            _stage_in_transaction(driver, kvstore, key, part, staged)
        return None
    kvstore_driver = kvstore.driver
    # A single-chunk write to a local store with an I/O pool (file) is queued per chunk
    # (see _writeback); a synchronous write lands after the chunk's queued ones.
    queued = batch is None and kvstore_driver.local_io and kvstore_driver.executor is not None
    if queued_chunks and not queued:
        settle(driver, kvstore, key)
    if covers_chunk(driver, part):
        fill = driver._fill_state.chunk
        if values.shape == driver._chunk and driver.field_view(fill) is fill:
            storage = values  # interior chunk: encode straight from the caller's array
        else:
            storage = driver.fill_chunk()
            driver.field_view(storage)[part.cell_selection] = values
        if queued:
            return queue_write(driver, kvstore, key, _encoded_edit(driver, storage))
        if batch is not None:
            store(driver, kvstore, key, storage, None, batch)
            return None
        return _store_unconditionally(driver, kvstore, key, storage)
    if queued:
        return queue_write(driver, kvstore, key, Edit(part.cell_selection, held_copy(values)))
    while True:  # read-modify-write, retried when another writer got there first
        current, generation = driver.chunk_cache.read_for_update(key, kvstore, driver.decode_chunk_transient)
        storage = driver.fill_chunk() if current is None else current
        driver.field_view(storage)[part.cell_selection] = values
        if store(driver, kvstore, key, storage, generation, batch):
            return None


#: Values up to this size are copied through ``bytes`` (see ``held_copy``).
HELD_COPY_BYTES = 1 << 16


def held_copy(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A read-only copy of ``values`` that a queued or staged write keeps. A small one is
    copied through ``bytes``: NumPy releases the GIL to copy more than 500 elements, and
    the caller issuing many small writes then waits, after each copy, for the I/O threads
    busy with earlier writes to hand the GIL back (most of the time of issuing a write)."""
    if values.nbytes <= HELD_COPY_BYTES and values.dtype.itemsize and not values.dtype.hasobject:
        return np.frombuffer(values.tobytes(), dtype=values.dtype).reshape(values.shape)
    copy = np.array(values, copy=True)
    copy.setflags(write=False)
    return copy


#: Size of the blocks a transactional write copies its chunks' values into. Copying
#: into fresh memory pays a page fault per page at first touch (most of the time of
#: staging a large write); a block this large is given huge pages (NumPy asks for them
#: from 4 MiB up), so it has a few hundred times fewer faults than as many copies.
STAGING_BLOCK_BYTES = 64 << 20
#: Staged copies start at multiples of this (aligned for any dtype and SIMD copies).
STAGING_ALIGNMENT = 64


class StagingBlocks:
    """Where one transactional write stages the copies of its parts' values: views of
    shared blocks. A block lives as long as a staged copy in it does (each view holds
    its block), so memory is what the transaction staged plus at most the unused tail
    of a block; blocks are sized to what is left to stage of the write (``total``
    bytes at most), so that tail is small. Threads stage into it at once."""

    __slots__ = ("_block", "_left", "_lock", "_used")

    def __init__(self, total: int) -> None:
        self._left = total
        self._block: np.ndarray[Any, Any] | None = None
        self._used = 0
        self._lock = threading.Lock()

    def copy(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """A read-only copy of ``values`` (as ``held_copy``), in a block if large."""
        nbytes = values.nbytes
        if nbytes <= HELD_COPY_BYTES or nbytes > STAGING_BLOCK_BYTES // 2 or values.dtype.hasobject:
            return held_copy(values)
        size = -(-nbytes // STAGING_ALIGNMENT) * STAGING_ALIGNMENT
        with self._lock:
            block, start = self._block, self._used
            if block is None or start + size > block.nbytes:
                block = np.empty(min(STAGING_BLOCK_BYTES, max(size, self._left)) + STAGING_ALIGNMENT, dtype=np.uint8)
                self._block = block
                start = -block.__array_interface__["data"][0] % STAGING_ALIGNMENT
            self._used = start + size
            self._left -= size
            if self._used + HELD_COPY_BYTES > block.nbytes:
                self._block = None  # full: the staged copies alone keep it
        staged: np.ndarray[Any, Any] = block[start:start + nbytes].view(values.dtype).reshape(values.shape)
        np.copyto(staged, values)  # outside the lock: threads copy at once
        staged.setflags(write=False)
        return staged


def _encoded_edit(driver: KvsChunkedDriver[Any], storage: np.ndarray[Any, Any]) -> Edit:
    """A whole-chunk edit, encoded here (so the caller's array is free once the write
    returns), with the array the cache keeps if it keeps chunks."""
    if not driver._store_fill and driver._fill_state.equals(storage):
        return Edit(covers=True)
    cached = _cacheable(storage) if driver.chunk_cache.pool.total_bytes_limit else None
    return Edit(covers=True, encoded=driver.encode_chunk(storage), cached=cached)


def _cacheable(storage: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A read-only array the cache may keep (a copy if ``storage`` views another array)."""
    cached = np.array(storage, copy=True) if storage.base is not None else storage
    cached.setflags(write=False)
    return cached


def _store_unconditionally(driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, storage: np.ndarray[Any, Any]) -> Future[Any]:
    """Encode here, then let the kvstore's own pool do the (possibly fsync-bound) write,
    so the data-copy threads go on encoding while many writes are in flight."""
    equals_fill = not driver._store_fill and driver._fill_state.equals(storage)
    value = None if equals_fill else driver.encode_chunk(storage)
    cache = driver.chunk_cache
    if equals_fill or not cache.pool.total_bytes_limit:
        cache.discard(key)
        cached = None
    else:
        cached = _cacheable(storage)
    full_key = kvstore.path + key
    written: Future[Any] = Future()

    def settle(done: Future[Any]) -> None:
        error = done.exception()
        if error is None:
            written._set_result(done.result())
            return
        try:
            storage_call("writing chunk", full_key, lambda: done.result())
        except Exception as wrapped:
            written._set_exception(wrapped)

    slots = driver._write_slots
    slots.acquire()  # released when the write completes
    try:
        started = storage_call("writing chunk", full_key, kvstore.write, key, value)
    except BaseException:
        slots.release()
        raise
    started.add_done_callback(lambda _: slots.release())
    started.add_done_callback(settle)
    if cached is None:
        return written

    def remember(done: Future[Any]) -> None:
        if done.exception() is None:
            cache.remember(key, done.result().generation, time.time(), cached)

    written.add_done_callback(remember)
    return written


def _stage_whole_chunk(
    driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, part: Any, values: np.ndarray[Any, Any]
) -> None:
    """Stage a part covering its chunk as the chunk's encoded value (a blind overwrite:
    the commit neither reads nor conditions on the stored chunk). Encoded now, straight
    from the caller's array: no staged copy of the elements (at least as large as the
    encoding, and fresh memory costs a page fault per page), and the commit only
    writes. A later partial write of the chunk in the transaction decodes it."""
    fill = driver._fill_state.chunk
    if values.shape == driver._chunk and driver.field_view(fill) is fill:
        storage = values
    else:
        storage = driver.fill_chunk()
        driver.field_view(storage)[part.cell_selection] = values
    equals_fill = not driver._store_fill and driver._fill_state.equals(storage)
    value = None if equals_fill else driver.encode_chunk(storage)
    storage_call("writing chunk", kvstore.path + key, kvstore.write_blocking, key, value)
    driver.chunk_cache.discard(key)


def _stage_in_transaction(
    driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, part: Any, values: np.ndarray[Any, Any]
) -> None:
    """Stage a partial write as a modification the transaction applies to the stored chunk.

    If the transaction also read this chunk, the commit is conditioned on what it read;
    otherwise the modification is re-applied to whatever is stored at commit time.
    """
    cache = driver.chunk_cache

    def modify(stored: bytes | None) -> bytes | None:
        if stored is None:
            storage = driver.fill_chunk()
        else:
            storage = cache.decode_transient(key, stored, driver.decode_chunk_transient)
        driver.field_view(storage)[part.cell_selection] = values
        if not driver._store_fill and driver._fill_state.equals(storage):
            return None
        return driver.encode_chunk(storage)

    assert kvstore.transaction is not None
    kvstore.transaction._modify(kvstore.driver, (kvstore.path + key).encode("utf-8"), modify)
    cache.discard(key)


def store(
    driver: KvsChunkedDriver[Any], kvstore: KvStore, key: str, storage: np.ndarray[Any, Any], if_equal: bytes | None, batch: Any = None
) -> bool:
    """Write (or delete, if it equals the fill value) one chunk; False on a failed condition."""
    full_key = kvstore.path + key
    if not driver._store_fill and driver._fill_state.equals(storage):
        stamp = storage_call("deleting chunk", full_key, kvstore.write_blocking, key, None, if_equal, batch)
        cached: np.ndarray[Any, Any] | None = None
    else:
        # A batch that copies values out gets this thread's reusable encoding (valid until
        # this thread encodes again, which it does only after the write returned).
        transient = batch is not None and batch.copies_values
        encoded = driver.encode_chunk_transient(storage) if transient else driver.encode_chunk(storage)
        stamp = storage_call("writing chunk", full_key, kvstore.write_blocking, key, encoded, if_equal, batch)
        cached = storage
    if kvstore.transaction is None:
        if if_equal is not None and stamp.generation == UNKNOWN:
            return False
        cache = driver.chunk_cache
        if not cache.pool.total_bytes_limit:
            return True  # a pool that keeps nothing has nothing to forget
        if cached is None:
            cache.discard(key)
        else:
            cache.remember(key, stamp.generation, time.time(), _cacheable(cached))
    return True
