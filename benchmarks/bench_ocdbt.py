"""OCDBT on the file kvstore: ts vs the tensorstore wheel, same process, same data.

    uv run python benchmarks/bench_ocdbt.py [--keys 10000] [--mib 256] [--quick] [--only keys|zarr3] [--runs 5]

Workloads:

* commit: ``--keys`` small keys (16-byte values, inline in the leaves) written in one atomic
  transaction, i.e. one commit building the whole B+tree;
* point reads: ``--reads`` single-key reads of random keys of that database, through a store
  opened anew (manifest and nodes come from disk, then from the cache);
* listing: every key of that database, listed ``--lists`` times;
* zarr3 inside ocdbt: a uint16 array of ``--mib`` MiB in 64^3 chunks with zstd(1), written
  whole and read whole through a newly opened store; written once as a plain write (each
  library groups the chunk writes into commits as it does by default) and once in one atomic
  transaction (a single commit).

Prints ops/s or MB/s per library and the time ratio ts/tensorstore (below 1: ts is faster).
``--quick`` runs small sizes once, to check that the script works; ``--runs N`` repeats
everything N times and ends with each workload's median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import Library, compare, settle, timed

CHUNK = 64
ZSTD = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}
LIBRARIES = ("ts", "tensorstore")


def library(name: str) -> Any:
    if name == "ts":
        import ts_core

        return ts_core
    import tensorstore

    return tensorstore


def ocdbt_spec(path: str) -> dict[str, Any]:
    return {"driver": "ocdbt", "base": {"driver": "file", "path": path}}


def key_of(index: int) -> str:
    return f"key/{index * 2654435761 % 1000003:07d}/{index}"


def bench_keys(root: Path, keys: int, reads: int, lists: int, rounds: int) -> dict[str, dict[str, float]]:
    """Seconds per workload and library: the best of ``rounds`` interleaved rounds."""
    values = {key_of(i): (b"%016d" % i) for i in range(keys)}
    rng = np.random.default_rng(0)
    read_keys = [key_of(int(i)) for i in rng.integers(0, keys, size=reads)]
    best: dict[str, dict[str, float]] = {name: {} for name in LIBRARIES}

    def record(name: str, workload: str, seconds: float) -> None:
        best[name][workload] = min(best[name].get(workload, float("inf")), seconds)

    for round_ in range(rounds):
        for name in LIBRARIES[round_ % 2:] + LIBRARIES[: round_ % 2]:
            lib = library(name)
            path = f"{root}/keys-{name}-{round_}/"
            store = lib.KvStore.open(ocdbt_spec(path)).result()
            store["warm"] = b"manifest exists"  # the database's creation is not measured
            settle()

            def commit(store: Any = store, lib: Any = lib) -> None:
                transaction = lib.Transaction(atomic=True)
                view = store.with_transaction(transaction)
                for key, value in values.items():
                    view.write(key, value)
                transaction.commit_sync()

            record(name, "commit", timed(commit))
            settle()
            reopened = lib.KvStore.open(ocdbt_spec(path)).result()

            def point_reads(store: Any = reopened) -> None:
                for key in read_keys:
                    store.read(key).result()

            record(name, "point reads", timed(point_reads, repeat=3))

            def listing(store: Any = reopened) -> None:
                for _ in range(lists):
                    if len(store.list().result()) != keys + 1:
                        raise AssertionError("listing lost keys")

            record(name, "listing", timed(listing, repeat=5))
            check = reopened.read(read_keys[0]).result().value
            if bytes(check) != values[read_keys[0]]:
                raise AssertionError(f"{name} read back {check!r}")
    return best


def zarr3_metadata(shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [CHUNK] * 3}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, ZSTD],
    }


def bench_array(root: Path, data: np.ndarray[Any, Any], rounds: int, transaction: bool) -> dict[str, tuple[float, float]]:
    context = {"cache_pool": {"total_bytes_limit": 0}}

    def spec(path: str) -> dict[str, Any]:
        return {"driver": "zarr3", "kvstore": ocdbt_spec(path), "metadata": zarr3_metadata(data.shape)}

    def write(lib: Any, store: Any) -> None:
        if not transaction:
            store.write(data).result()
            return
        txn = lib.Transaction(atomic=True)
        store.with_transaction(txn).write(data).result()
        txn.commit_sync()

    def entry(lib: Any) -> Library:
        return (
            lambda p, c: lib.open(spec(p), create=c, open=not c, context=lib.Context(context)).result(),
            lambda s: write(lib, s),
            lambda s: s.read().result(),
        )

    label = "zarr3-transaction" if transaction else "zarr3"
    return compare(f"{root}/{label}", {name: entry(library(name)) for name in LIBRARIES}, rounds=rounds)


def measure(root: Path, args: argparse.Namespace, data: np.ndarray[Any, Any], megabytes: float) -> dict[str, float]:
    """One run of the chosen workloads, printed; the ratio ts/tensorstore time of each."""
    root.mkdir()
    ratios: dict[str, float] = {}
    print(f"ocdbt on the file kvstore; {args.keys} keys, {args.reads} point reads, "
          f"{args.lists} listings; best of {args.rounds} rounds")
    if args.only != "zarr3":
        results = bench_keys(root, args.keys, args.reads, args.lists, args.rounds)
        counts = {"commit": args.keys, "point reads": args.reads, "listing": args.lists * (args.keys + 1)}
        for workload, count in counts.items():
            rates = "   ".join(f"{name} {count / results[name][workload]:10.0f} ops/s" for name in LIBRARIES)
            ratio = ratios[workload] = results["ts"][workload] / results["tensorstore"][workload]
            print(f"{workload:12} {rates}   ratio ts/tensorstore time {ratio:.2f}")
    if args.only != "keys":
        print(f"zarr3 array {data.shape} uint16 = {megabytes:.0f} MB in {CHUNK}^3 chunks, zstd(1), inside ocdbt")
    for label, transaction in (("zarr3", False), ("zarr3 txn", True)) if args.only != "keys" else ():
        array = bench_array(root, data, args.rounds, transaction)
        for name, (write_seconds, read_seconds) in array.items():
            print(f"{label:12} {name:12} write {megabytes / write_seconds:8.1f} MB/s   read {megabytes / read_seconds:8.1f} MB/s")
        (ts_write, ts_read), (ref_write, ref_read) = array["ts"], array["tensorstore"]
        ratios[f"{label} write"], ratios[f"{label} read"] = ts_write / ref_write, ts_read / ref_read
        print(f"{label:12} ratio ts/tensorstore time: write {ts_write / ref_write:.2f}  read {ts_read / ref_read:.2f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--lists", type=int, default=5)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat the whole comparison this many times and print "
        "each workload's median ratio (a shared machine's noise decides single runs)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument(
        "--only", choices=("keys", "zarr3"), help="run only the key workloads (commit, point reads, "
        "listing) or only the zarr3 array ones"
    )
    args = parser.parse_args()
    if args.quick:
        args.keys, args.reads, args.lists, args.mib, args.rounds = 1_000, 200, 2, 8, 1
    side = max(CHUNK, round((args.mib * 2**20 / 2) ** (1 / 3) / CHUNK) * CHUNK)
    shape = (side, side, side)
    data = (np.arange(np.prod(shape), dtype=np.uint64) * 2654435761 % 4096).astype(np.uint16).reshape(shape)
    megabytes = data.nbytes / 1e6
    started = time.perf_counter()
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for run in range(args.runs):
            if args.runs > 1:
                print(f"-- run {run + 1} of {args.runs}")
            found = measure(Path(directory) / f"run{run}", args, data, megabytes)
            for workload, ratio in found.items():
                ratios.setdefault(workload, []).append(ratio)
    if args.runs > 1:
        print(f"median ratio ts/tensorstore time over {args.runs} runs (each the best of {args.rounds} rounds):")
        for workload, found_ratios in ratios.items():
            shown = " ".join(f"{ratio:.2f}" for ratio in found_ratios)
            print(f"  {workload:18} {statistics.median(found_ratios):.2f}   ({shown})")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
