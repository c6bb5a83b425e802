"""``ChunkLayout.Grid``: shape, aspect-ratio and element-count constraints on one chunk grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._validation import SpecError, describe, json_path
from ._constraints import (
    MAX_FINITE_INDEX,
    check_rank,
    json_float_vector,
    json_int,
    json_int_vector,
    merge_vector,
    py_float_vector,
    py_int,
    py_int_vector,
)
from ._pretty import pretty_repr

__all__ = ["FULL_EXTENT", "Grid", "GridState"]

#: A chunk-shape entry of -1 asks for the full extent of the domain in that dimension.
FULL_EXTENT = -1

_GRID_MEMBERS = (
    "shape",
    "shape_soft_constraint",
    "aspect_ratio",
    "aspect_ratio_soft_constraint",
    "elements",
    "elements_soft_constraint",
)


class GridState:
    """Mutable per-grid constraints; vectors are empty until the rank is known."""

    __slots__ = ("aspect", "aspect_hard", "elements", "elements_hard", "shape", "shape_hard")

    def __init__(self, rank: int | None = None) -> None:
        size = rank or 0
        self.shape: list[int] = [0] * size
        self.shape_hard: list[bool] = [False] * size
        self.aspect: list[float] = [0.0] * size
        self.aspect_hard: list[bool] = [False] * size
        self.elements: int | None = None
        self.elements_hard = False

    def copy(self) -> GridState:
        other = GridState()
        other.shape, other.shape_hard = list(self.shape), list(self.shape_hard)
        other.aspect, other.aspect_hard = list(self.aspect), list(self.aspect_hard)
        other.elements, other.elements_hard = self.elements, self.elements_hard
        return other

    def resize(self, rank: int) -> None:
        self.shape, self.shape_hard = [0] * rank, [False] * rank
        self.aspect, self.aspect_hard = [0.0] * rank, [False] * rank

    def key(self) -> tuple[Any, ...]:
        return (self.shape, self.shape_hard, self.aspect, self.aspect_hard, self.elements,
                self.elements_hard)

    # -- merging (``path`` names the grid, e.g. "write_chunk") -----------------------------
    def set_shape(self, values: Sequence[int | None], hard: bool, path: str) -> None:
        path = json_path(path, ["shape" if hard else "shape_soft_constraint"])
        checked = [0 if v is None else _check_chunk_size(v, f"{path}[{i}]")
                   for i, v in enumerate(values)]
        if hard:
            # "-1" (full extent) is never a hard constraint: it only states a preference.
            soft_full = [FULL_EXTENT if v == FULL_EXTENT else 0 for v in checked]
            checked = [0 if v == FULL_EXTENT else v for v in checked]
            merge_vector(self.shape, self.shape_hard, checked, True, 0, path)
            merge_vector(self.shape, self.shape_hard, soft_full, False, 0, path)
        else:
            merge_vector(self.shape, self.shape_hard, checked, False, 0, path)

    def set_aspect(self, values: Sequence[float | None], hard: bool, path: str) -> None:
        path = json_path(path, ["aspect_ratio" if hard else "aspect_ratio_soft_constraint"])
        checked = [0.0 if v is None else _check_aspect(v, f"{path}[{i}]")
                   for i, v in enumerate(values)]
        merge_vector(self.aspect, self.aspect_hard, checked, hard, 0.0, path)

    def set_elements(self, value: int, hard: bool, path: str) -> None:
        path = json_path(path, ["elements" if hard else "elements_soft_constraint"])
        if not 0 <= value <= MAX_FINITE_INDEX:
            raise SpecError(path, f"invalid number of elements: {value}")
        if hard:
            if self.elements_hard:
                if self.elements != value:
                    raise SpecError(
                        path,
                        f"new hard constraint ({value}) does not match existing hard "
                        f"constraint ({self.elements})",
                    )
            else:
                self.elements, self.elements_hard = value, True
        elif self.elements is None:
            self.elements = value

    def merge(self, other: GridState, path: str, *, shape: bool = True, aspect: bool = True,
              elements: bool = True, as_soft: bool = False) -> None:
        """Merge ``other`` (same rank) into this grid; ``as_soft`` demotes its hard values."""
        if shape:
            hard_values = [v if h else 0 for v, h in zip(other.shape, other.shape_hard, strict=True)]
            soft_values = [0 if h else v for v, h in zip(other.shape, other.shape_hard, strict=True)]
            self.set_shape(hard_values, not as_soft, path)
            self.set_shape(soft_values, False, path)
        if aspect:
            hard_ratios = [v if h else 0.0
                           for v, h in zip(other.aspect, other.aspect_hard, strict=True)]
            soft_ratios = [0.0 if h else v
                           for v, h in zip(other.aspect, other.aspect_hard, strict=True)]
            self.set_aspect(hard_ratios, not as_soft, path)
            self.set_aspect(soft_ratios, False, path)
        if elements and other.elements is not None:
            self.set_elements(other.elements, other.elements_hard and not as_soft, path)

    # -- views ----------------------------------------------------------------------------
    def shape_view(self, hard: bool) -> tuple[int | None, ...]:
        return tuple(v if (v != 0 and h == hard) else None
                     for v, h in zip(self.shape, self.shape_hard, strict=True))

    def aspect_view(self, hard: bool) -> tuple[float | None, ...]:
        return tuple(v if (v != 0 and h == hard) else None
                     for v, h in zip(self.aspect, self.aspect_hard, strict=True))

    def has_vectors(self) -> bool:
        return any(self.shape) or any(self.aspect)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for hard, name in ((True, "aspect_ratio"), (False, "aspect_ratio_soft_constraint")):
            view = self.aspect_view(hard)
            if any(v is not None for v in view):
                out[name] = list(view)
        if self.elements is not None:
            out["elements" if self.elements_hard else "elements_soft_constraint"] = self.elements
        for hard, name in ((True, "shape"), (False, "shape_soft_constraint")):
            view = self.shape_view(hard)
            if any(v is not None for v in view):
                out[name] = list(view)
        return out


def _check_chunk_size(value: int, path: str) -> int:
    if value == FULL_EXTENT or 0 <= value <= MAX_FINITE_INDEX:
        return value
    raise SpecError(path, f"invalid chunk size {value}: expected a positive integer, "
                          "0 or null (unconstrained), or -1 (full extent)")


def _check_aspect(value: float, path: str) -> float:
    if value == 0 or (value > 0 and math.isfinite(value)):
        return value
    raise SpecError(path, f"invalid aspect ratio {value}: expected a positive finite number, "
                          "or 0 or null (unconstrained)")


class _RankHolder:
    """Rank bookkeeping shared by Grid and ChunkLayout."""

    _rank: int | None

    def _resize(self, rank: int) -> None:
        raise NotImplementedError

    def _set_rank(self, rank: int, path: str) -> None:
        check_rank(rank, path)
        if self._rank is None:
            self._rank = rank
            self._resize(rank)
        elif self._rank != rank:
            raise SpecError(path, f"rank {rank} does not match existing rank {self._rank}")


def parse_grid_json(value: Any, state: GridState, holder: _RankHolder, path: str,
                    apply: Any = None) -> None:
    """Parse the JSON form of a grid into ``state`` (``apply`` routes members elsewhere)."""
    if not isinstance(value, dict):
        raise SpecError(path, f"expected object, but received: {describe(value)}")
    for key in value:
        if key not in _GRID_MEMBERS:
            raise SpecError(json_path(path, [key]), "unexpected member (not allowed here)")
    for key in _GRID_MEMBERS:
        if key not in value:
            continue
        member = value[key]
        member_path = json_path(path, [key])
        hard = not key.endswith("_soft_constraint")
        if key.startswith("elements"):
            number = json_int(member, member_path)
            (apply or _apply_to_state(state, holder))("elements", number, hard, path)
        elif key.startswith("shape"):
            vector: list[Any] = json_int_vector(member, member_path)
            (apply or _apply_to_state(state, holder))("shape", vector, hard, path)
        else:
            vector = json_float_vector(member, member_path)
            (apply or _apply_to_state(state, holder))("aspect", vector, hard, path)


def _apply_to_state(state: GridState, holder: _RankHolder) -> Any:
    def apply(kind: str, value: Any, hard: bool, path: str) -> None:
        if kind == "elements":
            state.set_elements(value, hard, path)
            return
        member = json_path(path, [_member_name(kind, hard)])
        holder._set_rank(len(value), member)
        (state.set_shape if kind == "shape" else state.set_aspect)(value, hard, path)

    return apply


def _member_name(kind: str, hard: bool) -> str:
    base = {"shape": "shape", "aspect": "aspect_ratio", "elements": "elements"}[kind]
    return base if hard else f"{base}_soft_constraint"


class Grid(_RankHolder):
    """Constraints on one chunk grid (write, read or codec chunks) of a ``ChunkLayout``.

    ``shape`` entries of ``None``/``0`` are unconstrained and ``-1`` asks for the full
    domain extent; ``aspect_ratio`` gives relative chunk extents; ``elements`` is the target
    number of elements per chunk. Each has a hard and a ``*_soft_constraint`` form.
    """

    def __init__(
        self,
        json: Any = None,
        *,
        rank: int | None = None,
        shape: Sequence[int | None] | None = None,
        shape_soft_constraint: Sequence[int | None] | None = None,
        aspect_ratio: Sequence[float | None] | None = None,
        aspect_ratio_soft_constraint: Sequence[float | None] | None = None,
        elements: int | None = None,
        elements_soft_constraint: int | None = None,
        grid: Grid | None = None,
        grid_soft_constraint: Grid | None = None,
    ) -> None:
        self._rank = None
        self._state = GridState()
        if json is not None:
            parse_grid_json(json, self._state, self, "")
        self.update(
            rank=rank, shape=shape, shape_soft_constraint=shape_soft_constraint,
            aspect_ratio=aspect_ratio, aspect_ratio_soft_constraint=aspect_ratio_soft_constraint,
            elements=elements, elements_soft_constraint=elements_soft_constraint, grid=grid,
            grid_soft_constraint=grid_soft_constraint,
        )

    @classmethod
    def _from_state(cls, rank: int | None, state: GridState) -> Grid:
        grid = cls.__new__(cls)
        grid._rank = rank
        grid._state = state.copy()
        return grid

    def _resize(self, rank: int) -> None:
        self._state.resize(rank)

    def update(
        self,
        *,
        rank: int | None = None,
        shape: Sequence[int | None] | None = None,
        shape_soft_constraint: Sequence[int | None] | None = None,
        aspect_ratio: Sequence[float | None] | None = None,
        aspect_ratio_soft_constraint: Sequence[float | None] | None = None,
        elements: int | None = None,
        elements_soft_constraint: int | None = None,
        grid: Grid | None = None,
        grid_soft_constraint: Grid | None = None,
    ) -> None:
        """Add constraints; a conflicting hard constraint raises ``ValueError`` naming it."""
        state = self._state
        if rank is not None:
            self._set_rank(py_int(rank, "rank"), "rank")
        for name, value, hard in (("shape", shape, True),
                                  ("shape_soft_constraint", shape_soft_constraint, False)):
            if value is not None:
                vector = py_int_vector(value, name)
                if not vector:
                    continue  # an empty Python sequence constrains nothing (as in the wheel)
                self._set_rank(len(vector), name)
                state.set_shape(vector, hard, "")
        for name, ratios, hard in (("aspect_ratio", aspect_ratio, True),
                                   ("aspect_ratio_soft_constraint", aspect_ratio_soft_constraint,
                                    False)):
            if ratios is not None:
                floats = py_float_vector(ratios, name)
                if not floats:
                    continue
                self._set_rank(len(floats), name)
                state.set_aspect(floats, hard, "")
        for name, count, hard in (("elements", elements, True),
                                  ("elements_soft_constraint", elements_soft_constraint, False)):
            if count is not None:
                state.set_elements(py_int(count, name), hard, "")
        for name, other, soft in (("grid", grid, False),
                                  ("grid_soft_constraint", grid_soft_constraint, True)):
            if other is None:
                continue
            if not isinstance(other, Grid):
                raise TypeError(f"Invalid {name}: expected ChunkLayout.Grid, got {other!r}")
            if other._rank is not None:
                self._set_rank(other._rank, name)
                state.merge(other._state, "", as_soft=soft)
            elif other._state.elements is not None:
                state.set_elements(other._state.elements,
                                   other._state.elements_hard and not soft, "")

    # -- accessors --------------------------------------------------------------------------
    @property
    def rank(self) -> int | None:
        """Number of dimensions, or ``None`` if unspecified."""
        return self._rank

    @property
    def ndim(self) -> int | None:
        """Alias for ``rank``."""
        return self._rank

    @property
    def shape(self) -> tuple[int | None, ...] | None:
        """Hard constraints on the chunk shape (``None`` where unconstrained)."""
        return None if not self._rank else self._state.shape_view(True)

    @property
    def shape_soft_constraint(self) -> tuple[int | None, ...] | None:
        """Soft constraints on the chunk shape."""
        return None if not self._rank else self._state.shape_view(False)

    @property
    def aspect_ratio(self) -> tuple[float | None, ...] | None:
        """Hard constraints on the chunk aspect ratio."""
        return None if not self._rank else self._state.aspect_view(True)

    @property
    def aspect_ratio_soft_constraint(self) -> tuple[float | None, ...] | None:
        """Soft constraints on the chunk aspect ratio."""
        return None if not self._rank else self._state.aspect_view(False)

    @property
    def elements(self) -> int | None:
        """Hard target number of elements per chunk."""
        return self._state.elements if self._state.elements_hard else None

    @property
    def elements_soft_constraint(self) -> int | None:
        """Soft target number of elements per chunk."""
        return None if self._state.elements_hard else self._state.elements

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The JSON form (``include_defaults`` changes nothing: a grid has no defaults)."""
        return self._state.to_json()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return self._rank == other._rank and self._state.key() == other._state.key()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_grid_from_json, (self._rank, self.to_json()))

    def __repr__(self) -> str:
        return pretty_repr("ChunkLayout.Grid(", self.to_json())


def _grid_from_json(rank: int | None, value: dict[str, Any]) -> Grid:
    return Grid(value, rank=rank)
