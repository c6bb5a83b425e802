"""B+tree nodes ("B+tree node format" in tensorstore's ``kvstore/ocdbt/index.rst``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from ._codec import (
    BTREE_NODE_MAGIC,
    DataFileTableBuilder,
    Reader,
    Writer,
    check_reference,
    decode_envelope,
    encode_envelope,
    read_data_file_table,
    read_file_ids,
)
from ._columns import KeyColumns, key_columns, varint_column
from ._entries import read_statistics, write_statistics
from ._errors import CorruptDataError
from ._model import (
    MAX_INLINE_VALUE_BYTES,
    MAX_KEY_LENGTH,
    BtreeNode,
    Config,
    DataFileId,
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
)

__all__ = [
    "MAX_NODE_ARITY",
    "decode_btree_node",
    "decoded_size_limit",
    "encode_btree_node",
    "encode_leaf_node",
    "validate_btree_node_reference",
]

#: Most entries a B+tree node may have.
MAX_NODE_ARITY: Final = 1024 * 1024
#: Bound on a decompressed node when the database's ``max_decoded_node_bytes`` is unknown
#: or 0 (unlimited).
DEFAULT_MAX_DECODED_BYTES: Final = 1024 * 2**20
#: ``value_kind`` of a leaf entry.
_INLINE_VALUE: Final = 0
_OUT_OF_LINE_VALUE: Final = 1


def decoded_size_limit(config: Config | None) -> int:
    """How large a node of a database with ``config`` may decompress to.

    Writers fill nodes up to ``max_decoded_node_bytes`` (an estimate of the decoded size
    that exceeds the encoded one) and may overshoot by one entry: a key and an inline value.
    """
    if config is None or config.max_decoded_node_bytes == 0:
        return DEFAULT_MAX_DECODED_BYTES
    return config.max_decoded_node_bytes + MAX_INLINE_VALUE_BYTES + 2 * MAX_KEY_LENGTH + 2**20


def decode_btree_node(
    data: bytes, base_path: bytes, where: str, *, max_decoded_bytes: int | None = None
) -> BtreeNode:
    """Decode a B+tree node read from a data file whose ``base_path`` is given; ``where``
    names it in errors. ``max_decoded_bytes`` bounds the decompressed size (default: a
    generous bound; pass :func:`decoded_size_limit` of the config when known)."""
    limit = DEFAULT_MAX_DECODED_BYTES if max_decoded_bytes is None else max_decoded_bytes
    body = decode_envelope(data, BTREE_NODE_MAGIC, "b+tree node", where, limit)
    reader = Reader(body, where)
    height = reader.byte("height")
    files = read_data_file_table(reader, base_path)
    count = reader.count("num_entries", MAX_NODE_ARITY, 2)
    if count == 0:
        raise reader.corrupt("empty b+tree node (num_entries = 0)")
    key_prefix, keys, subtree_lengths = _read_keys(reader, count, interior=height > 0)
    node: BtreeNode
    if height == 0:
        values = _read_leaf_values(reader, files, count)
        node = BtreeNode(
            0, key_prefix, tuple(LeafNodeEntry(k, v) for k, v in zip(keys, values, strict=True))
        )
    else:
        file_ids = read_file_ids(reader, files, count)
        offsets = reader.varints(count, "data_file_offset")
        lengths = reader.varints(count, "data_file_length")
        statistics = read_statistics(reader, count)
        entries = []
        for i in range(count):
            location = IndirectDataReference(file_ids[i], offsets[i], lengths[i])
            check_reference(reader, location, f"child reference {i}")
            entries.append(InteriorNodeEntry(keys[i], subtree_lengths[i], location, statistics[i]))
        node = BtreeNode(height, key_prefix, tuple(entries))
    reader.finish()
    return node


def _read_keys(reader: Reader, count: int, interior: bool) -> tuple[bytes, list[bytes], list[int]]:
    """The prefix common to the node's stored keys, each key without it, and (interior
    nodes) each subtree common prefix length without it."""
    prefix_lengths = [0, *reader.varints(count - 1, "key_prefix_length", 0xFFFF)]
    suffix_lengths = reader.varints(count, "key_suffix_length", 0xFFFF)
    subtree_lengths = reader.varints(count, "subtree_common_prefix_length", 0xFFFF) if interior else []
    common = min(prefix_lengths[1:], default=MAX_KEY_LENGTH)
    common = min(common, suffix_lengths[0], min(subtree_lengths, default=MAX_KEY_LENGTH))
    suffixes = reader.raw(sum(suffix_lengths), f"the key suffixes of {count} entries")
    keys: list[bytes] = []
    previous = b""
    start = 0
    for i in range(count):
        prefix = prefix_lengths[i]
        if prefix > len(previous):
            raise reader.corrupt(
                f"key {i}: prefix length {prefix} exceeds the previous key's length {len(previous)}"
            )
        end = start + suffix_lengths[i]
        key = previous[:prefix] + suffixes[start:end]
        start = end
        if len(key) > MAX_KEY_LENGTH:
            raise reader.corrupt(f"key {i}: length {len(key)} exceeds the limit of {MAX_KEY_LENGTH}")
        if i and key <= previous:
            raise reader.corrupt(f"key {i} ({key!r}) does not sort after key {i - 1} ({previous!r})")
        if interior and subtree_lengths[i] > len(key):
            raise reader.corrupt(
                f"key {i}: subtree common prefix length {subtree_lengths[i]} exceeds the key "
                f"length {len(key)}"
            )
        keys.append(key)
        previous = key
    key_prefix = keys[0][:common]
    return (
        key_prefix,
        [key[common:] for key in keys] if common else keys,
        [length - common for length in subtree_lengths],
    )


def _read_leaf_values(
    reader: Reader, files: list[DataFileId], count: int
) -> list[bytes | IndirectDataReference]:
    lengths = reader.varints(count, "value_length")
    kinds = reader.bytes_column(count, "value_kind")
    indirect = []
    for i, kind in enumerate(kinds):
        if kind == _OUT_OF_LINE_VALUE:
            indirect.append(i)
        elif kind != _INLINE_VALUE:
            raise reader.corrupt(f"value_kind[{i}] = {kind} is outside the valid range [0, 1]")
        elif lengths[i] > MAX_INLINE_VALUE_BYTES:
            raise reader.corrupt(
                f"value_length[{i}] = {lengths[i]} exceeds the maximum of "
                f"{MAX_INLINE_VALUE_BYTES} for an inline value"
            )
    file_ids = read_file_ids(reader, files, len(indirect))
    offsets = reader.varints(len(indirect), "data_file_offset")
    values: list[bytes | IndirectDataReference] = [b""] * count
    for file_id, offset, i in zip(file_ids, offsets, indirect, strict=True):
        reference = IndirectDataReference(file_id, offset, lengths[i])
        check_reference(reader, reference, f"value reference {i}")
        values[i] = reference
    inline = [i for i, kind in enumerate(kinds) if kind == _INLINE_VALUE]
    data = reader.raw(sum(lengths[i] for i in inline), f"the inline values of {len(inline)} entries")
    start = 0
    for i in inline:
        end = start + lengths[i]
        values[i] = data[start:end]
        start = end
    return values


def encode_btree_node(node: BtreeNode, config: Config) -> bytes:
    """Encode ``node`` with ``config``'s compression (keys stored as ``key_prefix + key``)."""
    entries = node.entries
    count = len(entries)
    if not count:
        raise ValueError("a b+tree node needs at least one entry")
    interior = node.height > 0
    entry_type = InteriorNodeEntry if interior else LeafNodeEntry
    if not all(isinstance(entry, entry_type) for entry in entries):
        raise ValueError(
            f"a b+tree node of height {node.height} holds {entry_type.__name__} entries"
        )
    key_prefix = node.key_prefix
    keys = [key_prefix + entry.key for entry in entries] if key_prefix else [entry.key for entry in entries]
    if not interior:
        leaves: list[LeafNodeEntry] = list(entries)  # type: ignore[arg-type]
        return encode_leaf_node(keys, [leaf.value for leaf in leaves], config)
    _check_arity(count)
    children: list[InteriorNodeEntry] = list(entries)  # type: ignore[arg-type]
    columns = _key_columns(keys)
    writer = Writer()
    writer.byte(node.height)
    table = DataFileTableBuilder(child.node.file_id for child in children)
    table.write(writer)
    writer.varint(count)
    writer.raw(varint_column(columns.prefix_lengths))
    writer.raw(varint_column(columns.suffix_lengths))
    writer.raw(
        varint_column([child.subtree_common_prefix_length + len(key_prefix) for child in children])
    )
    writer.raw(columns.suffixes)
    writer.varints([table.index[child.node.file_id] for child in children])
    writer.varints([child.node.offset for child in children])
    writer.varints([child.node.length for child in children])
    write_statistics(writer, [child.statistics for child in children])
    return encode_envelope(writer.getvalue(), BTREE_NODE_MAGIC, config.compression)


def encode_leaf_node(
    keys: Sequence[bytes],
    values: Sequence[bytes | IndirectDataReference],
    config: Config,
    excluded: int = 0,
    *,
    key_lengths: np.ndarray[Any, Any] | None = None,
    inline_value_lengths: np.ndarray[Any, Any] | None = None,
) -> bytes:
    """Encode the leaf of ``keys`` (sorted, each stored without its first ``excluded``
    bytes, which all of them share) and their ``values`` with ``config``'s compression:
    the column form of :func:`encode_btree_node`, with no entry objects.

    A caller that has the keys' lengths, or (when every value is inline bytes) the values'
    lengths, as int64 arrays passes them rather than having them counted again.
    """
    count = len(keys)
    if not count:
        raise ValueError("a b+tree node needs at least one entry")
    _check_arity(count)
    columns = _key_columns(keys, excluded, key_lengths)
    if inline_value_lengths is not None:
        references = []
    elif IndirectDataReference in set(map(type, values)):  # one pass in C when there are none
        references = [value for value in values if value.__class__ is IndirectDataReference]
    else:
        references = []
    writer = Writer()
    writer.byte(0)
    table = DataFileTableBuilder(reference.file_id for reference in references)
    table.write(writer)
    writer.varint(count)
    writer.raw(varint_column(columns.prefix_lengths))
    writer.raw(varint_column(columns.suffix_lengths))
    writer.raw(columns.suffixes)
    if not references:
        inline: Sequence[bytes] = values  # type: ignore[assignment]
        if inline_value_lengths is None:
            inline_value_lengths = np.fromiter(map(len, inline), dtype=np.int64, count=count)
        writer.raw(varint_column(inline_value_lengths))
        writer.raw(bytes(count))  # every value_kind inline
        writer.raw(b"".join(inline))
        return encode_envelope(writer.getvalue(), BTREE_NODE_MAGIC, config.compression)
    indirect: list[IndirectDataReference] = references
    writer.raw(
        varint_column(
            [value.length if isinstance(value, IndirectDataReference) else len(value) for value in values]
        )
    )
    writer.raw(
        bytes(_OUT_OF_LINE_VALUE if value.__class__ is IndirectDataReference else _INLINE_VALUE for value in values)
    )
    writer.raw(varint_column([table.index[reference.file_id] for reference in indirect]))
    writer.raw(varint_column([reference.offset for reference in indirect]))
    writer.raw(b"".join([value for value in values if value.__class__ is not IndirectDataReference]))  # type: ignore[misc]
    return encode_envelope(writer.getvalue(), BTREE_NODE_MAGIC, config.compression)


def _check_arity(count: int) -> None:
    if count > MAX_NODE_ARITY:
        raise ValueError(f"a b+tree node has at most {MAX_NODE_ARITY} entries, not {count}")


def _key_columns(
    keys: Sequence[bytes], excluded: int = 0, lengths: np.ndarray[Any, Any] | None = None
) -> KeyColumns:
    columns = key_columns(keys, excluded, lengths)
    if columns.max_length > MAX_KEY_LENGTH:
        key = next(key for key in keys if len(key) > MAX_KEY_LENGTH)
        raise ValueError(f"key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} bytes")
    return columns


def validate_btree_node_reference(
    node: BtreeNode, height: int, inclusive_min_key: bytes, where: str
) -> None:
    """CorruptDataError unless ``node`` has ``height`` and its first stored key (relative to
    the parent's implied prefix) is not below ``inclusive_min_key`` (relative likewise)."""
    if node.height != height:
        raise CorruptDataError(where, f"expected a b+tree node of height {height} but found {node.height}")
    first_key = node.key_prefix + node.entries[0].key
    if first_key < inclusive_min_key:
        raise CorruptDataError(
            where,
            f"first key {first_key!r} is less than the lower bound {inclusive_min_key!r} "
            f"given by the parent node",
        )
