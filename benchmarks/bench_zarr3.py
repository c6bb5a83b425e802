"""zarr v3 on the file kvstore: ts vs the tensorstore wheel vs zarr-python, same data.

    uv run python benchmarks/bench_zarr3.py [--mib 256]

The bench_zarr.py workload in zarr v3: a uint16 array written then read whole, with
zstd(1) in 64^3 chunks, and sharded (256^3 shards of 64^3 inner chunks, zstd(1) inside).
Prints MB/s per library and the time ratios ts/tensorstore and zarr-python/ts, then the
median time of single-voxel reads from the sharded array with no chunk cache (each read
fetches the shard index and one inner chunk).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import Library, compare

CHUNK = 64
SHARD = 256
ZSTD = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}


def metadata(shape: tuple[int, ...], sharded: bool) -> dict[str, Any]:
    codecs: list[Any] = [{"name": "bytes", "configuration": {"endian": "little"}}, ZSTD]
    chunk = CHUNK
    if sharded:
        chunk = SHARD
        codecs = [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [CHUNK] * 3, "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}]
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [chunk] * 3}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": codecs,
    }


def bench(root: Path, data: np.ndarray[Any, Any], sharded: bool) -> dict[str, tuple[float, float]]:
    import tensorstore
    import zarr
    from zarr.codecs import ZstdCodec

    import ts_core as ts

    context = {"cache_pool": {"total_bytes_limit": 0}}

    def spec(path: str) -> dict[str, Any]:
        return {"driver": "zarr3", "kvstore": {"driver": "file", "path": path}, "metadata": metadata(data.shape, sharded)}

    def zarr_open(path: str, create: bool) -> Any:
        if create:
            return zarr.create_array(
                path, shape=data.shape, chunks=(CHUNK,) * 3, shards=(SHARD,) * 3 if sharded else None,
                dtype="uint16", compressors=ZstdCodec(level=1), fill_value=0,
            )
        return zarr.open_array(path, mode="r")

    libraries: dict[str, Library] = {
        "ts": (
            lambda p, c: ts.open(spec(p), create=c, open=not c, context=ts.Context(context)).result(),
            lambda s: s.write(data).result(),
            lambda s: s.read().result(),
        ),
        "tensorstore": (
            lambda p, c: tensorstore.open(spec(p), create=c, open=not c, context=tensorstore.Context(context)).result(),
            lambda s: s.write(data).result(),
            lambda s: s.read().result(),
        ),
        "zarr-python": (zarr_open, lambda s: s.__setitem__(..., data), lambda s: s[...]),
    }
    return compare(f"{root}/{'sharded' if sharded else 'chunked'}", libraries)


def bench_point_reads(root: Path, reads: int) -> dict[str, float]:
    import tensorstore

    import ts_core as ts

    rng = np.random.default_rng(0)
    results = {}
    for name, library in (("ts", ts), ("tensorstore", tensorstore)):
        path = f"{root}/sharded/{name}-0/"  # written by the first round of bench()
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": path}}
        store = library.open(spec, open=True, context=library.Context({"cache_pool": {"total_bytes_limit": 0}})).result()
        points = rng.integers(0, store.shape[0], size=(reads, 3))
        samples = []
        for x, y, z in points:
            start = time.perf_counter()
            store[x, y, z].read().result()
            samples.append(time.perf_counter() - start)
        results[f"{name} sharded point read, no cache (median µs)"] = statistics.median(samples) * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    side = max(SHARD, round((args.mib * 2**20 / 2) ** (1 / 3) / SHARD) * SHARD)
    shape = (side, side, side)
    data = (np.arange(np.prod(shape), dtype=np.uint64) * 2654435761 % 4096).astype(np.uint16).reshape(shape)
    megabytes = data.nbytes / 1e6
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        print(f"array {shape} uint16 = {megabytes:.0f} MB, zstd(1), file kvstore")
        for label, sharded in (("chunks", False), ("sharded", True)):
            results = bench(root, data, sharded)
            for name, (write_seconds, read_seconds) in results.items():
                print(f"{label:8} {name:12} write {megabytes / write_seconds:8.1f} MB/s   read {megabytes / read_seconds:8.1f} MB/s")
            ts_write, ts_read = results["ts"]
            ref_write, ref_read = results["tensorstore"]
            zarr_write, zarr_read = results["zarr-python"]
            print(f"{label:8} ratio ts/tensorstore time: write {ts_write / ref_write:.2f}  read {ts_read / ref_read:.2f}"
                  f" | zarr-python/ts time: write {zarr_write / ts_write:.2f}  read {zarr_read / ts_read:.2f}")
        for name, value in bench_point_reads(root, args.reads).items():  # the sharded arrays are still there
            print(f"{name:50} {value:10.1f}")


if __name__ == "__main__":
    main()
