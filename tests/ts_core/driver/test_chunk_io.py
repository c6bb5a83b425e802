"""Chunked reads and writes through views (transposed, permuted, strided, translated, index
arrays) against NumPy and the tensorstore wheel; the cached-read pass and the one-thread path
for small chunks of an in-process kvstore."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.cache import CachePool
from ts_core.driver import ChunkCache, _chunk_io
from ts_core.errors import ChunkError
from ts_core.index_space._partition import _one_chunk_part, _plan

SHAPE = (13, 10, 7)
CHUNK = [4, 3, 5]


def metadata(chunk: list[int] = CHUNK, shape: tuple[int, ...] = SHAPE) -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "int32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": -1,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }


def open_file(path: Path, create: bool = False, **context: Any) -> Any:
    spec: dict[str, Any] = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
    if create:
        spec["metadata"] = metadata()
    return ts.open(spec, create=create, open=not create, context=ts.Context(context or None)).result()


def open_memory(**context: Any) -> Any:
    spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "metadata": metadata()}
    return ts.open(spec, create=True, context=ts.Context(context or None)).result()


DATA = np.arange(np.prod(SHAPE), dtype=np.int32).reshape(SHAPE)

#: (ts view, the same selection of a NumPy array): what the separable partition covers.
VIEWS: dict[str, tuple[Any, Any]] = {
    "T": (lambda s: s.T, lambda a: a.T),
    "T box": (lambda s: s.T[1:6, 2:9, 3:12], lambda a: a.T[1:6, 2:9, 3:12]),
    "transpose 2,0,1": (lambda s: s[ts.d[2, 0, 1].transpose[:]], lambda a: a.transpose(2, 0, 1)),
    "negative strides": (lambda s: s[::-2, 1:9, ::-3], lambda a: a[::-2, 1:9, ::-3]),
    "transposed negative strides": (lambda s: s[::-1, ::2, 5:0:-2].T, lambda a: a[::-1, ::2, 5:0:-2].T),
    "translate_to": (lambda s: s.translate_to[4, -3, 9][5:12, :, 10:14], lambda a: a[1:8, :, 1:5]),
    "integer and transpose": (lambda s: s[:, 4][ts.d[1, 0].transpose[:]], lambda a: a[:, 4].T),
    "oindex": (lambda s: s.oindex[[12, 0, 5], 2:8, [6, 1]], lambda a: a[np.ix_([12, 0, 5], range(2, 8), [6, 1])]),
    "oindex transposed": (lambda s: s.oindex[[3, 9], :, [0, 6, 2]].T, lambda a: a[np.ix_([3, 9], range(10), [0, 6, 2])].T),
    "new axis transposed": (lambda s: s[None, 2:9, 3, None].T, lambda a: a[None, 2:9, 3, None].T),
    "vindex (general path)": (lambda s: s.vindex[[1, 2, 12], [0, 9, 3]], lambda a: a[[1, 2, 12], [0, 9, 3]]),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_read_like_numpy_and_the_wheel(tmp_path: Path, name: str) -> None:
    import tensorstore

    open_file(tmp_path, create=True).write(DATA).result()
    ts_view, numpy_view = VIEWS[name]
    expected = numpy_view(DATA)
    np.testing.assert_array_equal(ts_view(open_file(tmp_path)).read().result(), expected)
    cached = open_file(tmp_path, cache_pool={"total_bytes_limit": 1 << 20})
    for _ in range(2):  # the second read copies from the cache
        np.testing.assert_array_equal(ts_view(cached).read().result(), expected)
    wheel = tensorstore.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path)}}).result()
    wheel_views = {"transpose 2,0,1": lambda s: s[tensorstore.d[2, 0, 1].transpose[:]],
                   "integer and transpose": lambda s: s[:, 4][tensorstore.d[1, 0].transpose[:]]}
    np.testing.assert_array_equal(wheel_views.get(name, ts_view)(wheel).read().result(), expected)


@pytest.mark.parametrize("name", [n for n in VIEWS if "vindex" not in n])
def test_writes_through_views_store_what_numpy_would(tmp_path: Path, name: str) -> None:
    import tensorstore

    store = open_file(tmp_path, create=True)
    ts_view, numpy_view = VIEWS[name]
    view = ts_view(store)
    values = np.arange(view.size, dtype=np.int32).reshape(view.shape) + 1000
    view.write(values).result()
    expected = np.full(SHAPE, -1, dtype=np.int32)
    if name == "oindex":  # np.ix_ selects a copy: scatter through it instead
        expected[np.ix_([12, 0, 5], range(2, 8), [6, 1])] = values
    elif name == "oindex transposed":
        expected[np.ix_([3, 9], range(10), [0, 6, 2])] = values.T
    else:
        numpy_view(expected)[...] = values
    np.testing.assert_array_equal(open_file(tmp_path).read().result(), expected)
    wheel = tensorstore.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path)}}).result()
    np.testing.assert_array_equal(wheel.read().result(), expected)


def test_a_transposed_write_touches_the_chunks_of_the_plain_write(tmp_path: Path) -> None:
    plain = open_file(tmp_path / "plain", create=True)
    transposed = open_file(tmp_path / "transposed", create=True)
    box = np.arange(5 * 6 * 4, dtype=np.int32).reshape(5, 6, 4)
    plain[2:7, 1:7, 3:7].write(box).result()
    transposed.T[3:7, 1:7, 2:7].write(box.T).result()
    keys = [sorted(p.name for p in (tmp_path / d / "c").rglob("*") if p.is_file()) for d in ("plain", "transposed")]
    assert keys[0] == keys[1]
    np.testing.assert_array_equal(open_file(tmp_path / "plain").read().result(), open_file(tmp_path / "transposed").read().result())


@st.composite
def view_of(draw: Any) -> tuple[list[tuple[str, Any]], tuple[int, ...]]:
    """Operations (as data) making a permuted/strided/translated view of SHAPE."""
    ops: list[tuple[str, Any]] = []
    shape = SHAPE
    if draw(st.booleans()):
        order = tuple(draw(st.permutations(range(3))))
        ops.append(("transpose", order))
        shape = tuple(SHAPE[k] for k in order)
    slices = []
    for n in shape:
        step = draw(st.sampled_from((1, 2, -1, -3)))
        start = draw(st.integers(0, n - 1))
        stop = draw(st.integers(start + 1, n) if step > 0 else st.integers(-1, start - 1))
        slices.append(slice(start, stop, step))  # stop -1: down to 0 (no wrap-around in ts)
    ops.append(("slice", tuple(slices)))
    if draw(st.booleans()):
        ops.append(("T", None))
    return ops, tuple(draw(st.integers(1, 5)) for _ in SHAPE)


def apply(ops: list[tuple[str, Any]], view: Any, numpy_array: np.ndarray) -> tuple[Any, np.ndarray]:
    for op, arg in ops:
        if op == "transpose":
            view, numpy_array = view[ts.d[arg].transpose[:]], numpy_array.transpose(arg)
        elif op == "slice":
            as_numpy = tuple(slice(a.start, None if a.stop == -1 else a.stop, a.step) for a in arg)
            view, numpy_array = view[arg].translate_to[(0,) * 3], numpy_array[as_numpy]
        else:
            view, numpy_array = view.T, numpy_array.T
    return view, numpy_array


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(view_of(), st.sampled_from(("memory", "memory cached")))
@example(([("T", None)], (4, 3, 5)), "memory")
@example(([("transpose", (1, 2, 0)), ("slice", (slice(9, None, -3), slice(1, 6, 2), slice(12, -1, -1)))], (2, 5, 3)), "memory cached")
def test_views_round_trip_through_the_engine(view: Any, kind: str) -> None:
    ops, chunk = view
    spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "metadata": metadata(list(chunk))}
    context = ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}} if kind == "memory cached" else None)
    store = ts.open(spec, create=True, context=context).result()
    store.write(DATA).result()
    expected_array = DATA.copy()
    ts_view, numpy_view = apply(ops, store, expected_array)
    np.testing.assert_array_equal(ts_view.read().result(), numpy_view)
    values = np.random.default_rng(1).integers(0, 100, size=numpy_view.shape, dtype=np.int32)
    ts_view.write(values).result()
    numpy_view[...] = values
    np.testing.assert_array_equal(store.read().result(), expected_array)


# -- scheduling of small chunks and cached reads ----------------------------------------------
def test_small_memory_chunks_run_on_the_callers_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_memory()
    driver = store._driver
    assert _chunk_io.python_bound(driver, driver.chunk_kvstore)
    threads: set[int] = set()

    def spying(original: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            threads.add(threading.get_ident())
            return original(*args, **kwargs)

        return spy

    monkeypatch.setattr(ChunkCache, "read", spying(ChunkCache.read))
    monkeypatch.setattr(_chunk_io, "_write_chunk", spying(_chunk_io._write_chunk))
    written = store.write(DATA)
    assert written.done()  # completed before write() returned
    read = store[1:12, ::2].read()
    assert read.done()
    assert threads == {threading.get_ident()}
    np.testing.assert_array_equal(read.result(), DATA[1:12, ::2])


def test_python_bound_needs_small_chunks_of_an_in_process_kvstore(tmp_path: Path) -> None:
    big = ts.open({"driver": "zarr3", "kvstore": {"driver": "memory"}, "metadata": metadata([13, 10, 70], (13, 10, 70))}, create=True).result()
    assert not _chunk_io.python_bound(big._driver, big._driver.chunk_kvstore)
    on_file = open_file(tmp_path, create=True)
    assert not _chunk_io.python_bound(on_file._driver, on_file._driver.chunk_kvstore)


def test_a_few_small_file_chunks_are_read_on_the_callers_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handing a few small chunks of a local kvstore to workers costs more than reading
    them: such reads stay on the caller's thread; larger ones still go to the workers."""
    store = open_file(tmp_path, create=True)
    store.write(DATA).result()
    reopened = open_file(tmp_path, cache_pool={"total_bytes_limit": 0})
    threads: list[int] = []
    original = ChunkCache.read

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(ChunkCache, "read", spy)
    box = (slice(0, CHUNK[0] + 1), slice(0, CHUNK[1] + 1))  # a corner of 4 chunks or more
    np.testing.assert_array_equal(reopened[box].read().result(), DATA[box])
    count = len(threads)
    assert 1 < count <= _chunk_io.SMALL_LOCAL_READ_CHUNKS
    assert set(threads) == {threading.get_ident()}
    monkeypatch.setattr(_chunk_io, "SMALL_LOCAL_READ_CHUNKS", 1)
    threads.clear()
    np.testing.assert_array_equal(reopened[box].read().result(), DATA[box])
    assert len(threads) == count
    assert threading.get_ident() not in threads  # on the workers


def test_errors_of_the_one_thread_path_reach_the_future() -> None:
    store = open_memory()
    store.write(DATA).result()
    kvstore = store._driver.chunk_kvstore
    kvstore.write("c/1/1/1", b"not a chunk").result()
    with pytest.raises(ChunkError, match="c/1/1/1"):
        store.read().result()
    with pytest.raises(ChunkError, match="c/1/1/1"):
        store[4:6, 3:5, 5:7].write(0).result()  # partial chunk: read-modify-write decodes it


def reads_of(driver: str) -> int:
    (counter,) = [m for m in ts.experimental_collect_matching_metrics(f"/tensorstore/kvstore/{driver}/read") if m["name"].endswith("/read")]
    return int(counter["values"][0]["value"])


def test_fresh_cached_chunks_are_copied_without_kvstore_reads(tmp_path: Path) -> None:
    open_file(tmp_path, create=True).write(DATA).result()
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path)}, "recheck_cached_data": False}
    store = ts.open(spec, context=ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})).result()
    np.testing.assert_array_equal(store.T[2:5].read().result(), DATA.T[2:5])
    before = reads_of("file")
    np.testing.assert_array_equal(store.T.read().result(), DATA.T)  # some chunks cached, some not
    middle = reads_of("file")
    assert 0 < middle - before < 4 * 4 * 2
    np.testing.assert_array_equal(store.read().result(), DATA)
    assert reads_of("file") == middle


def test_revalidated_cache_entries_see_other_writers(tmp_path: Path) -> None:
    open_file(tmp_path, create=True).write(DATA).result()
    reader = open_file(tmp_path, cache_pool={"total_bytes_limit": 1 << 20})
    np.testing.assert_array_equal(reader.read().result(), DATA)
    np.testing.assert_array_equal(reader.read().result(), DATA)  # unchanged: stamps move on
    open_file(tmp_path)[0:4, 0:3, 0:5].write(7).result()
    expected = DATA.copy()
    expected[0:4, 0:3, 0:5] = 7
    np.testing.assert_array_equal(reader.T.read().result(), expected.T)


def test_cache_pool_get_many_marks_entries_recently_used() -> None:
    pool = CachePool(30)
    for key in "abc":
        pool.put(key, key.upper(), 10)
    assert pool.get_many(["a", "x", "c"]) == ["A", None, "C"]
    pool.put("d", "D", 10)  # evicts b, the least recently used
    assert pool.get_many(["a", "b", "c", "d"]) == ["A", None, "C", "D"]


def test_pull_workers_take_parts_from_an_iterator() -> None:
    from ts_core.concurrency import Executor
    from ts_core.driver import pull_workers

    made: list[int] = []

    def parts() -> Any:
        for n in range(50):
            made.append(n)
            yield n

    seen: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        with lock:
            seen.append(n)

    assert pull_workers(Executor(2), 2, parts(), work, None, "done").result() == "done"
    assert sorted(seen) == made == list(range(50))


def planned_parts(transform: Any, chunk_shape: tuple[int, ...]) -> list[Any]:
    """The parts the separable plan gives (what the partition did before its one-chunk path)."""
    plan = _plan(transform, chunk_shape, None)
    assert plan is not None
    return list(plan.parts(input_order=True))  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    chunk=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    origin=st.lists(st.integers(-20, 20), min_size=3, max_size=3),
    data=st.data(),
)
@example(shape=[1], chunk=[1, 1, 1], origin=[0, 0, 0], data=None)
def test_a_single_element_is_the_one_part_the_partition_gives(
    shape: list[int], chunk: list[int], origin: list[int], data: Any
) -> None:
    """The direct single-element path agrees with the general partition (same chunk, same
    cell), translated domains included, and is taken only for one-element views."""
    from ts_core.index_space import IndexTransform

    rank = len(shape)
    chunk_shape = tuple(chunk[:rank])
    base = IndexTransform(input_inclusive_min=origin[:rank], input_shape=shape)
    position = list(origin[:rank]) if data is None else [
        data.draw(st.integers(o, o + n - 1)) for o, n in zip(origin[:rank], shape, strict=True)
    ]
    point = base[tuple(position)]
    direct = _one_chunk_part(point, chunk_shape, None)
    assert direct is not None
    (expected,) = planned_parts(point, chunk_shape)
    assert direct.grid_indices == expected.grid_indices
    assert direct.cell_selection == tuple(int(c) for c in expected.cell_selection)


@settings(max_examples=80, deadline=None)
@given(
    chunk=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    origin=st.lists(st.integers(-12, 12), min_size=3, max_size=3),
    data=st.data(),
)
@example(chunk=[4], origin=[0, 0, 0], data=None)
def test_a_box_in_one_chunk_is_the_one_part_the_partition_gives(chunk: list[int], origin: list[int], data: Any) -> None:
    """The direct path for a plain box agrees with the partition when the box lies in one
    chunk (same chunk, same selections), and declines boxes spanning several chunks,
    strided, reversed or transposed views."""
    from ts_core.index_space import IndexTransform

    rank = len(chunk)
    chunk_shape = tuple(chunk)
    base = IndexTransform(input_inclusive_min=origin[:rank], input_shape=[20] * rank)
    if data is None:
        starts, stops = list(origin[:rank]), [o + 1 for o in origin[:rank]]
    else:
        starts = [data.draw(st.integers(o, o + 19)) for o in origin[:rank]]
        stops = [data.draw(st.integers(a + 1, o + 20)) for a, o in zip(starts, origin[:rank], strict=True)]
    box = base[tuple(slice(a, b) for a, b in zip(starts, stops, strict=True))]
    direct = _one_chunk_part(box, chunk_shape, None)
    parts = planned_parts(box, chunk_shape)
    if len(parts) != 1:
        assert direct is None
        return
    assert direct is not None
    (expected,) = parts
    assert direct.grid_indices == expected.grid_indices
    values = np.arange(int(np.prod(chunk_shape))).reshape(chunk_shape)
    assert np.array_equal(values[direct.cell_selection], values[expected.cell_selection])
    target = np.zeros(box.domain.shape, dtype=int)
    expected_target = target.copy()
    target[direct.array_selection] = values[direct.cell_selection]
    expected_target[expected.array_selection] = values[expected.cell_selection]
    assert np.array_equal(target, expected_target)
    assert _one_chunk_part(box[tuple(slice(None, None, -1) for _ in range(rank))], chunk_shape, None) is None
    if rank > 1:
        assert _one_chunk_part(box.T, chunk_shape, None) is None
