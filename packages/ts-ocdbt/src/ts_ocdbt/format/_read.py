"""Reading manifests, nodes and values from the base kvstore that holds a database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._model import BtreeNode, Config, IndirectDataReference, Manifest, VersionTreeNode

if TYPE_CHECKING:
    from ts_core.kvstore import KvStore

__all__ = [
    "describe_reference",
    "read_btree_node",
    "read_indirect",
    "read_manifest",
    "read_numbered_manifest",
    "read_version_tree_node",
]


def describe_reference(reference: IndirectDataReference) -> str:
    """How errors name a place in a data file: ``d/<id> [offset 0, length 35]``."""
    raise NotImplementedError


def read_indirect(base: KvStore, reference: IndirectDataReference) -> bytes:
    """The bytes ``reference`` names (a byte-range read of its data file in ``base``);
    MissingDataError if the file is missing, TruncatedDataError if it is too short."""
    raise NotImplementedError


def read_btree_node(
    base: KvStore, reference: IndirectDataReference, config: Config | None = None
) -> BtreeNode:
    """Read and decode the B+tree node at ``reference`` (bounded by ``config`` when given)."""
    raise NotImplementedError


def read_version_tree_node(base: KvStore, reference: IndirectDataReference) -> VersionTreeNode:
    """Read and decode the version tree node at ``reference``."""
    raise NotImplementedError


def read_numbered_manifest(base: KvStore, generation_number: int) -> Manifest | None:
    """The numbered manifest ``manifest.<generation_number>`` (its config says numbered),
    or None if absent; CorruptDataError if it does not end at that generation."""
    raise NotImplementedError


def read_manifest(base: KvStore) -> Manifest | None:
    """The database's current manifest with its versions, or None if there is none.

    For a numbered database, the config of ``manifest.ocdbt`` with the versions of the
    newest ``manifest.<n>`` (listing them, as tensorstore does).
    """
    raise NotImplementedError
