"""neuroglancer_precomputed on the file kvstore: ts vs the tensorstore wheel, same process, same data.

    uv run python benchmarks/bench_precomputed.py [--mib 256] [--quick] [--workloads raw,jpeg,...]

Workloads, each a volume written whole and then read whole through a newly opened store:

- ``raw``, ``jpeg``: a uint8 image (smooth with a little noise, so jpeg sees image-like data)
  in 64^3 chunks, unsharded;
- ``segmentation``, ``segmentation-sharded``: a uint64 label volume (blocks of labels not
  aligned with the 8^3 compressed_segmentation blocks, so blocks hold several labels) with
  the compressed_segmentation encoding in 64^3 chunks, unsharded and sharded (murmurhash,
  gzip minishard indices and data).

Each volume holds ``--mib`` MiB (rounded to whole chunks per side). Prints MB/s per library
and the time ratio ts/tensorstore (below 1.0: ts is faster). ``--quick`` runs a few-MiB
version once, to check that the script works. ``--no-fsync`` writes without
``file_io_sync`` in both libraries, to tell the format's cost from the disk's: by default
tensorstore fsyncs each file and ts syncs the filesystem per group of files (``syncfs``),
which also waits for whatever other processes have written to that filesystem.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import Library, compare

CHUNK = 64
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 3,
    "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip",
}


def side_for(mib: int, itemsize: int) -> int:
    """The side of a cube of about ``mib`` MiB, in whole chunks."""
    return max(CHUNK, round((mib * 2**20 / itemsize) ** (1 / 3) / CHUNK) * CHUNK)


def image(mib: int) -> np.ndarray[Any, Any]:
    side = side_for(mib, 1)
    axis = np.arange(side, dtype=np.uint16)
    smooth = axis[:, None, None] + 2 * axis[None, :, None] + 3 * axis[None, None, :]
    noise = np.random.default_rng(0).integers(0, 8, size=(side,) * 3, dtype=np.uint8)
    return ((smooth % 200).astype(np.uint8) + noise)[..., None]


def segmentation(mib: int) -> np.ndarray[Any, Any]:
    side = side_for(mib, 8)
    axis = np.arange(side, dtype=np.uint64)
    labels = (axis[:, None, None] // 13) * np.uint64(1_000_003) + (axis[None, :, None] // 11) * np.uint64(7919)
    labels = labels + (axis[None, None, :] // 7) * np.uint64(104_729) + np.uint64(1)
    return (labels * np.uint64(2**33 + 7))[..., None]


#: name: (data maker, data type, scale_metadata members).
WORKLOADS: dict[str, tuple[Callable[[int], np.ndarray[Any, Any]], str, dict[str, Any]]] = {
    "raw": (image, "image", {"encoding": "raw"}),
    "jpeg": (image, "image", {"encoding": "jpeg"}),
    "segmentation": (segmentation, "segmentation", {
        "encoding": "compressed_segmentation", "compressed_segmentation_block_size": [8, 8, 8]}),
    "segmentation-sharded": (segmentation, "segmentation", {
        "encoding": "compressed_segmentation", "compressed_segmentation_block_size": [8, 8, 8], "sharding": SHARDING}),
}


#: The file kvstore's members (``--no-fsync`` adds ``file_io_sync: false``).
FILE_OPTIONS: dict[str, Any] = {}


def spec(path: str, data: np.ndarray[Any, Any] | None = None, volume_type: str = "", members: Any = None) -> dict[str, Any]:
    """Both libraries' spec: creating a volume for ``data``, or (``data`` None) opening one."""
    kvstore = {"driver": "file", "path": path, **FILE_OPTIONS}
    json_value: dict[str, Any] = {"driver": "neuroglancer_precomputed", "kvstore": kvstore}
    if data is not None:
        json_value["multiscale_metadata"] = {"type": volume_type, "data_type": data.dtype.name, "num_channels": data.shape[3]}
        json_value["scale_metadata"] = {"size": list(data.shape[:3]), "chunk_size": [CHUNK] * 3, "resolution": [8, 8, 8],
                                        **members}
    return json_value


def bench(root: Path, name: str, data: np.ndarray[Any, Any], rounds: int) -> tuple[dict[str, tuple[float, float]], ...]:
    """Best (write, read) wall seconds per library, and the least process CPU seconds
    (all threads) of a write and of a read: on a shared machine the CPU time is the
    steadier figure, the wall time what a user waits."""
    import tensorstore

    import ts_core as ts

    _, volume_type, members = WORKLOADS[name]
    context = {"cache_pool": {"total_bytes_limit": 0}}

    def library(module: Any) -> Library:
        def open_store(path: str, create: bool) -> Any:
            json_value = spec(path, data, volume_type, members) if create else spec(path)
            return module.open(json_value, create=create, open=not create, context=module.Context(context)).result()

        def cpu_timed(which: int, operation: Callable[[Any], Any]) -> Callable[[Any], Any]:
            def run(store: Any) -> Any:
                start = time.process_time()
                result = operation(store)
                spent = time.process_time() - start
                cpu[module.__name__][which] = min(cpu[module.__name__][which], spent)
                return result

            return run

        cpu[module.__name__] = [float("inf"), float("inf")]
        return (open_store, cpu_timed(0, lambda store: store.write(data).result()),
                cpu_timed(1, lambda store: store.read().result()))

    cpu: dict[str, list[float]] = {}
    results = compare(f"{root}/{name}", {"ts": library(ts), "tensorstore": library(tensorstore)}, rounds=rounds)
    if members["encoding"] != "jpeg":  # what ts wrote is what the wheel reads
        written = tensorstore.open(spec(f"{root}/{name}/ts-0/")).result().read().result()
        assert np.array_equal(written, data), f"{name}: the wheel reads other values than ts wrote"
    cpu_seconds = {"ts": tuple(cpu["ts_core"]), "tensorstore": tuple(cpu["tensorstore"])}
    return results, cpu_seconds  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256, help="size of each volume in MiB (default 256)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 MiB volumes, one round: a smoke test")
    parser.add_argument("--no-fsync", action="store_true", help="write without file_io_sync in both libraries")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated subset of {','.join(WORKLOADS)}")
    args = parser.parse_args()
    if args.quick:
        args.mib, args.rounds = 8, 1
    if args.no_fsync:
        FILE_OPTIONS["file_io_sync"] = False
    names = args.workloads.split(",")
    for name in names:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    with tempfile.TemporaryDirectory() as directory:
        cache: dict[Callable[[int], np.ndarray[Any, Any]], np.ndarray[Any, Any]] = {}
        for name in names:
            make = WORKLOADS[name][0]
            data = cache.setdefault(make, make(args.mib))
            megabytes = data.nbytes / 1e6
            sync = ", no fsync" if args.no_fsync else ""
            print(f"{name}: {data.shape[:3]} {data.dtype} = {megabytes:.0f} MB, {CHUNK}^3 chunks, file kvstore{sync}",
                  flush=True)
            results, cpu = bench(Path(directory), name, data, args.rounds)
            for library, (write_seconds, read_seconds) in results.items():
                cpu_write, cpu_read = cpu[library]
                print(f"{name:22} {library:12} write {megabytes / write_seconds:8.1f} MB/s   read {megabytes / read_seconds:8.1f} MB/s"
                      f"   (cpu: write {cpu_write:.2f} s  read {cpu_read:.2f} s)")
            ts_write, ts_read = results["ts"]
            ref_write, ref_read = results["tensorstore"]
            print(f"{name:22} ratio ts/tensorstore time: write {ts_write / ref_write:.2f}  read {ts_read / ref_read:.2f}"
                  f"   cpu: write {cpu['ts'][0] / cpu['tensorstore'][0]:.2f}  read {cpu['ts'][1] / cpu['tensorstore'][1]:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
