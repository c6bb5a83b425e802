"""Holding replaced versions of a key open until their write is acknowledged.

Replacing a key's file (a rename over it) or deleting it drops the old version's last
link, and the filesystem frees its blocks right then, inside the ``rename`` or
``unlink``. On a filesystem mounted with ``discard`` (ext4 without a journal, say) that
free waits for the device to trim the blocks: milliseconds on a busy virtual disk, in
the middle of every write. A writer that holds the old version open (``hold``: an
``O_PATH`` descriptor, no read access needed, no atime touched) moves the free to the
last ``close``, which ``release_later`` makes on a thread of its own once the write is
durable and acknowledged. Durability is unchanged: the new version is fsync'ed, renamed
and its directory fsync'ed as before; only the old version's space is returned a little
later (at the latest when the process exits).
"""

from __future__ import annotations

import contextlib
import os
import queue
import stat as stat_module
import threading
from collections.abc import Iterable

__all__ = ["hold", "release_later"]

#: ``O_PATH`` where the platform has it (Linux); elsewhere nothing is held.
_O_PATH = getattr(os, "O_PATH", 0)
#: Seconds the releasing thread waits for more work before it exits.
_IDLE_SECONDS = 5.0


def hold(path: str, keep: bool = True) -> tuple[os.stat_result | None, int | None]:
    """The status of the file at ``path`` (not following a symlink; None if absent) and,
    with ``keep``, for a regular file on a platform with ``O_PATH``, a descriptor holding
    it open."""
    if not (_O_PATH and keep):
        try:
            return os.lstat(path), None
        except (FileNotFoundError, NotADirectoryError):
            return None, None
    try:
        fd = os.open(path, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    try:
        status = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat_module.S_ISREG(status.st_mode):  # a symlink or a directory: nothing to hold
        os.close(fd)
        return status, None
    return status, fd


#: Descriptors waiting for the releasing thread at most; beyond, the caller closes its own
#: (writes faster than the device frees blocks must not run out of descriptors).
MAX_PENDING = 64

_lock = threading.Lock()
_pending: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
_running = [False]  # whether a releasing thread is running (under _lock)
_count = [0]  # descriptors put in _pending and not yet closed (under _lock)


def release_later(fds: Iterable[int | None]) -> None:
    """Close ``fds`` (None entries skipped) on the releasing thread, in order; on this
    thread if ``MAX_PENDING`` are waiting already."""
    held = [fd for fd in fds if fd is not None]
    if not held:
        return
    with _lock:
        if _count[0] >= MAX_PENDING:
            start = None
        else:
            _count[0] += len(held)
            _pending.put(held)
            start = not _running[0]
            _running[0] = True
    if start is None:
        _close(held)
    elif start:
        threading.Thread(target=_release, name="ts-file-release", daemon=True).start()


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _release() -> None:
    while True:
        try:
            fds = _pending.get(timeout=_IDLE_SECONDS)
        except queue.Empty:
            with _lock:
                if _pending.empty():  # nothing arrived as the wait timed out: exit
                    _running[0] = False
                    return
            continue
        _close(fds)
        with _lock:
            _count[0] -= len(fds)


def _reset_after_fork() -> None:
    # The releasing thread is not in a forked child; the child closes its copies now.
    global _lock, _pending
    pending = _pending
    _lock = threading.Lock()
    _pending = queue.SimpleQueue()
    _running[0] = False
    _count[0] = 0
    while not pending.empty():
        _close(pending.get_nowait())


os.register_at_fork(after_in_child=_reset_after_fork)
