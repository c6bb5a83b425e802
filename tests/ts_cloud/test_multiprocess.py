"""4 processes x 200 conditional increments of one key on S3 and on GCS: exactly 800."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from cloud_servers import gcs_spec, s3_spec, unique_prefix

import ts_core as ts

PROCESSES = 4
INCREMENTS = 200

COUNTER_WORKER = textwrap.dedent(
    """
    import json, sys
    import ts_core as ts

    store = ts.KvStore.open(json.loads(sys.argv[1])).result()
    conflicts = 0
    for _ in range(int(sys.argv[2])):
        while True:
            current = store.read("counter").result()
            value = int(current.value or b"0") + 1
            stamp = store.write("counter", str(value).encode(),
                                if_equal=current.stamp.generation).result()
            if stamp.generation != b"":
                break
            conflicts += 1
    print(conflicts)
    """
)


def _run_counter(spec: dict[str, object]) -> int:
    workers = [
        subprocess.Popen([sys.executable, "-c", COUNTER_WORKER, json.dumps(spec), str(INCREMENTS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    store = ts.KvStore.open(spec).result()
    assert int(store["counter"]) == PROCESSES * INCREMENTS
    return sum(int(out) for out, _ in outputs)


@pytest.mark.slow
def test_s3_multiprocess_counter(s3_endpoint: str) -> None:
    conflicts = _run_counter(s3_spec(s3_endpoint, unique_prefix("counter")))
    print(f"s3: conflicting writes retried: {conflicts}")


@pytest.mark.slow
def test_gcs_multiprocess_counter(gcs_url: str) -> None:
    conflicts = _run_counter(gcs_spec(unique_prefix("counter")))
    print(f"gcs: conflicting writes retried: {conflicts}")
