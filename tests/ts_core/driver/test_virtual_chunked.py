"""The virtual_chunked driver (``ts.virtual_chunked``): conformance over an in-memory
backend, and differential checks against the tensorstore wheel."""

from __future__ import annotations

import asyncio
import functools
import pickle
import threading
import time
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import SpecError, TransactionConflictError
from ts_core.testing.driver import DriverConformance

tensorstore = pytest.importorskip("tensorstore")


class Backend:
    """Array storage behind a virtual_chunked view, with a generation per chunk domain so
    partial-chunk writes are conditional (``if_equal``) and concurrent writers lose nothing."""

    def __init__(self, data: np.ndarray, library: Any = ts) -> None:
        self.data = data
        self.library = library
        self.versions: dict[str, int] = {}
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "versions": self.versions}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["data"])  # type: ignore[misc]
        self.versions = state["versions"]

    def stamp(self, domain: Any) -> Any:
        version = self.versions.get(str(domain), 0)
        return self.library.KvStore.TimestampedStorageGeneration(str(version).encode(), time.time())

    def read(self, domain: Any, array: np.ndarray, params: Any) -> Any:
        with self.lock:
            array[...] = self.data[domain.index_exp]
            return self.stamp(domain)

    def write(self, domain: Any, array: np.ndarray, params: Any) -> Any:
        with self.lock:
            if params.if_equal and params.if_equal != self.stamp(domain).generation:
                return self.library.KvStore.TimestampedStorageGeneration(b"", time.time())  # conflict
            self.data[domain.index_exp] = array
            self.versions[str(domain)] = self.versions.get(str(domain), 0) + 1
            return self.stamp(domain)


class TestVirtualChunkedConformance(DriverConformance):
    driver = "virtual_chunked"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        backend = Backend(np.full(shape, 0 if fill_value is None else fill_value, dtype=dtype))
        return ts.virtual_chunked(
            backend.read, backend.write, dtype=dtype, shape=shape,
            chunk_layout=ts.ChunkLayout(read_chunk_shape=chunks), context=context,
        )

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        """Reopening from ``spec()`` applies (the spec holds the functions); a minimal
        ``{"driver", "kvstore"}`` spec does not: the driver takes no kvstore."""
        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = np.arange(30, dtype=np.uint16).reshape(6, 5)
        store.write(data).result()
        reopened = ts.open(store.spec(), context=self._context).result()
        np.testing.assert_array_equal(reopened.read().result(), data)
        with pytest.raises(SpecError, match="kvstore"):
            ts.open({"driver": "virtual_chunked", "kvstore": kvstore}).result()

    def test_open_missing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Nothing is stored, so nothing can be missing; what opening needs is a dtype and rank."""
        with pytest.raises(ValueError, match="dtype must be specified"):
            ts.open({"driver": "virtual_chunked", "read_function": print, "rank": 1}).result()
        with pytest.raises(ValueError, match="rank must be specified"):
            ts.open({"driver": "virtual_chunked", "read_function": print, "dtype": "uint8"}).result()

    def test_create_existing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Creating has no side effects (tensorstore reports the open mode as ``open``), so a
        second view over the same functions is fine."""
        first = self._create(kvstore, context, (4,), (2,))
        second = self._create(kvstore, context, (4,), (2,))
        assert first.shape == second.shape == (4,)

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        """No stored array to delete: open modes do not apply (the user's functions own storage)."""
        store = self._create(kvstore, context, (4,), (2,))
        again = ts.open(store.spec(), create=True, delete_existing=True, context=self._context).result()
        assert again.shape == (4,)

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        """A fill value is not supported (as in tensorstore): every chunk goes to the write function."""
        with pytest.raises(ValueError, match="fill_value not supported"):
            ts.virtual_chunked(print, dtype=ts.uint8, shape=[4], schema=ts.Schema(fill_value=3, dtype=ts.uint8))

    def test_storage_statistics(self, kvstore: Any, context: Any) -> None:
        """Every position is computed, so every region counts as stored."""
        store = self._create(kvstore, context, (6,), (2,))
        stats = store.storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        assert (stats.not_stored, stats.fully_stored) == (False, True)


# -- differential tests against the wheel ----------------------------------------------------------


class Recorder:
    """Read/write functions recording their calls (domain text, shape, parameters)."""

    def __init__(self, library: Any, generation: bytes | None = None, stamp_time: float = 5.0) -> None:
        self.library = library
        self.generation = generation
        self.stamp_time = stamp_time
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.stored: dict[str, np.ndarray] = {}

    def read(self, domain: Any, array: np.ndarray, params: Any) -> Any:
        with self.lock:
            self.calls.append(("read", str(domain), array.shape, params.if_not_equal))
        array[...] = self.stored.get(str(domain), np.arange(array.size).reshape(array.shape) + 1)
        if self.generation is None:
            return None
        return self.library.KvStore.TimestampedStorageGeneration(self.generation, self.stamp_time)

    def write(self, domain: Any, array: np.ndarray, params: Any) -> Any:
        with self.lock:
            self.calls.append(("write", str(domain), array.tolist(), array.flags.writeable, params.if_equal))
            self.stored[str(domain)] = array.copy()


def both(function: Any) -> tuple[Any, Any]:
    outcomes = []
    for library in (ts, tensorstore):
        try:
            outcomes.append(function(library))
        except Exception as exc:
            outcomes.append(type(exc))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize(
    "options",
    [
        {"shape": [4, 5], "chunk_layout": {"read_chunk_shape": [2, 3]}},
        {"shape": [4, 5]},
        {"domain": {"inclusive_min": [1, 2], "shape": [3, 3], "labels": ["x", "y"]}, "chunk_layout": {"read_chunk_shape": [2, 2]}},
        {"shape": [10, 10], "chunk_layout": {"rank": 2, "chunk_elements": 20}},
        {"shape": [5, 6], "chunk_layout": {"inner_order": [1, 0], "chunk_shape": [3, 4]}},
    ],
)
def test_reads_match_tensorstore(options: dict[str, Any]) -> None:
    recorders = {}

    def build(library: Any) -> Any:
        recorder = recorders[library] = Recorder(library)
        kwargs = dict(options)
        if "chunk_layout" in kwargs:
            kwargs["chunk_layout"] = library.ChunkLayout(**kwargs["chunk_layout"])
        if "domain" in kwargs:
            kwargs["domain"] = library.IndexDomain(**kwargs["domain"])
        return library.virtual_chunked(recorder.read, dtype=library.uint16, **kwargs)

    ours, theirs = build(ts), build(tensorstore)
    assert str(ours.domain) == str(theirs.domain)
    assert ours.chunk_layout.to_json() == theirs.chunk_layout.to_json()
    assert ours.schema.to_json() == theirs.schema.to_json()
    assert (ours.mode, ours.fill_value, ours.codec) == (theirs.mode, theirs.fill_value, theirs.codec)
    np.testing.assert_array_equal(ours.read().result(), theirs.read().result())
    assert sorted(recorders[ts].calls) == sorted(recorders[tensorstore].calls)
    index = (slice(ours.origin[0] + 1, None), ...)
    np.testing.assert_array_equal(ours[index].read().result(), theirs[index].read().result())


@pytest.mark.parametrize(
    ("generation", "stamp_time"), [(None, 0.0), (b"g1", 5.0), (b"g1", float("inf"))]
)
def test_caching_matches_tensorstore(generation: bytes | None, stamp_time: float) -> None:
    """With a cache pool: ``None`` and an infinite time cache for good; a finite time is
    revalidated with ``if_not_equal``."""
    calls = {}
    for library in (ts, tensorstore):
        recorder = Recorder(library, generation, stamp_time)
        context = library.Context({"cache_pool": {"total_bytes_limit": 10**6}})
        store = library.virtual_chunked(recorder.read, dtype=library.uint8, shape=[4], context=context)
        store.read().result()
        store.read().result()
        calls[library] = recorder.calls
    assert calls[ts] == calls[tensorstore]


def test_writes_match_tensorstore() -> None:
    calls = {}
    for library in (ts, tensorstore):
        recorder = Recorder(library, b"g1")
        store = library.virtual_chunked(
            recorder.read, recorder.write, dtype=library.uint8, shape=[5],
            chunk_layout=library.ChunkLayout(read_chunk_shape=[2]),
        )
        store[1:].write(np.array([10, 11, 12, 13], np.uint8)).result()  # chunk [0, 2) partially
        calls[library] = sorted(recorder.calls, key=repr)
        np.testing.assert_array_equal(store.read().result(), [1, 10, 11, 12, 13])
    assert calls[ts] == calls[tensorstore]


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.virtual_chunked(dtype=lib.uint8, shape=[2]),
        lambda lib: lib.virtual_chunked(print, shape=[4]),
        lambda lib: lib.virtual_chunked(print, dtype=lib.uint8),
        lambda lib: lib.virtual_chunked(Recorder(lib).read, dtype=lib.uint8, shape=[4]).write(1).result(),
        lambda lib: lib.virtual_chunked(None, Recorder(lib).write, dtype=lib.uint8, shape=[4]).read().result(),
        lambda lib: lib.virtual_chunked(None, Recorder(lib).write, dtype=lib.uint8, shape=[4])[1:].write(3).result(),
        lambda lib: lib.virtual_chunked(raise_key_error, dtype=lib.uint8, shape=[4]).read().result(),
        lambda lib: lib.virtual_chunked(print, raise_type_error, dtype=lib.uint8, shape=[4]).write(3).result(),
        lambda lib: lib.virtual_chunked(print, dtype=lib.uint8, shape=[5],
                                        chunk_layout=lib.ChunkLayout(write_chunk_shape=[4], read_chunk_shape=[2])),
        lambda lib: lib.VirtualChunkedReadParameters(),
        lambda lib: lib.VirtualChunkedWriteParameters(),
    ],
)
def test_errors_match_tensorstore(build: Any) -> None:
    ours, theirs = both(build)
    assert isinstance(theirs, type)
    assert issubclass(ours, theirs), (ours, theirs)


def raise_key_error(domain: Any, array: Any, params: Any) -> None:
    raise KeyError("from the read function")


def raise_type_error(domain: Any, array: Any, params: Any) -> None:
    raise TypeError("from the write function")


def test_user_errors_keep_their_message() -> None:
    store = ts.virtual_chunked(raise_key_error, dtype=ts.uint8, shape=[4])
    with pytest.raises(KeyError, match="from the read function"):
        store.read().result()


def test_transaction_writes_at_commit() -> None:
    calls = {}
    for library in (ts, tensorstore):
        recorder = Recorder(library)
        store = library.virtual_chunked(
            recorder.read, recorder.write, dtype=library.uint8, shape=[4],
            chunk_layout=library.ChunkLayout(read_chunk_shape=[2]),
        )
        transaction = library.Transaction()
        store.with_transaction(transaction)[0:2].write(5).result()
        assert not [c for c in recorder.calls if c[0] == "write"]
        np.testing.assert_array_equal(store.with_transaction(transaction).read().result(), [5, 5, 1, 2])
        np.testing.assert_array_equal(store.read().result(), [1, 2, 1, 2])
        transaction.commit_sync()
        if library is ts:
            # (the wheel also writes back chunk [2, 4), which the transaction only read, as zeros)
            np.testing.assert_array_equal(store.read().result(), [5, 5, 1, 2])
        calls[library] = [c for c in recorder.calls if c[0] == "write" and c[1] == "{ [0, 2) }"]
    assert calls[ts] == calls[tensorstore]


def test_atomic_transaction_refuses_two_chunks() -> None:
    for library in (ts, tensorstore):
        recorder = Recorder(library)
        store = library.virtual_chunked(
            recorder.read, recorder.write, dtype=library.uint8, shape=[4],
            chunk_layout=library.ChunkLayout(read_chunk_shape=[2]),
        )
        with pytest.raises(ValueError, match="atomic"):
            store.with_transaction(library.Transaction(atomic=True)).write(6).result()


def module_read(offset: int, domain: Any, array: np.ndarray, params: Any) -> None:
    array[...] = np.arange(domain.origin[0], domain.origin[0] + array.shape[0]) + offset


def test_pickle_with_module_level_functions() -> None:
    for library in (ts, tensorstore):
        store = library.virtual_chunked(functools.partial(module_read, 10), dtype=library.int32, shape=[6])
        clone = pickle.loads(pickle.dumps(store[2:]))
        assert str(clone.domain) == "{ [2, 6) }"
        np.testing.assert_array_equal(clone.read().result(), [12, 13, 14, 15])


def test_pickle_of_a_local_function_fails_like_tensorstore() -> None:
    ours, theirs = both(lambda lib: pickle.dumps(lib.virtual_chunked(lambda d, a, p: None, dtype=lib.uint8, shape=[4])))
    assert issubclass(ours, theirs)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")  # the wheel's refusal
def test_coroutine_functions_run_on_the_loop() -> None:
    async def read(domain: Any, array: np.ndarray, params: Any) -> None:
        await asyncio.sleep(0)
        array[...] = 3

    async def main(library: Any) -> Any:
        store = library.virtual_chunked(read, dtype=library.uint8, shape=[4])
        return await store.read()

    for library in (ts, tensorstore):
        np.testing.assert_array_equal(asyncio.run(main(library)), [3, 3, 3, 3])
    # Without a running loop and no ``loop``: an error, in both.
    ours, theirs = both(lambda lib: lib.virtual_chunked(read, dtype=lib.uint8, shape=[4]).read().result())
    assert issubclass(ours, theirs)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        store = ts.virtual_chunked(read, dtype=ts.uint8, shape=[4], loop=loop)
        np.testing.assert_array_equal(store.read().result(), [3, 3, 3, 3])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_read_parameters() -> None:
    seen = []

    def read(domain: Any, array: np.ndarray, params: Any) -> None:
        seen.append((type(params).__name__, params.if_not_equal, params.batch, params.staleness_bound))
        array[...] = 0

    before = time.time()
    ts.virtual_chunked(read, dtype=ts.uint8, shape=[4]).read().result()
    assert seen[0][:3] == ("VirtualChunkedReadParameters", b"", None)
    assert seen[0][3] >= before


def test_chunks_are_computed_concurrently() -> None:
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow_read(domain: Any, array: np.ndarray, params: Any) -> None:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.1)
        array[...] = 1
        with lock:
            in_flight[0] -= 1

    context = ts.Context({"data_copy_concurrency": {"limit": 4}})
    store = ts.virtual_chunked(slow_read, dtype=ts.uint8, shape=[8],
                               chunk_layout=ts.ChunkLayout(read_chunk_shape=[2]), context=context)
    np.testing.assert_array_equal(store.read().result(), np.ones(8, np.uint8))
    assert peak[0] == 4


def test_batch_argument_defers_reads_like_tensorstore() -> None:
    for library in (ts, tensorstore):
        recorder = Recorder(library)
        store = library.virtual_chunked(recorder.read, dtype=library.uint8, shape=[4])
        np.testing.assert_array_equal(store.read(batch=None).result(), [1, 2, 3, 4])
        batch = library.Batch()
        pending = store[1:].read(batch=batch)
        assert not pending.done()
        assert len(recorder.calls) == 1
        batch.submit()
        np.testing.assert_array_equal(pending.result(), [2, 3, 4])


def test_stack_of_virtual_views() -> None:
    ours, theirs = both(
        lambda lib: lib.stack([lib.virtual_chunked(functools.partial(module_read, i), dtype=lib.int32, shape=[3])
                               for i in range(2)]).read().result()
    )
    np.testing.assert_array_equal(ours, theirs)


def test_arrays_follow_the_inner_order_like_tensorstore() -> None:
    layouts = []
    for library in (ts, tensorstore):
        seen: list[Any] = []

        def read(domain: Any, array: np.ndarray, params: Any, seen: list[Any] = seen) -> None:
            seen.append(("read", array.shape, array.strides))
            array[...] = 1

        def write(domain: Any, array: np.ndarray, params: Any, seen: list[Any] = seen) -> None:
            seen.append(("write", array.shape, array.strides, array.tolist()))

        store = library.virtual_chunked(read, write, dtype=library.uint8, shape=[4, 6],
                                        chunk_layout=library.ChunkLayout(inner_order=[1, 0], chunk_shape=[2, 3]))
        store[0:2, 0:3].read().result()
        store[0:2, 0:3].write(np.arange(6, dtype=np.uint8).reshape(2, 3)).result()
        store[0:1, 0:3].write(9).result()
        # (whether the partial write reads the chunk or uses the cached one varies in the wheel)
        layouts.append((sorted({c for c in seen if c[0] == "read"}), [c for c in seen if c[0] == "write"][:1]))
    assert layouts[0] == layouts[1]


def test_written_chunks_are_cached_like_tensorstore() -> None:
    """With a cache pool, a chunk just written is not read back for a partial write."""
    calls = {}
    for library in (ts, tensorstore):
        recorder = Recorder(library)
        context = library.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})
        store = library.virtual_chunked(recorder.read, recorder.write, dtype=library.uint8, shape=[4],
                                        chunk_layout=library.ChunkLayout(read_chunk_shape=[4]), context=context)
        store.write(np.arange(4, dtype=np.uint8)).result()
        store[1:2].write(9).result()
        np.testing.assert_array_equal(store.read().result(), [0, 9, 2, 3])
        calls[library] = recorder.calls
    assert calls[ts] == calls[tensorstore]


def test_transaction_with_generations_commits_like_tensorstore() -> None:
    """Chunks a transaction only read are revalidated at commit through the read function
    (``if_not_equal``): unchanged data commits; data changed meanwhile is a conflict in ts
    (its transactions validate reads by default, see the transactions page)."""
    for library in (ts, tensorstore):
        backend = Backend(np.zeros(4, np.uint8), library)
        store = library.virtual_chunked(backend.read, backend.write, dtype=library.uint8, shape=[4],
                                        chunk_layout=library.ChunkLayout(read_chunk_shape=[2]))
        transaction = library.Transaction()
        view = store.with_transaction(transaction)
        np.testing.assert_array_equal(view.read().result(), [0, 0, 0, 0])
        view[0:1].write(7).result()
        transaction.commit_sync()
        np.testing.assert_array_equal(store.read().result(), [7, 0, 0, 0])
    backend = Backend(np.zeros(4, np.uint8))
    store = ts.virtual_chunked(backend.read, backend.write, dtype=ts.uint8, shape=[4],
                               chunk_layout=ts.ChunkLayout(read_chunk_shape=[2]))
    transaction = ts.Transaction()
    view = store.with_transaction(transaction)
    total = int(view[2:4].read().result().sum())
    store[2:4].write([5, 5]).result()  # another writer, outside the transaction
    view[0:1].write(total + 1).result()
    with pytest.raises(TransactionConflictError):
        transaction.commit_sync()
