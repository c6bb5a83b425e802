"""Transactions over ``ocdbt``: all of a transaction's keys of one database are one new
version (through the ``commit_atomic`` driver hook), or nothing is written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import TransactionConflictError
from ts_core.kvstore import NO_VALUE, StagedWrite, StagedWrites


def open_db(tmp_path: Path, **members: object) -> ts.KvStore:
    return ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/", **members}).result()


def generation(store: ts.KvStore) -> int:
    """The database's latest generation number (0: no version yet)."""
    snapshot = store.driver.load_manifest()
    return 0 if snapshot.manifest is None else int(snapshot.manifest.latest_generation)


@pytest.mark.parametrize("atomic", [True, False])
def test_transaction_commits_one_version(tmp_path: Path, atomic: bool) -> None:
    store = open_db(tmp_path)
    store["before"] = b"0"
    start = generation(store)
    txn = ts.Transaction(atomic=atomic)
    view = store.with_transaction(txn)
    for index in range(20):
        view[f"k{index:02d}"] = str(index).encode()
    view["big"] = b"x" * 5000  # out of line, in a data file
    del view["before"]
    assert generation(store) == start  # nothing visible before the commit
    txn.commit_sync()
    assert generation(store) == start + 1
    assert store.list().result() == sorted([f"k{i:02d}".encode() for i in range(20)] + [b"big"])
    assert store["big"] == b"x" * 5000


def test_failing_condition_writes_nothing(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    store["counter"] = b"1"
    txn = ts.Transaction(atomic=True)
    view = store.with_transaction(txn)
    value = int(view["counter"])
    view["counter"] = str(value + 1).encode()
    view["other"] = b"new"
    store["counter"] = b"10"  # a concurrent committer
    before = generation(store)
    with pytest.raises(TransactionConflictError, match="nothing was written"):
        txn.commit_sync()
    assert generation(store) == before
    assert store["counter"] == b"10"
    assert store.read("other").result().state == "missing"


def test_read_only_key_is_validated_in_the_same_commit(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    store["config"] = b"a"
    txn = ts.Transaction()
    view = store.with_transaction(txn)
    assert view["config"] == b"a"
    view["result"] = b"computed from a"
    store["config"] = b"b"
    with pytest.raises(TransactionConflictError):
        txn.commit_sync()
    assert store.read("result").result().state == "missing"


def test_blind_modification_is_reapplied_after_a_lost_race(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    other = open_db(tmp_path)  # a second opening: its own manifest cache
    store["log"] = b"a"
    calls: list[bytes | None] = []

    def append(value: bytes | None) -> bytes:
        calls.append(value)
        if len(calls) == 1:
            other["log"] = b"ab"  # another committer wins the manifest meanwhile
        return (value or b"") + b"c"

    assert store.driver.commit_atomic([StagedWrite(b"log", append)])
    assert calls == [b"a", b"ab"]
    assert store["log"] == b"abc"


def test_condition_is_rechecked_after_a_lost_race(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    other = open_db(tmp_path)
    stamp = store.write("k", b"1").result()

    def conflicting(value: bytes | None) -> bytes:
        other["k"] = b"2"
        return b"3"

    assert not store.driver.commit_atomic([StagedWrite(b"k", conflicting, stamp.generation)])
    assert store["k"] == b"2"
    assert store.driver.commit_atomic([StagedWrite(b"absent", lambda v: b"x", NO_VALUE)])
    assert not store.driver.commit_atomic([StagedWrite(b"absent", lambda v: b"y", NO_VALUE)])


def test_delete_range_in_an_atomic_transaction(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    for key in ("a/1", "a/2", "b/1"):
        store[key] = b"v"
    start = generation(store)
    txn = ts.Transaction(atomic=True)
    view = store.with_transaction(txn)
    view.delete_range(ts.KvStore.KeyRange("a/", "a0")).result()
    view["a/3"] = b"new"
    txn.commit_sync()
    assert generation(store) == start + 1
    assert store.list().result() == [b"a/3", b"b/1"]


def test_two_databases_cannot_share_an_atomic_transaction(tmp_path: Path) -> None:
    first = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/one/"}).result()
    second = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/two/"}).result()
    txn = ts.Transaction(atomic=True)
    first.with_transaction(txn)["a"] = b"1"
    first.with_transaction(txn)["b"] = b"1"  # any number of keys of one database
    with pytest.raises(ValueError, match="single atomic transaction"):
        second.with_transaction(txn)["a"] = b"2"
    assert txn.aborted
    assert first.list().result() == []


def test_two_openings_of_one_database_are_one_store(tmp_path: Path) -> None:
    first, second = open_db(tmp_path), open_db(tmp_path)
    txn = ts.Transaction(atomic=True)
    first.with_transaction(txn)["a"] = b"1"
    assert second.with_transaction(txn)["a"] == b"1"  # sees the staged write
    second.with_transaction(txn)["b"] = b"2"
    txn.commit_sync()
    assert first.list().result() == [b"a", b"b"]


def test_atomic_with_memory_arrays(tmp_path: Path) -> None:
    """Memory keys join the OCDBT commit: all or nothing across both."""
    context = ts.Context()
    memory = ts.KvStore.open("memory://m/", context=context).result()
    store = open_db(tmp_path)
    store["k"] = b"1"
    txn = ts.Transaction(atomic=True)
    memory.with_transaction(txn)["x"] = b"staged"
    view = store.with_transaction(txn)
    view["k"] = str(int(view["k"]) + 1).encode()
    store["k"] = b"5"  # makes the OCDBT part fail
    with pytest.raises(TransactionConflictError):
        txn.commit_sync()
    assert memory.read("x").result().state == "missing"

    txn = ts.Transaction(atomic=True)
    memory.with_transaction(txn)["x"] = b"staged"
    store.with_transaction(txn)["k"] = b"6"
    txn.commit_sync()
    assert memory["x"] == b"staged"
    assert store["k"] == b"6"


def test_read_only_version_refuses_transactional_writes(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    store["a"] = b"1"
    pinned = open_db(tmp_path, version=1)
    txn = ts.Transaction()
    pinned.with_transaction(txn)["a"] = b"2"
    with pytest.raises(ValueError, match="Writing is not supported with version=v1"):
        txn.commit_sync()
    assert store["a"] == b"1"


@pytest.mark.parametrize("sharded", [False, True])
def test_zarr3_multi_chunk_write_is_one_version(tmp_path: Path, sharded: bool) -> None:
    store = open_db(tmp_path)
    codecs = (
        [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2], "codecs": [{"name": "bytes"}]}}]
        if sharded else [{"name": "bytes"}]
    )
    metadata = {
        "shape": [8, 8], "data_type": "uint16", "codecs": codecs,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}},
    }
    kvstore = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "path": "a/"}
    array = ts.open({"driver": "zarr3", "kvstore": kvstore, "metadata": metadata}, create=True).result()
    start = generation(store)
    txn = ts.Transaction(atomic=True)
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    array.with_transaction(txn).write(data).result()
    assert generation(store) == start
    txn.commit_sync()
    assert generation(store) == start + 1
    np.testing.assert_array_equal(array.read().result(), data)

    # Also through ts.open(..., transaction=txn) of the same array.
    txn = ts.Transaction(atomic=True)
    view = ts.open(array.spec(), transaction=txn).result()
    view[2:6, 2:6] = 0
    txn.commit_sync()
    assert generation(store) == start + 2
    data[2:6, 2:6] = 0
    np.testing.assert_array_equal(array.read().result(), data)


def test_aborted_transaction_leaves_no_version(tmp_path: Path) -> None:
    store = open_db(tmp_path)
    store["a"] = b"1"
    start = generation(store)
    txn = ts.Transaction(atomic=True)
    store.with_transaction(txn)["b"] = b"2"
    txn.abort()
    assert generation(store) == start
    assert store.list().result() == [b"a"]


@pytest.mark.parametrize("driver", ["zarr", "n5"])
def test_other_formats_commit_one_version(tmp_path: Path, driver: str) -> None:
    store = open_db(tmp_path)
    kvstore = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "path": "x/"}
    array = ts.open({"driver": driver, "kvstore": kvstore}, create=True, dtype=ts.int16, shape=[6, 6],
                    chunk_layout=ts.ChunkLayout(chunk_shape=[3, 3])).result()
    start = generation(store)
    txn = ts.Transaction(atomic=True)
    data = np.arange(36, dtype=np.int16).reshape(6, 6)
    array.with_transaction(txn).write(data).result()
    txn.commit_sync()
    assert generation(store) == start + 1
    np.testing.assert_array_equal(array.read().result(), data)


def test_atomic_commit_over_memory_with_memory_keys_and_a_concurrent_writer() -> None:
    """The transaction holds the memory store's lock while OCDBT commits into that same
    memory store; another thread keeps committing to the database meanwhile."""
    import threading

    context = ts.Context()
    store = ts.KvStore.open({"driver": "ocdbt", "base": "memory://db/"}, context=context).result()
    side = ts.KvStore.open("memory://side/", context=context).result()
    stop = threading.Event()

    def writer() -> None:
        index = 0
        while not stop.is_set():
            store[f"w/{index}"] = b"x"
            index += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for round_ in range(10):
            txn = ts.Transaction(atomic=True)
            side.with_transaction(txn)[f"s{round_}"] = b"1"
            store.with_transaction(txn)[f"t{round_}"] = b"1"
            txn.commit_sync()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [k for k in store.list().result() if k.startswith(b"t")] == [f"t{i}".encode() for i in range(10)]
    assert len(side.list().result()) == 10


def _slow_setting(value: bytes, threads: set[str]) -> object:
    """A blind write's ``modify`` slow enough (a chunk being encoded) to be computed on the
    driver's pool; it records the thread it ran on."""

    def modify(_: bytes | None) -> bytes:
        threads.add(threading.current_thread().name)
        time.sleep(0.002)
        return value

    return modify


def test_slow_blind_writes_are_computed_on_several_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_ocdbt import _values

    monkeypatch.setattr(_values, "default_concurrency", lambda: 4)
    store = open_db(tmp_path)
    threads: set[str] = set()
    writes = [StagedWrite(b"k%02d" % i, _slow_setting(b"v%d" % i, threads), reads_stored=False) for i in range(24)]  # type: ignore[arg-type]
    assert store.driver.commit_atomic(writes)
    assert len(threads) > 1
    assert {key: store[key] for key in store.list().result()} == {b"k%02d" % i: b"v%d" % i for i in range(24)}


def _slow_append(suffix: bytes, threads: set[str]) -> object:
    """A read-modify-write's ``modify`` (a partial chunk being merged and encoded): the
    stored value with ``suffix`` appended, slowly; it records the thread it ran on."""

    def modify(stored: bytes | None) -> bytes:
        threads.add(threading.current_thread().name)
        time.sleep(0.002)
        return (b"<none>" if stored is None else stored) + suffix

    return modify


def _read_modify_writes(store: ts.KvStore, threads: set[str]) -> tuple[list[StagedWrite], dict[bytes, bytes]]:
    """Writes of 24 keys that read what is stored (inline, out of line, deleted by a
    range, or missing; one conditioned on its generation), and the values they make."""
    for index in range(16):
        store[b"k%02d" % index] = (b"s%d" % index) if index % 2 else (b"L%d" % index) * 100
    condition = store.read(b"k03").result().stamp.generation
    writes = [
        StagedWrite(b"k%02d" % i, _slow_append(b"+", threads), condition if i == 3 else None)  # type: ignore[arg-type]
        for i in range(24)
    ]
    expected = {}
    for index in range(24):
        stored = None if index >= 16 or 12 <= index < 14 else store[b"k%02d" % index]
        expected[b"k%02d" % index] = (b"<none>" if stored is None else stored) + b"+"
    return writes, expected


def test_slow_read_modify_writes_are_computed_on_several_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_ocdbt import _values

    results = {}
    # The reference: each write committed alone, by the general (one write at a time) path.
    store = open_db(tmp_path / "general")
    writes, expected = _read_modify_writes(store, set())
    store.driver.commit_atomic([], [ts.KvStore.KeyRange(b"k12", b"k14")])
    for write in writes:
        assert store.driver.commit_atomic([write])
    results[0] = {key: store[key] for key in store.list().result()}
    assert results[0] == expected
    for concurrency in (1, 4):
        monkeypatch.setattr(_values, "default_concurrency", lambda concurrency=concurrency: concurrency)
        store = open_db(tmp_path / str(concurrency))
        threads: set[str] = set()
        writes, expected = _read_modify_writes(store, threads)
        assert store.driver.commit_atomic(writes, [ts.KvStore.KeyRange(b"k12", b"k14")])
        assert (len(threads) > 1) == (concurrency > 1)
        results[concurrency] = {key: store[key] for key in store.list().result()}
        assert results[concurrency] == results[0]


def test_a_failed_condition_among_read_modify_writes_computes_and_commits_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_ocdbt import _values

    monkeypatch.setattr(_values, "default_concurrency", lambda: 4)
    store = open_db(tmp_path)
    threads: set[str] = set()
    writes, _ = _read_modify_writes(store, threads)
    start = generation(store)
    store[b"k03"] = b"changed"  # the condition of the write of k03 fails now
    assert not store.driver.commit_atomic(writes)
    assert generation(store) == start + 1
    assert not threads
    assert store[b"k05"] == b"s5"


def test_a_failing_blind_write_on_the_pool_commits_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_ocdbt import _values

    monkeypatch.setattr(_values, "default_concurrency", lambda: 4)
    store = open_db(tmp_path)
    store["before"] = b"0"
    start = generation(store)
    threads: set[str] = set()

    def fails(_: bytes | None) -> bytes:
        raise ValueError("chunk 7 cannot be encoded")

    writes = [StagedWrite(b"k%02d" % i, _slow_setting(b"v", threads), reads_stored=False) for i in range(12)]  # type: ignore[arg-type]
    writes[7] = StagedWrite(b"k07", fails, reads_stored=False)
    with pytest.raises(ValueError, match="chunk 7 cannot be encoded"):
        store.driver.commit_atomic(writes)
    assert generation(store) == start
    assert store.list().result() == [b"before"]



def _stage_and_commit(root: Path) -> tuple[dict[bytes, bytes], np.ndarray]:
    """A mixed atomic transaction over one database (whole writes, overwrites, deletes, a
    conditional write, a read, a deleted range, partial and whole chunk writes of an
    array), committed; what the database then holds."""
    store = open_db(root)
    for index in range(30):
        store[f"k{index:02d}"] = b"old%d" % index
    store["z"] = b"before"
    condition = store.read("z").result().stamp.generation
    array = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": f"file://{root}/db/", "path": "a/"}},
        create=True, dtype=ts.uint16, shape=[8, 8], chunk_layout=ts.ChunkLayout(chunk_shape=[4, 4]),
    ).result()
    array[:4, :4] = 7
    txn = ts.Transaction(atomic=True)
    view = store.with_transaction(txn)
    for index in range(40):
        view[f"k{index:02d}"] = b"new%d" % index
    for index in range(0, 40, 7):
        view[f"k{index:02d}"] = b"again%d" % index  # an overwrite of a staged key
    for index in range(3, 40, 5):
        view.delete(f"k{index:02d}").result()
    view.write("z", b"conditional", if_equal=condition).result()
    assert view["k02"] == b"new2"  # read your writes
    view.delete_range(ts.KvStore.KeyRange(b"k2", b"k25")).result()
    view["k21"] = b"after the range"
    staged = array.with_transaction(txn)
    staged[1:3, 1:3] = 9  # a partial chunk: a modification of the stored one
    staged[4:, 4:] = 5  # a whole chunk
    staged[5, 0] = 3
    view["k02"] = b"last"
    txn.commit_sync()
    contents = {key: store[key] for key in store.list().result() if not key.startswith(b"a/")}
    return contents, array.read().result()


def test_the_staging_shortcut_stages_as_the_general_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Differential: a store whose writes need nothing more claimed is staged through
    # directly (``Transaction._direct``); with the shortcut disabled every write takes
    # the general path. Both commit the same database.
    from ts_core.kvstore._transaction import Transaction

    shortcut = _stage_and_commit(tmp_path / "shortcut")
    monkeypatch.setattr(Transaction, "_fast_staging", lambda self, driver, known: False)
    general = _stage_and_commit(tmp_path / "general")
    assert shortcut[0] == general[0]
    np.testing.assert_array_equal(shortcut[1], general[1])
    expected = {b"k%02d" % i: b"new%d" % i for i in range(40)}
    expected.update({b"k%02d" % i: b"again%d" % i for i in range(0, 40, 7)})
    for index in range(3, 40, 5):
        del expected[b"k%02d" % index]
    for key in [key for key in expected if b"k2" <= key < b"k25"]:
        del expected[key]
    expected.update({b"k21": b"after the range", b"k02": b"last", b"z": b"conditional"})
    assert shortcut[0] == expected
    values = np.zeros((8, 8), np.uint16)
    values[:4, :4] = 7
    values[1:3, 1:3] = 9
    values[4:, 4:] = 5
    values[5, 0] = 3
    np.testing.assert_array_equal(shortcut[1], values)


def test_blind_writes_of_one_key_in_one_commit_take_the_last(tmp_path: Path) -> None:
    # commit_atomic given a key twice among blind writes: the last write wins, as one
    # write after the other would; a deletion among them deletes.
    store = open_db(tmp_path)
    store["gone"] = b"old"
    writes = [
        StagedWrite(b"a", lambda _: b"first", None, False),
        StagedWrite(b"b", lambda _: b"kept", None, False),
        StagedWrite(b"a", lambda _: b"second", None, False),
        StagedWrite(b"gone", lambda _: None, None, False),
    ]
    assert store.driver.commit_atomic(writes)
    assert store.list().result() == [b"a", b"b"]
    assert store["a"] == b"second"
    assert store["b"] == b"kept"


def test_commit_atomic_takes_staged_whole_values_with_the_writes(tmp_path: Path) -> None:
    # A transaction hands commit_atomic a StagedWrites: blind whole values as one dict
    # beside the other writes. All of them become one version, or none when a write's
    # condition fails.
    store = open_db(tmp_path)
    store["counter"] = b"1"
    store["gone"] = b"old"
    counter = store.read("counter").result().stamp.generation
    start = generation(store)
    writes = StagedWrites([StagedWrite(b"counter", lambda old: old + b"+", counter)], {b"a": b"1", b"gone": None})
    assert len(writes) == 3
    assert [write.key for write in writes] == [b"counter", b"a", b"gone"]  # the writes, then the values
    assert [write.modify(b"stored") for write in writes[1:]] == [b"1", None]
    assert not any(write.reads_stored or write.condition for write in writes[1:])
    assert store.driver.commit_atomic(writes)
    assert generation(store) == start + 1
    assert {key: store[key] for key in store.list().result()} == {b"a": b"1", b"counter": b"1+"}
    stale = StagedWrites([StagedWrite(b"counter", lambda old: b"lost", counter)], {b"b": b"2"})
    assert not store.driver.commit_atomic(stale)
    assert generation(store) == start + 1
    assert store.list().result() == [b"a", b"counter"]


def test_whole_values_then_other_operations_on_their_keys(tmp_path: Path) -> None:
    # Plain writes are staged as whole values (no entry per key); reading, conditioning,
    # modifying, deleting by range, listing or writing one of their keys through another
    # opening of the database sees and keeps the staged value.
    store, other = open_db(tmp_path), open_db(tmp_path)
    store["kept"] = b"stored"
    txn = ts.Transaction(atomic=True)
    view, other_view = store.with_transaction(txn), other.with_transaction(txn)
    for index in range(10):
        view[f"k{index}"] = b"v%d" % index
    assert view["k1"] == b"v1"  # read your writes
    view.write("k2", b"conditioned", if_equal=NO_VALUE).result()
    view.delete_range(ts.KvStore.KeyRange(b"k3", b"k5")).result()
    view["k4"] = b"after the range"
    other_view["k5"] = b"other"
    assert view["k5"] == b"other"
    view["k6"] = b"last"
    assert view.list().result() == sorted([b"kept", b"k0", b"k1", b"k2", b"k4", b"k5", b"k6", b"k7", b"k8", b"k9"])
    txn.commit_sync()
    expected = {b"kept": b"stored", b"k0": b"v0", b"k1": b"v1", b"k2": b"conditioned", b"k4": b"after the range",
                b"k5": b"other", b"k6": b"last", b"k7": b"v7", b"k8": b"v8", b"k9": b"v9"}
    assert {key: store[key] for key in store.list().result()} == expected


@pytest.mark.parametrize("atomic", [True, False])
def test_whole_values_of_a_key_by_key_store_and_a_memory_store(tmp_path: Path, atomic: bool) -> None:
    # Stores that commit key by key (file, memory) get their whole values as entries.
    files = ts.KvStore.open(f"file://{tmp_path}/files/").result()
    memory = ts.KvStore.open({"driver": "memory"}).result()
    txn = ts.Transaction(atomic=atomic)
    memory_view = memory.with_transaction(txn)
    for index in range(5):
        memory_view[f"m{index}"] = b"%d" % index
    del memory_view["m3"]
    files.with_transaction(txn)["f"] = b"file"
    if not atomic:
        files_view = files.with_transaction(txn)
        for index in range(5):
            files_view[f"f{index}"] = b"%d" % index
    txn.commit_sync()
    assert {key: memory[key] for key in memory.list().result()} == {b"m0": b"0", b"m1": b"1", b"m2": b"2", b"m4": b"4"}
    expected = {b"f": b"file"} | ({} if atomic else {b"f%d" % i: b"%d" % i for i in range(5)})
    assert {key: files[key] for key in files.list().result()} == expected
