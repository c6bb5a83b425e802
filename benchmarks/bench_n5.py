"""N5 on the file kvstore: ts vs the tensorstore wheel, same data.

    uv run python benchmarks/bench_n5.py [--mib 256]

The bulk workload of ``bench_zarr.py``: writes then reads a uint16 array in 64^3 blocks
with raw and zstd compression, printing MB/s per library and the ts/tensorstore time ratio
(best of interleaved rounds from a settled disk: ``_bench_common.compare``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import Library, compare

BLOCK = 64
COMPRESSIONS = {"raw": {"type": "raw"}, "zstd(1)": {"type": "zstd", "level": 1}}


def spec_for(path: str, compression: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "driver": "n5",
        "kvstore": {"driver": "file", "path": path},
        "metadata": {
            "blockSize": [BLOCK] * 3, "compression": compression, "dataType": "uint16", "dimensions": list(shape),
        },
    }


def bench_bulk(root: Path, data: np.ndarray[Any, Any], compression: dict[str, Any], label: str) -> dict[str, tuple[float, float]]:
    import tensorstore

    import ts_core as ts

    context = {"cache_pool": {"total_bytes_limit": 0}}
    libraries: dict[str, Library] = {
        name: (
            lambda p, c, library=library: library.open(
                spec_for(p, compression, data.shape), create=c, open=not c, context=library.Context(context)
            ).result(),
            lambda s: s.write(data).result(),
            lambda s: s.read().result(),
        )
        for name, library in (("ts", ts), ("tensorstore", tensorstore))
    }
    return compare(f"{root}/{label}", libraries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    side = max(1, round((args.mib * 2**20 / 2) ** (1 / 3) / BLOCK)) * BLOCK
    shape = (side, side, side)
    data = (np.arange(np.prod(shape), dtype=np.uint64) * 2654435761 % 4096).astype(np.uint16).reshape(shape)
    megabytes = data.nbytes / 1e6
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        print(f"array {shape} uint16 = {megabytes:.0f} MB, blocks {BLOCK}^3, file kvstore, N5")
        for label, compression in COMPRESSIONS.items():
            results = bench_bulk(root, data, compression, label.split('(')[0])
            for name, (write_seconds, read_seconds) in results.items():
                print(f"{label:8} {name:12} write {megabytes / write_seconds:8.1f} MB/s   read {megabytes / read_seconds:8.1f} MB/s")
            ts_write, ts_read = results["ts"]
            ref_write, ref_read = results["tensorstore"]
            print(f"{label:8} ratio ts/tensorstore time: write {ts_write / ref_write:.2f}  read {ts_read / ref_read:.2f}")


if __name__ == "__main__":
    main()
