"""The ``ocdbt`` kvstore: keys of a versioned B+tree stored in a base kvstore.

Reads look the key up in the B+tree of the latest version (or of the pinned ``version``);
each write, delete and ``delete_range`` is one commit: a new version made by the writer
and published by one conditional write of the manifest (writes that wait for a running
commit share the next one, and a bulk array write through ``write_batch`` is one commit;
a value of 1 MiB or more is stored in a data file of its own before its commit, smaller
ones share the commit's data file with its nodes). A transaction's keys of one
database are committed together through ``commit_atomic``: one new version for all of
them, or nothing. A lost race for the manifest is retried on top of the version that won,
with blind modifications re-applied and conditions re-checked, so concurrent committers
(threads, processes, machines) never lose a committed write.
"""

from __future__ import annotations

import builtins
import enum
import functools
import json
import operator
import os
import threading
import time
import uuid as uuid_module
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Final, Literal, TypeAlias

import attrs

from ts_core.concurrency import Executor, default_concurrency
from ts_core.context import Context
from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    ByteRange,
    KeyRange,
    KvStore,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedWrite,
    StagedWrites,
    TimestampedStorageGeneration,
    WriteBatch,
    prefix_range,
)

from . import _spec
from ._io import OcdbtIO, value_generation
from ._spec import OcdbtSpec, VersionSpec
from ._traversal import find_version, iterate, list_keys, lookup
from ._values import NewValue, compute_unread_values, compute_values, new_value, new_values
from ._writer import (
    DataFileBuffer,
    DataFilePrefixes,
    WriterOptions,
    commit,
    obsolete_numbered_manifests,
    write_value_file,
)
from .format import (
    DEFAULT_MAX_DECODED_NODE_BYTES,
    DEFAULT_MAX_INLINE_VALUE_BYTES,
    DEFAULT_VERSION_TREE_ARITY_LOG2,
    MANIFEST_KEY,
    MANIFEST_KIND_SINGLE,
    BtreeGenerationReference,
    Config,
    IndirectDataReference,
    Manifest,
    ZstdCompression,
    decode_manifest,
    numbered_manifest_key,
    parse_numbered_manifest_key,
    read_manifest,
)

__all__ = ["OcdbtDriver", "find_version", "iterate", "lookup"]

#: A value this large that is written on its own is stored in a data file of its own
#: before its commit; a smaller one is packed into the commit's data file.
_PACKED_VALUE_BYTES: Final = 2**20
#: How many times a commit is retried after losing the race for the manifest.
_MAX_COMMIT_ATTEMPTS: Final = 10_000
#: A committer looks for numbered manifests to delete every this many generations.
_NUMBERED_CLEANUP_INTERVAL: Final = 16
#: Fewest threads of a driver's pool: operations mostly wait for the base's I/O, and
#: writes waiting together are committed together.
_MIN_THREADS: Final = 64


@attrs.frozen
class _Snapshot:
    """The manifest as of ``time`` (None: no database yet) and the generation of
    ``manifest.ocdbt`` it was read from."""

    manifest: Manifest | None
    generation: bytes
    time: float


def _check_config(config: Config, constraints: dict[str, Any], where: str) -> None:
    """ValueError naming the first member of the spec's ``config`` the database's differs in."""
    actual = {**_spec.config_json(config), "manifest_kind": config.manifest_kind}
    for name in ("uuid", "manifest_kind", "max_inline_value_bytes", "max_decoded_node_bytes",
                 "version_tree_arity_log2", "compression"):
        if name in constraints and constraints[name] != actual[name]:
            raise ValueError(
                f"Configuration mismatch on {name}: expected {json.dumps(constraints[name])} but "
                f"received {json.dumps(actual[name])} (the config of the OCDBT database at {where})"
            )


def _new_config(constraints: dict[str, Any]) -> Config:
    """The config of a new database under ``constraints`` (tensorstore's defaults otherwise)."""
    compression: ZstdCompression | None = ZstdCompression()
    if "compression" in constraints:
        chosen = constraints["compression"]
        compression = None if chosen is None else ZstdCompression(chosen.get("level", 0))
    uuid = bytes.fromhex(constraints["uuid"]) if "uuid" in constraints else uuid_module.uuid4().bytes
    return Config(
        uuid=uuid,
        # Every ts kvstore honours ``if_equal`` (the capability tensorstore chooses the
        # single-file manifest for); the numbered kind is used when asked for.
        manifest_kind=constraints.get("manifest_kind", MANIFEST_KIND_SINGLE),
        max_inline_value_bytes=constraints.get("max_inline_value_bytes", DEFAULT_MAX_INLINE_VALUE_BYTES),
        max_decoded_node_bytes=constraints.get("max_decoded_node_bytes", DEFAULT_MAX_DECODED_NODE_BYTES),
        version_tree_arity_log2=constraints.get("version_tree_arity_log2", DEFAULT_VERSION_TREE_ARITY_LOG2),
        compression=compression,
    )


class OcdbtDriver(KvStoreDriver):
    """An OCDBT database in ``base`` (a directory); keys are the B+tree's keys."""

    id = "ocdbt"
    spec_class = OcdbtSpec
    #: It implements ``commit_atomic`` (a constant: a transaction asks once per key staged).
    commits_atomically = True

    def __init__(self, spec: OcdbtSpec, base: KvStore, manifest_store: KvStore | None = None) -> None:
        self._spec = spec
        self._base = base
        #: Where the manifest files are: the base, unless the spec's ``manifest`` names another.
        self._manifest_store = base if manifest_store is None else manifest_store
        self._io = OcdbtIO(base)
        #: A database in a local base (file, memory) is local too: the array drivers then
        #: call it from their workers and write in bulk through :meth:`write_batch`.
        self.local_io = base.driver.local_io  # type: ignore[misc]
        self._reset_locks()
        _open_drivers.add(self)
        self._writer_options = WriterOptions(
            DataFilePrefixes(
                spec.value_data_prefix.encode("utf-8"),
                spec.btree_node_data_prefix.encode("utf-8"),
                spec.version_tree_node_data_prefix.encode("utf-8"),
            ),
            _spec.DEFAULT_TARGET_DATA_FILE_SIZE if spec.target_data_file_size is None else spec.target_data_file_size,
        )
        self._snapshot: _Snapshot | None = None
        #: The database's config once known (read from the manifest, or assumed).
        self._config: Config | None = _new_config(spec.config) if spec.assume_config else None
        self._config_confirmed = False
        self._executor: Executor | None = None

    def _reset_locks(self) -> None:
        """New locks and an empty commit queue (at creation, and in a forked child, where a
        lock another thread held at the fork would stay held forever)."""
        self._lock = threading.Lock()
        #: Guards the commit queue and ``_committing`` (whether a thread is committing);
        #: notified when a commit ends.
        self._queue_changed = threading.Condition(threading.Lock())
        self._queue: builtins.list[_Request] = []
        self._committing = False

    @classmethod
    def open(cls, spec: OcdbtSpec, context: Context) -> OcdbtDriver:
        if spec.base is None:
            raise ValueError('kvstore.base: the "ocdbt" kvstore needs a "base" kvstore holding the database')
        reference = "ocdbt_coordinator" if spec.coordinator is None else spec.coordinator
        coordinator = context.resource("ocdbt_coordinator", reference, "kvstore.coordinator")
        if coordinator.get("address") is not None:
            raise NotImplementedError(
                "kvstore.coordinator: distributed OCDBT coordination (a coordinator address) is not "
                "supported by ts; writers coordinate through conditional writes of the manifest"
            )
        manifest_store = None if spec.manifest is None else KvStore.open(spec.manifest, context=context).result()
        return cls(spec, KvStore.open(spec.base, context=context).result(), manifest_store)

    # -- identity ---------------------------------------------------------------------------
    @property
    def spec(self) -> OcdbtSpec:
        config = self._config if self._config_confirmed else None
        if config is None:
            return self._spec
        constraints = {**_spec.config_json(config)}
        if "manifest_kind" in self._spec.config:
            constraints["manifest_kind"] = self._spec.config["manifest_kind"]
        return attrs.evolve(self._spec, config=constraints)

    @classmethod
    def base_spec(cls, spec: OcdbtSpec) -> Any:
        return spec.base

    @property
    def base_kvstore(self) -> KvStore:
        return self._base

    @property
    def writer_options(self) -> WriterOptions:
        """Where new data files go and how large they grow (from the spec)."""
        return self._writer_options

    @property
    def executor(self) -> Executor:
        """A pool of this driver's own: its operations wait for reads and writes of the base,
        which run on the base's pool, so sharing that pool could leave no thread to run them."""
        with self._lock:
            if self._executor is None:
                self._executor = Executor(max(_MIN_THREADS, 4 * default_concurrency()), "ts-ocdbt")
            return self._executor

    @classmethod
    def url_for(cls, spec: OcdbtSpec, path: str) -> str:
        return _spec.url_for(spec, path)

    @property
    def storage_identity(self) -> Hashable:
        # Two opens of one database hold the same keys: one store of a transaction.
        return ("ocdbt", self._base.driver.storage_identity, self._base.path)

    @property
    def version(self) -> VersionSpec | None:
        """The pinned version (read-only), or None for the latest."""
        return self._spec.version  # type: ignore[no-any-return]

    def _where(self) -> str:
        """The database's directory as the base names it (``local file "/data/db/"``)."""
        return self._base.driver.describe_key(self._base.path.encode("utf-8"))

    def describe_key(self, key: bytes) -> str:
        pinned = "" if self.version is None else f"version {_spec.format_version(self.version)} of "
        return f'"{key.decode("utf-8", "backslashreplace")}" in {pinned}OCDBT database at {self._where()}'

    # -- the manifest -------------------------------------------------------------------------
    def _manifest_key(self) -> bytes:
        return self._manifest_store.path.encode("utf-8") + MANIFEST_KEY

    def load_manifest(self, staleness_bound: float = float("inf")) -> _Snapshot:
        """The current manifest: the cached one if it is fresh enough or still current,
        otherwise read and decoded again.

        A single-file manifest is current while ``manifest.ocdbt`` keeps its generation; a
        numbered database's while the next numbered manifest does not exist (they are only
        ever created, in order).
        """
        cached = self._snapshot
        if cached is not None and cached.time >= staleness_bound:
            return cached
        now = time.time()
        if cached is not None and cached.manifest is not None and cached.manifest.config.manifest_kind != MANIFEST_KIND_SINGLE:
            following = numbered_manifest_key(cached.manifest.latest_generation + 1)
            key = self._manifest_store.path.encode("utf-8") + following
            if self._manifest_store.driver.read(key, ReadOptions(byte_range=ByteRange(0, 0))).state == "missing":
                snapshot = _Snapshot(cached.manifest, cached.generation, now)
                self._adopt(snapshot)
                return snapshot
            known = None
        else:
            known = cached.generation if cached is not None else None
        probe = self._manifest_store.driver.read(self._manifest_key(), ReadOptions(if_not_equal=known))
        if probe.state == "unspecified" and cached is not None:
            snapshot = _Snapshot(cached.manifest, cached.generation, now)
        elif probe.state != "value":
            snapshot = _Snapshot(None, probe.stamp.generation, now)
        else:
            manifest = decode_manifest(bytes(probe.value), MANIFEST_KEY.decode())
            if manifest.config.manifest_kind != MANIFEST_KIND_SINGLE:
                manifest = read_manifest(self._manifest_store) or manifest  # versions: manifest.<n>
            snapshot = _Snapshot(manifest, probe.stamp.generation, now)
        self._adopt(snapshot)
        return snapshot

    def _adopt(self, snapshot: _Snapshot) -> None:
        """Remember ``snapshot`` (unless a newer one is known) and check its config."""
        manifest = snapshot.manifest
        if manifest is not None:
            self._confirm_config(manifest.config)
        with self._lock:
            current = self._snapshot
            if current is None or _generation_of(snapshot) >= _generation_of(current):
                self._snapshot = snapshot

    def _confirm_config(self, config: Config) -> None:
        if self._config_confirmed and self._config == config:
            return
        _check_config(config, self._spec.config, self._where())
        if self._config is not None and self._spec.assume_config and self._config != config:
            raise ValueError(
                f"OCDBT database at {self._where()}: its config differs from the config assumed by "
                f"assume_config ({_spec.config_json(self._config)} vs {_spec.config_json(config)})"
            )
        self._config = config
        self._io.config = config
        self._config_confirmed = True

    def config_for_write(self, snapshot: _Snapshot) -> Config:
        """The config a commit on top of ``snapshot`` writes with (a new database's if none)."""
        if snapshot.manifest is not None:
            return snapshot.manifest.config
        if self._config is None:
            self._config = _new_config(self._spec.config)
        return self._config

    # -- versions ----------------------------------------------------------------------------
    def _selected_version(self, manifest: Manifest | None) -> BtreeGenerationReference | None:
        """The version reads see: the latest, or the pinned one (ValueError if it does not exist)."""
        pinned = self.version
        if pinned is None:
            if manifest is None or not manifest.versions:
                return None
            return manifest.latest_version
        found = None if manifest is None else find_version(self._io, manifest, pinned)
        if found is None:
            what = (
                f"generation_number={pinned}" if isinstance(pinned, int) else f"commit_time<={pinned}"
            )
            raise ValueError(f"Version where {what} not present in OCDBT database at {self._where()}")
        return found

    # -- reading ---------------------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        snapshot = self.load_manifest(options.staleness_bound)
        stamp_time = snapshot.time
        version = self._selected_version(snapshot.manifest)
        value = None if version is None else lookup(self._io, version, key)
        if value is None:
            stamp = TimestampedStorageGeneration(NO_VALUE, stamp_time)
            if options.if_not_equal == NO_VALUE:
                return ReadResult("unspecified", b"", stamp)
            return ReadResult("missing", b"", stamp)
        stamp = TimestampedStorageGeneration(value_generation(value), stamp_time)
        if options.if_not_equal == stamp.generation:
            return ReadResult("unspecified", b"", stamp)
        return ReadResult("value", self._read_value(key, value, options.byte_range), stamp)

    def _read_value(self, key: bytes, value: bytes | IndirectDataReference, byte_range: ByteRange) -> bytes:
        if byte_range.is_full:
            return self._io.read_value(value)
        size = value.length if isinstance(value, IndirectDataReference) else len(value)
        return self._io.read_value(value, *byte_range.resolve(size, key))

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        snapshot = self.load_manifest()
        version = self._selected_version(snapshot.manifest)
        if version is None:
            return []
        return list_keys(self._io, version, key_range)

    # -- writing ---------------------------------------------------------------------------------
    def check_writable(self) -> None:
        if self.version is not None:
            raise ValueError(
                f"Writing is not supported with version={_spec.format_version(self.version)} specified"
            )

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self.write_now(key, value, if_equal)

    def write_now(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        """``write`` (one commit, shared with the writes that wait with it), unmetered: for
        a write batch that hands a write on."""
        self.check_writable()
        condition = None if if_equal in (None, UNKNOWN) else if_equal
        stored = self.store_value(value)
        stamps = self._commit([StagedWrite(key, _setting(stored), condition, reads_stored=False)], ())
        if stamps is None:
            return TimestampedStorageGeneration(UNKNOWN, time.time())
        return stamps[0]

    def write_config(self) -> Config | None:
        """The config new values are stored under: the database's (read once if not known
        yet) or the assumed one; None while the database does not exist."""
        if not self._config_confirmed and not self._spec.assume_config:
            self.load_manifest()
        return self._config if self._config_confirmed or self._spec.assume_config else None

    def store_value(self, value: bytes | None) -> NewValue:
        """``value`` as the commit is given it: a value of ``_PACKED_VALUE_BYTES`` or more is
        first written to a data file of its own, here, on the caller's thread (so many
        writers store large values at once, and no commit copies them into a file shared
        with others). Smaller values stay bytes: the commit packs those too large to be
        inline into its own data file, with its nodes (one durable write for all)."""
        if value is None:
            return None
        data = bytes(value)
        if len(data) < _PACKED_VALUE_BYTES:
            return data
        config = self.write_config()
        if config is None or len(data) <= config.max_inline_value_bytes:
            return data
        return write_value_file(self._io.write_data_file, self._writer_options.prefixes.value, data)

    def commit_values(self, values: dict[bytes, NewValue], filled: Sequence[DataFileBuffer] = ()) -> None:
        """Commit ``values`` (from :meth:`store_value`, or references into the ``filled``
        data files, which the commit writes with its nodes; None deletes) unconditionally,
        as one version shared with the writes that wait with them."""
        self.check_writable()
        self._commit(
            [StagedWrite(key, _setting(value), None, reads_stored=False) for key, value in values.items()],
            (),
            stamps=False,
            filled=filled,
        )

    def write_batch(self) -> WriteBatch:
        """Group commit for a bulk write: values are stored as they come, and committed
        together when the batch finishes (see :class:`ts_ocdbt._batch.OcdbtWriteBatch`)."""
        from ._batch import OcdbtWriteBatch

        return OcdbtWriteBatch(self)

    def delete_range(self, key_range: KeyRange) -> None:
        self.check_writable()
        self._commit([], [key_range])

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        """A transaction's commit: one version of its own, on the calling thread, without
        waiting for this driver's other committers (the conditional manifest write orders
        it with them). An atomic transaction may hold the locks of memory stores while it
        commits; a group commit of this driver writing to one of them would wait for it."""
        self.check_writable()
        request = _Request(writes, deleted_ranges, stamps=False)
        self._commit_batch([request])
        if request.error is not None:
            raise request.error
        return request.result is not None

    def _commit(
        self,
        writes: Sequence[StagedWrite],
        deleted_ranges: Sequence[KeyRange],
        *,
        stamps: bool = True,
        filled: Sequence[DataFileBuffer] = (),
    ) -> builtins.list[TimestampedStorageGeneration] | None:
        """One new version with ``deleted_ranges`` gone and then ``writes`` applied; None
        (nothing written) if a condition fails.

        Group commit: requests that arrive while another commit of this driver runs wait
        and are then committed together, as one version (each keeps its own conditions:
        one that fails is left out alone). A batch that loses the race for the manifest
        starts again on top of the winner's version.
        """
        request = _Request(writes, deleted_ranges, stamps=stamps, filled=filled)
        queue_changed = self._queue_changed
        with queue_changed:
            self._queue.append(request)
        while True:
            # A request another thread committed is done as soon as that commit ends (its
            # thread is free at once: waiting for the turn to commit would keep the pool's
            # threads busy with finished writes while new ones queue up behind them).
            with queue_changed:
                while self._committing and not request.done:
                    queue_changed.wait()
                if request.done:
                    break
                self._committing = True
                batch = _take_batch(self._queue)
            try:
                self._commit_batch(batch)
            except BaseException as error:
                for item in batch:
                    if not item.done:
                        item.finish(error=error)
            finally:
                with queue_changed:
                    self._committing = False
                    queue_changed.notify_all()
        if request.error is not None:
            raise request.error
        return request.result

    def _commit_batch(self, batch: builtins.list[_Request]) -> None:
        for _ in range(_MAX_COMMIT_ATTEMPTS):
            if self._try_commit(batch):
                return
        raise ValueError(
            f"commit to the OCDBT database at {self._where()} lost the race for its manifest "
            f"{_MAX_COMMIT_ATTEMPTS} times in a row"
        )

    def _try_commit(self, batch: builtins.list[_Request]) -> bool:
        """One attempt at committing ``batch``; False if another committer won the manifest."""
        snapshot = self.load_manifest()
        manifest = snapshot.manifest
        config = self.config_for_write(snapshot)
        creating = manifest is None and _writes_anything(batch)
        if creating and not self._spec.assume_config:
            # As tensorstore: a writer that does not know the config yet first creates the
            # database, an empty generation 1, and then commits on top of it (so the first
            # data is generation 2, and a write whose condition fails still creates it).
            return self._create_database(snapshot, config)
        latest = manifest.latest_version if manifest is not None and manifest.versions else None
        deleted_ranges = [key_range for request in batch for key_range in request.deleted_ranges]
        pending: dict[bytes, NewValue] = {}  # new values of the requests accepted so far
        accepted: builtins.list[tuple[_Request, dict[bytes, NewValue]]] = []
        for request in batch:
            if request.done:
                continue  # settled by an earlier attempt (a condition that failed then)
            try:
                changes = self._evaluate(request, latest, deleted_ranges, pending)
            except Exception as error:
                request.finish(error=error)
                continue
            if changes is None:
                request.finish(result=None)  # a condition failed: this request writes nothing
                continue
            if len(batch) == 1:
                pending = changes  # (a transaction's request alone: not copied)
            else:
                pending.update(changes)
            accepted.append((request, changes))
        if not accepted and not creating:
            return True
        generations: dict[bytes, bytes] = {}
        # A commit with an assumed config creates a missing database in any case (its
        # version 1 may be empty), as tensorstore's does.
        if pending or deleted_ranges or creating:
            # The data files the requests filled are written by the first attempt (a retry
            # after a lost race refers to them as written).
            filled = [buffer for request, _ in accepted for buffer in request.filled]
            for request, _ in accepted:
                request.filled = []
            result = commit(
                self._io,
                manifest if latest is not None else None,
                pending,
                deleted_ranges,
                config=config,
                options=self._writer_options,
                filled_data_files=filled,
            )
            if result.manifest is not None and result.manifest is not result.previous:
                published = self._publish(snapshot, result.manifest_files)
                if published is None:
                    return False
                self._adopt(_Snapshot(result.manifest, published, time.time()))
            if any(request.stamps for request, _ in accepted):
                generations = dict(zip(pending, result.generations, strict=True))
        now = time.time()
        for request, changed in accepted:
            if not request.stamps:
                request.finish(result=[])
                continue
            stamps = []
            for write in request.writes:
                generation = generations.get(write.key, UNKNOWN) if write.key in changed else UNKNOWN
                stamps.append(TimestampedStorageGeneration(generation, now))
            request.finish(result=stamps)
        return True

    def _create_database(self, snapshot: _Snapshot, config: Config) -> bool:
        """Publish a new database's first manifest (one empty version) unless another
        committer created the database first; False, so the caller commits on top of it."""
        result = commit(self._io, None, config=config, options=self._writer_options)
        assert result.manifest is not None
        published = self._publish(snapshot, result.manifest_files)
        if published is not None:
            self._adopt(_Snapshot(result.manifest, published, time.time()))
        return False

    def _evaluate(
        self,
        request: _Request,
        latest: BtreeGenerationReference | None,
        deleted_ranges: Sequence[KeyRange],
        pending: dict[bytes, NewValue],
    ) -> dict[bytes, NewValue] | None:
        """The new values ``request`` sets, on top of the batch's earlier ``pending`` ones;
        None if one of its conditions does not hold in ``latest``."""
        changes = self._evaluate_writes(request, latest, deleted_ranges, pending)
        if changes is None or not request.values:
            return changes
        # A transaction's whole values, set blindly (no key of them is among the writes).
        values = new_values(request.values)
        if changes:
            values.update(changes)
        return values

    def _evaluate_writes(
        self,
        request: _Request,
        latest: BtreeGenerationReference | None,
        deleted_ranges: Sequence[KeyRange],
        pending: dict[bytes, NewValue],
    ) -> dict[bytes, NewValue] | None:
        """``_evaluate`` of the request's ``writes``."""
        writes = request.writes
        if len(writes) > 1:
            # (Column by column, in C loops: a large transaction has a write per key. Not
            # by ``zip(*writes)``, which makes an iterator per write for the GC to count.)
            keys = list(map(_KEY_OF, writes))
            modifies = list(map(_MODIFY_OF, writes))
            if (
                not any(map(_READS_STORED_OF, writes))
                and list(map(_CONDITION_OF, writes)).count(None) == len(writes)
                and all(modifies)
            ):
                # Every write blind (most large transactions): no key is looked up, and a
                # key written twice takes its last value, as one write after another would.
                return dict(zip(keys, compute_unread_values(modifies), strict=True))
            distinct = set(keys)
            if len(distinct) == len(keys) and distinct.isdisjoint(pending):
                return self._evaluate_independent(writes, latest, deleted_ranges)
        changes: dict[bytes, NewValue] = {}
        for write in request.writes:
            key = write.key
            if write.condition is None and not write.reads_stored and key not in pending:
                # A blind write (the common case, and most of a large transaction): its new
                # value does not depend on what is stored.
                modify = write.modify
                if modify is None:
                    continue
                # (A key the request wrote before: modify what that write set.)
                changes[key] = new_value(modify(self._stored_bytes(changes[key]) if key in changes else None))
                continue
            if key in changes or key in pending:
                stored = self._stored_bytes(changes[key] if key in changes else pending[key])
            else:
                current = _current_value(self._io, latest, write.key, deleted_ranges)
                if write.condition is not None:
                    generation = NO_VALUE if current is None else value_generation(current)
                    if write.condition != generation:
                        return None
                if write.modify is None:
                    continue
                stored = None if current is None else self._read_value(write.key, current, ByteRange())
            if write.modify is not None:
                changes[write.key] = new_value(write.modify(stored))
        return changes

    def _evaluate_independent(
        self,
        writes: Sequence[StagedWrite],
        latest: BtreeGenerationReference | None,
        deleted_ranges: Sequence[KeyRange],
    ) -> dict[bytes, NewValue] | None:
        """``_evaluate`` for writes of distinct keys that no earlier request of the batch
        sets (a transaction's, a group of writes): every condition is checked first, then
        each new value is computed on its own, on several threads when that is slow
        (``compute_values``). A blind write (the common case) does not look its key up; a
        blind modification (a partial chunk) looks it up where its value is computed."""
        keys: builtins.list[bytes] = []
        modifies: builtins.list[Callable[[bytes | None], bytes | None]] = []
        currents: builtins.list[_Stored] = []
        # (StagedWrite is a named tuple: unpacked, not read by attribute, for speed; and
        # no tuple is made per write, so a large transaction does not wake the GC.)
        for key, modify, condition, reads_stored in writes:
            if condition is None and not reads_stored:
                if modify is not None:
                    keys.append(key)
                    modifies.append(modify)
                    currents.append(None)
                continue
            if condition is None:
                if modify is not None:
                    keys.append(key)
                    modifies.append(modify)
                    currents.append(_Lookup.PENDING)
                continue
            current = _current_value(self._io, latest, key, deleted_ranges)
            generation = NO_VALUE if current is None else value_generation(current)
            if condition != generation:
                return None
            if modify is not None:
                keys.append(key)
                modifies.append(modify)
                # (A write that does not read the stored value is not given it.)
                currents.append(current if reads_stored else None)
        if currents.count(None) == len(currents):  # nothing to read
            values = compute_unread_values(modifies)
        else:
            values = compute_values(
                functools.partial(self._modified_value, latest, deleted_ranges),
                list(zip(keys, modifies, currents, strict=True)),
            )
        return dict(zip(keys, values, strict=True))

    def _modified_value(
        self, latest: BtreeGenerationReference | None, deleted_ranges: Sequence[KeyRange], item: _Modification
    ) -> NewValue:
        """The new value ``modify`` makes of the value ``current`` stored at ``key`` (looked
        up in ``latest`` here if still ``PENDING``)."""
        key, modify, current = item
        if current is _Lookup.PENDING:
            current = _current_value(self._io, latest, key, deleted_ranges)
        value = modify(None if current is None else self._read_value(key, current, ByteRange()))
        return value if value.__class__ is bytes else new_value(value)

    def _stored_bytes(self, value: NewValue) -> bytes | None:
        """A new value of this commit as bytes (one stored ahead in a data file, read back)."""
        return self._io.read_value(value) if isinstance(value, IndirectDataReference) else value

    def _publish(self, snapshot: _Snapshot, files: Sequence[tuple[bytes, bytes]]) -> bytes | None:
        """Write the manifest files of a commit, each conditionally: ``manifest.ocdbt`` on the
        generation it was read at, a numbered manifest (and the config of a new numbered
        database) only if absent. Returns the new generation of ``manifest.ocdbt`` (the one
        read, if it was not rewritten); None if another committer got there first."""
        manifest_generation = snapshot.generation
        prefix = self._manifest_store.path.encode("utf-8")
        for key, data in files:
            if key == MANIFEST_KEY:
                condition = manifest_generation if snapshot.manifest is not None else NO_VALUE
                stamp = self._manifest_store.driver.write(prefix + key, data, condition)
                if stamp.generation == UNKNOWN:
                    return None
                manifest_generation = stamp.generation
            else:
                stamp = self._manifest_store.driver.write(prefix + key, data, NO_VALUE)
                if stamp.generation == UNKNOWN:
                    return None
                generation = parse_numbered_manifest_key(key)
                if generation is not None and generation % _NUMBERED_CLEANUP_INTERVAL == 0:
                    self._delete_obsolete_numbered_manifests(generation)
        return manifest_generation

    def _delete_obsolete_numbered_manifests(self, generation: int) -> None:
        """Delete the numbered manifests far older than ``generation`` (tensorstore keeps
        the newest 128, so readers of a recent one can finish)."""
        prefix = self._manifest_store.path.encode("utf-8")
        present = []
        for key in self._manifest_store.driver.list(prefix_range(prefix + b"manifest.")):
            number = parse_numbered_manifest_key(key[len(prefix):])
            if number is not None:
                present.append(number)
        for key in obsolete_numbered_manifests(present, generation):
            self._manifest_store.driver.write(prefix + key, None, None)


#: Every open driver, so a forked child can reset their locks.
_open_drivers: weakref.WeakSet[OcdbtDriver] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for driver in list(_open_drivers):
        driver._reset_locks()


os.register_at_fork(after_in_child=_reset_after_fork)


class _Request:
    """A commit waiting for its turn (see ``OcdbtDriver._commit``)."""

    __slots__ = ("deleted_ranges", "done", "error", "filled", "result", "stamps", "values", "writes")

    def __init__(
        self,
        writes: Sequence[StagedWrite],
        deleted_ranges: Sequence[KeyRange],
        *,
        stamps: bool = True,
        filled: Sequence[DataFileBuffer] = (),
    ) -> None:
        #: Keys set blindly to a whole value (a transaction's, see ``StagedWrites``), not
        #: among ``writes``; a request that reports stamps (one per write) has none.
        self.values: dict[bytes, bytes | None] = {}
        if isinstance(writes, StagedWrites) and not stamps:
            self.writes, self.values = list(writes.writes), writes.values
        else:
            self.writes = list(writes)
        self.deleted_ranges = list(deleted_ranges)
        #: Data files holding values the writes refer to, not written yet.
        self.filled = list(filled)
        #: Whether the caller wants the new generation of each write (the result is an
        #: empty list on success otherwise: a transaction's commit does not ask for them).
        self.stamps = stamps
        self.done = False
        self.result: list[TimestampedStorageGeneration] | None = None
        self.error: BaseException | None = None

    def finish(self, result: list[TimestampedStorageGeneration] | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True

    def keys(self) -> set[bytes]:
        """The keys the request writes or checks."""
        keys = {write.key for write in self.writes}
        keys.update(self.values)
        return keys


def _take_batch(queue: list[_Request]) -> list[_Request]:
    """The requests at the head of ``queue`` that commit together: a request with deleted
    ranges commits alone (its ranges apply before every write of a commit), and a request
    whose keys an earlier request of the batch writes waits for the next batch (its
    conditions were computed against stored values, not against values not yet written)."""
    batch = [queue.pop(0)]
    if batch[0].deleted_ranges:
        return batch
    touched = batch[0].keys()
    while queue and not queue[0].deleted_ranges:
        keys = queue[0].keys()
        if keys & touched:
            break
        touched |= keys
        batch.append(queue.pop(0))
    return batch


def _setting(value: NewValue) -> Callable[[bytes | None], bytes | None]:
    """A ``StagedWrite.modify`` that sets the key to ``value``, which may be a value already
    stored in a data file (``_evaluate`` takes it as it is)."""
    return lambda _: value  # type: ignore[return-value]


#: The columns of a ``StagedWrite`` (a named tuple: read by index in C loops).
_KEY_OF: Final = operator.itemgetter(0)
_MODIFY_OF: Final = operator.itemgetter(1)
_CONDITION_OF: Final = operator.itemgetter(2)
_READS_STORED_OF: Final = operator.itemgetter(3)


class _Lookup(enum.Enum):
    """The stored value of a write that reads it, not looked up yet."""

    PENDING = enum.auto()


#: The value a write reads, as ``compute_values`` is given it: None (none stored, or a
#: write that does not read it), the stored value, or ``PENDING``.
_Stored: TypeAlias = bytes | IndirectDataReference | Literal[_Lookup.PENDING] | None
#: A write ``compute_values`` computes: its key, its ``modify`` and the value it reads.
_Modification: TypeAlias = tuple[bytes, Callable[[bytes | None], bytes | None], _Stored]


def _writes_anything(batch: Sequence[_Request]) -> bool:
    """Whether a request of ``batch`` writes or deletes (rather than only checking what a
    transaction read)."""
    return any(
        request.deleted_ranges or request.values or any(write.modify is not None for write in request.writes)
        for request in batch
        if not request.done
    )


def _generation_of(snapshot: _Snapshot) -> int:
    manifest = snapshot.manifest
    return -1 if manifest is None else manifest.latest_generation


def _current_value(
    io: OcdbtIO, version: BtreeGenerationReference | None, key: bytes, deleted_ranges: Sequence[KeyRange]
) -> bytes | IndirectDataReference | None:
    if version is None or any(key_range.contains(key) for key_range in deleted_ranges):
        return None
    return lookup(io, version, key)
