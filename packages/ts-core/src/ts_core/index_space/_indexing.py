"""NumPy-style indexing (default, ``oindex``, ``vindex``) compiled to index transforms.

Every index term becomes part of a *new* transform from the result domain into the indexed
transform's input space; ``compose_maps`` then folds it into the existing output maps. Semantics
follow tensorstore, which differs from NumPy: slice bounds are absolute indices (no negative
wrap-around), out-of-bounds explicit bounds are errors, and strided slices get the origin
``trunc(start / step)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import le
from typing import Any

import numpy as np

from ._compose import compose, compose_maps, effective_range
from ._dim_expression import (
    DimExpression,
    _repr_item,
    resolve_dim_slice,
    resolve_dimension,
    resolve_selection,
)
from ._domain import MAX_RANK, IndexDomain, definitely_empty
from ._interval import (
    MAX_FINITE_INDEX,
    MIN_FINITE_INDEX,
    NEG_INF,
    affine_preimage,
    format_interval,
    inf,
)
from ._output_map import ARRAY, INDEX_DTYPE, OutputIndexMap
from ._transform import IndexTransform

DEFAULT, OINDEX, VINDEX = "default", "oindex", "vindex"
_MODES = (DEFAULT, OINDEX, VINDEX)
_INVALID_TERM = (
    "Only integers, slices (`:`), ellipsis (`...`), tensorstore.newaxis (`None`) and integer or "
    "boolean arrays are valid indices"
)
_FULL_SLICE = slice(None)

# Term kinds.
_INT, _SLICE, _NEWAXIS, _ELLIPSIS, _ARRAY, _BOOL = range(6)
NEWAXIS_KIND = _NEWAXIS
SLICE_KIND = _SLICE
INT_KIND = _INT


class _Term:
    """One classified index term: kind, value, and how many input dimensions it consumes."""

    __slots__ = ("consumed", "kind", "value")

    def __init__(self, kind: int, value: Any, consumed: int) -> None:
        self.kind = kind
        self.value = value
        self.consumed = consumed


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_SLICE_INDEX_ERROR = "slice indices must be integers or None or have an __index__ method"


def _slice_part(value: Any) -> int | list[int | None] | None:
    """One of a slice's start/stop/step: ``None``, an index, or a vector of them (the most
    negative 64-bit integer is tensorstore's "implicit", i.e. ``None``)."""
    if value is None:
        return None
    if hasattr(value, "__index__") and not isinstance(value, np.ndarray | np.bool_):
        index = int(value.__index__())
        if not _INT64_MIN <= index <= _INT64_MAX:
            raise TypeError(_SLICE_INDEX_ERROR)
        return None if index == _INT64_MIN else index
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(_SLICE_INDEX_ERROR)
    out: list[int | None] = []
    for item in value:
        part = _slice_part(item)
        if isinstance(part, list):
            raise TypeError(_SLICE_INDEX_ERROR)
        out.append(part)
    return out


def _vector_repr(values: list[int | None]) -> str:
    return "[" + ",".join("*" if v is None else str(v) for v in values) + "]"


def _slice_terms(item: slice) -> tuple[list[_Term], bool]:
    """A slice as one term, or as one term per dimension when a bound is a vector."""
    names = ("start", "stop", "step")
    parts = [_slice_part(item.start), _slice_part(item.stop), _slice_part(item.step)]
    rank = -1
    seen = 0
    for k, part in enumerate(parts):
        if isinstance(part, list):
            if rank >= 0 and len(part) != rank:
                raise IndexError(
                    f"{names[k]}={_vector_repr(part)} (rank {len(part)}) is incompatible with "
                    f"{names[seen]}={_vector_repr(parts[seen])} (rank {rank})"  # type: ignore[arg-type]
                )
            rank, seen = len(part), k
    if rank < 0:
        step = parts[2]
        return [_Term(_SLICE, slice(parts[0], parts[1], None if step == 1 else step), 1)], True

    def at(part: Any, i: int) -> Any:
        return part[i] if isinstance(part, list) else part

    terms = []
    for i in range(rank):
        step = at(parts[2], i)
        terms.append(
            _Term(_SLICE, slice(at(parts[0], i), at(parts[1], i), None if step == 1 else step), 1)
        )
    return terms, False


def _classify(item: Any) -> _Term:
    """One non-slice term (slices go through ``_slice_terms``)."""
    if item is None:
        return _Term(_NEWAXIS, None, 0)
    if item is Ellipsis:
        return _Term(_ELLIPSIS, None, 0)
    if type(item) is int or (
        not isinstance(item, bool | np.bool_ | np.ndarray) and hasattr(item, "__index__")
    ):
        value = int(item.__index__())
        if _INT64_MIN <= value <= _INT64_MAX:
            return _Term(_INT, value, 1)
    is_array = isinstance(item, np.ndarray)
    array = np.asarray(item)
    if array.dtype == np.bool_:
        return _Term(_BOOL, array, array.ndim)
    if not is_array and array.size == 0 and array.dtype.kind in "biufc":
        array = array.astype(INDEX_DTYPE)
    if array.dtype.kind in "iu":
        if array.dtype != INDEX_DTYPE:
            array = array.astype(INDEX_DTYPE, casting="safe")  # uint64: TypeError, as tensorstore
        return _Term(_ARRAY, array, 1)
    if is_array:
        raise IndexError("Arrays used as indices must be of integer (or boolean) type")
    raise IndexError(_INVALID_TERM)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _braces(shape: Sequence[int]) -> str:
    return "{" + ", ".join(map(str, shape)) + "}"


def _broadcast_into(joint: list[int], shape: tuple[int, ...]) -> None:
    """Fold one index array's shape into the joint broadcast shape, in term order."""
    if len(joint) < len(shape):
        joint[:0] = [1] * (len(shape) - len(joint))
    offset = len(joint) - len(shape)
    for i, size in enumerate(shape):
        if size != 1:
            if joint[offset + i] not in (1, size):
                raise IndexError(
                    f"Incompatible index array shapes: {_braces(shape)} vs {_braces(joint)}"
                )
            joint[offset + i] = size


def parse_index(
    index: Any, selection_mode: str | None = None, chained: bool = False, mode: str = DEFAULT
) -> tuple[list[_Term], bool]:
    """Split an index into classified terms, and whether it is a single "scalar" term that a
    dimension expression applies to every selected dimension (an int, slice or newaxis not in
    a tuple).

    ``selection_mode`` (``"index"``, ``"oindex"``, ``"vindex"``) parses the index of a
    dimension expression, ``chained`` one that follows another operation: terms those forbid
    are refused in order, as tensorstore does.
    """
    if type(index) is tuple:
        items: Any = index
        scalar = False
    else:
        items = (index,)
        scalar = True
    terms: list[_Term] = []
    ellipsis = False
    joint: list[int] = []
    for item in items:
        if type(item) is int and _INT64_MIN < item <= _INT64_MAX:  # the common cases first
            terms.append(_Term(_INT, item, 1))
            continue
        if isinstance(item, slice):
            start, stop, step = item.start, item.stop, item.step
            if (
                (start is None or (type(start) is int and _INT64_MIN < start <= _INT64_MAX))
                and (stop is None or (type(stop) is int and _INT64_MIN < stop <= _INT64_MAX))
                and (step is None or (type(step) is int and _INT64_MIN < step <= _INT64_MAX))
            ):
                terms.append(_Term(_SLICE, item if step != 1 else slice(start, stop), 1))
                continue
            parts, simple = _slice_terms(item)
            terms.extend(parts)
            scalar = scalar and simple
            continue
        term = _classify(item)
        if selection_mode is not None:
            if chained and term.kind == _NEWAXIS:
                raise IndexError(
                    "tensorstore.newaxis (`None`) not valid in chained indexing operations"
                )
            if selection_mode == OINDEX and term.kind == _BOOL and term.consumed == 0:
                raise IndexError(
                    "Zero-rank bool array incompatible with outer indexing of a dimension selection"
                )
        if term.kind in (_ARRAY, _BOOL) and (selection_mode or mode) != OINDEX:
            _broadcast_into(joint, _term_shape(term))
        if term.kind == _ELLIPSIS:
            if ellipsis:
                raise IndexError("An index can only have a single ellipsis (`...`)")
            ellipsis = True
        if term.kind not in (_INT, _NEWAXIS) and not (term.kind == _ARRAY and term.value.ndim == 0):
            scalar = False
        terms.append(term)
    return terms, scalar


def _term_shape(term: _Term) -> tuple[int, ...]:
    """The index-array shape a term contributes (a bool array: its number of true elements)."""
    if term.kind == _ARRAY:
        return tuple(term.value.shape)
    if term.value.ndim == 0:
        return (1 if bool(term.value) else 0,)
    return (int(np.count_nonzero(term.value)),)


def classify_index(index: Any) -> list[_Term]:
    """Split an index into classified terms (a non-tuple index is a 1-tuple)."""
    return parse_index(index)[0]


def term_repr(term: _Term) -> str:
    """One term as tensorstore prints it inside a dimension expression."""
    if term.kind == _INT:
        return str(term.value)
    if term.kind == _NEWAXIS:
        return "None"
    if term.kind == _ELLIPSIS:
        return "..."
    if term.kind == _SLICE:
        s = term.value
        text = ("" if s.start is None else str(s.start)) + ":"
        text += "" if s.stop is None else str(s.stop)
        return text if s.step is None else f"{text}:{s.step}"
    if term.kind == _ARRAY:
        return repr(term.value)
    # Bool arrays are kept as the positions of their true elements; tensorstore prints the
    # smallest bool array with those positions.
    array = term.value
    if array.ndim == 0:
        return repr(array)
    positions = np.nonzero(array)
    shape = tuple(int(p.max()) + 1 if p.size else 1 for p in positions)
    rebuilt = np.zeros(shape, dtype=bool)
    rebuilt[positions] = True
    return repr(rebuilt)


def index_repr(terms: list[_Term], scalar: bool) -> str:
    """An index as tensorstore prints it (a lone non-scalar term gets a trailing comma)."""
    text = ",".join(term_repr(t) for t in terms)
    return text + "," if not scalar and len(terms) == 1 else text


def term_key(term: _Term) -> Any:
    """A comparable form of a term (arrays by shape and contents)."""
    if term.kind in (_ARRAY, _BOOL):
        value = term.value
        if term.kind == _BOOL and value.ndim:
            value = np.stack(np.nonzero(value))
        return (term.kind, value.shape, value.tobytes())
    if term.kind == _SLICE:
        return (term.kind, term.value.start, term.value.stop, term.value.step)
    return (term.kind, term.value)


# -- per-dimension pieces ---------------------------------------------------------------------------
def _check_int(value: int, domain: IndexDomain, j: int) -> None:
    check_int_bounds(
        value,
        domain._inclusive_min[j],
        domain._exclusive_max[j],
        domain._implicit_lower[j],
        domain._implicit_upper[j],
        j,
    )


def check_int_bounds(value: int, lo: int, hi: int, il: bool, iu: bool, j: int) -> None:
    """Raise unless ``value`` indexes dimension ``j`` with bounds ``[lo, hi)`` (implicit: none)."""
    if il:
        lo = -inf
    if iu:
        hi = inf + 1
    if not (lo <= value < hi and MIN_FINITE_INDEX <= value <= MAX_FINITE_INDEX):
        raise IndexError(
            f"OUT_OF_RANGE: Checking bounds of constant output index map for dimension {j}: "
            f"Index {value} is outside valid range {format_interval(lo, hi)}"
        )


def _slice_error(j: int, message: str) -> IndexError:
    return IndexError(f"Computing interval slice for dimension {j}: {message}")


def slice_interval(s: slice, domain: IndexDomain, j: int) -> tuple[int, int, bool, bool, int, int]:
    """``slice_bounds`` of dimension ``j`` of ``domain``."""
    return slice_bounds(
        s,
        domain._inclusive_min[j],
        domain._exclusive_max[j],
        domain._implicit_lower[j],
        domain._implicit_upper[j],
        j,
    )


def slice_bounds(
    s: slice, lo: int, hi: int, il: bool, iu: bool, j: int
) -> tuple[int, int, bool, bool, int, int]:
    """tensorstore's strided interval slice of dimension ``j``, bounds ``[lo, hi)`` with implicit
    flags ``il``/``iu``.

    Returns ``(new_min, new_exclusive_max, implicit_lower, implicit_upper, offset, stride)`` such
    that new index ``i`` maps to ``offset + stride * i`` in the old dimension. The checked interval
    is ``[start, stop)`` (``(stop, start]`` for a negative step); then, as tensorstore does, an
    omitted ``start`` keeps the old *lower* bound when that bound is implicit and an omitted
    ``stop`` keeps the old *upper* one, whatever the sign of the step.
    """
    start, stop, step = s.start, s.stop, s.step
    step = 1 if step is None else int(step)
    if step == 0:
        raise _slice_error(j, "Invalid stride 0")
    if start is not None and not NEG_INF <= start <= inf:
        raise _slice_error(j, f"Invalid start index {start}")
    # ``stop`` is exclusive only when it is a finite index: +/-inf (and invalid values, then
    # refused below) are taken as the closed bound itself, as tensorstore does.
    stop_finite = stop is not None and MIN_FINITE_INDEX <= stop <= MAX_FINITE_INDEX
    if step > 0:
        anchor = lo if start is None else int(start)
        first = anchor
        last = hi - 1 if stop is None else int(stop) - stop_finite
    else:
        anchor = hi - 1 if start is None else int(start)
        first = lo if stop is None else int(stop) + stop_finite
        last = anchor
    if last < first - 1 or first == inf or last == NEG_INF or first < NEG_INF or last > inf:
        raise _slice_error(j, f"({first}, {last}) do not specify a valid closed index interval")
    if last >= first and (
        (not il and first < lo) or (not iu and last >= hi) or first < NEG_INF or last > inf
    ):
        raise IndexError(
            f"OUT_OF_RANGE: Computing interval slice for dimension {j}: "
            f"Slice interval {format_interval(first, last + 1)} is not contained "
            f"within domain {format_interval(-inf if il else lo, inf + 1 if iu else hi)}"
        )
    x_lower_implicit = start is None and il
    x_upper_implicit = stop is None and iu
    if x_lower_implicit:
        first = lo
    if x_upper_implicit:
        last = hi - 1
    if step == 1:
        return first, last + 1, x_lower_implicit, x_upper_implicit, 0, 1
    if anchor in (NEG_INF, inf):
        if step != -1:
            raise _slice_error(j, f"Slicing with non-unit stride of {step} requires a finite start index")
        offset = 0
    else:
        # anchor - step * trunc(anchor / step): the remainder with the sign of ``anchor``.
        offset = anchor % abs(step) if anchor >= 0 else -(-anchor % abs(step))
    new_min, new_max, swapped = affine_preimage(first, last, offset, step)
    if new_max < new_min - 1:
        new_max = new_min - 1
    if swapped:
        return new_min, new_max + 1, x_upper_implicit, x_lower_implicit, offset, step
    return new_min, new_max + 1, x_lower_implicit, x_upper_implicit, offset, step


# -- main entry points ------------------------------------------------------------------------------
def apply_index(transform: IndexTransform, index: Any, mode: str = DEFAULT) -> IndexTransform:
    """Apply any supported index to ``transform``: NumPy-style terms (per ``mode``), an
    ``IndexTransform`` (composition), an ``IndexDomain`` (aligned slicing), a ``DimExpression``
    or a tuple of ``DimExpression`` (applied left to right)."""
    if mode == DEFAULT and (type(index) in _BASIC_TYPES or index is Ellipsis):
        basic = _basic_index(transform, index)
        if basic is not None:
            return basic
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if isinstance(index, DimExpression):
        return index._apply(transform)
    if isinstance(index, IndexTransform):
        return compose(transform, index)
    if isinstance(index, IndexDomain):
        return slice_by_domain(transform, index)
    if isinstance(index, tuple) and index and all(isinstance(x, DimExpression) for x in index):
        for expr in index:
            transform = expr._apply(transform)
        return transform
    return numpy_index(transform, parse_index(index, mode=mode)[0], mode)[0]


_BASIC_TYPES = (int, slice, tuple)


def _is_basic_bound(value: Any) -> bool:
    return value is None or (type(value) is int and _INT64_MIN < value <= _INT64_MAX)


def _basic_index(transform: IndexTransform, index: Any) -> IndexTransform | None:
    """The common index (ints, slices with plain int bounds, at most one ``...``) applied
    without term and slot objects; None for anything else, and for an index that fails, so
    the general path reports the error (both compute the same transform)."""
    items = index if type(index) is tuple else (index,)
    ellipsis_at = -1
    for position, item in enumerate(items):
        kind = type(item)
        if kind is int:
            if not _INT64_MIN < item <= _INT64_MAX:
                return None
        elif kind is slice:
            if not (_is_basic_bound(item.start) and _is_basic_bound(item.stop) and _is_basic_bound(item.step)):
                return None
        elif item is Ellipsis and ellipsis_at < 0:
            ellipsis_at = position
        else:
            return None
    old = transform._domain
    old_lo, old_hi = old._inclusive_min, old._exclusive_max
    old_il, old_iu, old_labels = old._implicit_lower, old._implicit_upper, old._labels
    rank = len(old_lo)
    consumed = len(items) - (ellipsis_at >= 0)
    if consumed > rank:
        return None
    lo: list[int] = []
    hi: list[int] = []
    il: list[bool] = []
    iu: list[bool] = []
    labels: list[str] = []
    inner: list[OutputIndexMap] = []
    int_checks: list[tuple[int, int]] = []
    single = OutputIndexMap._single
    try:
        j = 0
        for item in (*items, Ellipsis) if ellipsis_at < 0 else items:
            if item is Ellipsis:
                for _ in range(rank - consumed):
                    inner.append(single(len(lo), 0, 1))
                    lo.append(old_lo[j])
                    hi.append(old_hi[j])
                    il.append(old_il[j])
                    iu.append(old_iu[j])
                    labels.append(old_labels[j])
                    j += 1
                continue
            if type(item) is int:
                int_checks.append((item, j))
                inner.append(OutputIndexMap._constant(item))
            else:
                a, b, ia, ib, offset, stride = slice_interval(item, old, j)
                inner.append(single(len(lo), offset, stride))
                lo.append(a)
                hi.append(b)
                il.append(ia)
                iu.append(ib)
                labels.append(old_labels[j])
            j += 1
        domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
        if int_checks and not definitely_empty(domain):
            for value, k in int_checks:
                _check_int(value, old, k)
        return IndexTransform._make(domain, compose_maps(transform, tuple(inner), domain))
    except IndexError:
        return None


def slice_by_domain(transform: IndexTransform, domain: IndexDomain) -> IndexTransform:
    """``t[domain]``: dims matched by label (else by position), each restricted to ``domain``."""
    old = transform._domain
    if len(domain._labels) == len(old._labels) and (
        not any(domain._labels) or not any(old._labels)
    ):
        return _slice_by_box(transform, domain)
    return _slice_by_labels(transform, domain)


def _slice_by_labels(transform: IndexTransform, domain: IndexDomain) -> IndexTransform:
    """``slice_by_domain`` in general: match the dimensions, then check and restrict each."""
    old = transform._domain
    rank = old.rank
    if not any(domain.labels) or not any(old.labels):
        if domain.rank != rank:
            raise IndexError(
                f"Rank of index domain ({domain.rank}) must match rank of slice target ({rank}) when "
                "the index domain or slice target is unlabeled"
            )
        targets = list(range(rank))
    elif not all(domain.labels):
        if domain.rank != rank:
            raise IndexError(
                f"Rank ({domain.rank}) of index domain containing unlabeled dimensions must equal "
                f"slice target rank ({rank})"
            )
        # An unlabeled dimension of ``domain`` matches the next unlabeled dimension of ``old``.
        unlabeled = iter([k for k, label in enumerate(old.labels) if not label])
        targets = []
        for label in domain.labels:
            if label:
                targets.append(resolve_dimension(label, old.labels))
                continue
            k = next(unlabeled, None)
            if k is None:
                raise IndexError("Index domain has more unlabeled dimensions than the slice target")
            targets.append(k)
    else:
        targets = [resolve_dimension(label, old.labels) for label in domain.labels]
    lo, hi = list(old._inclusive_min), list(old._exclusive_max)
    il, iu = list(old._implicit_lower), list(old._implicit_upper)
    labels = list(old._labels)
    for i, j in enumerate(targets):
        nlo, nhi = domain._inclusive_min[i], domain._exclusive_max[i]
        elo, ehi = effective_range(old, j)
        if nhi > nlo and (nlo < elo or nhi > ehi):
            raise IndexError(
                f"OUT_OF_RANGE: Cannot slice target dimension {j} {{{old._dim(j)}}} with index domain "
                f"dimension {i} {{{domain._dim(i)}}}"
            )
        # The implicit flags of ``domain`` have no effect: the new bounds are explicit.
        lo[j], hi[j], il[j], iu[j] = nlo, nhi, False, False
        if domain._labels[i]:
            labels[j] = domain._labels[i]
    new_domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
    return _restricted(transform, new_domain)


#: ``(False,) * rank`` for every rank: the implicit flags of a domain sliced by a box.
_EXPLICIT = tuple((False,) * rank for rank in range(MAX_RANK + 1))


def _slice_by_box(transform: IndexTransform, domain: IndexDomain) -> IndexTransform:
    """``t[domain]`` matched by position (same rank, one side unlabeled): the chunk-restriction
    case, which needs no label matching; checks and result as ``slice_by_domain``'s."""
    old = transform._domain
    new_lo, new_hi = domain._inclusive_min, domain._exclusive_max
    # A box inside the old bounds always fits (C-level test); otherwise look closer: an
    # implicit bound is no limit, and an empty interval fits anywhere.
    if not (all(map(le, old._inclusive_min, new_lo)) and all(map(le, new_hi, old._exclusive_max))):
        for j, (nlo, nhi, lo, hi, il, iu) in enumerate(
            zip(new_lo, new_hi, old._inclusive_min, old._exclusive_max, old._implicit_lower,
                old._implicit_upper, strict=True)
        ):
            if nhi > nlo and ((nlo < lo and not il) or (nhi > hi and not iu)):
                raise IndexError(
                    f"OUT_OF_RANGE: Cannot slice target dimension {j} {{{old._dim(j)}}} with index "
                    f"domain dimension {j} {{{domain._dim(j)}}}"
                )
    # The implicit flags of ``domain`` have no effect: the new bounds are explicit.
    flags = _EXPLICIT[len(new_lo)]
    labels = domain._labels if any(domain._labels) else old._labels
    return _restricted(transform, IndexDomain._make(new_lo, new_hi, flags, flags, labels))


def _restricted(transform: IndexTransform, new_domain: IndexDomain) -> IndexTransform:
    """``transform`` on ``new_domain`` (a sub-box of its domain, same dimensions)."""
    for m in transform._output:
        if m._method is ARRAY:
            break
    else:
        # Constant and single-input maps are unchanged by a restriction of the domain.
        return IndexTransform._make(new_domain, transform._output, normalize=False)
    identity = tuple(OutputIndexMap._single(j, 0, 1) for j in range(new_domain.rank))
    maps = compose_maps(transform, identity, new_domain, simplify=False, normalize_empty=True)
    return IndexTransform._make(new_domain, maps)


class _Slot:
    """One position of the result layout: a term applied to old dims (or a new dimension)."""

    __slots__ = ("dims", "order", "sel_index", "selected", "term")

    def __init__(self, term: _Term, dims: list[int], order: int, selected: bool = True) -> None:
        self.sel_index = 0  # position in the selection: orders the dims a dim expression yields
        self.term = term
        self.dims = dims  # old input dims consumed
        self.order = order  # position of the term in the user's index (for array placement)
        self.selected = selected  # False for dims a dimension expression did not select


def numpy_index(
    transform: IndexTransform,
    terms: list[_Term],
    mode: str,
    selection: list[Any] | None = None,
    scalar_index: bool = False,
) -> tuple[IndexTransform, list[int]]:
    """Apply classified terms; with ``selection`` (a dim expression's dims) only those dims.

    ``scalar_index`` (a non-tuple int, slice or newaxis) applies the term to every selected dim.
    Returns the new transform and the result dimensions produced by the terms.
    """
    if selection is not None:
        basic = _basic_selection_index(transform, terms, selection, scalar_index)
        if basic is not None:
            return basic
    old = transform._domain
    rank = old.rank
    if (
        selection is not None
        and mode == OINDEX
        and any(t.kind == _BOOL and t.consumed == 0 for t in terms)
    ):
        raise IndexError(
            "Zero-rank bool array incompatible with outer indexing of a dimension selection"
        )
    slots = (
        _slots_for_all(terms, rank)
        if selection is None
        else _slots_for_selection(terms, selection, old, scalar_index)
    )
    return _build(transform, slots, mode, [t.kind for t in terms])


def _basic_selection_index(
    transform: IndexTransform, terms: list[_Term], selection: list[Any], scalar_index: bool
) -> tuple[IndexTransform, list[int]] | None:
    """A dimension expression's index of ints and slices, one per selected existing dim
    (any mode: without index arrays they agree), computed without slot objects; None for
    anything else, and for an index that fails, so the general path reports the error."""
    old = transform._domain
    try:
        basic = basic_selection(
            old._inclusive_min,
            old._exclusive_max,
            old._implicit_lower,
            old._implicit_upper,
            old._labels,
            terms,
            selection,
            scalar_index,
        )
        if basic is None:
            return None
        lo, hi, il, iu, labels, inner, dims = basic
        domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
        inner_maps = tuple(
            OutputIndexMap._constant(offset) if k < 0 else OutputIndexMap._single(k, offset, stride)
            for k, offset, stride in inner
        )
        maps = compose_maps(transform, inner_maps, domain)
    except IndexError:
        return None
    return IndexTransform._make(domain, maps), dims


#: One old dimension in terms of the new ones: ``(k, offset, stride)`` is
#: ``offset + stride * new[k]``, and ``(-1, value, 0)`` the constant ``value``.
DimSource = tuple[int, int, int]
#: Every dimension its own source, for each rank.
_IDENTITY_SOURCES = tuple(
    tuple((j, 0, 1) for j in range(rank)) for rank in range(MAX_RANK + 1)
)


def basic_selection(
    old_lo: Sequence[int],
    old_hi: Sequence[int],
    old_il: Sequence[bool],
    old_iu: Sequence[bool],
    old_labels: Sequence[str],
    terms: list[_Term],
    selection: Sequence[Any],
    scalar_index: bool,
) -> (
    tuple[list[int], list[int], list[bool], list[bool], Sequence[str], list[DimSource], list[int]]
    | None
):
    """An index of ints and slices applied to the selected dims of a domain given as
    per-dimension sequences: the new domain's lists, each old dim's source (``DimSource``) and
    the new dims the terms produced, in selection order. None when the index is not of this
    kind; ``IndexError`` when it does not apply (a dim selected twice, say) (the general path then
    reports the error as tensorstore words it)."""
    slices_only = True
    for t in terms:
        if t.kind != _SLICE:
            if t.kind != _INT:
                return None
            slices_only = False
    rank = len(old_lo)
    sel = resolve_selection(selection, old_labels, rank)  # a repeated dim: IndexError
    if scalar_index and len(sel) != 1:
        terms = [terms[0]] * len(sel)
    if len(terms) != len(sel) or len(set(sel)) != len(sel):
        return None
    if slices_only:
        # Every dim stays where it is: copy the bounds and replace the selected ones. (Errors
        # may come in another order than below; the general path reports them anyway.)
        lo_, hi_, il_, iu_ = list(old_lo), list(old_hi), list(old_il), list(old_iu)
        sources = list(_IDENTITY_SOURCES[rank])
        for slice_term, j in zip(terms, sel, strict=True):
            lo_[j], hi_[j], il_[j], iu_[j], offset, stride = slice_bounds(
                slice_term.value, old_lo[j], old_hi[j], old_il[j], old_iu[j], j
            )
            sources[j] = (j, offset, stride)
        return lo_, hi_, il_, iu_, old_labels, sources, sel
    term_of: list[_Term | None] = [None] * rank
    position_of = [0] * rank
    for position, j in enumerate(sel):
        term_of[j] = terms[position]
        position_of[j] = position
    lo: list[int] = []
    hi: list[int] = []
    il: list[bool] = []
    iu: list[bool] = []
    labels: list[str] = []
    inner: list[DimSource] = []
    int_checks: list[tuple[int, int]] = []
    produced: list[tuple[int, int]] = []
    for j in range(rank):
        term = term_of[j]
        if term is None:  # not selected: same bounds, identity map
            inner.append((len(lo), 0, 1))
            lo.append(old_lo[j])
            hi.append(old_hi[j])
            il.append(old_il[j])
            iu.append(old_iu[j])
            labels.append(old_labels[j])
        elif term.kind == _INT:
            int_checks.append((term.value, j))
            inner.append((-1, term.value, 0))
        else:
            a, b, ia, ib, offset, stride = slice_bounds(
                term.value, old_lo[j], old_hi[j], old_il[j], old_iu[j], j
            )
            produced.append((position_of[j], len(lo)))
            inner.append((len(lo), offset, stride))
            lo.append(a)
            hi.append(b)
            il.append(ia)
            iu.append(ib)
            labels.append(old_labels[j])
    if int_checks:
        # Checked only when the new domain is not definitely empty (as ``definitely_empty``).
        for k in range(len(lo)):
            if lo[k] >= hi[k] and not il[k] and not iu[k]:
                break
        else:
            for value, k in int_checks:
                check_int_bounds(value, old_lo[k], old_hi[k], old_il[k], old_iu[k], k)
    produced.sort()
    return lo, hi, il, iu, labels, inner, [k for _, k in produced]


def _slots_for_all(terms: list[_Term], rank: int) -> list[_Slot]:
    consumed = sum(t.consumed for t in terms)
    if consumed > rank:
        raise IndexError(
            f"Indexing expression requires {consumed} dimensions, and cannot be applied to a domain of rank {rank}"
        )
    if not any(t.kind == _ELLIPSIS for t in terms):
        terms = [*terms, _Term(_ELLIPSIS, None, 0)]
    slots: list[_Slot] = []
    j = 0
    for order, t in enumerate(terms):
        if t.kind == _ELLIPSIS:
            for _ in range(rank - consumed):
                slots.append(_Slot(_Term(_SLICE, _FULL_SLICE, 1), [j], -1))
                j += 1
            continue
        slots.append(_Slot(t, list(range(j, j + t.consumed)), order))
        j += t.consumed
    return slots


def _new_dim_count(s: slice) -> int:
    """How many new dims a slice selects when the rank is not yet known (tensorstore's rule):
    both ends must be counted from the same side of the domain."""
    step = 1 if s.step is None else int(s.step)
    start = (0 if step > 0 else -1) if s.start is None else int(s.start)
    if s.stop is None:
        if step > 0 and start < 0:
            return -(start // step) if start % step else -start // step
        if step < 0 and start >= 0:
            return start // -step + 1
    elif (start < 0) == (int(s.stop) < 0):
        return max(0, -((start - int(s.stop)) // step))
    raise IndexError(f"`{_repr_item(s)}` is not a valid specification for new dimensions")


def _slots_simple_selection(
    terms: list[_Term], selection: list[Any], old: IndexDomain, scalar_index: bool
) -> list[_Slot] | None:
    """Fast path: one int/slice/int-array term per selected existing dim (no ``...``/newaxis)."""
    for t in terms:
        if t.kind not in (_INT, _SLICE, _ARRAY):
            return None
    rank = old.rank
    sel: list[int] = []
    for item in selection:
        if isinstance(item, slice):
            sel.extend(resolve_dim_slice(item, rank))
        else:
            sel.append(resolve_dimension(item, old._labels))
    if scalar_index and len(sel) != 1:
        terms = [terms[0]] * len(sel)
    if len(terms) != len(sel) or len(set(sel)) != len(sel):
        return None  # let the general path report the error
    slots: list[_Slot | None] = [None] * rank
    for pos, (t, j) in enumerate(zip(terms, sel, strict=True)):
        slot = _Slot(t, [j], pos)
        slot.sel_index = pos
        slots[j] = slot
    for j in range(rank):
        if slots[j] is None:
            slots[j] = _Slot(_Term(_SLICE, _FULL_SLICE, 1), [j], -1, selected=False)
    return slots  # type: ignore[return-value]


def _slots_for_selection(
    terms: list[_Term], selection: list[Any], old: IndexDomain, scalar_index: bool
) -> list[_Slot]:
    rank = old.rank
    fast = _slots_simple_selection(terms, selection, old, scalar_index)
    if fast is not None:
        return fast
    n_new = sum(t.kind == _NEWAXIS for t in terms)

    def flatten(new_rank: int) -> list[Any]:
        # ints/slices are positions in the result domain; labels name existing dims (resolved later)
        flat: list[Any] = []
        for item in selection:
            if isinstance(item, slice):
                flat.extend(resolve_dim_slice(item, new_rank))
            elif isinstance(item, str):
                flat.append(item)
            else:
                flat.append(resolve_dimension(item, [""] * new_rank))
        return flat

    if scalar_index and terms[0].kind == _NEWAXIS:
        # one new dim per selected position; a slice must say how many without knowing the rank
        n_new = sum(_new_dim_count(item) if isinstance(item, slice) else 1 for item in selection)
    flat = flatten(rank + n_new)
    if scalar_index and len(flat) != 1:
        terms = [terms[0]] * len(flat)
    has_ellipsis = any(t.kind == _ELLIPSIS for t in terms)
    consumed = sum(t.consumed if t.kind != _NEWAXIS else 1 for t in terms)
    if consumed > len(flat) or (consumed < len(flat) and not has_ellipsis):
        raise IndexError(
            f"Indexing expression requires {consumed} dimensions but selection has {len(flat)} dimensions"
        )
    expanded: list[tuple[_Term, int]] = []
    for order, t in enumerate(terms):
        if t.kind == _ELLIPSIS:
            expanded.extend(
                (_Term(_SLICE, _FULL_SLICE, 1), -1) for _ in range(len(flat) - consumed)
            )
        else:
            expanded.append((t, order))
    new_rank = rank + n_new
    new_positions = set()
    pos = 0
    for t, _ in expanded:
        if t.kind == _NEWAXIS:
            if isinstance(flat[pos], str):
                raise IndexError("New dimensions cannot be specified by label")
            new_positions.add(flat[pos])
        pos += 1 if t.kind == _NEWAXIS else t.consumed
    old_of_position: dict[int, int] = {}
    j = 0
    for p in range(new_rank):
        if p not in new_positions:
            old_of_position[p] = j
            j += 1
    position_of_old = {k: p for p, k in old_of_position.items()}
    sel = [
        position_of_old[resolve_dimension(x, old.labels)] if isinstance(x, str) else x for x in flat
    ]
    if len(set(sel)) != len(sel):
        dup = next(x for x in sel if sel.count(x) > 1)
        raise IndexError(f"Dimension {dup} specified more than once")
    by_position: dict[int, _Slot] = {}
    before: dict[int, list[_Slot]] = {}  # dimension-free terms (0-d bool arrays) by position
    pos = 0
    for t, order in expanded:
        if t.consumed == 0 and t.kind != _NEWAXIS:
            before.setdefault(0, []).append(
                _Slot(t, [], order, selected=False)
            )  # tensorstore puts these first
            continue
        if t.kind == _NEWAXIS:
            by_position[sel[pos]] = _Slot(t, [], order)
            by_position[sel[pos]].sel_index = pos
            pos += 1
            continue
        dims = [old_of_position[p] for p in sel[pos : pos + t.consumed]]
        by_position[sel[pos]] = _Slot(t, dims, order)
        by_position[sel[pos]].sel_index = pos
        for p in sel[pos + 1 : pos + t.consumed]:
            by_position[p] = _Slot(_Term(_NEWAXIS, None, -1), [], -2)  # placeholder, dropped
        pos += t.consumed
    slots: list[Any] = []
    for p in range(new_rank + 1):
        slots.extend(before.get(p, ()))
        if p == new_rank:
            break
        slot = by_position.get(p)
        if slot is None:
            slots.append(
                _Slot(_Term(_SLICE, _FULL_SLICE, 1), [old_of_position[p]], -1, selected=False)
            )
        elif slot.order != -2:
            slots.append(slot)
    return slots


def _array_parts(slot: _Slot) -> list[np.ndarray[Any, Any]]:
    """Index arrays for the old dims of an array-like slot (bool arrays via ``nonzero``)."""
    t = slot.term
    if t.kind == _ARRAY:
        return [t.value]
    if t.value.ndim == 0:
        return []
    return [x.astype(INDEX_DTYPE) for x in np.nonzero(t.value)]


def _array_shape(slot: _Slot) -> tuple[int, ...]:
    t = slot.term
    if t.kind == _ARRAY:
        return tuple(t.value.shape)
    if t.value.ndim == 0:
        return (1 if bool(t.value) else 0,)
    return (int(np.count_nonzero(t.value)),)


def _build(
    transform: IndexTransform, slots: list[_Slot], mode: str, kinds: list[int]
) -> tuple[IndexTransform, list[int]]:
    old = transform._domain
    array_slots = [i for i, s in enumerate(slots) if s.term.kind in (_ARRAY, _BOOL)]
    block_at = -1  # slot index where the broadcast array dims go (default/vindex modes)
    at_front = False  # the block goes first whatever its slot (vindex, or non-adjacent arrays)
    bshape: tuple[int, ...] = ()
    if array_slots and mode != OINDEX:
        shapes = [_array_shape(slots[i]) for i in array_slots]
        try:
            bshape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise IndexError(
                "Incompatible index array shapes: "
                + " vs ".join("{" + ", ".join(map(str, s)) + "}" for s in shapes)
            ) from None
        block_at = 0
        at_front = True
        if mode == DEFAULT:
            by_order = sorted(array_slots, key=lambda i: slots[i].order)
            orders = [slots[i].order for i in by_order]
            lo_order, hi_order = orders[0], orders[-1]
            # Adjacent if only arrays/ints sit between them in the user's index (``...`` separates).
            front = any(not slots[i].dims and slots[i].selected is False for i in array_slots)
            if not front and all(
                kinds[o] in (_ARRAY, _BOOL, _INT) for o in range(lo_order + 1, hi_order)
            ):
                block_at = by_order[0]
                at_front = False
    # Lay out result dimensions.
    lo: list[int] = []
    hi: list[int] = []
    il: list[bool] = []
    iu: list[bool] = []
    labels: list[str] = []
    inner: list[OutputIndexMap | None] = [None] * old.rank
    produced: list[tuple[int, int]] = []  # (selection index, result dim)
    pending_arrays: list[
        tuple[int, np.ndarray[Any, Any], int, int]
    ] = []  # old dim, array, first dim, ndim

    def add_dim(a: int, b: int, ia: bool, ib: bool, label: str) -> int:
        lo.append(a)
        hi.append(b)
        il.append(ia)
        iu.append(ib)
        labels.append(label)
        return len(lo) - 1

    def add_block() -> None:
        first = len(lo)
        # Broadcast dims placed at the front of the result (vindex, or arrays that are not
        # adjacent) also come first in the new selection.
        key = -1 if at_front else min(slots[i].sel_index for i in array_slots)
        for n in bshape:
            produced.append((key, add_dim(0, n, False, False, "")))
        for i in array_slots:
            for j, part in zip(slots[i].dims, _array_parts(slots[i]), strict=True):
                padded = part.reshape((1,) * (len(bshape) - part.ndim) + part.shape)
                pending_arrays.append((j, padded, first, len(bshape)))

    block_done = not array_slots or mode == OINDEX
    int_checks: list[tuple[int, int]] = []  # checked only if the result domain is non-empty
    for i, slot in enumerate(slots):
        if not block_done and i == block_at:
            add_block()
            block_done = True
        t = slot.term
        if t.kind == _INT:
            j = slot.dims[0]
            int_checks.append((t.value, j))
            inner[j] = OutputIndexMap._constant(t.value)
        elif t.kind == _SLICE:
            j = slot.dims[0]
            if t.value is _FULL_SLICE:  # untouched dimension: same bounds, identity map
                a, b, ia, ib, offset, stride = (
                    old._inclusive_min[j],
                    old._exclusive_max[j],
                    old._implicit_lower[j],
                    old._implicit_upper[j],
                    0,
                    1,
                )
            else:
                a, b, ia, ib, offset, stride = slice_interval(t.value, old, j)
            k = add_dim(a, b, ia, ib, old._labels[j])
            if slot.selected:
                produced.append((slot.sel_index, k))
            inner[j] = OutputIndexMap._single(k, offset, stride)
        elif t.kind == _NEWAXIS:
            produced.append((slot.sel_index, add_dim(0, 1, True, True, "")))
        elif mode == OINDEX:
            shape = _array_shape(slot)
            first = len(lo)
            for n in shape:
                produced.append((slot.sel_index, add_dim(0, n, False, False, "")))
            for j, part in zip(slot.dims, _array_parts(slot), strict=True):
                pending_arrays.append((j, part.reshape(shape), first, len(shape)))
    new_rank = len(lo)
    for j, array, first, ndim in pending_arrays:
        shape = (1,) * first + array.shape + (1,) * (new_rank - first - ndim)
        compact = (
            np.ascontiguousarray(array).reshape(shape)
            if array.size
            else np.zeros(shape, INDEX_DTYPE)
        )
        compact.flags.writeable = False
        inner[j] = OutputIndexMap._array(compact, 0, 1)
    domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
    if not definitely_empty(domain):
        for value, j in int_checks:
            _check_int(value, old, j)
    for j, m in enumerate(inner):
        if m is None:  # pragma: no cover - every old dim is consumed by construction
            raise AssertionError(f"dimension {j} not consumed")
    maps = compose_maps(transform, tuple(inner), domain)  # type: ignore[arg-type]
    produced.sort(key=lambda item: item[0])  # stable: dims of one term stay in order
    return IndexTransform._make(domain, maps), [k for _, k in produced]
