"""``IndexDomain``: a labelled box of index intervals, possibly with implicit bounds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._interval import INF_SIZE, Dim, inf, validate_half_open
from ._mixin import DimOpsMixin

if TYPE_CHECKING:
    from ._transform import IndexTransform


def check_unique_labels(labels: Sequence[str], error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the repeated non-empty labels, as tensorstore does."""
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


def _rank_of(name: str, value: Any, rank: int | None) -> int:
    if value is None:
        return -1 if rank is None else rank
    n = len(value)
    if rank is not None and rank >= 0 and n != rank:
        raise ValueError(
            f"Rank specified by `{name}` ({n}) does not match rank specified by other arguments ({rank})"
        )
    return n


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
        rank: int | Sequence[Dim] | None = None,
        *,
        inclusive_min: Sequence[int] | None = None,
        implicit_lower_bounds: Sequence[bool] | None = None,
        exclusive_max: Sequence[int] | None = None,
        inclusive_max: Sequence[int] | None = None,
        shape: Sequence[int] | None = None,
        implicit_upper_bounds: Sequence[bool] | None = None,
        labels: Sequence[str | None] | None = None,
        json: Any = None,
    ) -> None:
        if json is not None:
            from ._json import domain_from_json

            _copy_into(self, domain_from_json(json))
            return
        if rank is not None and not isinstance(rank, int):
            dims = list(rank)
            if not all(isinstance(d, Dim) for d in dims):
                raise TypeError("IndexDomain(dimensions) expects a sequence of ts.Dim")
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
        n = rank
        for name, value in (
            ("inclusive_min", inclusive_min),
            ("implicit_lower_bounds", implicit_lower_bounds),
            ("exclusive_max", exclusive_max),
            ("inclusive_max", inclusive_max),
            ("shape", shape),
            ("implicit_upper_bounds", implicit_upper_bounds),
            ("labels", labels),
        ):
            n = _rank_of(name, value, n)
        if n is None or n < 0:
            raise ValueError("Must specify rank")
        if sum(v is not None for v in (exclusive_max, inclusive_max, shape)) > 1:
            raise ValueError(
                "At most one of `exclusive_max`, `inclusive_max`, and `shape` may be specified"
            )
        if inclusive_min is None:
            lo = tuple(0 if shape is not None else -inf for _ in range(n))
        else:
            lo = tuple(int(x) for x in inclusive_min)
        if shape is not None:
            hi = tuple(a + int(s) for a, s in zip(lo, shape, strict=True))
        elif exclusive_max is not None:
            hi = tuple(int(x) for x in exclusive_max)
        elif inclusive_max is not None:
            hi = tuple(int(x) + 1 for x in inclusive_max)
        else:
            hi = (inf + 1,) * n
        for a, b in zip(lo, hi, strict=True):
            validate_half_open(a, b)
        il = (
            tuple(bool(x) for x in implicit_lower_bounds)
            if implicit_lower_bounds is not None
            else (inclusive_min is None and shape is None,) * n
        )
        upper_given = exclusive_max is not None or inclusive_max is not None or shape is not None
        iu = (
            tuple(bool(x) for x in implicit_upper_bounds)
            if implicit_upper_bounds is not None
            else (not upper_given,) * n
        )
        labels_ = (
            ("",) * n if labels is None else tuple("" if x is None else str(x) for x in labels)
        )
        check_unique_labels(labels_)
        self._set(lo, hi, il, iu, labels_)

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
        self._set(lo, hi, il, iu, labels)
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
            slice(a, b) for a, b in zip(self._inclusive_min, self._exclusive_max, strict=True)
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
        """``int``/label -> ``Dim``; slice/sequence of dims -> ``IndexDomain``; dim expressions apply."""
        from ._dim_expression import DimExpression

        if isinstance(index, str) or (
            isinstance(index, int | _np_integer()) and not isinstance(index, bool)
        ):
            from ._dim_expression import resolve_dimension

            return self._dim(resolve_dimension(index, self._labels))
        if isinstance(index, slice):
            from ._dim_expression import resolve_dim_slice

            return self._subset(resolve_dim_slice(index, self.rank))
        if isinstance(index, IndexDomain | DimExpression) or (
            isinstance(index, tuple) and index and all(isinstance(x, DimExpression) for x in index)
        ):
            from ._transform import IndexTransform

            return IndexTransform._make(self, ())[index].domain
        if isinstance(index, Sequence):
            from ._dim_expression import resolve_dimension

            dims = [resolve_dimension(x, self._labels) for x in index]
            if len(set(dims)) != len(dims):
                raise IndexError("Dimension specified more than once")
            return self._subset(dims)
        raise TypeError(f"Cannot index IndexDomain with {type(index).__name__}")

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

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("IndexDomain cannot be converted to an array")


def _np_integer() -> type:
    import numpy

    return numpy.integer


def _copy_into(target: IndexDomain, source: IndexDomain) -> None:
    target._set(*source._key())
