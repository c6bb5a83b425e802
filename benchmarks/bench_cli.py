"""``ts cp`` against a Python loop of tensorstore reads and writes, on the same zarr3 array.

    uv run python benchmarks/bench_cli.py [--mib 256] [--rounds 2] [--quick]

The source is a uint16 zarr3 array of ``--mib`` MiB in 64^3 chunks with zstd(1) on the file
kvstore, written once by the tensorstore wheel. Each contestant copies it whole into a new
zarr3 array with the same schema:

* ``ts cp``: the command line, run as a subprocess (its fixed cost, a quarter of a second
  of start-up and opening, is included, and also shown apart). Source and destination
  store chunks alike, so it copies the stored chunks as they are;
* ``ts cp --reencode``: the same, decoding and encoding every block as the loops do;
* ``tensorstore loop``: the wheel, in this process, reading and writing the same
  chunk-aligned blocks ``ts cp`` uses (its default: 256 MiB over at most 4 jobs, each
  block at most 16 MiB), one block after another;
* ``ts_core loop``: the same loop with ts_core in this process (the library without the CLI).

Prints MB/s (source bytes / wall seconds, best of ``--rounds``), the time ratio to the
tensorstore loop (below 1: faster) of the best and of the median round (the rounds are
interleaved, so on a shared machine the median ratio is the steadier one) and the CPU
seconds each used (user + system; this moves less than wall time). Every copy is checked equal to the source once.
``--quick`` copies 16 MiB once, to check that the script works.

The ``ts`` subprocesses run as an installed ``ts`` does: with compiled bytecode (pip writes
``.pyc`` files on install), kept in a scratch ``PYTHONPYCACHEPREFIX`` and compiled by one
untimed run first, even where ``PYTHONDONTWRITEBYTECODE`` is set (compiling ts_core and
its plugins from source costs about as much again as the whole start-up).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import settle

CHUNK = 64
ZSTD = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}
#: ts cp's defaults: --memory-limit 256 MiB over at most 4 jobs (blocks of 16 MiB with 1 to 4).
MEMORY_LIMIT, JOBS = 256 * (1 << 20), 4


def shape_for(mib: float) -> list[int]:
    """A (n, 256, 256) uint16 shape of about ``mib`` MiB, n a multiple of the chunk."""
    planes = max(CHUNK, round(mib * (1 << 20) / (256 * 256 * 2) / CHUNK) * CHUNK)
    return [planes, 256, 256]


def zarr3_spec(path: Path) -> dict[str, Any]:
    return {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/"}}


def make_source(path: Path, shape: list[int]) -> np.ndarray:
    import tensorstore

    rng = np.random.default_rng(0)
    # Smooth data with noise: compresses like an image (a few x), not like zeros.
    data = (np.arange(np.prod(shape), dtype=np.uint32) // 7 % 4096).astype(np.uint16).reshape(shape)
    data += rng.integers(0, 16, size=shape, dtype=np.uint16)
    store = tensorstore.open(
        zarr3_spec(path), create=True, dtype="uint16", shape=shape,
        chunk_layout=tensorstore.ChunkLayout(chunk_shape=[CHUNK] * 3),
        codec=tensorstore.CodecSpec({"driver": "zarr3", "codecs": [{"name": "bytes"}, ZSTD]}),
    ).result()
    store.write(data).result()
    return data


def blocks(shape: list[int]) -> list[tuple[slice, ...]]:
    """Whole-chunk blocks as ts cp makes them by default, grown from the last dimension."""
    from ts_core.cli._copy import block_budget, block_shape, iter_blocks

    block = block_shape(shape, [CHUNK] * 3, 2, block_budget(MEMORY_LIMIT, JOBS))
    return list(iter_blocks(shape, block, [0, 0, 0]))


def loop_copy(library: Any, source_path: Path, destination_path: Path) -> None:
    """Open the source, create a destination with its schema, copy block by block."""
    source = library.open(zarr3_spec(source_path)).result()
    destination = library.open(
        zarr3_spec(destination_path), create=True, dtype=source.dtype, shape=list(source.shape),
        chunk_layout=library.ChunkLayout(chunk_shape=[CHUNK] * 3), codec=source.codec,
    ).result()
    for region in blocks(list(source.shape)):
        destination[region].write(source[region].read().result()).result()


def tensorstore_loop(source: Path, destination: Path) -> None:
    import tensorstore

    loop_copy(tensorstore, source, destination)


def ts_core_loop(source: Path, destination: Path) -> None:
    import ts_core

    loop_copy(ts_core, source, destination)


#: Environment of the ``ts`` subprocesses: bytecode cached as an installed package has it.
SUBPROCESS_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def ts_cp(source: Path, destination: Path, *options: str) -> None:
    subprocess.run([sys.executable, "-m", "ts_core.cli", "cp", *options, f"file://{source}", f"file://{destination}"],
                   check=True, env=SUBPROCESS_ENV)


def ts_cp_reencode(source: Path, destination: Path) -> None:
    ts_cp(source, destination, "--reencode")


def startup_seconds(root: Path, runs: int = 1) -> float:
    """Median wall time of ``ts cp --reencode`` of a one-chunk array (made under ``root`` by
    the first call): what every ``ts cp`` pays besides the copy (interpreter, imports,
    plugins, opening and creating the arrays)."""
    source = root / "one-chunk"
    if not source.exists():
        make_source(source, [CHUNK] * 3)
    seconds = []
    for _ in range(runs):
        destination = Path(tempfile.mkdtemp(prefix="one-chunk-copy-", dir=root)) / "copy"
        start = time.perf_counter()
        ts_cp_reencode(source, destination)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (ts cp)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def warm_up() -> None:
    """Import both libraries and load ts_core's plugins before anything is timed."""
    import tensorstore

    import ts_core

    for library in (tensorstore, ts_core):
        library.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype="uint8", shape=[1]).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=float, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mib, args.rounds = 16, 1

    contestants: dict[str, Callable[[Path, Path], None]] = {
        "ts cp": ts_cp, "ts cp --reencode": ts_cp_reencode, "tensorstore loop": tensorstore_loop,
        "ts_core loop": ts_core_loop,
    }
    with tempfile.TemporaryDirectory(prefix="bench_cli_", dir=Path.cwd()) as scratch:
        root = Path(scratch)
        SUBPROCESS_ENV["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        startup_seconds(root)  # compiles the bytecode once, untimed
        shape = shape_for(args.mib)
        data = make_source(root / "source", shape)
        nbytes = data.nbytes
        warm_up()
        best = {name: float("inf") for name in contestants}
        rounds: dict[str, list[float]] = {name: [] for name in contestants}
        cpu = {name: float("inf") for name in contestants}
        for round_ in range(args.rounds):
            names = list(contestants)
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                destination = root / f"{name.replace(' ', '_')}-{round_}"
                settle()
                cpu_start = cpu_seconds()
                start = time.perf_counter()
                contestants[name](root / "source", destination)
                rounds[name].append(time.perf_counter() - start)
                best[name] = min(best[name], rounds[name][-1])
                cpu[name] = min(cpu[name], cpu_seconds() - cpu_start)
                if round_ == 0:
                    import tensorstore

                    copied = tensorstore.open(zarr3_spec(destination)).result().read().result()
                    assert np.array_equal(copied, data), f"{name}: the copy differs from the source"
        startup = startup_seconds(root, runs=3)

    print(f"copy of a {nbytes / 1e6:.0f} MB uint16 zarr3 array, shape {shape}, 64^3 chunks, zstd(1); "
          f"best of {args.rounds}")
    print(f"{'contestant':<18} {'seconds':>8} {'MB/s':>8} {'ratio':>7} {'median':>7} {'CPU s':>7}")
    reference = best["tensorstore loop"]
    median_reference = statistics.median(rounds["tensorstore loop"])
    for name, seconds in best.items():
        print(f"{name:<18} {seconds:>8.2f} {nbytes / 1e6 / seconds:>8.1f} {seconds / reference:>7.2f}"
              f" {statistics.median(rounds[name]) / median_reference:>7.2f} {cpu[name]:>7.2f}")
    print(f"(ts cp includes {startup:.2f} s of fixed cost, a one-chunk ts cp --reencode: interpreter, imports,"
          " plugins, opening the arrays)")


if __name__ == "__main__":
    main()
