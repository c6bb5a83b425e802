"""A dimension expression's affine operations compiled into a plan and applied in one pass.

Applied one at a time, each operation of ``ts.d[...][...].translate_by[...].label[...]`` builds
an intermediate ``IndexTransform``. But which dimensions each operation touches, where every
dimension ends up and what the result's labels are depend only on the expression and the
labels (hence the rank) of the transform's domain, not on its bounds or output maps. So
``compile_plan`` works that part out once, and the plan is kept on the (immutable) expression
for the next transform with the same labels; ``run_plan`` then only computes the bounds and
each input dimension's affine map ``old index = offset + stride * new index``, and builds the
result once.

The plan takes ints and slices (NumPy-style indexing), translations, strides, transpositions,
labels and implicit flags, on transforms whose output maps are constant or single-input. The
per-dimension rules (``slice_bounds``, ``check_int_bounds``, ``translate_interval``,
``stride_interval``, ``transpose_order``, ``relabeled``) are those of the one-at-a-time path.
An operation the plan does not take, and every operation after it, is left to that path; an
operation that would fail when compiled ends the plan before it, and one that fails when run
sends the whole expression to that path, which then reports the error as it always does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._dim_expression import (
    _TRANSLATIONS,
    _per_dim,
    relabeled,
    resolve_selection,
    stride_interval,
    translate_interval,
    transpose_order,
)
from ._domain import MAX_RANK, IndexDomain, check_unique_labels
from ._indexing import INT_KIND, SLICE_KIND, check_int_bounds, slice_bounds
from ._interval import MAX_FINITE_INDEX, MIN_FINITE_INDEX, NEG_INF, inf
from ._output_map import ARRAY, CONSTANT, FULL_RANGE, SINGLE, OutputIndexMap
from ._transform import IndexTransform

#: A compiled plan: ``(input labels, operations taken, steps, result labels, result position
#: of every input dimension (-1: indexed by an int), the dimension selection left)``.
Plan = tuple[tuple[str, ...], int, tuple[Any, ...], tuple[str, ...], tuple[int, ...], list[int]]

# Step kinds. Items name a dimension twice: ``k``, its position before the step (for the
# bounds), and ``j``, the input dimension it comes from (for the affine map).
# [(k, j, slice or step, start, stop), ...]: slices of selected dims (all stay); a step (None
# for 1, else an int) comes with start and stop, a slice with None, None.
_SLICE = 0
_SHIFT = 1  # [(k, j, shift), ...]: translate_by, translate_backward_by (its shift negated)
_TRANSLATE = 2  # [(k, j, origin), ...]: translate_to
_INDEX = 3  # (slice items, ((k, j, value), ...) of ints, positions kept): ints drop dims
_STRIDE = 4  # [(k, j, stride), ...]
_PERMUTE = 5  # order: position p takes the dim at order[p]
_IMPLICIT = 6  # (positions, lower flag or None, upper flag or None)

_INDEXING = frozenset({"index", "oindex", "vindex"})
_new = object.__new__
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UNBOUNDED_MAX = inf + 1  # the exclusive_max of a dimension unbounded above
# Below these, ``abs(offset) + abs(stride) * reach`` (see ``run_plan``) fits in 64 bits.
_SMALL, _LARGE = 1 << 31, 1 << 62
_NEG_SMALL, _NEG_LARGE = -_SMALL, -_LARGE  # constants: negating at each use makes a new int
#: ``(0, 1, ..., n - 1)`` for each rank n: where nothing moves, each position's input dimension.
_IDENTITY = tuple(tuple(range(n)) for n in range(MAX_RANK + 1))


def compile_plan(
    selection: Sequence[Any], ops: tuple[tuple[str, Any], ...], labels: tuple[str, ...]
) -> Plan:
    """The plan of the leading operations of ``ops`` this path takes, for a domain with
    ``labels``; it takes none (``plan[1] == 0``) when the first is not one of them."""
    rank = len(labels)
    identity = _IDENTITY[rank]
    origin: Sequence[int] = identity  # the input dimension at each position
    current: Sequence[str] = labels
    dims: list[int] | None = None
    steps: list[Any] = []
    done = 0
    for op, args in ops:
        try:
            if op in _INDEXING:
                step = _compile_index(args, selection if dims is None else dims, current, origin)
                if step is None:
                    break
                kind, step_args, dims, keep = step
                if keep is not None:
                    origin = [origin[k] for k in keep]
                    current = [current[k] for k in keep]
                    rank = len(keep)
                steps.append((kind, step_args))
                done += 1
                continue
            if dims is None:
                dims = resolve_selection(selection, current)
            translation = _TRANSLATIONS.get(op)
            if translation is not None:
                # The arguments were checked when the expression was built: ints and None.
                values = [args] * len(dims) if type(args) is int else _per_dim(args, len(dims), "indices")
                if translation == "to":
                    steps.append(
                        (
                            _TRANSLATE,
                            [(k, origin[k], v) for k, v in zip(dims, values, strict=True) if v is not None],
                        )
                    )
                else:
                    sign = 1 if translation == "by" else -1
                    shifts = []
                    for k, v in zip(dims, values, strict=True):
                        if v:  # None or 0: nothing moves
                            shifts.append((k, origin[k], sign * v))
                    steps.append((_SHIFT, shifts))
            elif op == "label":
                if type(args) is tuple and len(args) == len(dims):
                    relabelled = list(current)
                    for k, label in zip(dims, args, strict=False):
                        relabelled[k] = label
                    if len(set(relabelled)) != len(relabelled):  # repeated, unless only ""
                        check_unique_labels(relabelled, IndexError)
                    current = relabelled
                else:
                    current = relabeled(current, dims, args)
            elif op == "stride":
                factors = _per_dim(args, len(dims), "strides")
                steps.append(
                    (_STRIDE, [(k, origin[k], s) for k, s in zip(dims, factors, strict=True)])
                )
            elif op == "transpose":
                order, targets = transpose_order(rank, dims, args)
                if order is not None:
                    origin = [origin[j] for j in order]
                    current = [current[j] for j in order]
                    steps.append((_PERMUTE, order))
                dims = targets
            elif op == "mark_bounds_implicit":
                lower, upper = args
                steps.append(
                    (
                        _IMPLICIT,
                        (
                            dims,
                            None if lower is None else bool(lower),
                            None if upper is None else bool(upper),
                        ),
                    )
                )
            else:
                break
        except (IndexError, TypeError, ValueError):
            break
        done += 1
    if not done:
        return labels, 0, (), labels, (), []
    assert dims is not None
    if origin is identity:
        return labels, done, tuple(steps), tuple(current), identity, dims
    target = [-1] * len(labels)
    for position, j in enumerate(origin):
        target[j] = position
    return labels, done, tuple(steps), tuple(current), tuple(target), dims


def _compile_index(
    args: Any, selection: Sequence[Any], labels: Sequence[str], origin: Sequence[int]
) -> tuple[int, Any, list[int], list[int] | None] | None:
    """An index of ints and slices, one per selected dim: ``(step kind, step arguments, new
    selection, positions kept or None if all)``; None for any other index."""
    terms, scalar = args
    slices_only = True
    for term in terms:
        if term.kind != SLICE_KIND:
            if term.kind != INT_KIND:
                return None
            slices_only = False
    rank = len(labels)
    sel = resolve_selection(selection, labels, rank)
    if scalar and len(sel) != 1:
        terms = [terms[0]] * len(sel)
    if len(terms) != len(sel):
        return None
    if slices_only:
        items = []
        for term, k in zip(terms, sel, strict=True):
            s = term.value
            start, stop, step = s.start, s.stop, s.step
            if (
                (start is None or MIN_FINITE_INDEX <= start <= MAX_FINITE_INDEX)
                and (stop is None or MIN_FINITE_INDEX <= stop <= MAX_FINITE_INDEX)
                and (step is None or (type(step) is int and step))
            ):
                # Each end omitted or a finite index, and a unit step (None) or another
                # nonzero int: ``run_plan`` computes these itself, from start, stop and step.
                items.append((k, origin[k], step, start, stop))
            else:
                items.append((k, origin[k], s, None, None))
        return _SLICE, items, sel, None
    term_at: list[Any] = [None] * rank
    order_of = [0] * rank
    for position, k in enumerate(sel):
        term_at[k] = terms[position]
        order_of[k] = position
    slices: list[tuple[int, int, Any]] = []
    ints: list[tuple[int, int, int]] = []
    keep: list[int] = []
    produced: list[tuple[int, int]] = []
    for k in range(rank):
        term = term_at[k]
        if term is not None and term.kind == INT_KIND:
            ints.append((k, origin[k], term.value))
            continue
        if term is not None:
            slices.append((k, origin[k], term.value))
            produced.append((order_of[k], len(keep)))
        keep.append(k)
    produced.sort()
    return _INDEX, (tuple(slices), tuple(ints), tuple(keep)), [p for _, p in produced], keep


def run_plan(plan: Plan, t: IndexTransform) -> IndexTransform | None:
    """``t`` after the plan's operations; None when ``t`` has an index-array output map or an
    operation fails on its bounds (the one-at-a-time path then applies them, or says why not)."""
    dom = t._domain
    lo = list(dom._inclusive_min)
    hi = list(dom._exclusive_max)
    il = list(dom._implicit_lower)
    iu = list(dom._implicit_upper)
    # Input dimension j is ``offset[j] + stride[j] * new[target[j]]`` (stride 0: a constant).
    offset = [0] * len(lo)
    stride = [1] * len(lo)
    # (j, shift, offset[j], stride[j]) of each translation: the output offsets it changed are
    # checked for overflow below, as the one-at-a-time path checks them at each translation.
    moved: list[tuple[int, int, int, int]] = []
    # A bound on ``abs(offset[j]) + abs(stride[j] * shift)`` over them: an output map whose
    # ``abs(offset) + abs(stride) * reach`` fits in 64 bits cannot have overflowed.
    reach = 0
    try:
        for kind, args in plan[2]:
            if kind == _SLICE:
                for k, j, s, start, stop in args:
                    if s is None:
                        # ``slice_bounds`` written out for a unit step and a finite or omitted
                        # start and stop (as compiled): no offset, no stride; an omitted end
                        # keeps the old bound and its implicit flag.
                        a = lo[k]
                        b = hi[k]
                        first = a if start is None else start
                        last = b - 1 if stop is None else stop - 1
                        if last < first - 1 or first == inf or last == NEG_INF:
                            raise IndexError  # invalid: slice_bounds says why
                        if last >= first and (
                            (first < a and not il[k]) or (last >= b and not iu[k])
                        ):
                            raise IndexError  # out of bounds: slice_bounds says why
                        lo[k] = first
                        hi[k] = last + 1
                        if start is not None:
                            il[k] = False
                        if stop is not None:
                            iu[k] = False
                        continue
                    if type(s) is int:
                        # ``slice_bounds`` written out for a non-unit step ``s`` and a finite
                        # or omitted start and stop (as compiled); an infinite anchor (an
                        # omitted start on an unbounded side) is left to it.
                        a = lo[k]
                        b = hi[k]
                        if s > 0:
                            anchor = first = a if start is None else start
                            last = b - 1 if stop is None else stop - 1
                        else:
                            first = a if stop is None else stop + 1
                            anchor = last = b - 1 if start is None else start
                        if (
                            last < first - 1
                            or first == inf
                            or last == NEG_INF
                            or not MIN_FINITE_INDEX <= anchor <= MAX_FINITE_INDEX
                        ):
                            raise IndexError  # invalid or infinite: slice_bounds says why
                        if last >= first and (
                            (first < a and not il[k]) or (last >= b and not iu[k])
                        ):
                            raise IndexError  # out of bounds: slice_bounds says why
                        lower_implicit = start is None and il[k]
                        upper_implicit = stop is None and iu[k]
                        if lower_implicit:
                            first = a
                        if upper_implicit:
                            last = b - 1
                        # anchor - s * trunc(anchor / s), then ``affine_preimage`` written out.
                        if anchor >= 0:
                            shift = anchor % (s if s > 0 else -s)
                        else:
                            shift = -(-anchor % (s if s > 0 else -s))
                        if s > 0:
                            a = NEG_INF if first == NEG_INF else -((shift - first) // s)
                            b = inf if last == inf else (last - shift) // s
                            il[k] = lower_implicit
                            iu[k] = upper_implicit
                        else:
                            a = NEG_INF if last == inf else -((shift - last) // s)
                            b = inf if first == NEG_INF else (first - shift) // s
                            il[k] = upper_implicit
                            iu[k] = lower_implicit
                        lo[k] = a
                        hi[k] = (b if b >= a - 1 else a - 1) + 1
                        offset[j] += stride[j] * shift
                        stride[j] *= s
                        continue
                    lo[k], hi[k], il[k], iu[k], a, b = slice_bounds(s, lo[k], hi[k], il[k], iu[k], k)
                    if a or b != 1:
                        offset[j] += stride[j] * a
                        stride[j] *= b
            elif kind == _SHIFT:
                for k, j, shift in args:
                    # ``translate_interval`` written out: finite bounds move and must stay
                    # finite, infinite ones stay.
                    a = lo[k]
                    if a != NEG_INF:
                        a += shift
                        if not MIN_FINITE_INDEX <= a <= MAX_FINITE_INDEX:
                            raise IndexError  # translate_interval says why
                        lo[k] = a
                    b = hi[k]
                    if b != _UNBOUNDED_MAX:
                        b += shift
                        if not MIN_FINITE_INDEX < b <= inf:  # b - 1 finite
                            raise IndexError
                        hi[k] = b
                    moved.append((j, shift, offset[j], stride[j]))
                    change = stride[j] * shift
                    reach += abs(offset[j]) + abs(change)
                    offset[j] -= change
            elif kind == _TRANSLATE:
                for k, j, v in args:
                    lo[k], hi[k], shift = translate_interval(lo[k], hi[k], v, "to")
                    if shift:
                        moved.append((j, shift, offset[j], stride[j]))
                        change = stride[j] * shift
                        reach += abs(offset[j]) + abs(change)
                        offset[j] -= change
            elif kind == _INDEX:
                slices, ints, keep = args
                for k, j, s in slices:
                    lo[k], hi[k], il[k], iu[k], a, b = slice_bounds(s, lo[k], hi[k], il[k], iu[k], k)
                    offset[j] += stride[j] * a
                    stride[j] *= b
                # Ints are bounds checked only when the result is not definitely empty.
                for k in keep:
                    if lo[k] >= hi[k] and not il[k] and not iu[k]:
                        break
                else:
                    for k, _, v in ints:
                        check_int_bounds(v, lo[k], hi[k], il[k], iu[k], k)
                for _, j, v in ints:
                    offset[j] += stride[j] * v
                    stride[j] = 0
                lo = [lo[k] for k in keep]
                hi = [hi[k] for k in keep]
                il = [il[k] for k in keep]
                iu = [iu[k] for k in keep]
            elif kind == _STRIDE:
                for k, j, s in args:
                    lo[k], hi[k], il[k], iu[k], s = stride_interval(lo[k], hi[k], il[k], iu[k], s, k)
                    stride[j] *= s
            elif kind == _PERMUTE:
                lo = [lo[p] for p in args]
                hi = [hi[p] for p in args]
                il = [il[p] for p in args]
                iu = [iu[p] for p in args]
            else:  # _IMPLICIT
                positions, lower, upper = args
                for k in positions:
                    if lower is not None:
                        il[k] = lower
                    if upper is not None:
                        iu[k] = upper
    except (IndexError, TypeError, ValueError, OverflowError):
        return None
    target = plan[4]
    small_reach = reach < _SMALL
    maps: list[OutputIndexMap] = []
    for m in t._output:
        method = m._method
        if method is not SINGLE:
            if method is ARRAY:
                return None  # found last, as it is rare: the bounds were computed for nothing
            maps.append(m)
            continue
        j = m._input_dimension
        if (
            reach
            and not (small_reach and _NEG_LARGE < m._offset < _LARGE and _NEG_SMALL < m._stride < _SMALL)
            and _offset_overflows(m, j, moved)
        ):
            return None
        factor = stride[j]
        shift = offset[j]
        p = target[j]
        if factor == 1 and not shift and p == j:
            maps.append(m)  # unchanged (maps are immutable)
            continue
        new_map = _new(OutputIndexMap)
        new_map._offset = m._offset + m._stride * shift
        new_map._index_array = None
        new_map._index_range = FULL_RANGE
        if factor:
            new_map._method = SINGLE
            new_map._stride = m._stride * factor
            new_map._input_dimension = p
        else:
            new_map._method = CONSTANT
            new_map._stride = 0
            new_map._input_dimension = -1
        maps.append(new_map)
    domain = _new(IndexDomain)
    domain._inclusive_min = tuple(lo)
    domain._exclusive_max = tuple(hi)
    domain._implicit_lower = tuple(il)
    domain._implicit_upper = tuple(iu)
    domain._labels = plan[3]
    result = _new(IndexTransform)
    result._domain = domain
    result._output = tuple(maps)
    return result


def _offset_overflows(m: OutputIndexMap, j: int, moved: list[tuple[int, int, int, int]]) -> bool:
    """Whether a translation of input dimension ``j`` (``moved``) took ``m``'s offset, or the
    change to it, beyond 64 bits (``check_offset_change`` of the one-at-a-time path)."""
    for k, shift, offset, stride in moved:
        if k == j:
            change = m._stride * stride * shift
            if not (
                _INT64_MIN <= change <= _INT64_MAX
                and _INT64_MIN <= m._offset + m._stride * offset - change <= _INT64_MAX
            ):
                return True
    return False
