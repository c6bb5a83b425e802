"""The decoded form of OCDBT's on-disk structures (tensorstore's ``kvstore/ocdbt/index.rst``).

Everything is an immutable value: a manifest, a version tree node and a B+tree node decode
to these classes and encode from them. Paths and keys are ``bytes``, as the format stores
them; commit times are nanoseconds since the Unix epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_MAX_DECODED_NODE_BYTES",
    "DEFAULT_MAX_INLINE_VALUE_BYTES",
    "DEFAULT_VERSION_TREE_ARITY_LOG2",
    "MANIFEST_KIND_NUMBERED",
    "MANIFEST_KIND_SINGLE",
    "MAX_INLINE_VALUE_BYTES",
    "MAX_KEY_LENGTH",
    "MAX_VERSION_TREE_ARITY_LOG2",
    "BtreeGenerationReference",
    "BtreeNode",
    "BtreeNodeStatistics",
    "Config",
    "DataFileId",
    "IndirectDataReference",
    "InteriorNodeEntry",
    "LeafNodeEntry",
    "Manifest",
    "VersionNodeReference",
    "VersionTreeNode",
    "ZstdCompression",
]

#: ``manifest_kind`` 0: the manifest holds the configuration and the version tree.
MANIFEST_KIND_SINGLE: Final = "single"
#: ``manifest_kind`` 1: ``manifest.ocdbt`` holds only the configuration; the version tree
#: is in ``manifest.<16 hex digits>`` files (which themselves say ``single``).
MANIFEST_KIND_NUMBERED: Final = "numbered"

#: Defaults tensorstore gives a new database (format/config.h).
DEFAULT_MAX_INLINE_VALUE_BYTES: Final = 100
DEFAULT_MAX_DECODED_NODE_BYTES: Final = 8 * 1024 * 1024
DEFAULT_VERSION_TREE_ARITY_LOG2: Final = 4
#: Largest ``max_inline_value_bytes`` (and largest inline value a leaf may hold).
MAX_INLINE_VALUE_BYTES: Final = 1024 * 1024
#: ``version_tree_arity_log2`` lies in ``[1, 16]``.
MAX_VERSION_TREE_ARITY_LOG2: Final = 16
#: Keys, and data file paths, are at most 65535 bytes.
MAX_KEY_LENGTH: Final = 65535

_UINT64_MAX: Final = 2**64 - 1


@dataclass(frozen=True, slots=True)
class ZstdCompression:
    """Compression method 1 of the configuration: zstd at ``level`` when writing."""

    level: int = 0


@dataclass(frozen=True, slots=True)
class Config:
    """The database configuration every manifest starts with.

    ``compression`` is None for uncompressed manifests and nodes.
    """

    uuid: bytes
    manifest_kind: str = MANIFEST_KIND_SINGLE
    max_inline_value_bytes: int = DEFAULT_MAX_INLINE_VALUE_BYTES
    max_decoded_node_bytes: int = DEFAULT_MAX_DECODED_NODE_BYTES
    version_tree_arity_log2: int = DEFAULT_VERSION_TREE_ARITY_LOG2
    compression: ZstdCompression | None = field(default_factory=ZstdCompression)


@dataclass(frozen=True, slots=True, order=True)
class DataFileId:
    """A data file: its path relative to the database root is ``base_path + relative_path``.

    ``base_path`` already includes the transitive path of the node the id was read from
    (decoders prepend it), so ``full_path`` is always relative to the database root.
    """

    base_path: bytes = b""
    relative_path: bytes = b""

    @property
    def full_path(self) -> bytes:
        return self.base_path + self.relative_path


@dataclass(frozen=True, slots=True)
class IndirectDataReference:
    """``length`` bytes at ``offset`` in a data file: an out-of-line value or an encoded node."""

    file_id: DataFileId
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


#: The reference tensorstore stores for the root of an empty B+tree (offset and length all
#: ones); decoded as ``None``.
MISSING_REFERENCE: Final = IndirectDataReference(DataFileId(), _UINT64_MAX, _UINT64_MAX)


@dataclass(frozen=True, slots=True)
class BtreeNodeStatistics:
    """Totals over a B+tree subtree (each counted once per path reaching it)."""

    num_indirect_value_bytes: int = 0
    num_tree_bytes: int = 0
    num_keys: int = 0

    def __add__(self, other: BtreeNodeStatistics) -> BtreeNodeStatistics:
        return BtreeNodeStatistics(
            self.num_indirect_value_bytes + other.num_indirect_value_bytes,
            self.num_tree_bytes + other.num_tree_bytes,
            self.num_keys + other.num_keys,
        )


@dataclass(frozen=True, slots=True)
class BtreeGenerationReference:
    """One version: the root of its B+tree (None for an empty tree) and when it was made.

    A version tree leaf entry, and an entry of ``Manifest.versions``.
    """

    generation_number: int
    root_height: int
    root: IndirectDataReference | None
    statistics: BtreeNodeStatistics
    commit_time: int


@dataclass(frozen=True, slots=True)
class VersionNodeReference:
    """A version tree interior entry: the child node holding generations up to
    ``generation_number`` (``num_generations`` of them, the first committed at
    ``commit_time``); ``height`` is the child's height."""

    location: IndirectDataReference
    generation_number: int
    height: int
    num_generations: int
    commit_time: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A decoded manifest.

    With ``manifest_kind == "numbered"`` in ``manifest.ocdbt`` only ``config`` is stored;
    ``manifest.<n>`` files and single manifests carry ``versions`` (the newest versions,
    inline) and ``version_tree_nodes`` (older versions, tallest node first).
    """

    config: Config
    versions: tuple[BtreeGenerationReference, ...] = ()
    version_tree_nodes: tuple[VersionNodeReference, ...] = ()

    @property
    def latest_version(self) -> BtreeGenerationReference:
        return self.versions[-1]

    @property
    def latest_generation(self) -> int:
        return self.versions[-1].generation_number if self.versions else 0


@dataclass(frozen=True, slots=True)
class VersionTreeNode:
    """A version tree node: leaf entries (``height == 0``) are versions, interior entries
    reference nodes of ``height - 1``."""

    height: int
    version_tree_arity_log2: int
    entries: tuple[BtreeGenerationReference | VersionNodeReference, ...]

    @property
    def generation_number(self) -> int:
        """The latest generation in this subtree."""
        return self.entries[-1].generation_number


@dataclass(frozen=True, slots=True)
class LeafNodeEntry:
    """A key (relative to its node's ``key_prefix``) and its value, inline or out of line."""

    key: bytes
    value: bytes | IndirectDataReference

    @property
    def value_size(self) -> int:
        return self.value.length if isinstance(self.value, IndirectDataReference) else len(self.value)


@dataclass(frozen=True, slots=True)
class InteriorNodeEntry:
    """A child of an interior node.

    ``key`` (relative to the node's ``key_prefix``) is the child's inclusive lower bound;
    its first ``subtree_common_prefix_length`` bytes are common to every key under the
    child and are not stored in the child.
    """

    key: bytes
    subtree_common_prefix_length: int
    node: IndirectDataReference
    statistics: BtreeNodeStatistics

    @property
    def subtree_common_prefix(self) -> bytes:
        return self.key[: self.subtree_common_prefix_length]


@dataclass(frozen=True, slots=True)
class BtreeNode:
    """A B+tree node: leaves (``height == 0``) hold key/value entries, interior nodes children.

    The key of an entry, as stored in the node, is ``key_prefix + entry.key``; the full key
    is that appended to the prefix the path from the root implies (the parent's full
    prefix + its ``key_prefix`` + ``entry.subtree_common_prefix``). Decoding puts the
    longest prefix common to all entries in ``key_prefix``; encoding accepts any split.
    """

    height: int
    key_prefix: bytes
    entries: tuple[LeafNodeEntry | InteriorNodeEntry, ...]

    def child_prefix(self, prefix: bytes, entry: InteriorNodeEntry) -> bytes:
        """The full-key prefix implied for the child of ``entry``, this node's prefix being ``prefix``."""
        return prefix + self.key_prefix + entry.subtree_common_prefix

    def full_key(self, prefix: bytes, entry: LeafNodeEntry | InteriorNodeEntry) -> bytes:
        """The full key of ``entry``, this node's prefix being ``prefix``."""
        return prefix + self.key_prefix + entry.key
