"""Choosing a concrete chunk shape from ``ChunkLayout`` constraints, as drivers do on create.

Per dimension, a hard shape wins, then a soft shape (``-1`` meaning the full extent).
The remaining dimensions follow the aspect ratio (default 1) scaled by one common factor,
chosen as large as possible while the chunk holds at most the target number of elements
(``elements``, hard or soft, else ``DEFAULT_CHUNK_ELEMENTS``); each is at least 1 and at
most the domain extent.

Two-level layouts (zarr3 sharding: write chunk = shard, read chunk = inner chunk) choose
the read chunk first, each of its extents a divisor of the write extent where that is
already known, then the write chunk as multiples of the read chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from .._validation import SpecError, json_path
from ._chunk_layout import ChunkLayout
from ._grid import FULL_EXTENT, Grid, GridState

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "choose_chunk_shape",
    "choose_read_write_chunk_shape",
    "choose_sharded_chunk_shapes",
]

#: Target elements per chunk when no ``elements`` constraint is given (tensorstore: 1Mi).
DEFAULT_CHUNK_ELEMENTS = 1024 * 1024

_BISECTION_STEPS = 200

SizeMap = Callable[[int, int], int]


def choose_chunk_shape(
    grid: Grid,
    domain_shape: Sequence[int],
    *,
    default_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[int, ...]:
    """The chunk shape the constraints of one ``ChunkLayout.Grid`` select for ``domain_shape``."""
    state = _grid_state(grid, len(domain_shape), "grid")
    return tuple(_choose(state, list(domain_shape), default_elements, None))


def choose_read_write_chunk_shape(
    layout: ChunkLayout,
    domain_shape: Sequence[int],
    *,
    default_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[int, ...]:
    """One chunk shape satisfying both read and write constraints (zarr v2, n5: one level).

    The write constraints are merged into the read constraints; conflicting hard
    constraints raise a ``ValueError`` naming the member.
    """
    rank = len(domain_shape)
    prefix = layout._json_path_prefix
    combined = _grid_state(layout.read_chunk, rank, json_path(prefix, ["read_chunk"]))
    write = _grid_state(layout.write_chunk, rank, json_path(prefix, ["write_chunk"]))
    try:
        combined.merge(write, json_path(prefix, ["read_chunk"]))
    except SpecError as exc:
        raise SpecError(exc.json_path, f"write_chunk constraints are not compatible with "
                                       f"read_chunk constraints: {_message(exc)}") from None
    return tuple(_choose(combined, list(domain_shape), default_elements, None))


def choose_sharded_chunk_shapes(
    layout: ChunkLayout,
    domain_shape: Sequence[int],
    *,
    default_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(write_shape, read_shape)`` for a two-level layout; the read shape divides the write shape.

    The read chunk follows the read constraints alone, except that a read extent whose
    write extent is already fixed becomes the nearest divisor of it; write extents then
    become the nearest multiple of the read extent (at least one read chunk).
    """
    rank = len(domain_shape)
    extents = list(domain_shape)
    prefix = layout._json_path_prefix
    read = _grid_state(layout.read_chunk, rank, json_path(prefix, ["read_chunk"]))
    write = _grid_state(layout.write_chunk, rank, json_path(prefix, ["write_chunk"]))
    known_write = [_fixed_size(write, dim, extents[dim]) for dim in range(rank)]

    def read_size(dim: int, size: int) -> int:
        whole = known_write[dim]
        return size if whole == 0 else _nearest_divisor(whole, size)

    read_shape = _choose(read, extents, default_elements, read_size)
    for dim, (whole, part) in enumerate(zip(known_write, read_shape, strict=True)):
        if whole and write.shape_hard[dim] and whole % part:
            raise SpecError(
                json_path(prefix, ["write_chunk", "shape", dim]),
                f"incompatible chunk size constraints: read size of {part}, write size of {whole}",
            )

    def write_size(dim: int, size: int) -> int:
        return max(read_shape[dim], _nearest_multiple(read_shape[dim], size))

    fixed_write = GridState(rank)
    fixed_write.shape = [0 if v == 0 else write_size(d, v) for d, v in enumerate(known_write)]
    fixed_write.shape_hard = [v != 0 for v in known_write]
    fixed_write.aspect = list(write.aspect)
    fixed_write.elements = write.elements
    write_shape = _choose(fixed_write, extents, default_elements, write_size)
    return tuple(write_shape), tuple(read_shape)


# -- the search -------------------------------------------------------------------------------


def _grid_state(grid: Grid, rank: int, name: str) -> GridState:
    if not isinstance(grid, Grid):
        raise TypeError(f"expected ChunkLayout.Grid, got {grid!r}")
    if grid.rank is not None and grid.rank != rank:
        raise SpecError(name, f"rank {grid.rank} does not match the domain rank {rank}")
    state = grid._state.copy()
    if grid.rank is None:
        state.resize(rank)
    return state


def _message(exc: SpecError) -> str:
    text = str(exc)
    prefix = f"{exc.json_path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _fixed_size(state: GridState, dim: int, extent: int) -> int:
    """The size fixed by a (hard, else soft) shape constraint, ``0`` if none."""
    size = state.shape[dim]
    if size == FULL_EXTENT:
        return max(1, extent)
    return size


def _choose(state: GridState, extents: list[int], default_elements: int,
            size_map: SizeMap | None) -> list[int]:
    rank = len(extents)
    shape = [_fixed_size(state, dim, extents[dim]) for dim in range(rank)]
    if size_map is not None:
        # Soft (and full-extent) sizes are preferences: they still obey the size map.
        shape = [size_map(dim, size) if size and not state.shape_hard[dim] else size
                 for dim, size in enumerate(shape)]
    free = [dim for dim in range(rank) if shape[dim] == 0]
    if not free:
        return shape
    target = state.elements if state.elements is not None else default_elements
    fixed_elements = math.prod(size for size in shape if size)
    budget = target // fixed_elements if fixed_elements else 0
    ratios = {dim: (state.aspect[dim] or 1.0) for dim in free}

    def sizes_at(factor: float) -> dict[int, int]:
        sizes = {}
        for dim in free:
            size = min(max(1, _floor(factor * ratios[dim])), max(1, extents[dim]))
            sizes[dim] = size_map(dim, size) if size_map is not None else size
        return sizes

    def fits(factor: float) -> bool:
        total = 1
        for size in sizes_at(factor).values():
            total *= size
            if total > budget:
                return False
        return True

    low = 0.0
    high = max(max(1, extents[dim]) / ratios[dim] for dim in free) + 1.0
    if fits(high):
        low = high
    else:
        # Invariant: the sizes at ``low`` fit the budget, those at ``high`` do not.
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2
            if middle in (low, high):
                break
            if fits(middle):
                low = middle
            else:
                high = middle
    for dim, size in sizes_at(low).items():
        shape[dim] = size
    return shape


def _floor(value: float) -> int:
    return int(value) if value < 1e18 else 10**18


#: Beyond this many trial divisions the divisor search scans outwards from the wanted size.
_DIVISOR_SCAN_LIMIT = 1 << 21


@functools.lru_cache(maxsize=4096)
def _nearest_divisor(whole: int, size: int) -> int:
    """The divisor of ``whole`` closest to ``size`` (the smaller one on a tie)."""
    if math.isqrt(whole) <= _DIVISOR_SCAN_LIMIT:
        best = 1
        for candidate in _divisors(whole):
            if abs(candidate - size) < abs(best - size):
                best = candidate
        return best
    # Huge extents: look outwards from ``size`` (smaller first on a tie), within a bound.
    for delta in range(_DIVISOR_SCAN_LIMIT):
        for candidate in (size - delta, size + delta):
            if 0 < candidate <= whole and whole % candidate == 0:
                return candidate
    return 1 if size - 1 < whole - size else whole


@functools.lru_cache(maxsize=256)
def _divisors(whole: int) -> tuple[int, ...]:
    small = [d for d in range(1, math.isqrt(whole) + 1) if whole % d == 0]
    return tuple(sorted({*small, *(whole // d for d in small)}))


def _nearest_multiple(unit: int, size: int) -> int:
    """The multiple of ``unit`` closest to ``size`` (the smaller one on a tie)."""
    lower = size // unit * unit
    upper = lower + unit
    return lower if size - lower <= upper - size else upper
