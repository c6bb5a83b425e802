"""The file driver holds a replaced version open until its write is durable, then lets it go."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.kvstore.file import _driver as file_driver
from ts_core.kvstore.file import _release

linux_only = pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="O_PATH (Linux) holds versions open")


def _open_paths() -> list[str]:
    """What this process's descriptors name (a replaced, held version: "<path> (deleted)")."""
    paths = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile (the listing's own)
            paths.append(os.readlink(f"/proc/self/fd/{name}"))
    return paths


def _wait_until_none_open(suffix: str) -> None:
    deadline = time.monotonic() + 10
    while any(path.endswith(suffix) for path in _open_paths()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [path for path in _open_paths() if path.endswith(suffix)]


@linux_only
def test_hold_gives_the_status_and_holds_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"abc")
    (tmp_path / "directory").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    status, fd = _release.hold(str(tmp_path / "file"))
    assert status is not None
    assert status.st_size == 3
    assert fd is not None
    assert os.fstat(fd).st_ino == os.stat(tmp_path / "file").st_ino
    os.close(fd)
    status, fd = _release.hold(str(tmp_path / "directory"))
    assert status is not None
    assert fd is None
    status, fd = _release.hold(str(tmp_path / "link"))  # the link itself, not followed
    assert status is not None
    assert stat.S_ISLNK(status.st_mode)
    assert fd is None
    assert _release.hold(str(tmp_path / "missing")) == (None, None)
    assert _release.hold(str(tmp_path / "file" / "below")) == (None, None)


@linux_only
def test_the_replaced_version_stays_open_until_the_write_is_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store.write("k", b"old" * 1000).result()
    old_inode = os.stat(tmp_path / "k").st_ino
    seen: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the directory's fsync comes after the rename
        real_fsync(fd)
        seen.append(f"{tmp_path}/k (deleted)" in _open_paths())

    monkeypatch.setattr(file_driver.os, "fsync", fsync)
    store.write("k", b"new").result()
    assert seen == [False, True]  # held (unlinked) at the directory's fsync, not before the rename
    monkeypatch.undo()
    _wait_until_none_open("/k (deleted)")
    assert store.read("k").result().value == b"new"
    assert os.stat(tmp_path / "k").st_ino != old_inode


@linux_only
def test_writes_deletes_and_failed_conditions_leave_no_descriptor_open(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store.write("a/k", b"0").result()
    for i in range(20):
        store.write("a/k", b"%d" % i).result()
    assert store.write("a/k", b"x", if_equal=b"not a generation").result().generation == b""
    _wait_until_none_open("/a/k")
    store.delete("a/k").result()
    store.delete("a/missing").result()
    _wait_until_none_open("/a/k (deleted)")
    assert store.read("a/k").result().state == "missing"


@linux_only
def test_release_later_closes_on_its_thread(tmp_path: Path) -> None:
    (tmp_path / "released").write_bytes(b"")
    fds = [os.open(tmp_path / "released", os.O_RDONLY) for _ in range(5)]
    _release.release_later([fds[0], None, *fds[1:]])
    _wait_until_none_open("/released")
    _release.release_later([])
    _release.release_later([None])


@linux_only
def test_a_forked_child_releases_on_a_thread_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "released").write_bytes(b"")
    _release.release_later([os.open(tmp_path / "released", os.O_RDONLY)])  # the parent's thread runs
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its releaser works
        try:
            _release.release_later([os.open(tmp_path / "released", os.O_RDONLY)])
            deadline = time.monotonic() + 10
            while any(path.endswith("/released") for path in _open_paths()) and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(write_end, b"no" if any(path.endswith("/released") for path in _open_paths()) else b"ok")
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 2) == b"ok"
    os.close(read_end)


@linux_only
def test_beyond_max_pending_the_caller_closes_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "released").write_bytes(b"")
    monkeypatch.setattr(_release, "_count", [_release.MAX_PENDING])  # as if the thread lagged behind
    fd = os.open(tmp_path / "released", os.O_RDONLY)
    _release.release_later([fd])
    assert not [path for path in _open_paths() if path.endswith("/released")]  # closed at once
