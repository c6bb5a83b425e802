"""A dimension expression's operations applied in one pass over per-dimension lists.

Applied one at a time, each operation of ``ts.d[...][...].translate_by[...].label[...]`` builds
an intermediate ``IndexTransform`` (domain, output maps, composition). When the transform's
output maps are all constant or single-input, every operation that changes dimensions by an
affine rule (ints and slices, translations, strides, transpositions, labels, implicit flags)
can instead update the domain's bounds and the output maps' ``(input dimension, offset,
stride)`` triples in place, and the result is built once. The per-dimension rules
(``basic_selection``, ``translated_bounds``, ``strided_bounds``, ``transpose_order``,
``relabeled``, ``marked_implicit``) are the ones the one-at-a-time path uses, so results and
checks agree; an operation this path does not take, or one that fails, is handed to that
path, which then reports the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._dim_expression import (
    _TRANSLATIONS,
    marked_implicit,
    relabeled,
    resolve_selection,
    strided_bounds,
    translated_bounds,
    transpose_order,
)
from ._domain import IndexDomain
from ._indexing import basic_selection
from ._output_map import CONSTANT, SINGLE, OutputIndexMap
from ._transform import IndexTransform

#: Operations taken here: NumPy-style indexing (of ints and slices only) and those that act on
#: the selected dims in place: translations, strides, transpositions, labels and implicit
#: flags; not diagonals or new dimensions.
_INDEXING = frozenset({"index", "oindex", "vindex"})
_OPERATIONS = frozenset(
    {"stride", "transpose", "label", "mark_bounds_implicit", *_TRANSLATIONS}
)
_single = OutputIndexMap._single
_constant = OutputIndexMap._constant


def apply_affine_prefix(
    t: IndexTransform, selection: Sequence[Any], ops: tuple[tuple[str, Any], ...]
) -> tuple[IndexTransform, list[int] | None, int]:
    """Apply the leading operations of ``ops`` that this path takes to ``t``.

    Returns the transform after them, the dimension selection they leave (None if no
    operation was applied) and how many were applied; the caller applies the rest.
    """
    if not ops or (ops[0][0] not in _INDEXING and ops[0][0] not in _OPERATIONS):
        return t, None, 0
    # Output map ``k`` is ``offsets[k] + strides[k] * in[sources[k]]``, or the constant
    # ``offsets[k]`` when ``sources[k]`` is -1.
    sources: list[int] = []
    offsets: list[int] = []
    strides: list[int] = []
    for m in t._output:
        method = m._method
        if method is SINGLE:
            sources.append(m._input_dimension)
            strides.append(m._stride)
        elif method is CONSTANT:
            sources.append(-1)
            strides.append(0)
        else:  # an index array: the one-at-a-time path composes it
            return t, None, 0
        offsets.append(m._offset)
    dom = t._domain
    lo: Sequence[int] = dom._inclusive_min
    hi: Sequence[int] = dom._exclusive_max
    il: Sequence[bool] = dom._implicit_lower
    iu: Sequence[bool] = dom._implicit_upper
    labels: Sequence[str] = dom._labels
    dims: list[int] | None = None
    done = 0
    for op, args in ops:
        # Each step computes new lists and raises before anything is changed, so a step that
        # fails leaves the state of the previous one for the one-at-a-time path.
        try:
            if op in _INDEXING:
                terms, scalar = args
                step = basic_selection(
                    lo, hi, il, iu, labels, terms, selection if dims is None else dims, scalar
                )
                if step is None:
                    break
                lo, hi, il, iu, labels, inner, dims = step
                for k, p in enumerate(sources):
                    if p >= 0:
                        q, offset, stride = inner[p]
                        offsets[k] += strides[k] * offset
                        sources[k] = q
                        strides[k] = strides[k] * stride if q >= 0 else 0
            elif op in _OPERATIONS:
                if dims is None:
                    dims = resolve_selection(selection, labels)
                kind = _TRANSLATIONS.get(op)
                if kind is not None:
                    lo, hi, shifts = translated_bounds(lo, hi, dims, args, kind)
                    for k, p in enumerate(sources):
                        if p >= 0 and shifts[p]:
                            offsets[k] -= strides[k] * shifts[p]
                elif op == "label":
                    labels = relabeled(labels, dims, args)
                elif op == "stride":
                    lo, hi, il, iu, factors = strided_bounds(lo, hi, il, iu, dims, args)
                    for k, p in enumerate(sources):
                        if p >= 0:
                            strides[k] *= factors[p]
                elif op == "transpose":
                    order, targets = transpose_order(len(lo), dims, args)
                    if order is not None:
                        lo = [lo[j] for j in order]
                        hi = [hi[j] for j in order]
                        il = [il[j] for j in order]
                        iu = [iu[j] for j in order]
                        labels = [labels[j] for j in order]
                        position = [0] * len(order)
                        for new_dim, j in enumerate(order):
                            position[j] = new_dim
                        for k, p in enumerate(sources):
                            if p >= 0:
                                sources[k] = position[p]
                    dims = targets
                else:  # mark_bounds_implicit
                    il, iu = marked_implicit(il, iu, dims, *args)
            else:
                break
        except (IndexError, TypeError, ValueError):
            break
        done += 1
    if not done:
        return t, None, 0
    domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
    maps: list[OutputIndexMap] = []
    for m, p, offset, stride in zip(t._output, sources, offsets, strides, strict=True):
        if p < 0:
            maps.append(m if m._method is CONSTANT and m._offset == offset else _constant(offset))
        elif p == m._input_dimension and offset == m._offset and stride == m._stride:
            maps.append(m)  # unchanged (maps are immutable)
        else:
            maps.append(_single(p, offset, stride))
    return IndexTransform._make(domain, tuple(maps), normalize=False), dims, done
