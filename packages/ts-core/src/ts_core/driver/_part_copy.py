"""Copying the parts of a read (``partition_for_copy``) out of chunks into the result.

The partition says once how its parts select (``CopyPartition.vectors``), so the copier
decides once, from the first part, which positions hold index vectors, and then copies
each part with a few NumPy calls and no inspection: ints and slices by basic indexing,
an ``oindex`` part by one ``take`` per indexed dimension (its vectors stay 1-D; NumPy would
need them as an open mesh and copy element by element), a ``vindex`` part by NumPy's own
pointwise indexing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..index_space import ChunkPart

__all__ = ["PartCopy"]

_ALL = slice(None)


class PartCopy:
    """``copy(part, chunk)`` copies ``part`` of ``chunk`` into ``target``, whose dimensions
    the parts see in ``order`` (``target.transpose(order)``). ``vectors`` is the partition's
    ``CopyPartition.vectors``."""

    __slots__ = ("_array_plan", "_cell_plan", "_copy", "view")

    def __init__(self, target: np.ndarray[Any, Any], order: tuple[int, ...], vectors: str | None) -> None:
        from ..index_space._partition import ORTHOGONAL, POINTWISE

        self.view = target.transpose(order)
        self._cell_plan = self._array_plan = _NO_TAKES  # until the first orthogonal part
        # The copy for the next part, an unbound function: a bound method kept on the
        # instance would make a reference cycle, and the result array would then live
        # until the garbage collector ran (many slab reads in a row would pile up).
        self._copy: Callable[[PartCopy, ChunkPart, np.ndarray[Any, Any]], None]
        if vectors is None or vectors == POINTWISE:
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
        self._cell_plan = _Takes.of(part.cell_selection)
        self._array_plan = _Takes.of(part.array_selection)
        self._copy = PartCopy._orthogonal if self._array_plan.positions else PartCopy._orthogonal_into_slices
        self._copy(self, part, source)

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
