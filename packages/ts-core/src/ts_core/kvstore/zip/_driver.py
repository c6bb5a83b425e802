"""The ``zip`` kvstore: the members of a ZIP archive stored in any base kvstore.

Reads fetch only the archive's end (the end-of-central-directory record), its central
directory and the member asked for, each a byte-range read of the base; the parsed
directory is cached and revalidated by the archive's storage generation. Every member
shares the archive's generation. A write rewrites the whole archive, conditioned on the
generation it read (so concurrent writers lose nothing), as tensorstore's does.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from ...context import Context
from .._driver import ByteRange, KvStoreDriver, ReadOptions, ReadResult
from .._generation import NO_VALUE, UNKNOWN, TimestampedStorageGeneration
from .._key_range import KeyRange
from .._kvstore import KvStore
from .._spec import KvStoreSpec
from .._url import kvstore_url, quote_url_path, url_component_path
from ._format import (
    EOCD_SEARCH_BYTES,
    ZipEntry,
    ZipFormatError,
    build_archive,
    compress_member,
    extract,
    find_end_of_central_directory,
    is_directory_entry,
    local_data_span,
    local_header_guess,
    parse_central_directory,
)

__all__ = ["ZipKvStore", "ZipKvStoreSpec", "parse_zip_url"]

#: How often a read retries when the archive changes between its requests.
_MAX_READ_RETRIES = 10
_WHOLE = ByteRange()


def _base_json(value: Any) -> Any:
    if value is None:
        return None
    # structure_spec puts the outer path (kvstore, ...) in front of errors
    return KvStoreSpec(value, json_path="base").to_json()


@attrs.define
class ZipKvStoreSpec:
    base: Any = attrs.field(default=None, converter=_base_json)
    cache_pool: Any = "cache_pool"
    data_copy_concurrency: Any = "data_copy_concurrency"


@attrs.frozen
class _Directory:
    """A parsed central directory and the archive generation it belongs to."""

    generation: bytes
    size: int
    members: dict[bytes, ZipEntry]


class _ArchiveChanged(Exception):
    """The archive changed between the reads of one operation: start again."""


def _corrupt(url: str, exc: Exception) -> ValueError:
    return ValueError(f"error reading ZIP archive {url}: {exc}")


class ZipKvStore(KvStoreDriver):
    """Keys are member names; the store's ``path`` is a prefix within the archive."""

    id = "zip"
    spec_class = ZipKvStoreSpec

    def __init__(self, spec: ZipKvStoreSpec, base: KvStore) -> None:
        self._spec = spec
        self._base_kvstore = base
        self._base = base.driver
        self._archive_key = base.path.encode("utf-8")
        self._directory: _Directory | None = None
        self.local_io = base.driver.local_io  # type: ignore[misc]

    @classmethod
    def open(cls, spec: ZipKvStoreSpec, context: Context) -> ZipKvStore:
        if spec.base is None:
            raise ValueError('kvstore.base: the "zip" kvstore needs a "base" kvstore holding the archive')
        return cls(spec, KvStore.open(spec.base, context=context).result())

    @property
    def spec(self) -> ZipKvStoreSpec:
        return self._spec

    @classmethod
    def base_spec(cls, spec: ZipKvStoreSpec) -> Any:
        return spec.base

    @property
    def base_kvstore(self) -> KvStore:
        return self._base_kvstore

    @property
    def executor(self) -> Any:
        return self._base.executor

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        return f"{kvstore_url(spec.base)}|zip:{quote_url_path(path)}"

    @property
    def _url(self) -> str:
        try:
            return kvstore_url(self._spec.base)
        except ValueError:
            return repr(self._spec.base)

    # -- reading the archive ----------------------------------------------------------------
    def _read_base(self, byte_range: ByteRange = _WHOLE, if_not_equal: bytes | None = None) -> ReadResult:
        return self._base.read(self._archive_key, ReadOptions(if_not_equal=if_not_equal, byte_range=byte_range))

    def _load_directory(self) -> _Directory | None:
        """The current directory (None: no archive), reusing the cached one if unchanged."""
        for _ in range(_MAX_READ_RETRIES):
            try:
                return self._try_load_directory()
            except _ArchiveChanged:
                continue
        raise ValueError(f"ZIP archive {self._url} kept changing while its directory was read")

    def _try_load_directory(self) -> _Directory | None:
        """The directory or None (no archive); _ArchiveChanged if it changed between reads."""
        cached = self._directory
        known = cached.generation if cached is not None else None
        try:
            end = self._read_base(ByteRange(-EOCD_SEARCH_BYTES), known)
            archive_size = None
        except ValueError:  # an archive shorter than the search window: read it all
            end = self._read_base(if_not_equal=known)
            archive_size = len(end.value)
        if end.state == "unspecified" and cached is not None:
            return cached
        if end.state != "value":
            self._directory = None
            return None
        generation = end.stamp.generation
        try:
            entries, offset, length, size = find_end_of_central_directory(end.value, archive_size)
            start_in_end = len(end.value) - (size - offset)
            if start_in_end >= 0:
                directory_bytes = end.value[start_in_end:start_in_end + length]
            else:
                result = self._read_base(ByteRange(offset, offset + length))
                if result.state != "value" or result.stamp.generation != generation:
                    raise _ArchiveChanged
                directory_bytes = result.value
            members = parse_central_directory(directory_bytes, entries, size)
        except (ZipFormatError, ValueError) as exc:
            raise _corrupt(self._url, exc) from None
        directory = _Directory(generation, size, members)
        self._directory = directory
        return directory

    def _parse_whole(self, result: ReadResult) -> _Directory:
        data = result.value
        try:
            entries, offset, length, size = find_end_of_central_directory(data, len(data))
            members = parse_central_directory(data[offset:offset + length], entries, size)
        except ZipFormatError as exc:
            raise _corrupt(self._url, exc) from None
        return _Directory(result.stamp.generation, size, members)

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        for _ in range(_MAX_READ_RETRIES):
            directory = self._load_directory()
            now = time.time()
            if directory is None:
                state = "unspecified" if options.if_not_equal == NO_VALUE else "missing"
                return ReadResult(state, b"", TimestampedStorageGeneration(NO_VALUE, now))
            entry = directory.members.get(key)
            if entry is not None and is_directory_entry(entry):
                entry = None
            generation = directory.generation if entry is not None else NO_VALUE
            stamp = TimestampedStorageGeneration(generation, now)
            if options.if_not_equal == generation:
                return ReadResult("unspecified", b"", stamp)
            if entry is None:
                return ReadResult("missing", b"", stamp)
            value = self._read_member(entry, directory)
            if value is None:
                continue  # the archive changed under us: read the new directory
            if not options.byte_range.is_full:
                start, stop = options.byte_range.resolve(len(value), key)
                value = value[start:stop]
            return ReadResult("value", value, stamp)
        raise ValueError(f"ZIP archive {self._url} kept changing while member {key!r} was read")

    def _read_member(self, entry: ZipEntry, directory: _Directory) -> bytes | None:
        guess = min(entry.header_offset + local_header_guess(entry), directory.size)
        try:
            result = self._read_base(ByteRange(entry.header_offset, guess))
            if result.state != "value" or result.stamp.generation != directory.generation:
                return None
            start, stop = local_data_span(entry, result.value, directory.size)
            if stop <= guess:
                stored = result.value[start - entry.header_offset:stop - entry.header_offset]
            else:
                data = self._read_base(ByteRange(start, stop))
                if data.state != "value" or data.stamp.generation != directory.generation:
                    return None
                stored = data.value
            return extract(entry, stored)
        except (ZipFormatError, ValueError) as exc:
            raise _corrupt(self._url, exc) from None

    def list(self, key_range: KeyRange) -> list[bytes]:
        directory = self._load_directory()
        if directory is None:
            return []
        return [
            name for name, entry in directory.members.items()
            if key_range.contains(name) and not is_directory_entry(entry)
        ]

    # -- writing: the whole archive, conditioned on the generation read -------------------------
    def _rewrite(self, change: Any) -> TimestampedStorageGeneration:
        """Apply ``change(members) -> new members or None (nothing to do)`` to the archive
        and store it if unchanged since read; retried on conflicts with other writers."""
        while True:
            current = self._read_base()
            if current.state == "missing":
                members: dict[bytes, tuple[ZipEntry, bytes]] = {}
                condition = NO_VALUE
            else:
                members = self._stored_members(current)
                condition = current.stamp.generation
            outcome = change(members, condition)
            if not isinstance(outcome, dict):
                return outcome  # type: ignore[no-any-return]
            archive = build_archive(outcome[name] for name in sorted(outcome))
            stamp = self._base.write(self._archive_key, archive, condition)
            if stamp.generation != UNKNOWN:
                self._directory = None
                return stamp

    def _stored_members(self, current: ReadResult) -> dict[bytes, tuple[ZipEntry, bytes]]:
        directory = self._parse_whole(current)
        members = {}
        for name, entry in directory.members.items():
            offset = entry.header_offset
            try:
                start, stop = local_data_span(entry, current.value[offset:offset + 30], directory.size)
            except ZipFormatError as exc:
                raise _corrupt(self._url, exc) from None
            members[name] = (entry, current.value[start:stop])
        return members

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        def change(members: dict[bytes, Any], generation: bytes) -> Any:
            present = key in members and not is_directory_entry(members[key][0])
            current = generation if present else NO_VALUE
            if if_equal not in (None, UNKNOWN) and if_equal != current:
                return TimestampedStorageGeneration(UNKNOWN, time.time())
            if value is None:
                if not present:
                    return TimestampedStorageGeneration(NO_VALUE, time.time())
                del members[key]
                return members
            members[key] = compress_member(key, bytes(value))
            return members

        stamp = self._rewrite(change)
        if value is None and stamp.generation != UNKNOWN:
            return TimestampedStorageGeneration(NO_VALUE, stamp.time)
        return stamp

    def delete_range(self, key_range: KeyRange) -> None:
        def change(members: dict[bytes, Any], generation: bytes) -> Any:
            doomed = [name for name, (entry, _) in members.items() if key_range.contains(name) and not is_directory_entry(entry)]
            if not doomed:
                return None
            for name in doomed:
                del members[name]
            return members

        self._rewrite(change)


def parse_zip_url(component: str, base: dict[str, Any]) -> dict[str, Any]:
    """``zip:inner/path`` after a kvstore URL: ``{"driver": "zip", "base": ..., "path": ...}``."""
    path = url_component_path(component)
    spec: dict[str, Any] = {"driver": "zip", "base": base}
    if path:
        spec["path"] = path
    return spec
