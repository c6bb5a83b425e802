"""Copying the parts of a read (``partition_for_copy``) out of chunks into the result.

The partition says once how its parts select (``CopyPartition.vectors``), so the copier
decides once, from the first part, which positions hold index vectors, and then copies
each part with a few NumPy calls and no inspection: ints and slices by basic indexing,
an ``oindex`` part by one ``take`` per indexed dimension (its vectors stay 1-D; NumPy would
need them as an open mesh and copy element by element), a ``vindex`` part by NumPy's own
pointwise indexing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from ..index_space import ChunkPart

__all__ = ["PartCopy", "StoredLayout", "StoredPieces"]

_ALL = slice(None)


class PartCopy:
    """``copy(part, chunk)`` copies ``part`` of ``chunk`` into ``target``, whose dimensions
    the parts see in ``order`` (``target.transpose(order)``). ``vectors`` is the partition's
    ``CopyPartition.vectors``."""

    __slots__ = ("_array_plan", "_cell_plan", "_copy", "_pointwise", "view")

    def __init__(self, target: np.ndarray[Any, Any], order: tuple[int, ...], vectors: str | None) -> None:
        from ..index_space._partition import ORTHOGONAL, POINTWISE

        self.view = target.transpose(order)
        self._cell_plan = self._array_plan = _NO_TAKES  # until the first orthogonal part
        # The copy for the next part, an unbound function: a bound method kept on the
        # instance would make a reference cycle, and the result array would then live
        # until the garbage collector ran (many slab reads in a row would pile up).
        self._copy: Callable[[PartCopy, ChunkPart, np.ndarray[Any, Any]], None]
        self._pointwise = vectors == POINTWISE
        if vectors is None or self._pointwise:
            self._copy = PartCopy._numpy
        elif vectors == ORTHOGONAL:
            self._copy = PartCopy._first_orthogonal
        else:
            raise ValueError(f"unknown kind of index vectors: {vectors!r}")

    def __call__(self, part: ChunkPart, source: np.ndarray[Any, Any]) -> None:
        self._copy(self, part, source)

    def _numpy(self, part: ChunkPart, source: np.ndarray[Any, Any]) -> None:
        """Ints and slices, or pointwise vectors: NumPy's own indexing on both sides."""
        self.view[part.array_selection] = source[part.cell_selection]

    def _first_orthogonal(self, part: ChunkPart, source: np.ndarray[Any, Any]) -> None:
        """Plan the orthogonal copy from the first part (every part has its item kinds)."""
        self._plan_orthogonal(part)
        self._copy(self, part, source)

    def _plan_orthogonal(self, part: ChunkPart) -> None:
        self._cell_plan = _Takes.of(part.cell_selection)
        self._array_plan = _Takes.of(part.array_selection)
        self._copy = PartCopy._orthogonal if self._array_plan.positions else PartCopy._orthogonal_into_slices

    def stored_pieces(self, part: ChunkPart, layout: StoredLayout) -> StoredPieces | None:
        """The byte ranges of the stored chunk holding the elements ``part`` takes from
        it, and how to gather them from those bytes; None unless reading the ranges costs
        at most half as much as reading the chunk whole."""
        selection = part.cell_selection
        if self._pointwise and any(isinstance(item, np.ndarray) for item in selection):
            return layout.pointwise(selection)
        return layout.orthogonal(selection)

    def place(self, part: ChunkPart, block: np.ndarray[Any, Any]) -> None:
        """Copy ``block``, the elements ``part`` takes from its chunk (shaped as
        ``source[part.cell_selection]`` for a chunk ``source``), to its place in the target."""
        if self._copy is PartCopy._numpy:
            self.view[part.array_selection] = block
            return
        if self._copy is PartCopy._first_orthogonal:
            self._plan_orthogonal(part)
        if self._array_plan.positions:
            self._array_plan.scatter(self.view, part.array_selection, block)
        else:
            self.view[part.array_selection] = block

    def _orthogonal_into_slices(self, part: ChunkPart, source: np.ndarray[Any, Any]) -> None:
        """Orthogonal vectors in the chunk, ints and slices in the result (sorted ``oindex``
        arrays: each chunk's positions in the result are a run)."""
        self.view[part.array_selection] = self._cell_plan.gather(source, part.cell_selection)

    def _orthogonal(self, part: ChunkPart, source: np.ndarray[Any, Any]) -> None:
        block = self._cell_plan.gather(source, part.cell_selection)
        self._array_plan.scatter(self.view, part.array_selection, block)


class _Takes:
    """Where the 1-D index vectors sit in the selections of one partition's parts (each
    selecting along its own axis), and the axis of each in the basically indexed block."""

    __slots__ = ("axes", "positions", "steps")

    def __init__(self, positions: tuple[int, ...], axes: tuple[int, ...]) -> None:
        #: Positions of the vectors in the selection.
        self.positions = positions
        #: Each vector's axis once the selection's ints have dropped theirs.
        self.axes = axes
        #: (position, axis) pairs, for the loops below.
        self.steps = tuple(zip(positions, axes, strict=True))

    @classmethod
    def of(cls, selection: tuple[Any, ...]) -> _Takes:
        positions: list[int] = []
        axes: list[int] = []
        axis = 0
        for position, item in enumerate(selection):
            if isinstance(item, np.ndarray):
                if item.ndim != 1:
                    raise ValueError(f"an orthogonal selection holds 1-D index vectors, got shape {item.shape}")
                positions.append(position)
                axes.append(axis)
            if not isinstance(item, int | np.integer):
                axis += 1
        return cls(tuple(positions), tuple(axes))

    def basic(self, selection: tuple[Any, ...]) -> tuple[Any, ...]:
        """``selection`` with every vector replaced by a whole-axis slice."""
        items = list(selection)
        for position in self.positions:
            items[position] = _ALL
        return tuple(items)

    def gather(self, source: np.ndarray[Any, Any], selection: tuple[Any, ...]) -> np.ndarray[Any, Any]:
        """``source`` selected orthogonally: basic indexing, then one ``take`` per vector."""
        if not self.positions:
            block: np.ndarray[Any, Any] = source[selection]
            return block
        block = source[self.basic(selection)]
        for position, axis in self.steps:
            block = block.take(selection[position], axis)
        return block

    def scatter(self, view: np.ndarray[Any, Any], selection: tuple[Any, ...], block: np.ndarray[Any, Any]) -> None:
        """``view`` selected orthogonally ``= block``."""
        if not self.positions:
            view[selection] = block
            return
        target = view[self.basic(selection)]
        if len(self.positions) == 1:  # a lone advanced index stays in its place
            target[(_ALL,) * self.axes[0] + (selection[self.positions[0]],)] = block
            return
        # Several: as an open mesh over the vectors' axes moved to the front.
        front = list(self.axes)
        order = front + [axis for axis in range(target.ndim) if axis not in front]
        count = len(front)
        mesh = tuple(
            selection[position].reshape([-1 if n == k else 1 for n in range(count)])
            for k, position in enumerate(self.positions)
        )
        target.transpose(order)[mesh] = block.transpose(order)


_NO_TAKES = _Takes((), ())


#: A ranged read costs about as much as copying this many more bytes (the system call and
#: the Python around it): the unit that decides between fewer, longer and more, shorter
#: ranges, and between ranges and the whole chunk.
READ_COST_BYTES = 16 * 1024
#: Pointwise parts of at most this many elements are planned in plain Python (NumPy's
#: per-call cost dominates for a handful of points).
FEW_POINTS = 64


class StoredPieces(NamedTuple):
    """Byte ranges of a stored chunk, and the gather of a part's block from their bytes."""

    #: ``(start, stop)`` byte offsets, ascending, not overlapping.
    ranges: list[tuple[int, int]]
    #: ``gather(data, dtype)``: the part's block from the ranges' bytes, concatenated,
    #: holding elements of ``dtype``.
    gather: Callable[[Any, np.dtype[Any]], np.ndarray[Any, Any]]


class _Axis(NamedTuple):
    """One selection item along one chunk dimension (see ``StoredLayout._axis``)."""

    item: Any
    #: Stored element offset of each selected index along the dimension.
    offsets: np.ndarray[Any, Any]
    low: int
    high: int
    #: Elements between neighbours along the dimension, as stored.
    stride: int
    #: The selection (a slice or a vector) relative to the lowest index selected.
    index: Any
    #: Whether the block has an axis for it (an int drops its axis).
    kept: bool
    #: Indices selected (``len(offsets)``).
    selected: int


class _Inner(NamedTuple):
    """The inner stored dimensions of an orthogonal part's ranges: what one range spans,
    and how the part's elements are taken from its bytes (shared by the parts that
    select the same along those dimensions)."""

    axes: list[_Axis]
    #: The first element offset each range starts at, past its outer offset.
    low: int
    #: Bytes per range.
    size: int
    #: A range's bytes as a box over the inner dimensions: its shape and byte strides.
    box: tuple[int, ...]
    box_strides: tuple[int, ...]
    #: Basic indexing of the boxes (``[ranges, *box]``), then a take per inner vector.
    selection: tuple[Any, ...]
    takes: list[tuple[int, Any]]

    @classmethod
    def of(cls, axes: list[_Axis], itemsize: int) -> _Inner:
        low = sum(axis.low for axis in axes)
        span = sum(axis.high for axis in axes) - low + 1
        return cls(
            axes,
            low,
            span * itemsize,
            tuple((axis.high - axis.low) // axis.stride + 1 for axis in axes),
            tuple(axis.stride * itemsize for axis in axes),
            (_ALL, *(_ALL if isinstance(axis.index, np.ndarray) else axis.index for axis in axes)),
            [(n + 1, axis.index) for n, axis in enumerate(axes) if isinstance(axis.index, np.ndarray)],
        )


class StoredLayout:
    """A chunk stored as its elements in C order of a permutation of its dimensions:
    where each element a selection takes lies, in byte ranges worth reading."""

    __slots__ = (
        "_axes", "_back", "_in_place", "_inner", "_stored_shape", "chunk_shape", "itemsize", "order", "strides", "whole_cost",
    )

    def __init__(self, chunk_shape: tuple[int, ...], order: tuple[int, ...], itemsize: int) -> None:
        if sorted(order) != list(range(len(chunk_shape))):
            raise ValueError(f"order {list(order)} is not a permutation of the {len(chunk_shape)} chunk dimensions")
        self.chunk_shape = chunk_shape
        #: Chunk dimensions from the outermost stored to the innermost.
        self.order = order
        self.itemsize = itemsize
        strides = [0] * len(chunk_shape)
        step = 1
        for dim in reversed(order):
            strides[dim] = step
            step *= chunk_shape[dim]
        #: Elements between neighbours along each chunk dimension, as stored.
        self.strides = tuple(strides)
        #: What reading the chunk whole costs (see READ_COST_BYTES).
        self.whole_cost = READ_COST_BYTES + step * itemsize
        # From stored dimension order back to the chunk's.
        self._back = tuple(sorted(range(len(order)), key=order.__getitem__))
        self._in_place = self._back == tuple(range(len(order)))
        self._stored_shape = tuple(chunk_shape[dim] for dim in order)
        self._axes: dict[tuple[int, int], _Axis] = {}
        self._inner: dict[tuple[int, ...], _Inner] = {}

    def _axis(self, dim: int, item: Any) -> _Axis | None:
        """What ``item`` selects along chunk dimension ``dim``, in stored offsets;
        remembered by identity, as the parts of one partition share their items."""
        found = self._axes.get((dim, id(item)))
        if found is not None and found.item is item:
            return found
        stride = self.strides[dim]
        index: Any
        if isinstance(item, slice):
            indices = range(*item.indices(self.chunk_shape[dim]))
            if not indices:
                return None
            low, high = min(indices[0], indices[-1]), max(indices[0], indices[-1])
            step = indices.step
            index = slice(0, None, step) if step > 0 else slice(high - low, None, step)
            offsets = np.arange(indices.start * stride, indices.stop * stride, step * stride, dtype=np.int64)
            axis = _Axis(item, offsets, low * stride, high * stride, stride, index, True, len(offsets))
        elif isinstance(item, np.ndarray):
            if item.ndim != 1 or not len(item):
                return None
            offsets = item.astype(np.int64) * stride
            low = int(item.min())
            axis = _Axis(item, offsets, low * stride, int(item.max()) * stride, stride, item - low, True, len(offsets))
        else:
            offset = int(item) * stride
            axis = _Axis(item, np.array([offset], dtype=np.int64), offset, offset, stride, _ALL, False, 1)
        self._axes[(dim, id(item))] = axis
        return axis

    def orthogonal(self, selection: tuple[Any, ...]) -> StoredPieces | None:
        """Ints, slices and orthogonal vectors: the stored dimensions split into outer ones,
        one range per combination of their selected indices, and inner ones, each range
        the box spanning what they select; the split that costs least."""
        axes = []
        known = self._axes
        span = 0  # elements from the first selected to the last, less one
        for dim in self.order:
            item = selection[dim]
            axis = known.get((dim, id(item)))
            if axis is None or axis.item is not item:
                axis = self._axis(dim, item)
                if axis is None:
                    return None
            axes.append(axis)
            span += axis.high - axis.low
        itemsize = self.itemsize
        best_cost, split = self.whole_cost, -1
        outer = 1
        for k, axis in enumerate(axes):
            cost = outer * (READ_COST_BYTES + (span + 1) * itemsize)
            if cost < best_cost:
                best_cost, split = cost, k
            outer *= axis.selected
            span -= axis.high - axis.low
        if outer * (READ_COST_BYTES + itemsize) < best_cost:
            split, best_cost = len(axes), outer * (READ_COST_BYTES + itemsize)
        if split < 0 or best_cost * 2 > self.whole_cost:  # a small saving: read it whole
            return None
        inner_axes = axes[split:]
        inner_key = (split, *map(id, inner_axes))
        inner = self._inner.get(inner_key)
        if inner is None or not all(map(operator.is_, inner.axes, inner_axes)):
            inner = self._inner[inner_key] = _Inner.of(inner_axes, itemsize)
        size = inner.size
        if split == 0:
            ranges = [(inner.low * itemsize, inner.low * itemsize + size)]
        else:
            starts: Any = axes[0].offsets
            for axis in axes[1:split]:
                starts = np.add.outer(starts, axis.offsets)
            starts = (starts.reshape(-1) + inner.low) * itemsize
            ranges = list(zip(starts.tolist(), (starts + size).tolist(), strict=True))
        box = (len(ranges), *inner.box)
        box_strides = (size, *inner.box_strides)
        selection_in_box, takes = inner.selection, inner.takes
        stored_shape = tuple([axis.selected for axis in axes])
        back = self._back
        in_place = self._in_place
        if in_place:
            block_shape = tuple([axis.selected for axis in axes if axis.kept])
        else:
            block_shape = tuple([stored_shape[p] for p in back if axes[p].kept])

        def gather(data: Any, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
            block: np.ndarray[Any, Any] = np.ndarray(box, dtype, buffer=data, strides=box_strides)[selection_in_box]
            for axis_number, index in takes:
                block = block.take(index, axis_number)
            if in_place:
                return block.reshape(block_shape)
            return block.reshape(stored_shape).transpose(back).reshape(block_shape)

        return StoredPieces(ranges, gather)

    def pointwise(self, selection: tuple[Any, ...]) -> StoredPieces | None:
        """Pointwise vectors (one per dimension): the points' elements, those close
        together read by one range."""
        if not all(isinstance(item, np.ndarray) and item.ndim == 1 for item in selection) or not selection:
            return None
        count = len(selection[0])
        if not count:
            return None
        itemsize = self.itemsize
        gap = max(1, READ_COST_BYTES // itemsize)
        # Each point's element offset as stored: one call, whatever the rank.
        flat: Any = np.ravel_multi_index(tuple([selection[dim] for dim in self.order]), self._stored_shape)
        if count <= FEW_POINTS:
            offsets = flat.tolist()
            ranges: list[tuple[int, int]] = []
            positions = [0] * count
            base = 0
            start = stop = -gap - 1
            for index in sorted(range(count), key=offsets.__getitem__):
                offset = offsets[index]
                if offset > stop + gap:  # a new range
                    if stop >= 0:
                        ranges.append((start * itemsize, stop * itemsize))
                        base += stop - start
                    start, stop = offset, offset + 1
                elif offset >= stop:
                    stop = offset + 1
                positions[index] = base + offset - start
            ranges.append((start * itemsize, stop * itemsize))
            if 2 * (len(ranges) * READ_COST_BYTES + (base + stop - start) * itemsize) > self.whole_cost:
                return None
            return StoredPieces(ranges, lambda data, dtype: np.frombuffer(data, dtype)[positions])
        ordered = np.sort(flat)
        breaks = np.flatnonzero(np.diff(ordered) > gap) + 1
        firsts = ordered[np.concatenate(([0], breaks))]
        lasts = ordered[np.concatenate((breaks - 1, [-1]))] + 1
        lengths = lasts - firsts
        if 2 * (len(firsts) * READ_COST_BYTES + int(lengths.sum()) * itemsize) > self.whole_cost:
            return None
        ranges = list(zip((firsts * itemsize).tolist(), (lasts * itemsize).tolist(), strict=True))
        run = np.searchsorted(firsts, flat, side="right") - 1
        shift = np.cumsum(lengths) - lengths - firsts  # buffer position minus offset, per range
        positions_array = flat + shift[run]
        return StoredPieces(ranges, lambda data, dtype: np.frombuffer(data, dtype)[positions_array])
