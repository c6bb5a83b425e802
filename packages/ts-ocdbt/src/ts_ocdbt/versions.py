"""Data versioning for OCDBT databases (a ts extension beyond tensorstore's Python API).

Every commit to an OCDBT database makes a new version, numbered by its generation (1, 2,
...) and stamped with its commit time; old versions are never changed. This module lists
the versions (from the version tree: no value is read), resolves a generation or a commit
time to a version, opens a version read-only, pins one in a spec a team can share, and
tells which keys changed between two versions by walking both B+trees side by side and
skipping the subtrees they share.

Every function takes the database as an ``ocdbt`` KvStore (any ``path`` within it is kept)
or as the base KvStore that holds it, and returns a :class:`ts_core.Future`.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import ts_core as ts
from ts_core.concurrency import Executor
from ts_core.kvstore import KvStore

from ._spec import format_commit_time, parse_commit_time
from .format import (
    BtreeGenerationReference,
    BtreeNode,
    Config,
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
    Manifest,
    VersionNodeReference,
    format_location,
    read_btree_node,
    read_manifest,
    read_version_tree_node,
)

__all__ = [
    "KeyChange",
    "Version",
    "VersionSelector",
    "diff_versions",
    "get_version",
    "list_versions",
    "open_version",
    "pin_version",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a database, as its version tree records it."""

    #: 1 for the empty version a new database starts with, then one more per commit.
    generation_number: int
    #: Nanoseconds since the Unix epoch (UTC, no leap seconds).
    commit_time: int
    #: Where its B+tree root is, in ``dump``'s notation
    #: (``"btreenode::d/<file>:<offset>:<length>"``); None when the version has no keys.
    root: str | None
    root_height: int
    num_keys: int
    num_tree_bytes: int
    num_indirect_value_bytes: int

    @property
    def commit_datetime(self) -> datetime.datetime:
        """The commit time as an aware UTC ``datetime`` (to the microsecond)."""
        seconds, nanoseconds = divmod(self.commit_time, 1_000_000_000)
        return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=nanoseconds // 1000)

    @property
    def commit_time_iso(self) -> str:
        """The exact commit time as RFC 3339 (``"2025-01-01T01:23:45.678901234Z"``), which
        selects this version as a ``"version"`` spec member or ``ocdbt:@<time>/`` URL."""
        return format_commit_time(self.commit_time)


#: What selects a version: a generation number, a commit time (an aware ``datetime``, or a
#: UTC string such as ``"2025-01-01T01:23:45.678Z"``: the newest version committed at or
#: before it), or a :class:`Version` already listed.
VersionSelector = int | str | datetime.datetime | Version


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A key whose entry differs between two versions.

    ``kind`` is ``"added"``, ``"deleted"`` or ``"modified"``; the sizes are those of the
    value in the old and new version (None where the key is absent). A value stored out of
    line counts as modified when it was rewritten, even with the same bytes.
    """

    key: bytes
    kind: Literal["added", "deleted", "modified"]
    old_size: int | None
    new_size: int | None


def list_versions(store: KvStore) -> ts.Future[list[Version]]:
    """Every version of the database, oldest first (an empty list if there is none yet)."""
    return _submit(lambda: _Database(store).versions())


def get_version(store: KvStore, version: VersionSelector) -> ts.Future[Version]:
    """The version a generation number or commit time selects; a ValueError naming the
    version asked for and the versions there are if there is none."""
    return _submit(lambda: _Database(store).version(version))


def open_version(store: KvStore, version: VersionSelector) -> ts.Future[KvStore]:
    """The database at ``version``, opened read-only through the ``"version"`` spec member
    (the same ``path`` within it, the same context)."""

    def open_() -> KvStore:
        database = _Database(store)
        spec = database.spec_json(database.version(version).generation_number)
        opened: KvStore = ts.KvStore.open(spec, context=database.context).result()
        return opened

    return _submit(open_)


def pin_version(store: KvStore, version: VersionSelector | None = None) -> ts.Future[ts.KvStore.Spec]:
    """A spec of the database pinned at ``version`` (default: the newest), to share.

    A commit time is resolved to its generation number, so everyone who opens the spec
    (``ts.KvStore.open``, or as the ``kvstore`` of an array) reads exactly the same data,
    however many commits follow.
    """

    def pin() -> ts.KvStore.Spec:
        database = _Database(store)
        selected = database.newest() if version is None else database.version(version)
        return ts.KvStore.Spec(database.spec_json(selected.generation_number))

    return _submit(pin)


def diff_versions(
    store: KvStore, old: VersionSelector, new: VersionSelector
) -> ts.Future[list[KeyChange]]:
    """The keys (within the store's ``path``, relative to it) whose entries differ between
    versions ``old`` and ``new``, in key order.

    Computed from the two B+trees: subtrees both versions share (the same node) are skipped
    without being read, and values are compared by their stored entries, never read.
    """

    def diff() -> list[KeyChange]:
        database = _Database(store)
        old_version, new_version = database.version(old), database.version(new)
        prefix = database.path.encode()
        changes = _TreeDiff(database, prefix).diff(
            database.generation_reference(old_version), database.generation_reference(new_version))
        return [KeyChange(key[len(prefix):], kind, old_size, new_size)
                for key, kind, old_size, new_size in changes]

    return _submit(diff)


# -- implementation ---------------------------------------------------------------------

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_executor_lock = threading.Lock()
_executor: Executor | None = None


def _submit(function: Callable[[], T]) -> ts.Future[T]:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = Executor(4, "ts-ocdbt-versions")
    return _executor.submit(function)


def _selector_time(version: str | datetime.datetime) -> int:
    if isinstance(version, str):
        return parse_commit_time(version)
    if version.tzinfo is None:
        raise ValueError(f"version: a commit time must be timezone-aware (UTC), but received {version!r}")
    delta = version - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class _Database:
    """The database a KvStore argument names: its base, the path within, its manifest."""

    def __init__(self, store: KvStore) -> None:
        if not isinstance(store, KvStore):
            raise TypeError(f"expected a ts.KvStore (an ocdbt store or its base), but received "
                            f"{type(store).__name__}")
        self.path = ""
        self.spec_members: dict[str, Any] = {}
        if store.driver.id == "ocdbt":
            base = store.base
            assert base is not None
            self.path = store.path
            self.spec_members = {key: value for key, value in store.spec().to_json().items()
                                 if key not in ("driver", "base", "path", "version")}
            self.base = base
        else:
            self.base = store
        self.context = store.context
        # The manifest files live in the base unless the spec names a kvstore of their own.
        self.manifest_store = self.base
        if self.spec_members.get("manifest") is not None:
            self.manifest_store = ts.KvStore.open(self.spec_members["manifest"], context=self.context).result()
        self._manifest: Manifest | None = None
        self._references: dict[int, BtreeGenerationReference] | None = None
        self._versions: list[Version] | None = None

    @property
    def where(self) -> str:
        try:
            url = self.base.url
        except ValueError:
            url = ""
        return f"the OCDBT database at {url or self.base.spec().to_json()!r}"

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = read_manifest(self.manifest_store)
            if self._manifest is None:
                self._manifest = Manifest(Config(uuid=b""))
        return self._manifest

    def versions(self) -> list[Version]:
        if self._versions is None:
            self._versions = [_version(entry) for entry in self.generation_references().values()]
        return self._versions

    def generation_references(self) -> dict[int, BtreeGenerationReference]:
        """Every version's tree root by generation number, oldest first."""
        if self._references is None:
            manifest = self.manifest
            found: list[BtreeGenerationReference] = []
            for node_reference in manifest.version_tree_nodes:  # oldest (tallest) first
                found.extend(self._version_tree_leaves(node_reference))
            found.extend(manifest.versions)
            self._references = {entry.generation_number: entry for entry in found}
        return self._references

    def _version_tree_leaves(self, reference: VersionNodeReference) -> Iterator[BtreeGenerationReference]:
        node = read_version_tree_node(self.base, reference.location)
        for entry in node.entries:
            if isinstance(entry, VersionNodeReference):
                yield from self._version_tree_leaves(entry)
            else:
                yield entry

    def version_tree_node_references(self) -> Iterator[IndirectDataReference]:
        """Where every version tree node is (for garbage collection)."""
        pending = list(self.manifest.version_tree_nodes)
        while pending:
            reference = pending.pop()
            yield reference.location
            node = read_version_tree_node(self.base, reference.location)
            pending.extend(entry for entry in node.entries if isinstance(entry, VersionNodeReference))

    def newest(self) -> Version:
        versions = self.versions()
        if not versions:
            raise ValueError(f"{self.where} has no versions (no manifest)")
        return versions[-1]

    def version(self, selector: VersionSelector) -> Version:
        versions = self.versions()
        if isinstance(selector, Version):
            selector = selector.generation_number
        if isinstance(selector, bool) or not isinstance(selector, int | str | datetime.datetime):
            raise TypeError(f"version: expected a generation number, a commit time or a Version, "
                            f"but received {type(selector).__name__}")
        if isinstance(selector, int):
            if selector in self.generation_references():
                return _version(self.generation_references()[selector])
            raise ValueError(f"version {selector} (generation number) is not present in {self.where}: "
                             f"{self.describe_versions()}")
        commit_time = _selector_time(selector)
        earlier = [v for v in versions if v.commit_time <= commit_time]
        if not earlier:
            raise ValueError(f"version {format_commit_time(commit_time)} (commit time) is not present in "
                             f"{self.where}: no version was committed at or before it; "
                             f"{self.describe_versions()}")
        return earlier[-1]

    def describe_versions(self) -> str:
        versions = self.versions()
        if not versions:
            return "it has no versions"
        first, last = versions[0], versions[-1]
        if first is last:
            return f"it has only generation {first.generation_number}, committed at {first.commit_time_iso}"
        return (f"it has generations {first.generation_number} to {last.generation_number}, committed "
                f"from {first.commit_time_iso} to {last.commit_time_iso}")

    def generation_reference(self, version: Version) -> BtreeGenerationReference:
        return self.generation_references()[version.generation_number]

    def spec_json(self, generation_number: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"driver": "ocdbt", "base": self.base.spec().to_json(), **self.spec_members}
        if self.path:
            spec["path"] = self.path
        spec["version"] = generation_number
        return spec

    def read_node(self, reference: IndirectDataReference) -> BtreeNode:
        return read_btree_node(self.base, reference, self.manifest.config)


def _version(entry: BtreeGenerationReference) -> Version:
    return Version(
        generation_number=entry.generation_number,
        commit_time=entry.commit_time,
        root=None if entry.root is None else format_location("btreenode", entry.root),
        root_height=entry.root_height,
        num_keys=entry.statistics.num_keys,
        num_tree_bytes=entry.statistics.num_tree_bytes,
        num_indirect_value_bytes=entry.statistics.num_indirect_value_bytes,
    )


@dataclass(frozen=True, slots=True)
class _Subtree:
    """A B+tree node not yet read: keys under it are ``prefix`` + its stored keys, all at or
    above ``lower``."""

    lower: bytes
    prefix: bytes
    node: IndirectDataReference
    height: int


@dataclass(frozen=True, slots=True)
class _Entry:
    key: bytes
    value: bytes | IndirectDataReference


_Item = _Subtree | _Entry
_Change = tuple[bytes, Literal["added", "deleted", "modified"], int | None, int | None]


class _TreeDiff:
    """Merges the key streams of two B+trees, expanding subtrees only as far as needed.

    Each side is a stack of pending items in key order (subtrees and leaf entries). When
    both fronts are the very same node (same data file, offset and length) under the same
    key prefix, every key under it is the same on both sides and both are dropped unread.
    Otherwise the front with the lower key bound is expanded (if a subtree) or compared.
    """

    def __init__(self, database: _Database, prefix: bytes) -> None:
        self.database = database
        self.prefix = prefix
        self.nodes_read = 0

    def diff(self, old: BtreeGenerationReference, new: BtreeGenerationReference) -> list[_Change]:
        old_stack = self._roots(old)
        new_stack = self._roots(new)
        changes: list[_Change] = []
        while old_stack or new_stack:
            if not new_stack or not old_stack:
                stack, kind = (old_stack, "deleted") if old_stack else (new_stack, "added")
                item = stack[-1]
                if isinstance(item, _Subtree):
                    self._expand(item, stack)
                    continue
                stack.pop()
                if kind == "deleted":
                    changes.append((item.key, "deleted", _size(item.value), None))
                else:
                    changes.append((item.key, "added", None, _size(item.value)))
                continue
            a, b = old_stack[-1], new_stack[-1]
            if isinstance(a, _Subtree) and isinstance(b, _Subtree):
                if a.node == b.node and a.prefix == b.prefix:
                    old_stack.pop()
                    new_stack.pop()
                elif (a.lower, -a.height) <= (b.lower, -b.height):
                    self._expand(a, old_stack)
                else:
                    self._expand(b, new_stack)
            elif isinstance(a, _Subtree):
                assert isinstance(b, _Entry)
                if b.key < a.lower:  # nothing left on the old side is below a.lower
                    new_stack.pop()
                    changes.append((b.key, "added", None, _size(b.value)))
                else:
                    self._expand(a, old_stack)
            elif isinstance(b, _Subtree):
                if a.key < b.lower:
                    old_stack.pop()
                    changes.append((a.key, "deleted", _size(a.value), None))
                else:
                    self._expand(b, new_stack)
            elif a.key < b.key:
                old_stack.pop()
                changes.append((a.key, "deleted", _size(a.value), None))
            elif b.key < a.key:
                new_stack.pop()
                changes.append((b.key, "added", None, _size(b.value)))
            else:
                old_stack.pop()
                new_stack.pop()
                if a.value != b.value:
                    changes.append((a.key, "modified", _size(a.value), _size(b.value)))
        return changes

    def _roots(self, version: BtreeGenerationReference) -> list[_Item]:
        if version.root is None:
            return []
        return [_Subtree(b"", b"", version.root, version.root_height)]

    def _in_range(self, lower: bytes, upper: bytes | None) -> bool:
        """Whether keys in [lower, upper) can start with the prefix."""
        if upper is not None and upper <= self.prefix:
            return False
        return lower[: len(self.prefix)] <= self.prefix

    def _expand(self, subtree: _Subtree, stack: list[_Item]) -> None:
        """Replace ``subtree`` (the top of ``stack``) by its children or entries, pushed so
        that the first pops first."""
        stack.pop()
        node = self.database.read_node(subtree.node)
        self.nodes_read += 1
        items: list[_Item] = []
        if node.height == 0:
            for entry in node.entries:
                assert isinstance(entry, LeafNodeEntry)
                key = node.full_key(subtree.prefix, entry)
                if key.startswith(self.prefix):
                    items.append(_Entry(key, entry.value))
        else:
            children = node.entries
            for index, child in enumerate(children):
                assert isinstance(child, InteriorNodeEntry)
                lower = node.full_key(subtree.prefix, child)
                upper = (node.full_key(subtree.prefix, children[index + 1])
                         if index + 1 < len(children) else None)
                if self._in_range(lower, upper):
                    items.append(_Subtree(lower, node.child_prefix(subtree.prefix, child),
                                          child.node, node.height - 1))
        stack.extend(reversed(items))


def _size(value: bytes | IndirectDataReference) -> int:
    return value.length if isinstance(value, IndirectDataReference) else len(value)
