"""The ML loader's samples/s against naive per-sample reads, with read-ahead on and off.

    uv run python benchmarks/bench_loader.py [--samples 2048] [--rounds 3] [--step-ms 10] [--quick]

A uint8 image of ``--samples`` 64 x 64 x 3 patches (4096 x 2048 x 3 for 2048) is stored as a
zarr3 array on the file kvstore (zstd level 1), twice: with chunks aligned to the patches
(64 x 64 x 3) and with chunks that are not (96 x 96 x 3: a patch touches up to four chunks).
One epoch reads every patch once in a shuffled order, in batches of 64:

* ``tensorstore naive`` / ``ts naive``: ``store[patch].read().result()`` per sample with
  the tensorstore wheel / with ts, and ``np.stack`` per batch, all in the consumer's thread;
* ``loader read_ahead=0``: ``ts_core.loader.Loader`` reading each sample when needed, in
  the consumer's thread (read-ahead off);
* ``loader read_ahead=2``: the Loader's default, two batches read ahead on background
  threads.

Each epoch runs twice: with no work between batches (pure loading), and with a training
step of ``--step-ms`` per batch that holds no GIL (``time.sleep``, as a GPU step would),
where read-ahead lets reading overlap the step. Prints samples/s (best of ``--rounds``
interleaved rounds), the ratios to ``ts naive`` and ``tensorstore naive``, and the CPU time
per sample of the whole process (all threads; on a machine shared with other work, the
CPU time varies less than the wall time). The data is in the page cache: this measures
the read path, not the disk.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

PATCH = (64, 64)
BATCH = 64
CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1}}]
LAYOUTS = {"aligned": [64, 64, 3], "unaligned": [96, 96, 3]}


def spec(path: str, shape: tuple[int, ...], chunks: list[int]) -> dict[str, Any]:
    return {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": path},
        "metadata": {
            "shape": list(shape), "data_type": "uint8", "codecs": CODECS,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        },
    }


def image_shape(samples: int) -> tuple[int, int, int]:
    columns = 32 if samples >= 32 else samples
    rows = -(-samples // columns)
    return (rows * PATCH[0], columns * PATCH[1], 3)


def naive_epoch(store: Any, origins: list[tuple[int, int]], step: float) -> int:
    count = 0
    for start in range(0, len(origins), BATCH):
        batch = np.stack([
            store[row:row + PATCH[0], column:column + PATCH[1]].read().result()
            for row, column in origins[start:start + BATCH]
        ])
        count += len(batch)
        if step:
            time.sleep(step)
    return count


def loader_epoch(loader: Any, step: float) -> int:
    count = 0
    for batch in loader:
        count += len(batch)
        if step:
            time.sleep(step)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-ms", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="512 samples, one round")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.rounds = 512, 1

    import tensorstore

    import ts_core as ts

    shape = image_shape(args.samples)
    data = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    root = tempfile.mkdtemp(prefix="bench_loader_")
    print(f"{args.samples} patches of {PATCH[0]} x {PATCH[1]} x 3 uint8 from a {shape} image, "
          f"batches of {BATCH}, {args.rounds} rounds, step {args.step_ms} ms")
    for layout, chunks in LAYOUTS.items():
        path = f"{root}/{layout}/"
        ts.open(spec(path, shape, chunks), create=True).result().write(data).result()
        measure(layout, chunks, data, ts.open(spec(path, shape, chunks)).result(),
                tensorstore.open(spec(path, shape, chunks)).result(), args)


def measure(layout: str, chunks: list[int], data: np.ndarray[Any, Any], ts_store: Any, wheel_store: Any,
            args: argparse.Namespace) -> None:
    from ts_core.loader import Loader, PatchSamples

    tiles = PatchSamples(ts_store, PATCH)
    samples = PatchSamples(ts_store, PATCH, origins=[tiles.origin(i) for i in range(args.samples)])
    order = Loader(samples, seed=0).indices()
    origins = [samples.origin(int(i)) for i in order]
    # Correctness first: the loader's first batch is the naive one.
    first = next(iter(Loader(samples, batch_size=BATCH, seed=0)))
    np.testing.assert_array_equal(first, np.stack([data[r:r + 64, c:c + 64] for r, c in origins[:BATCH]]))

    cases: dict[str, Callable[[float], int]] = {
        "tensorstore naive": lambda step: naive_epoch(wheel_store, origins, step),
        "ts naive": lambda step: naive_epoch(ts_store, origins, step),
        "loader read_ahead=0": lambda step: loader_epoch(Loader(samples, batch_size=BATCH, seed=0, read_ahead=0), step),
        "loader read_ahead=2": lambda step: loader_epoch(Loader(samples, batch_size=BATCH, seed=0, read_ahead=2), step),
    }
    for step_ms in (0.0, args.step_ms):
        best = dict.fromkeys(cases, float("inf"))
        cpu = dict.fromkeys(cases, float("inf"))
        names = list(cases)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                start, start_cpu = time.perf_counter(), time.process_time()
                count = cases[name](step_ms / 1000)
                best[name] = min(best[name], time.perf_counter() - start)
                cpu[name] = min(cpu[name], time.process_time() - start_cpu)
                assert count == args.samples
        print(f"\n{layout} chunks {chunks}, " + (f"a {step_ms:g} ms step per batch" if step_ms else "pure loading"))
        rates = {name: args.samples / seconds for name, seconds in best.items()}
        for name, rate in rates.items():
            print(f"  {name:22s} {rate:9.0f} samples/s   x{rate / rates['ts naive']:.2f} ts naive"
                  f"   x{rate / rates['tensorstore naive']:.2f} tensorstore naive"
                  f"   {cpu[name] / args.samples * 1e6:6.0f} us CPU/sample")
        if step_ms:
            floor = args.samples / (-(-args.samples // BATCH) * step_ms / 1000)
            print(f"  (the steps alone allow at most {floor:.0f} samples/s)")

if __name__ == "__main__":
    main()
