"""The file driver: conformance suite, key validation, and multi-process safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.kvstore.file import LOCK_SUFFIX
from ts_core.testing.kvstore import KvStoreConformance


class TestFileConformance(KvStoreConformance):
    @pytest.fixture
    def kvstore(self, tmp_path: Path) -> ts.KvStore:
        return ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()


@pytest.fixture
def store(tmp_path: Path) -> ts.KvStore:
    return ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("../escape", "'..'"),
        ("a/../../escape", "'..'"),
        ("./a", "'.'"),
        ("/etc/passwd", "absolute"),
        ("a//b", "empty path components"),
        ("a\0b", "NUL"),
        ("dir/", "directory"),
        ("x" + LOCK_SUFFIX, "reserved"),
    ],
)
def test_bad_keys_rejected(store: ts.KvStore, tmp_path: Path, key: str, reason: str) -> None:
    with pytest.raises(ValueError, match="Invalid key") as info:
        store.write(key, b"x").result()
    assert reason in str(info.value)
    with pytest.raises(ValueError, match="Invalid key"):
        store.read(key).result()
    assert not (tmp_path / "escape").exists()


def test_listing_never_escapes_root(tmp_path: Path) -> None:
    (tmp_path / "outside").write_bytes(b"secret")
    (tmp_path / "root-sibling").mkdir()
    (tmp_path / "root-sibling" / "k").write_bytes(b"secret")
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root/"}).result()
    store["inside"] = b"1"
    os.symlink(tmp_path, tmp_path / "root" / "link")  # a symlinked directory is neither followed nor listed
    assert store.list().result() == [b"inside"]


def test_files_on_disk_and_no_leftover_locks(store: ts.KvStore, tmp_path: Path) -> None:
    store["a/b"] = b"payload"
    store["a/c"] = b"1"
    del store["a/c"]
    assert (tmp_path / "root" / "a" / "b").read_bytes() == b"payload"
    assert sorted(p.name for p in (tmp_path / "root" / "a").iterdir()) == ["b"]


def test_stale_lock_file_from_killed_writer(store: ts.KvStore, tmp_path: Path) -> None:
    # A writer killed mid-write leaves an unlocked lock file with partial data behind.
    (tmp_path / "root").mkdir(exist_ok=True)
    # It is longer than the value written next, which must not keep its tail.
    (tmp_path / "root" / ("k" + LOCK_SUFFIX)).write_bytes(b"partial data from a dead writer")
    assert store.read("k").result().state == "missing"
    assert store.list().result() == []
    stamp = store.write("k", b"complete").result()
    assert store["k"] == b"complete"
    assert store.read("k").result().stamp.generation == stamp.generation


def test_delete_range_removes_empty_directories_but_not_root(store: ts.KvStore, tmp_path: Path) -> None:
    store["d/e/f"] = b"1"
    store["g"] = b"2"
    store.delete_range(ts.KvStore.KeyRange("d/", "d0")).result()
    assert not (tmp_path / "root" / "d" / "e").exists()  # emptied below the range's root
    assert (tmp_path / "root" / "g").exists()
    store.delete_range(ts.KvStore.KeyRange()).result()
    assert (tmp_path / "root").is_dir()
    assert store.list().result() == []


def test_relative_path_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ts.KvStore.open({"driver": "file", "path": "rel/"}).result()
    store["k"] = b"v"
    assert (tmp_path / "rel" / "k").read_bytes() == b"v"
    with pytest.raises(ValueError, match="relative paths"):
        store.url  # noqa: B018  (a relative root has no file: URL, as in tensorstore)
    assert ts.KvStore.Spec(f"file://{tmp_path}/x/").path == f"{tmp_path}/x/"


COUNTER_WORKER = textwrap.dedent(
    """
    import sys
    import ts_core as ts

    root, increments = sys.argv[1], int(sys.argv[2])
    store = ts.KvStore.open({"driver": "file", "path": root}).result()
    conflicts = 0
    for _ in range(increments):
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


def test_multiprocess_conditional_counter(tmp_path: Path) -> None:
    """4 processes x 200 conditional increments of one key: the count is exact."""
    processes, increments = 4, 200
    root = f"{tmp_path}/counter/"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER_WORKER, root, str(increments)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    store = ts.KvStore.open({"driver": "file", "path": root}).result()
    assert int(store["counter"]) == processes * increments
    conflicts = sum(int(out) for out, _ in outputs)
    print(f"conflicting writes retried: {conflicts}")


def test_forked_child_can_use_store(store: ts.KvStore) -> None:
    store["before"] = b"1"  # starts the parent's I/O threads
    pid = os.fork()
    if pid == 0:  # child: must work with the store opened in the parent
        try:
            store["child"] = store["before"] + b"2"
            code = 0 if store.list().result() == [b"before", b"child"] else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store["child"] == b"12"


def test_file_io_sync_can_be_disabled(tmp_path: Path) -> None:
    context = ts.Context({"file_io_sync": False})
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}, context=context).result()
    store["k"] = b"v"
    assert store["k"] == b"v"


def test_tensorstore_file_resources_are_accepted(tmp_path: Path) -> None:
    context = ts.Context({"file_io_locking": {"mode": "lockfile", "acquire_timeout": "5s"}, "file_io_mode": {"mode": "direct"}})
    spec = {"driver": "file", "path": f"{tmp_path}/", "file_io_locking": "file_io_locking", "file_io_mode": "file_io_mode"}
    store = ts.KvStore.open(spec, context=context).result()
    store["k"] = b"v"
    assert store["k"] == b"v"
    with pytest.raises(ValueError, match=r"context\.file_io_locking\.mode"):
        ts.Context({"file_io_locking": {"mode": "sometimes"}})


def test_directory_fsyncs_are_shared_within_a_directory_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Writers that renamed into one directory at once share its fsyncs; each directory is
    # fsync'ed after its writers asked (never skipped because another directory was), and
    # the syncer keeps nothing once they are done.
    import threading
    import time

    from ts_core.kvstore.file import _driver as file_driver

    syncer = file_driver._DirectorySyncer()
    directories = [tmp_path / f"d{index}" for index in range(4)]
    for directory in directories:
        directory.mkdir()
    synced: list[str] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        time.sleep(0.02)  # let the other writers of the directory queue up behind it
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    start = threading.Barrier(len(directories) * 6)

    def writer(directory: Path) -> None:
        start.wait()
        syncer.sync(str(directory))

    threads = [threading.Thread(target=writer, args=(directory,)) for directory in directories for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert set(synced) == {str(directory) for directory in directories}
    assert len(synced) <= 2 * len(directories)  # the one running, then one for all who waited
    assert not syncer._state


def test_concurrent_writers_through_many_stores_lose_nothing(tmp_path: Path) -> None:
    # Threads write distinct keys and one shared counter key (conditional increments)
    # through their own stores at once: every value lands, the count is exact.
    import threading

    stores = [ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/s/"}).result() for _ in range(4)]
    stores[0]["counter"] = b"0"

    def writer(index: int) -> None:
        store = stores[index]
        for step in range(10):
            store[f"d{step % 3}/k{index}-{step}"] = f"{index}:{step}".encode()
            while True:
                current = store.read("counter").result()
                new = str(int(current.value) + 1).encode()
                if store.write("counter", new, if_equal=current.stamp.generation).result().generation:
                    break

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert stores[1]["counter"] == b"40"
    for index in range(4):
        for step in range(10):
            assert stores[2][f"d{step % 3}/k{index}-{step}"] == f"{index}:{step}".encode()
    assert not list(Path(f"{tmp_path}/s").rglob(f"*{LOCK_SUFFIX}"))
