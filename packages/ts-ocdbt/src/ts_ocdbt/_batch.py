"""Group commit for bulk writes into an OCDBT database (the driver's ``write_batch``).

An array driver writing many chunks hands them to one :class:`OcdbtWriteBatch` and reports
the array write done only after ``finish``. Each value too large to be inline is appended
to a data file the batch fills in memory, and its key remembered with the place it will
have there; as tensorstore does, the values of one commit share data files. A file is
written (durably, before anything refers to it) once it holds ``target_data_file_size``
bytes or ``MAX_BUFFERED_VALUE_BYTES``, whichever is less; ``finish`` hands the last one to
the commit of every remembered key (one new version), which appends the new B+tree nodes
to it and writes it before the manifest. So a bulk write costs one commit (or one per
``MAX_PENDING_KEYS`` keys) and, below 64 MiB of values, one data file: as many durability
barriers as a single small write, instead of one data file per chunk.

A conditional write cannot wait for ``finish`` (its caller needs to know whether the
condition held): it is committed at once, after the remembered keys if it writes one of
them.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Final

from ts_core.kvstore import NO_VALUE, UNKNOWN, TimestampedStorageGeneration, WriteBatch

from ._io import value_generation
from ._values import NewValue
from ._writer import DataFileBuffer
from .format import IndirectDataReference

if TYPE_CHECKING:
    from ._driver import OcdbtDriver

__all__ = ["MAX_BUFFERED_VALUE_BYTES", "MAX_PENDING_KEYS", "OcdbtWriteBatch"]

#: Keys a batch remembers before a writer commits them without waiting for ``finish``
#: (bounds the memory and the size of one commit).
MAX_PENDING_KEYS: Final = 4096
#: Bytes of values a batch holds in memory at most before it writes them as a data file
#: (tensorstore's ``target_data_file_size`` default, 2 GiB, would be too much to hold).
MAX_BUFFERED_VALUE_BYTES: Final = 64 * 2**20


class OcdbtWriteBatch(WriteBatch):
    """Unconditional writes committed together by ``finish`` (see the module docstring).

    A write returns the generation its key will have: that of its inline bytes, or of the
    place in a data file its value was given. Writers run concurrently; a commit waits for
    the writers writing a full data file at that moment, and holds back new ones until the
    base's batch has made the data files durable.
    """

    def __init__(self, driver: OcdbtDriver) -> None:
        super().__init__(driver)
        self._ocdbt = driver
        self._state = threading.Condition(threading.Lock())
        self._writing = 0  # writers writing a full data file
        self._committing = False
        self._pending: dict[bytes, NewValue] = {}
        options = driver.writer_options
        self._prefix = options.prefixes.value
        target = options.target_data_file_size
        self._file_size = min(target, MAX_BUFFERED_VALUE_BYTES) if target else MAX_BUFFERED_VALUE_BYTES
        self._file: DataFileBuffer | None = None
        #: Data files whose write failed: keys whose values they were to hold are not committed.
        self._failed: set[bytes] = set()

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        driver = self._ocdbt
        driver.check_writable()
        config = driver.write_config()
        if if_equal not in (None, UNKNOWN) or config is None:
            with self._state:
                remembered = key in self._pending
            if remembered:
                self._commit_pending()
            return driver.write_now(key, value, if_equal)
        data = None if value is None else bytes(value)
        stored: NewValue = data
        full: DataFileBuffer | None = None
        with self._state:
            while self._committing:
                self._state.wait()
            if data is not None and len(data) > config.max_inline_value_bytes:
                stored, full = self._append(data)
            self._pending[key] = stored
            many = len(self._pending) >= MAX_PENDING_KEYS
            if full is not None:
                self._writing += 1
        if full is not None:
            try:
                self._write_file(full)
            finally:
                with self._state:
                    self._writing -= 1
                    self._state.notify_all()
        if many:
            self._commit_pending(MAX_PENDING_KEYS)
        generation = NO_VALUE if stored is None else value_generation(stored)
        return TimestampedStorageGeneration(generation, time.time())

    def _append(self, value: bytes) -> tuple[IndirectDataReference, DataFileBuffer | None]:
        """(With the state lock held.) Where ``value`` goes in the data file being filled,
        and that file if it is now full (no longer being filled: the caller writes it)."""
        file = self._file
        if file is None:
            file = self._file = DataFileBuffer(self._prefix)
        reference = file.append(value)
        if file.size < self._file_size:
            return reference, None
        self._file = None
        return reference, file

    def _write_file(self, file: DataFileBuffer) -> None:
        """Write a full data file (durably: the base's write returns once it is)."""
        path = file.file_id.full_path
        try:
            self._ocdbt.base_kvstore.write_blocking(path, file.contents())
        except BaseException:
            with self._state:
                self._failed.add(path)
            raise

    def _commit_pending(self, minimum: int = 0) -> None:
        """Commit the remembered keys (one version) with the data file being filled, which
        the commit writes with its nodes; nothing if fewer than ``minimum`` keys are
        remembered by then. Keys whose data file could not be written are left out."""
        with self._state:
            while self._committing:
                self._state.wait()
            if len(self._pending) < minimum:
                return  # another writer committed them meanwhile
            self._committing = True
            while self._writing:
                self._state.wait()
            pending, self._pending = self._pending, {}
            last, self._file = self._file, None
            failed, self._failed = self._failed, set()
        try:
            if failed:
                pending = {
                    key: value for key, value in pending.items()
                    if not (isinstance(value, IndirectDataReference) and value.file_id.full_path in failed)
                }
            if pending:
                self._ocdbt.commit_values(pending, () if last is None else (last,))
        finally:
            with self._state:
                self._committing = False
                self._state.notify_all()

    def finish(self) -> None:
        self._commit_pending()

    def writers(self, key_prefix: bytes, cores: int) -> int:
        # The writers encode values and mostly append them to memory: one per core, and
        # one more to cover the one writing a full data file.
        return cores + 1
