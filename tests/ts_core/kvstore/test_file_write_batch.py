"""The file driver's write batch (bulk writes): group commit, fallbacks and failures."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.driver import ChunkStorageError
from ts_core.kvstore import UNKNOWN
from ts_core.kvstore.file import LOCK_SUFFIX
from ts_core.kvstore.file import _driver as file_driver


@pytest.fixture(params=["group commit", "fsync per file"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ts.KvStore:
    if request.param == "fsync per file":
        monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: None)
    return ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()


def _full(store: ts.KvStore, key: str) -> bytes:
    return (store.path + key).encode()


def test_values_visible_after_finish_with_their_generations(store: ts.KvStore, tmp_path: Path) -> None:
    batch = store._driver.write_batch()
    stamps = {f"d/{i}": batch.write(_full(store, f"d/{i}"), b"v%d" % i * 100, None) for i in range(70)}
    batch.finish()
    for key, stamp in stamps.items():
        result = store.read(key).result()
        assert result.value == b"v%d" % int(key[2:]) * 100
        assert result.stamp.generation == stamp.generation
    assert not [p for p in (tmp_path / "root" / "d").iterdir() if p.name.endswith(LOCK_SUFFIX)]


def test_group_commit_stages_values_until_committed(tmp_path: Path) -> None:
    # Where syncfs is trusted (local Linux filesystems such as this suite's tmp), values
    # wait in their lock files until a group is committed; elsewhere they are written
    # through at once. Both are correct; this checks that the detection and the staging
    # agree.
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    kind = file_driver._filesystem_type(os.stat(tmp_path).st_dev)
    grouped = file_driver._syncfs_for(f"{tmp_path}/x") is not None
    assert grouped == (kind in file_driver._SYNCFS_FILESYSTEMS)
    batch = store._driver.write_batch()
    batch.write(_full(store, "staged"), b"new", None)
    assert store.read("staged").result().state == ("missing" if grouped else "value")
    batch.finish()
    assert store["staged"] == b"new"


def test_same_key_twice_in_one_batch_last_value_wins(store: ts.KvStore) -> None:
    batch = store._driver.write_batch()
    batch.write(_full(store, "k"), b"first", None)
    second = batch.write(_full(store, "k"), b"second", None)
    batch.finish()
    assert store["k"] == b"second"
    assert store.read("k").result().stamp.generation == second.generation


def test_write_then_delete_of_one_key_in_a_batch(store: ts.KvStore) -> None:
    batch = store._driver.write_batch()
    batch.write(_full(store, "k"), b"value", None)
    batch.write(_full(store, "k"), None, None)  # must not wait for the batch's own lock
    batch.finish()
    assert store.read("k").result().state == "missing"


def test_failed_condition_and_delete_in_a_batch(store: ts.KvStore, tmp_path: Path) -> None:
    store["gone"] = b"x"
    batch = store._driver.write_batch()
    assert batch.write(_full(store, "cond"), b"v", b"\x01nonexistent").generation == UNKNOWN
    batch.write(_full(store, "gone"), None, None)
    batch.finish()
    assert store.read("cond").result().state == "missing"
    assert store.read("gone").result().state == "missing"
    assert not [p for p in (tmp_path / "root").iterdir() if p.name.endswith(LOCK_SUFFIX)]


def test_concurrent_writers_into_one_batch(store: ts.KvStore) -> None:
    batch = store._driver.write_batch()

    def write(worker: int) -> None:
        for i in range(40):
            batch.write(_full(store, f"w{worker}/{i}"), bytes([worker, i]) * 50, None)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch.finish()
    assert len(store.list().result()) == 160
    assert store["w3/39"] == bytes([3, 39]) * 50


def test_two_batches_locking_in_opposite_orders_do_not_deadlock(store: ts.KvStore) -> None:
    # Each batch stages one key (holding its lock), then writes the other's: a batch
    # commits what it holds before waiting for a lock, so neither waits forever (two
    # processes behave the same: the locks belong to open files, not processes).
    store["existing"] = b""  # the directory exists, so both first writes are staged
    first, second = store._driver.write_batch(), store._driver.write_batch()
    staged = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(batch: object, mine: str, theirs: str) -> None:
        try:
            batch.write(_full(store, mine), mine.encode(), None)  # type: ignore[attr-defined]
            staged.wait(5)
            batch.write(_full(store, theirs), mine.encode(), None)  # type: ignore[attr-defined]
            batch.finish()  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(first, "a", "b"), daemon=True),
        threading.Thread(target=run, args=(second, "b", "a"), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads), "the two batches deadlocked"
    assert not errors
    assert {store["a"], store["b"]} <= {b"a", b"b"}


def test_failed_rename_reports_error_and_releases_every_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()
    real_rename = os.rename

    def failing_rename(source: str, target: str) -> None:
        if target.endswith("/bad"):
            raise OSError(5, "Input/output error", target)
        real_rename(source, target)

    monkeypatch.setattr(file_driver.os, "rename", failing_rename)
    batch = store._driver.write_batch()

    def write_all() -> None:
        for key in ("a", "bad", "c"):
            batch.write(_full(store, key), b"value", None)
        batch.finish()

    with pytest.raises(OSError, match="Input/output error"):
        write_all()
    monkeypatch.setattr(file_driver.os, "rename", real_rename)
    # Nothing is left locked or staged: the same keys can be written again at once.
    done = threading.Event()

    def rewrite() -> None:
        for key in ("a", "bad", "c"):
            store[key] = b"again"
        done.set()

    threading.Thread(target=rewrite, daemon=True).start()
    assert done.wait(10), "a lock of the failed batch was never released"
    assert store["bad"] == b"again"


def test_filesystem_type_is_found_for_a_real_directory(tmp_path: Path) -> None:
    kind = file_driver._filesystem_type(os.stat(tmp_path).st_dev)
    assert isinstance(kind, str)
    assert kind


def test_bulk_array_write_with_failing_storage_names_the_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    store = ts.open(
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/a/"}},
        create=True, dtype=ts.uint16, shape=[8, 8], chunk_layout=ts.ChunkLayout(chunk_shape=[2, 2]),
    ).result()
    real_write_all = file_driver._write_all

    def failing_write_all(fd: int, data: bytes) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/2.3" + LOCK_SUFFIX):
            raise OSError(28, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(file_driver, "_write_all", failing_write_all)
    with pytest.raises(ChunkStorageError, match=r"2\.3.*No space left"):
        store.write(np.arange(1, 65, dtype=np.uint16).reshape(8, 8)).result()
    monkeypatch.setattr(file_driver, "_write_all", real_write_all)
    store.write(np.arange(1, 65, dtype=np.uint16).reshape(8, 8)).result()
    np.testing.assert_array_equal(store.read().result(), np.arange(1, 65).reshape(8, 8))


def test_failing_syncfs_falls_back_to_fsync_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    synced: list[int] = []
    monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: lambda fd: calls.append(fd) or -1)
    real_fsync = os.fsync
    monkeypatch.setattr(file_driver.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    batch = store._driver.write_batch()
    for i in range(3):
        batch.write(_full(store, f"k{i}"), b"v", None)
    assert store.read("k0").result().state == "missing"  # staged for a group commit
    synced.clear()
    batch.finish()
    # One syncfs for the group and one for its directory's entries, which both failed...
    assert len(calls) == 2
    assert len(synced) >= 4  # ...so each staged file was fsync'ed, then the directory
    assert [store[f"k{i}"] for i in range(3)] == [b"v"] * 3


def test_value_staged_while_a_batch_writer_waits_is_committed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two batches (as two processes would), two writers each: A stages one key while B
    # waits for the key the other batch's A is staging. A value staged while a writer of
    # its batch waits must not keep its lock, or each batch waits for the other forever.
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["existing"] = b""
    release = threading.Event()
    staging = threading.Barrier(3)
    real_stage = file_driver.FileKvStore._stage

    def slow_stage(path: str, *args: object) -> object:
        if threading.current_thread().name.startswith("stager"):
            staging.wait(5)  # holding the key's lock, before the value joins the batch
            release.wait(5)
        return real_stage(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(file_driver.FileKvStore, "_stage", staticmethod(slow_stage))
    batches = [store._driver.write_batch(), store._driver.write_batch()]
    errors: list[BaseException] = []

    def write(batch: object, key: str) -> None:
        try:
            batch.write(_full(store, key), key.encode(), None)  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    stagers = [
        threading.Thread(target=write, args=(batches[0], "c0"), name="stager-0", daemon=True),
        threading.Thread(target=write, args=(batches[1], "c1"), name="stager-1", daemon=True),
    ]
    for thread in stagers:
        thread.start()
    staging.wait(5)  # both keys locked, neither staged yet
    waiters = [
        threading.Thread(target=write, args=(batches[0], "c1"), daemon=True),
        threading.Thread(target=write, args=(batches[1], "c0"), daemon=True),
    ]
    for thread in waiters:
        thread.start()
    deadline = time.monotonic() + 5
    while any(batch._waiting == 0 for batch in batches) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(batch._waiting == 1 for batch in batches)
    release.set()
    for thread in stagers + waiters:
        thread.join(10)
    assert not any(thread.is_alive() for thread in stagers + waiters), "the two batches deadlocked"
    for batch in batches:
        batch.finish()
    assert not errors
    assert {store["c0"], store["c1"]} <= {b"c0", b"c1"}


def test_new_directories_are_made_durable(store: ts.KvStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A key in directories that do not exist yet is durable only once each new
    # directory's entry in its parent is: every such parent is fsync'ed, in a batch (once,
    # at finish) and in a plain write alike.
    # Where syncfs is trusted, a batch makes them all durable with one syncfs of a
    # directory, after its renames, instead.
    synced: list[str] = []
    real = file_driver._fsync_directory
    monkeypatch.setattr(file_driver, "_fsync_directory", lambda d: synced.append(d) or real(d))
    synced_filesystems: list[str] = []
    real_syncfs_of_device = file_driver._syncfs_of_device

    def recording_syncfs_of_device(device: int) -> object:
        syncfs = real_syncfs_of_device(device)
        if syncfs is None:
            return None

        def recorded(fd: int) -> int:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if os.path.isdir(target):
                synced_filesystems.append(target)
            return int(syncfs(fd))

        return recorded

    monkeypatch.setattr(file_driver, "_syncfs_of_device", recording_syncfs_of_device)
    root = f"{tmp_path}/root"
    batch = store._driver.write_batch()
    batch.write(_full(store, "a/b/c/0"), b"x", None)
    batch.write(_full(store, "a/b/c/1"), b"y", None)
    batch.finish()
    if synced_filesystems:
        assert len(synced_filesystems) == 1  # one syncfs for the filesystem's directories
        assert not synced
    else:
        assert {f"{root}/a/b/c", f"{root}/a/b", f"{root}/a", root} <= set(synced)
        assert len(synced) == len(set(synced))  # each directory once per batch
    synced.clear()
    store["d/e/2"] = b"z"
    assert {f"{root}/d/e", f"{root}/d", root} <= set(synced)
    assert store["a/b/c/1"] == b"y"
    assert store["d/e/2"] == b"z"


def test_group_commit_into_directories_not_made_yet(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    batch = store._driver.write_batch()
    grouped = file_driver._syncfs_for(f"{tmp_path}/new/dir/k") is not None
    batch.write(_full(store, "new/dir/k"), b"v", None)
    assert store.read("new/dir/k").result().state == ("missing" if grouped else "value")
    batch.finish()
    assert store["new/dir/k"] == b"v"


def test_renames_of_a_committed_group_run_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # After a group's values are durable, their renames are made several at once (a rename
    # can wait for a busy journal); a rename that fails drops its own value and those not
    # renamed yet, so every key holds its old value or its new one, never a staged one.
    monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: lambda fd: (os.sync(), 0)[1])
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()
    keys = [f"d{index % 4}/k{index}" for index in range(24)]
    for key in keys:
        store[key] = b"old"
    real_rename = os.rename
    lock = threading.Lock()
    running, most = [0], [0]

    def slow_rename(source: str, target: str) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.01)
            if target.endswith("/k13"):
                raise OSError(5, "Input/output error", target)
            real_rename(source, target)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(file_driver.os, "rename", slow_rename)
    batch = store._driver.write_batch()
    for key in keys:
        batch.write(_full(store, key), b"new", None)
    with pytest.raises(OSError, match="Input/output error"):
        batch.finish()
    monkeypatch.setattr(file_driver.os, "rename", real_rename)
    assert most[0] > 1
    values = {key: store[key] for key in keys}
    assert set(values.values()) <= {b"old", b"new"}
    assert values["d1/k13"] == b"old"
    assert not list((tmp_path / "root").rglob(f"*{LOCK_SUFFIX}"))
    batch = store._driver.write_batch()
    for key in keys:
        batch.write(_full(store, key), b"again", None)
    batch.finish()
    assert {store[key] for key in keys} == {b"again"}


def test_quick_renames_of_a_group_stay_on_the_committing_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Renames that wait for nothing are made one after another by the thread committing
    # the group: nothing is handed to the I/O pool.
    monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: lambda fd: (os.sync(), 0)[1])
    monkeypatch.setattr(file_driver, "SLOW_RENAME_SECONDS", 60.0)
    handed: list[int] = []
    real_run_all = file_driver.run_all

    def recording_run_all(executor: object, limit: int, items: range, work: object) -> None:
        handed.append(len(items))
        real_run_all(executor, limit, items, work)  # type: ignore[arg-type]

    monkeypatch.setattr(file_driver, "run_all", recording_run_all)
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()
    batch = store._driver.write_batch()
    for index in range(10):
        batch.write(_full(store, f"k{index}"), b"v", None)
    batch.finish()
    assert handed  # the group's renames and the (syncfs'ed) directories
    assert not any(handed)
    assert {store[f"k{index}"] for index in range(10)} == {b"v"}


def test_a_batch_without_whole_filesystem_sync_fsyncs_each_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    synced: list[int] = []
    monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: lambda fd: calls.append(fd) or 0)
    real_fsync = os.fsync
    monkeypatch.setattr(file_driver.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["d1/old"] = b"x"
    store["d2/old"] = b"x"
    batch = store._driver.write_batch()
    batch.whole_filesystem_sync = False  # a few small values: no syncfs
    for i in range(3):
        batch.write(_full(store, f"d{i % 2 + 1}/k{i}"), b"v", None)
    assert store.read("d1/k0").result().state == "missing"  # staged: committed together
    synced.clear()
    batch.finish()
    assert calls == []
    assert len(synced) == 3 + 2  # each staged file, then each of the two directories
    assert [store[f"d{i % 2 + 1}/k{i}"] for i in range(3)] == [b"v"] * 3
