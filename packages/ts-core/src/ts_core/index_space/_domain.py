"""``IndexDomain``: a labelled box of index intervals, possibly with implicit bounds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._interval import (
    INF_SIZE,
    MAX_FINITE_INDEX,
    Dim,
    inf,
    is_index_like,
    validate_closed,
    validate_half_open,
)
from ._mixin import DimOpsMixin

if TYPE_CHECKING:
    from ._transform import IndexTransform


def check_unique_labels(labels: Sequence[str], error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the repeated non-empty labels, as tensorstore does."""
    if len(set(labels)) == len(labels):
        return  # all distinct (at most one empty label)
    seen: set[str] = set()
    dups: list[str] = []
    for label in labels:
        if label:
            if label in seen and label not in dups:
                dups.append(label)
            seen.add(label)
    if dups:
        raise error(f"Dimension label(s) {', '.join(repr_label(x) for x in dups)} not unique")


def repr_label(label: str) -> str:
    """A label in double quotes, as tensorstore prints it."""
    return f'"{label}"'


#: tensorstore's kMaxRank.
MAX_RANK = 32
_COMPONENTS = (
    "inclusive_min",
    "implicit_lower_bounds",
    "exclusive_max",
    "inclusive_max",
    "shape",
    "implicit_upper_bounds",
    "labels",
)
#: Names of the components as ``IndexTransform`` spells its keyword arguments.
TRANSFORM_NAMES = {
    "rank": "input_rank",
    "inclusive_min": "input_inclusive_min",
    "implicit_lower_bounds": "implicit_lower_bounds",
    "exclusive_max": "input_exclusive_max",
    "inclusive_max": "input_inclusive_max",
    "shape": "input_shape",
    "implicit_upper_bounds": "implicit_upper_bounds",
    "labels": "input_labels",
}
_DOMAIN_NAMES = {name: name for name in ("rank", *_COMPONENTS)}


def _vector(name: str, value: Any, names: dict[str, str]) -> list[Any]:
    """One component as a list, with tensorstore's argument types (``TypeError`` otherwise)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(f"`{names[name]}` must be a sequence, not {type(value).__name__}")
    items = list(value)
    if name == "labels":
        for item in items:
            if item is not None and not isinstance(item, str):
                raise TypeError(
                    f"`{names[name]}` must contain str or None, not {type(item).__name__}"
                )
        return ["" if item is None else item for item in items]
    if name.startswith("implicit"):
        return [bool(item) for item in items]
    out = []
    for item in items:
        if not is_index_like(item) or not -(1 << 63) <= int(item.__index__()) < (1 << 63):
            raise TypeError(f"`{names[name]}` must contain 64-bit integers, not {item!r}")
        out.append(int(item.__index__()))
    return out


def domain_from_components(
    rank: Any, components: dict[str, Any], names: dict[str, str] = _DOMAIN_NAMES
) -> IndexDomain:
    """``IndexDomain(rank, inclusive_min=..., ...)`` (also ``IndexTransform``'s, with its names)."""
    n: int | None = None
    source = ""
    if rank is not None:
        if not is_index_like(rank):
            raise TypeError(f"`{names['rank']}` must be an integer, not {type(rank).__name__}")
        n = int(rank.__index__())
        if not 0 <= n <= MAX_RANK:
            raise ValueError(f"Invalid {names['rank']}: {n}")
        source = "rank"
    values: dict[str, list[Any]] = {}
    for name in _COMPONENTS:
        value = components.get(name)
        if value is None:
            continue
        vector = _vector(name, value, names)
        if n is not None and len(vector) != n:
            raise ValueError(
                f"Rank specified by `{names[name]}` ({len(vector)}) does not match rank "
                f"specified by `{names[source]}` ({n})"
            )
        n, source = len(vector), name
        values[name] = vector
    if n is None:
        raise ValueError(f"Must specify `{names['rank']}`")
    if n > MAX_RANK:
        raise ValueError(f"Invalid {names['rank']}: {n}")
    for a, b in (
        ("exclusive_max", "inclusive_max"),
        ("exclusive_max", "shape"),
        ("inclusive_max", "shape"),
    ):
        if a in values and b in values:
            raise ValueError(f"Cannot specify both `{names[a]}` and `{names[b]}`")
    shape = values.get("shape")
    lo = values.get("inclusive_min") or [0 if shape is not None else -inf] * n
    hi: list[int] = []
    for i in range(n):
        if shape is not None:
            if not (
                shape[i] >= 0 and -inf <= lo[i] <= MAX_FINITE_INDEX and lo[i] + shape[i] - 1 <= inf
            ):
                raise ValueError(
                    f"({lo[i]}, {shape[i]}) do not specify a valid sized index interval"
                )
            hi.append(lo[i] + shape[i])
        elif "inclusive_max" in values:
            validate_closed(lo[i], values["inclusive_max"][i])
            hi.append(values["inclusive_max"][i] + 1)
        else:
            hi.append(values["exclusive_max"][i] if "exclusive_max" in values else inf + 1)
            validate_half_open(lo[i], hi[i])
    lower_given = "inclusive_min" in values or shape is not None
    upper_given = shape is not None or "exclusive_max" in values or "inclusive_max" in values
    labels = tuple(values.get("labels") or ("",) * n)
    check_unique_labels(labels)
    return IndexDomain._make(
        tuple(lo),
        tuple(hi),
        tuple(values.get("implicit_lower_bounds") or (not lower_given,) * n),
        tuple(values.get("implicit_upper_bounds") or (not upper_given,) * n),
        labels,
    )


def definitely_empty(domain: IndexDomain) -> bool:
    """Whether a dimension of size 0 has two explicit bounds (implicit ones may still grow)."""
    hi = domain._exclusive_max
    for i, a in enumerate(domain._inclusive_min):
        if a >= hi[i] and not domain._implicit_lower[i] and not domain._implicit_upper[i]:
            return True
    return False


class IndexDomain(DimOpsMixin):
    """A box ``[inclusive_min, exclusive_max)`` per dimension, with labels and implicit flags."""

    __slots__ = (
        "_exclusive_max",
        "_implicit_lower",
        "_implicit_upper",
        "_inclusive_min",
        "_labels",
    )

    _inclusive_min: tuple[int, ...]
    _exclusive_max: tuple[int, ...]
    _implicit_lower: tuple[bool, ...]
    _implicit_upper: tuple[bool, ...]
    _labels: tuple[str, ...]

    def __init__(
        self,
        rank: int | Iterable[Dim] | None = None,
        *,
        inclusive_min: Sequence[int] | None = None,
        implicit_lower_bounds: Sequence[bool] | None = None,
        exclusive_max: Sequence[int] | None = None,
        inclusive_max: Sequence[int] | None = None,
        shape: Sequence[int] | None = None,
        implicit_upper_bounds: Sequence[bool] | None = None,
        labels: Sequence[str | None] | None = None,
        dimensions: Iterable[Dim] | None = None,
        json: Any = None,
    ) -> None:
        components = {
            "inclusive_min": inclusive_min,
            "implicit_lower_bounds": implicit_lower_bounds,
            "exclusive_max": exclusive_max,
            "inclusive_max": inclusive_max,
            "shape": shape,
            "implicit_upper_bounds": implicit_upper_bounds,
            "labels": labels,
        }
        others = [name for name, value in components.items() if value is not None]
        if rank is not None and not is_index_like(rank):
            rank, dimensions = None, rank  # the IndexDomain(dimensions) form
            if dimensions is None:
                raise TypeError("IndexDomain(dimensions) expects an iterable of ts.Dim")
        if (json is not None or dimensions is not None) and (
            others or rank is not None or (json is not None and dimensions is not None)
        ):
            raise TypeError(
                "IndexDomain() takes either component keyword arguments, a sequence of "
                "ts.Dim, or json=, not a combination"
            )
        if json is not None:
            from ._json import domain_from_json

            _copy_into(self, domain_from_json(json))
            return
        if dimensions is not None:
            if isinstance(dimensions, str | bytes) or not hasattr(dimensions, "__iter__"):
                raise TypeError("IndexDomain(dimensions) expects an iterable of ts.Dim")
            dims = list(dimensions)
            if not all(isinstance(d, Dim) for d in dims):
                raise TypeError("IndexDomain(dimensions) expects an iterable of ts.Dim")
            if len(dims) > MAX_RANK:
                raise ValueError(f"Invalid rank: {len(dims)}")
            labels_ = tuple(d.label for d in dims)
            check_unique_labels(labels_)
            self._set(
                tuple(d.inclusive_min for d in dims),
                tuple(d.exclusive_max for d in dims),
                tuple(d.implicit_lower for d in dims),
                tuple(d.implicit_upper for d in dims),
                labels_,
            )
            return
        _copy_into(self, domain_from_components(rank, components))

    def _set(
        self,
        lo: tuple[int, ...],
        hi: tuple[int, ...],
        il: tuple[bool, ...],
        iu: tuple[bool, ...],
        labels: tuple[str, ...],
    ) -> None:
        self._inclusive_min = lo
        self._exclusive_max = hi
        self._implicit_lower = il
        self._implicit_upper = iu
        self._labels = labels

    @classmethod
    def _make(
        cls,
        lo: tuple[int, ...],
        hi: tuple[int, ...],
        il: tuple[bool, ...],
        iu: tuple[bool, ...],
        labels: tuple[str, ...],
    ) -> IndexDomain:
        """Build from already-validated tuples (internal fast path)."""
        self = object.__new__(cls)
        self._inclusive_min = lo
        self._exclusive_max = hi
        self._implicit_lower = il
        self._implicit_upper = iu
        self._labels = labels
        return self

    # -- properties ---------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return len(self._inclusive_min)

    @property
    def ndim(self) -> int:
        return len(self._inclusive_min)

    @property
    def inclusive_min(self) -> tuple[int, ...]:
        return self._inclusive_min

    @property
    def origin(self) -> tuple[int, ...]:
        return self._inclusive_min

    @property
    def exclusive_max(self) -> tuple[int, ...]:
        return self._exclusive_max

    @property
    def inclusive_max(self) -> tuple[int, ...]:
        return tuple(x - 1 for x in self._exclusive_max)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self._inclusive_min, self._exclusive_max, strict=True))

    @property
    def size(self) -> int:
        total = 1
        for n in self.shape:
            total *= n
        return min(total, INF_SIZE)  # saturates like tensorstore

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def implicit_lower_bounds(self) -> tuple[bool, ...]:
        return self._implicit_lower

    @property
    def implicit_upper_bounds(self) -> tuple[bool, ...]:
        return self._implicit_upper

    @property
    def bounds(self) -> IndexDomain:
        """The box alone: same bounds and implicit flags, labels dropped (a handbook spelling)."""
        return IndexDomain._make(
            self._inclusive_min,
            self._exclusive_max,
            self._implicit_lower,
            self._implicit_upper,
            ("",) * self.rank,
        )

    @property
    def index_exp(self) -> tuple[slice, ...]:
        """The domain as a tuple of slices, for NumPy-style indexing of another view."""
        return tuple(
            slice(None if a == -inf else a, None if b == inf + 1 else b)
            for a, b in zip(self._inclusive_min, self._exclusive_max, strict=True)
        )

    def _dim(self, i: int) -> Dim:
        return Dim._make(
            self._inclusive_min[i],
            self._exclusive_max[i],
            self._implicit_lower[i],
            self._implicit_upper[i],
            self._labels[i],
        )

    def __len__(self) -> int:
        return self.rank

    def __iter__(self) -> Iterator[Dim]:
        return (self._dim(i) for i in range(self.rank))

    # -- selection ----------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Any:
        """``int``/label -> ``Dim``; a dimension selection -> ``IndexDomain``; dimension
        expressions, domains and transforms apply as they do to a transform."""
        from ._dim_expression import DimExpression, resolve_dimension

        if isinstance(index, str) or (
            hasattr(index, "__index__") and not isinstance(index, np.ndarray | np.bool_)
        ):
            return self._dim(
                resolve_dimension(
                    index.__index__() if not isinstance(index, str) else index, self._labels
                )
            )
        if isinstance(index, DimExpression) and not index._ops:
            return self._select(index._selection)
        from ._transform import IndexTransform

        if isinstance(index, DimExpression | IndexDomain) or (
            isinstance(index, tuple)
            and index
            and all(isinstance(x, DimExpression) and x._ops for x in index)
        ):
            return IndexTransform._make(self, ())[index].domain
        if isinstance(index, IndexTransform):
            return IndexTransform._identity(self)[index].domain
        if isinstance(index, slice | tuple | list):
            from ._dim_expression import _flatten_selection

            return self._select(_flatten_selection(index))
        raise TypeError(f"Cannot index IndexDomain with {type(index).__name__}")

    def _select(self, selection: Sequence[Any]) -> IndexDomain:
        """The sub-domain of a dimension selection (errors are ``ValueError`` here)."""
        from ._dim_expression import resolve_selection

        try:
            return self._subset(resolve_selection(selection, self._labels))
        except IndexError as exc:
            raise ValueError(str(exc)) from None

    def _subset(self, dims: Sequence[int]) -> IndexDomain:
        return IndexDomain._make(
            tuple(self._inclusive_min[i] for i in dims),
            tuple(self._exclusive_max[i] for i in dims),
            tuple(self._implicit_lower[i] for i in dims),
            tuple(self._implicit_upper[i] for i in dims),
            tuple(self._labels[i] for i in dims),
        )

    # -- IndexTransformable hooks ---------------------------------------------------------------
    def _index_transform(self) -> IndexTransform:
        from ._transform import IndexTransform

        # No output maps: like tensorstore, index arrays applied to a bare domain are not
        # bounds-checked (there is nothing they index into); ints and slices still are.
        return IndexTransform._make(self, ())

    def _with_index_transform(self, transform: IndexTransform) -> IndexDomain:
        return transform.domain

    # -- set operations -----------------------------------------------------------------------
    def intersect(self, other: IndexDomain) -> IndexDomain:
        return self._combine(other, "intersect")

    def hull(self, other: IndexDomain) -> IndexDomain:
        return self._combine(other, "hull")

    def _combine(self, other: IndexDomain, op: str) -> IndexDomain:
        if not isinstance(other, IndexDomain):
            raise TypeError(f"IndexDomain.{op} expects an IndexDomain, not {type(other).__name__}")
        if self.rank != other.rank:
            raise ValueError(
                f"Cannot {op} index domain {self} with index domain {other}: Ranks do not match"
            )
        dims = []
        for i in range(self.rank):
            try:
                dims.append(getattr(self._dim(i), op)(other._dim(i)))
            except ValueError as exc:
                raise ValueError(
                    f"Cannot {op} index domain {self} with index domain {other}: Mismatch in dimension {i}: {exc}"
                ) from None
        return IndexDomain(dims)

    # -- identity / text ----------------------------------------------------------------------
    def _key(self) -> tuple[Any, ...]:
        return (
            self._inclusive_min,
            self._exclusive_max,
            self._implicit_lower,
            self._implicit_upper,
            self._labels,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexDomain):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (IndexDomain._make, self._key())

    def __str__(self) -> str:
        return "{ " + ", ".join(str(self._dim(i)) for i in range(self.rank)) + " }"

    def __repr__(self) -> str:
        return str(self)

    def to_json(self) -> dict[str, Any]:
        """tensorstore's IndexDomain JSON (``[[n]]`` for implicit bounds, ``"rank"`` if unbounded)."""
        from ._json import domain_to_json

        return domain_to_json(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        """An object array of the dimensions (``ts.Dim``), as tensorstore's sequence protocol gives."""
        array = np.empty(self.rank, dtype=object)
        array[:] = list(self)
        return array


def _copy_into(target: IndexDomain, source: IndexDomain) -> None:
    target._set(*source._key())
