"""Garbage of an OCDBT database: data files no version references (a ts extension).

A data file becomes garbage when the commit that wrote it never landed (a writer killed
or beaten by a concurrent commit after writing its data) or when tensorstore's writer
left one behind. Finding it takes a walk of every version's B+tree, each shared node read
once; only files no version reaches are listed, and only those are ever deleted.
"""

from __future__ import annotations

import re
from typing import Final

import ts_core as ts
from ts_core.kvstore import KvStore

from .format import MANIFEST_KEY as _MANIFEST_KEY
from .format import (
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
    parse_numbered_manifest_key,
)
from .versions import _Database, _submit

__all__ = ["delete_garbage", "list_garbage"]

#: Data files are named by 128 random bits in lowercase hex, under a prefix (``d/``).
_DATA_FILE_NAME: Final = re.compile(rb"(?:.*/)?[0-9a-f]{32}")


def list_garbage(store: KvStore) -> ts.Future[list[str]]:
    """Keys (relative to the database's base) of data files no version of the database
    references, sorted.

    Only files named as data files are considered (``<prefix><32 hex digits>``); manifests
    and anything else stored beside the database are never listed. A commit in progress
    has written its data files but not yet the manifest that references them: they are
    listed too, so list (and delete) only while no writer is committing.
    """
    return _submit(lambda: sorted(key.decode() for key in _garbage(_Database(store))))


def delete_garbage(store: KvStore, keys: list[str] | None = None) -> ts.Future[list[str]]:
    """Delete garbage data files: those of ``keys`` (default: all) that are still garbage
    when checked again, just before deleting. Returns the keys deleted.

    Every version remains readable: a file any version references is never deleted. Run it
    only while no writer is committing to the database (see :func:`list_garbage`).
    """

    def delete() -> list[str]:
        database = _Database(store)
        garbage = _garbage(database)
        chosen = garbage if keys is None else {key.encode() for key in keys} & garbage
        futures = [database.base.delete(key) for key in sorted(chosen)]
        for future in futures:
            future.result()
        return sorted(key.decode() for key in chosen)

    return _submit(delete)


def referenced_files(database: _Database) -> set[bytes]:
    """Paths (relative to the database root) of every data file any version references."""
    files: set[bytes] = set()
    for location in database.version_tree_node_references():
        files.add(location.file_id.full_path)
    visited: set[IndirectDataReference] = set()
    pending = [entry.root for entry in database.generation_references().values() if entry.root is not None]
    while pending:
        reference = pending.pop()
        if reference in visited:  # a subtree an earlier version shares
            continue
        visited.add(reference)
        files.add(reference.file_id.full_path)
        node = database.read_node(reference)
        for entry in node.entries:
            if isinstance(entry, InteriorNodeEntry):
                pending.append(entry.node)
            elif isinstance(entry, LeafNodeEntry) and isinstance(entry.value, IndirectDataReference):
                files.add(entry.value.file_id.full_path)
    return files


def _garbage(database: _Database) -> set[bytes]:
    # List first: a file written after the listing cannot be taken for garbage.
    stored = set(database.base.list().result())
    referenced = referenced_files(database)
    return {
        key for key in stored
        if key not in referenced and key != _MANIFEST_KEY
        and parse_numbered_manifest_key(key) is None and _DATA_FILE_NAME.fullmatch(key)
    }
