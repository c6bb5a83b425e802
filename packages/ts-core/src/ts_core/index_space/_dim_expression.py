"""Dimension expressions: ``ts.d[sel].op[...]...``, selecting dimensions and chaining operations.

An expression records a dimension selection (indices, labels, slices of indices) and a chain
of operations; ``_apply(transform)`` resolves the selection against the transform's domain and
runs each operation, which also yields the selection for the next one (e.g. the dimensions a
slice produced, or the new diagonal dimension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._compose import compose_maps
from ._domain import IndexDomain, check_unique_labels
from ._interval import (
    MAX_FINITE_INDEX,
    MIN_FINITE_INDEX,
    Dim,
    affine_domain,
    format_interval,
    inf,
)
from ._output_map import CONSTANT, SINGLE, OutputIndexMap
from ._transform import IndexTransform

_new = object.__new__
#: Alias of ``None`` for new dimensions, as NumPy's and tensorstore's ``newaxis``.
newaxis = None
#: The exclusive_max of a dimension unbounded above.
_UNBOUNDED_MAX = inf + 1


# -- selection --------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def resolve_dimension(item: Any, labels: Sequence[str]) -> int:
    """One dimension index (negative counts from the end) or label -> index."""
    rank = len(labels)
    if isinstance(item, str):
        if item and item in labels:
            return list(labels).index(item)
        else:
            choices = ", ".join(f'"{x}"' for x in labels)
            raise IndexError(f'Label "{item}" does not match one of {{{choices}}}')
    if _is_int(item):
        i = int(item)
        if not -rank <= i < rank:
            raise IndexError(f"Dimension index {i} is outside valid range [{-rank}, {rank})")
        return i + rank if i < 0 else i
    raise IndexError(f"Invalid dimension specifier: {item!r}")


def resolve_dim_slice(s: slice, rank: int) -> list[int]:
    """Dimension indices selected by a slice (tensorstore's DimRangeSpec, bounds checked)."""
    if s.start is None and s.stop is None and s.step is None:
        return list(range(rank))  # ``:``, every dimension
    step = 1 if s.step is None else int(s.step)
    if step == 0:
        raise IndexError("step must not be 0")
    if s.start is None:
        start = 0 if step > 0 else rank - 1
    else:
        start = int(s.start)
        if not -rank <= start < rank:
            raise IndexError(f"Dimension index {start} is outside valid range [{-rank}, {rank})")
        start = start + rank if start < 0 else start
    if s.stop is None:
        stop = rank if step > 0 else -1
    else:
        stop = int(s.stop)
        if not -rank - 1 <= stop <= rank:
            raise IndexError(
                f"Dimension exclusive stop index {stop} is outside valid range [{-rank - 1}, {rank}]"
            )
        stop = stop + rank if stop < 0 else stop
    if (stop - start) * step < 0:
        raise IndexError(f"{_repr_item(s)} is not a valid range")
    return list(range(start, stop, step))


def resolve_selection(
    selection: Sequence[Any], labels: Sequence[str], rank: int | None = None
) -> list[int]:
    """Resolve selection terms against ``labels`` (``rank`` may exceed it when new dims are added)."""
    if rank is None:
        rank = len(labels)
    padded: list[str] | None = None
    dims: list[int] = []
    for item in selection:
        if type(item) is int and 0 <= item < rank:
            dims.append(item)
        elif type(item) is str and item and item in labels:
            dims.append(labels.index(item))
        elif isinstance(item, slice):
            dims.extend(resolve_dim_slice(item, rank))
        elif isinstance(item, str):
            dims.append(resolve_dimension(item, labels))
        else:
            if padded is None:
                padded = list(labels) + [""] * (rank - len(labels))
            dims.append(resolve_dimension(item, padded))
    if len(set(dims)) != len(dims):
        repeated = sorted({i for i in dims if dims.count(i) > 1})
        raise IndexError(
            f"Input dimensions {{{', '.join(map(str, repeated))}}} specified more than once"
        )
    return dims


def _selection_slice(item: slice) -> slice:
    for part in (item.start, item.stop, item.step):
        if part is not None and not (
            hasattr(part, "__index__") and not isinstance(part, str | bytes | np.bool_)
        ):
            raise TypeError(f"Dimension selection slice bounds must be integers, not {part!r}")
    start, stop, step = (
        None if part is None else int(part.__index__())
        for part in (item.start, item.stop, item.step)
    )
    if step == 0:
        raise TypeError("Dimension selection slice step must not be 0")
    return slice(start, stop, None if step == 1 else step)


def _flatten_selection(selection: Any) -> tuple[Any, ...]:
    """``DimSelectionLike`` -> a flat tuple of ints, labels and slices (``TypeError`` otherwise)."""
    if type(selection) is tuple:  # the common case first: labels and ints, already flat
        for item in selection:
            if type(item) is not str and type(item) is not int:
                break
        else:
            return selection
    if isinstance(selection, str):
        return (selection,)
    if isinstance(selection, slice):
        return (_selection_slice(selection),)
    if isinstance(selection, DimExpression):
        if selection._ops:
            raise TypeError("A dimension selection cannot contain a dimension expression")
        return selection._selection
    if hasattr(selection, "__index__") and not isinstance(selection, np.bool_):
        if isinstance(selection, np.ndarray) and selection.ndim:
            raise TypeError("A dimension selection cannot be an array")
        return (int(selection.__index__()),)
    if isinstance(selection, tuple | list):
        out: list[Any] = []
        for item in selection:
            out.extend(_flatten_selection(item))
        return tuple(out)
    raise TypeError(
        "Dimension selection must be an int, str, slice or a sequence of them, not "
        f"{type(selection).__name__}"
    )


# -- operations -------------------------------------------------------------------------------------
def _per_dim(values: Any, n: int, what: str) -> list[Any]:
    """Broadcast a scalar (or None) to ``n`` dims; a sequence must have length ``n``."""
    if values == ():
        values = 0  # tensorstore reads an empty vector as the scalar 0
    if isinstance(values, tuple | list):
        if len(values) != n:
            raise IndexError(
                f"Number of dimensions ({n}) does not match number of {what} ({len(values)})"
            )
        return list(values)
    return [values] * n


def _apply_inner(
    t: IndexTransform,
    lo: list[int],
    hi: list[int],
    il: list[bool],
    iu: list[bool],
    labels: list[str],
    inner: list[Any],
    simplify: bool = False,
    normalize_empty: bool = False,
) -> IndexTransform:
    domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
    return IndexTransform._make(
        domain,
        compose_maps(t, tuple(inner), domain, simplify, normalize_empty),
        normalize=normalize_empty,
    )


def _domain_lists(
    t: IndexTransform,
) -> tuple[list[int], list[int], list[bool], list[bool], list[str]]:
    dom = t._domain
    return (
        list(dom._inclusive_min),
        list(dom._exclusive_max),
        list(dom._implicit_lower),
        list(dom._implicit_upper),
        list(dom._labels),
    )


def op_translate(
    t: IndexTransform, dims: list[int], values: Any, kind: str
) -> tuple[IndexTransform, list[int]]:
    """``translate_by`` / ``translate_backward_by`` / ``translate_to`` on ``dims``."""
    dom = t._domain
    lo, hi, shifts = translated_bounds(dom._inclusive_min, dom._exclusive_max, dims, values, kind)
    domain = IndexDomain._make(tuple(lo), tuple(hi), dom._implicit_lower, dom._implicit_upper, dom._labels)
    return IndexTransform._make(domain, _translated_maps(t, shifts, domain), normalize=False), dims


def translated_bounds(
    old_lo: Sequence[int], old_hi: Sequence[int], dims: list[int], values: Any, kind: str
) -> tuple[list[int], list[int], list[int]]:
    """New ``(inclusive_min, exclusive_max)`` lists of a translation of ``dims``, and the shift
    of every dimension (0 for those not moved); infinite bounds stay infinite."""
    lo, hi = list(old_lo), list(old_hi)
    shifts = [0] * len(lo)
    for j, v in zip(dims, _per_dim(values, len(dims), "indices"), strict=True):
        if v is None:
            continue
        if type(v) is not int:
            if not _is_int(v):
                raise TypeError(f"translation must be an integer or None, not {type(v).__name__}")
            v = int(v)
        lo[j], hi[j], shifts[j] = translate_interval(lo[j], hi[j], v, kind)
    return lo, hi, shifts


def translate_interval(a: int, b: int, v: int, kind: str) -> tuple[int, int, int]:
    """One dimension ``[a, b)`` translated by ``v`` (``kind`` as ``op_translate`` names it): the
    new bounds and the shift; infinite bounds stay infinite (``IndexError`` on overflow)."""
    if kind == "to":
        if not MIN_FINITE_INDEX <= v <= MAX_FINITE_INDEX:
            raise IndexError(
                f"OUT_OF_RANGE: Origin {v} is outside valid range [{MIN_FINITE_INDEX}, {inf})"
            )
        if a == -inf:
            raise IndexError(f"Interval {format_interval(a, b)} is not bounded below")
        shift = v - a
    else:
        shift = v if kind == "by" else -v
    # Finite bounds move and must stay finite (the lower one is checked first); an infinite
    # bound stays where it is, whatever the shift (the output offsets are checked apart).
    if a != -inf:
        if not MIN_FINITE_INDEX <= a + shift <= MAX_FINITE_INDEX:
            raise IndexError(f"{a} + {shift} is outside valid range [{MIN_FINITE_INDEX}, {inf})")
        a += shift
    if b != _UNBOUNDED_MAX:
        if not MIN_FINITE_INDEX <= b - 1 + shift <= MAX_FINITE_INDEX:
            raise IndexError(
                f"{b - 1} + {shift} is outside valid range [{MIN_FINITE_INDEX}, {inf})"
            )
        b += shift
    return a, b, shift


def check_offset_change(offset: int, stride: int, shift: int, out: int) -> None:
    """Raise unless ``offset - stride * shift``, output dimension ``out``'s offset after its
    input dimension moved by ``shift``, and the product are 64-bit integers (as tensorstore)."""
    change = stride * shift
    if not (_INT64_MIN <= change <= _INT64_MAX and _INT64_MIN <= offset - change <= _INT64_MAX):
        raise IndexError(f"Integer overflow computing output offset for dimension {out}.")


def _translated_maps(t: IndexTransform, shifts: list[int], domain: IndexDomain) -> tuple[OutputIndexMap, ...]:
    """``t``'s output maps after input dimension ``j`` moved by ``shifts[j]`` (``domain``)."""
    for out, m in enumerate(t._output):
        if m._method == SINGLE and shifts[m._input_dimension]:
            check_offset_change(m._offset, m._stride, shifts[m._input_dimension], out)
    maps: list[OutputIndexMap] = []
    for m in t._output:
        if m._method == SINGLE:
            shift = shifts[m._input_dimension]
            maps.append(m if not shift else OutputIndexMap._single(m._input_dimension, m._offset - m._stride * shift, m._stride))
        elif m._method == CONSTANT:
            maps.append(m)
        else:  # an index array: the general composition
            inner = tuple(OutputIndexMap._single(j, -shift, 1) for j, shift in enumerate(shifts))
            return compose_maps(t, inner, domain, False, False)
    return tuple(maps)


def op_stride(t: IndexTransform, dims: list[int], values: Any) -> tuple[IndexTransform, list[int]]:
    """Keep every ``s``-th index: new index ``i`` is old index ``s * i``."""
    dom = t._domain
    lo, hi, il, iu, factors = strided_bounds(
        dom._inclusive_min, dom._exclusive_max, dom._implicit_lower, dom._implicit_upper, dims, values
    )
    inner = [OutputIndexMap._single(j, 0, s) for j, s in enumerate(factors)]
    labels = list(dom._labels)
    return _apply_inner(t, lo, hi, il, iu, labels, inner, simplify=True, normalize_empty=True), dims


def strided_bounds(
    old_lo: Sequence[int],
    old_hi: Sequence[int],
    old_il: Sequence[bool],
    old_iu: Sequence[bool],
    dims: list[int],
    values: Any,
) -> tuple[list[int], list[int], list[bool], list[bool], list[int]]:
    """New bounds and implicit flags of a stride of ``dims``, and every dimension's stride
    (old index = stride * new index; 1 for those not strided)."""
    lo, hi, il, iu = list(old_lo), list(old_hi), list(old_il), list(old_iu)
    factors = [1] * len(lo)
    for j, s in zip(dims, _per_dim(values, len(dims), "strides"), strict=True):
        lo[j], hi[j], il[j], iu[j], factors[j] = stride_interval(lo[j], hi[j], il[j], iu[j], s, j)
    return lo, hi, il, iu, factors


def stride_interval(
    a: int, b: int, ia: bool, ib: bool, s: int | None, j: int
) -> tuple[int, int, bool, bool, int]:
    """Dimension ``j`` (``[a, b)``, implicit flags ``ia``/``ib``) strided by ``s``: the new
    bounds and flags, and the stride (old index = stride * new index)."""
    if s is None and (a == -inf and b == inf + 1):
        s = _INT64_MIN  # tensorstore's "implicit" stride, the most negative index
    elif s is None or s == _INT64_MIN:
        # ... which overflows on any finite bound.
        raise IndexError(
            f"Applying stride to input dimension {j}: Integer overflow propagating range "
            f"{format_interval(a, b)} through inverse affine transform with offset 0 "
            f"and multiplier {-(1 << 63)}"
        )
    s = int(s)
    if s == 0:
        raise IndexError(f"Applying stride to input dimension {j}: Stride must be non-zero")
    new_a, new_b, swapped = affine_domain(a, b - 1, 0, s)
    if swapped:
        return new_a, max(new_b, new_a - 1) + 1, ib, ia, s
    return new_a, max(new_b, new_a - 1) + 1, ia, ib, s


def op_label(t: IndexTransform, dims: list[int], values: Any) -> tuple[IndexTransform, list[int]]:
    """Set the labels of ``dims``."""
    dom = t._domain
    labels = relabeled(dom._labels, dims, values)
    domain = IndexDomain._make(
        dom._inclusive_min,
        dom._exclusive_max,
        dom._implicit_lower,
        dom._implicit_upper,
        tuple(labels),
    )
    # Same bounds: ``t``'s maps are already normal for them.
    return IndexTransform._make(domain, t._output, normalize=False), dims


def relabeled(old_labels: Sequence[str], dims: list[int], values: Any) -> list[str]:
    """``old_labels`` with ``dims`` relabelled (``IndexError`` if labels would repeat)."""
    new = [values] if isinstance(values, str) else list(values)
    if len(new) != len(dims):
        raise IndexError(
            f"Number of dimensions ({len(dims)}) does not match number of labels ({len(new)})."
        )
    labels = list(old_labels)
    for j, label in zip(dims, new, strict=True):
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, not {type(label).__name__}")
        labels[j] = label
    check_unique_labels(labels, IndexError)
    return labels


def op_mark_bounds_implicit(
    t: IndexTransform, dims: list[int], value: Any
) -> tuple[IndexTransform, list[int]]:
    """Set implicit flags: ``[v]`` both bounds, ``[lower:upper]`` each (``None`` leaves it)."""
    if isinstance(value, slice):
        if value.step is not None:
            raise IndexError("mark_bounds_implicit does not take a step")
        lower, upper = value.start, value.stop
    else:
        lower = upper = value
    dom = t._domain
    il, iu = marked_implicit(dom._implicit_lower, dom._implicit_upper, dims, lower, upper)
    for out, m in enumerate(t._output):
        array = m._index_array
        if array is None:
            continue
        for k in dims:
            if array.shape[k] != 1 and (il[k] or iu[k]):
                raise IndexError(
                    f"Cannot mark input dimension {k} as having implicit bounds because it indexes "
                    f"the index array map for output dimension {out}"
                )
    domain = IndexDomain._make(
        dom._inclusive_min, dom._exclusive_max, tuple(il), tuple(iu), dom._labels
    )
    return IndexTransform._make(domain, t._output), dims


def marked_implicit(
    old_il: Sequence[bool], old_iu: Sequence[bool], dims: list[int], lower: Any, upper: Any
) -> tuple[list[bool], list[bool]]:
    """Implicit flags with those of ``dims`` set (``None`` leaves a flag as it is)."""
    il, iu = list(old_il), list(old_iu)
    for j in dims:
        if lower is not None:
            il[j] = bool(lower)
        if upper is not None:
            iu[j] = bool(upper)
    return il, iu


def op_transpose(
    t: IndexTransform, dims: list[int], targets: Any
) -> tuple[IndexTransform, list[int]]:
    """Move ``dims`` to positions ``targets``; other dims keep their relative order."""
    order, target_list = transpose_order(t.input_rank, dims, targets)
    if order is None:
        return t, target_list
    return permute_dimensions(t, order), target_list


def transpose_order(
    rank: int, dims: list[int], targets: Any
) -> tuple[list[int] | None, list[int]]:
    """The permutation (``order[p]`` is the old dim at position ``p``) that moves ``dims`` to
    ``targets``, and the target positions; None when nothing moves (no dims selected)."""
    n = len(dims)
    if any(isinstance(x, str) for x in targets):
        raise IndexError("Target dimensions cannot be specified by label")
    if len(targets) == 1 and _is_int(targets[0]):
        # A single target index moves the selected dims to consecutive positions from it.
        if n == 0:
            return None, []
        start = int(targets[0])
        limit = rank - n + 1
        if not -limit <= start < limit:
            raise IndexError(f"Dimension index {start} is outside valid range [{-limit}, {limit})")
        if start < 0:
            start += limit
        target_list = list(range(start, start + n))
    else:
        target_list = resolve_selection(targets, [""] * rank, rank)
    if len(target_list) != n:
        raise IndexError(
            f"Number of selected dimensions ({n}) must equal number of target dimensions ({len(target_list)})"
        )
    order: list[int] = [-1] * rank
    for j, p in zip(dims, target_list, strict=True):
        order[p] = j
    rest = iter(j for j in range(rank) if j not in set(dims))
    return [p if p >= 0 else next(rest) for p in order], target_list


def permute_dimensions(t: IndexTransform, order: list[int]) -> IndexTransform:
    """``t`` with input dimension ``order[p]`` moved to position ``p`` (a permutation)."""
    dom = t._domain
    lo, hi, il, iu, labels = (
        dom._inclusive_min,
        dom._exclusive_max,
        dom._implicit_lower,
        dom._implicit_upper,
        dom._labels,
    )
    domain = IndexDomain._make(
        tuple([lo[j] for j in order]),
        tuple([hi[j] for j in order]),
        tuple([il[j] for j in order]),
        tuple([iu[j] for j in order]),
        tuple([labels[j] for j in order]),
    )
    position = [0] * len(order)
    for p, j in enumerate(order):
        position[j] = p
    maps: list[OutputIndexMap] = []
    for m in t._output:
        if m._method == SINGLE:
            maps.append(OutputIndexMap._single(position[m._input_dimension], m._offset, m._stride))
        elif m._method == CONSTANT:
            maps.append(m)
        else:  # an index array: the general composition
            inner = tuple(OutputIndexMap._single(position[j], 0, 1) for j in range(len(order)))
            return IndexTransform._make(domain, compose_maps(t, inner, domain, False, False), normalize=False)
    return IndexTransform._make(domain, tuple(maps), normalize=False)


def op_diagonal(t: IndexTransform, dims: list[int]) -> tuple[IndexTransform, list[int]]:
    """Replace ``dims`` by one new first dimension indexing their diagonal."""
    dom = t._domain
    if dims:
        # Bounds intersect; a bound stays implicit only if it is implicit in every selected dim.
        lo_d = max(dom._inclusive_min[j] for j in dims)
        hi_d = max(lo_d, min(dom._exclusive_max[j] for j in dims))
        diag = Dim._make(
            lo_d,
            hi_d,
            all(dom._implicit_lower[j] for j in dims),
            all(dom._implicit_upper[j] for j in dims),
            "",
        )
    else:
        diag = Dim()  # no dims: a new unbounded dimension
    rest = [j for j in range(dom.rank) if j not in set(dims)]
    lo, hi, il, iu, labels = _domain_lists(t)
    inner: list[Any] = [None] * dom.rank
    for j in dims:
        inner[j] = OutputIndexMap._single(0, 0, 1)
    for p, j in enumerate(rest, start=1):
        inner[j] = OutputIndexMap._single(p, 0, 1)
    return (
        _apply_inner(
            t,
            [diag.inclusive_min] + [lo[j] for j in rest],
            [diag.exclusive_max] + [hi[j] for j in rest],
            [diag.implicit_lower] + [il[j] for j in rest],
            [diag.implicit_upper] + [iu[j] for j in rest],
            [""] + [labels[j] for j in rest],
            inner,
            normalize_empty=True,
        ),
        [0],
    )


_INDEXING: Any = None
_DIM_CHAIN: Any = None


def _load_dim_chain() -> Any:
    """The ``_dim_chain`` module (imported on first use: it imports this module)."""
    global _DIM_CHAIN
    from . import _dim_chain

    _DIM_CHAIN = _dim_chain
    return _dim_chain


def _indexing() -> Any:
    """The ``_indexing`` module (imported on first use: it imports this module)."""
    global _INDEXING
    if _INDEXING is None:
        from . import _indexing as module

        _INDEXING = module
    return _INDEXING


def apply_to_all_dims(t: IndexTransform, op: str, args: Any) -> IndexTransform:
    """``t[ts.d[:].<op>[args]]`` with ``args`` as ``_parse_op`` returns them: the whole-object
    shorthands (``x.translate_to[0]``) run their operation directly, no expression built."""
    dims = list(range(len(t._domain._inclusive_min)))
    kind = _TRANSLATIONS.get(op)
    if kind is not None:
        return op_translate(t, dims, args, kind)[0]
    if op == "label":
        return op_label(t, dims, args)[0]
    if op == "mark_bounds_implicit":
        return op_mark_bounds_implicit(t, dims, slice(*args))[0]
    return DimExpression((slice(None),), ((op, args),))._apply(t)


# -- the expression ---------------------------------------------------------------------------------
class _Subscript:
    """``expr.<op>[args]`` -> a new expression with the op appended."""

    __slots__ = ("_expr", "_op")

    def __init__(self, expr: DimExpression, op: str) -> None:
        self._expr = expr
        self._op = op

    def __getitem__(self, args: Any) -> DimExpression:
        return self._expr._then(self._op, args)

    def __call__(self, *args: Any) -> DimExpression:
        """Handbook spelling: ``expr.label("a")`` is ``expr.label["a"]`` (several args: a tuple)."""
        return self._expr._then(self._op, args[0] if len(args) == 1 else args)

    def __repr__(self) -> str:
        return f"{self._expr!r}.{self._op}"


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _optional_index(value: Any, op: str) -> int | None:
    if value is None:
        return None
    if (
        hasattr(value, "__index__")
        and not isinstance(value, str | bytes | np.bool_)
        and _INT64_MIN <= int(value.__index__()) <= _INT64_MAX
    ):
        index = int(value.__index__())
        if index == _INT64_MIN:  # tensorstore's "implicit" value
            return None
        return index
    raise TypeError(f"{op} expects an integer, None, or a sequence of them, not {value!r}")


def _parse_vector(args: Any, op: str) -> Any:
    """``translate_*``/``stride`` arguments: one value for every dimension, or a tuple."""
    if type(args) is int and _INT64_MIN < args <= _INT64_MAX:
        return args
    if args is None or (hasattr(args, "__index__") and not isinstance(args, np.ndarray)):
        return _optional_index(args, op)
    if isinstance(args, str | bytes) or not hasattr(args, "__iter__"):
        raise TypeError(f"{op} expects an integer, None, or a sequence of them, not {args!r}")
    return tuple(_optional_index(v, op) for v in args)


def _parse_labels(args: Any) -> tuple[str, ...]:
    if type(args) is tuple:
        for x in args:
            if type(x) is not str:
                break
        else:
            return args
    if isinstance(args, str):
        return (args,)
    if isinstance(args, bytes) or not hasattr(args, "__iter__"):
        raise TypeError(f"label expects a str or a sequence of str, not {args!r}")
    labels = tuple(str(x) if isinstance(x, np.str_) else x for x in args)
    for label in labels:
        if not isinstance(label, str):
            raise TypeError(f"label expects a str or a sequence of str, not {label!r}")
    return labels


def _implicit_flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float | np.bool_ | np.number) and not isinstance(
        value, complex
    ):
        return bool(value)
    raise TypeError(f"mark_bounds_implicit expects a bool, None or a slice of them, not {value!r}")


def _parse_op(op: str, args: Any, chained: bool) -> Any:
    """Check and normalise an operation's arguments when the expression is built, as
    tensorstore does (``TypeError``/``IndexError`` right away, not when applied)."""
    if op in ("index", "oindex", "vindex"):
        return _indexing().parse_index(args, selection_mode=op, chained=chained)
    if op in ("translate_by", "translate_backward_by", "translate_to", "stride"):
        return _parse_vector(args, op)
    if op == "label":
        return _parse_labels(args)
    if op == "transpose":
        if isinstance(args, DimExpression) and args._ops:
            raise TypeError("transpose expects a dimension selection, not a dimension expression")
        return _flatten_selection(args)
    if op == "mark_bounds_implicit":
        if isinstance(args, slice):
            if args.step is not None:
                raise TypeError("mark_bounds_implicit does not take a step")
            return (_implicit_flag(args.start), _implicit_flag(args.stop))
        flag = _implicit_flag(args)
        return (flag, flag)
    return None


def _repr_vector(values: Any) -> str:
    if not isinstance(values, tuple):
        return str(values)
    if len(values) == 1:
        return f"{values[0]},"
    return ",".join(str(v) for v in values) if values else "()"


def _repr_op(op: str, args: Any) -> str:
    if op == "index":
        return f"[{_indexing().index_repr(*args)}]"
    if op in ("oindex", "vindex"):
        return f".{op}[{_indexing().index_repr(*args)}]"
    if op in ("diagonal", "broadcast"):
        return f".{op}"
    if op == "label":
        return f".label[{','.join(_repr_label(x) for x in args)}]"
    if op == "transpose":
        return f".transpose[{_repr_selection(args)}]"
    if op == "mark_bounds_implicit":
        lower, upper = args
        if lower is not None and lower == upper:
            return f".mark_bounds_implicit[{lower}]"
        return (
            ".mark_bounds_implicit["
            + ("" if lower is None else str(lower))
            + ":"
            + ("" if upper is None else str(upper))
            + "]"
        )
    return f".{op}[{_repr_vector(args)}]"


def _op_key(op: str, args: Any) -> Any:
    if op in ("index", "oindex", "vindex"):
        terms, scalar = args
        return (op, scalar, tuple(_indexing().term_key(t) for t in terms))
    return (op, args)


#: The kind of each translation operation, as ``op_translate`` names it.
_TRANSLATIONS = {"translate_by": "by", "translate_to": "to", "translate_backward_by": "backward_by"}


class DimExpression:
    """A dimension selection plus a chain of operations, applied with ``transform[expr]``."""

    __slots__ = ("_ops", "_plan", "_selection")

    def __init__(self, selection: Sequence[Any], ops: tuple[tuple[str, Any], ...] = ()) -> None:
        self._selection = tuple(selection)
        self._ops = ops
        # The compiled plan (``_dim_chain.compile_plan``) for the labels last applied to; the
        # expression is immutable, so it holds for every transform with those labels.
        self._plan: Any = None

    def _then(self, op: str, args: Any) -> DimExpression:
        expr = _new(DimExpression)
        expr._selection = self._selection
        expr._ops = (*self._ops, (op, _parse_op(op, args, bool(self._ops))))
        expr._plan = None
        return expr

    # -- operations -------------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> DimExpression:
        return self._then("index", index)

    @property
    def oindex(self) -> _Subscript:
        return _Subscript(self, "oindex")

    @property
    def vindex(self) -> _Subscript:
        return _Subscript(self, "vindex")

    @property
    def translate_by(self) -> _Subscript:
        return _Subscript(self, "translate_by")

    @property
    def translate_backward_by(self) -> _Subscript:
        return _Subscript(self, "translate_backward_by")

    @property
    def translate_to(self) -> _Subscript:
        return _Subscript(self, "translate_to")

    @property
    def stride(self) -> _Subscript:
        return _Subscript(self, "stride")

    @property
    def label(self) -> _Subscript:
        return _Subscript(self, "label")

    @property
    def mark_bounds_implicit(self) -> _Subscript:
        return _Subscript(self, "mark_bounds_implicit")

    @property
    def transpose(self) -> _Subscript:
        return _Subscript(self, "transpose")

    @property
    def diagonal(self) -> DimExpression:
        return self._then("diagonal", None)

    @property
    def broadcast(self) -> DimExpression:
        """Insert a new size-1 dimension (implicit bounds ``[0*, 1*)``, no label) immediately
        before each selected dimension; the new dimensions become the selection. For a single
        integer selection ``i`` this is ``ts.d[i][ts.newaxis]``; unlike it, labels work too."""
        return self._then("broadcast", None)

    def __eq__(self, other: object) -> Any:
        """``ts.d['c'] == 0`` selects index 0 and drops the dimension (``ts.d['c'][0]``, a ts
        spelling from the handbook)."""
        if _is_int(other) and not self._ops:
            return self[other]
        if isinstance(other, DimExpression):
            return self._key() == other._key()
        return NotImplemented

    def _key(self) -> Any:
        return (self._selection, tuple(_op_key(op, args) for op, args in self._ops))

    __hash__ = None  # type: ignore[assignment]
    # ``__getitem__`` would otherwise make every expression an endless old-style sequence
    # (the wheel loops until memory runs out when one is passed where a sequence is expected).
    __iter__ = None

    # -- application ------------------------------------------------------------------------------
    def _apply(self, t: IndexTransform) -> IndexTransform:
        plan = self._plan
        if plan is not None and plan[1] == len(self._ops) and plan[0] == t._domain._labels:
            result = (_DIM_CHAIN or _load_dim_chain()).run_plan(plan, t)
            if result is not None:
                return result  # type: ignore[no-any-return]
        return self._apply_with_dims(t)[0]

    def _apply_with_dims(self, t: IndexTransform) -> tuple[IndexTransform, list[int]]:
        if not self._ops:
            raise IndexError("Must specify at least one operation in dimension expression")
        chain = _DIM_CHAIN or _load_dim_chain()
        labels = t._domain._labels
        plan = self._plan
        if plan is None or plan[0] != labels:
            plan = self._plan = chain.compile_plan(self._selection, self._ops, labels)
        done = plan[1]
        dims: list[int] | None = None
        if done:
            result = chain.run_plan(plan, t)
            if result is None:
                done = 0  # the one-at-a-time path applies it all, or says why not
            else:
                t, dims = result, list(plan[5])
                if done == len(self._ops):
                    return t, dims
        # The rest one operation at a time, each building its transform.
        numpy_index = _indexing().numpy_index
        selection: list[Any] = list(self._selection) if dims is None else list(dims)
        for op, args in self._ops[done:]:
            if op in ("index", "oindex", "vindex"):
                mode = "default" if op == "index" else op
                terms, scalar = args
                t, dims = numpy_index(t, terms, mode, selection if dims is None else dims, scalar)
            else:
                if dims is None:
                    dims = resolve_selection(selection, t._domain._labels)
                kind = _TRANSLATIONS.get(op)
                if kind is not None:
                    t, dims = op_translate(t, dims, args, kind)
                elif op == "stride":
                    t, dims = op_stride(t, dims, args)
                elif op == "label":
                    t, dims = op_label(t, dims, args)
                elif op == "mark_bounds_implicit":
                    t, dims = op_mark_bounds_implicit(t, dims, slice(*args))
                elif op == "transpose":
                    t, dims = op_transpose(t, dims, args)
                elif op == "diagonal":
                    t, dims = op_diagonal(t, dims)
                elif op == "broadcast":
                    positions = [j + i for i, j in enumerate(sorted(dims))]
                    t, dims = numpy_index(
                        t, _indexing().classify_index((None,) * len(dims)), "default", positions
                    )
                else:  # pragma: no cover - ops are only created by the properties above
                    raise AssertionError(op)
            selection = list(dims)
        return t, dims if dims is not None else []

    def __repr__(self) -> str:
        return f"d[{_repr_selection(self._selection)}]" + "".join(
            _repr_op(op, args) for op, args in self._ops
        )


def _repr_label(label: str) -> str:
    if "'" not in label:
        return repr(label)
    return "'" + label.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _repr_item(x: Any) -> str:
    if isinstance(x, slice):
        parts = ["" if v is None else str(v) for v in (x.start, x.stop)]
        return ":".join(parts) + ("" if x.step is None else f":{x.step}")
    return _repr_label(x) if isinstance(x, str) else str(x)


def _repr_selection(selection: Sequence[Any]) -> str:
    return ",".join(_repr_item(x) for x in selection) if selection else "()"


class DimSelection(DimExpression):
    """``ts.DimSelection``: what ``ts.d[...]`` returns, a dimension expression with no
    operation yet (as tensorstore's, made only by subscripting ``ts.d``)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> DimSelection:
        raise TypeError("ts_core.DimSelection: No constructor defined! Subscript ts.d instead: ts.d[0, 'x']")

    @classmethod
    def _from_selection(cls, selection: Sequence[Any]) -> DimSelection:
        selected = object.__new__(cls)
        DimExpression.__init__(selected, selection)
        return selected

    def __reduce__(self) -> tuple[Any, ...]:
        return (DimSelection._from_selection, (self._selection,))


DimSelection.__module__ = "ts_core"


class _DimSelector:
    """``ts.d``: ``ts.d[sel]`` starts a dimension expression."""

    __slots__ = ()

    def __getitem__(self, selection: Any) -> DimSelection:
        return DimSelection._from_selection(_flatten_selection(selection))

    def __repr__(self) -> str:
        return "d"


#: Entry point for dimension expressions: ``ts.d['x', 0][...]``.
d = _DimSelector()
