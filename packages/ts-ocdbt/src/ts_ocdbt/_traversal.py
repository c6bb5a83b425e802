"""Finding things in an OCDBT database: a key's value in a version's B+tree, the keys of a
range in order, and a version by generation number or commit time (in the manifest's
inline versions, then down the version tree)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from ts_core.kvstore import KeyRange

from . import _spec
from ._io import OcdbtIO
from ._spec import VersionSpec
from .format import (
    BtreeGenerationReference,
    BtreeNode,
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
    Manifest,
    MissingDataError,
    VersionNodeReference,
)

__all__ = ["find_version", "iterate", "list_keys", "lookup"]


def lookup(io: OcdbtIO, version: BtreeGenerationReference, key: bytes) -> bytes | IndirectDataReference | None:
    """The value of ``key`` in ``version``'s B+tree (inline bytes or where it is stored)."""
    reference = version.root
    prefix = b""
    while reference is not None:
        node = io.read_btree_node(reference)
        node_prefix = prefix + node.key_prefix
        if not key.startswith(node_prefix):
            return None  # every key under this node starts with its prefix
        suffix = key[len(node_prefix):]
        # Entries are sorted by key: the last one not after ``suffix``.
        index = bisect.bisect_right(node.entries, suffix, key=_entry_key) - 1
        if index < 0:
            return None
        entry = node.entries[index]
        if node.height == 0:
            assert isinstance(entry, LeafNodeEntry)
            return entry.value if entry.key == suffix else None
        assert isinstance(entry, InteriorNodeEntry)
        child_prefix = node_prefix + entry.subtree_common_prefix
        if not key.startswith(child_prefix):
            return None
        reference, prefix = entry.node, child_prefix
    return None


def _entry_key(entry: LeafNodeEntry | InteriorNodeEntry) -> bytes:
    return entry.key


def iterate(
    io: OcdbtIO, version: BtreeGenerationReference, key_range: KeyRange
) -> Iterator[tuple[bytes, bytes | IndirectDataReference]]:
    """Keys (in order) and values of ``version``'s B+tree within ``key_range``."""
    if version.root is None:
        return
    yield from _iterate_node(io, io.read_btree_node(version.root), b"", key_range)


def _iterate_node(
    io: OcdbtIO, node: BtreeNode, prefix: bytes, key_range: KeyRange
) -> Iterator[tuple[bytes, bytes | IndirectDataReference]]:
    upper = key_range.exclusive_max
    if node.height == 0:
        for entry in node.entries:
            assert isinstance(entry, LeafNodeEntry)
            full_key = node.full_key(prefix, entry)
            if key_range.contains(full_key):
                yield full_key, entry.value
        return
    entries = node.entries
    for index, entry in enumerate(entries):
        assert isinstance(entry, InteriorNodeEntry)
        lower = node.full_key(prefix, entry)
        if upper and lower >= upper:
            return
        if index + 1 < len(entries):
            following = node.full_key(prefix, entries[index + 1])
            if following <= key_range.inclusive_min:
                continue
        child = io.read_btree_node(entry.node)
        yield from _iterate_node(io, child, node.child_prefix(prefix, entry), key_range)


def list_keys(io: OcdbtIO, version: BtreeGenerationReference, key_range: KeyRange) -> list[bytes]:
    """The keys (in order) of ``version``'s B+tree within ``key_range``: each leaf's keys
    built in one list comprehension and cut to the range by bisection, not tested one by
    one."""
    keys: list[bytes] = []
    if version.root is not None:
        _collect_keys(io, io.read_btree_node(version.root), b"", key_range, keys)
    return keys


def _collect_keys(io: OcdbtIO, node: BtreeNode, prefix: bytes, key_range: KeyRange, out: list[bytes]) -> None:
    lower, upper = key_range.inclusive_min, key_range.exclusive_max
    node_prefix = prefix + node.key_prefix
    entries = node.entries
    if node.height == 0:
        if node_prefix:
            keys = [node_prefix + entry.key for entry in entries]
        else:
            keys = [entry.key for entry in entries]
        start = bisect.bisect_left(keys, lower) if lower else 0
        stop = bisect.bisect_left(keys, upper) if upper else len(keys)
        out += keys[start:stop] if start or stop < len(keys) else keys
        return
    for index, entry in enumerate(entries):
        assert isinstance(entry, InteriorNodeEntry)
        if upper and node_prefix + entry.key >= upper:
            return
        if index + 1 < len(entries) and node_prefix + entries[index + 1].key <= lower:
            continue
        child = io.read_btree_node(entry.node)
        _collect_keys(io, child, node_prefix + entry.subtree_common_prefix, key_range, out)


def find_version(io: OcdbtIO, manifest: Manifest, version: VersionSpec) -> BtreeGenerationReference | None:
    """The version a generation number names, or the latest committed at or before a
    commit time, searched in the manifest's inline versions and then its version tree."""
    commit_time_bound = None if isinstance(version, int) else _spec.parse_commit_time(version)

    def matches_best(candidates: Iterable[BtreeGenerationReference]) -> BtreeGenerationReference | None:
        best = None
        for candidate in candidates:
            if commit_time_bound is None:
                if candidate.generation_number == version:
                    return candidate
            elif candidate.commit_time <= commit_time_bound:
                best = candidate
        return best

    found = matches_best(manifest.versions)
    if found is not None and commit_time_bound is None:
        return found
    if commit_time_bound is not None and manifest.versions and manifest.versions[0].commit_time <= commit_time_bound:
        return found  # the newest match is among the inline versions
    # Older versions live in the version tree: nodes ordered by generation, oldest first.
    nodes = sorted(manifest.version_tree_nodes, key=lambda node: node.generation_number, reverse=True)
    for reference in nodes:
        result = _search_version_node(io, reference, version, commit_time_bound)
        if result is not None:
            return result
    return None


def _search_version_node(
    io: OcdbtIO, reference: VersionNodeReference, version: VersionSpec, commit_time_bound: int | None
) -> BtreeGenerationReference | None:
    if commit_time_bound is None:
        assert isinstance(version, int)
        first = reference.generation_number - reference.num_generations + 1
        if not first <= version <= reference.generation_number:
            return None
    elif reference.commit_time > commit_time_bound:
        return None  # its oldest version is newer than the bound
    try:
        node = io.read_version_tree_node(reference.location)
    except MissingDataError:
        return None
    for entry in reversed(node.entries):
        if isinstance(entry, VersionNodeReference):
            result = _search_version_node(io, entry, version, commit_time_bound)
            if result is not None:
                return result
            continue
        assert isinstance(entry, BtreeGenerationReference)
        if commit_time_bound is None:
            if entry.generation_number == version:
                return entry
        elif entry.commit_time <= commit_time_bound:
            return entry
    return None
