"""Dask writing one array with 2 worker processes: ts vs the tensorstore wheel.

    uv run python benchmarks/bench_dask.py [--mib 1024] [--rounds 2] [--quick]

A ``dask.distributed`` LocalCluster (2 worker processes, 1 thread each) computes a uint16
array of ``--mib`` MiB (random values below 4096) and stores it with
``dask.array.store(x, store, lock=False)`` into a zarr3 array on the file kvstore (write
chunks 64 x 256 x 256, zstd level 1). The store is a ts TensorStore in one run and a
tensorstore TensorStore in the other: Dask pickles it into every task and each worker
reopens it from its spec. Both use the same Dask chunks, aligned to the write chunks
(``ts_core.dask.chunks_for``), so no chunk is written by two tasks.

Prints MB/s per library (the best of ``--rounds`` interleaved rounds), the time for Dask to
compute the array alone (no store), and the time ratio ts/tensorstore (below 1: ts is
faster) of the best and of the median rounds (on a shared machine the median is the
steadier), with the CPU seconds (user + system) the worker processes spent in that best
round and the seconds the store tasks computed, summed over the workers (a task
unpickles the store and writes one block, after computing that block where Dask fused
its computation into the task, as it does here):
on a shared machine the CPU time moves less than the wall time. A slab of both arrays is
compared at the end. ``--quick``: 64 MiB, one round.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from typing import Any

import numpy as np
from _bench_common import settle

CHUNKS = [64, 256, 256]
CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1}}]
LIBRARIES = ("ts", "tensorstore")


def library(name: str) -> Any:
    if name == "ts":
        import ts_core

        return ts_core
    import tensorstore

    return tensorstore


def create(name: str, path: str, shape: tuple[int, ...]) -> Any:
    lib = library(name)
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": path},
        "metadata": {
            "shape": list(shape), "data_type": "uint16", "codecs": CODECS,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": CHUNKS}},
        },
    }
    return lib.open(spec, create=True).result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="64 MiB, one round")
    args = parser.parse_args()
    if args.quick:
        args.mib, args.rounds = 64, 1

    import dask.array as da
    import distributed

    from ts_core.dask import chunks_for

    elements = args.mib << 19  # uint16: 2 bytes each
    shape = (elements // (1024 * 1024), 1024, 1024)
    megabytes = elements * 2 / 1e6
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dask-", dir=os.getcwd()) as root, \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        chunks = chunks_for(create("ts", f"{root}/layout/", shape), "64MiB")
        x = da.random.default_rng(0).integers(0, 4096, size=shape, chunks=chunks, dtype=np.uint16)
        x.sum().compute()  # warm up the workers (imports, RNG) before anything is timed
        compute_seconds = min(_timed(lambda: x.sum().compute()) for _ in range(args.rounds))
        best = {name: float("inf") for name in LIBRARIES}
        rounds: dict[str, list[float]] = {name: [] for name in LIBRARIES}
        cpu = {name: 0.0 for name in LIBRARIES}
        task_seconds = {name: 0.0 for name in LIBRARIES}
        stores: dict[str, Any] = {}
        for round_ in range(args.rounds):
            for name in LIBRARIES[round_ % 2:] + LIBRARIES[: round_ % 2]:
                store = create(name, f"{root}/{name}-{round_}/", shape)
                client.run(_warm_up, name)  # every worker imports the library before it is timed
                da.store(x[:1, :1, :1], store[:1, :1, :1], lock=False)
                settle()
                cpu_before = _worker_cpu(client)
                with distributed.get_task_stream(client) as stream:
                    seconds = _timed(lambda store=store: da.store(x, store, lock=False))
                rounds[name].append(seconds)
                if seconds < best[name]:
                    best[name] = seconds
                    cpu[name] = _worker_cpu(client) - cpu_before
                    task_seconds[name] = _store_task_seconds(stream.data)
                stores[name] = store
        slab = (slice(shape[0] // 2, shape[0] // 2 + 8), slice(None), slice(None))
        assert np.array_equal(stores["ts"][slab].read().result(), stores["tensorstore"][slab].read().result())
    print(f"Dask (LocalCluster, 2 worker processes x 1 thread) storing a uint16 array of {megabytes:.0f} MB, "
          f"shape {shape}, Dask chunks {tuple(c[0] for c in chunks)}, zarr3 chunks {tuple(CHUNKS)} zstd(1), file kvstore")
    print(f"{'compute only':24} {megabytes / compute_seconds:8.1f} MB/s  ({compute_seconds:.2f} s)")
    for name in LIBRARIES:
        print(f"{'store into ' + name:24} {megabytes / best[name]:8.1f} MB/s  ({best[name]:.2f} s)"
              f"  workers' CPU {cpu[name]:.2f} s, store tasks {task_seconds[name]:.2f} s")
    print(f"ratio ts/tensorstore time: {best['ts'] / best['tensorstore']:.2f} (best rounds), "
          f"{statistics.median(rounds['ts']) / statistics.median(rounds['tensorstore']):.2f} (median rounds), "
          f"CPU: {cpu['ts'] / cpu['tensorstore']:.2f}")
    print(f"({time.perf_counter() - started:.0f} s)")


def _warm_up(name: str) -> None:
    """Import ``name`` in this worker and open a store with it (a store task runs on one
    worker only; the other would import the library inside its first timed task)."""
    library(name).open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype="uint8", shape=[1]).result()


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_cpu(client: Any) -> float:
    """User + system CPU seconds of all worker processes so far (all their threads)."""
    return float(sum(client.run(_process_cpu).values()))


def _store_task_seconds(tasks: list[dict[str, Any]]) -> float:
    """Compute seconds of the store tasks (their keys hold ``store-map``, fused or not)."""
    return sum(
        part["stop"] - part["start"]
        for task in tasks if "store-map" in str(task["key"])
        for part in task["startstops"] if part["action"] == "compute"
    )


def _timed(function: Any) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
