"""Version tree nodes ("Version tree node format" in tensorstore's ``kvstore/ocdbt/index.rst``)."""

from __future__ import annotations

from typing import Final

from ._codec import (
    VERSION_TREE_NODE_MAGIC,
    DataFileTableBuilder,
    Reader,
    Writer,
    decode_envelope,
    encode_envelope,
    read_data_file_table,
)
from ._entries import (
    leaf_file_ids,
    max_version_tree_height,
    read_arity_log2,
    read_version_interior_entries,
    read_version_leaf_entries,
    validate_interior_node_entries,
    write_version_interior_entries,
    write_version_leaf_entries,
)
from ._errors import CorruptDataError
from ._model import BtreeGenerationReference, Config, VersionNodeReference, VersionTreeNode

__all__ = [
    "decode_version_tree_node",
    "encode_version_tree_node",
    "max_version_tree_height",
    "validate_version_tree_node_reference",
]

#: Bound on a decompressed version tree node: 65536 entries of a few dozen bytes each, and
#: the data file table, fit well within it.
MAX_DECODED_VERSION_TREE_NODE_BYTES: Final = 256 * 2**20


def decode_version_tree_node(data: bytes, base_path: bytes, where: str) -> VersionTreeNode:
    """Decode a version tree node read from a data file whose ``base_path`` (the transitive
    path of its children) is given; ``where`` names it in errors."""
    body = decode_envelope(
        data, VERSION_TREE_NODE_MAGIC, "version tree node", where, MAX_DECODED_VERSION_TREE_NODE_BYTES
    )
    reader = Reader(body, where)
    arity_log2 = read_arity_log2(reader)
    height = reader.byte("height")
    files = read_data_file_table(reader, base_path)
    entries: tuple[BtreeGenerationReference, ...] | tuple[VersionNodeReference, ...]
    if height == 0:
        entries = read_version_leaf_entries(reader, files, arity_log2)
    else:
        max_height = max_version_tree_height(arity_log2)
        if height > max_height:
            raise reader.corrupt(
                f"height = {height} exceeds the maximum of {max_height} for "
                f"version_tree_arity_log2 = {arity_log2}"
            )
        entries = read_version_interior_entries(reader, files, 1 << arity_log2, height - 1)
        validate_interior_node_entries(reader, entries, arity_log2, height)
    reader.finish()
    return VersionTreeNode(height=height, version_tree_arity_log2=arity_log2, entries=entries)


def encode_version_tree_node(node: VersionTreeNode, config: Config) -> bytes:
    """Encode ``node`` with ``config``'s compression."""
    if not node.entries:
        raise ValueError("a version tree node needs at least one entry")
    if len(node.entries) > 1 << node.version_tree_arity_log2:
        raise ValueError(
            f"a version tree node has at most {1 << node.version_tree_arity_log2} entries, "
            f"not {len(node.entries)}"
        )
    writer = Writer()
    writer.byte(node.version_tree_arity_log2)
    writer.byte(node.height)
    if node.height == 0:
        leaves = _leaf_entries(node)
        table = DataFileTableBuilder(leaf_file_ids(leaves))
        table.write(writer)
        write_version_leaf_entries(writer, table, leaves)
    else:
        children = _interior_entries(node)
        table = DataFileTableBuilder(entry.location.file_id for entry in children)
        table.write(writer)
        write_version_interior_entries(writer, table, children, include_height=False)
    return encode_envelope(writer.getvalue(), VERSION_TREE_NODE_MAGIC, config.compression)


def _leaf_entries(node: VersionTreeNode) -> tuple[BtreeGenerationReference, ...]:
    entries = node.entries
    if not all(isinstance(entry, BtreeGenerationReference) for entry in entries):
        raise ValueError("a version tree leaf (height 0) holds BtreeGenerationReference entries")
    return entries  # type: ignore[return-value]


def _interior_entries(node: VersionTreeNode) -> tuple[VersionNodeReference, ...]:
    entries = node.entries
    if not all(isinstance(entry, VersionNodeReference) for entry in entries):
        raise ValueError("an interior version tree node holds VersionNodeReference entries")
    return entries  # type: ignore[return-value]


def validate_version_tree_node_reference(
    node: VersionTreeNode, config: Config, generation_number: int, height: int, where: str
) -> None:
    """CorruptDataError unless ``node`` is what its parent said: ``height``, the database's
    arity, and ``generation_number`` as its latest generation."""
    if node.height != height:
        raise CorruptDataError(where, f"expected a version tree node of height {height} but found {node.height}")
    if node.version_tree_arity_log2 != config.version_tree_arity_log2:
        raise CorruptDataError(
            where,
            f"expected version_tree_arity_log2 = {config.version_tree_arity_log2} but found "
            f"{node.version_tree_arity_log2}",
        )
    if node.generation_number != generation_number:
        raise CorruptDataError(
            where,
            f"expected latest generation number {generation_number} but found {node.generation_number}",
        )
