"""The file driver's key locks (the kind tensorstore takes) and its directory creation."""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import threading
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.kvstore.file import LOCK_SUFFIX
from ts_core.kvstore.file import _driver as file_driver

tensorstore = pytest.importorskip("tensorstore")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="open file description locks are Linux's")


def _ofd_write_lock(fd: int, wait: bool) -> None:
    """The lock tensorstore takes on a key's lock file on Linux (whole file, for writing)."""
    request = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, request)


def _finishes_within(thread: threading.Thread, seconds: float) -> bool:
    thread.join(seconds)
    return not thread.is_alive()


@linux_only
def test_a_lock_held_as_tensorstore_holds_it_makes_a_ts_write_wait(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["k"] = b"old"
    held = os.open(f"{tmp_path}/k{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _ofd_write_lock(held, wait=True)
        writer = threading.Thread(target=store.write_blocking, args=("k", b"new"))
        writer.start()
        assert not _finishes_within(writer, 0.3)  # waits for the other writer's lock
        assert store["k"] == b"old"
    finally:
        os.close(held)  # releases the lock
    assert _finishes_within(writer, 10)
    assert store["k"] == b"new"


@linux_only
def test_a_lock_ts_holds_makes_a_wheel_write_wait(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["k"] = b"old"
    wheel = tensorstore.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    fd, _ = file_driver._lock_key(f"{tmp_path}/k", create_directories=False)
    try:
        writer = threading.Thread(target=lambda: wheel.write("k", b"wheel").result())
        writer.start()
        assert not _finishes_within(writer, 0.3)
        assert store["k"] == b"old"
    finally:
        os.close(fd)
    assert _finishes_within(writer, 10)
    assert store["k"] == b"wheel"
    assert not os.path.exists(f"{tmp_path}/k{LOCK_SUFFIX}")


def test_lock_exclusive_reports_a_busy_lock_without_waiting(tmp_path: Path) -> None:
    path = f"{tmp_path}/k{LOCK_SUFFIX}"
    first = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    second = os.open(path, os.O_RDWR)
    try:
        assert file_driver.lock_exclusive(first, wait=False)
        assert not file_driver.lock_exclusive(second, wait=False)  # another open file holds it
    finally:
        os.close(first)
    try:
        assert file_driver.lock_exclusive(second, wait=False)  # released with its file
    finally:
        os.close(second)


def test_concurrent_writers_in_threads_and_the_wheel_never_lose_a_conditional_update(tmp_path: Path) -> None:
    # Increments by compare-and-swap from ts threads and wheel threads at once: each
    # succeeds exactly once per count only if both take locks the other sees.
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    wheel = tensorstore.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["n"] = b"0"
    per_writer = 15

    def ts_increment() -> None:
        done = 0
        while done < per_writer:
            current = store.read_blocking("n")
            stamp = store.write_blocking("n", b"%d" % (int(current.value) + 1), if_equal=current.stamp.generation)
            done += stamp.generation != b""

    def wheel_increment() -> None:
        done = 0
        while done < per_writer:
            current = wheel.read("n").result()
            stamp = wheel.write("n", b"%d" % (int(current.value) + 1), if_equal=current.stamp.generation).result()
            done += stamp.generation != b""

    threads = [threading.Thread(target=target) for target in (ts_increment, ts_increment, wheel_increment)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert store["n"] == b"%d" % (3 * per_writer)


def test_make_directories_makes_only_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real_mkdir = os.mkdir
    monkeypatch.setattr(file_driver.os, "mkdir", lambda path, *args: made.append(path) or real_mkdir(path, *args))
    (tmp_path / "a").mkdir()
    parents = file_driver._make_directories(f"{tmp_path}/a/b/c/d")
    assert (tmp_path / "a/b/c/d").is_dir()
    # The entries that changed: each new directory's parent, to be fsync'ed.
    assert parents == [f"{tmp_path}/a", f"{tmp_path}/a/b", f"{tmp_path}/a/b/c"]
    made.clear()
    assert file_driver._make_directories(f"{tmp_path}/a/b/c/e") == [f"{tmp_path}/a/b/c"]
    assert made == [f"{tmp_path}/a/b/c/e"]  # one call when only the last one is missing
    made.clear()
    assert file_driver._make_directories(f"{tmp_path}/a/b") == []  # there already
    assert made == [f"{tmp_path}/a/b"]


def test_make_directories_from_many_threads_at_once(tmp_path: Path) -> None:
    results: list[list[str]] = []
    barrier = threading.Barrier(8)

    def make(index: int) -> None:
        barrier.wait(5)
        results.append(file_driver._make_directories(f"{tmp_path}/x/y/z{index % 2}"))

    threads = [threading.Thread(target=make, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (tmp_path / "x/y/z0").is_dir()
    assert (tmp_path / "x/y/z1").is_dir()
    reported = [parent for result in results for parent in result]
    # Every directory made is reported once, by the thread that made it.
    assert sorted(reported) == sorted([str(tmp_path), f"{tmp_path}/x", f"{tmp_path}/x/y", f"{tmp_path}/x/y"])


def test_writes_into_new_directories_across_a_file_in_the_way(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["a"] = b"file"
    with pytest.raises(OSError, match="Not a directory"):
        store.write_blocking("a/b/c", b"v")
    store["p/q/r/s"] = b"deep"
    assert store["p/q/r/s"] == b"deep"
    assert sorted(store.list().result()) == [b"a", b"p/q/r/s"]


def test_a_directory_that_keeps_disappearing_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A directory removed as fast as it is made (or a dangling link where a directory
    # should be) fails the write after a bounded number of attempts, never hangs.
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    monkeypatch.setattr(file_driver, "_make_directories", lambda directory: [])
    with pytest.raises(FileNotFoundError):
        store.write_blocking("never/made", b"v")


def test_batch_on_a_filesystem_without_trusted_syncfs_writes_each_value_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_driver, "_syncfs_of_device", lambda device: None)
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    fsynced: list[str] = []
    real_fsync_directory = file_driver._fsync_directory
    monkeypatch.setattr(file_driver, "_fsync_directory", lambda d: fsynced.append(d) or real_fsync_directory(d))
    batch = store.driver.write_batch()
    batch.write(f"{tmp_path}/new/k".encode(), b"v", None)
    assert store["new/k"] == b"v"  # fsync'ed and renamed at once, its lock released
    assert not os.path.exists(f"{tmp_path}/new/k{LOCK_SUFFIX}")
    batch.finish()
    assert sorted(fsynced) == [str(tmp_path), f"{tmp_path}/new"]  # each directory once
