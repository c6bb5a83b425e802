"""Transactions over kvstores: staged writes, read-your-writes, optimistic commit.

Writes made through a transaction-bound KvStore are staged in memory and invisible to
others until commit. Reads see the transaction's own writes, and each key is read from
storage once (repeatable read). A staged write is either a whole value or a
*modification*: a function from the stored value to the new one (how array drivers stage
partial-chunk writes).

At commit:
* a key the transaction read (or wrote with ``if_equal``) is written conditioned on the
  generation it saw, and keys that were only read are re-validated, so a
  read-modify-write never silently loses a concurrent update: the commit fails with
  ``TransactionConflictError`` and the caller retries;
* a key that was only modified blindly is re-read at commit and the modifications are
  re-applied on top of whatever is stored, conditioned on that read and retried until
  it sticks, so concurrent writers to disjoint parts of one chunk lose nothing.
``repeatable_read=False`` stops recording reads as conditions.

Staged keys are grouped by the driver's ``storage_identity`` (the physical store), not
by KvStore object, so two arrays on one memory resource or on one filesystem are one
store of the transaction. A store whose driver implements ``commit_atomic`` (OCDBT)
gets all its staged keys, read validations and deleted ranges in one call, atomic or not;
plain writes (whole values, unconditioned) are staged as one dict of values, no entry per
key, and such a store takes that dict as it is (``StagedWrites``).
An adapter over such a store (``atomic_base``: sharded chunks, encoded chunks) has its
writes lowered through its own chain (``lower_staged``), and everything that reaches one
bottom store is committed by it in that one call.
An atomic transaction commits all or nothing: any number of keys of stores with the
commit-lock protocol (memory) plus either one key of a store that writes a key at a time
or one store with ``commit_atomic``; an operation that would go beyond that aborts the
whole transaction (``_fail``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NamedTuple

from .._executor import default_concurrency, run_inline
from .._future import Future, completed
from ..errors import TransactionConflictError
from ._driver import (
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedConditionFailed,
    StagedWrite,
    StagedWrites,
    WriteBatch,
    lower_staged_to_root,
)
from ._generation import UNKNOWN, TimestampedStorageGeneration
from ._key_range import KeyRange
from ._parallel import run_all

__all__ = ["Transaction", "TransactionConflictError"]


#: A staged modification: stored value (None = missing) -> new value (None = delete).
Modification = Callable[[bytes | None], bytes | None]

#: How many times a blind modification is re-applied after losing a race at commit.
_MAX_COMMIT_RETRIES = 1000
#: How many keys a commit conflict of a many-key store names.
_KEYS_NAMED = 5

#: Held by an atomic commit that writes its one single-key store while holding commit
#: locks: that write may reach, through an adapter, a store another such commit holds,
#: so two of them at once could wait for each other.
_single_key_commits = threading.Lock()


def _reset_after_fork() -> None:
    global _single_key_commits
    _single_key_commits = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


class _KeyState:
    __slots__ = ("condition", "driver", "modifications", "single", "snapshot", "value", "written")

    def __init__(self, driver: KvStoreDriver, written: bool = False, value: bytes | None = None) -> None:
        self.driver = driver  # the first driver that touched the key: commits it
        self.condition: bytes | None = None  # generation the commit is conditioned on
        self.snapshot: ReadResult | None = None  # first read: later reads repeat it
        self.written = written  # a whole value (``value``) replaces the stored one
        self.value = value
        #: Applied on top of the base value; a list once there is one (until then the
        #: empty tuple: no object per key for the garbage collector to count).
        self.modifications: list[Modification] | tuple[()] = ()
        self.single = False  # holds an atomic transaction's one single-key slot

    @property
    def staged(self) -> bool:
        return self.written or bool(self.modifications)

    def apply(self, base: bytes | None) -> bytes | None:
        value = self.value if self.written else base
        for modification in self.modifications:
            value = modification(value)
        return value

    #: The entry is its own ``StagedWrite.modify`` (no bound method made per key at commit).
    __call__ = apply


class _StoreState:
    """What a transaction staged in one physical store (one ``storage_identity``)."""

    __slots__ = ("claimed", "claimed_root", "deleted_ranges", "keys", "values", "values_driver")

    def __init__(self) -> None:
        self.keys: dict[bytes, _KeyState] = {}
        #: Keys that ``values_driver`` set to a whole value (None: deleted), and nothing
        #: else: never read, conditioned or modified (the bulk of a large transaction: a
        #: value each, no entry). A key is here or in ``keys``, never in both; ``entry``
        #: moves it to ``keys`` when anything else touches it.
        self.values: dict[bytes, bytes | None] = {}
        #: The one driver of this store whose plain writes go to ``values`` (the first
        #: that stages through the transaction's direct path).
        self.values_driver: KvStoreDriver | None = None
        self.deleted_ranges: list[tuple[KvStoreDriver, KeyRange]] = []
        #: In an atomic transaction, how an error names the store that holds the one
        #: slot beside the commit-lock stores (a store with ``commit_atomic``).
        self.claimed: str | None = None
        #: ``storage_identity`` of the driver that finally commits the claimed store (see
        #: ``_commit_root``): stores with the same root share the slot.
        self.claimed_root: Hashable = None

    def committing_driver(self) -> KvStoreDriver | None:
        """The driver that commits this store in one ``commit_atomic`` call, if it has one."""
        # (The driver of the first key, or else of the whole values, or else of the first
        # deleted range, decides.)
        first = next(iter(self.keys.values()), None)
        if first is not None:
            driver: KvStoreDriver | None = first.driver
        elif self.values:
            driver = self.values_driver
        else:
            driver = self.deleted_ranges[0][0] if self.deleted_ranges else None
        if driver is not None and driver.commits_atomically:
            return driver
        return None

    def deleted_by_range(self, key: bytes) -> bool:
        return any(r.contains(key) for _, r in self.deleted_ranges)

    def entry(self, key: bytes) -> _KeyState | None:
        """``key``'s entry; one is made for a key that holds only a whole value."""
        entry = self.keys.get(key)
        if entry is None and key in self.values:
            assert self.values_driver is not None
            entry = self.keys[key] = _KeyState(self.values_driver, True, self.values.pop(key))
        return entry

    def new_entry(self, key: bytes, driver: KvStoreDriver) -> _KeyState:
        """``key``'s entry, a new one for ``driver`` if it has none."""
        entry = self.entry(key)
        if entry is None:
            entry = self.keys[key] = _KeyState(driver)
        return entry

    def all_entries(self) -> dict[bytes, _KeyState]:
        """Every key's entry (the whole values made entries): for the commit of a store
        that commits key by key."""
        if self.values:
            assert self.values_driver is not None
            driver = self.values_driver
            for key, value in self.values.items():
                self.keys[key] = _KeyState(driver, True, value)
            self.values.clear()
        return self.keys


def _lockable(driver: KvStoreDriver) -> bool:
    """Whether ``driver`` offers the commit-lock protocol (see supports_atomic_multi_key)."""
    return all(hasattr(driver, name) for name in ("commit_lock", "writes_hold", "apply_writes"))


def _commit_root(driver: KvStoreDriver) -> tuple[KvStoreDriver, int]:
    """The driver whose ``commit_atomic`` finally commits ``driver``'s writes (following
    ``atomic_base``), and how many adapters lie between them."""
    depth = 0
    while (base := driver.atomic_base) is not None:
        driver, depth = base, depth + 1
    return driver, depth


def _multi_key(driver: KvStoreDriver) -> bool:
    return bool(driver.supports_atomic_multi_key) and _lockable(driver)


class _LoweredGroup(NamedTuple):
    """A commit of one bottom store: its writes and deleted ranges, and the keys (as the
    transaction staged them) whose conditions a conflict names."""

    root: KvStoreDriver
    writes: Sequence[StagedWrite]
    deleted_ranges: list[KeyRange]
    conditioned: list[str]


#: What a store staged through one driver: the driver, its writes (and reads to validate),
#: deleted ranges, and whole values (see ``_StoreState.values``).
_DriverStaged = tuple[KvStoreDriver, list[StagedWrite], list[KeyRange], dict[bytes, bytes | None]]


def _merge_same_keys(writes: Iterable[StagedWrite]) -> list[StagedWrite]:
    """One write per key: two stores lowered onto the same key of their bottom store (two
    opens of one sharded array write one shard) become one write that applies the first's
    ``modify`` and then the second's, and holds both conditions."""
    merged: dict[bytes, StagedWrite] = {}
    for write in writes:
        earlier = merged.get(write.key)
        merged[write.key] = write if earlier is None else _then(earlier, write)
    return list(merged.values())


def _then(first: StagedWrite, second: StagedWrite) -> StagedWrite:
    if first.condition is not None and second.condition is not None and first.condition != second.condition:
        return StagedWrite(first.key, _fail_condition, first.condition)  # both cannot hold
    condition = first.condition if first.condition is not None else second.condition
    if first.modify is None or second.modify is None:
        only = second if first.modify is None else first
        return StagedWrite(first.key, only.modify, condition, only.reads_stored)
    before, after = first.modify, second.modify

    def modify(stored: bytes | None) -> bytes | None:
        return after(before(stored))

    return StagedWrite(first.key, modify, condition, first.reads_stored)


def _fail_condition(stored: bytes | None) -> bytes | None:
    raise StagedConditionFailed("two writes of one key hold different conditions")


class Transaction:
    """A set of reads and writes committed together (``atomic=True``: all or nothing)."""

    def __init__(self, atomic: bool = False, repeatable_read: bool = True) -> None:
        self._atomic = bool(atomic)
        self._repeatable_read = bool(repeatable_read)
        self._lock = threading.RLock()
        self._stores: dict[Hashable, _StoreState] = {}
        #: Per driver staged through: its store's state, and whether it has the commit
        #: lock protocol (looked up once: staging runs for every key).
        self._driver_states: dict[int, tuple[KvStoreDriver, _StoreState, bool]] = {}
        #: Per driver a write may stage through directly (the transaction is open, the
        #: store needs nothing more claimed, see ``_fast_staging``, and the driver is its
        #: store's ``values_driver``): its store's state. Emptied when the commit starts or
        #: the transaction is aborted.
        self._direct: dict[int, tuple[KvStoreDriver, _StoreState]] = {}
        self._commit_started = False
        self._aborted = False
        self._failure: BaseException | None = None  # why the transaction was aborted
        self._future: Future[None] = Future()

    # -- state --------------------------------------------------------------------------
    @property
    def atomic(self) -> bool:
        return self._atomic

    @property
    def repeatable_read(self) -> bool:
        return self._repeatable_read

    @property
    def commit_started(self) -> bool:
        return self._commit_started

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def open(self) -> bool:
        """True until commit starts or the transaction is aborted."""
        return not (self._commit_started or self._aborted)

    @property
    def future(self) -> Future[None]:
        """Completes when the commit finishes (or fails, or the transaction is aborted)."""
        return self._future

    # -- lifecycle ------------------------------------------------------------------------
    def commit_async(self) -> Future[None]:
        """Start committing; the returned Future completes when the commit is durable."""
        with self._lock:
            if self._failure is not None:
                return self._future  # fails with the error that aborted the transaction
            if self._aborted:
                raise ValueError("cannot commit: the transaction was aborted")
            if self._commit_started:
                return self._future
            self._commit_started = True
            self._direct.clear()
        outcome = run_inline(self._commit)
        error = outcome.exception()
        if error is not None:
            self._future._set_exception(error)
        else:
            self._future._set_result(None)
        return self._future

    def commit_sync(self) -> None:
        """Commit and wait; raises the commit's error (e.g. a conflict)."""
        self.commit_async().result()

    def abort(self) -> None:
        """Discard every staged write; later operations and commits fail. Once the commit
        has started it runs to its end and ``abort`` does nothing, as in tensorstore."""
        with self._lock:
            if self._commit_started or self._aborted:
                return
            self._aborted = True
            self._stores.clear()
            self._driver_states.clear()
            self._direct.clear()
        self._future._set_exception(ValueError("transaction aborted"))

    def _fail(self, error: BaseException) -> BaseException:
        """Abort because of ``error`` (an operation that cannot join an atomic transaction):
        nothing staged is committed, later operations fail, and the commit fails with
        ``error`` itself, as in tensorstore. Returns ``error`` (to raise it)."""
        with self._lock:
            if self.open:
                self._failure = error
                self._aborted = True
                self._stores.clear()
                self._driver_states.clear()
                self._direct.clear()
                self._future._set_exception(error)
        return error

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit_sync()
        elif self.open:
            self.abort()

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.commit_async()
        elif self.open:
            self.abort()

    def __repr__(self) -> str:
        state = "aborted" if self._aborted else "committing" if self._commit_started else "open"
        return f"Transaction(atomic={self._atomic}, {state})"

    def __reduce__(self) -> Any:
        # Staged writes live in this process's memory only: a copy elsewhere would commit
        # them twice or not at all.
        raise TypeError(
            "cannot pickle a ts.Transaction: its staged writes live in this process; commit it "
            "and pickle the TensorStore or KvStore without the transaction"
        )

    # -- staging (called by KvStore) ---------------------------------------------------------
    def _state_for(self, driver: KvStoreDriver) -> _StoreState:
        if not self.open:
            if self._failure is not None:
                raise ValueError(f"transaction is no longer open: it was aborted ({self._failure})")
            raise ValueError(
                "transaction is no longer open: it was "
                + ("aborted" if self._aborted else "committed")
            )
        known = self._driver_states.get(id(driver))
        if known is not None and known[0] is driver:
            return known[1]
        identity = driver.storage_identity
        state = self._stores.get(identity)
        if state is None:
            state = self._stores[identity] = _StoreState()
        self._driver_states[id(driver)] = (driver, state, _multi_key(driver))
        return state

    def _claim_single_key(self, driver: KvStoreDriver, state: _StoreState, key: bytes) -> None:
        """In an atomic transaction, stores without the commit-lock protocol share one slot:
        while it holds the other stores' commit locks, the commit writes (or validates)
        either one key of a store that writes a key at a time, or any keys of one store
        with ``commit_atomic`` in one call. Anything that needs a second slot aborts the
        transaction."""
        if not self._atomic or self._driver_states[id(driver)][2]:
            return
        committable = driver.commits_atomically
        if committable and state.claimed is not None:
            return
        entry = state.keys.get(key)
        if entry is not None and entry.single:
            return
        root = _commit_root(driver)[0].storage_identity if committable else None
        for other_state in self._stores.values():
            if committable and other_state.claimed is not None and other_state.claimed_root == root:
                continue  # committed in the same call (an adapter over the same store)
            holder = other_state.claimed
            if holder is None:
                holder = next(
                    (other.driver.describe_key(k) for k, other in other_state.keys.items() if other.single), None
                )
            if holder is not None:
                reason = (
                    "an atomic transaction can commit only one OCDBT-like database (a store with commit_atomic)"
                    if committable and other_state.claimed is not None
                    else f'kvstore driver "{driver.id}" cannot commit more than one key atomically'
                    if not committable
                    else "the other key's store cannot commit atomically together with it"
                )
                raise self._fail(ValueError(
                    f"Cannot read/write {holder} and read/write {driver.describe_key(key)} as single "
                    f"atomic transaction: {reason}"
                ))
        if committable:
            state.claimed = driver.describe_key(key)
            state.claimed_root = root
        else:
            state.new_entry(key, driver).single = True

    def _read(self, driver: KvStoreDriver, key: bytes, options: ReadOptions) -> Future[ReadResult]:
        return run_inline(self._read_now, driver, key, options)

    def _base(self, driver: KvStoreDriver, state: _StoreState, key: bytes, entry: _KeyState | None) -> ReadResult:
        """The stored value as this transaction sees it (read once, then repeated)."""
        if entry is not None and entry.snapshot is not None:
            return entry.snapshot
        if entry is None and state.deleted_by_range(key):
            return ReadResult("missing", b"", TimestampedStorageGeneration(UNKNOWN, time.time()))
        result = driver.read(key, ReadOptions())
        with self._lock:
            state = self._state_for(driver)  # still open?
            entry = state.entry(key)
            if entry is None or entry.snapshot is None:
                if self._repeatable_read and (entry is None or entry.condition is None):
                    self._claim_single_key(driver, state, key)  # the read is a dependency
                entry = state.new_entry(key, driver)
                if entry.snapshot is None:
                    entry.snapshot = result
                    if self._repeatable_read and entry.condition is None:
                        entry.condition = result.stamp.generation
            return entry.snapshot

    def _read_now(self, driver: KvStoreDriver, key: bytes, options: ReadOptions) -> ReadResult:
        with self._lock:
            state = self._state_for(driver)
            entry = state.entry(key)
        if entry is not None and entry.written:  # the stored value does not matter
            if entry.modifications:
                with self._lock:
                    value = entry.apply(None)
            else:
                value = entry.value
            stamp = TimestampedStorageGeneration(UNKNOWN, time.time())
        else:
            base = self._base(driver, state, key, entry)
            with self._lock:
                entry = state.entry(key)
            if entry is None or not entry.staged:
                value = base.value if base.state == "value" else None
                stamp = base.stamp
            else:
                with self._lock:
                    value = entry.apply(base.value if base.state == "value" else None)
                stamp = TimestampedStorageGeneration(UNKNOWN, time.time())
        if options.if_not_equal is not None and options.if_not_equal == stamp.generation:
            return ReadResult("unspecified", b"", stamp)
        if value is None:
            return ReadResult("missing", b"", stamp)
        if not options.byte_range.is_full:
            start, stop = options.byte_range.resolve(len(value), key)
            value = value[start:stop]
        return ReadResult("value", value, stamp)

    def _write(
        self, driver: KvStoreDriver, key: bytes, value: bytes | None, if_equal: bytes | None
    ) -> Future[TimestampedStorageGeneration]:
        if if_equal is None and (value is None or value.__class__ is bytes):
            # The common case (a loop of plain writes through one store): one call, one
            # lock; anything else takes ``_write_now``. (The lock by acquire and release:
            # half the cost of a ``with`` block, paid for every key of a large transaction.)
            lock = self._lock
            lock.acquire()
            try:
                direct = self._direct.get(id(driver))
                if direct is not None and direct[0] is driver:
                    state = direct[1]
                    entry = state.keys.get(key)
                    if entry is None:
                        state.values[key] = value  # (``driver`` is the ``values_driver``)
                    else:
                        entry.written, entry.value = True, value
                        entry.modifications = ()
                    return completed(TimestampedStorageGeneration(UNKNOWN, time.time()))
            finally:
                lock.release()
        try:
            stamp = self._write_now(driver, key, value, if_equal)
        except Exception as error:
            failed: Future[TimestampedStorageGeneration] = Future()
            failed._set_exception(error)
            return failed
        return completed(stamp)  # staging is synchronous

    def _fast_staging(self, driver: KvStoreDriver, known: tuple[KvStoreDriver, _StoreState, bool]) -> bool:
        """(With the lock held, ``known`` being ``driver``'s entry of ``_driver_states``.)
        Whether a write through ``driver`` may skip ``_state_for`` and the atomic claim:
        the transaction is open and the store needs nothing (more) claimed."""
        return (
            (known[2] or not self._atomic or (known[1].claimed is not None and driver.commits_atomically))
            and not (self._commit_started or self._aborted)
        )

    def _entry_for_write(self, driver: KvStoreDriver, key: bytes) -> _KeyState:
        direct = self._direct.get(id(driver))
        if direct is not None and direct[0] is driver:
            state = direct[1]  # a store this transaction already stages for
        else:
            state = self._state_for(driver)
            if self._atomic:
                self._claim_single_key(driver, state, key)
            if state.values_driver in (None, driver) and self._fast_staging(driver, self._driver_states[id(driver)]):
                state.values_driver = driver
                self._direct[id(driver)] = (driver, state)
        return state.new_entry(key, driver)

    def _write_now(
        self, driver: KvStoreDriver, key: bytes, value: bytes | None, if_equal: bytes | None
    ) -> TimestampedStorageGeneration:
        with self._lock:
            entry = self._entry_for_write(driver, key)
            if if_equal is not None and if_equal != UNKNOWN:
                if entry.condition is not None and entry.condition != if_equal:
                    raise TransactionConflictError(
                        f"if_equal for {key!r} contradicts the generation this transaction read"
                    )
                entry.condition = if_equal
            entry.written = True
            entry.value = value if value is None or type(value) is bytes else bytes(value)
            entry.modifications = ()
        return TimestampedStorageGeneration(UNKNOWN, time.time())

    def _modify(self, driver: KvStoreDriver, key: bytes, modification: Modification) -> None:
        """Stage ``modification`` of ``key``; applied to the stored value at commit (to the
        staged whole value, if one was written: then the stored value is not read)."""
        with self._lock:
            entry = self._entry_for_write(driver, key)
            if isinstance(entry.modifications, list):
                entry.modifications.append(modification)
            else:
                entry.modifications = [modification]

    def _delete_range(self, driver: KvStoreDriver, key_range: KeyRange) -> Future[None]:
        return run_inline(self._delete_range_now, driver, key_range)

    def _delete_range_now(self, driver: KvStoreDriver, key_range: KeyRange) -> None:
        with self._lock:
            state = self._state_for(driver)
            if self._atomic:
                if not driver.commits_atomically:
                    raise ValueError("delete_range is not supported in an atomic transaction")
                self._claim_single_key(driver, state, key_range.inclusive_min)
            state.deleted_ranges.append((driver, key_range))
            for key, entry in state.keys.items():
                if key_range.contains(key):
                    entry.written, entry.value, entry.modifications = True, None, ()
            values = state.values
            for key in [key for key in values if key_range.contains(key)]:
                values[key] = None

    def _list(self, driver: KvStoreDriver, key_range: KeyRange) -> Iterable[bytes]:
        with self._lock:
            state = self._state_for(driver)
            staged = [k for k, e in state.keys.items() if e.staged and key_range.contains(k)]
            whole = [(k, v is not None) for k, v in state.values.items() if key_range.contains(k)]
            ranges = [r for _, r in state.deleted_ranges]
        keys = {k for k in driver.list(key_range) if not any(r.contains(k) for r in ranges)}
        keys.update(k for k, present in whole if present)
        keys.difference_update(k for k, present in whole if not present)
        for key in staged:
            if self._read_now(driver, key, ReadOptions()).state == "value":
                keys.add(key)
            else:
                keys.discard(key)
        return keys

    # -- commit ----------------------------------------------------------------------------------
    def _commit(self) -> None:
        if self._atomic:
            self._commit_atomic()
            return
        groups = [lowered for group in self._commit_groups() if (lowered := self._lower_group(group)) is not None]
        for state in self._stores.values():
            if state.committing_driver() is None:
                self._validate_reads(state.all_entries().items())
        for group in groups:
            self._commit_lowered(group)
        for state in self._stores.values():
            if state.committing_driver() is not None:
                continue
            for driver, key_range in state.deleted_ranges:
                driver.delete_range(key_range)
            self._commit_keys([(key, entry) for key, entry in state.all_entries().items() if entry.staged])

    def _commit_keys(self, items: list[tuple[bytes, _KeyState]]) -> None:
        """Commit each key on its own (a non-atomic commit), many at once on the drivers'
        I/O pools. Each driver's keys go through one write batch, so they share its
        durability work (the ``file`` driver's fsyncs: one durability barrier for the
        whole commit); every write made is durable when this returns, even after an
        error, which is raised once the writes already started have ended."""
        if not items:
            return
        batches: dict[int, WriteBatch] = {}
        for _, entry in items:
            if id(entry.driver) not in batches:
                batches[id(entry.driver)] = entry.driver.write_batch()
        first_key, first = items[0]
        executor = first.driver.executor
        limit = 1 if executor is None else min(
            executor.limit, batches[id(first.driver)].writers(first_key, default_concurrency())
        )

        def commit(item: tuple[bytes, _KeyState]) -> None:
            key, entry = item
            self._commit_key(entry.driver, key, entry, batches[id(entry.driver)].write)

        try:
            run_all(executor, limit, items, commit)
        except BaseException:
            for batch in batches.values():
                with contextlib.suppress(Exception):  # the commit's own error is reported
                    batch.finish()
            raise
        errors = []
        for batch in batches.values():
            try:
                batch.finish()
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def _commit_key(
        self,
        driver: KvStoreDriver,
        key: bytes,
        entry: _KeyState,
        write: Callable[[bytes, bytes | None, bytes | None], TimestampedStorageGeneration] | None = None,
    ) -> None:
        """Commit one key's staged writes (through ``write``, by default the driver's)."""
        if write is None:
            write = driver.write
        if entry.condition is not None or entry.written or not entry.modifications:
            # Read-dependent (or a whole-value write, maybe modified after): one conditional write.
            base = entry.snapshot
            value = entry.apply(base.value if base is not None and base.state == "value" else None)
            stamp = write(key, value, entry.condition)
            if stamp.generation == UNKNOWN:
                raise TransactionConflictError(
                    f"commit conflict on key {key!r}: it changed since this transaction "
                    "read it; retry the transaction"
                )
            return
        for _ in range(_MAX_COMMIT_RETRIES):
            # Blind modifications: re-apply on top of whatever is stored now.
            current = driver.read(key, ReadOptions())
            value = entry.apply(current.value if current.state == "value" else None)
            if write(key, value, current.stamp.generation).generation != UNKNOWN:
                return
        raise TransactionConflictError(f"commit of {key!r} lost {_MAX_COMMIT_RETRIES} races in a row")

    def _commit_groups(self) -> list[list[tuple[KvStoreDriver, _StoreState]]]:
        """The stores committed through ``commit_atomic``, grouped by the driver that finally
        commits them (an adapter such as a sharded chunk view joins its base's group)."""
        groups: dict[Hashable, list[tuple[KvStoreDriver, _StoreState]]] = {}
        for state in self._stores.values():
            driver = state.committing_driver()
            if driver is not None:
                groups.setdefault(_commit_root(driver)[0].storage_identity, []).append((driver, state))
        return list(groups.values())

    def _lower_group(self, group: list[tuple[KvStoreDriver, _StoreState]]) -> _LoweredGroup | None:
        """What stores with ``commit_atomic`` that share a root commit in one call of the
        root: their writes, read validations and deleted ranges, each lowered through the
        adapters of the driver it was staged through (so each adapter encodes its own
        keys). Done before anything is written: an adapter that cannot lower its writes
        fails the commit with nothing written. None if there is nothing to commit."""
        staged = [item for _, state in group for item in self._staged_by_driver(state)]
        if len(staged) == 1 and staged[0][0].atomic_base is None:
            # One driver that commits itself staged it all (a transaction of an OCDBT
            # kvstore): its whole values go over as the one dict they were staged in.
            driver, own_writes, own_ranges, values = staged[0]
            if not own_writes and not own_ranges and not values:
                return None
            conditioned = [repr(w.key) for w in own_writes if w.condition is not None]
            return _LoweredGroup(driver, StagedWrites(own_writes, values) if values else own_writes, own_ranges, conditioned)
        root: KvStoreDriver | None = None
        writes: list[StagedWrite] = []
        deleted_ranges: list[KeyRange] = []
        conditioned = []
        sources = 0
        for driver, own_writes, own_ranges, values in staged:
            conditioned += [repr(w.key) for w in own_writes if w.condition is not None]
            root, lowered, lowered_ranges = lower_staged_to_root(
                driver, StagedWrites(own_writes, values) if values else own_writes, own_ranges
            )
            writes += lowered
            deleted_ranges += lowered_ranges
            sources += 1 if root is driver else 2  # an adapter may lower two keys onto one
        if root is None or (not writes and not deleted_ranges):
            return None
        # The keys of one driver's own writes are unique: only writes from several
        # drivers, or lowered by adapters, may share a key.
        return _LoweredGroup(root, writes if sources == 1 else _merge_same_keys(writes), deleted_ranges, conditioned)

    @staticmethod
    def _commit_lowered(group: _LoweredGroup, outcome: str = "") -> None:
        """One ``commit_atomic`` call of the group's root: all of it or nothing."""
        try:
            committed = group.root.commit_atomic(group.writes, group.deleted_ranges)
        except StagedConditionFailed:
            committed = False
        if not committed:
            shown = ", ".join(group.conditioned[:_KEYS_NAMED])
            if len(group.conditioned) > _KEYS_NAMED:
                shown += f" and {len(group.conditioned) - _KEYS_NAMED} more"
            raise TransactionConflictError(
                f"commit conflict: a key this transaction read or conditioned ({shown}) changed "
                f"since; retry the transaction{outcome or '; nothing of this store was written'}"
            )

    @staticmethod
    def _staged_by_driver(state: _StoreState) -> list[_DriverStaged]:
        """``state``'s staged writes (and reads to validate), deleted ranges and whole
        values, by the driver they were staged through."""
        by_driver: dict[int, _DriverStaged] = {}
        if state.values:
            assert state.values_driver is not None
            by_driver[id(state.values_driver)] = (state.values_driver, [], [], state.values)
        for driver, key_range in state.deleted_ranges:
            by_driver.setdefault(id(driver), (driver, [], [], {}))[2].append(key_range)
        last_driver: KvStoreDriver | None = None
        writes: list[StagedWrite] = []
        # (A named tuple made by ``tuple.__new__``: half the cost of its constructor, paid
        # for every key of a large transaction.)
        make = tuple.__new__
        for key, entry in state.keys.items():
            condition = entry.condition
            if condition == UNKNOWN:
                condition = None
            if entry.written or entry.modifications:
                # Re-applied to the value stored at commit; with a condition that value is
                # the one this transaction read, without one the modifications are blind.
                write = make(StagedWrite, (key, entry, condition, not entry.written))
            elif condition is not None:
                write = StagedWrite(key, None, condition)  # a read to validate
            else:
                continue
            if entry.driver is not last_driver:
                last_driver = entry.driver
                found = by_driver.get(id(last_driver))
                if found is None:
                    found = by_driver[id(last_driver)] = (last_driver, [], [], {})
                writes = found[1]
            writes.append(write)
        return list(by_driver.values())

    def _commit_atomic(self) -> None:
        """All or nothing: hold the commit lock of every lockable store (memory), validate
        reads and compute every value, then commit the one slot of the other stores (one
        key of a store without the lock protocol, or one store with ``commit_atomic``; see
        ``_claim_single_key``), and only if that succeeded apply the locked stores'
        writes, which cannot fail part way."""
        locked: dict[Hashable, tuple[KvStoreDriver, list[tuple[bytes, _KeyState]]]] = {}
        others: list[tuple[bytes, _KeyState]] = []
        committing = [lowered for group in self._commit_groups() if (lowered := self._lower_group(group)) is not None]
        for identity, state in self._stores.items():
            if state.committing_driver() is not None:
                continue
            for key, entry in state.all_entries().items():
                if _lockable(entry.driver):
                    locked.setdefault(identity, (entry.driver, []))[1].append((key, entry))
                else:
                    others.append((key, entry))
        drivers = [driver for driver, _ in locked.values()]
        with contextlib.ExitStack() as held:
            if drivers and (committing or any(entry.staged for _, entry in others)):
                held.enter_context(_single_key_commits)
            for driver in sorted(drivers, key=id):  # one global order: no deadlock
                held.enter_context(driver.commit_lock)  # type: ignore[attr-defined]
            self._validate_reads(
                [*others, *(item for _, items in locked.values() for item in items)], "; nothing was written"
            )
            writes = []
            for driver, items in locked.values():
                batch = []
                for key, entry in items:
                    if not entry.staged:
                        continue
                    if entry.condition is not None or entry.written or not entry.modifications:
                        base, condition = entry.snapshot, entry.condition
                    else:  # blind: on top of what is stored now, which the lock holds still
                        base = driver.read(key, ReadOptions())
                        condition = base.stamp.generation
                    value = entry.apply(base.value if base is not None and base.state == "value" else None)
                    batch.append((key, value, condition))
                writes.append((driver, batch))
            if not all(driver.writes_hold(batch) for driver, batch in writes):  # type: ignore[attr-defined]
                raise TransactionConflictError(
                    "atomic commit failed: a key changed since this transaction read it; "
                    "nothing was written"
                )
            for key, entry in others:
                if entry.staged:
                    self._commit_key(entry.driver, key, entry)
            for group in committing:
                self._commit_lowered(group, "; nothing was written")
            for driver, batch in writes:
                driver.apply_writes(batch)  # type: ignore[attr-defined]

    def _validate_reads(self, items: Iterable[tuple[bytes, _KeyState]], outcome: str = "") -> None:
        for key, entry in items:
            if entry.staged or entry.condition is None or entry.condition == UNKNOWN:
                continue
            current = entry.driver.read(key, ReadOptions(if_not_equal=entry.condition))
            if current.state != "unspecified":
                raise TransactionConflictError(
                    f"commit conflict on key {key!r}: it changed since this transaction read it{outcome}"
                )
