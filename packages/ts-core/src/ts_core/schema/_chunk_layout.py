"""``ChunkLayout``: hard and soft constraints on how an array is divided into chunks.

Three grids are described: write chunks (the unit of atomic writes), read chunks (the unit
of efficient reads, e.g. a zarr3 shard's inner chunk) and codec chunks. ``chunk`` in JSON
and the ``chunk_*`` keyword arguments apply shape and element constraints to write and
read chunks and aspect ratios to all three grids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._validation import SpecError, describe, json_path
from ._constraints import (
    MAX_FINITE_INDEX,
    json_int,
    json_int_vector,
    merge_vector,
    py_float_vector,
    py_int,
    py_int_vector,
)
from ._grid import Grid as ChunkGrid
from ._grid import GridState, _RankHolder, parse_grid_json
from ._pretty import pretty_repr

__all__ = ["USAGES", "ChunkLayout"]

#: The grids a layout constrains, in the order their JSON members are parsed.
USAGES = ("write_chunk", "read_chunk", "codec_chunk")

_LAYOUT_MEMBERS = (
    "rank",
    "inner_order",
    "inner_order_soft_constraint",
    "grid_origin",
    "grid_origin_soft_constraint",
    "chunk",
    "write_chunk",
    "read_chunk",
    "codec_chunk",
)

IntVector = Sequence[int | None]
FloatVector = Sequence[float | None]


class ChunkLayout(_RankHolder):
    """Describes the storage layout (chunk grids, grid origin, inner order) of an array.

    Construct from JSON (``ChunkLayout(json)``) or keyword arguments named as in
    tensorstore; ``update`` adds constraints and raises ``ValueError`` naming the member
    when a hard constraint conflicts.
    """

    Grid = ChunkGrid

    def __init__(self, json: Any = None, **constraints: Any) -> None:
        self._rank = None
        self._origin: list[int | None] = []
        self._origin_hard: list[bool] = []
        self._inner_order: tuple[int, ...] | None = None
        self._inner_order_hard = False
        self._grids = {usage: GridState() for usage in USAGES}
        #: Where the layout came from (``"schema.chunk_layout"`` for a spec's), so errors
        #: found later, when a driver chooses chunk shapes from it, name the full path.
        self._json_path_prefix = ""
        if json is not None:
            if constraints:
                raise TypeError("ChunkLayout: json cannot be combined with keyword arguments")
            self._parse_json(json, "")
        else:
            self.update(**constraints)

    def _resize(self, rank: int) -> None:
        self._origin, self._origin_hard = [None] * rank, [False] * rank
        for state in self._grids.values():
            state.resize(rank)

    # -- setters shared by JSON and keyword arguments ------------------------------------------
    def _set_origin(self, values: IntVector, hard: bool, path: str) -> None:
        self._set_rank(len(values), path)
        for i, value in enumerate(values):
            if value is not None and not -MAX_FINITE_INDEX <= value <= MAX_FINITE_INDEX:
                raise SpecError(f"{path}[{i}]", f"invalid grid origin {value}: not a finite index")
        merge_vector(self._origin, self._origin_hard, values, hard, None, path)

    def _set_inner_order(self, values: Sequence[int], hard: bool, path: str) -> None:
        order = tuple(values)
        if sorted(order) != list(range(len(order))):
            raise SpecError(path, f"invalid permutation: {list(order)}")
        self._set_rank(len(order), path)
        if hard:
            if self._inner_order_hard:
                if self._inner_order != order:
                    raise SpecError(
                        path,
                        f"new hard constraint ({list(order)}) does not match existing hard "
                        f"constraint ({list(self._inner_order or ())})",
                    )
            else:
                self._inner_order, self._inner_order_hard = order, True
        elif self._inner_order is None:
            self._inner_order = order

    def _apply(self, usages: Sequence[str], kind: str, value: Any, hard: bool,
               prefix: str) -> None:
        """Apply one shape/aspect/elements constraint to each grid in ``usages``."""
        for usage in usages:
            path = json_path(prefix, [usage])
            state = self._grids[usage]
            if kind == "elements":
                state.set_elements(value, hard, path)
                continue
            member = "shape" if kind == "shape" else "aspect_ratio"
            self._set_rank(len(value), json_path(path, [member if hard else
                                                        f"{member}_soft_constraint"]))
            (state.set_shape if kind == "shape" else state.set_aspect)(value, hard, path)

    # -- JSON ---------------------------------------------------------------------------------
    def _parse_json(self, value: Any, prefix: str) -> None:
        if not isinstance(value, dict):
            raise SpecError(prefix, f"expected object, but received: {describe(value)}")
        for key in value:
            if key not in _LAYOUT_MEMBERS:
                raise SpecError(json_path(prefix, [key]), "unexpected member (not allowed here)")
        for key in _LAYOUT_MEMBERS:
            member = value.get(key)
            if member is None:
                continue
            path = json_path(prefix, [key])
            if key == "rank":
                self._set_rank(json_int(member, path), path)
            elif key.startswith("grid_origin"):
                self._set_origin(json_int_vector(member, path), key == "grid_origin", path)
            elif key.startswith("inner_order"):
                order = json_int_vector(member, path)
                if any(v is None for v in order):
                    raise SpecError(path, f"invalid permutation: {describe(member)}")
                self._set_inner_order(order, key == "inner_order", path)  # type: ignore[arg-type]
            else:
                self._parse_grid(key, member, prefix)

    def _parse_grid(self, key: str, member: Any, prefix: str) -> None:
        def apply(kind: str, value: Any, hard: bool, _grid_path: str) -> None:
            if key != "chunk":
                usages: tuple[str, ...] = (key,)
            elif kind == "aspect":
                usages = USAGES
            else:
                usages = ("write_chunk", "read_chunk")
            if kind != "elements":
                self._set_rank(len(value), json_path(prefix, [key, _member(kind, hard)]))
            try:
                self._apply(usages, kind, value, hard, prefix)
            except SpecError as exc:
                if key != "chunk":
                    raise
                # Report the member the user wrote, and which grid it conflicted with.
                raise SpecError(json_path(prefix, [key, _member(kind, hard)]),
                                str(exc)) from None

        parse_grid_json(member, GridState(), self, json_path(prefix, [key]), apply)

    def to_json(self) -> dict[str, Any]:
        """The JSON form; ``rank`` is included only when no other member implies it."""
        out: dict[str, Any] = {}
        if any(self._origin_hard):
            out["grid_origin"] = [v if h else None
                                  for v, h in zip(self._origin, self._origin_hard, strict=True)]
        soft_origin = [None if h else v
                       for v, h in zip(self._origin, self._origin_hard, strict=True)]
        if any(v is not None for v in soft_origin):
            out["grid_origin_soft_constraint"] = soft_origin
        if self._inner_order is not None:
            name = "inner_order" if self._inner_order_hard else "inner_order_soft_constraint"
            out[name] = list(self._inner_order)
        for usage in USAGES:
            grid_json = self._grids[usage].to_json()
            if grid_json:
                out[usage] = grid_json
        has_vectors = ("grid_origin" in out or "grid_origin_soft_constraint" in out
                       or self._inner_order is not None
                       or any(state.has_vectors() for state in self._grids.values()))
        if self._rank is not None and not has_vectors:
            out["rank"] = self._rank
        return dict(sorted(out.items()))

    # -- keyword arguments -----------------------------------------------------------------------
    def update(
        self,
        *,
        rank: int | None = None,
        inner_order: Sequence[int] | None = None,
        inner_order_soft_constraint: Sequence[int] | None = None,
        grid_origin: IntVector | None = None,
        grid_origin_soft_constraint: IntVector | None = None,
        chunk: ChunkGrid | None = None,
        write_chunk: ChunkGrid | None = None,
        read_chunk: ChunkGrid | None = None,
        codec_chunk: ChunkGrid | None = None,
        chunk_shape: IntVector | None = None,
        chunk_shape_soft_constraint: IntVector | None = None,
        write_chunk_shape: IntVector | None = None,
        write_chunk_shape_soft_constraint: IntVector | None = None,
        read_chunk_shape: IntVector | None = None,
        read_chunk_shape_soft_constraint: IntVector | None = None,
        codec_chunk_shape: IntVector | None = None,
        codec_chunk_shape_soft_constraint: IntVector | None = None,
        chunk_aspect_ratio: FloatVector | None = None,
        chunk_aspect_ratio_soft_constraint: FloatVector | None = None,
        write_chunk_aspect_ratio: FloatVector | None = None,
        write_chunk_aspect_ratio_soft_constraint: FloatVector | None = None,
        read_chunk_aspect_ratio: FloatVector | None = None,
        read_chunk_aspect_ratio_soft_constraint: FloatVector | None = None,
        codec_chunk_aspect_ratio: FloatVector | None = None,
        codec_chunk_aspect_ratio_soft_constraint: FloatVector | None = None,
        chunk_elements: int | None = None,
        chunk_elements_soft_constraint: int | None = None,
        write_chunk_elements: int | None = None,
        write_chunk_elements_soft_constraint: int | None = None,
        read_chunk_elements: int | None = None,
        read_chunk_elements_soft_constraint: int | None = None,
        codec_chunk_elements: int | None = None,
        codec_chunk_elements_soft_constraint: int | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Add constraints (applied in signature order); conflicts raise ``ValueError``."""
        if rank is not None and rank != -1:  # -1 means "unspecified", as in the wheel
            self._set_rank(py_int(rank, "rank"), "rank")
        for order, hard, name in ((inner_order, True, "inner_order"),
                                  (inner_order_soft_constraint, False,
                                   "inner_order_soft_constraint")):
            if order is not None:
                values = py_int_vector(order, name)
                if values:  # an empty Python sequence constrains nothing (as in the wheel)
                    if any(v is None for v in values):
                        raise SpecError(name, f"invalid permutation: {values}")
                    self._set_inner_order(values, hard, name)  # type: ignore[arg-type]
        for origin, hard, name in ((grid_origin, True, "grid_origin"),
                                   (grid_origin_soft_constraint, False,
                                    "grid_origin_soft_constraint")):
            if origin is not None and len(values := py_int_vector(origin, name)):
                self._set_origin(values, hard, name)
        for grid, name in ((chunk, "chunk"), (write_chunk, "write_chunk"),
                           (read_chunk, "read_chunk"), (codec_chunk, "codec_chunk")):
            if grid is not None:
                self._merge_grid(name, grid)
        by_kind: tuple[tuple[str, str, Any, Any], ...] = (
            ("shape", "chunk", chunk_shape, chunk_shape_soft_constraint),
            ("shape", "write_chunk", write_chunk_shape, write_chunk_shape_soft_constraint),
            ("shape", "read_chunk", read_chunk_shape, read_chunk_shape_soft_constraint),
            ("shape", "codec_chunk", codec_chunk_shape, codec_chunk_shape_soft_constraint),
            ("aspect", "chunk", chunk_aspect_ratio, chunk_aspect_ratio_soft_constraint),
            ("aspect", "write_chunk", write_chunk_aspect_ratio,
             write_chunk_aspect_ratio_soft_constraint),
            ("aspect", "read_chunk", read_chunk_aspect_ratio,
             read_chunk_aspect_ratio_soft_constraint),
            ("aspect", "codec_chunk", codec_chunk_aspect_ratio,
             codec_chunk_aspect_ratio_soft_constraint),
            ("elements", "chunk", chunk_elements, chunk_elements_soft_constraint),
            ("elements", "write_chunk", write_chunk_elements,
             write_chunk_elements_soft_constraint),
            ("elements", "read_chunk", read_chunk_elements, read_chunk_elements_soft_constraint),
            ("elements", "codec_chunk", codec_chunk_elements,
             codec_chunk_elements_soft_constraint),
        )
        suffix = {"shape": "shape", "aspect": "aspect_ratio", "elements": "elements"}
        for kind, target, hard_value, soft_value in by_kind:
            usages = _usages(target, kind)
            for value, hard in ((hard_value, True), (soft_value, False)):
                if value is None:
                    continue
                name = f"{target}_{suffix[kind]}" + ("" if hard else "_soft_constraint")
                if kind == "shape":
                    converted: Any = py_int_vector(value, name)
                elif kind == "aspect":
                    converted = py_float_vector(value, name)
                else:
                    converted = py_int(value, name)
                if kind != "elements" and not converted:
                    continue  # as in the wheel, an empty Python sequence constrains nothing
                self._apply(usages, kind, converted, hard, "")
        if finalize:
            self._finalize()

    def _merge_grid(self, name: str, grid: ChunkGrid) -> None:
        if not isinstance(grid, ChunkGrid):
            raise TypeError(f"Invalid {name}: expected ChunkLayout.Grid, got {grid!r}")
        state = grid._state
        if grid.rank is not None:
            self._set_rank(grid.rank, name)
        for usage in _usages(name, "shape"):
            if grid.rank is not None:
                self._grids[usage].merge(state, usage, aspect=False)
            elif state.elements is not None:
                self._grids[usage].set_elements(state.elements, state.elements_hard, usage)
        if grid.rank is not None:
            for usage in _usages(name, "aspect"):
                self._grids[usage].merge(state, usage, shape=False, elements=False)

    def _finalize(self) -> None:
        if self._rank is None:
            raise SpecError("finalize", "rank must be specified")
        for dim, hard in enumerate(self._origin_hard):
            if not hard:
                raise SpecError("finalize", f"no grid_origin hard constraint for dimension {dim}")
        write, read = self._grids["write_chunk"], self._grids["read_chunk"]
        for state in self._grids.values():
            state.shape = [v if h else 0 for v, h in zip(state.shape, state.shape_hard, strict=True)]
            state.aspect = [0.0] * self._rank
            state.aspect_hard = [False] * self._rank
            state.elements, state.elements_hard = None, False
        for dim in range(self._rank):
            if read.shape[dim] == 0 and write.shape[dim] != 0:
                read.shape[dim], read.shape_hard[dim] = write.shape[dim], True
        for w, r in zip(write.shape, read.shape, strict=True):
            if w != 0 and (r == 0 or w % r):
                raise SpecError(
                    "finalize",
                    f"write chunk shape {write.shape} is not a multiple of read chunk shape "
                    f"{read.shape}",
                )

    # -- accessors ----------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        """Number of dimensions, ``-1`` if unspecified (as the wheel reports it)."""
        return -1 if self._rank is None else self._rank

    @property
    def ndim(self) -> int:
        """Alias for ``rank``."""
        return self.rank

    @property
    def grid_origin(self) -> tuple[int | None, ...] | None:
        """Hard constraints on the chunk grid origin."""
        if self._rank is None:
            return None
        return tuple(v if h else None for v, h in zip(self._origin, self._origin_hard,
                                                      strict=True))

    @property
    def grid_origin_soft_constraint(self) -> tuple[int | None, ...] | None:
        """Soft constraints on the chunk grid origin."""
        if self._rank is None:
            return None
        return tuple(None if h else v for v, h in zip(self._origin, self._origin_hard,
                                                      strict=True))

    @property
    def inner_order(self) -> tuple[int, ...] | None:
        """Hard constraint on the storage order within chunks (``None`` if not hard)."""
        return self._inner_order if self._inner_order_hard else None

    @property
    def inner_order_soft_constraint(self) -> tuple[int, ...] | None:
        """Soft constraint on the storage order within chunks."""
        if self._rank == 0 and not self._inner_order_hard:
            return ()  # the only order of zero dimensions (reported like the wheel does)
        return None if self._inner_order_hard else self._inner_order

    @property
    def write_chunk(self) -> ChunkGrid:
        """Constraints on write chunks."""
        return ChunkGrid._from_state(self._rank, self._grids["write_chunk"])

    @property
    def read_chunk(self) -> ChunkGrid:
        """Constraints on read chunks."""
        return ChunkGrid._from_state(self._rank, self._grids["read_chunk"])

    @property
    def codec_chunk(self) -> ChunkGrid:
        """Constraints on codec chunks."""
        return ChunkGrid._from_state(self._rank, self._grids["codec_chunk"])

    @property
    def write_chunk_template(self) -> Any:
        """The write chunk at the grid origin as an ``IndexDomain`` (hard constraints only)."""
        return self._chunk_template("write_chunk")

    @property
    def read_chunk_template(self) -> Any:
        """The read chunk at the grid origin as an ``IndexDomain`` (hard constraints only)."""
        return self._chunk_template("read_chunk")

    def _chunk_template(self, usage: str) -> Any:
        if self._rank is None:
            raise SpecError("", "rank must be specified to compute a chunk template")
        from ..index_space import IndexDomain, inf

        state = self._grids[usage]
        lower: list[Any] = []
        upper: list[Any] = []
        for dim in range(self._rank):
            origin = self._origin[dim] if self._origin_hard[dim] else None
            size = state.shape[dim] if state.shape_hard[dim] else 0
            if origin is None or size == 0:
                lower.append(-inf)
                upper.append(inf)
            else:
                if origin + size > MAX_FINITE_INDEX + 1:
                    raise SpecError(usage, f"chunk at origin {origin} with size {size} is "
                                           "outside the valid index range")
                lower.append(origin)
                upper.append(origin + size - 1)
        return IndexDomain(inclusive_min=lower, inclusive_max=upper)

    # -- value semantics ---------------------------------------------------------------------------
    def _key(self) -> tuple[Any, ...]:
        return (self._rank, self._origin, self._origin_hard, self._inner_order,
                self._inner_order_hard, *(self._grids[u].key() for u in USAGES))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChunkLayout):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChunkLayout, (self.to_json(),))

    def __repr__(self) -> str:
        return pretty_repr("ChunkLayout(", self.to_json())

    def copy(self) -> ChunkLayout:
        """An independent copy."""
        other = ChunkLayout()
        other.merge(self)
        other._json_path_prefix = self._json_path_prefix
        return other

    def merge(self, other: ChunkLayout, json_path_prefix: str = "") -> None:
        """Merge all constraints of ``other`` into this layout (errors name the member)."""
        if other._rank is not None:
            self._set_rank(other._rank, json_path(json_path_prefix, ["rank"]))
            origin_path = json_path(json_path_prefix, ["grid_origin"])
            hard = [v if h else None for v, h in zip(other._origin, other._origin_hard,
                                                     strict=True)]
            soft = [None if h else v for v, h in zip(other._origin, other._origin_hard,
                                                     strict=True)]
            merge_vector(self._origin, self._origin_hard, hard, True, None, origin_path)
            merge_vector(self._origin, self._origin_hard, soft, False, None,
                         origin_path + "_soft_constraint")
        if other._inner_order is not None:
            name = "inner_order" if other._inner_order_hard else "inner_order_soft_constraint"
            self._set_inner_order(other._inner_order, other._inner_order_hard,
                                  json_path(json_path_prefix, [name]))
        for usage in USAGES:
            state = other._grids[usage]
            path = json_path(json_path_prefix, [usage])
            if other._rank is not None:
                self._grids[usage].merge(state, path)
            elif state.elements is not None:
                self._grids[usage].set_elements(state.elements, state.elements_hard, path)


def _member(kind: str, hard: bool) -> str:
    name = {"shape": "shape", "aspect": "aspect_ratio", "elements": "elements"}[kind]
    return name if hard else f"{name}_soft_constraint"


def _usages(target: str, kind: str) -> tuple[str, ...]:
    if target != "chunk":
        return (target,)
    return USAGES if kind == "aspect" else ("write_chunk", "read_chunk")


def chunk_layout_from_json(value: Any, json_path_prefix: str = "") -> ChunkLayout:
    """Parse a JSON chunk layout; errors name the member under ``json_path_prefix``."""
    layout = ChunkLayout()
    layout._parse_json(value, json_path_prefix)
    layout._json_path_prefix = json_path_prefix
    return layout
