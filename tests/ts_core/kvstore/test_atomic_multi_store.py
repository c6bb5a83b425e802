"""Atomic transactions over several KvStore objects: writes that reach one physical store
(one memory resource, one filesystem) join one atomic unit; a write that cannot join
aborts the whole transaction, so nothing staged is committed (no torn commit).
Differential: the same steps on the tensorstore wheel, which must accept and refuse the
same steps and leave the same stored values."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core
from ts_core.kvstore import (
    KvStore,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TransactionConflictError,
)

tensorstore = pytest.importorskip("tensorstore")

LIBRARIES = pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])


def zarr(ts: Any, kvstore: Any, context: Any, shape: int = 4, chunk: int = 4) -> Any:
    return ts.open(
        {"driver": "zarr", "kvstore": kvstore, "metadata": {"chunks": [chunk]}},
        create=True, dtype=ts.int32, shape=[shape], context=context,
    ).result()


def attempt(step: Callable[[], Any]) -> str | None:
    """None if ``step`` succeeds, else its error message."""
    try:
        step()
    except ValueError as error:
        return str(error)
    return None


def write_each(ts: Any, arrays: list[Any]) -> tuple[list[str | None], str | None]:
    """Write ``i + 1`` into array ``i`` in one atomic transaction, then commit: the error
    of each step (None when accepted)."""
    txn = ts.Transaction(atomic=True)
    steps = [
        attempt(lambda a=array, i=index: a.with_transaction(txn).write(np.full(a.shape, i + 1, np.int32)).result())
        for index, array in enumerate(arrays)
    ]
    return steps, attempt(txn.commit_sync)


# -- one memory resource, several arrays --------------------------------------------------


@LIBRARIES
def test_two_arrays_on_one_memory_resource_commit_together(ts: Any) -> None:
    context = ts.Context()
    arrays = [zarr(ts, "memory://a/", context), zarr(ts, "memory://b/", context)]
    assert write_each(ts, arrays) == ([None, None], None)
    assert [a.read().result().tolist() for a in arrays] == [[1] * 4, [2] * 4]


@LIBRARIES
def test_two_opens_of_one_array_share_staged_writes(ts: Any) -> None:
    context = ts.Context()
    first = zarr(ts, "memory://", context)
    second = ts.open({"driver": "zarr", "kvstore": "memory://"}, context=context).result()
    txn = ts.Transaction(atomic=True)
    first.with_transaction(txn)[0].write(5).result()
    second.with_transaction(txn)[1].write(6).result()
    assert second.with_transaction(txn).read().result().tolist() == [5, 6, 0, 0]  # read-your-writes
    assert first.read().result().tolist() == [0, 0, 0, 0]  # isolated until commit
    txn.commit_sync()
    assert first.read().result().tolist() == [5, 6, 0, 0]


@LIBRARIES
@pytest.mark.parametrize("contexts", [1, 2], ids=["one_context", "two_contexts"])
def test_stack_of_two_zarr_layers_commits_both(ts: Any, contexts: int) -> None:
    shared = ts.Context()
    layers = [
        zarr(ts, f"memory://{name}/", shared if contexts == 1 else ts.Context()) for name in ("x", "y")
    ]
    txn = ts.Transaction(atomic=True)
    assert attempt(lambda: ts.stack(layers).with_transaction(txn).write(np.arange(8, dtype=np.int32).reshape(2, 4)).result()) is None
    txn.commit_sync()
    assert [layer.read().result().tolist() for layer in layers] == [[0, 1, 2, 3], [4, 5, 6, 7]]


@LIBRARIES
def test_sharded_array_and_plain_array_on_one_memory_resource(ts: Any) -> None:
    """The shard goes through the sharding adapter onto the memory store whose commit
    lock the transaction holds: written on the committing thread, no deadlock."""
    context = ts.Context()
    sharded = ts.open(
        {
            "driver": "zarr3", "kvstore": "memory://s/",
            "metadata": {
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4]}},
                "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2], "codecs": [{"name": "bytes"}]}}],
            },
        },
        create=True, dtype=ts.int32, shape=[4], context=context,
    ).result()
    plain = zarr(ts, "memory://p/", context)
    txn = ts.Transaction(atomic=True)
    plain.with_transaction(txn).write(np.full(4, 1, np.int32)).result()
    sharded.with_transaction(txn)[0:2].write(np.full(2, 2, np.int32)).result()
    txn.commit_sync()
    assert (plain.read().result().tolist(), sharded.read().result().tolist()) == ([1] * 4, [2, 2, 0, 0])


@LIBRARIES
def test_memory_and_one_file_key_commit_together(ts: Any, tmp_path: Path) -> None:
    memory = ts.KvStore.open("memory://", context=ts.Context()).result()
    file = ts.KvStore.open(f"file://{tmp_path}/").result()
    txn = ts.Transaction(atomic=True)
    memory.with_transaction(txn).write("m1", b"1").result()
    file.with_transaction(txn).write("f", b"2").result()
    memory.with_transaction(txn).write("m2", b"3").result()
    txn.commit_sync()
    assert [memory.read("m1").result().value, file.read("f").result().value, memory.read("m2").result().value] == [b"1", b"2", b"3"]


# -- a store that commits one key at a time: refusals abort the transaction ---------------


def kvstore_steps(ts: Any, steps: Iterable[tuple[Any, str, bytes | None]], txn: Any) -> list[str | None]:
    """Run (store, key, value) steps in ``txn``: a write, or a read for value None."""
    outcomes = []
    for store, key, value in steps:
        bound = store.with_transaction(txn)
        if value is None:
            outcomes.append(attempt(lambda b=bound, k=key: b.read(k).result()))
        else:
            outcomes.append(attempt(lambda b=bound, k=key, v=value: b.write(k, v).result()))
    return outcomes


def refused(outcomes: list[str | None]) -> list[bool]:
    return [outcome is not None for outcome in outcomes]


@LIBRARIES
def test_file_two_keys_refused_and_nothing_committed(ts: Any, tmp_path: Path) -> None:
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    memory = ts.KvStore.open("memory://", context=ts.Context()).result()
    txn = ts.Transaction(atomic=True)
    outcomes = kvstore_steps(ts, [(memory, "m", b"0"), (store, "a", b"1"), (store, "b", b"2"), (store, "c", b"3")], txn)
    assert refused(outcomes) == [False, False, True, True]
    assert f'Cannot read/write local file "{tmp_path}/a" and read/write local file "{tmp_path}/b" as single atomic transaction' in str(outcomes[2])
    assert "aborted" in str(outcomes[3])
    assert (txn.open, txn.aborted, txn.commit_started) == (False, True, False)
    assert str(txn.future.exception()) == outcomes[2]
    assert attempt(txn.commit_sync) == outcomes[2]  # the commit repeats the refusal
    assert attempt(lambda: txn.commit_async().result()) == outcomes[2]
    assert attempt(lambda: memory.with_transaction(txn).read("m").result()) is not None
    txn.abort()  # already aborted: no error
    for key in ("a", "b", "c"):
        assert store.read(key).result().state == "missing"
    assert memory.read("m").result().state == "missing"  # staged before the refusal: dropped


@LIBRARIES
@pytest.mark.parametrize(
    ("specs", "steps", "expected"),
    [
        ([{"driver": "memory", "atomic": False}], [(0, "a"), (0, "a"), (0, "b")], [False, False, True]),
        ([{"driver": "memory", "atomic": False}, {"driver": "memory"}], [(0, "a"), (1, "b"), (1, "c")], [False, False, False]),
        ([{"driver": "memory"}, {"driver": "memory", "atomic": False}], [(0, "a"), (1, "b"), (1, "c")], [False, False, True]),
        (
            [{"driver": "memory", "atomic": False}, {"driver": "memory", "atomic": False, "memory_key_value_store": {}}],
            [(0, "a"), (1, "b")], [False, True],
        ),
    ],
    ids=["one_store", "with_atomic_store", "atomic_store_first", "two_resources"],
)
def test_memory_without_atomic_matches_the_wheel(ts: Any, specs: list[Any], steps: list[tuple[int, str]], expected: list[bool]) -> None:
    context = ts.Context()
    stores = [ts.KvStore.open(spec, context=context).result() for spec in specs]
    txn = ts.Transaction(atomic=True)
    outcomes = kvstore_steps(ts, [(stores[index], key, b"v") for index, key in steps], txn)
    assert refused(outcomes) == expected
    commit = attempt(txn.commit_sync)
    if any(expected):
        first_refusal = next(o for o in outcomes if o is not None)
        assert commit == first_refusal
        assert 'as single atomic transaction' in first_refusal
    else:
        assert commit is None
    stored = {(index, key): stores[index].read(key).result().state for index, key in steps}
    assert set(stored.values()) == ({"missing"} if any(expected) else {"value"})


@LIBRARIES
def test_repeatable_read_makes_a_file_read_a_dependency(ts: Any, tmp_path: Path) -> None:
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    store.write("a", b"0").result()
    for repeatable_read, expected in [(False, [False, False]), (True, [False, True])]:
        txn = ts.Transaction(atomic=True, repeatable_read=repeatable_read)
        outcomes = kvstore_steps(ts, [(store, "a", None), (store, f"b{repeatable_read}", b"1")], txn)
        assert refused(outcomes) == expected


@LIBRARIES
def test_zarr_arrays_under_one_file_root(ts: Any, tmp_path: Path) -> None:
    """Refused by both (the wheel already at the first write, because its zarr driver
    reads the metadata key in the transaction); nothing is committed either way."""
    arrays = [zarr(ts, f"file://{tmp_path}/a/", ts.Context()), zarr(ts, f"file://{tmp_path}/b/", ts.Context())]
    steps, commit = write_each(ts, arrays)
    assert steps[1] is not None
    first_refusal = next(step for step in steps if step is not None)
    assert "as single atomic transaction" in first_refusal
    assert commit == first_refusal
    assert [a.read().result().tolist() for a in arrays] == [[0] * 4, [0] * 4]


def test_file_keys_through_nested_roots_are_one_key(tmp_path: Path) -> None:
    """ts extension: every file kvstore writes into one filesystem, so a key reached from
    two roots is one key of the transaction (the wheel refuses it as two)."""
    outer = ts_core.KvStore.open(f"file://{tmp_path}/").result()
    inner = ts_core.KvStore.open(f"file://{tmp_path}/sub/").result()
    txn = ts_core.Transaction(atomic=True)
    outer.with_transaction(txn).write("sub/k", b"1").result()
    assert inner.with_transaction(txn).read("k").result().value == b"1"
    inner.with_transaction(txn).write("k", b"2").result()
    txn.commit_sync()
    assert outer.read("sub/k").result().value == b"2"


# -- failures during the commit leave no partial state --------------------------------------


class FailingStore(KvStoreDriver):
    """A kvstore whose writes fail (a storage error at commit time)."""

    id = "failing_test_store"
    spec_class = dict

    @classmethod
    def open(cls, spec: Any, context: Any) -> FailingStore:
        return cls()

    @property
    def spec(self) -> Any:
        return {}

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        return ReadResult("missing")

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        raise OSError(f"disk failed writing {key!r}")

    def delete_range(self, key_range: Any) -> None:
        raise OSError("disk failed")

    def list(self, key_range: Any) -> Iterable[bytes]:
        return []


def memory_arrays() -> list[ts_core.TensorStore]:
    context = ts_core.Context()
    return [
        zarr(ts_core, "memory://a/", context, shape=4, chunk=2),
        zarr(ts_core, "memory://b/", ts_core.Context(), shape=4, chunk=2),
    ]


def test_storage_failure_mid_commit_leaves_memory_untouched() -> None:
    arrays = memory_arrays()
    failing = KvStore(FailingStore(), "")
    txn = ts_core.Transaction(atomic=True)
    for index, array in enumerate(arrays):
        array.with_transaction(txn).write(np.full(4, index + 1, np.int32)).result()
    failing.with_transaction(txn).write("k", b"x").result()
    with pytest.raises(OSError, match="disk failed"):
        txn.commit_sync()
    assert [a.read().result().tolist() for a in arrays] == [[0] * 4, [0] * 4]


def test_failing_chunk_update_mid_commit_leaves_memory_untouched() -> None:
    arrays = memory_arrays()
    txn = ts_core.Transaction(atomic=True)
    arrays[0].with_transaction(txn).write(np.full(4, 1, np.int32)).result()
    arrays[1].with_transaction(txn)[0].write(7).result()  # blind partial write: decoded at commit
    arrays[1].kvstore.write("0", b"not a chunk").result()  # the stored chunk cannot be decoded
    with pytest.raises(ValueError, match="error decoding chunk 'b/0'"):
        txn.commit_sync()
    assert arrays[0].read().result().tolist() == [0] * 4
    assert arrays[1].kvstore.read("0").result().value == b"not a chunk"


def test_conflict_in_one_store_writes_nothing_in_another() -> None:
    arrays = memory_arrays()
    txn = ts_core.Transaction(atomic=True)
    staged = [a.with_transaction(txn) for a in arrays]
    staged[0].write(staged[1][0].read().result() + 1).result()  # reads b, writes a
    arrays[1][0].write(10).result()  # someone changes what was read
    with pytest.raises(TransactionConflictError, match="nothing was written"):
        txn.commit_sync()
    assert arrays[0].read().result().tolist() == [0] * 4


def test_concurrent_atomic_commits_over_two_stores_do_not_deadlock() -> None:
    stores = [ts_core.KvStore.open("memory://", context=ts_core.Context()).result() for _ in range(2)]
    for store in stores:
        store.write("n", b"0").result()

    def increment(order: list[int]) -> None:
        for _ in range(50):
            while True:
                txn = ts_core.Transaction(atomic=True)
                for index in order:
                    bound = stores[index].with_transaction(txn)
                    bound.write("n", str(int(bound.read("n").result().value) + 1).encode()).result()
                try:
                    txn.commit_sync()
                    break
                except TransactionConflictError:
                    continue

    threads = [threading.Thread(target=increment, args=(order,)) for order in ([0, 1], [1, 0])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert [store.read("n").result().value for store in stores] == [b"100", b"100"]


def test_non_atomic_transaction_over_several_stores(tmp_path: Path) -> None:
    arrays = [*memory_arrays(), zarr(ts_core, f"file://{tmp_path}/", ts_core.Context(), shape=4, chunk=2)]
    txn = ts_core.Transaction()
    for index, array in enumerate(arrays):
        array.with_transaction(txn).write(np.full(4, index + 1, np.int32)).result()
    txn.commit_sync()
    assert [a.read().result().tolist() for a in arrays] == [[1] * 4, [2] * 4, [3] * 4]
