"""Index-space micro-benchmarks, ts_core.index_space vs the tensorstore wheel.

Run: ``uv run python benchmarks/bench_index_space.py``. Prints median timings for
(1) applying a three-operation dimension expression, (2) composing two transforms,
(3) partitioning a 512^3 box read onto a 64^3 chunk grid (per chunk). The wheel has no public
partition function; the comparable per-chunk work there is restricting the read transform to
one chunk's box (``transform[chunk_domain]``), which is timed instead and labelled as such.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import ts_core.index_space as ours

try:
    import tensorstore as theirs
except ImportError:  # pragma: no cover - the wheel is a dev dependency
    theirs = None

SHAPE = (512, 512, 512)
CHUNK = (64, 64, 64)
REPEATS = 7


def median_us(fn: Callable[[], Any], number: int) -> float:
    """Median over ``REPEATS`` runs of the mean time of ``number`` calls, in microseconds."""
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(samples)


def dim_expression(lib: Any) -> tuple[Any, Any]:
    t = lib.IndexTransform(input_shape=SHAPE, input_labels=["z", "y", "x"])
    expr = lib.d["y", "x"][1:500, ::-2].translate_by[5].label["a", "b"]
    return t, expr


def composition(lib: Any) -> tuple[Any, Any]:
    outer = lib.IndexTransform(input_shape=SHAPE)[10:500, ::2, 3]
    inner = lib.IndexTransform(
        input_shape=[100, 50],
        output=[
            lib.OutputIndexMap(input_dimension=0, offset=20, stride=2),
            lib.OutputIndexMap(input_dimension=1, offset=200, stride=-1),
        ],
    )
    return outer, inner


def chunk_domains(lib: Any) -> list[Any]:
    grid = [range(0, n, c) for n, c in zip(SHAPE, CHUNK, strict=True)]
    return [
        lib.IndexDomain(inclusive_min=[z, y, x], shape=CHUNK)
        for z in grid[0]
        for y in grid[1]
        for x in grid[2]
    ]


def main() -> None:
    rows: list[tuple[str, float, float | None]] = []

    t, expr = dim_expression(ours)
    mine = median_us(lambda: t[expr], 2000)
    ref = None
    if theirs is not None:
        tt, te = dim_expression(theirs)
        ref = median_us(lambda: tt[te], 2000)
    rows.append(("apply 3-op dim expression (us)", mine, ref))

    outer, inner = composition(ours)
    if theirs is not None:  # same result as the wheel
        to, ti = composition(theirs)
        assert outer[inner].to_json() == to[ti].to_json()
    mine = median_us(lambda: outer[inner], 5000)
    ref = None
    if theirs is not None:
        to, ti = composition(theirs)
        ref = median_us(lambda: to[ti], 5000)
    rows.append(("compose two transforms (us)", mine, ref))

    box = ours.IndexTransform(input_shape=SHAPE)
    n_chunks = len(list(ours.partition_index_transform(box, CHUNK)))
    mine = median_us(lambda: list(ours.partition_index_transform(box, CHUNK)), 20) / n_chunks
    rows.append(
        (f"partition 512^3 box onto 64^3 grid, per chunk ({n_chunks} chunks) (us)", mine, None)
    )

    strided = box[3:500, ::-3, 7:300]
    n_strided = len(list(ours.partition_index_transform(strided, CHUNK)))
    mine = median_us(lambda: list(ours.partition_index_transform(strided, CHUNK)), 20) / n_strided
    rows.append(
        (f"partition strided view [3:500, ::-3, 7:300], per chunk ({n_strided}) (us)", mine, None)
    )

    domains = chunk_domains(ours)
    mine = median_us(lambda: [box[d] for d in domains], 3) / len(domains)
    ref = None
    if theirs is not None:
        tbox = theirs.IndexTransform(input_shape=SHAPE)
        tdomains = chunk_domains(theirs)
        ref = median_us(lambda: [tbox[d] for d in tdomains], 3) / len(tdomains)
    rows.append(("restrict box transform to one chunk domain, per chunk (us)", mine, ref))

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'ts_core':>10}  {'tensorstore':>12}")
    for name, a, b in rows:
        ref_text = "n/a" if b is None else f"{b:.2f}"
        print(f"{name:<{width}}  {a:>10.2f}  {ref_text:>12}")


if __name__ == "__main__":
    main()
