"""B+tree nodes."""

from __future__ import annotations

from ._model import BtreeNode, Config

__all__ = ["decode_btree_node", "encode_btree_node", "validate_btree_node_reference"]


def decode_btree_node(
    data: bytes, base_path: bytes, where: str, *, max_decoded_bytes: int | None = None
) -> BtreeNode:
    """Decode a B+tree node read from a data file whose ``base_path`` is given; ``where``
    names it in errors. ``max_decoded_bytes`` bounds the decompressed size (default: a
    generous bound; pass the config's ``max_decoded_node_bytes``-derived one when known)."""
    raise NotImplementedError


def encode_btree_node(node: BtreeNode, config: Config) -> bytes:
    """Encode ``node`` with ``config``'s compression (keys stored as ``key_prefix + key``)."""
    raise NotImplementedError


def validate_btree_node_reference(
    node: BtreeNode, height: int, inclusive_min_key: bytes, where: str
) -> None:
    """CorruptDataError unless ``node`` has ``height`` and its first stored key (relative to
    the parent's implied prefix) is not below ``inclusive_min_key``."""
    raise NotImplementedError
