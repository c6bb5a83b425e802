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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ts_core.kvstore import NO_VALUE, UNKNOWN

from .._io import OcdbtIO, value_generation
from ..format import (
    BtreeNode,
    BtreeNodeStatistics,
    Config,
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
    value: bytes | IndirectDataReference | None
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


@dataclass(slots=True)
class _ExistingLeaf:
    """A leaf being rewritten: its entries' full keys and values, and the entries as
    decoded (keys relative to ``prefix``), which new leaves reuse where they can."""

    prefix: bytes
    keys: list[bytes]
    values: list[Value]
    entries: Sequence[LeafNodeEntry]


class _NewLeaves:
    """The entries of the leaves replacing one: full keys, values, and for entries kept
    from the old leaf its entry object (None for a new one)."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.keys: list[bytes] = []
        self.values: list[Value] = []
        self.entries: list[LeafNodeEntry | None] = []
        self.fresh: list[int] = []  # indices whose entry is None

    def add(self, key: bytes, value: Value) -> None:
        self.fresh.append(len(self.keys))
        self.keys.append(key)
        self.values.append(value)
        self.entries.append(None)

    def node(self, start: int, stop: int, excluded: int) -> BtreeNode:
        """The leaf of entries ``[start, stop)`` storing keys without their first
        ``excluded`` bytes. Kept entry objects are reused (the node's ``key_prefix`` being the
        rest of the old leaf's prefix) when the new entries share that prefix too."""
        keys, values, prefix = self.keys, self.values, self.prefix
        fresh = self.fresh[
            bisect.bisect_left(self.fresh, start) : bisect.bisect_left(self.fresh, stop)
        ]
        if excluded <= len(prefix) and all(keys[i].startswith(prefix) for i in fresh):
            entries = self.entries[start:stop]
            for i in fresh:
                entries[i - start] = LeafNodeEntry(keys[i][len(prefix) :], values[i])
            return BtreeNode(0, prefix[excluded:], tuple(entries))  # type: ignore[arg-type]
        return BtreeNode(
            0, b"", tuple(LeafNodeEntry(keys[i][excluded:], values[i]) for i in range(start, stop))
        )


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
            leaves: Sequence[LeafNodeEntry] = node.entries  # type: ignore[assignment]
            if node_prefix:
                keys = [node_prefix + entry.key for entry in leaves]
            else:
                keys = [entry.key for entry in leaves]
            existing = _ExistingLeaf(node_prefix, keys, [entry.value for entry in leaves], leaves)
            return self.visit_leaf(existing, low, high, is_root)
        return self.visit_interior(node, node_prefix, low, high, is_root)

    def visit_interior(
        self,
        node: BtreeNode,
        node_prefix: bytes,
        low: bytes,
        high: bytes | None,
        is_root: bool,
    ) -> list[_Child] | None:
        """The entries replacing the interior ``node`` (full keys: ``node_prefix`` + its
        keys): children no mutation reaches are kept by reference, children one delete
        range covers are dropped unread, the others are visited; None if none changed."""
        entries: Sequence[InteriorNodeEntry] = node.entries  # type: ignore[assignment]
        keys = [node_prefix + entry.key for entry in entries]
        count = len(entries)
        # Child i holds the keys in [keys[i], keys[i + 1]) (the first from ``low``, the last
        # up to ``high``): find the children mutations reach, without looking at the others.
        mutations = self.mutations
        reached: set[int] = set()
        op_start, op_stop = mutations.op_slice(low, high)
        for key in mutations.keys[op_start:op_stop]:
            reached.add(max(0, bisect.bisect_right(keys, key) - 1))
        range_start, range_stop = mutations.range_slice(low, high)
        for start, stop in mutations.ranges[range_start:range_stop]:
            first = max(0, bisect.bisect_right(keys, start) - 1)
            last = count - 1 if stop is None else max(0, bisect.bisect_left(keys, stop) - 1)
            reached.update(range(first, last + 1))
        bounds: dict[int, tuple[bytes, bytes | None]] = {}
        actions = ["keep"] * count  # per child: keep, drop (all deleted: not even read) or visit
        for index in sorted(reached):
            child_low = low if index == 0 else keys[index]
            child_high = keys[index + 1] if index + 1 < count else high
            bounds[index] = (child_low, child_high)
            if not mutations.touches(child_low, child_high):
                continue
            actions[index] = "drop" if mutations.deletes_all(child_low, child_high) else "visit"
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
        self, existing: _ExistingLeaf, low: bytes, high: bytes | None, is_root: bool
    ) -> list[_Child] | None:
        """The leaves replacing the leaf ``existing`` after the mutations in ``[low, high)``;
        None if unchanged. Runs of entries no mutation touches are copied as slices."""
        keys, values, entries = existing.keys, existing.values, existing.entries
        mutations = self.mutations
        op_start, op_stop = mutations.op_slice(low, high)
        range_start, range_stop = mutations.range_slice(low, high)
        count = len(keys)
        # Index spans of the existing entries the delete ranges remove.
        deleted = [
            (
                bisect.bisect_left(keys, start),
                count if stop is None else bisect.bisect_left(keys, stop),
            )
            for start, stop in mutations.ranges[range_start:range_stop]
        ]
        deleted = [(a, b) for a, b in deleted if a < b]
        out = _NewLeaves(existing.prefix)
        modified = bool(deleted)
        position = 0  # the next existing entry to copy or replace
        span = 0  # the first deleted span not wholly before ``position``

        def copy_until(stop: int) -> None:
            """Copy the existing entries from ``position`` up to ``stop``, except deleted ones."""
            nonlocal position, span
            while position < stop:
                while span < len(deleted) and deleted[span][1] <= position:
                    span += 1
                if span < len(deleted) and deleted[span][0] <= position:
                    position = min(deleted[span][1], stop)
                    continue
                end = stop if span == len(deleted) else min(stop, deleted[span][0])
                out.keys.extend(keys[position:end])
                out.values.extend(values[position:end])
                out.entries.extend(entries[position:end])
                position = end

        for op in mutations.ops[op_start:op_stop]:
            index = bisect.bisect_left(keys, op.key, position)
            copy_until(index)
            current: Value | None = None
            if index < count and keys[index] == op.key:
                if not any(a <= index < b for a, b in deleted):
                    current = values[index]
                position = index + 1
            modified |= self.apply_op(op, current, out)
        copy_until(count)
        if not modified:
            return None
        return self.build_leaves(out, is_root)

    def apply_op(self, op: KeyOp, current: Value | None, out: _NewLeaves) -> bool:
        """Append ``op``'s outcome to the new leaf entries, ``current`` being the key's value
        (None: absent); whether the leaf counts as modified: every write whose condition
        holds does, even one deleting an absent key, as tensorstore rewrites the leaf and
        commits a new version then (delete ranges only when they remove something)."""
        condition = op.if_equal
        if condition is not None and condition != UNKNOWN:
            generation = NO_VALUE if current is None else value_generation(current)
            if condition != generation:
                op.applied = False
                if self.atomic:
                    raise ConditionFailed(op.key)
                if current is not None:
                    out.add(op.key, current)
                return False
        op.applied = True
        if op.value is None:
            return True
        stored: Value = op.value
        if isinstance(op.value, bytes) and len(op.value) > self.config.max_inline_value_bytes:
            stored = self.data_files.add(VALUE, op.value)
        op.stored = stored
        out.add(op.key, stored)
        return True

    # -- building nodes -------------------------------------------------------------------
    def build_leaves(self, leaves: _NewLeaves, is_root: bool) -> list[_Child]:
        keys, values = leaves.keys, leaves.values
        sizes = [
            LEAF_ENTRY_FIXED_SIZE
            + len(key)
            + (
                INDIRECT_VALUE_FIXED_SIZE + len(value.file_id.full_path)
                if isinstance(value, IndirectDataReference)
                else len(value)
            )
            for key, value in zip(keys, values, strict=True)
        ]
        nodes: list[_Child] = []
        for start, stop in self.split(keys, sizes, MIN_LEAF_ARITY):
            root = is_root and start == 0 and stop == len(keys)
            excluded = 0 if root else _common_prefix_length(keys[start], keys[stop - 1])
            node = leaves.node(start, stop, excluded)
            indirect = sum(
                value.length
                for value in values[start:stop]
                if isinstance(value, IndirectDataReference)
            )
            statistics = BtreeNodeStatistics(indirect, 0, stop - start)
            nodes.append(self.write_node(node, keys[start], excluded, statistics))
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
        # Sorted keys: the prefix common to all is the one the first and last share.
        common = _common_prefix_length(keys[0], keys[-1])
        # The size of entries [start, stop) is level[stop - 1] - origin(start); every entry
        # is larger than the common prefix, so ``level`` increases and can be bisected.
        level = [total - i * common for i, total in enumerate(itertools.accumulate(sizes))]
        max_bytes = self.config.max_decoded_node_bytes
        groups: list[tuple[int, int]] = []
        start = 0
        while start < count:
            origin = level[start - 1] - common if start else 0
            upper_bound = level[count - 1] - origin
            num_nodes = -(-(count - start) // MAX_NODE_ARITY)
            if max_bytes:
                num_nodes = max(num_nodes, -(-upper_bound // max_bytes))
            target = -(-upper_bound // num_nodes)
            # The first stop reaching the target, among those the arity bounds allow; else
            # as many entries as the arity allows.
            first = start + max(1, min_arity)
            limit = min(count, start + MAX_NODE_ARITY)
            stop = limit
            if first < limit:
                found = bisect.bisect_left(level, target + origin, first - 1, limit - 1) + 1
                if found < limit:
                    stop = found
                    size = level[stop - 1] - origin
                    if max_bytes and size > max_bytes and stop > start + min_arity:
                        stop -= 1  # one entry short of the target rather than over the limit
            groups.append((start, stop))
            start = stop
        return groups


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
        entries = writer.visit_leaf(_ExistingLeaf(b"", [], [], ()), b"", None, is_root=True)
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
