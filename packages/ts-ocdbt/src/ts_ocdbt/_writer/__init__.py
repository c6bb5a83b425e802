"""Committing a batch of mutations to an OCDBT database: new B+tree nodes, out-of-line
values and version tree nodes in new data files, and the new manifest to publish.

:func:`commit` writes only data files, each under a fresh random name, so nothing it writes
is visible until the caller publishes ``CommitResult.manifest_files`` with a conditional
write (``manifest.ocdbt`` on the generation it was read at; a numbered manifest on its
absence). A commit that loses that race leaves only unreferenced data files, and is retried
by calling :func:`commit` again on the winner's manifest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ts_core.kvstore import UNKNOWN, KeyRange

from .._io import OcdbtIO
from ..format import (
    MANIFEST_KEY,
    MANIFEST_KIND_NUMBERED,
    MAX_KEY_LENGTH,
    NUM_NUMBERED_MANIFESTS_TO_KEEP,
    BtreeGenerationReference,
    BtreeNodeStatistics,
    Config,
    IndirectDataReference,
    Manifest,
    encode_manifest,
    numbered_manifest_key,
)
from ._btree import ConditionFailed, Mutations, Value, apply_mutations
from ._data_files import (
    DEFAULT_DATA_FILE_PREFIX,
    DEFAULT_TARGET_DATA_FILE_SIZE,
    DataFileBuffer,
    DataFilePrefixes,
    DataFileWriter,
    data_file_contents,
    new_data_file_id,
    write_value_file,
)
from ._versions import append_version, leaf_range

__all__ = [
    "DEFAULT_DATA_FILE_PREFIX",
    "DEFAULT_TARGET_DATA_FILE_SIZE",
    "CommitResult",
    "DataFileBuffer",
    "DataFilePrefixes",
    "DeleteRange",
    "Write",
    "WriterOptions",
    "commit",
    "data_file_contents",
    "leaf_range",
    "manifest_files",
    "new_data_file_id",
    "obsolete_numbered_manifests",
    "write_value_file",
]

#: Largest generation number (the format stores it as a uint64; tensorstore stops one short).
_MAX_GENERATION_NUMBER = 2**64 - 2


@dataclass(frozen=True, slots=True)
class Write:
    """Set ``key`` to ``value`` (None deletes it) if its generation equals ``if_equal``
    (None: unconditionally; ``NO_VALUE``: only if absent). A value given as a reference is
    one the caller already stored in a data file of the database (see
    :func:`write_value_file`); the leaf refers to it as it is."""

    key: bytes
    value: bytes | IndirectDataReference | None
    if_equal: bytes | None = None


@dataclass(frozen=True, slots=True)
class DeleteRange:
    """Delete every key in ``[inclusive_min, exclusive_max)``; an empty ``exclusive_max``
    is unbounded, as in :class:`ts_core.kvstore.KeyRange`."""

    inclusive_min: bytes = b""
    exclusive_max: bytes = b""


@dataclass(frozen=True, slots=True)
class WriterOptions:
    """Where a writer puts new data files (the spec's ``*_data_prefix`` options) and when it
    starts a new one (``target_data_file_size``; 0: never)."""

    prefixes: DataFilePrefixes = field(default_factory=DataFilePrefixes)
    target_data_file_size: int = DEFAULT_TARGET_DATA_FILE_SIZE


@dataclass(slots=True)
class CommitResult:
    """What :func:`commit` made.

    ``manifest`` is the new manifest; None when a condition failed in an all-or-nothing
    commit, and ``previous`` itself when nothing changed (then nothing is to be written).
    ``manifest_files`` are the ``(key, bytes)`` to write for it, in order, the last being
    the commit point. ``generations[i]`` is the new generation of the i-th write (``NO_VALUE``
    once deleted; ``UNKNOWN`` if its condition failed or a later write of its key replaced
    it), computed when asked for; ``conflicts`` lists the keys whose condition failed, in
    key order. ``data_files`` are the paths written (garbage unless published).
    """

    manifest: Manifest | None
    previous: Manifest | None
    manifest_files: list[tuple[bytes, bytes]] = field(default_factory=list)
    conflicts: list[bytes] = field(default_factory=list)
    data_files: list[bytes] = field(default_factory=list)
    #: The batch as applied, and the key of each write (None for a write a later one of
    #: its key replaced); None for a commit that wrote nothing because a condition failed.
    mutations: Mutations | None = field(default=None, repr=False)
    write_keys: list[bytes | None] = field(default_factory=list, repr=False)

    @property
    def generations(self) -> list[bytes]:
        mutations = self.mutations
        if mutations is None:
            return [UNKNOWN] * len(self.write_keys)
        index = {key: i for i, key in enumerate(mutations.keys)}
        return [UNKNOWN if key is None else mutations.generation(index[key]) for key in self.write_keys]

    @property
    def committed_version(self) -> BtreeGenerationReference | None:
        """The version this commit adds (None if it adds none)."""
        if self.manifest is None or self.manifest is self.previous:
            return None
        return self.manifest.latest_version


def manifest_files(manifest: Manifest, previous: Manifest | None) -> list[tuple[bytes, bytes]]:
    """The manifest files to write to publish ``manifest`` on top of ``previous``.

    A single-file database rewrites ``manifest.ocdbt``; a numbered one writes
    ``manifest.<generation>`` (with the config in ``manifest.ocdbt`` first, for a new
    database).
    """
    if manifest.config.manifest_kind != MANIFEST_KIND_NUMBERED:
        return [(MANIFEST_KEY, encode_manifest(manifest))]
    files = []
    if previous is None:
        files.append((MANIFEST_KEY, encode_manifest(Manifest(manifest.config))))
    files.append(
        (
            numbered_manifest_key(manifest.latest_generation),
            encode_manifest(manifest, encode_as_single=True),
        )
    )
    return files


def obsolete_numbered_manifests(present: Iterable[int], new_generation: int) -> list[bytes]:
    """Numbered manifests a writer may delete once ``manifest.<new_generation>`` is
    published: those more than ``NUM_NUMBERED_MANIFESTS_TO_KEEP`` generations older (as
    tensorstore keeps them), out of the ``present`` generations a listing found."""
    return [
        numbered_manifest_key(generation)
        for generation in sorted(present)
        if new_generation - generation > NUM_NUMBERED_MANIFESTS_TO_KEEP
    ]


def _batch(
    writes: Iterable[Write] | Mapping[bytes, Value | None],
    delete_ranges: Iterable[DeleteRange | KeyRange],
) -> tuple[Mutations, list[bytes | None]]:
    """The writes and delete ranges as columns, and the key of each write (None for one a
    later write of its key replaces)."""
    conditions: dict[bytes, bytes] = {}
    if isinstance(writes, Mapping):
        keys = sorted(writes)
        values = list(map(writes.__getitem__, keys))
        write_keys: list[bytes | None] = list(writes)
    else:
        write_list = list(writes)
        all_keys = [bytes(write.key) for write in write_list]
        last = {key: i for i, key in enumerate(all_keys)}  # the last write of a key wins
        write_keys = [key if last[key] == i else None for i, key in enumerate(all_keys)]
        keys = sorted(last)
        values = [write_list[last[key]].value for key in keys]
        for key, i in last.items():
            condition = write_list[i].if_equal
            if condition is not None and condition != UNKNOWN:
                conditions[key] = condition
    if not set(map(type, values)) <= _STORED_TYPES:
        values = [_stored_form(value) for value in values]
    longest = max(map(len, keys), default=0)
    if longest > MAX_KEY_LENGTH:
        key = next(key for key in keys if len(key) > MAX_KEY_LENGTH)
        raise ValueError(
            f"commit: key {key[:40]!r}... is {len(key)} bytes long; OCDBT keys are at most "
            f"{MAX_KEY_LENGTH} bytes"
        )
    ranges = [_delete_range_bounds(item) for item in delete_ranges]
    return Mutations(keys, values, conditions, ranges), write_keys


#: The types of new values a leaf holds as they are (None: a deletion).
_STORED_TYPES: Final = frozenset({bytes, IndirectDataReference, type(None)})


def _stored_form(value: Value | None) -> Value | None:
    """A new value as a leaf holds it: bytes (of any bytes-like) or a reference."""
    if value is None or value.__class__ is bytes or isinstance(value, IndirectDataReference):
        return value
    return bytes(value)


def _delete_range_bounds(item: DeleteRange | KeyRange) -> tuple[bytes, bytes | None]:
    low, high = item.inclusive_min, item.exclusive_max
    low = low.encode() if isinstance(low, str) else bytes(low)
    high = high.encode() if isinstance(high, str) else bytes(high)
    return low, high or None


def commit(
    io: OcdbtIO,
    manifest: Manifest | None,
    writes: Iterable[Write] | Mapping[bytes, Value | None] = (),
    delete_ranges: Iterable[DeleteRange | KeyRange] = (),
    *,
    config: Config | None = None,
    options: WriterOptions = WriterOptions(),
    commit_time: int | None = None,
    atomic: bool = True,
    filled_data_files: Iterable[DataFileBuffer] = (),
) -> CommitResult:
    """Apply ``delete_ranges`` and then ``writes`` to the latest version of ``manifest``
    (None: a new database with ``config``), as one new version. ``writes`` may also be a
    mapping of keys to new values (unconditional writes; the form a large batch is
    cheapest in).

    A key written more than once takes its last write. Conditions are checked against the
    latest version after the delete ranges. With ``atomic`` a failed condition commits
    nothing (``manifest`` None, ``conflicts`` set); otherwise only that write is skipped.
    ``commit_time`` (ns since the epoch, default now) is raised past the previous version's.
    All data files are written before this returns; the manifest is the caller's to write.

    ``filled_data_files`` are new data files the caller has filled but not written (values
    that ``writes`` refer to): they are written with the commit's own, which may be
    appended to them. A commit that writes nothing (a failed condition of an all-or-nothing
    commit, or no change) does not write them either.
    """
    if manifest is None:
        if config is None:
            raise ValueError("commit: a new database needs a config")
    else:
        if not manifest.versions:
            raise ValueError(
                "commit: the manifest has no versions (a numbered database's config alone)"
            )
        config = manifest.config
    mutations, write_keys = _batch(writes, delete_ranges)
    if io.config is None:
        io.config = config  # bounds the size of the nodes it decodes
    data_files = DataFileWriter(
        io.write_data_file, options.prefixes, options.target_data_file_size, filled_data_files
    )
    result = CommitResult(
        manifest=None, previous=manifest, data_files=data_files.written, write_keys=write_keys
    )
    latest = manifest.latest_version if manifest is not None else None
    try:
        new_root = apply_mutations(
            io,
            config,
            data_files,
            None if latest is None else latest.root,
            0 if latest is None else latest.root_height,
            mutations,
            atomic=atomic,
        )
    except ConditionFailed as failure:
        data_files.discard()
        result.conflicts = [failure.key]
        return result
    result.mutations = mutations
    result.conflicts = [mutations.keys[i] for i in sorted(mutations.failed)]
    if manifest is not None and new_root is None:
        result.manifest = manifest
        return result
    now = time.time_ns() if commit_time is None else commit_time
    if latest is not None:
        now = max(now, latest.commit_time + 1)
    generation = 1 if manifest is None else manifest.latest_generation + 1
    if generation > _MAX_GENERATION_NUMBER:
        raise ValueError(f"the database is at the largest generation number, {generation - 1}")
    if new_root is None:  # a new database left empty
        version = BtreeGenerationReference(generation, 0, None, BtreeNodeStatistics(), now)
    else:
        version = BtreeGenerationReference(
            generation, new_root.height, new_root.root, new_root.statistics, now
        )
    if manifest is None:
        new_manifest = Manifest(config, (version,))
    else:
        new_manifest = append_version(io, data_files, manifest, version)
    data_files.flush()
    result.manifest = new_manifest
    result.manifest_files = manifest_files(new_manifest, manifest)
    return result
