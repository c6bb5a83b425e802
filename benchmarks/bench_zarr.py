"""zarr v2 on the file kvstore: ts vs the tensorstore wheel vs zarr-python, same data.

    uv run python benchmarks/bench_zarr.py [--mib 256] [--reads 2000]

Writes then reads a uint16 array (64^3 chunks) with raw and zstd(1) compression and
prints MB/s per library and the ts/tensorstore time ratio; then times 2,000 random
single-element reads from a warm cache (median µs) and opening an existing array.

Writes and reads are measured in ``--rounds`` interleaved rounds from a settled disk
(``_bench_common.compare``) and the best of each is kept, because the disk of a shared
machine swings by 2x from one second to the next. zarr-python does not fsync, so ts is
also measured with ``file_io_sync: false`` ("ts no-fsync") to compare equal durability.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import Library, compare, timed

CHUNK = 64


def spec_for(path: str, compressor: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": path},
        "metadata": {
            "chunks": [CHUNK] * 3, "compressor": compressor, "dtype": "<u2", "shape": list(shape),
            "fill_value": 0, "order": "C", "filters": None,
        },
    }


def bench_bulk(root: Path, data: np.ndarray[Any, Any], compressor: Any, rounds: int) -> dict[str, tuple[float, float]]:
    import tensorstore
    import zarr

    import ts_core as ts

    context = {"cache_pool": {"total_bytes_limit": 0}}

    def ts_open(context: dict[str, Any]) -> Callable[[str, bool], Any]:
        return lambda p, c: ts.open(spec_for(p, compressor, data.shape), create=c, open=not c, context=ts.Context(context)).result()

    def zarr_open(path: str, create: bool) -> Any:
        if create:
            from numcodecs import Zstd

            return zarr.create_array(
                path, shape=data.shape, chunks=(CHUNK,) * 3, dtype="uint16", zarr_format=2,
                compressors=None if compressor is None else Zstd(level=1), fill_value=0,
            )
        return zarr.open_array(path, mode="r", zarr_format=2)

    libraries: dict[str, Library] = {
        "ts": (ts_open(context), lambda s: s.write(data).result(), lambda s: s.read().result()),
        "tensorstore": (
            lambda p, c: tensorstore.open(spec_for(p, compressor, data.shape), create=c, open=not c, context=tensorstore.Context(context)).result(),
            lambda s: s.write(data).result(),
            lambda s: s.read().result(),
        ),
        "zarr-python": (zarr_open, lambda s: s.__setitem__(..., data), lambda s: s[...]),
        # zarr-python does not fsync; this row compares ts with it at the same durability.
        "ts no-fsync": (ts_open({**context, "file_io_sync": False}), lambda s: s.write(data).result(), lambda s: s.read().result()),
    }
    return compare(f"{root}/{'raw' if compressor is None else 'zstd'}", libraries, rounds)


def bench_point_reads(root: Path, reads: int) -> dict[str, float]:
    import tensorstore

    import ts_core as ts

    shape = (256, 256, 256)
    data = (np.arange(np.prod(shape)) % 65521).astype(np.uint16).reshape(shape)
    rng = np.random.default_rng(0)
    points = rng.integers(0, 256, size=(reads, 3))
    results = {}
    for name, library in (("ts", ts), ("tensorstore", tensorstore)):
        path = f"{root}/points-{name}/"
        spec = spec_for(path, {"id": "zstd", "level": 1}, shape)
        spec["recheck_cached_data"] = False
        context = library.Context({"cache_pool": {"total_bytes_limit": 1 << 30}})
        store = library.open(spec, create=True, context=context).result()
        store.write(data).result()
        store.read().result()  # warm the cache
        samples = []
        for x, y, z in points:
            start = time.perf_counter()
            store[x, y, z].read().result()
            samples.append(time.perf_counter() - start)
        results[f"{name} point read (median µs)"] = statistics.median(samples) * 1e6
        results[f"{name} open existing (µs)"] = timed(
            lambda spec=spec, library=library: library.open(spec, open=True).result(), repeat=20
        ) * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved write+read rounds; the best of each is kept")
    args = parser.parse_args()
    side = round((args.mib * 2**20 / 2) ** (1 / 3) / CHUNK) * CHUNK
    shape = (side, side, side)
    data = (np.arange(np.prod(shape), dtype=np.uint64) * 2654435761 % 4096).astype(np.uint16).reshape(shape)
    megabytes = data.nbytes / 1e6
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        print(f"array {shape} uint16 = {megabytes:.0f} MB, chunks {CHUNK}^3, file kvstore")
        for label, compressor in (("raw", None), ("zstd(1)", {"id": "zstd", "level": 1})):
            results = bench_bulk(root, data, compressor, args.rounds)
            for name, (write_seconds, read_seconds) in results.items():
                print(f"{label:8} {name:12} write {megabytes / write_seconds:8.1f} MB/s   read {megabytes / read_seconds:8.1f} MB/s")
            ts_write, ts_read = results["ts"]
            ref_write, ref_read = results["tensorstore"]
            zarr_write, zarr_read = results["zarr-python"]
            print(f"{label:8} ratio ts/tensorstore time: write {ts_write / ref_write:.2f}  read {ts_read / ref_read:.2f}"
                  f" | zarr-python/ts time: write {zarr_write / ts_write:.2f}  read {zarr_read / ts_read:.2f}"
                  f" | zarr-python/ts no-fsync write {zarr_write / results['ts no-fsync'][0]:.2f}")
        for name, value in bench_point_reads(root, args.reads).items():
            print(f"{name:40} {value:10.1f}")


if __name__ == "__main__":
    main()
