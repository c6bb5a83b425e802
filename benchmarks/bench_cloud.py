"""S3 kvstore throughput and latency against a local SeaweedFS: ts vs the tensorstore wheel.

    uv run python benchmarks/bench_cloud.py [--mib 256] [--object-mib 4] [--small 1000]

Starts SeaweedFS on 127.0.0.1 (the same launcher as the tests), writes then reads
``--mib`` MiB as ``--object-mib`` MiB objects with all requests issued at once (each
library bounded by its default request concurrency, 32), and prints MB/s; then times
``--small`` sequential reads of a 100-byte object and prints the median latency.
Both libraries talk to the same server, one after the other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ts_cloud"))

import cloud_servers

BUCKET = "bench"


def spec(endpoint: str, path: str) -> dict[str, Any]:
    return {"driver": "s3", "bucket": BUCKET, "path": path, "endpoint": endpoint,
            "aws_region": "us-east-1", "aws_credentials": {"type": "anonymous"}}


def throughput(store: Any, objects: int, value: bytes) -> tuple[float, float]:
    mb = objects * len(value) / 1e6
    start = time.perf_counter()
    futures = [store.write(f"obj/{i:05d}", value) for i in range(objects)]
    for future in futures:
        future.result()
    write_seconds = time.perf_counter() - start
    start = time.perf_counter()
    futures = [store.read(f"obj/{i:05d}") for i in range(objects)]
    for future in futures:
        assert len(future.result().value) == len(value)
    read_seconds = time.perf_counter() - start
    return mb / write_seconds, mb / read_seconds


def small_read_latency(store: Any, count: int) -> float:
    store.write("small", b"x" * 100).result()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        store.read("small").result()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--object-mib", type=int, default=4)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    import tensorstore

    import ts_core as ts

    objects = args.mib // args.object_mib
    value = os.urandom(args.object_mib << 20)
    with cloud_servers.seaweedfs() as endpoint:
        cloud_servers.create_s3_bucket(endpoint, BUCKET)
        stores = {
            "ts": ts.KvStore.open(spec(endpoint, "ts/")).result(),
            "tensorstore": tensorstore.KvStore.open(spec(endpoint, "tensorstore/")).result(),
        }
        print(f"SeaweedFS {endpoint}: {objects} x {args.object_mib} MiB objects, "
              f"{args.small} small reads")
        print(f"{'library':<12} {'write MB/s':>11} {'read MB/s':>10} {'small read median ms':>21}")
        for name, store in stores.items():
            write_rate, read_rate = throughput(store, objects, value)
            latency = small_read_latency(store, args.small)
            print(f"{name:<12} {write_rate:>11.0f} {read_rate:>10.0f} {latency:>21.2f}")


if __name__ == "__main__":
    main()
