"""The ``file`` kvstore: one file per key, safe across threads and processes.

Protocol for every write or delete of ``K`` (tensorstore's layout, our implementation):

1. open ``K.__lock`` (created if absent) and take an exclusive lock on it (an open file
   description lock on Linux, ``flock`` elsewhere: the kind tensorstore takes); if the
   path no longer names the locked inode (a previous holder renamed or removed it),
   start over;
2. check ``if_equal`` against the generation of ``K`` *while holding the lock*;
3. write the new value into the lock file itself, stamp its mtime strictly after the
   current version's, ``fsync`` it, and ``rename`` it onto ``K`` (atomic), then
   ``fsync`` the directory; for a failed condition or a delete, unlink the lock file.
   The version replaced (or deleted) is held open until then and closed afterwards on
   another thread, so freeing its blocks (a device trim on a filesystem mounted with
   ``discard``) is not part of the write's latency (``_release``).

The generation of a version is (inode, size, mtime in ns). Every version of a key is
written under its lock with a strictly larger mtime, so a recycled inode can never
recreate an old generation (no ABA), and readers never see a torn value because a
version only becomes visible through the atomic rename. Locks die with their process
(they belong to the open lock file), so a writer killed mid-write leaves at most a
stale, unlocked lock file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat as stat_module
import struct
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, unquote

import attrs

from ..._executor import Executor
from ..._metrics import kvstore_metrics
from ...context import Context
from .._driver import (
    RANGED_READ_ATTEMPTS,
    ByteRange,
    ByteRangesReadResult,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    WriteBatch,
)
from .._generation import NO_VALUE, UNKNOWN, TimestampedStorageGeneration, make_generation
from .._key_range import KeyRange, prefix_range
from .._keys import ConfinedRoot, check_key, check_key_range, check_path
from .._parallel import run_all
from .._url import without_url_query
from ._release import hold, release_later

__all__ = ["FileKvStore", "FileKvStoreSpec", "parse_file_url"]

#: Suffix of the per-key lock (and staging) file; such names are not valid keys.
LOCK_SUFFIX = ".__lock"
_URL_PREFIX = "file://"


class _LocalFilesystem:
    """The one store all ``file`` kvstores write into (their ``storage_identity``)."""

    def __repr__(self) -> str:
        return "<local filesystem>"


LOCAL_FILESYSTEM = _LocalFilesystem()


@attrs.define
class FileKvStoreSpec:
    file_io_concurrency: Any = "file_io_concurrency"
    file_io_sync: Any = "file_io_sync"
    file_io_locking: Any = "file_io_locking"  # accepted for tensorstore specs; see the resource
    file_io_mode: Any = "file_io_mode"
    file_io_retries: Any = "file_io_retries"


def _generation(stat: os.stat_result) -> bytes:
    return make_generation(struct.pack("<QQq", stat.st_ino, stat.st_size, stat.st_mtime_ns))


def _invalid_key(key: bytes, why: str) -> ValueError:
    return ValueError(f'Invalid key: "{os.fsdecode(key)}": {why}')


_LOCK_SUFFIX_BYTES = LOCK_SUFFIX.encode()
_LOCK_DIRECTORY = _LOCK_SUFFIX_BYTES + b"/"


def _check_lock_names(key: bytes, full: bytes) -> None:
    """Names ending in the lock suffix belong to locks, as files or directories."""
    if full.endswith(_LOCK_SUFFIX_BYTES) or _LOCK_DIRECTORY in full:
        raise _invalid_key(key, f"key components must not end with {LOCK_SUFFIX!r} (reserved for locks)")


def key_to_path(key: bytes) -> str:
    """The filesystem path of the full key ``key`` (root included); ValueError for keys
    that could escape or collide (see ``ts_core.kvstore.check_key``)."""
    check_key(key, absolute=True)
    _check_lock_names(key, key)
    return os.fsdecode(key)


def _os_error_as_value_error(error: OSError, path: str) -> OSError | ValueError:
    """A clear ValueError for an OSError the key itself caused (a symlinked key, a name
    too long for this filesystem); other errors unchanged."""
    if error.errno == errno.ELOOP:
        return _invalid_key(os.fsencode(path), "it is a symbolic link (symlinked keys are not followed)")
    if error.errno == errno.ENAMETOOLONG:
        return _invalid_key(os.fsencode(path), "the name is too long for this filesystem")
    return error


class _DirectorySyncer:
    """Group commit for directory fsyncs.

    A writer that renamed a file into a directory needs that directory fsync'ed *after*
    its rename. When many writers do so at once (a bulk array write), one fsync started
    after all their renames serves them all: each writer takes a ticket after renaming,
    and waits until an fsync that began after its ticket has finished.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # directory -> [requested, done, running, waiters, its Condition]: a Condition per
        # directory, so an fsync that ends wakes only the writers waiting for that directory
        # (concurrent writes into many directories would otherwise wake each other in vain).
        self._state: dict[str, list[Any]] = {}

    def sync(self, directory: str) -> None:
        with self._lock:
            state = self._state.get(directory)
            if state is None:
                state = self._state[directory] = [0, 0, 0, 0, threading.Condition(self._lock)]
            state[0] += 1
            ticket = state[0]
            while state[1] < ticket:
                if not state[2]:
                    state[2] = 1
                    covered = state[0]
                    break
                state[3] += 1
                state[4].wait()
                state[3] -= 1
            else:
                self._forget_if_idle(directory, state)
                return
        try:
            fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            with self._lock:
                state[2] = 0
                if sys.exc_info()[0] is None:
                    state[1] = max(state[1], covered)
                state[4].notify_all()
                self._forget_if_idle(directory, state)

    def _forget_if_idle(self, directory: str, state: list[Any]) -> None:
        """Drop the state of a directory nobody waits for or syncs (lock held), so the
        table stays as small as the set of directories being written right now."""
        if not state[2] and not state[3] and state[1] >= state[0]:
            del self._state[directory]


_directory_syncer = _DirectorySyncer()


def _reset_syncer_after_fork() -> None:
    global _directory_syncer
    _directory_syncer = _DirectorySyncer()


os.register_at_fork(after_in_child=_reset_syncer_after_fork)


def _fsync_directory(directory: str) -> None:
    _directory_syncer.sync(directory)


#: Times a write makes the directories of its key before giving up (see ``_lock_key``).
MAX_DIRECTORY_ATTEMPTS = 100


def _make_directories(directory: str) -> list[str]:
    """Create ``directory`` and its missing ancestors; the directories whose entries
    changed (the parent of each directory that was missing), to fsync for durability."""
    # mkdir first, from the deepest: one call when only the last directory is missing;
    # an ancestor is tried only when its child could not be made for want of it.
    pending = []  # missing directories, deepest first
    made = []
    while directory:
        try:
            os.mkdir(directory)
        except FileNotFoundError:
            pending.append(directory)
            directory = os.path.dirname(directory)
            continue
        except FileExistsError:  # there already (another writer may just have made it)
            pass
        else:
            made.append(directory)
        break
    for missing in reversed(pending):
        with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
            os.mkdir(missing)
            made.append(missing)
    return [os.path.dirname(created) or "." for created in made]


#: ``struct flock`` asking for a write lock of a whole file (``l_pid`` 0, as open file
#: description locks require), on 64-bit Linux where ``off_t`` is 64 bits.
_WHOLE_FILE_WRITE_LOCK = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
#: Whether open file description locks work here: tensorstore locks with them where it
#: can (Linux), with ``flock`` elsewhere; the two kinds do not exclude each other, so ts
#: must take the kind the wheel takes for concurrent writers to see each other's locks.
_ofd_locks = (
    sys.platform.startswith("linux") and hasattr(fcntl, "F_OFD_SETLKW") and struct.calcsize("P") == 8
)


def lock_exclusive(fd: int, wait: bool) -> bool:
    """Take the exclusive lock of the (lock) file open as ``fd``, the kind tensorstore takes;
    released when ``fd`` is closed. Without ``wait``, False if another holder has it."""
    global _ofd_locks
    if _ofd_locks:
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, _WHOLE_FILE_WRITE_LOCK)
            return True
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES) and not wait:
                return False
            if error.errno not in (errno.EINVAL, errno.ENOTSUP):
                raise
            _ofd_locks = False  # a kernel (or filesystem) without them: flock, as tensorstore
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_key(
    path: str,
    create_directories: bool,
    before_waiting: Callable[[], Callable[[], None]] | None = None,
    created: list[str] | None = None,
) -> tuple[int, os.stat_result]:
    """Take the exclusive lock of ``path``: the fd of its lock/staging file (close it to
    release the lock) and the file's status when the lock was taken. Directories made on
    the way add their parents to ``created`` (to be fsync'ed).

    If the lock is busy, ``before_waiting()`` runs before waiting for it and the function
    it returns runs once the wait is over (a write batch commits and holds no lock while
    one of its writers waits, so two batches never wait for each other).
    """
    lock_path = path + LOCK_SUFFIX
    attempts = 0
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        except FileNotFoundError:
            attempts += 1
            # (Bounded: a directory removed as fast as it is made, or a dangling link.)
            if not create_directories or attempts > MAX_DIRECTORY_ATTEMPTS:
                raise
            try:
                parents = _make_directories(os.path.dirname(path))
            except OSError as error:
                raise _os_error_as_value_error(error, path) from None
            if created is not None:
                created.extend(parents)
            continue
        except OSError as error:
            raise _os_error_as_value_error(error, path) from None
        try:
            if before_waiting is None:
                lock_exclusive(fd, wait=True)
            elif not lock_exclusive(fd, wait=False):
                waited = before_waiting()
                try:
                    lock_exclusive(fd, wait=True)
                finally:
                    waited()
            try:
                on_disk = os.stat(lock_path)
            except FileNotFoundError:
                on_disk = None
            held = os.fstat(fd)
            if on_disk is not None and (on_disk.st_ino, on_disk.st_dev) == (held.st_ino, held.st_dev):
                return fd, held
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the previous holder replaced or removed it: try again


@contextlib.contextmanager
def _key_lock(
    path: str, create_directories: bool, before_waiting: Callable[[], Callable[[], None]] | None = None
) -> Iterator[tuple[int, os.stat_result]]:
    """Hold the exclusive lock of ``path`` for the block (see ``_lock_key``)."""
    fd, held = _lock_key(path, create_directories, before_waiting)
    try:
        yield fd, held
    finally:
        os.close(fd)


class FileKvStore(KvStoreDriver):
    """Local (or network) filesystem; keys are paths (the spec ``path`` is their prefix).

    Keys are confined to the store's path (its root): ``check_key`` refuses keys that
    leave it lexically or through a symlinked directory, and a key that is itself a
    symbolic link is neither followed nor replaced.
    """

    id = "file"
    spec_class = FileKvStoreSpec
    local_io = True
    ranged_reads_pay = True

    def __init__(self, spec: FileKvStoreSpec, executor: Executor, sync: bool, retries: Any = None) -> None:
        self._spec = spec
        self._executor = executor
        self._sync = sync
        self._retries = retries  # a FileIoRetryPolicy; None: no retries

    @classmethod
    def open(cls, spec: Any, context: Context) -> FileKvStore:
        executor = context.resource("file_io_concurrency", spec.file_io_concurrency, "kvstore.file_io_concurrency")
        sync = context.resource("file_io_sync", spec.file_io_sync, "kvstore.file_io_sync")
        # Resolved so that references are checked; ts's locking and I/O mode do not vary.
        context.resource("file_io_locking", spec.file_io_locking, "kvstore.file_io_locking")
        context.resource("file_io_mode", spec.file_io_mode, "kvstore.file_io_mode")
        retries = context.resource("file_io_retries", spec.file_io_retries, "kvstore.file_io_retries")
        return cls(spec, executor, sync, retries if retries.max_retries else None)

    @property
    def spec(self) -> FileKvStoreSpec:
        return self._spec

    @property
    def executor(self) -> Executor:
        return self._executor

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        # A file: URL names an absolute path; a relative one has no URL form (as tensorstore).
        if not (path.startswith("/") or os.path.isabs(path)):
            raise ValueError(f'file: URIs do not support relative paths: "{path}"')
        return _URL_PREFIX + quote(path, safe="/@:!$&'()*+,;=-._~")

    @property
    def storage_identity(self) -> Hashable:
        # Full keys are filesystem paths (root included): every file kvstore, whatever
        # its root or context, names one file by one key.
        return LOCAL_FILESYSTEM

    def describe_key(self, key: bytes) -> str:
        return f'local file "{os.fsdecode(key)}"'

    # -- key safety --------------------------------------------------------------------
    def check_path(self, path: str) -> None:
        check_path(path)

    def check_key(self, path: str, key: bytes) -> None:
        full = check_key(key, root=path.encode("utf-8"))
        _check_lock_names(key, full)
        ConfinedRoot.of(path).check(key, full)

    def check_key_range(self, path: str, key_range: KeyRange) -> None:
        prefix = path.encode("utf-8")
        check_key_range(key_range, root=prefix)
        # The directory a listing starts from must not lead out of the root either.
        base = _list_base(key_range.with_prefix(prefix))
        directory = os.fsdecode(base).rstrip("/") or ("/" if base else "")
        ConfinedRoot.of(path).check_directory(directory, key_range.inclusive_min, "key range bound")

    # -- reads -------------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        if self._retries is None:
            return self._read_once(key, options)
        return _retrying(self._retries, self._read_once, key, options)  # type: ignore[no-any-return]

    def _read_once(self, key: bytes, options: ReadOptions) -> ReadResult:
        path = key_to_path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return self._missing(options)
        except OSError as error:
            raise _os_error_as_value_error(error, path) from None
        return self._read_open(fd, key, options)

    def _read_open(self, fd: int, key: bytes, options: ReadOptions) -> ReadResult:
        """Read the file open as ``fd`` (closing it)."""
        try:
            stat = os.fstat(fd)
            if stat_module.S_ISDIR(stat.st_mode):  # a directory of other keys: no value
                return self._missing(options)
            stamp = TimestampedStorageGeneration(_generation(stat), time.time())
            if options.if_not_equal == stamp.generation:
                return ReadResult("unspecified", b"", stamp)
            start, stop = options.byte_range.resolve(stat.st_size, key)
            return ReadResult("value", _pread_all(fd, start, stop - start), stamp)
        finally:
            os.close(fd)

    @staticmethod
    def _missing(options: ReadOptions) -> ReadResult:
        stamp = TimestampedStorageGeneration(NO_VALUE, time.time())
        state = "unspecified" if options.if_not_equal == NO_VALUE else "missing"
        return ReadResult(state, b"", stamp)

    def read_byte_ranges(self, key: bytes, ranges: Sequence[tuple[int, int]]) -> ByteRangesReadResult:
        """The ranges of one open file: a file is only ever replaced (renamed over), so
        what one descriptor reads is one version; its generation is checked again after
        the reads in case another program rewrote the file in place (then read again)."""
        start_time = time.perf_counter()
        for _ in range(RANGED_READ_ATTEMPTS):
            if self._retries is None:
                result = self._read_ranges_once(key, ranges)
            else:
                result = _retrying(self._retries, self._read_ranges_once, key, ranges)
            if result is not None:
                size = None if result.state != "value" else len(result.value)
                kvstore_metrics("file").record_read(size, int((time.perf_counter() - start_time) * 1000))
                return result
        return super().read_byte_ranges(key, ranges)  # changing all the time: ranged reads

    def _read_ranges_once(self, key: bytes, ranges: Sequence[tuple[int, int]]) -> ByteRangesReadResult | None:
        """The ranges, or None if the file changed while they were read."""
        path = key_to_path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return ByteRangesReadResult("missing", b"", self._missing(ReadOptions()).stamp)
        except OSError as error:
            raise _os_error_as_value_error(error, path) from None
        try:
            stat = os.fstat(fd)
            if stat_module.S_ISDIR(stat.st_mode):
                return ByteRangesReadResult("missing", b"", self._missing(ReadOptions()).stamp)
            size = stat.st_size
            pread = os.pread
            pieces = []
            for start, stop in ranges:
                if not 0 <= start <= stop <= size:
                    ByteRange(start, stop).resolve(size, key)  # raises, naming the key
                    raise ValueError(f"byte range [{start}, {stop}) is not valid for key {key!r}")
                length = stop - start
                # (One pread returns at most about 2 GiB.)
                piece = pread(fd, length, start) if length <= 1 << 30 else _pread_all(fd, start, length)
                if len(piece) != length:
                    return None  # shorter than its size said: it changed
                pieces.append(piece)
            after = os.fstat(fd)
            if (after.st_ino, after.st_size, after.st_mtime_ns) != (stat.st_ino, size, stat.st_mtime_ns):
                return None
            value = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            return ByteRangesReadResult("value", value, TimestampedStorageGeneration(_generation(stat), time.time()), size)
        finally:
            os.close(fd)

    # -- writes ------------------------------------------------------------------------
    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self._write(key, value, if_equal, None)

    def write_batch(self) -> WriteBatch:
        return _FileWriteBatch(self)

    def _write(
        self,
        key: bytes,
        value: bytes | None,
        if_equal: bytes | None,
        deferred: set[str] | None,
        before_waiting: Callable[[], Callable[[], None]] | None = None,
    ) -> TimestampedStorageGeneration:
        """One write; with ``deferred``, directories to fsync are added to it instead
        (``before_waiting``: see ``_lock_key``)."""
        path = key_to_path(key)
        if value is None:
            return self._delete(path, if_equal, deferred, before_waiting)
        created: list[str] = []
        fd, held = _lock_key(path, True, before_waiting, created)
        return self._write_locked(path, fd, held, created, value, if_equal, deferred)

    def _write_locked(
        self,
        path: str,
        fd: int,
        held: os.stat_result,
        created: list[str],
        value: bytes,
        if_equal: bytes | None,
        deferred: set[str] | None,
    ) -> TimestampedStorageGeneration:
        """``_write`` once the lock of ``path`` is held (``fd``, closed here); ``created``:
        the directories whose entries changed when the key's directories were made. The
        replaced version is held open until the write is durable, so that freeing its
        blocks (a device trim, with ``discard``) is no part of the write (see ``_release``)."""
        replaced: list[int] = []
        try:
            staged = self._stage(path, fd, held, value, if_equal, replaced)
            if staged is None:
                return TimestampedStorageGeneration(UNKNOWN, time.time())
            if self._sync:
                os.fsync(fd)
            os.rename(path + LOCK_SUFFIX, path)
            if self._sync:
                for directory in [os.path.dirname(path), *created]:
                    self._sync_directory(directory, deferred)
            return TimestampedStorageGeneration(staged, time.time())
        finally:
            os.close(fd)
            release_later(replaced)

    @staticmethod
    def _stage(
        path: str, fd: int, held: os.stat_result, value: bytes, if_equal: bytes | None, holds: list[int] | None = None
    ) -> bytes | None:
        """With the lock of ``path`` held (``fd``): check ``if_equal`` and write ``value``
        into the lock file; the generation it will have once renamed onto ``path``, or
        None (lock file removed) if the condition failed. With ``holds``, a descriptor
        holding the version to be replaced is added to it (see ``_release``)."""
        current, replaced = _hold_unlocking(path, holds is not None)
        if holds is not None and replaced is not None:
            holds.append(replaced)
        if current is not None and stat_module.S_ISDIR(current.st_mode):
            os.unlink(path + LOCK_SUFFIX)
            raise ValueError(f'cannot write local file "{path}": it is a directory (holding other keys)')
        if not _condition_holds(current, if_equal):
            os.unlink(path + LOCK_SUFFIX)
            return None
        if held.st_size:  # left behind by a writer that died mid-write
            os.ftruncate(fd, 0)
        _write_all(fd, value)
        mtime = time.time_ns()
        if current is not None and mtime <= current.st_mtime_ns:
            mtime = current.st_mtime_ns + 1
        os.utime(fd, ns=(mtime, mtime))
        if _keeps_exact_mtimes(held.st_dev, fd, mtime):
            return make_generation(struct.pack("<QQq", held.st_ino, len(value), mtime))
        return _generation(os.fstat(fd))

    @staticmethod
    def _sync_directory(directory: str, deferred: set[str] | None) -> None:
        if deferred is None:
            _fsync_directory(directory)
        else:
            deferred.add(directory)

    def _delete(
        self,
        path: str,
        if_equal: bytes | None,
        deferred: set[str] | None = None,
        before_waiting: Callable[[], Callable[[], None]] | None = None,
    ) -> TimestampedStorageGeneration:
        try:
            lock = _key_lock(path, False, before_waiting)
            lock.__enter__()
        except (FileNotFoundError, NotADirectoryError):
            # The directory does not exist, so neither does the key.
            ok = if_equal in (None, UNKNOWN, NO_VALUE)
            return TimestampedStorageGeneration(NO_VALUE if ok else UNKNOWN, time.time())
        replaced = None
        try:
            current, replaced = _hold_unlocking(path, True)
            if current is not None and stat_module.S_ISDIR(current.st_mode):
                current = None  # a directory of other keys: this key has no value to delete
            ok = _condition_holds(current, if_equal)
            if ok and current is not None:
                os.unlink(path)
            os.unlink(path + LOCK_SUFFIX)
            if ok and current is not None and self._sync:
                self._sync_directory(os.path.dirname(path), deferred)
            return TimestampedStorageGeneration(NO_VALUE if ok else UNKNOWN, time.time())
        finally:
            lock.__exit__(None, None, None)
            release_later([replaced])

    def delete_range(self, key_range: KeyRange) -> None:
        directories = set()
        for key in list(self.list(key_range)):
            self._delete(os.fsdecode(key), None)
            directories.add(os.path.dirname(os.fsdecode(key)))
        # Remove directories left empty, deepest first: only those wholly inside the range,
        # and never the directory the range is rooted at (the store's own root).
        for directory in sorted(directories, key=len, reverse=True):
            while directory and _wholly_inside(os.fsencode(directory + "/"), key_range):
                try:
                    os.rmdir(directory)
                except OSError:
                    break
                directory = os.path.dirname(directory)

    # -- listing -----------------------------------------------------------------------
    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        if key_range.empty:
            return iter(())
        base = _list_base(key_range)
        return (key for key in _walk(base, key_range, self._retries) if key_range.contains(key))


#: Renames (of a committed group) or directory fsyncs (of a finished batch) that a write
#: batch makes at once, on the I/O pool (see ``_FileWriteBatch._commit``).
CALLS_AT_ONCE = 8
#: A rename that takes longer than this waited for the journal: the group's remaining
#: renames are made several at once.
SLOW_RENAME_SECONDS = 0.001


class _FileWriteBatch(WriteBatch):
    """Group commit for the writes of one bulk operation.

    With ``file_io_sync`` on a filesystem where ``syncfs`` is known to work, values are
    staged in their lock files (lock held) and committed in groups: one ``syncfs`` makes a
    whole group durable, then each lock file is renamed onto its key. Elsewhere each write
    is fsync'ed on its own. Either way a value is durable before its rename, so no reader
    or crash ever sees a partial value, and directories are fsync'ed once, by ``finish``.
    """

    GROUP = 32  # staged values (open, locked files) per syncfs
    copies_values = True  # a value is in its (lock) file once write returns

    def __init__(self, driver: FileKvStore) -> None:
        super().__init__(driver)
        self._file_driver = driver
        self._lock = threading.Lock()
        self._directories: dict[str, int | None] = {}  # to fsync in finish -> device, if known
        self._staged: list[tuple[str, int, int]] = []  # (path, fd of its locked lock file, device)
        self._staged_paths: set[str] = set()
        self._syncfs: dict[str, Any] = {}  # directory -> syncfs or None, for this batch
        self._waiting = 0  # writers of this batch waiting for a lock: stage nothing meanwhile
        #: Called (with no lock held) when a writer is about to wait for a lock, once what
        #: was staged is committed: a caller that completes writes in groups (the array
        #: writeback) finishes those made so far, so nothing waits for them meanwhile.
        self.on_wait: Callable[[], None] | None = None
        #: Whether one ``syncfs`` may make a group durable where it is trusted. It also
        #: waits for every other dirty file of the filesystem (other processes' too), so
        #: a caller storing a few small values sets False: then every staged file and
        #: every directory is fsync'ed, several at once (the journal merges them).
        self.whole_filesystem_sync = True

    def _syncfs_for(self, path: str) -> Any:
        directory = os.path.dirname(path)
        if directory not in self._syncfs:
            self._syncfs[directory] = _syncfs_for(path)
        return self._syncfs[directory]

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        path = key_to_path(key)
        with self._lock:
            group = self._take() if path in self._staged_paths else None
        if group:  # never wait for a lock this batch holds
            self._commit(group)
        if value is None or not self._file_driver._sync:
            directories: set[str] = set()
            try:
                return self._file_driver._write(key, value, if_equal, directories, self._before_waiting)
            finally:
                self._add_directories(directories, None)
        created: list[str] = []
        fd, held = _lock_key(path, True, self._before_waiting, created)
        # New directories are on the device of the file made in them (the lock file).
        self._add_directories(created, held.st_dev)
        if self.whole_filesystem_sync and _syncfs_of_device(held.st_dev) is None:
            directories = set()
            try:  # no trusted syncfs here: this value is fsync'ed on its own
                return self._file_driver._write_locked(path, fd, held, [], value, if_equal, directories)
            finally:
                self._add_directories(directories, held.st_dev)
        try:
            generation = self._file_driver._stage(path, fd, held, value, if_equal)
        except BaseException:
            os.close(fd)
            raise
        if generation is None:
            os.close(fd)
            return TimestampedStorageGeneration(UNKNOWN, time.time())
        with self._lock:
            self._staged.append((path, fd, held.st_dev))
            self._staged_paths.add(path)
            group = self._take() if len(self._staged) >= self.GROUP or self._waiting else None
        if group:
            self._commit(group)
        return TimestampedStorageGeneration(generation, time.time())

    def writers(self, key_prefix: bytes, cores: int) -> int:
        if self._file_driver._sync and self._syncfs_for(os.fsdecode(key_prefix) or "x") is not None:
            return cores + 1  # writes do not wait for the disk; one more covers the commits
        return 4 * cores

    def _before_waiting(self) -> Callable[[], None]:
        """Called when a writer of this batch is about to wait for a lock: commit what is
        staged (releasing its locks) and, until the wait is over, commit every value as
        soon as it is staged. So this batch holds no staged lock while any of its writers
        waits, and no two writers, in this process or another, can each wait for a lock
        the other holds."""
        with self._lock:
            self._waiting += 1
            group = self._take()
        try:
            if group:
                self._commit(group)
            if self.on_wait is not None:
                self.on_wait()
        except BaseException:
            self._after_waiting()
            raise
        return self._after_waiting

    def _after_waiting(self) -> None:
        with self._lock:
            self._waiting -= 1

    def _add_directories(self, directories: Iterable[str], device: int | None) -> None:
        """Remember directories to fsync in ``finish`` (with their device, if known)."""
        if directories:
            with self._lock:
                for directory in directories:
                    if self._directories.get(directory) is None:
                        self._directories[directory] = device

    def _take(self) -> list[tuple[str, int, int]]:
        group, self._staged = self._staged, []
        self._staged_paths.difference_update(path for path, _, _ in group)
        return group

    def _commit(self, group: list[tuple[str, int, int]]) -> None:
        renamed = [False] * len(group)
        try:
            one_per_device = {device: (path, fd) for path, fd, device in group}
            if not self.whole_filesystem_sync:  # each file on its own, several at once
                run_all(self._file_driver.executor, CALLS_AT_ONCE, [fd for _, fd, _ in group], os.fsync)
                one_per_device = {}
            for device, (_path, fd) in one_per_device.items():
                syncfs = _syncfs_of_device(device)
                if syncfs is None or syncfs(fd) != 0:  # fsync this device's files one by one
                    for _, other, other_device in group:
                        if other_device == device:
                            os.fsync(other)
            directories = {os.path.dirname(path): device for path, _, device in group}

            def publish(index: int) -> None:
                path = group[index][0]
                os.rename(path + LOCK_SUFFIX, path)
                renamed[index] = True

            # Renames are quick, one after another, until one waits for the filesystem's
            # journal (other writers keep it busy): then the rest go several at once, so
            # their waits overlap. Each is atomic and its value is durable already.
            index = 0
            while index < len(group):
                started = time.perf_counter()
                publish(index)
                index += 1
                if time.perf_counter() - started > SLOW_RENAME_SECONDS:
                    break
            run_all(self._file_driver.executor, CALLS_AT_ONCE, range(index, len(group)), publish)
            with self._lock:
                self._directories.update(directories)
        finally:
            for index, (path, fd, _) in enumerate(group):
                if not renamed[index]:  # not committed: drop the staged value
                    with contextlib.suppress(OSError):
                        os.unlink(path + LOCK_SUFFIX)
                os.close(fd)

    def finish(self) -> None:
        with self._lock:
            group = self._take()
        if group:
            self._commit(group)
        with self._lock:
            directories, self._directories = self._directories, {}
        self._sync_directories(directories)

    def _sync_directories(self, directories: dict[str, int | None]) -> None:
        """Make the entries (renames, creations) of ``directories`` durable: one ``syncfs``
        per filesystem where it is trusted (it commits the filesystem's journal, which
        holds every directory change), elsewhere an fsync per directory."""
        by_device: dict[int, list[str]] = {}
        one_by_one = []
        for directory, known_device in sorted(directories.items()):
            device = known_device
            if device is None and self.whole_filesystem_sync:
                with contextlib.suppress(OSError):
                    device = os.stat(directory or ".").st_dev
            if device is None or not self.whole_filesystem_sync or _syncfs_of_device(device) is None:
                one_by_one.append(directory)
            else:
                by_device.setdefault(device, []).append(directory)
        for device, on_device in by_device.items():
            syncfs = _syncfs_of_device(device)
            fd = os.open(on_device[0] or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                synced = syncfs(fd) == 0
            finally:
                os.close(fd)
            if not synced:
                one_by_one.extend(on_device)
        # Independent fsyncs, several at once: their waits for the disk overlap.
        run_all(self._file_driver.executor, CALLS_AT_ONCE, one_by_one, _fsync_directory)


#: Filesystems whose ``syncfs`` writes back and flushes everything, as ``fsync`` does for
#: one file; elsewhere (FUSE, network filesystems) each file is fsync'ed instead.
_SYNCFS_FILESYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs", "tmpfs"})
_syncfs_by_device: dict[int, Any] = {}


def _syncfs_for(path: str) -> Any:
    """libc ``syncfs`` if the filesystem holding ``path``'s directory is known to honour it."""
    if not sys.platform.startswith("linux"):
        return None
    directory = os.path.dirname(path) or "."
    while True:  # the nearest existing ancestor decides (directories are made on write)
        try:
            device = os.stat(directory).st_dev
            break
        except FileNotFoundError:
            parent = os.path.dirname(directory) or "."
            if parent == directory:
                return None
            directory = parent
        except OSError:
            return None
    return _syncfs_of_device(device)


def _syncfs_of_device(device: int) -> Any:
    """libc ``syncfs`` if the filesystem of ``device`` is known to honour it, else None."""
    if not sys.platform.startswith("linux"):
        return None
    if device not in _syncfs_by_device:
        _syncfs_by_device[device] = _load_syncfs() if _filesystem_type(device) in _SYNCFS_FILESYSTEMS else None
    return _syncfs_by_device[device]


def _filesystem_type(device: int) -> str | None:
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except OSError:
        pass
    return None


def _load_syncfs() -> Any:
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _list_base(key_range: KeyRange) -> bytes:
    """The directory (``/``-terminated, or b"" for the current one) holding every key of
    ``key_range``; cut at the first ``.``/``..``/empty component, so a listing never
    walks a path that leads out of where the range's keys can be."""
    lower, upper = key_range.inclusive_min, key_range.exclusive_max
    if not upper or upper == prefix_range(lower).exclusive_max:
        common = lower  # every key of a prefix range starts with the prefix
    else:
        # A byte-wise common prefix is intended: keys are compared as bytes, not paths.
        common = os.path.commonprefix([lower, upper])  # type: ignore[assignment]  # noqa: RUF071
    slash = common.rfind(b"/")
    base = common[: slash + 1] if slash >= 0 else b""
    components = base.split(b"/")[:-1]
    for index, component in enumerate(components):
        if component in (b".", b"..") or (not component and index > 0) or b"\0" in component:
            return b"/".join(components[:index]) + b"/" if index else b""
    return base


#: errno values of failures that may pass when tried again: an interrupted or would-block
#: call, a busy file, a stale handle or a timeout on a network filesystem. Only these are
#: retried (under ``file_io_retries``); any other error is reported at once.
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ESTALE, errno.ETIMEDOUT})


def _retrying(policy: Any, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, tried again after a backoff while it fails with a transient error,
    at most ``policy.max_retries`` more times (each retry counted in the file metrics)."""
    attempt = 0
    while True:
        try:
            return call(*args)
        except OSError as error:
            if error.errno not in TRANSIENT_ERRNOS or attempt >= policy.max_retries:
                raise
        time.sleep(policy.delay(attempt))
        attempt += 1
        kvstore_metrics("file").retries.increment()


def _wholly_inside(directory_prefix: bytes, key_range: KeyRange) -> bool:
    upper = prefix_range(directory_prefix).exclusive_max
    return directory_prefix > key_range.inclusive_min and (
        not key_range.exclusive_max or (bool(upper) and upper <= key_range.exclusive_max)
    )


def _may_contain_under(directory_prefix: bytes, key_range: KeyRange) -> bool:
    """Whether any key starting with ``directory_prefix`` can lie in ``key_range``."""
    lower, upper = key_range.inclusive_min, key_range.exclusive_max
    if upper and directory_prefix >= upper:
        return False
    return not (directory_prefix < lower and not lower.startswith(directory_prefix)
                and directory_prefix[: len(lower)] < lower[: len(directory_prefix)])


def _scan(directory: str) -> list[os.DirEntry[str]]:
    return list(os.scandir(directory))


def _walk(prefix: bytes, key_range: KeyRange, retries: Any = None) -> Iterator[bytes]:
    """Every file key below directory ``prefix`` (b"" = current directory), skipping locks."""
    directory = os.fsdecode(prefix) or "."
    try:
        entries = _scan(directory) if retries is None else _retrying(retries, _scan, directory)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        name = os.fsencode(entry.name)
        key = prefix + name
        try:
            if entry.is_symlink():  # neither followed nor listed: such keys are refused
                continue
            if entry.is_dir(follow_symlinks=False):
                if _may_contain_under(key + b"/", key_range):
                    yield from _walk(key + b"/", key_range, retries)
            elif not name.endswith(_LOCK_SUFFIX_BYTES):
                yield key
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


#: Devices known to store the mtime ``utime`` sets to the nanosecond (True) or not.
_exact_mtime_devices: dict[int, bool] = {}


def _keeps_exact_mtimes(device: int, fd: int, mtime: int) -> bool:
    """Whether a file's generation can be computed from what was written, without an
    ``fstat``: true once the first write to ``device`` read back the exact mtime set."""
    known = _exact_mtime_devices.get(device)
    if known is None:
        known = _exact_mtime_devices[device] = os.fstat(fd).st_mtime_ns == mtime
    return known


def _hold_unlocking(path: str, keep: bool) -> tuple[os.stat_result | None, int | None]:
    """With the lock of ``path`` held: the status of its file (None if absent) and, with
    ``keep``, a descriptor holding it, if any (``_release.hold``); a symlinked key is
    refused, never followed nor replaced, and drops its lock file."""
    status, fd = hold(path, keep)
    if status is not None and stat_module.S_ISLNK(status.st_mode):
        os.unlink(path + LOCK_SUFFIX)
        raise _invalid_key(os.fsencode(path), "it is a symbolic link (symlinked keys are not followed)")
    return status, fd


def _condition_holds(current: os.stat_result | None, if_equal: bytes | None) -> bool:
    if if_equal is None or if_equal == UNKNOWN:
        return True
    return (NO_VALUE if current is None else _generation(current)) == if_equal


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _pread_all(fd: int, offset: int, length: int) -> bytes:
    parts = []
    while length > 0:
        part = os.pread(fd, min(length, 1 << 30), offset)
        if not part:
            raise ValueError("file shrank while being read")
        parts.append(part)
        offset += len(part)
        length -= len(part)
    return b"".join(parts)


def parse_file_url(url: str) -> dict[str, Any]:
    """``file:///abs/path/`` -> ``{"driver": "file", "path": "/abs/path/"}``."""
    if not url.startswith(_URL_PREFIX):
        raise ValueError('expected "file://path"')
    rest = without_url_query(url[len(_URL_PREFIX):])
    return {"driver": "file", "path": unquote(rest)}
