"""Group commit for bulk writes into an OCDBT database (the driver's ``write_batch``).

An array driver writing many chunks hands them to one :class:`OcdbtWriteBatch` and reports
the array write done only after ``finish``. Each value is stored as it comes (a large one
in a data file of its own, through the base kvstore's own write batch, whose durability
work is shared too) and only remembered; ``finish`` makes the data files durable and then
commits every remembered key as one new version. So a bulk write costs one commit (or one
per ``MAX_PENDING_KEYS`` keys) instead of one per chunk, and nothing refers to a data file
before it is durable.

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

if TYPE_CHECKING:
    from ._driver import NewValue, OcdbtDriver

__all__ = ["MAX_PENDING_KEYS", "OcdbtWriteBatch"]

#: Keys a batch remembers before a writer commits them without waiting for ``finish``
#: (bounds the memory and the size of one commit).
MAX_PENDING_KEYS: Final = 4096


class OcdbtWriteBatch(WriteBatch):
    """Unconditional writes committed together by ``finish`` (see the module docstring).

    A write returns the generation its key will have: that of its inline bytes, or of the
    data file place its value was just stored at. Writers run concurrently; a commit waits
    for the writers storing values at that moment, and holds back new ones until the
    base's batch has made those values durable.
    """

    def __init__(self, driver: OcdbtDriver) -> None:
        super().__init__(driver)
        self._ocdbt = driver
        self._state = threading.Condition(threading.Lock())
        self._storing = 0  # writers storing a value through ``_base_batch``
        self._committing = False
        self._base_batch = driver.base_kvstore.driver.write_batch()
        self._pending: dict[bytes, NewValue] = {}

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        driver = self._ocdbt
        driver.check_writable()
        if if_equal not in (None, UNKNOWN) or driver.write_config() is None:
            with self._state:
                remembered = key in self._pending
            if remembered:
                self._commit_pending()
            return driver.write_now(key, value, if_equal)
        with self._state:
            while self._committing:
                self._state.wait()
            self._storing += 1
            base_batch = self._base_batch
        try:
            stored = driver.store_value(value, base_batch)
        finally:
            with self._state:
                self._storing -= 1
                self._state.notify_all()
        with self._state:
            self._pending[key] = stored
            full = len(self._pending) >= MAX_PENDING_KEYS
        if full:
            self._commit_pending(MAX_PENDING_KEYS)
        generation = NO_VALUE if stored is None else value_generation(stored)
        return TimestampedStorageGeneration(generation, time.time())

    def _commit_pending(self, minimum: int = 0) -> None:
        """Make the stored values durable, then commit the remembered keys (one version);
        nothing if fewer than ``minimum`` keys are remembered by then."""
        with self._state:
            while self._committing:
                self._state.wait()
            if len(self._pending) < minimum:
                return  # another writer committed them meanwhile
            self._committing = True
            while self._storing:
                self._state.wait()
            pending, self._pending = self._pending, {}
            base_batch = self._base_batch
            self._base_batch = self._ocdbt.base_kvstore.driver.write_batch()
        try:
            base_batch.finish()
            if pending:
                self._ocdbt.commit_values(pending)
        finally:
            with self._state:
                self._committing = False
                self._state.notify_all()

    def finish(self) -> None:
        self._commit_pending()

    def writers(self, key_prefix: bytes, cores: int) -> int:
        # The writers store values through the base's batch: as many as keep it busy.
        base = self._ocdbt.base_kvstore
        return self._base_batch.writers(base.path.encode("utf-8"), cores)
