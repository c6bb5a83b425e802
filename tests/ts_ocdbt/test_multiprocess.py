"""Several processes commit to one OCDBT database: nothing committed is lost, a killed writer
leaves the last committed version readable, and a multi-chunk transaction is seen whole or
not at all.

The counter test runs 4 processes x 100 transactions (the number the guarantee is stated
for). ``TS_OCDBT_MP_TRANSACTIONS`` lowers the per-process count on a slow machine; nothing
else reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
import ts_ocdbt

PROCESSES = 4
TRANSACTIONS = int(os.environ.get("TS_OCDBT_MP_TRANSACTIONS", "100"))
TS_CLOUD_TESTS = Path(__file__).resolve().parent.parent / "ts_cloud"

# Each transaction reads the counter, writes it incremented and adds one key of its own; a
# conflicting commit (another process committed first) is retried from the read. Prints the
# number of retries.
COUNTER_WORKER = textwrap.dedent(
    """
    import json, sys
    import ts_core as ts
    from ts_core.errors import TransactionConflictError

    store = ts.KvStore.open(json.loads(sys.argv[1])).result()
    worker, count = sys.argv[2], int(sys.argv[3])
    retries = 0
    for index in range(count):
        while True:
            transaction = ts.Transaction(atomic=True)
            view = store.with_transaction(transaction)
            value = int(view.read("counter").result().value or b"0")
            view["counter"] = str(value + 1).encode()
            view[f"keys/{worker}/{index:03d}"] = b"x"
            try:
                transaction.commit_sync()
                break
            except TransactionConflictError:
                retries += 1
    print(retries)
    """
)


def run_workers(script: str, arguments: list[list[str]], timeout: float = 240) -> list[str]:
    workers = [
        subprocess.Popen([sys.executable, "-c", script, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in arguments
    ]
    try:
        outputs = [worker.communicate(timeout=timeout) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    return [out for out, _ in outputs]


def check_counter(spec: dict[str, Any]) -> int:
    outputs = run_workers(COUNTER_WORKER, [[json.dumps(spec), str(worker), str(TRANSACTIONS)]
                                           for worker in range(PROCESSES)])
    store = ts.KvStore.open(spec).result()
    assert int(store["counter"]) == PROCESSES * TRANSACTIONS
    expected = {f"keys/{worker}/{index:03d}".encode()
                for worker in range(PROCESSES) for index in range(TRANSACTIONS)}
    assert set(store.list(ts.KvStore.KeyRange("keys/", "keys0")).result()) == expected
    # Every transaction is one version, adding one key, after the empty generation 1.
    versions = ts_ocdbt.list_versions(store).result()
    assert [v.num_keys for v in versions] == [0, *range(2, PROCESSES * TRANSACTIONS + 2)]
    return sum(int(out) for out in outputs)


def test_counter_over_file(tmp_path: Path) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}
    retries = check_counter(spec)
    print(f"file: conflicting commits retried: {retries}")
    # Commits that lost a race left their data files behind: garbage, which goes without
    # taking anything from any version.
    store = ts.KvStore.open(spec).result()
    garbage = ts_ocdbt.list_garbage(store).result()
    print(f"file: garbage data files: {len(garbage)}")
    assert ts_ocdbt.delete_garbage(store).result() == garbage
    assert not set(garbage) & {p.relative_to(tmp_path / "db").as_posix() for p in (tmp_path / "db").rglob("*")}
    versions = ts_ocdbt.list_versions(store).result()
    for version in versions[1::37] + versions[-1:]:
        earlier = ts_ocdbt.open_version(store, version.generation_number).result()
        values = {key: earlier.read(key).result().value for key in earlier.list().result()}
        assert len(values) == version.num_keys
        assert int(values[b"counter"]) == version.num_keys - 1


@pytest.fixture(scope="module")
def s3_endpoint() -> Any:
    """The SeaweedFS server of the ts-cloud tests (tests/ts_cloud/cloud_servers.py)."""
    sys.path.insert(0, str(TS_CLOUD_TESTS))
    import cloud_servers

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with cloud_servers.seaweedfs() as endpoint:
        cloud_servers.create_s3_bucket(endpoint, cloud_servers.S3_BUCKET)
        yield endpoint


@pytest.mark.slow
def test_counter_over_s3(s3_endpoint: str) -> None:
    import cloud_servers

    base = cloud_servers.s3_spec(s3_endpoint, cloud_servers.unique_prefix("ocdbt-counter"))
    retries = check_counter({"driver": "ocdbt", "base": base})
    print(f"s3: conflicting commits retried: {retries}")


# Commits transactions of BATCH keys "t/<n>/<j>" plus "last" = n, forever, printing n after
# each commit.
BATCH = 8
LOOPING_WRITER = textwrap.dedent(
    f"""
    import json, sys
    import ts_core as ts

    store = ts.KvStore.open(json.loads(sys.argv[1])).result()
    number = int(store.read("last").result().value or b"-1") + 1
    while True:
        transaction = ts.Transaction(atomic=True)
        view = store.with_transaction(transaction)
        for j in range({BATCH}):
            view[f"t/{{number:05d}}/{{j}}"] = bytes([j]) * (50 + 40 * j)  # some out of line
        view["last"] = str(number).encode()
        transaction.commit_sync()
        print(number, flush=True)
        number += 1
    """
)


def check_consistent(store: ts.KvStore) -> int:
    """Every transaction up to "last" is whole and none after it is there; returns last."""
    last = int(store["last"])
    keys = set(store.list(ts.KvStore.KeyRange("t/", "t0")).result())
    assert keys == {f"t/{n:05d}/{j}".encode() for n in range(last + 1) for j in range(BATCH)}
    return last


def check_kill_9(spec: dict[str, Any]) -> None:
    committed = -1
    for round_, delay in enumerate((0.05, 0.13, 0.31)):
        writer = subprocess.Popen([sys.executable, "-c", LOOPING_WRITER, json.dumps(spec)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert writer.stdout is not None
            first = writer.stdout.readline()  # the writer is up and has committed once
            assert first, writer.stderr.read() if writer.stderr else ""
            time.sleep(delay)  # mostly inside a later commit by now
        finally:
            writer.kill()  # SIGKILL: no cleanup, no flush
            writer.wait()
        printed = [int(line) for line in [first, *writer.stdout.read().split()]]
        store = ts.KvStore.open(spec).result()
        last = check_consistent(store)
        # At least what the writer reported committed; at most one more (killed after the
        # manifest write, before printing).
        assert printed[-1] <= last <= printed[-1] + 1, round_
        assert last > committed
        committed = last
        # Every version still opens and is consistent.
        for version in ts_ocdbt.list_versions(store).result()[-5:]:
            if version.generation_number > 1:
                check_consistent(ts_ocdbt.open_version(store, version.generation_number).result())
    # A new writer continues where the killed ones stopped.
    store = ts.KvStore.open(spec).result()
    store["last"] = str(committed).encode()
    assert check_consistent(store) == committed


def test_kill_9_mid_commit_leaves_last_committed_version(tmp_path: Path) -> None:
    check_kill_9({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"})


@pytest.mark.slow
def test_kill_9_mid_commit_over_s3(s3_endpoint: str) -> None:
    import cloud_servers

    check_kill_9({"driver": "ocdbt", "base": cloud_servers.s3_spec(s3_endpoint, cloud_servers.unique_prefix("ocdbt-kill"))})


# Commits BATCH-key transactions 0..N-1, then dies by SIGKILL in transaction N exactly
# between writing its data files and writing the manifest that would publish them.
KILLED_BEFORE_MANIFEST = textwrap.dedent(
    f"""
    import json, os, signal, sys
    import ts_core as ts

    store = ts.KvStore.open(json.loads(sys.argv[1])).result()
    commits = int(sys.argv[2])

    def transaction(number):
        transaction = ts.Transaction(atomic=True)
        view = store.with_transaction(transaction)
        for j in range({BATCH}):
            view[f"t/{{number:05d}}/{{j}}"] = bytes([j]) * (50 + 40 * j)
        view["last"] = str(number).encode()
        transaction.commit_sync()

    for number in range(commits):
        transaction(number)
    base = store.base.driver
    write = base.write

    def killing_write(key, value, if_equal):
        if key.endswith(b"manifest.ocdbt"):
            os.kill(os.getpid(), signal.SIGKILL)
        return write(key, value, if_equal)

    base.write = killing_write
    transaction(commits)
    """
)


def test_kill_9_between_data_files_and_manifest(tmp_path: Path) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}
    writer = subprocess.run([sys.executable, "-c", KILLED_BEFORE_MANIFEST, json.dumps(spec), "3"],
                            capture_output=True, text=True, timeout=120)
    assert writer.returncode == -9, writer.stderr
    store = ts.KvStore.open(spec).result()
    assert check_consistent(store) == 2
    # The killed commit's data files are there, referenced by nothing: garbage.
    garbage = ts_ocdbt.list_garbage(store).result()
    assert garbage
    assert ts_ocdbt.delete_garbage(store).result() == garbage
    versions = ts_ocdbt.list_versions(store).result()
    assert [v.num_keys for v in versions] == [0, *(n * BATCH + 1 for n in range(1, 4))]
    for version in versions[1:]:
        assert check_consistent(ts_ocdbt.open_version(store, version).result()) == version.generation_number - 2
    store["last"] = b"2"  # and the database takes new commits
    assert check_consistent(store) == 2


ARRAY_SHAPE = (8, 24)
ARRAY_CHUNKS = [4, 3]  # 16 chunks
COMMITS = 6

ZARR3_WRITER = textwrap.dedent(
    f"""
    import json, sys
    import numpy as np
    import ts_core as ts

    spec = json.loads(sys.argv[1])
    array = ts.open(spec, open=True).result()
    for value in range(1, {COMMITS} + 1):
        transaction = ts.Transaction(atomic=True)
        array.with_transaction(transaction)[...] = np.full({ARRAY_SHAPE}, value, dtype=np.int32)
        transaction.commit_sync()
    """
)

# Reads the array at the newest version again and again until the last value shows up;
# prints the sorted set of distinct arrays it saw (each one summarised by its set of values).
ZARR3_READER = textwrap.dedent(
    f"""
    import json, sys
    import numpy as np
    import ts_core as ts
    import ts_ocdbt

    spec = json.loads(sys.argv[1])
    database = ts.KvStore.open(spec["kvstore"]).result()
    seen = set()
    ready = False
    while not any({COMMITS} in values for values in seen):
        newest = ts_ocdbt.list_versions(database).result()[-1].generation_number
        pinned = dict(spec, kvstore=dict(spec["kvstore"], version=newest))
        data = ts.open(pinned, open=True).result().read().result()
        seen.add(tuple(sorted(set(np.unique(data).tolist()))))
        listed = database.list().result()  # one listing reads one version
        chunks = [key for key in listed if key.startswith(b"a/c/")]
        assert len(chunks) in (0, 16), len(chunks)
        if not ready:
            print("ready", flush=True)
            ready = True
    print(json.dumps(sorted(seen)))
    """
)


def test_multi_chunk_zarr3_transaction_is_seen_whole(tmp_path: Path) -> None:
    spec = {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "path": "a/"},
            "metadata": {"shape": list(ARRAY_SHAPE), "data_type": "int32", "fill_value": 0,
                         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": ARRAY_CHUNKS}}}}
    ts.open(spec, create=True).result()
    reader = subprocess.Popen([sys.executable, "-c", ZARR3_READER, json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline() == "ready\n"  # it has read the empty array
        run_workers(ZARR3_WRITER, [[json.dumps(spec)]])
        out, err = reader.communicate(timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    seen = [tuple(values) for values in json.loads(out.splitlines()[-1])]
    # Each array read was one value everywhere: the fill value or one commit's value.
    assert all(len(values) == 1 for values in seen), seen
    final = ts.open(spec, open=True).result().read().result()
    np.testing.assert_array_equal(final, np.full(ARRAY_SHAPE, COMMITS, dtype=np.int32))
