"""Transactions on arrays: isolation, read-your-writes, conflicts, re-applied blind writes,
and the multi-process guarantees (exact counters, no lost writes, no torn chunks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.kvstore import TransactionConflictError


def zarr_spec(path: Path) -> dict[str, Any]:
    return {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{path}/"}}


@pytest.fixture
def array(tmp_path: Path) -> ts.TensorStore:
    return ts.open(
        {**zarr_spec(tmp_path), "metadata": {"chunks": [4, 4]}}, create=True, dtype=ts.int32, shape=[8, 8]
    ).result()


def test_isolation_and_read_your_writes(array: ts.TensorStore, tmp_path: Path) -> None:
    other = ts.open(zarr_spec(tmp_path)).result()
    txn = ts.Transaction()
    staged = array.with_transaction(txn)
    staged[1, 1:3].write([5, 6]).result()
    np.testing.assert_array_equal(staged[1, 0:4].read().result(), [0, 5, 6, 0])
    np.testing.assert_array_equal(other[1, 0:4].read().result(), [0, 0, 0, 0])
    np.testing.assert_array_equal(array[1, 0:4].read().result(), [0, 0, 0, 0])
    assert staged[1:2].transaction is txn  # indexing keeps the transaction
    txn.commit_sync()
    np.testing.assert_array_equal(other[1, 0:4].read().result(), [0, 5, 6, 0])


def test_abort_discards_and_commit_after_abort_raises(array: ts.TensorStore) -> None:
    txn = ts.Transaction()
    array.with_transaction(txn)[0, 0].write(7).result()
    txn.abort()
    assert txn.aborted
    assert not txn.open
    assert array[0, 0].read().result() == 0
    with pytest.raises(ValueError, match="aborted"):
        txn.commit_sync()
    with pytest.raises(ValueError, match="no longer open"):
        array.with_transaction(txn)[0, 0].write(1).result()


def test_context_manager_commits_or_aborts(array: ts.TensorStore) -> None:
    with ts.Transaction() as txn:
        array.with_transaction(txn)[0, 0].write(1).result()
    assert txn.commit_started
    assert array[0, 0].read().result() == 1
    def change_mind() -> ts.Transaction:
        with ts.Transaction() as txn:
            array.with_transaction(txn)[0, 0].write(99).result()
            raise RuntimeError(txn)

    with pytest.raises(RuntimeError) as info:
        change_mind()
    txn = info.value.args[0]
    assert txn.aborted
    assert array[0, 0].read().result() == 1


def test_async_context_manager(array: ts.TensorStore) -> None:
    import asyncio

    async def main() -> None:
        async with ts.Transaction() as txn:
            await array.with_transaction(txn)[2, 2].write(3)

    asyncio.run(main())
    assert array[2, 2].read().result() == 3


def test_open_with_transaction(array: ts.TensorStore, tmp_path: Path) -> None:
    txn = ts.Transaction()
    staged = ts.open(zarr_spec(tmp_path), transaction=txn).result()
    assert staged.transaction is txn
    staged[3, 3].write(4).result()
    assert array[3, 3].read().result() == 0
    txn.commit_sync()
    assert array[3, 3].read().result() == 4


def test_blind_partial_writes_are_reapplied_on_conflict(array: ts.TensorStore) -> None:
    txn = ts.Transaction()
    array.with_transaction(txn)[0, 0].write(1).result()  # not read: a blind write
    array[0, 1].write(2).result()  # a concurrent writer changes the same chunk
    txn.commit_sync()
    np.testing.assert_array_equal(array[0, 0:3].read().result(), [1, 2, 0])


def test_read_dependent_write_conflicts(array: ts.TensorStore) -> None:
    txn = ts.Transaction()
    staged = array.with_transaction(txn)
    value = staged[0, 0].read().result()
    staged[0, 0].write(value + 1).result()
    array[0, 0].write(10).result()
    with pytest.raises(TransactionConflictError, match="conflict"):
        txn.commit_sync()
    assert array[0, 0].read().result() == 10


def test_repeatable_read_false_does_not_validate_reads(array: ts.TensorStore) -> None:
    txn = ts.Transaction(repeatable_read=False)
    staged = array.with_transaction(txn)
    value = staged[0, 0].read().result()
    array[0, 0].write(10).result()
    staged[0, 1].write(value + 1).result()
    txn.commit_sync()  # documented: the read is not validated
    np.testing.assert_array_equal(array[0, 0:2].read().result(), [10, 1])


def test_atomic_transaction_on_file_limits_to_one_key(array: ts.TensorStore) -> None:
    txn = ts.Transaction(atomic=True)
    staged = array.with_transaction(txn)
    staged[0, 0].write(1).result()  # chunk 0.0
    with pytest.raises(ValueError, match="cannot commit more than one key atomically"):
        staged[7, 7].write(1).result()  # chunk 1.1


def test_atomic_multi_chunk_transaction_on_memory() -> None:
    store = ts.open(
        {"driver": "zarr", "kvstore": "memory://", "metadata": {"chunks": [2]}}, create=True, dtype=ts.int32, shape=[4]
    ).result()
    txn = ts.Transaction(atomic=True)
    staged = store.with_transaction(txn)
    staged.write(staged.read().result() + np.array([1, 2, 3, 4], dtype=np.int32)).result()
    store[0].write(100).result()
    with pytest.raises(TransactionConflictError, match="nothing was written"):
        txn.commit_sync()
    np.testing.assert_array_equal(store.read().result(), [100, 0, 0, 0])


def test_write_futures(array: ts.TensorStore) -> None:
    futures = array[0].write(5)
    futures.copy.result()
    futures.commit.result()
    assert futures.done()
    np.testing.assert_array_equal(array[0].read().result(), np.full(8, 5))


def run_workers(code: str, count: int, *args: str) -> list[str]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(index), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(count)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        outputs.append(out)
    return outputs


INCREMENT_WORKER = """
    import sys
    import ts_core as ts
    from ts_core.kvstore import TransactionConflictError

    _, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}}).result()
    retries = 0
    for _ in range(count):
        while True:
            txn = ts.Transaction()
            staged = store.with_transaction(txn)
            try:
                staged[3].write(staged[3].read().result() + 1).result()
                txn.commit_sync()
                break
            except TransactionConflictError:
                retries += 1
    print(retries)
"""


def test_multiprocess_transactional_increments(tmp_path: Path) -> None:
    """4 processes x 100 read-increment-write transactions on one element: exact count."""
    ts.open({**zarr_spec(tmp_path), "metadata": {"chunks": [8]}}, create=True, dtype=ts.int64, shape=[8]).result()
    outputs = run_workers(INCREMENT_WORKER, 4, f"{tmp_path}/", "100")
    store = ts.open(zarr_spec(tmp_path)).result()
    assert store[3].read().result() == 400
    print("conflicts retried:", sum(int(o) for o in outputs))


DISJOINT_WORKER = """
    import sys
    import ts_core as ts

    index, path = int(sys.argv[1]), sys.argv[2]
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}}).result()
    for column in range(index, 64, 4):  # this worker's share of every chunk
        store[:, column].write(column + 1).result()
"""


def test_multiprocess_disjoint_writes_to_shared_chunks(tmp_path: Path) -> None:
    """4 processes write interleaved columns of the same chunks without transactions: nothing lost."""
    ts.open({**zarr_spec(tmp_path), "metadata": {"chunks": [2, 64]}}, create=True, dtype=ts.int32, shape=[4, 64]).result()
    run_workers(DISJOINT_WORKER, 4, f"{tmp_path}/")
    store = ts.open(zarr_spec(tmp_path)).result()
    np.testing.assert_array_equal(store.read().result(), np.tile(np.arange(1, 65, dtype=np.int32), (4, 1)))


BULK_WRITER = """
    import sys
    import numpy as np
    import ts_core as ts

    path, value = sys.argv[2], int(sys.argv[3])
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}}).result()
    print("ready", flush=True)
    store.write(np.full(store.shape, value, dtype=np.int32)).result()
    print("done", flush=True)
"""


def test_killed_writer_leaves_no_torn_chunk(tmp_path: Path) -> None:
    """kill -9 at several points of a 200-chunk write: every chunk decodes and is all-old or
    all-new, and at least one kill landed mid-write (so the check saw a partial write)."""
    spec = {**zarr_spec(tmp_path), "metadata": {"chunks": [16, 16], "compressor": {"id": "zstd", "level": 1}}}
    store = ts.open(spec, create=True, dtype=ts.int32, shape=[20 * 16, 10 * 16]).result()
    old = 1
    store.write(np.full(store.shape, old, dtype=np.int32)).result()
    partial_writes_seen = 0
    for attempt, delay in enumerate([0.01, 0.03, 0.06, 0.1, 0.2, 0.4]):
        new = old + 1
        writer = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(BULK_WRITER), "0", f"{tmp_path}/", str(new)],
            stdout=subprocess.PIPE, text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        data = ts.open(zarr_spec(tmp_path)).result().read().result()
        chunks = data.reshape(20, 16, 10, 16).transpose(0, 2, 1, 3).reshape(200, -1)
        firsts = chunks[:, 0]
        assert (chunks == firsts[:, None]).all(), f"attempt {attempt}: a chunk mixes values"
        assert set(np.unique(firsts)) <= {old, new}, f"attempt {attempt}: unexpected values"
        if 0 < (firsts == new).sum() < 200:
            partial_writes_seen += 1
        # The next attempt overwrites whatever this one left: make it uniform first.
        store.write(np.full(store.shape, new, dtype=np.int32)).result()
        old = new
    assert partial_writes_seen >= 1


COMMITTER = """
    import sys
    import ts_core as ts

    path = sys.argv[2]
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}}).result()
    with ts.Transaction() as txn:
        store.with_transaction(txn)[5].write(42).result()
    print("committed", flush=True)
    import time
    time.sleep(60)
"""


def test_committed_write_survives_kill(tmp_path: Path) -> None:
    ts.open(zarr_spec(tmp_path), create=True, dtype=ts.int32, shape=[10]).result()
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(COMMITTER), "0", f"{tmp_path}/"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "committed"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert ts.open(zarr_spec(tmp_path)).result()[5].read().result() == 42


CREATOR = """
    import sys, time
    import ts_core as ts

    index, path, start = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.001)
    dtype = ts.int32 if index == 0 else ts.float64
    try:
        ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": path}},
                create=True, open=True, dtype=dtype, shape=[10]).result()
        print("ok")
    except ValueError as error:
        print("error:", error)
"""


def test_concurrent_creates_with_different_metadata(tmp_path: Path) -> None:
    outputs = run_workers(CREATOR, 2, f"{tmp_path}/", str(time.time() + 1.0))
    results = sorted(o.strip() for o in outputs)
    assert sum(r == "ok" for r in results) == 1, results
    assert any("error:" in r and ("dtype" in r or "different metadata" in r) for r in results), results


def test_whole_chunks_staged_in_a_transaction_commit_their_own_copy() -> None:
    """Whole interior chunks are encoded at commit straight from the transaction's staged
    copy: the caller's later changes do not leak in, and a chunk equal to the fill value is
    still not stored."""
    store = ts.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype=ts.uint16,
                    shape=[8, 6], chunk_layout=ts.ChunkLayout(chunk_shape=[4, 3])).result()
    source = np.arange(48, dtype=np.uint16).reshape(8, 6)
    source[4:, 3:] = 0  # one chunk all fill
    expected = source.copy()
    txn = ts.Transaction()
    store.with_transaction(txn)[...] = source
    source[:] = 99
    txn.commit_sync()
    assert np.array_equal(store.read().result(), expected)
    assert sorted(store.kvstore.list().result()) == [
        b"c/0/0", b"c/0/1", b"c/1/0", b"zarr.json"]
