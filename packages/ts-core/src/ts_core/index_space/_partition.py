"""Partitioning an index transform onto a regular chunk grid: the per-chunk copy plan.

``partition_index_transform`` is what the chunked drivers call for every read and write. For
each grid cell that the transform's range touches it yields a ``ChunkPart`` saying which
elements of that chunk are involved (``cell_selection``) and where they sit in the caller's
array (``array_selection``), so that ``target[p.array_selection] = chunk[p.cell_selection]``
gathers a read and ``chunk[p.cell_selection] = source[p.array_selection]`` scatters a write.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._interval import floor_div, inf
from ._output_map import ARRAY, CONSTANT, SINGLE
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
    ``transform.input_shape``. When every map is constant or single-input and each input
    dimension feeds exactly one output dimension in increasing order (boxes, strides of either
    sign, translations, integer indices), selections are slices/ints computed arithmetically per
    chunk; otherwise (index arrays, permutations, diagonals, broadcast dimensions) they are
    integer index arrays of equal length, grouped by chunk with a vectorised sort.
    """
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
        return iter(())
    if _is_simple(transform):
        return _partition_simple(transform, chunk, origin)
    return _partition_general(transform, chunk, origin)


def _is_simple(transform: IndexTransform) -> bool:
    last = -1
    used = 0
    for m in transform._output:
        if m._method == ARRAY:
            return False
        if m._method == SINGLE:
            if m._input_dimension <= last:
                return False
            last = m._input_dimension
            used += 1
    return used == transform.input_rank


def _partition_simple(
    transform: IndexTransform, chunk: tuple[int, ...], origin: tuple[int, ...]
) -> Iterator[ChunkPart]:
    dom = transform._domain
    per_dim: list[list[tuple[int, Any, Any]]] = []
    for j, m in enumerate(transform._output):
        if m._method == CONSTANT:
            g = floor_div(m._offset - origin[j], chunk[j])
            per_dim.append([(g, m._offset - origin[j] - g * chunk[j], None)])
        else:
            k = m._input_dimension
            per_dim.append(
                _axis_pieces(
                    m._offset,
                    m._stride,
                    dom._inclusive_min[k],
                    dom._exclusive_max[k],
                    origin[j],
                    chunk[j],
                )
            )
    for combo in itertools.product(*per_dim):
        yield ChunkPart(
            tuple(p[0] for p in combo),
            tuple(p[1] for p in combo),
            tuple(p[2] for p in combo if p[2] is not None),
        )


def _partition_general(
    transform: IndexTransform, chunk: tuple[int, ...], origin: tuple[int, ...]
) -> Iterator[ChunkPart]:
    dom = transform._domain
    shape = dom.shape
    rank = transform.output_rank
    outputs = [np.broadcast_to(map_values(m, dom), shape).reshape(-1) for m in transform._output]
    # Relative output index and grid index per element (vectorised over the whole input).
    grids = [np.floor_divide(y - o, c) for y, o, c in zip(outputs, origin, chunk, strict=True)]
    if rank == 0:
        yield ChunkPart((), (), tuple(np.unravel_index(np.arange(int(np.prod(shape))), shape)))
        return
    g_min = [int(g.min()) for g in grids]
    extent = [int(g.max()) - a + 1 for g, a in zip(grids, g_min, strict=True)]
    linear = np.ravel_multi_index([g - a for g, a in zip(grids, g_min, strict=True)], extent)
    order = np.argsort(linear, kind="stable")
    ids, starts = np.unique(linear[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for n, chunk_id in enumerate(ids.tolist()):
        positions = order[bounds[n] : bounds[n + 1]]
        g = np.unravel_index(chunk_id, extent)
        grid_indices = tuple(int(x) + a for x, a in zip(g, g_min, strict=True))
        cell = tuple(
            outputs[j][positions] - (origin[j] + grid_indices[j] * chunk[j]) for j in range(rank)
        )
        yield ChunkPart(grid_indices, cell, np.unravel_index(positions, shape))
