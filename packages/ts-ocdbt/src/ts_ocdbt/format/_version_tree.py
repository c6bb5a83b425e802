"""Version tree nodes."""

from __future__ import annotations

from ._model import Config, VersionTreeNode

__all__ = [
    "decode_version_tree_node",
    "encode_version_tree_node",
    "max_version_tree_height",
    "validate_version_tree_node_reference",
]


def max_version_tree_height(version_tree_arity_log2: int) -> int:
    """Largest height of a version tree node (``(height + 1) * arity_log2 < 64``)."""
    return 63 // version_tree_arity_log2 - 1


def decode_version_tree_node(data: bytes, base_path: bytes, where: str) -> VersionTreeNode:
    """Decode a version tree node read from a data file whose ``base_path`` (the transitive
    path of its children) is given; ``where`` names it in errors."""
    raise NotImplementedError


def encode_version_tree_node(node: VersionTreeNode, config: Config) -> bytes:
    """Encode ``node`` with ``config``'s compression."""
    raise NotImplementedError


def validate_version_tree_node_reference(
    node: VersionTreeNode, config: Config, generation_number: int, height: int, where: str
) -> None:
    """CorruptDataError unless ``node`` is what its parent said: ``height``, the database's
    arity, and ``generation_number`` as its latest generation."""
    raise NotImplementedError
