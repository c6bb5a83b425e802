"""Reads of small parts of raw (uncompressed) chunks by byte ranges (``_raw_chunk``).

Differential: the ranged path against the whole-chunk path and NumPy, for zarr3 (``bytes``
with either byte order, with and without ``transpose``) and zarr v2 (C and F order, either
byte order), over random index arrays, strides and ints; missing and truncated chunks.
Parts not worth ranges are read whole by the raw reader (``read_whole``): against the
general path (chunk cache and codec pipeline), the chunks it touches, NumPy and the wheel.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver import _chunk_io, _part_copy
from ts_core.driver._raw_chunk import RawChunkReader

SHAPE = (90, 75, 66)
CHUNK = (40, 40, 33)  # 105,600 bytes of uint16: large enough for ranged reads
UNCACHED = {"cache_pool": {"total_bytes_limit": 0}}


def zarr3_spec(path: Path, endian: str, transpose: Any, dtype: str = "uint16") -> dict[str, Any]:
    codecs: list[Any] = []
    if transpose is not None:
        codecs.append({"name": "transpose", "configuration": {"order": transpose}})
    codecs.append({"name": "bytes", "configuration": {"endian": endian}})
    return {
        "driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {
            "zarr_format": 3, "node_type": "array", "shape": list(SHAPE), "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(CHUNK)}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": 7, "codecs": codecs,
        },
    }


def zarr2_spec(path: Path, dtype: str, order: str) -> dict[str, Any]:
    return {
        "driver": "zarr", "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {"chunks": list(CHUNK), "compressor": None, "dtype": dtype, "shape": list(SHAPE),
                     "fill_value": 7, "order": order, "filters": None, "zarr_format": 2},
    }


LAYOUTS = {
    "zarr3 little": lambda p: zarr3_spec(p, "little", None),
    "zarr3 big": lambda p: zarr3_spec(p, "big", None),
    "zarr3 F transpose": lambda p: zarr3_spec(p, "little", "F"),
    "zarr3 permuted big": lambda p: zarr3_spec(p, "big", [1, 2, 0]),
    "zarr3 float64": lambda p: zarr3_spec(p, "big", [2, 0, 1], "float64"),
    "zarr2 C little": lambda p: zarr2_spec(p, "<u2", "C"),
    "zarr2 F big": lambda p: zarr2_spec(p, ">u2", "F"),
    "zarr2 C big int32": lambda p: zarr2_spec(p, ">i4", "C"),
}


def selections(rng: np.random.Generator) -> list[tuple[str, Any]]:
    """Views of every kind a read partitions: oindex vectors (sorted, unsorted, repeated),
    vindex points, strides, negative steps, ints among them."""
    def vector(n: int, extent: int, *, sort: bool = True) -> np.ndarray[Any, Any]:
        values = rng.choice(extent, n, replace=False)
        return np.sort(values) if sort else values

    rows, cols, depth = vector(9, SHAPE[0]), vector(7, SHAPE[1]), vector(5, SHAPE[2])
    shuffled_rows, shuffled_depth = vector(9, SHAPE[0], sort=False), vector(4, SHAPE[2], sort=False)
    points = tuple(rng.integers(0, extent, 200) for extent in SHAPE)
    few_points = tuple(rng.integers(0, extent, 5) for extent in SHAPE)
    return [
        ("oindex rows cols", lambda s: s.oindex[rows, cols, :]),
        ("oindex unsorted", lambda s: s.oindex[shuffled_rows, :, shuffled_depth]),
        ("oindex repeated", lambda s: s.oindex[np.array([3, 3, 50, 1]), 5, depth]),
        ("oindex three", lambda s: s.oindex[rows, cols, depth]),
        ("vindex points", lambda s: s.vindex[points]),
        ("vindex few", lambda s: s.vindex[few_points]),
        ("vindex mixed", lambda s: s.vindex[rows[:4], 3:5, depth[:4]]),
        ("strided", lambda s: s[1::17, 2::13, ::11]),
        ("negative steps", lambda s: s[::-19, 70:3:-23, 5]),
        ("int and slice", lambda s: s[44, 10:12, :]),
        ("transposed", lambda s: s.T[::9, 3, ::20]),
    ]


def ranged_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Spy on the ranged path: one entry per part it was asked for, True if it read it."""
    outcomes: list[bool] = []
    original = RawChunkReader.read

    def spy(self: RawChunkReader, part: Any) -> bool:
        outcome = original(self, part)
        outcomes.append(outcome)
        return outcome

    monkeypatch.setattr(RawChunkReader, "read", spy)
    return outcomes


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_ranged_reads_match_whole_chunk_reads_and_numpy(tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(zlib.crc32(layout.encode()))
    spec = LAYOUTS[layout](tmp_path)
    created = ts.open(spec, create=True).result()
    data = (rng.random(SHAPE) * 30000).astype(created.dtype.numpy_dtype)
    data[:, :, 40:] = 7  # some chunks equal the fill value: left unstored, missing
    created.write(data).result()
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    outcomes = ranged_reads(monkeypatch)
    # Reads cheap enough that every kind of part takes ranges (of every split).
    monkeypatch.setattr(_part_copy, "READ_COST_BYTES", 64)
    for name, view in selections(rng):
        expected = np.asarray(view(ts.array(data)))
        outcomes.clear()
        ranged = view(store).read().result()
        np.testing.assert_array_equal(ranged, expected, err_msg=name)
        assert any(outcomes), f"{name}: no part was read by ranges"
        with monkeypatch.context() as whole_only:
            whole_only.setattr(_chunk_io, "_ranged_reader", lambda *args: None)
            np.testing.assert_array_equal(view(store).read().result(), ranged, err_msg=name)


def test_sparse_reads_take_ranges_at_the_real_costs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = zarr3_spec(tmp_path, "little", None)
    data = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    ts.open(spec, create=True).result().write(data).result()
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    outcomes = ranged_reads(monkeypatch)
    points = (np.array([1, 41, 80]), np.array([0, 44, 70]), np.array([3, 40, 65]))
    np.testing.assert_array_equal(store.vindex[points].read().result(), data[points])
    assert outcomes == [True] * 3
    outcomes.clear()
    np.testing.assert_array_equal(store.oindex[[5], [7, 9], :].read().result(), data[np.ix_([5], [7, 9])])
    assert outcomes == [True] * 2  # one chunk row along the last dimension: two chunks
    outcomes.clear()
    np.testing.assert_array_equal(store[:80, :40].read().result(), data[:80, :40])
    assert not any(outcomes)  # whole chunks: read whole
    outcomes.clear()
    np.testing.assert_array_equal(store[85:].read().result(), data[85:])
    assert outcomes
    assert all(outcomes)


def _written_by_the_wheel(tmp_path: Path, order: list[int], seed: int) -> tuple[Any, Any, Any, Any]:
    """(ts store uncached, wheel store, data, rng) of a big-endian zarr3 array in
    transpose ``order`` that the wheel wrote."""
    tensorstore = pytest.importorskip("tensorstore")
    spec = zarr3_spec(tmp_path, "big", order)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 60000, SHAPE, dtype=np.uint16)
    tensorstore.open(spec, create=True).result().write(data).result()
    del spec["metadata"]
    return ts.open(spec, context=ts.Context(UNCACHED)).result(), tensorstore.open(spec).result(), data, rng


def test_ranged_reads_agree_with_the_wheel(tmp_path: Path) -> None:
    store, wheel, _, rng = _written_by_the_wheel(tmp_path, [2, 1, 0], 5)
    rows, cols = np.sort(rng.choice(SHAPE[0], 11, replace=False)), np.sort(rng.choice(SHAPE[1], 6, replace=False))
    np.testing.assert_array_equal(store.oindex[rows, cols, :].read().result(), wheel.oindex[rows, cols, :].read().result())
    points = tuple(rng.integers(0, extent, 300) for extent in SHAPE)
    np.testing.assert_array_equal(store.vindex[points].read().result(), wheel.vindex[points].read().result())


def test_cached_and_small_chunk_reads_stay_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk cache that keeps chunks, a compressed chunk, or a small chunk: no ranges."""
    spec = zarr3_spec(tmp_path / "raw", "little", None)
    ts.open(spec, create=True).result().write(np.ones(SHAPE, np.uint16)).result()
    del spec["metadata"]
    outcomes = ranged_reads(monkeypatch)
    cached = ts.open(spec, context=ts.Context({"cache_pool": {"total_bytes_limit": 1 << 24}})).result()
    assert cached.oindex[[1, 50], [2, 60], :].read().result().sum() == 2 * 2 * SHAPE[2]
    zstd = zarr3_spec(tmp_path / "zstd", "little", None)
    zstd["metadata"]["codecs"].append({"name": "zstd"})
    ts.open(zstd, create=True).result().write(np.ones(SHAPE, np.uint16)).result()
    del zstd["metadata"]
    compressed = ts.open(zstd, context=ts.Context(UNCACHED)).result()
    assert compressed.oindex[[1, 50], [2, 60], :].read().result().sum() == 2 * 2 * SHAPE[2]
    assert outcomes == []


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = zarr3_spec(tmp_path, "little", None)
    store = ts.open(spec, create=True, context=ts.Context(UNCACHED)).result()
    store[:40, :40, :33] = np.full(CHUNK, 3, np.uint16)  # one chunk stored, the rest missing
    outcomes = ranged_reads(monkeypatch)
    read = store.oindex[[1, 39, 60], [0, 70], :].read().result()
    expected = np.full((3, 2, SHAPE[2]), 7, np.uint16)
    expected[:2, 0, :33] = 3
    np.testing.assert_array_equal(read, expected)
    assert outcomes
    assert all(outcomes)
    del spec["metadata"]
    strict = ts.open({**spec, "fill_missing_data_reads": False}, context=ts.Context(UNCACHED)).result()
    with pytest.raises(ValueError, match="missing"):
        strict.oindex[[1, 60], [0, 70], :].read().result()


@pytest.mark.parametrize("damage", ["truncated", "longer"])
@pytest.mark.parametrize("read", ["by ranges", "whole"])
def test_a_chunk_of_the_wrong_size_is_an_error_naming_its_key(tmp_path: Path, damage: str, read: str) -> None:
    """Read by byte ranges (an oindex part) or whole by the raw reader (a strided part)."""
    spec = zarr3_spec(tmp_path, "little", None)
    ts.open(spec, create=True).result().write(np.ones(SHAPE, np.uint16)).result()
    chunk_file = tmp_path / "c" / "1" / "0" / "0"
    stored = chunk_file.read_bytes()
    chunk_file.write_bytes(stored[: len(stored) // 3] if damage == "truncated" else stored + b"\0\0")
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    view = store.oindex[[41, 79], [2, 9], :] if read == "by ranges" else store[::2, ::2, ::2]
    with pytest.raises(ValueError, match=r"c/1/0/0.*expected \d+ bytes"):
        view.read().result()
    assert store[:40, ::2, ::2].read().result().sum() == 40 * 38 * 33  # the other chunks still read
    with pytest.raises(ValueError, match=r"c/1/0/0"):
        store.vindex[[50], [3], [4]].read().result()
    # Other chunks still read (the damage is this chunk's alone).
    assert store.oindex[[1, 2], [2, 9], :].read().result().sum() == 2 * 2 * SHAPE[2]


@pytest.mark.parametrize("layout", ["zarr3 permuted big", "zarr2 F big"])
def test_random_index_arrays(tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random oindex vectors (any order, repeats) and vindex points, at a range cost that
    makes every split of the stored dimensions come up, against NumPy."""
    rng = np.random.default_rng(zlib.crc32(layout.encode()) + 1)
    spec = LAYOUTS[layout](tmp_path)
    created = ts.open(spec, create=True).result()
    data = rng.integers(0, 30000, SHAPE).astype(created.dtype.numpy_dtype)
    created.write(data).result()
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    outcomes = ranged_reads(monkeypatch)
    for trial in range(12):
        monkeypatch.setattr(_part_copy, "READ_COST_BYTES", int(rng.choice([8, 256, 4096, 16384])))
        vectors = [rng.integers(0, extent, rng.integers(1, 9)) for extent in SHAPE]
        if trial % 3 == 0:
            vectors[trial % 3] = np.sort(vectors[trial % 3])
        np.testing.assert_array_equal(store.oindex[tuple(vectors)].read().result(), data[np.ix_(*vectors)])
        count = int(rng.integers(1, 150))
        points = tuple(rng.integers(0, extent, count) for extent in SHAPE)
        np.testing.assert_array_equal(store.vindex[points].read().result(), data[points])
    assert any(outcomes)


# -- parts read whole by the raw reader ----------------------------------------------------

def views(rng: np.random.Generator) -> list[tuple[str, Any]]:
    """Views whose parts take most of their chunks (so none is read by ranges)."""
    rows = np.sort(rng.choice(SHAPE[0], 60, replace=False))
    points = tuple(rng.integers(0, extent, 3000) for extent in SHAPE)
    return [
        ("all", lambda s: s),
        ("box", lambda s: s[5:83, 1:70, 2:60]),
        ("strided", lambda s: s[::2, ::2, ::2]),
        ("negative steps", lambda s: s[::-2, ::3, ::-1]),
        ("transposed", lambda s: s.T[3:60, :, 10:80]),
        ("oindex dense", lambda s: s.oindex[rows, :, :]),
        ("vindex dense", lambda s: s.vindex[points]),
    ]


def raw_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[int, ...]]]:
    """Spy: the grid indices of each part the raw reader copied, by ranges ("read") or
    read whole ("read_whole")."""
    copied: dict[str, list[tuple[int, ...]]] = {"read": [], "read_whole": []}

    def spy_on(name: str) -> None:
        original = getattr(RawChunkReader, name)

        def spy(self: RawChunkReader, part: Any) -> bool:
            outcome: bool = original(self, part)
            if outcome:
                copied[name].append(tuple(part.grid_indices))
            return outcome

        monkeypatch.setattr(RawChunkReader, name, spy)

    spy_on("read")
    spy_on("read_whole")
    return copied


def general_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Spy: the grid indices of each part the general path (no raw reader) reads."""
    touched: list[tuple[int, ...]] = []
    original = _chunk_io.PartCopy.__call__

    def spy(self: Any, part: Any, source: Any) -> None:
        touched.append(tuple(part.grid_indices))
        original(self, part, source)

    monkeypatch.setattr(_chunk_io.PartCopy, "__call__", spy)
    monkeypatch.setattr(_chunk_io, "_ranged_reader", lambda *args: None)
    return touched


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_whole_raw_reads_match_the_general_path_and_numpy(tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(zlib.crc32(layout.encode()) + 7)
    spec = LAYOUTS[layout](tmp_path)
    created = ts.open(spec, create=True).result()
    data = (rng.random(SHAPE) * 30000).astype(created.dtype.numpy_dtype)
    data[:, :, 40:] = 7  # chunks equal to the fill value: unstored, read as missing
    created.write(data).result()
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    for name, view in views(rng):
        expected = np.asarray(view(ts.array(data)))
        with monkeypatch.context() as patch:
            copied = raw_reads(patch)
            whole = view(store).read().result()
        np.testing.assert_array_equal(whole, expected, err_msg=name)
        assert copied["read_whole"], f"{name}: no part was read whole by the raw reader"
        with monkeypatch.context() as patch:
            touched = general_reads(patch)
            general = view(store).read().result()
        np.testing.assert_array_equal(general, whole, err_msg=name)
        # Each chunk copied once, by ranges or whole, as the general path copies it.
        assert sorted(copied["read"] + copied["read_whole"]) == sorted(touched), name


def test_whole_raw_reads_agree_with_the_wheel(tmp_path: Path) -> None:
    store, wheel, data, _ = _written_by_the_wheel(tmp_path, [2, 0, 1], 11)
    for selection in [(slice(None, None, 2),) * 3, (slice(None, None, -2), slice(None, None, 3), slice(None, None, -1))]:
        np.testing.assert_array_equal(store[selection].read().result(), wheel[selection].read().result())
        np.testing.assert_array_equal(store[selection].read().result(), data[selection])


def test_missing_chunks_read_whole_as_the_fill_value_or_an_error(tmp_path: Path) -> None:
    spec = zarr3_spec(tmp_path, "little", None)
    store = ts.open(spec, create=True, context=ts.Context(UNCACHED)).result()
    store[:40, :40, :33] = np.full(CHUNK, 3, np.uint16)  # one chunk stored
    expected = np.full(SHAPE, 7, np.uint16)
    expected[:40, :40, :33] = 3
    np.testing.assert_array_equal(store[::2, ::2, ::2].read().result(), expected[::2, ::2, ::2])
    del spec["metadata"]
    strict = ts.open({**spec, "fill_missing_data_reads": False}, context=ts.Context(UNCACHED)).result()
    with pytest.raises(ValueError, match="missing"):
        strict[::2, ::2, ::2].read().result()


def test_a_storage_failure_reading_whole_is_reported_as_the_general_path_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ts_core.errors import ChunkStorageError

    spec = zarr3_spec(tmp_path, "little", None)
    ts.open(spec, create=True).result().write(np.ones(SHAPE, np.uint16)).result()
    del spec["metadata"]
    store = ts.open(spec, context=ts.Context(UNCACHED)).result()
    driver = store._driver.chunk_kvstore.driver
    original = driver.read

    def failing(key: bytes, options: Any) -> Any:
        if key.endswith(b"c/1/0/0"):
            raise OSError(5, "Input/output error")
        return original(key, options)

    monkeypatch.setattr(driver, "read", failing)
    with pytest.raises(ChunkStorageError, match=r"c/1/0/0.*Input/output error"):
        store[::2, ::2, ::2].read().result()
    assert store[:40, ::2, ::2].read().result().sum() == 40 * 38 * 33
