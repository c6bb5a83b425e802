"""Partitioning an index transform onto a regular chunk grid: the per-chunk copy plan.

``partition_index_transform`` is what the chunked drivers call for every read and write. For
each grid cell that the transform's range touches it yields a ``ChunkPart`` saying which
elements of that chunk are involved (``cell_selection``) and where they sit in the caller's
array (``array_selection``), so that ``target[p.array_selection] = chunk[p.cell_selection]``
gathers a read and ``chunk[p.cell_selection] = source[p.array_selection]`` scatters a write.
``partition_in_storage_order`` gives the parts for the caller's array viewed in chunk
dimension order, and ``partition_for_copy`` the same with index vectors left 1-D for a
copier told how they combine (the chunked read's ``PartCopy``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._interval import floor_div, inf
from ._output_map import CONSTANT, SINGLE
from ._transform import IndexTransform, map_values


class ChunkPart(NamedTuple):
    """The part of one read/write that falls in one chunk."""

    #: Grid cell index per output dimension.
    grid_indices: tuple[int, ...]
    #: Selection into the chunk's own array (shape ``chunk_shape``).
    cell_selection: tuple[Any, ...]
    #: Selection into the caller's array (shape ``transform.input_shape``, origin-relative).
    array_selection: tuple[Any, ...]


def output_index_bounds(transform: IndexTransform) -> list[tuple[int, int]]:
    """Closed ``(low, high)`` range of each output index over the input domain.

    ``low > high`` marks an empty domain; an unbounded input dimension gives ``-inf``/``+inf``.
    """
    dom = transform._domain
    if any(a >= b for a, b in zip(dom._inclusive_min, dom._exclusive_max, strict=True)):
        return [(0, -1)] * transform.output_rank
    out: list[tuple[int, int]] = []
    for m in transform._output:
        if m._method == CONSTANT:
            out.append((m._offset, m._offset))
        elif m._method == SINGLE:
            k = m._input_dimension
            lo, hi = dom._inclusive_min[k], dom._exclusive_max[k] - 1
            a = -inf if lo == -inf else m._offset + m._stride * lo
            b = inf if hi == inf else m._offset + m._stride * hi
            if m._stride < 0:
                a = inf if lo == -inf else a
                b = -inf if hi == inf else b
                a, b = b, a
            out.append((a, b))
        else:
            assert m._index_array is not None
            values = m._index_array
            lo_v, hi_v = int(values.min()), int(values.max())
            a, b = m._offset + m._stride * lo_v, m._offset + m._stride * hi_v
            out.append((min(a, b), max(a, b)))
    return out


def _axis_pieces(
    offset: int, stride: int, lo: int, hi: int, grid_origin: int, chunk: int
) -> list[tuple[int, slice, slice]]:
    """Split input range ``[lo, hi)`` of ``y = offset + stride * x`` by chunk: (grid index, cell slice, array slice)."""
    y_first = offset + stride * lo
    y_last = offset + stride * (hi - 1)
    y_min, y_max = (y_first, y_last) if stride > 0 else (y_last, y_first)
    g_min = floor_div(y_min - grid_origin, chunk)
    g_max = floor_div(y_max - grid_origin, chunk)
    pieces = []
    for g in range(g_min, g_max + 1):
        cell_start = grid_origin + g * chunk
        cell_end = cell_start + chunk - 1
        # x with cell_start <= offset + stride * x <= cell_end, within [lo, hi)
        if stride > 0:
            x0 = -((offset - cell_start) // stride)  # ceil((cell_start - offset) / stride)
            x1 = (cell_end - offset) // stride
        else:
            x0 = -((offset - cell_end) // stride)
            x1 = (cell_start - offset) // stride
        x0, x1 = max(x0, lo), min(x1, hi - 1)
        if x0 > x1:
            continue
        y0 = offset + stride * x0 - cell_start
        y1 = offset + stride * x1 - cell_start
        stop = y1 + (1 if stride > 0 else -1)
        cell = slice(y0, None if stop < 0 else stop, stride)
        pieces.append((g, cell, slice(x0 - lo, x1 - lo + 1)))
    return pieces


def partition_index_transform(
    transform: IndexTransform,
    chunk_shape: Sequence[int],
    grid_origin: Sequence[int] | None = None,
) -> Iterator[ChunkPart]:
    """Yield one ``ChunkPart`` per grid cell that ``transform`` maps some input position into.

    ``transform``: input = the caller's view (its domain must be finite), output = the array's
    index space, of rank ``len(chunk_shape)``. The grid's cell ``g`` covers output indices
    ``grid_origin + g * chunk_shape`` up to the next cell. Both selections of a part select the
    same number of elements in the same order, so a read is
    ``target[p.array_selection] = chunk[p.cell_selection]`` and a write is
    ``chunk[p.cell_selection] = source[p.array_selection]``, with ``target``/``source`` of shape
    ``transform.input_shape``. Boxes, strides of either sign, translations and integer indices
    give slices computed arithmetically per chunk; permutations and one-dimensional (orthogonal)
    index arrays are split per dimension and give small open-mesh index arrays; other index
    arrays, diagonals and broadcast dimensions are grouped by chunk with one vectorised sort.
    Use ``partition_in_storage_order`` to get slices for permutations too.
    """
    part = _one_chunk_part(transform, chunk_shape, grid_origin)
    if part is not None:
        return iter((part,))
    plan = _plan(transform, chunk_shape, grid_origin)
    if plan is None:
        return iter(())
    if isinstance(plan, _Separable):
        return plan.parts(input_order=True)
    return _partition_general(transform, *plan)


def partition_in_storage_order(
    transform: IndexTransform,
    chunk_shape: Sequence[int],
    grid_origin: Sequence[int] | None = None,
) -> tuple[tuple[int, ...], Iterator[ChunkPart]]:
    """Like ``partition_index_transform``, for callers that can view their array transposed.

    Returns ``(order, parts)``: each part's ``array_selection`` selects from
    ``array.transpose(order)``, the caller's array with its dimensions in the order of the
    output (chunk) dimensions they map to. A read is then
    ``target.transpose(order)[p.array_selection] = chunk[p.cell_selection]`` and a write
    ``chunk[p.cell_selection] = source.transpose(order)[p.array_selection]``. A permuted view
    (``.T``, ``transpose``) then partitions into plain slices like its untransposed box, and
    the copy between chunk and caller's array is one strided copy per chunk.
    """
    part = _one_chunk_part(transform, chunk_shape, grid_origin)
    if part is not None:
        return tuple(range(len(part.array_selection))), iter((part,))
    plan = _plan(transform, chunk_shape, grid_origin)
    identity = tuple(range(transform.input_rank))
    if plan is None:
        return identity, iter(())
    if isinstance(plan, _Separable):
        return plan.order, plan.parts(input_order=False)
    return identity, _partition_general(transform, *plan)


#: How a partition's index vectors select (``CopyPartition.vectors``).
ORTHOGONAL = "orthogonal"
POINTWISE = "pointwise"


class CopyPartition(NamedTuple):
    """A read's partition in chunk dimension order, in the form cheapest to copy
    (``partition_for_copy``)."""

    #: ``array.transpose(order)`` is what the parts' array selections select from.
    order: tuple[int, ...]
    parts: Iterator[ChunkPart]
    #: How the index vectors in the parts' selections combine: None (there are none: ints
    #: and slices only), ``ORTHOGONAL`` (each is 1-D and selects along its own axis,
    #: independently of the others, as ``np.ix_`` would) or ``POINTWISE`` (they are 1-D, of
    #: one length, and select points together, as NumPy's advanced indexing does). Every
    #: part of one partition has the same kind of item (int, slice, vector) at each
    #: position of its selections.
    vectors: str | None


def partition_for_copy(
    transform: IndexTransform, chunk_shape: Sequence[int], grid_origin: Sequence[int] | None = None
) -> CopyPartition:
    """``partition_in_storage_order`` for a copier that knows how the parts' index vectors
    combine (``CopyPartition.vectors``), so they need no open mesh: an ``oindex`` part stays
    as plain 1-D vectors (taken axis by axis) beside slices, and a copier need not inspect
    each part to learn how to copy it."""
    part = _one_chunk_part(transform, chunk_shape, grid_origin)
    if part is not None:
        return CopyPartition(tuple(range(len(part.array_selection))), iter((part,)), None)
    plan = _plan(transform, chunk_shape, grid_origin)
    if plan is None:
        return CopyPartition(tuple(range(transform.input_rank)), iter(()), None)
    if isinstance(plan, _Separable):
        vectors = ORTHOGONAL if plan.cell_arrays or plan.array_arrays else None
        return CopyPartition(plan.order, plan.parts(input_order=False, orthogonal=True), vectors)
    return CopyPartition(tuple(range(transform.input_rank)), _partition_general(transform, *plan), POINTWISE)


def _one_chunk_part(
    transform: IndexTransform, chunk_shape: Sequence[int], grid_origin: Sequence[int] | None
) -> ChunkPart | None:
    """The one part of a view that lies in one chunk and whose output maps are constants or
    stride-1 maps of the input dimensions in order (``store[i, j, k]``, ``store[a:b, c:d]``,
    ``store[5, a:b]``), computed directly: the small reads and writes that make most calls
    skip the planning below. None for any other view (the plan handles those, and raises
    for bad arguments)."""
    outputs = transform._output
    if len(chunk_shape) != len(outputs):
        return None
    domain = transform._domain
    lower, upper = domain._inclusive_min, domain._exclusive_max
    grid = []
    cell: list[Any] = []
    array = []
    k = 0  # the next input dimension
    for j, m in enumerate(outputs):
        extent = chunk_shape[j]
        base = 0 if grid_origin is None else grid_origin[j]
        if extent <= 0:
            return None
        if m._method == CONSTANT:
            g, offset = divmod(m._offset - base, extent)
            grid.append(g)
            cell.append(offset)
            continue
        if m._method != SINGLE or m._stride != 1 or m._input_dimension != k or k >= len(lower):
            return None
        first = m._offset + lower[k] - base
        last = m._offset + upper[k] - 1 - base
        k += 1
        g = first // extent
        if last < first or last // extent != g:
            return None
        start = first - g * extent
        grid.append(g)
        cell.append(slice(start, start + last - first + 1, 1))
        array.append(slice(0, last - first + 1))
    if k != len(lower):
        return None  # an input dimension no output follows (a broadcast)
    return tuple.__new__(ChunkPart, (tuple(grid), tuple(cell), tuple(array)))


def _plan(
    transform: IndexTransform, chunk_shape: Sequence[int], grid_origin: Sequence[int] | None
) -> _Separable | tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Check the arguments; None for an empty domain, else the separable plan if the
    transform has one, else ``(chunk, origin)`` for the general path."""
    rank = transform.output_rank
    chunk = tuple(int(c) for c in chunk_shape)
    if len(chunk) != rank:
        raise ValueError(
            f"chunk_shape has rank {len(chunk)} but the transform's output rank is {rank}"
        )
    if any(c <= 0 for c in chunk):
        raise ValueError(f"chunk_shape must be positive, got {chunk}")
    origin = (0,) * rank if grid_origin is None else tuple(int(o) for o in grid_origin)
    dom = transform._domain
    lo, hi = dom._inclusive_min, dom._exclusive_max
    if any(a == -inf or b - 1 == inf for a, b in zip(lo, hi, strict=True)):
        raise ValueError(f"Cannot partition a transform with an unbounded input domain {dom}")
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return None
    separable = _Separable.build(transform, chunk, origin)
    return (chunk, origin) if separable is None else separable


#: One output dimension's share of a part: (grid index, cell item, array item or None for a
#: dimension no input dimension feeds). Items are ints, slices or 1-D integer arrays.
_Piece = tuple[int, Any, Any]


class _Separable:
    """A transform whose output dimensions each depend on at most one input dimension, each
    input dimension feeding at most one output (boxes, strides, translations, permutations,
    orthogonal index arrays); input dimensions feeding none have extent 1.

    The partition is then a product of per-dimension pieces: no per-element work beyond the
    index arrays themselves, and no sort of the whole request.
    """

    __slots__ = ("array_arrays", "cell_arrays", "chunk", "fed", "order", "pieces", "unused")

    def __init__(
        self, pieces: list[list[_Piece]], fed: list[int], unused: list[int], chunk: tuple[int, ...]
    ) -> None:
        self.chunk = chunk
        #: Per output dimension, its pieces by grid index.
        self.pieces = pieces
        #: Per output dimension, the input dimension feeding it (-1: none).
        self.fed = fed
        #: Input dimensions that feed no output (extent 1).
        self.unused = unused
        #: Input dimensions in the order of the output dimensions they feed, then the unused.
        self.order = tuple(k for k in fed if k >= 0) + tuple(unused)
        #: How many output dimensions select by index arrays rather than slices, in the chunk
        #: (cell items) and in the caller's array (array items). A dimension's pieces are all
        #: one kind or the other on each side.
        self.cell_arrays = sum(isinstance(dim[0][1], np.ndarray) for dim in pieces)
        self.array_arrays = sum(isinstance(dim[0][2], np.ndarray) for dim in pieces)

    @classmethod
    def build(
        cls, transform: IndexTransform, chunk: tuple[int, ...], origin: tuple[int, ...]
    ) -> _Separable | None:
        if not _feeds_distinct(transform):
            return None  # checked first: splitting an index array by chunk is not free
        dom = transform._domain
        lo, hi = dom._inclusive_min, dom._exclusive_max
        feeds = [-1] * transform.input_rank  # output dimension each input dimension feeds
        fed: list[int] = []
        pieces: list[list[_Piece]] = []
        for j, m in enumerate(transform._output):
            method = m._method
            if method == CONSTANT:
                fed.append(-1)
                g = floor_div(m._offset - origin[j], chunk[j])
                pieces.append([(g, m._offset - origin[j] - g * chunk[j], None)])
                continue
            if method == SINGLE:
                k = m._input_dimension
                if m._stride == 0 or feeds[k] >= 0:
                    return None
                feeds[k] = j
                fed.append(k)
                pieces.append(
                    _axis_pieces(m._offset, m._stride, lo[k], hi[k], origin[j], chunk[j])
                )
                continue
            assert m._index_array is not None
            index_array = m._index_array
            varying = [d for d, n in enumerate(index_array.shape) if n != 1]
            if len(varying) > 1:
                return None  # a vindex-style array over several input dimensions
            values = m._offset + m._stride * index_array.reshape(-1).astype(np.int64)
            if not varying:  # one value: a constant in disguise
                fed.append(-1)
                y = int(values[0])
                g = floor_div(y - origin[j], chunk[j])
                pieces.append([(g, y - origin[j] - g * chunk[j], None)])
                continue
            k = varying[0]
            if feeds[k] >= 0:
                return None
            feeds[k] = j
            fed.append(k)
            pieces.append(_array_axis_pieces(values, origin[j], chunk[j]))
        unused = [k for k, j in enumerate(feeds) if j < 0]
        if any(hi[k] - lo[k] != 1 for k in unused):
            return None  # a broadcast dimension: several inputs share each chunk element
        return cls(pieces, fed, unused, chunk)

    def parts(self, input_order: bool, orthogonal: bool = False) -> Iterator[ChunkPart]:
        """The parts, with array selections for the caller's array (``input_order``) or for
        it transposed to ``self.order``; with ``orthogonal``, index vectors stay 1-D, each
        selecting along its own axis (not NumPy's semantics: see ``partition_for_copy``)."""
        fed, unused = self.fed, self.unused
        used = [j for j, k in enumerate(fed) if k >= 0]
        # The copied block has one axis per fed output dimension, in the order of the
        # caller's (possibly transposed) array.
        by_axis = sorted(used, key=lambda j: fed[j]) if input_order else used
        axis = {j: n for n, j in enumerate(by_axis)}
        # Numpy keeps a lone index array in place among slices; several index arrays, or one
        # beside ints, broadcast into the block's shape only as an open mesh. Slices of a
        # chunk keep the chunk's dimension order, so a permuted block needs a mesh too.
        constants = len(used) < len(fed)
        mesh_cells = not orthogonal and (
            by_axis != used or self.cell_arrays > 1 or (self.cell_arrays == 1 and constants)
        )
        mesh_arrays = not orthogonal and (
            self.array_arrays > 1 or (self.array_arrays == 1 and bool(unused))
        )
        size = len(used)
        pieces = [
            [
                (
                    g,
                    _mesh(_as_vector(cell, self.chunk[j]), axis[j], size)
                    if mesh_cells and array is not None
                    else cell,
                    _mesh(_as_vector(array, 0), axis[j], size)
                    if mesh_arrays and array is not None
                    else array,
                )
                for g, cell, array in dim
            ]
            for j, dim in enumerate(self.pieces)
        ]
        # Per array-selection item, the output dimension supplying it (-1: the 0 of an
        # unused input dimension), in the caller's dimension order when ``input_order``.
        if input_order:
            slots = [j for _, j in sorted([(fed[j], j) for j in used] + [(k, -1) for k in unused])]
        else:
            slots = used + [-1] * len(unused)
        return _CountedParts(_combine(pieces, slots), math.prod(len(dim) for dim in pieces))


def _feeds_distinct(transform: IndexTransform) -> bool:
    """Whether each input dimension feeds at most one output dimension, each through a
    nonzero stride or an index array varying along it alone (what ``_Separable`` needs)."""
    fed: set[int] = set()
    for m in transform._output:
        method = m._method
        if method == CONSTANT:
            continue
        if method == SINGLE:
            if m._stride == 0:
                return False
            k = m._input_dimension
        else:
            assert m._index_array is not None
            varying = [d for d, n in enumerate(m._index_array.shape) if n != 1]
            if not varying:
                continue
            if len(varying) > 1:
                return False
            k = varying[0]
        if k in fed:
            return False
        fed.add(k)
    return True


def _as_vector(item: Any, extent: int) -> np.ndarray[Any, Any]:
    """A slice (over ``range(extent)``, or its own bounds when ``extent`` is 0) as indices."""
    if isinstance(item, slice):
        if extent:
            return np.arange(extent, dtype=np.intp)[item]
        return np.arange(item.start, item.stop, item.step or 1, dtype=np.intp)
    return np.asarray(item, dtype=np.intp)


def _mesh(vector: np.ndarray[Any, Any], axis: int, rank: int) -> np.ndarray[Any, Any]:
    """``vector`` along ``axis`` of an open mesh of ``rank`` axes."""
    shape = [1] * rank
    shape[axis] = -1
    return vector.reshape(shape)


def _array_axis_pieces(values: np.ndarray[Any, Any], origin: int, chunk: int) -> list[_Piece]:
    """Split one output dimension's index values (along one input dimension) by chunk:
    (grid index, cell indices, positions along the input dimension). On each side, when
    every chunk's indices are evenly spaced (a sorted or strided index array), they are
    given as slices, so the copy is as cheap as for a strided view."""
    grid = np.floor_divide(values - origin, chunk)
    first, last = int(grid.min()), int(grid.max())
    if first == last:
        groups = [(first, values - (origin + first * chunk), np.arange(len(values), dtype=np.intp))]
    else:
        order = np.argsort(grid, kind="stable")
        ids, starts = np.unique(grid[order], return_index=True)
        bounds = [*starts.tolist(), len(order)]
        groups = []
        for n, g in enumerate(ids.tolist()):
            positions = order[bounds[n] : bounds[n + 1]]
            groups.append((g, values[positions] - (origin + g * chunk), positions))
    cell_slices = [_as_slice(cell) for _, cell, _ in groups]
    position_slices = [_as_slice(where) for _, _, where in groups]
    use_cells = all(c is not None for c in cell_slices)
    use_positions = all(p is not None for p in position_slices)
    return [
        (g, cell_slices[n] if use_cells else cell, position_slices[n] if use_positions else where)
        for n, (g, cell, where) in enumerate(groups)
    ]


def _as_slice(indices: np.ndarray[Any, Any]) -> slice | None:
    """Evenly spaced ``indices`` as the equivalent slice, else None."""
    first = int(indices[0])
    if len(indices) == 1:
        return slice(first, first + 1, 1)
    step = int(indices[1]) - first
    if step == 0 or not (np.diff(indices) == step).all():
        return None
    stop = int(indices[-1]) + (1 if step > 0 else -1)
    return slice(first, None if stop < 0 else stop, step)


class _CountedParts(Iterator[ChunkPart]):
    """Parts made as they are asked for, with their number known up front
    (``operator.length_hint``): a caller can plan its workers without holding every part
    (on hundreds of thousands of chunks, holding them costs more in garbage collection
    than making them)."""

    __slots__ = ("_next", "_remaining")

    def __init__(self, parts: Iterator[ChunkPart], count: int) -> None:
        self._next = parts.__next__
        self._remaining = count

    def __next__(self) -> ChunkPart:
        part = self._next()
        self._remaining -= 1
        return part

    def __length_hint__(self) -> int:
        return self._remaining


def _combine(pieces: list[list[_Piece]], slots: list[int]) -> Iterator[ChunkPart]:
    """The product of per-dimension pieces as parts; ``slots`` lists, per array-selection item,
    the output dimension supplying it (-1: 0 for an unused input dimension)."""
    rank = len(pieces)
    identity = slots == list(range(rank))
    make = tuple.__new__
    if rank == 0:
        yield make(ChunkPart, ((), (), tuple(0 for _ in slots)))
        return
    if identity:  # every dimension's items in place: three products in lockstep, all in C
        grids = itertools.product(*[[piece[0] for piece in dim] for dim in pieces])
        cells = itertools.product(*[[piece[1] for piece in dim] for dim in pieces])
        arrays = itertools.product(*[[piece[2] for piece in dim] for dim in pieces])
        for triple in zip(grids, cells, arrays, strict=True):
            yield make(ChunkPart, triple)
        return
    for combo in itertools.product(*pieces):
        grid, cell, array = zip(*combo, strict=True)
        if not identity:
            array = tuple(0 if j < 0 else array[j] for j in slots)
        yield make(ChunkPart, (grid, cell, array))


def _partition_general(
    transform: IndexTransform, chunk: tuple[int, ...], origin: tuple[int, ...]
) -> Iterator[ChunkPart]:
    """The parts of any transform, by one sort of its elements by chunk; the sort is done
    here and the parts are made as they are taken, their number known (``length_hint``)."""
    dom = transform._domain
    shape = dom.shape
    rank = transform.output_rank
    outputs = [np.broadcast_to(map_values(m, dom), shape).reshape(-1) for m in transform._output]
    # Relative output index and grid index per element (vectorised over the whole input).
    grids = [np.floor_divide(y - o, c) for y, o, c in zip(outputs, origin, chunk, strict=True)]
    if rank == 0:
        only = ChunkPart((), (), tuple(np.unravel_index(np.arange(int(np.prod(shape))), shape)))
        return _CountedParts(iter((only,)), 1)
    g_min = [int(g.min()) for g in grids]
    extent = [int(g.max()) - a + 1 for g, a in zip(grids, g_min, strict=True)]
    linear = np.ravel_multi_index([g - a for g, a in zip(grids, g_min, strict=True)], extent)
    order = np.argsort(linear, kind="stable")
    ids, starts = np.unique(linear[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    # Everything per element is computed once, in chunk order; each part is then slices
    # (views) of those vectors, with no per-chunk fancy indexing.
    cells = [
        (outputs[j][order] - origin[j]) - grids[j][order] * chunk[j] for j in range(rank)
    ]
    arrays = np.unravel_index(order, shape) if shape else ()
    grid_columns = [
        (column + a).tolist()
        for column, a in zip(np.unravel_index(ids, extent), g_min, strict=True)
    ]
    return _CountedParts(_runs(grid_columns, bounds, cells, arrays), len(bounds) - 1)


def _runs(
    grid_columns: list[list[int]],
    bounds: list[int],
    cells: list[np.ndarray[Any, Any]],
    arrays: Sequence[np.ndarray[Any, Any]],
) -> Iterator[ChunkPart]:
    """The general path's parts: per chunk, the run ``bounds[n]:bounds[n + 1]`` of the
    per-element vectors (already in chunk order)."""
    make = tuple.__new__
    for grid_indices, start, stop in zip(zip(*grid_columns, strict=True), bounds[:-1], bounds[1:], strict=True):
        run = slice(start, stop)
        yield make(ChunkPart, (
            grid_indices, tuple([cell[run] for cell in cells]), tuple([a[run] for a in arrays])
        ))
