"""Cloud kvstore throughput and latency on local servers: ts vs the tensorstore wheel.

    uv run python benchmarks/bench_cloud.py [--mib 256] [--object-mib 4] [--small 1000]
                                            [--rounds 3] [--services s3 gcs] [--signed]

Starts SeaweedFS (S3) and fake-gcs-server (GCS) on 127.0.0.1, the same launchers as the
tests. For each service and round, each library in turn writes then reads ``--mib`` MiB
as ``--object-mib`` MiB objects with all requests issued at once (each library bounded by
its default request concurrency, 32), then times ``--small`` sequential reads of a
100-byte object and a fifth as many sequential 100-byte writes, the two libraries taking
turns operation by operation (the order flipping each time). Both libraries talk to the
same server, alternating, so a busy machine slows both alike; the summary gives the
median over rounds and ts's ratio to tensorstore (time ratios: below 1 is ts faster).
``--signed`` signs S3 requests (SigV4) with the test identity instead of sending them
anonymously.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ts_cloud"))

import cloud_servers

BUCKET = "bench"
#: What each round measures, and whether more is better (a rate) or worse (a time).
MEASURES = {"write MB/s": True, "read MB/s": True, "small read ms": False, "small write ms": False}


def s3_spec(endpoint: str, path: str, signed: bool) -> dict[str, Any]:
    credentials = {"type": "environment"} if signed else {"type": "anonymous"}
    return {"driver": "s3", "bucket": BUCKET, "path": path, "endpoint": endpoint,
            "aws_region": "us-east-1", "aws_credentials": credentials}


def gcs_spec(path: str) -> dict[str, Any]:
    return {"driver": "gcs", "bucket": BUCKET, "path": path}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    with cloud_servers.seaweedfs() as endpoint:
        cloud_servers.create_s3_bucket(endpoint, BUCKET)
        yield endpoint


@contextlib.contextmanager
def gcs_server() -> Iterator[str]:
    with cloud_servers.fake_gcs_server() as url:
        cloud_servers.create_gcs_bucket(url, BUCKET)
        os.environ["TENSORSTORE_GCS_HTTP_URL"] = url  # both libraries read it
        yield url


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


def interleaved_median_ms(operations: dict[str, Callable[[], Any]], count: int) -> dict[str, float]:
    """Median milliseconds of each operation, run ``count`` times each in turns.

    The libraries alternate operation by operation (the order flips every time), so a
    change in the machine's load (other processes, the server's own housekeeping) falls
    on both alike instead of on whichever block of operations it happened during.
    """
    names = list(operations)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(count):
        for name in names if index % 2 == 0 else reversed(names):
            start = time.perf_counter()
            operations[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def small_read(store: Any) -> Callable[[], Any]:
    return lambda: store.read("small").result()


def small_write(store: Any) -> Callable[[], Any]:
    return lambda: store.write("small-write", b"y" * 100).result()


def measure(stores: dict[str, Any], objects: int, value: bytes, small: int) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name, store in stores.items():
        write_rate, read_rate = throughput(store, objects, value)
        rows[name] = {"write MB/s": write_rate, "read MB/s": read_rate}
    reads = interleaved_median_ms({name: small_read(store) for name, store in stores.items()}, small)
    writes = interleaved_median_ms({name: small_write(store) for name, store in stores.items()}, max(1, small // 5))
    for name in stores:
        rows[name]["small read ms"] = reads[name]
        rows[name]["small write ms"] = writes[name]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--object-mib", type=int, default=4)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--services", nargs="+", choices=["s3", "gcs"], default=["s3", "gcs"])
    parser.add_argument("--signed", action="store_true", help="sign S3 requests (SigV4)")
    args = parser.parse_args()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.setdefault("GOOGLE_AUTH_TOKEN_FOR_TESTING", "bench-token")  # no credential lookups
    if args.signed:
        os.environ["AWS_ACCESS_KEY_ID"] = cloud_servers.S3_ACCESS_KEY
        os.environ["AWS_SECRET_ACCESS_KEY"] = cloud_servers.S3_SECRET_KEY

    import tensorstore

    import ts_core as ts

    objects = args.mib // args.object_mib
    value = os.urandom(args.object_mib << 20)
    for service in args.services:
        server = s3_server() if service == "s3" else gcs_server()
        with server as endpoint:
            def spec(path: str, endpoint: str = endpoint, service: str = service) -> dict[str, Any]:
                return s3_spec(endpoint, path, args.signed) if service == "s3" else gcs_spec(path)

            stores = {
                "ts": ts.KvStore.open(spec("ts/")).result(),
                "tensorstore": tensorstore.KvStore.open(spec("tensorstore/")).result(),
            }
            for store in stores.values():  # warm up: connections, the small object
                store.write("small", b"x" * 100).result()
                for _ in range(20):
                    store.read("small").result()
            signed = " (signed)" if args.signed and service == "s3" else ""
            print(f"{service}{signed} at {endpoint}: {objects} x {args.object_mib} MiB objects, "
                  f"{args.small} small reads, {args.rounds} rounds")
            header = f"{'round':>5} {'library':<12}" + "".join(f"{name:>15}" for name in MEASURES)
            print(header)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in stores}
            for round_number in range(args.rounds):
                for name, row in measure(stores, objects, value, args.small).items():
                    results[name].append(row)
                    print(f"{round_number:>5} {name:<12}" + "".join(
                        f"{row[m]:>15.0f}" if rate else f"{row[m]:>15.2f}" for m, rate in MEASURES.items()))
            medians = {name: {m: statistics.median(r[m] for r in rows) for m in MEASURES}
                       for name, rows in results.items()}
            for name, row in medians.items():
                print(f"{'median':>5} {name:<12}" + "".join(
                    f"{row[m]:>15.0f}" if rate else f"{row[m]:>15.2f}" for m, rate in MEASURES.items()))
            # Time per unit of work, ts over tensorstore: below 1.0 is ts faster.
            ratios = [(medians["tensorstore"][m] / medians["ts"][m]) if rate else
                      (medians["ts"][m] / medians["tensorstore"][m]) for m, rate in MEASURES.items()]
            print(f"{'ratio':>5} {'ts/tstore':<12}" + "".join(f"{ratio:>14.2f}x" for ratio in ratios))
            print()


if __name__ == "__main__":
    main()
