"""Index-space micro-benchmarks, ts_core.index_space vs the tensorstore wheel.

Run: ``uv run python benchmarks/bench_index_space.py``. Prints median timings (the two
libraries' runs interleaved, with their ratio) for
(1) applying a three-operation dimension expression, built once, (1b) building it and
applying it in one go, as user code does, (2) composing two transforms,
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


def paired_median_us(
    mine: Callable[[], Any], ref: Callable[[], Any] | None, number: int
) -> tuple[float, float | None]:
    """``median_us`` of both, the runs interleaved (ours, theirs, ours, ...) so that load from
    other processes falls on both alike and the ratio holds on a shared machine."""
    ours_runs, ref_runs = [], []
    for _ in range(REPEATS):
        ours_runs.append(_mean_us(mine, number))
        if ref is not None:
            ref_runs.append(_mean_us(ref, number))
    return statistics.median(ours_runs), statistics.median(ref_runs) if ref_runs else None


def _mean_us(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number / 1000


def dim_expression(lib: Any) -> tuple[Any, Any]:
    t = lib.IndexTransform(input_shape=SHAPE, input_labels=["z", "y", "x"])
    return t, build_dim_expression(lib)


def build_dim_expression(lib: Any) -> Any:
    return lib.d["y", "x"][1:500, ::-2].translate_by[5].label["a", "b"]


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
    ref_fn = None
    if theirs is not None:  # same result as the wheel
        tt, te = dim_expression(theirs)
        assert t[expr].to_json() == tt[te].to_json()
        ref_fn = lambda: tt[te]  # noqa: E731
    mine, ref = paired_median_us(lambda: t[expr], ref_fn, 2000)
    rows.append(("apply 3-op dim expression (us)", mine, ref))

    # Built afresh at each call: nothing compiled for an earlier call is reused.
    ref_fn = None
    if theirs is not None:
        ref_fn = lambda: tt[build_dim_expression(theirs)]  # noqa: E731
    mine, ref = paired_median_us(lambda: t[build_dim_expression(ours)], ref_fn, 2000)
    rows.append(("build and apply the same expression (us)", mine, ref))

    outer, inner = composition(ours)
    ref_fn = None
    if theirs is not None:  # same result as the wheel
        to, ti = composition(theirs)
        assert outer[inner].to_json() == to[ti].to_json()
        ref_fn = lambda: to[ti]  # noqa: E731
    mine, ref = paired_median_us(lambda: outer[inner], ref_fn, 5000)
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
    ref_fn = None
    if theirs is not None:
        tbox = theirs.IndexTransform(input_shape=SHAPE)
        tdomains = chunk_domains(theirs)
        assert box[domains[-1]].to_json() == tbox[tdomains[-1]].to_json()
        ref_fn = lambda: [tbox[d] for d in tdomains]  # noqa: E731
    mine, ref = paired_median_us(lambda: [box[d] for d in domains], ref_fn, 3)
    rows.append(
        (
            "restrict box transform to one chunk domain, per chunk (us)",
            mine / len(domains),
            None if ref is None else ref / len(domains),
        )
    )

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'ts_core':>10}  {'tensorstore':>12}  {'ratio':>6}")
    for name, a, b in rows:
        ref_text = "n/a" if b is None else f"{b:.2f}"
        ratio_text = "" if b is None else f"{a / b:.2f}"
        print(f"{name:<{width}}  {a:>10.2f}  {ref_text:>12}  {ratio_text:>6}")


if __name__ == "__main__":
    main()
