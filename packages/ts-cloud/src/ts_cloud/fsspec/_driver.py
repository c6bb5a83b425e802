"""The ``fsspec`` kvstore: any fsspec URL (``memory://``, ``s3://`` via s3fs, ``zip://``...).

What it cannot promise, and therefore refuses rather than pretends:

* conditional writes (``if_equal``): fsspec has no compare-and-swap, so a write or
  delete with a condition raises ValueError; use the ``s3``/``gcs``/``file`` drivers
  when several writers share a store;
* atomic visibility: a reader may see a partially written value on filesystems where
  ``pipe_file`` is not atomic;
* generations are derived from ``info()`` (ETag, else modification time and size), so
  ``if_not_equal`` is only as precise as those fields and is checked after the read.

Keys are paths below ``url`` with no ``.``/``..`` components. On the local filesystem
they are confined as the ``file`` kvstore's are (``ts_core.kvstore.check_key``, and
``ConfinedRoot`` so no symlinked directory leads out of the store's path); listing
neither follows nor lists symbolic links there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import attrs

from ts_core.concurrency import Executor
from ts_core.context import Context
from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    ConfinedRoot,
    KeyRange,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    check_key,
    check_key_range,
    check_path,
    make_generation,
)

from .._common import missing_result, now

__all__ = ["FsspecKvStore", "FsspecKvStoreSpec"]

#: info() fields that identify a stored version, most precise first.
_VERSION_FIELDS = ("ETag", "etag", "generation", "version_id", "mtime", "LastModified", "last_modified",
                   "updated", "created", "size")


@attrs.define
class FsspecKvStoreSpec:
    url: str = ""
    storage_options: dict[str, Any] = attrs.field(factory=dict)
    file_io_concurrency: Any = "file_io_concurrency"


def _generation(info: dict[str, Any]) -> bytes:
    version = {name: str(info[name]) for name in _VERSION_FIELDS if info.get(name) is not None}
    digest = hashlib.sha256(json.dumps(version, sort_keys=True).encode()).digest()[:16]
    return make_generation(digest)


class FsspecKvStore(KvStoreDriver):
    """Keys are paths below ``url``; no conditional writes (they raise)."""

    id = "fsspec"
    spec_class = FsspecKvStoreSpec

    def __init__(self, spec: FsspecKvStoreSpec, executor: Executor) -> None:
        try:
            import fsspec
        except ImportError:
            raise ValueError('the "fsspec" kvstore needs fsspec: pip install "ts-cloud[fsspec]"') from None
        self._spec = spec
        self._executor = executor
        self._fs, root = fsspec.core.url_to_fs(spec.url, **spec.storage_options)
        self._root = root.rstrip("/")
        from fsspec.implementations.local import LocalFileSystem

        #: Keys name local files: confine them as the file kvstore does.
        self._local = isinstance(self._fs, LocalFileSystem)

    @classmethod
    def open(cls, spec: Any, context: Context) -> FsspecKvStore:
        executor = context.resource("file_io_concurrency", spec.file_io_concurrency, "kvstore.file_io_concurrency")
        return cls(spec, executor)

    @property
    def spec(self) -> FsspecKvStoreSpec:
        return self._spec

    @property
    def executor(self) -> Executor:
        return self._executor

    def _path(self, key: bytes) -> str:
        if self._local:
            check_key(key)
        text = key.decode("utf-8")
        if not text or text.endswith("/") or any(part in (".", "..") for part in text.split("/")):
            raise ValueError(f"Invalid key: {text!r}: not a file path below the fsspec url")
        path = f"{self._root}/{text}" if self._root else text
        if self._local and os.path.islink(path):
            raise ValueError(f"Invalid key: {text!r}: it is a symbolic link (symlinked keys are not followed)")
        return path

    # -- key safety on the local filesystem (other filesystems have no links to follow) ---
    def check_path(self, path: str) -> None:
        if self._local:
            check_path(path)

    def check_key(self, path: str, key: bytes) -> None:
        if self._local:
            full = check_key(key, root=path.encode("utf-8"))
            ConfinedRoot.of(f"{self._root}/{path}").check(key, f"{self._root}/{os.fsdecode(full)}")

    def check_key_range(self, path: str, key_range: KeyRange) -> None:
        if self._local:
            check_key_range(key_range, root=path.encode("utf-8"))

    def _info(self, path: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self._fs.info(path)
        except FileNotFoundError:
            return None
        return info if info.get("type", "file") != "directory" else None

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        started = now()
        path = self._path(key)
        info = self._info(path)
        if info is None:
            return missing_result(options, started)
        stamp = TimestampedStorageGeneration(_generation(info), started)
        if options.if_not_equal == stamp.generation:
            return ReadResult("unspecified", b"", stamp)
        size = int(info.get("size") or 0)
        start, stop = options.byte_range.resolve(size, key)
        try:
            value = self._fs.cat_file(path, start=start, end=stop) if stop > start else b""
        except FileNotFoundError:
            return missing_result(options, started)
        return ReadResult("value", bytes(value), stamp)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if if_equal not in (None, UNKNOWN):
            raise ValueError(
                f'the "fsspec" kvstore cannot honour if_equal for key {key!r}: fsspec has no atomic '
                "compare-and-swap; use the s3, gcs or file kvstore for conditional writes")
        path = self._path(key)
        if value is None:
            if self._info(path) is not None:
                self._fs.rm_file(path)
            return TimestampedStorageGeneration(NO_VALUE, now())
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self._fs.makedirs(parent, exist_ok=True)
        self._fs.pipe_file(path, bytes(value))
        info = self._info(path)
        return TimestampedStorageGeneration(_generation(info) if info else UNKNOWN, now())

    def delete_range(self, key_range: KeyRange) -> None:
        for key in list(self.list(key_range)):
            self._fs.rm_file(self._path(key))

    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        if key_range.empty:
            return iter(())
        if self._local:
            return iter([key for key in _walk_local(self._root or "/") if key_range.contains(key)])
        try:
            paths = self._fs.find(self._root or "/", withdirs=False)
        except FileNotFoundError:
            return iter(())
        root = self._fs._strip_protocol(self._root).rstrip("/") if self._root else ""
        keys = []
        for path in paths:
            stripped = self._fs._strip_protocol(path)
            relative = stripped[len(root) + 1:] if root else stripped.lstrip("/")
            key = relative.encode("utf-8")
            if key_range.contains(key):
                keys.append(key)
        return iter(keys)


def _walk_local(root: str) -> Iterator[bytes]:
    """Keys of the files below the local directory ``root``; symbolic links are neither
    followed nor listed, so a listing never leaves ``root``."""
    for directory, names, files in os.walk(root, followlinks=False):
        relative = os.path.relpath(directory, root)
        prefix = "" if relative == "." else relative + "/"
        names[:] = [name for name in names if not os.path.islink(os.path.join(directory, name))]
        for name in files:
            if not os.path.islink(os.path.join(directory, name)):
                yield os.fsencode(prefix + name)
