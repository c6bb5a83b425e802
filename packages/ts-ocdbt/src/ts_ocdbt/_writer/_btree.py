"""Applying a batch of mutations to a B+tree, copy-on-write.

The tree is walked from the root down only into subtrees whose key range a mutation
touches; every other subtree is kept by reference. Rewritten nodes are split so that each
stays under ``max_decoded_node_bytes`` (by tensorstore's estimate of the decoded size), and
every node stores its keys without the prefix all of them share (the parent records that
prefix's length). Within this module keys are *full* keys; they are made relative only
when a node is encoded.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ts_core.kvstore import NO_VALUE, UNKNOWN

from .._io import OcdbtIO, value_generation
from ..format import (
    BtreeNode,
    BtreeNodeStatistics,
    Config,
    CorruptDataError,
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
    describe_reference,
    encode_btree_node,
    validate_btree_node_reference,
)
from ..format._btree import MAX_NODE_ARITY
from ._data_files import BTREE_NODE, VALUE, DataFileWriter

__all__ = ["KeyOp", "NewRoot", "apply_mutations"]

#: tensorstore's estimate of the decoded size of an entry, besides its key (and, for a
#: leaf, its inline value): a leaf entry's key pointer and size ...
LEAF_ENTRY_FIXED_SIZE: Final = 8 + 8
#: ... an out-of-line value's offset and length (plus its file id's path) ...
INDIRECT_VALUE_FIXED_SIZE: Final = 8 + 8
#: ... and an interior entry's key pointer and size, child offset and length, and the
#: three statistics (plus the child's file id's path).
INTERIOR_ENTRY_FIXED_SIZE: Final = 8 + 8 + 8 + 8 + 3 * 8
#: A leaf may hold one entry; an interior node is split into nodes of at least two.
MIN_LEAF_ARITY: Final = 1
MIN_INTERIOR_ARITY: Final = 2
#: Children of one node read ahead together (concurrently, from a remote base kvstore).
PREFETCH_WINDOW: Final = 64

Value = bytes | IndirectDataReference


class ConditionFailed(Exception):
    """A write's ``if_equal`` did not hold (raised to stop an all-or-nothing commit)."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.key = key


@dataclass(slots=True)
class KeyOp:
    """The final write of one key in the batch.

    ``value`` None deletes; ``if_equal`` (None: unconditional) is checked against the key's
    generation after the batch's delete ranges (so ``NO_VALUE`` for a key in one).
    Filled in: ``applied`` (False if the condition failed) and ``stored`` (the value as the
    new leaf holds it: inline bytes or where it was written out of line).
    """

    key: bytes
    value: bytes | None
    if_equal: bytes | None = None
    applied: bool = False
    stored: bytes | IndirectDataReference | None = None

    @property
    def generation(self) -> bytes:
        """The key's new generation: ``UNKNOWN`` if the condition failed, ``NO_VALUE`` if
        deleted."""
        if not self.applied:
            return UNKNOWN
        return NO_VALUE if self.stored is None else value_generation(self.stored)


@dataclass(frozen=True, slots=True)
class NewRoot:
    """The root of the new tree: None (with height 0) for an empty tree."""

    root: IndirectDataReference | None
    height: int
    statistics: BtreeNodeStatistics


@dataclass(slots=True)
class _Child:
    """An entry of an interior node being built: full inclusive-min key, the absolute length
    of the prefix common to the whole subtree, and the subtree's node."""

    key: bytes
    prefix_length: int
    node: IndirectDataReference
    statistics: BtreeNodeStatistics


def _common_prefix_length(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix of ``a`` and ``b``: where their XOR, read as a
    big-endian integer, has its highest set bit."""
    limit = min(len(a), len(b))
    difference = int.from_bytes(a[:limit], "big") ^ int.from_bytes(b[:limit], "big")
    if not difference:
        return limit
    return limit - 1 - (difference.bit_length() - 1) // 8


def _below(key: bytes, bound: bytes | None) -> bool:
    """``key < bound``, a None bound being unbounded."""
    return bound is None or key < bound


class _Mutations:
    """The batch, sorted: key writes and disjoint delete ranges ``[start, stop)``."""

    def __init__(self, ops: Sequence[KeyOp], ranges: Sequence[tuple[bytes, bytes | None]]) -> None:
        self.ops = sorted(ops, key=lambda op: op.key)
        self.keys = [op.key for op in self.ops]
        self.ranges = _merge_ranges(ranges)
        self.range_starts = [start for start, _ in self.ranges]

    def op_slice(self, low: bytes, high: bytes | None) -> tuple[int, int]:
        """Indices ``[i, j)`` of the ops with keys in ``[low, high)``."""
        i = bisect.bisect_left(self.keys, low)
        j = len(self.keys) if high is None else bisect.bisect_left(self.keys, high, i)
        return i, j

    def range_slice(self, low: bytes, high: bytes | None) -> tuple[int, int]:
        """Indices ``[i, j)`` of the delete ranges meeting ``[low, high)``."""
        i = bisect.bisect_right(self.range_starts, low)
        if i and _below(low, self.ranges[i - 1][1]):
            i -= 1
        j = len(self.ranges) if high is None else bisect.bisect_left(self.range_starts, high, i)
        return i, j

    def touches(self, low: bytes, high: bytes | None) -> bool:
        i, j = self.op_slice(low, high)
        if i < j:
            return True
        i, j = self.range_slice(low, high)
        return i < j

    def deletes_all(self, low: bytes, high: bytes | None) -> bool:
        """Whether one delete range covers ``[low, high)`` and no write lies inside."""
        i, j = self.op_slice(low, high)
        if i < j:
            return False
        i, j = self.range_slice(low, high)
        if j - i != 1:
            return False
        start, stop = self.ranges[i]
        return start <= low and (stop is None or (high is not None and high <= stop))

    def deleted(self, key: bytes) -> bool:
        i = bisect.bisect_right(self.range_starts, key)
        return i > 0 and _below(key, self.ranges[i - 1][1])


def _merge_ranges(ranges: Sequence[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    merged: list[tuple[bytes, bytes | None]] = []
    for start, stop in sorted((r for r in ranges if _below(r[0], r[1])), key=lambda r: r[0]):
        if merged:
            last_start, last_stop = merged[-1]
            if last_stop is None or start <= last_stop:
                if last_stop is not None and (stop is None or stop > last_stop):
                    merged[-1] = (last_start, stop)
                continue
        merged.append((start, stop))
    return merged


class _TreeWriter:
    """One application of a batch to one tree (see :func:`apply_mutations`)."""

    def __init__(
        self,
        io: OcdbtIO,
        config: Config,
        data_files: DataFileWriter,
        mutations: _Mutations,
        atomic: bool,
    ) -> None:
        self.io = io
        self.config = config
        self.data_files = data_files
        self.mutations = mutations
        self.atomic = atomic

    # -- traversal ------------------------------------------------------------------------
    def visit(
        self,
        reference: IndirectDataReference,
        height: int,
        prefix: bytes,
        inclusive_min: bytes,
        low: bytes,
        high: bytes | None,
        is_root: bool,
    ) -> list[_Child] | None:
        """The entries replacing the subtree at ``reference`` (whose keys all start with
        ``prefix``; the parent says its first key is at least ``prefix + inclusive_min``)
        after the mutations in ``[low, high)``; None if it is unchanged."""
        node = self.io.read_btree_node(reference)
        validate_btree_node_reference(node, height, inclusive_min, describe_reference(reference))
        node_prefix = prefix + node.key_prefix
        if height == 0:
            leaves: list[tuple[bytes, Value]] = [
                (node_prefix + entry.key, entry.value)  # type: ignore[union-attr]
                for entry in node.entries
            ]
            return self.visit_leaf(leaves, low, high, is_root)
        return self.visit_interior(node, reference, node_prefix, low, high, is_root)

    def visit_interior(
        self,
        node: BtreeNode,
        reference: IndirectDataReference,
        node_prefix: bytes,
        low: bytes,
        high: bytes | None,
        is_root: bool,
    ) -> list[_Child] | None:
        entries: Sequence[InteriorNodeEntry] = node.entries  # type: ignore[assignment]
        keys = [node_prefix + entry.key for entry in entries]
        count = len(entries)
        bounds: list[tuple[bytes, bytes | None]] = []
        actions: list[str] = []  # per child: keep, drop (all deleted: not even read) or visit
        for index in range(count):
            child_low = low if index == 0 else keys[index]
            child_high = keys[index + 1] if index + 1 < count else high
            if child_high is not None and not child_low < child_high:
                raise CorruptDataError(
                    describe_reference(reference), f"child {index} has an empty key range"
                )
            bounds.append((child_low, child_high))
            if not self.mutations.touches(child_low, child_high):
                actions.append("keep")
            elif self.mutations.deletes_all(child_low, child_high):
                actions.append("drop")
            else:
                actions.append("visit")
        to_visit = [entries[i].node for i in range(count) if actions[i] == "visit"]
        children: list[_Child] = []
        changed = False
        visited = 0
        for index, entry in enumerate(entries):
            action = actions[index]
            existing = _Child(
                keys[index],
                len(node_prefix) + entry.subtree_common_prefix_length,
                entry.node,
                entry.statistics,
            )
            if action == "keep":
                children.append(existing)
                continue
            if action == "drop":
                changed = True
                continue
            if visited % PREFETCH_WINDOW == 0:
                self.io.prefetch_btree_nodes(to_visit[visited : visited + PREFETCH_WINDOW])
            visited += 1
            child_low, child_high = bounds[index]
            replacement = self.visit(
                entry.node,
                node.height - 1,
                node_prefix + entry.subtree_common_prefix,
                entry.key[entry.subtree_common_prefix_length :],
                child_low,
                child_high,
                is_root=False,
            )
            if replacement is None:
                children.append(existing)
            else:
                changed = True
                children.extend(replacement)
        if not changed:
            return None
        return self.build_interior(node.height, children, is_root)

    def visit_leaf(
        self, existing: list[tuple[bytes, Value]], low: bytes, high: bytes | None, is_root: bool
    ) -> list[_Child] | None:
        mutations = self.mutations
        op_start, op_stop = mutations.op_slice(low, high)
        ops = mutations.ops[op_start:op_stop]
        range_start, range_stop = mutations.range_slice(low, high)
        ranges = mutations.ranges[range_start:range_stop]
        result: list[tuple[bytes, Value]] = []
        modified = False
        op_index = 0
        for key, value in existing:
            while op_index < len(ops) and ops[op_index].key < key:
                modified |= self.apply_op(ops[op_index], None, result)
                op_index += 1
            if op_index < len(ops) and ops[op_index].key == key:
                current = None if _in_ranges(key, ranges) else value
                if current is None:
                    modified = True
                modified |= self.apply_op(ops[op_index], current, result)
                op_index += 1
            elif _in_ranges(key, ranges):
                modified = True
            else:
                result.append((key, value))
        for op in ops[op_index:]:
            modified |= self.apply_op(op, None, result)
        if not modified:
            return None
        return self.build_leaves(result, is_root)

    def apply_op(self, op: KeyOp, current: Value | None, result: list[tuple[bytes, Value]]) -> bool:
        """Append ``op``'s outcome to ``result``, ``current`` being the key's value (None:
        absent); whether that differs from ``current``."""
        condition = op.if_equal
        if condition is not None and condition != UNKNOWN:
            generation = NO_VALUE if current is None else value_generation(current)
            if condition != generation:
                op.applied = False
                if self.atomic:
                    raise ConditionFailed(op.key)
                if current is not None:
                    result.append((op.key, current))
                return False
        op.applied = True
        if op.value is None:
            return current is not None
        stored: Value = op.value
        if len(op.value) > self.config.max_inline_value_bytes:
            stored = self.data_files.add(VALUE, op.value)
        op.stored = stored
        result.append((op.key, stored))
        return True

    # -- building nodes -------------------------------------------------------------------
    def build_leaves(self, leaves: list[tuple[bytes, Value]], is_root: bool) -> list[_Child]:
        sizes = [
            LEAF_ENTRY_FIXED_SIZE
            + len(key)
            + (
                INDIRECT_VALUE_FIXED_SIZE + len(value.file_id.full_path)
                if isinstance(value, IndirectDataReference)
                else len(value)
            )
            for key, value in leaves
        ]
        keys = [key for key, _ in leaves]
        nodes: list[_Child] = []
        for start, stop in self.split(keys, sizes, MIN_LEAF_ARITY):
            group = leaves[start:stop]
            root = is_root and start == 0 and stop == len(leaves)
            excluded = 0 if root else _common_prefix_length(group[0][0], group[-1][0])
            node = BtreeNode(
                0, b"", tuple(LeafNodeEntry(key[excluded:], value) for key, value in group)
            )
            indirect = sum(v.length for _, v in group if isinstance(v, IndirectDataReference))
            nodes.append(
                self.write_node(
                    node, group[0][0], excluded, BtreeNodeStatistics(indirect, 0, len(group))
                )
            )
        return nodes

    def build_interior(self, height: int, children: list[_Child], is_root: bool) -> list[_Child]:
        sizes = [
            INTERIOR_ENTRY_FIXED_SIZE + len(child.node.file_id.full_path) + len(child.key)
            for child in children
        ]
        keys = [child.key for child in children]
        nodes: list[_Child] = []
        for start, stop in self.split(keys, sizes, MIN_INTERIOR_ARITY):
            group = children[start:stop]
            root = is_root and start == 0 and stop == len(children)
            if root:
                excluded = 0
            else:
                excluded = min(
                    min(child.prefix_length for child in group),
                    _common_prefix_length(group[0].key, group[-1].key),
                )
            statistics = BtreeNodeStatistics()
            for child in group:
                statistics += child.statistics
            node = BtreeNode(
                height,
                b"",
                tuple(
                    InteriorNodeEntry(
                        child.key[excluded:],
                        child.prefix_length - excluded,
                        child.node,
                        child.statistics,
                    )
                    for child in group
                ),
            )
            nodes.append(self.write_node(node, group[0].key, excluded, statistics))
        return nodes

    def write_node(
        self, node: BtreeNode, first_key: bytes, excluded: int, statistics: BtreeNodeStatistics
    ) -> _Child:
        encoded = encode_btree_node(node, self.config)
        reference = self.data_files.add(BTREE_NODE, encoded)
        self.io.remember_btree_node(reference, node)
        statistics = BtreeNodeStatistics(
            statistics.num_indirect_value_bytes,
            statistics.num_tree_bytes + len(encoded),
            statistics.num_keys,
        )
        return _Child(first_key, excluded, reference, statistics)

    def split(self, keys: list[bytes], sizes: list[int], min_arity: int) -> list[tuple[int, int]]:
        """Consecutive groups ``[start, stop)`` of entries forming one node each: as few and
        as even as ``max_decoded_node_bytes`` allows (tensorstore's rule), where a node's
        size counts its keys without the prefix common to the whole sequence."""
        count = len(keys)
        if count == 0:
            return []
        common = len(keys[0])
        for i in range(1, count):
            common = min(common, _common_prefix_length(keys[i - 1], keys[i]))
        cumulative: list[int] = []
        total = 0
        for size in sizes:
            total += size
            cumulative.append(total)
        max_bytes = self.config.max_decoded_node_bytes
        groups: list[tuple[int, int]] = []
        start = 0
        before = 0  # cumulative size of the entries before ``start``

        def range_size(stop: int) -> int:
            return cumulative[stop - 1] - before - (stop - start - 1) * common

        while start < count:
            upper_bound = range_size(count)
            num_nodes = -(-(count - start) // MAX_NODE_ARITY)
            if max_bytes:
                num_nodes = max(num_nodes, -(-upper_bound // max_bytes))
            target = -(-upper_bound // num_nodes)
            stop = start + 1
            while stop < count:
                if stop - start >= MAX_NODE_ARITY:
                    break
                size = range_size(stop)
                if size >= target and stop >= start + min_arity:
                    if max_bytes and size > max_bytes and stop > start + min_arity:
                        stop -= 1
                    break
                stop += 1
            groups.append((start, stop))
            before = cumulative[stop - 1]
            start = stop
        return groups


def _in_ranges(key: bytes, ranges: list[tuple[bytes, bytes | None]]) -> bool:
    return any(start <= key and _below(key, stop) for start, stop in ranges)


def apply_mutations(
    io: OcdbtIO,
    config: Config,
    data_files: DataFileWriter,
    root: IndirectDataReference | None,
    root_height: int,
    ops: Sequence[KeyOp],
    delete_ranges: Sequence[tuple[bytes, bytes | None]],
    *,
    atomic: bool,
) -> NewRoot | None:
    """The new root after ``delete_ranges`` and then ``ops`` are applied to the tree at
    ``root`` (None: empty); None if the tree is unchanged.

    New nodes and out-of-line values go to ``data_files`` (not flushed). With ``atomic``
    a failed condition raises :class:`ConditionFailed`; otherwise that write is skipped.
    """
    writer = _TreeWriter(io, config, data_files, _Mutations(ops, delete_ranges), atomic)
    if not writer.mutations.touches(b"", None):
        return None
    height = root_height
    if root is None:
        height = 0
        entries = writer.visit_leaf([], b"", None, is_root=True)
    elif writer.mutations.deletes_all(b"", None):
        entries = []
    else:
        entries = writer.visit(root, root_height, b"", b"", b"", None, is_root=True)
    if entries is None:
        return None
    while len(entries) > 1:
        height += 1
        entries = writer.build_interior(height, entries, is_root=True)
    if not entries:
        return NewRoot(None, 0, BtreeNodeStatistics())
    return NewRoot(entries[0].node, height, entries[0].statistics)
