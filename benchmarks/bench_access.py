"""Access patterns: ts vs the tensorstore wheel vs zarr-python, one process, one table.

    uv run python benchmarks/bench_access.py [--mib 256] [--rounds 3] [--only transposed,strided]
                                             [--json out.json] [--compare before.json]

The workloads of issue 17 on a uint16 cube (512^3 for the default 256 MiB) in 64^3 chunks
on the file kvstore: views read through a transform (transposed, permuted 3-D, strided,
negative steps), bulk reads and a bulk write, single-element reads with and without a
chunk cache, opening an array, 1,024 row reads awaited together, 8^3 writes one after
another, concurrently and in one transaction, and the whole cube written to and read from
the memory kvstore in 8^3 chunks (per-chunk cost). The same workload runs on ts, the wheel
and, where it has the operation, zarr-python 3, in ``--rounds`` rounds (up to three times as
many for workloads that take less than 2 s) whose library order rotates, because the shared
machine's speed swings; the table gives the median of each and the time ratios ts/tensorstore and
ts/zarr-python (below 1: ts is faster). Every result is compared with NumPy's answer for
the same selection of the source array (written blocks are read back with the wheel), and
a library that answers wrongly is reported as WRONG instead of timed.

"uncached" rows use ``cache_pool.total_bytes_limit: 0``, "cached" rows a 2 GiB pool with
``recheck_cached_data: false``, warmed before timing. zarr-python has no chunk cache, so
its "cached" times decode the chunk every time. ts and the wheel fsync every write to
the file kvstore and zarr-python does not. The two index-space rows come from
bench_index_space.py (ts and the wheel only). ``--compare`` adds the ratios of an earlier
``--json`` file as a "before" column.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import settle

CHUNK = 64
SMALL_CHUNK = 8  # the many-chunk workload's chunk side (262,144 chunks in a 512^3 cube)
BLOCK = 8  # side of the small writes
WRITES = 64  # small writes per workload, each into its own chunk
ROW_READS = 1024  # rows read together with asyncio.gather (32 x 32 rows in one chunk row)
OPENS = 20  # opens per sample of the open workload
EXTRA_ROUNDS_SECONDS = 2.0
UNCACHED = {"cache_pool": {"total_bytes_limit": 0}}
CACHED = {"cache_pool": {"total_bytes_limit": 2 << 30}}
LIBRARIES = ("ts", "tensorstore", "zarr-python")

#: library name -> run(round) returning seconds (per item for µs rows); raises WrongResult.
Runs = dict[str, Callable[[int], float]]


class WrongResult(Exception):
    """A library returned values different from NumPy's answer."""


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    if not np.array_equal(np.asarray(actual), expected):
        raise WrongResult(what)


def clock(function: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, in seconds, and its result."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def zarr3_metadata(shape: Sequence[int], chunk: int, zstd: bool) -> dict[str, Any]:
    codecs: list[Any] = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if zstd:
        codecs.append({"name": "zstd", "configuration": {"level": 1, "checksum": False}})
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [chunk] * len(shape)}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": codecs,
    }


def zarr2_metadata(shape: Sequence[int], zstd: bool) -> dict[str, Any]:
    return {
        "chunks": [CHUNK] * len(shape), "compressor": {"id": "zstd", "level": 1} if zstd else None,
        "dtype": "<u2", "shape": list(shape), "fill_value": 0, "order": "C", "filters": None,
    }


def spec_for(kind: str, path: str, shape: Sequence[int] | None = None) -> dict[str, Any]:
    """Spec of the array ``kind`` ("zarr3-zstd", "zarr-raw", ...: driver-compression) at ``path``;
    with ``shape``, also its metadata (to create it)."""
    driver, compression = kind.split("-")
    spec: dict[str, Any] = {"driver": driver, "kvstore": {"driver": "file", "path": path}}
    if shape is not None:
        zstd = compression == "zstd"
        spec["metadata"] = zarr3_metadata(shape, CHUNK, zstd) if driver == "zarr3" else zarr2_metadata(shape, zstd)
    return spec


@dataclass
class Setup:
    """The source cube, the libraries and the shared arrays (written by the wheel on first use)."""

    root: Path
    data: np.ndarray[Any, Any]
    points: int
    modules: dict[str, Any]
    arrays: dict[str, str] = field(default_factory=dict)

    @property
    def side(self) -> int:
        return int(self.data.shape[0])

    def array(self, kind: str) -> str:
        """Path of a file array of ``kind`` holding the source cube."""
        if kind not in self.arrays:
            path = f"{self.root}/shared/{kind}/"
            tensorstore = self.modules["tensorstore"]
            store = tensorstore.open(spec_for(kind, path, self.data.shape), create=True).result()
            store.write(self.data).result()
            self.arrays[kind] = path
        return self.arrays[kind]

    def open(self, library: str, kind: str, path: str, context: dict[str, Any], **spec_members: Any) -> Any:
        """Open an existing array with ``library`` (zarr-python ignores ``context``)."""
        if library == "zarr-python":
            import zarr

            return zarr.open_array(path, mode="r+", zarr_format=3 if kind.startswith("zarr3") else 2)
        module = self.modules[library]
        spec = {**spec_for(kind, path), **spec_members}
        return module.open(spec, open=True, context=module.Context(context)).result()


# --- views read through a transform ---------------------------------------------------------

def view_box(side: int) -> tuple[slice, ...]:
    """A half-side box not aligned to the chunk grid, different on each axis."""
    half = side // 2
    return tuple(slice(start, start + half) for start in (side // 16, side // 8, 3 * side // 16))


def read_view(setup: Setup, kind: str, view: Callable[[str, Any], Any], expected: np.ndarray[Any, Any],
              zarr_read: Callable[[Any], Any] | None) -> Runs:
    """Time reading ``view(library, store)`` (for zarr-python ``zarr_read(array)``), uncached."""
    path = setup.array(kind)
    stores = {library: setup.open(library, kind, path, UNCACHED) for library in LIBRARIES}

    def run(library: str) -> Callable[[int], float]:
        def once(round_: int) -> float:
            store = stores[library]
            if library == "zarr-python":
                assert zarr_read is not None
                seconds, result = clock(lambda: zarr_read(store))
            else:
                seconds, result = clock(lambda: view(library, store).read().result())
            if round_ == 0:
                expect_equal(result, expected, "values")
            return seconds
        return once

    return {library: run(library) for library in LIBRARIES if library != "zarr-python" or zarr_read}


def transposed(setup: Setup) -> Runs:
    box = view_box(setup.side)
    return read_view(
        setup, "zarr3-raw", lambda _, store: store.T[box], setup.data.T[box],
        lambda array: np.ascontiguousarray(array[box[::-1]].T),
    )


def permuted(setup: Setup) -> Runs:
    # ``d[:].transpose[1, 2, 0]`` moves dimensions 0, 1, 2 to 1, 2, 0: view axis k is axis ORDER[k].
    order = (2, 0, 1)
    box = view_box(setup.side)
    source_box = tuple(box[order.index(axis)] for axis in range(3))
    return read_view(
        setup, "zarr3-raw", lambda library, store: store[setup.modules[library].d[:].transpose[1, 2, 0]][box],
        np.transpose(setup.data, order)[box],
        lambda array: np.ascontiguousarray(np.transpose(array[source_box], order)),
    )


def strided(setup: Setup) -> Runs:
    selection = (slice(None, None, 2),) * 3
    return read_view(setup, "zarr3-raw", lambda _, store: store[selection], setup.data[selection],
                     lambda array: array[selection])


def strided_negative(setup: Setup) -> Runs:
    steps = (-2, 3, -1)
    selection = tuple(slice(None, None, step) for step in steps)
    # zarr-python takes positive steps only: read the same elements forwards, then reverse.
    forwards = tuple(slice((setup.side - 1) % -step if step < 0 else 0, None, abs(step)) for step in steps)
    backwards = tuple(slice(None, None, -1 if step < 0 else 1) for step in steps)
    return read_view(setup, "zarr3-raw", lambda _, store: store[selection], setup.data[selection],
                     lambda array: np.ascontiguousarray(array[forwards][backwards]))


def oindex_read(setup: Setup) -> Runs:
    rng = np.random.default_rng(1)
    rows, columns = (np.sort(rng.choice(setup.side, setup.side // 8, replace=False)) for _ in range(2))
    return read_view(setup, "zarr3-raw", lambda _, store: store.oindex[rows, columns, :],
                     setup.data[np.ix_(rows, columns)], lambda array: array.oindex[rows, columns, :])


def vindex_read(setup: Setup) -> Runs:
    points = tuple(np.random.default_rng(2).integers(0, setup.side, size=(3, 4096)))
    return read_view(setup, "zarr3-raw", lambda _, store: store.vindex[points], setup.data[points],
                     lambda array: array.vindex[points])


def bulk_read(kind: str) -> Callable[[Setup], Runs]:
    def runs(setup: Setup) -> Runs:
        return read_view(setup, kind, lambda _, store: store, setup.data, lambda array: array[...])
    return runs


# --- bulk write, open ---------------------------------------------------------------------

def bulk_write_zarr2_zstd(setup: Setup) -> Runs:
    import zarr
    from numcodecs import Zstd

    kind = "zarr-zstd"
    tensorstore = setup.modules["tensorstore"]

    def run(library: str) -> Callable[[int], float]:
        def once(round_: int) -> float:
            # A new directory each round and none deleted (see _bench_common.compare).
            path = f"{setup.root}/bulk-write/{library}-{round_}/"
            if library == "zarr-python":
                array = zarr.create_array(path, shape=setup.data.shape, chunks=(CHUNK,) * 3, dtype="uint16",
                                          zarr_format=2, compressors=Zstd(level=1), fill_value=0)
            else:
                module = setup.modules[library]
                store = module.open(spec_for(kind, path, setup.data.shape), create=True,
                                    context=module.Context(UNCACHED)).result()

            def write() -> None:
                if library == "zarr-python":
                    array[...] = setup.data
                else:
                    store.write(setup.data).result()

            settle()
            seconds, _ = clock(write)
            if round_ == 0:
                written = tensorstore.open(spec_for(kind, path), open=True,
                                           context=tensorstore.Context(UNCACHED)).result()
                expect_equal(written.read().result(), setup.data, "values read back by the wheel")
            return seconds
        return once

    return {library: run(library) for library in LIBRARIES}


def open_existing(setup: Setup) -> Runs:
    import zarr

    kind = "zarr-zstd"
    path = setup.array(kind)

    def run(library: str) -> Callable[[int], float]:
        def open_once() -> Any:
            if library == "zarr-python":
                return zarr.open_array(path, mode="r", zarr_format=2)
            return setup.modules[library].open(spec_for(kind, path), open=True).result()

        def once(round_: int) -> float:
            samples = [clock(open_once)[0] for _ in range(OPENS)]
            if round_ == 0 and open_once().shape != setup.data.shape:
                raise WrongResult("shape")
            return statistics.median(samples)
        return once

    return {library: run(library) for library in LIBRARIES}


# --- single elements and rows -------------------------------------------------------------

def point_reads(cached: bool) -> Callable[[Setup], Runs]:
    def runs(setup: Setup) -> Runs:
        kind = "zarr3-zstd"
        path = setup.array(kind)
        # The cached rows read inside the first half-side cube, which is warmed first.
        high = setup.side // 2 if cached else setup.side
        points = np.random.default_rng(1 if cached else 2).integers(0, high, size=(setup.points, 3))
        expected = setup.data[points[:, 0], points[:, 1], points[:, 2]]
        stores = {}
        for library in LIBRARIES:
            if cached and library != "zarr-python":
                stores[library] = setup.open(library, kind, path, CACHED, recheck_cached_data=False)
                stores[library][:high, :high, :high].read().result()
            else:
                stores[library] = setup.open(library, kind, path, UNCACHED)

        def run(library: str) -> Callable[[int], float]:
            store = stores[library]

            def read(x: int, y: int, z: int) -> Any:
                return store[x, y, z] if library == "zarr-python" else store[x, y, z].read().result()

            def once(round_: int) -> float:
                samples, values = [], []
                for x, y, z in points.tolist():
                    start = time.perf_counter()
                    values.append(read(x, y, z))
                    samples.append(time.perf_counter() - start)
                if round_ == 0:
                    expect_equal(np.array(values), expected, "values")
                return statistics.median(samples)
            return once

        return {library: run(library) for library in LIBRARIES}
    return runs


def gathered_rows(setup: Setup) -> Runs:
    """1,024 reads of whole rows along the last axis (side/64 chunks each) of a cached array."""
    kind = "zarr3-zstd"
    path = setup.array(kind)
    rows = [(i, j) for i in range(32) for j in range(32)]
    expected = np.stack([setup.data[i, j] for i, j in rows])

    async def gather(store: Any) -> list[Any]:
        return list(await asyncio.gather(*(store[i, j].read() for i, j in rows)))

    def run(library: str) -> Callable[[int], float]:
        store = setup.open(library, kind, path, CACHED, recheck_cached_data=False)
        store[:CHUNK, :CHUNK].read().result()

        def once(round_: int) -> float:
            seconds, result = clock(lambda: asyncio.run(gather(store)))
            if round_ == 0:
                expect_equal(np.stack(result), expected, "values")
            return seconds / len(rows)
        return once

    return {library: run(library) for library in ("ts", "tensorstore")}


# --- small writes -------------------------------------------------------------------------

def small_writes(mode: str) -> Callable[[Setup], Runs]:
    """``WRITES`` 8^3 writes into as many chunks of a zarr3 zstd array: ``mode`` "sequential"
    (each awaited before the next), "concurrent" (all issued, then awaited) or "transaction"
    (all staged in one ts.Transaction, one commit)."""
    def runs(setup: Setup) -> Runs:
        import zarr

        kind = "zarr3-zstd"
        tensorstore = setup.modules["tensorstore"]
        grid = setup.side // CHUNK
        rng = np.random.default_rng(3)
        chunks = rng.choice(grid**3, size=min(WRITES, grid**3), replace=False)
        corners = [np.array(np.unravel_index(chunk, (grid,) * 3)) * CHUNK
                   + rng.integers(0, CHUNK // BLOCK, size=3) * BLOCK for chunk in chunks]
        boxes = [tuple(slice(int(start), int(start) + BLOCK) for start in corner) for corner in corners]
        chunk_boxes = [tuple(slice(b.start // CHUNK * CHUNK, b.start // CHUNK * CHUNK + CHUNK) for b in box)
                       for box in boxes]
        libraries = [library for library in LIBRARIES if mode != "transaction" or library != "zarr-python"]
        stores, zarr_async = {}, None
        for library in libraries:  # each library its own array whose written chunks exist
            path = f"{setup.root}/small-writes-{mode}/{library}/"
            store = tensorstore.open(spec_for(kind, path, setup.data.shape), create=True).result()
            for chunk_box in chunk_boxes:
                store[chunk_box].write(setup.data[chunk_box]).result()
            stores[library] = setup.open(library, kind, path, UNCACHED)
            if library == "zarr-python":
                zarr_async = zarr.open_array(path, mode="r+").async_array

        def blocks(round_: int) -> list[np.ndarray[Any, Any]]:
            start = round_ * len(boxes) * BLOCK**3
            return [((np.arange(BLOCK**3) + start + k * BLOCK**3) % 65521).astype(np.uint16).reshape((BLOCK,) * 3)
                    for k in range(len(boxes))]

        def write_zarr(array: Any, asynchronous: Any, values: list[np.ndarray[Any, Any]]) -> None:
            if mode == "sequential":
                for box, value in zip(boxes, values, strict=True):
                    array[box] = value
            else:
                async def gather() -> None:
                    await asyncio.gather(*(asynchronous.setitem(box, value) for box, value in zip(boxes, values, strict=True)))
                asyncio.run(gather())

        def write(library: str, store: Any, values: list[np.ndarray[Any, Any]]) -> None:
            if mode == "sequential":
                for box, value in zip(boxes, values, strict=True):
                    store[box].write(value).result()
                return
            transaction = setup.modules[library].Transaction() if mode == "transaction" else None
            view = store.with_transaction(transaction) if transaction is not None else store
            futures = [view[box].write(value) for box, value in zip(boxes, values, strict=True)]
            for future in futures:
                future.result()
            if transaction is not None:
                transaction.commit_async().result()

        def run(library: str) -> Callable[[int], float]:
            def once(round_: int) -> float:
                values = blocks(round_)
                settle()
                if library == "zarr-python":
                    seconds, _ = clock(lambda: write_zarr(stores[library], zarr_async, values))
                else:
                    seconds, _ = clock(lambda: write(library, stores[library], values))
                if round_ == 0:
                    path = f"{setup.root}/small-writes-{mode}/{library}/"
                    oracle = tensorstore.open(spec_for(kind, path), open=True,
                                              context=tensorstore.Context(UNCACHED)).result()
                    readback = [oracle[box].read() for box in boxes]
                    expect_equal(np.stack([f.result() for f in readback]), np.stack(values),
                                 "blocks read back by the wheel")
                return seconds
            return once

        return {library: run(library) for library in libraries}
    return runs


# --- many small chunks on the memory kvstore ----------------------------------------------

def many_chunks(operation: str) -> Callable[[Setup], Runs]:
    """The cube written to (or, cached, read from) a zarr3 array of 8^3 raw chunks on the
    memory kvstore; seconds per chunk."""
    def runs(setup: Setup) -> Runs:
        chunks = (setup.side // SMALL_CHUNK) ** 3

        def create(library: str) -> Any:
            module = setup.modules[library]
            spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "recheck_cached_data": False,
                    "metadata": zarr3_metadata(setup.data.shape, SMALL_CHUNK, zstd=False)}
            return module.open(spec, create=True, context=module.Context(CACHED)).result()

        def run(library: str) -> Callable[[int], float]:
            store = None
            if operation == "read":
                store = create(library)
                store.write(setup.data).result()
                store.read().result()

            def once(round_: int) -> float:
                if operation == "write":
                    target = create(library)  # a new memory kvstore each round
                    seconds, _ = clock(lambda: target.write(setup.data).result())
                    result = target.read().result() if round_ == 0 else None
                else:
                    assert store is not None
                    seconds, result = clock(lambda: store.read().result())
                if round_ == 0:
                    expect_equal(result, setup.data, "values")
                return seconds / chunks
            return once

        return {library: run(library) for library in ("ts", "tensorstore")}
    return runs


# --- index space (bench_index_space.py) ---------------------------------------------------

def index_space(operation: str) -> Callable[[Setup], Runs]:
    def runs(setup: Setup) -> Runs:
        import bench_index_space

        import ts_core.index_space

        libraries = {"ts": ts_core.index_space, "tensorstore": setup.modules["tensorstore"]}
        build = bench_index_space.dim_expression if operation == "expression" else bench_index_space.composition
        number = 2000 if operation == "expression" else 5000
        pairs = {library: build(module) for library, module in libraries.items()}
        if pairs["ts"][0][pairs["ts"][1]].to_json() != pairs["tensorstore"][0][pairs["tensorstore"][1]].to_json():
            raise WrongResult("index transform")

        def run(library: str) -> Callable[[int], float]:
            left, right = pairs[library]
            return lambda _: bench_index_space.median_us(lambda: left[right], number) / 1e6

        return {library: run(library) for library in libraries}
    return runs


@dataclass(frozen=True)
class Workload:
    key: str
    name: str
    unit: str  # "ms" (the whole operation) or "µs" (per item)
    runs: Callable[[Setup], Runs]


def workloads(side: int) -> list[Workload]:
    half = side // 2
    per_row = side // CHUNK
    writes = min(WRITES, per_row**3)
    return [
        Workload("transposed", f"transposed view read store.T[box], {half}^3 box, zarr3 raw", "ms", transposed),
        Workload("permuted", f"permuted view read d[:].transpose[1, 2, 0][box], {half}^3 box", "ms", permuted),
        Workload("strided", "strided read [::2, ::2, ::2]", "ms", strided),
        Workload("strided-negative", "strided read, negative steps [::-2, ::3, ::-1]", "ms", strided_negative),
        Workload("oindex", f"oindex read [rows, columns, :], {side // 8} random sorted rows and columns",
                 "ms", oindex_read),
        Workload("vindex", "vindex read of 4096 random points", "ms", vindex_read),
        Workload("bulk-read-zarr3-raw", "bulk read, zarr3 raw", "ms", bulk_read("zarr3-raw")),
        Workload("bulk-read-zarr3-zstd", "bulk read, zarr3 zstd(1)", "ms", bulk_read("zarr3-zstd")),
        Workload("bulk-read-zarr2-raw", "bulk read, zarr v2 raw", "ms", bulk_read("zarr-raw")),
        Workload("bulk-read-zarr2-zstd", "bulk read, zarr v2 zstd(1)", "ms", bulk_read("zarr-zstd")),
        Workload("bulk-write-zarr2-zstd", "bulk write, zarr v2 zstd(1)", "ms", bulk_write_zarr2_zstd),
        Workload("open", "open an existing zarr v2 array", "µs", open_existing),
        Workload("point-uncached", "single-element read, uncached, zarr3 zstd", "µs", point_reads(cached=False)),
        Workload("point-cached", "single-element read, cached, zarr3 zstd", "µs", point_reads(cached=True)),
        Workload("gather-rows", f"{ROW_READS} {per_row}-chunk row reads in asyncio.gather, cached, each",
                 "µs", gathered_rows),
        Workload("writes-sequential", f"{writes} 8^3 writes one after another, zarr3 zstd", "ms",
                 small_writes("sequential")),
        Workload("writes-concurrent", f"{writes} 8^3 writes issued concurrently, each its own commit", "ms",
                 small_writes("concurrent")),
        Workload("writes-transaction", f"{writes} 8^3 writes in one transaction", "ms", small_writes("transaction")),
        Workload("many-chunks-write", f"{(side // SMALL_CHUNK) ** 3} chunks of 8^3, memory: write, per chunk",
                 "µs", many_chunks("write")),
        Workload("many-chunks-read", f"{(side // SMALL_CHUNK) ** 3} chunks of 8^3, memory: cached read, per chunk",
                 "µs", many_chunks("read")),
        Workload("index-expression", "3-term dimension expression (bench_index_space)", "µs", index_space("expression")),
        Workload("index-compose", "compose two transforms (bench_index_space)", "µs", index_space("compose")),
    ]


# --- running and reporting ----------------------------------------------------------------

def measure(workload: Workload, setup: Setup, rounds: int) -> dict[str, Any]:
    """Median seconds per library over at least ``rounds`` rounds whose library order rotates."""
    samples: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    try:
        runs = workload.runs(setup)
    except WrongResult as error:
        runs, failures = {}, dict.fromkeys(("ts", "tensorstore"), f"WRONG: {error}")
    names = list(runs)
    started, round_ = time.perf_counter(), 0
    # Cheap workloads get extra rounds (up to 3x) while they fit in EXTRA_ROUNDS_SECONDS.
    while round_ < rounds or (
        round_ < 3 * rounds
        and (time.perf_counter() - started) * (round_ + 1) / round_ < EXTRA_ROUNDS_SECONDS
    ):
        for library in names[round_ % len(names):] + names[: round_ % len(names)]:
            if library in failures:
                continue
            try:
                samples.setdefault(library, []).append(runs[library](round_))
            except WrongResult as error:
                failures[library] = f"WRONG: {error}"
            except Exception as error:
                failures[library] = f"ERROR: {type(error).__name__}: {error}"
        round_ += 1
    seconds = {library: statistics.median(values) for library, values in samples.items() if library not in failures}
    return {"key": workload.key, "workload": workload.name, "unit": workload.unit, "seconds": seconds,
            "samples": samples, "failures": failures}


def cell(row: dict[str, Any], library: str) -> str:
    if library in row["failures"]:
        return str(row["failures"][library]).split(":")[0]
    if library not in row["seconds"]:
        return "—"
    scale = 1e3 if row["unit"] == "ms" else 1e6
    return f"{row['seconds'][library] * scale:.1f} {row['unit']}"


def ratio(row: dict[str, Any], other: str) -> float | None:
    seconds = row["seconds"]
    return seconds["ts"] / seconds[other] if "ts" in seconds and other in seconds else None


def print_table(rows: list[dict[str, Any]], before: dict[str, Any] | None) -> None:
    width = max(len(row["workload"]) for row in rows)
    header = f"{'workload':<{width}} {'ts':>11} {'tensorstore':>11} {'zarr-python':>11} {'ts/tensorstore':>14} {'ts/zarr-python':>14}"
    print(header + (f" {'before ts/tensorstore':>21}" if before else ""))
    for row in rows:
        ratios = [ratio(row, other) for other in ("tensorstore", "zarr-python")]
        text = f"{row['workload']:<{width}} " + " ".join(f"{cell(row, library):>11}" for library in LIBRARIES)
        text += "".join(f" {'—' if value is None else f'{value:.2f}':>14}" for value in ratios)
        if before:
            earlier = before.get(row["key"])
            previous = None if earlier is None else ratio(earlier, "tensorstore")
            text += f" {'—' if previous is None else f'{previous:.2f}':>21}"
        print(text)
    for row in rows:
        for library, failure in row["failures"].items():
            print(f"{row['workload']}: {library} {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="size of the uint16 cube (256: 512^3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per workload (cheap ones get up to 3x as many); the median is reported")
    parser.add_argument("--points", type=int, default=500, help="single-element reads per round")
    parser.add_argument("--only", default="", help="comma-separated substrings of workload keys or names")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--compare", type=Path, help="an earlier --json file: print its ts/tensorstore ratios too")
    args = parser.parse_args()

    import tensorstore

    import ts_core

    side = max(CHUNK, round((args.mib * 2**20 / 2) ** (1 / 3) / CHUNK) * CHUNK)
    shape = (side, side, side)
    data = (np.arange(np.prod(shape), dtype=np.uint64) * 2654435761 % 4096).astype(np.uint16).reshape(shape)
    selected = [w for w in workloads(side)
                if not args.only or any(part.strip().lower() in f"{w.key} {w.name}".lower()
                                        for part in args.only.split(",") if part.strip())]
    before = None
    if args.compare:
        earlier = json.loads(args.compare.read_text())
        before = {row["key"]: row for row in earlier["rows"]}
        if earlier["meta"]["shape"] != list(shape):
            print(f"warning: {args.compare} measured a {earlier['meta']['shape']} cube, this run {list(shape)}")
    load_before = os.getloadavg()
    print(f"cube {shape} uint16 = {data.nbytes / 2**20:.0f} MiB, chunks {CHUNK}^3, {args.rounds} rounds (median)")
    print(f"ts_core from {Path(ts_core.__file__).parent}; load average {load_before[0]:.2f}", flush=True)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_access-") as directory:
        setup = Setup(Path(directory), data, args.points, {"ts": ts_core, "tensorstore": tensorstore})
        for workload in selected:
            workload_started = time.perf_counter()
            row = measure(workload, setup, args.rounds)
            rows.append(row)
            print(f"  {row['workload']}: " + ", ".join(f"{library} {cell(row, library)}" for library in LIBRARIES)
                  + f" ({len(max(row['samples'].values(), key=len, default=[]))} rounds,"
                  f" {time.perf_counter() - workload_started:.1f} s)", flush=True)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    sources = sorted({str(Path(str(module.__file__)).parent) for name, module in list(sys.modules.items())
                      if "." not in name and name.startswith("ts_") and getattr(module, "__file__", None)})
    print(f"\n{elapsed:.0f} s; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; ts packages from")
    print("  " + "\n  ".join(sources))
    print_table(rows, before)
    if args.json:
        meta = {"shape": list(shape), "rounds": args.rounds, "points": args.points, "seconds": elapsed,
                "ts_packages": sources, "load_average": [load_before, load_after],
                "argv": sys.argv[1:]}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if any(row["failures"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
