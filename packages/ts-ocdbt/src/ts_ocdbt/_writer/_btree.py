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
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

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
    encode_leaf_node,
    validate_btree_node_reference,
)
from ..format._btree import MAX_NODE_ARITY
from ._data_files import BTREE_NODE, VALUE, DataFileWriter

__all__ = ["Mutations", "NewRoot", "apply_mutations"]

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


class Mutations:
    """A batch, as columns: the final write of each key (``keys`` sorted, ``values[i]``
    None deleting ``keys[i]``), the ``conditions`` (``if_equal``) of the keys that have one,
    checked after the batch's ``ranges`` are deleted (``NO_VALUE`` then for a key in one),
    and the delete ranges ``[start, stop)`` (None: unbounded).

    Applying it fills in ``failed`` (indices whose condition did not hold) and replaces a
    value stored out of line by its reference in ``values``.
    """

    def __init__(
        self,
        keys: list[bytes],
        values: list[Value | None],
        conditions: Mapping[bytes, bytes],
        ranges: Sequence[tuple[bytes, bytes | None]],
    ) -> None:
        self.keys = keys
        self.values = values
        self.conditions = conditions
        #: Indices of the keys with a condition, in order.
        self.conditioned = sorted(bisect.bisect_left(keys, key) for key in conditions)
        self.failed: set[int] = set()
        self._large: list[int] | None = None
        self.ranges = _merge_ranges(ranges)
        self.range_starts = [start for start, _ in self.ranges]

    def generation(self, index: int) -> bytes:
        """The new generation of ``keys[index]``: ``UNKNOWN`` if its condition failed,
        ``NO_VALUE`` if deleted."""
        if index in self.failed:
            return UNKNOWN
        value = self.values[index]
        return NO_VALUE if value is None else value_generation(value)

    def large_values(self, max_inline_value_bytes: int) -> list[int]:
        """Indices of the values (given as bytes) longer than ``max_inline_value_bytes``, in
        order: found once for the whole batch, with no Python step per value when every
        value is bytes."""
        if self._large is None:
            values = self.values
            if set(map(type, values)) == {bytes}:
                if max(map(len, values), default=0) <= max_inline_value_bytes:  # type: ignore[arg-type]
                    self._large = []
                    return self._large
                lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))  # type: ignore[arg-type]
                self._large = np.flatnonzero(lengths > max_inline_value_bytes).tolist()
            else:
                self._large = [
                    i
                    for i, value in enumerate(values)
                    if value.__class__ is bytes and len(value) > max_inline_value_bytes
                ]
        return self._large

    def any_conditioned(self, start: int, stop: int) -> bool:
        """Whether a key of indices ``[start, stop)`` has a condition."""
        i = bisect.bisect_left(self.conditioned, start)
        return i < len(self.conditioned) and self.conditioned[i] < stop

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


def _complement(spans: list[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    """The index spans of ``range(count)`` outside the sorted disjoint ``spans``."""
    starts = [0, *(stop for _, stop in spans)]
    stops = [*(start for start, _ in spans), count]
    return list(zip(starts, stops, strict=True))


@dataclass(slots=True)
class _ExistingLeaf:
    """A leaf being rewritten: its entries' full keys and values."""

    keys: list[bytes]
    values: list[Value]


def _leaf_node(keys: Sequence[bytes], values: Sequence[Value], excluded: int) -> BtreeNode:
    """The decoded form of the leaf :func:`encode_leaf_node` encodes from these columns, as
    decoding it would give (the prefix all its stored keys share in ``key_prefix``)."""
    first, last = keys[0], keys[-1]
    common = _common_prefix_length(first, last)
    strip = common if excluded <= common else excluded
    return BtreeNode(
        0, first[excluded:strip], tuple(map(LeafNodeEntry, [key[strip:] for key in keys], values))
    )


class _TreeWriter:
    """One application of a batch to one tree (see :func:`apply_mutations`)."""

    def __init__(
        self,
        io: OcdbtIO,
        config: Config,
        data_files: DataFileWriter,
        mutations: Mutations,
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
            existing = _ExistingLeaf(keys, [entry.value for entry in leaves])
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
        if op_stop - op_start >= count:
            reached.update(range(count))  # as cheap as placing the writes: ``touches`` decides
        else:
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
        None if unchanged."""
        keys = existing.keys
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
        if mutations.any_conditioned(op_start, op_stop):
            merged = self.apply_each(existing, op_start, op_stop, deleted)
        else:
            merged = self.merge(existing, op_start, op_stop, deleted)
        if merged is None:
            return None
        return self.build_leaves(*merged, is_root)

    def merge(
        self, existing: _ExistingLeaf, op_start: int, op_stop: int, deleted: list[tuple[int, int]]
    ) -> tuple[list[bytes], list[Value]] | None:
        """The entries of the leaf ``existing`` after the unconditional writes of indices
        ``[op_start, op_stop)`` and the ``deleted`` spans of its entries, as two sorted
        columns (every write counts as a change, even deleting an absent key, as
        tensorstore commits a new version then); None if unchanged. Whole columns at once,
        no step per entry in Python beyond list building."""
        if op_start == op_stop and not deleted:
            return None
        keys, values = existing.keys, existing.values
        if deleted:
            kept = [(start, stop) for start, stop in _complement(deleted, len(keys)) if start < stop]
            keys = [key for start, stop in kept for key in keys[start:stop]]
            values = [value for start, stop in kept for value in values[start:stop]]
        mutations = self.mutations
        self.store_large_values(op_start, op_stop)
        op_keys = mutations.keys[op_start:op_stop]
        op_values = mutations.values[op_start:op_stop]
        if None in op_values:  # deletions: keys to drop, not to add
            written = [i for i, value in enumerate(op_values) if value is not None]
            new_keys = [op_keys[i] for i in written]
            new_values: list[Value] = [op_values[i] for i in written]  # type: ignore[misc]
        else:
            new_keys, new_values = op_keys, op_values  # type: ignore[assignment]
        if not keys:
            return new_keys, new_values
        if op_keys and op_keys[0] <= keys[-1] and keys[0] <= op_keys[-1]:
            # The writes fall among the existing keys: drop the ones they replace or delete.
            replaced = set(op_keys)
            survivors = [i for i, key in enumerate(keys) if key not in replaced]
            if len(survivors) < len(keys):
                keys = [keys[i] for i in survivors]
                values = [values[i] for i in survivors]
        if not new_keys:
            return keys, values
        if not keys or keys[-1] < new_keys[0]:
            return keys + new_keys, values + new_values
        if new_keys[-1] < keys[0]:
            return new_keys + keys, new_values + values
        all_keys = keys + new_keys
        all_values = values + new_values
        order = sorted(range(len(all_keys)), key=all_keys.__getitem__)
        return [all_keys[i] for i in order], [all_values[i] for i in order]

    def store_large_values(self, op_start: int, op_stop: int) -> None:
        """Store out of line the values of indices ``[op_start, op_stop)`` too large to be
        inline, replacing them by their references."""
        mutations = self.mutations
        large = mutations.large_values(self.config.max_inline_value_bytes)
        values = mutations.values
        for index in large[bisect.bisect_left(large, op_start) : bisect.bisect_left(large, op_stop)]:
            value = values[index]
            if value.__class__ is bytes:  # not stored yet
                values[index] = self.data_files.add(VALUE, value)

    def apply_each(
        self, existing: _ExistingLeaf, op_start: int, op_stop: int, deleted: list[tuple[int, int]]
    ) -> tuple[list[bytes], list[Value]] | None:
        """:meth:`merge` for writes some of which have conditions, one write at a time."""
        keys, values = existing.keys, existing.values
        count = len(keys)
        out_keys: list[bytes] = []
        out_values: list[Value] = []
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
                out_keys.extend(keys[position:end])
                out_values.extend(values[position:end])
                position = end

        op_keys = self.mutations.keys
        for op in range(op_start, op_stop):
            key = op_keys[op]
            index = bisect.bisect_left(keys, key, position)
            copy_until(index)
            current: Value | None = None
            if index < count and keys[index] == key:
                if not any(a <= index < b for a, b in deleted):
                    current = values[index]
                position = index + 1
            applied, value = self.apply_op(op, current)
            modified |= applied
            if not applied:
                value = current  # the key keeps its value
            if value is not None:
                out_keys.append(key)
                out_values.append(value)
        copy_until(count)
        if not modified:
            return None
        return out_keys, out_values

    def apply_op(self, index: int, current: Value | None) -> tuple[bool, Value | None]:
        """Whether write ``index`` applies to its key, whose value is ``current`` (None:
        absent), and the key's new value (None: deleted). A write whose condition fails
        leaves the key alone and the leaf unmodified; every other write modifies the leaf,
        even one deleting an absent key, as tensorstore rewrites the leaf and commits a new
        version then (delete ranges only when they remove something)."""
        mutations = self.mutations
        key = mutations.keys[index]
        condition = mutations.conditions.get(key)
        if condition is not None and condition != UNKNOWN:
            generation = NO_VALUE if current is None else value_generation(current)
            if condition != generation:
                mutations.failed.add(index)
                if self.atomic:
                    raise ConditionFailed(key)
                return False, None
        value = mutations.values[index]
        if isinstance(value, bytes) and len(value) > self.config.max_inline_value_bytes:
            value = mutations.values[index] = self.data_files.add(VALUE, value)
        return True, value

    # -- building nodes -------------------------------------------------------------------
    def build_leaves(self, keys: list[bytes], values: list[Value], is_root: bool) -> list[_Child]:
        """The leaves holding the sorted columns ``keys`` (full keys) and ``values``."""
        count = len(keys)
        if not count:
            return []
        references: list[int] = []
        if IndirectDataReference in set(map(type, values)):  # one pass in C when there are none
            references = [i for i, value in enumerate(values) if value.__class__ is IndirectDataReference]
        key_lengths = np.fromiter(map(len, keys), dtype=np.int64, count=count)
        value_lengths: np.ndarray[Any, Any] | None = None
        if references:
            sizes = key_lengths + [
                LEAF_ENTRY_FIXED_SIZE + INDIRECT_VALUE_FIXED_SIZE + len(value.file_id.full_path)
                if isinstance(value, IndirectDataReference)
                else LEAF_ENTRY_FIXED_SIZE + len(value)
                for value in values
            ]
        else:
            value_lengths = np.fromiter(map(len, values), dtype=np.int64, count=count)  # type: ignore[arg-type]
            sizes = key_lengths + value_lengths + LEAF_ENTRY_FIXED_SIZE
        nodes: list[_Child] = []
        for start, stop in self.split(keys, sizes, MIN_LEAF_ARITY):
            root = is_root and start == 0 and stop == count
            excluded = 0 if root else _common_prefix_length(keys[start], keys[stop - 1])
            node_keys, node_values = keys[start:stop], values[start:stop]
            encoded = encode_leaf_node(
                node_keys,
                node_values,
                self.config,
                excluded,
                key_lengths=key_lengths[start:stop],
                inline_value_lengths=None if value_lengths is None else value_lengths[start:stop],
            )
            first, last = bisect.bisect_left(references, start), bisect.bisect_left(references, stop)
            indirect = 0
            for i in references[first:last]:
                reference = values[i]
                assert isinstance(reference, IndirectDataReference)
                indirect += reference.length
            statistics = BtreeNodeStatistics(indirect, 0, stop - start)
            decoded = functools.partial(_leaf_node, node_keys, node_values, excluded)
            nodes.append(self.write_node(encoded, decoded, keys[start], excluded, statistics))
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
            # Remembered as decoding will give it back: the keys' common prefix (within the
            # subtree prefixes) is the node's key_prefix, not part of every entry's key.
            first, last = group[0].key, group[-1].key
            common = min(
                (len(first) if len(group) == 1 else _common_prefix_length(first, last)) - excluded,
                min(child.prefix_length for child in group) - excluded,
            )
            cut = excluded + common
            node = BtreeNode(
                height,
                first[excluded:cut],
                tuple(
                    InteriorNodeEntry(
                        child.key[cut:],
                        child.prefix_length - cut,
                        child.node,
                        child.statistics,
                    )
                    for child in group
                ),
            )
            encoded = encode_btree_node(node, self.config)
            nodes.append(self.write_node(encoded, node, group[0].key, excluded, statistics))
        return nodes

    def write_node(
        self,
        encoded: bytes,
        node: BtreeNode | functools.partial[BtreeNode],
        first_key: bytes,
        excluded: int,
        statistics: BtreeNodeStatistics,
    ) -> _Child:
        """Store the ``encoded`` node; ``node`` is its decoded form (or makes it when first
        needed), cached so that the next commit need not read the node back."""
        reference = self.data_files.add(BTREE_NODE, encoded)
        self.io.remember_btree_node(reference, node)
        statistics = BtreeNodeStatistics(
            statistics.num_indirect_value_bytes,
            statistics.num_tree_bytes + len(encoded),
            statistics.num_keys,
        )
        return _Child(first_key, excluded, reference, statistics)

    def split(self, keys: list[bytes], sizes: Sequence[int] | np.ndarray[Any, Any], min_arity: int) -> list[tuple[int, int]]:
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
        level: list[int] = (
            np.cumsum(sizes, dtype=np.int64) - common * np.arange(count, dtype=np.int64)
        ).tolist()
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
    mutations: Mutations,
    *,
    atomic: bool,
) -> NewRoot | None:
    """The new root after ``mutations`` (its delete ranges, then its writes) are applied to
    the tree at ``root`` (None: empty); None if the tree is unchanged.

    New nodes and out-of-line values go to ``data_files`` (not flushed). With ``atomic``
    a failed condition raises :class:`ConditionFailed`; otherwise that write is skipped.
    """
    writer = _TreeWriter(io, config, data_files, mutations, atomic)
    if not mutations.touches(b"", None):
        return None
    height = root_height
    if root is None:
        height = 0
        entries = writer.visit_leaf(_ExistingLeaf([], []), b"", None, is_root=True)
    elif mutations.deletes_all(b"", None):
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
