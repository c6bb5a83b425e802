"""Composition and inversion of index transforms, with tensorstore's bounds propagation."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._domain import IndexDomain, definitely_empty
from ._interval import NEG_INF, Dim, affine_domain, affine_preimage, format_interval, inf
from ._output_map import ARRAY, CONSTANT, FULL_RANGE, SINGLE, OutputIndexMap
from ._transform import IndexTransform, map_values

_single = OutputIndexMap._single
_constant = OutputIndexMap._constant
_new = object.__new__
_UNBOUNDED = (-inf, inf, True, True)  # inclusive_min, inclusive_max, implicit_lower, implicit_upper


def _tighten(
    current: tuple[int, int, bool, bool], lo: int, hi: int, il: bool, iu: bool
) -> tuple[int, int, bool, bool]:
    """Combine two inferred closed bounds: an explicit bound beats an implicit one, otherwise the
    tighter bound wins (tensorstore's rule for bounds propagated from several output dims)."""
    clo, chi, cil, ciu = current
    if cil != il:
        clo, cil = (clo, cil) if not cil else (lo, il)
    else:
        clo = max(clo, lo)
    if ciu != iu:
        chi, ciu = (chi, ciu) if not ciu else (hi, iu)
    else:
        chi = min(chi, hi)
    return clo, chi, cil, ciu


def _explicit_fits(outer_domain: IndexDomain, inner: IndexTransform) -> bool:
    """Whether ``propagate_bounds`` would return ``inner``'s domain unchanged without an error,
    decided cheaply for the common case: a finite domain with explicit bounds whose image under
    every map lies in ``outer_domain``. False means "not decided here", not "does not fit".

    For explicit bounds the propagation's check (the domain lies within each map's preimage of
    the outer interval, tightened over maps) is the same as each map's forward image lying in
    the outer interval, which needs no division.
    """
    dom = inner._domain
    if True in dom._implicit_lower or True in dom._implicit_upper:
        return False
    d_lo, d_hi = dom._inclusive_min, dom._exclusive_max
    o_lo, o_hi, o_il, o_iu = (
        outer_domain._inclusive_min,
        outer_domain._exclusive_max,
        outer_domain._implicit_lower,
        outer_domain._implicit_upper,
    )
    for j, m in enumerate(inner._output):
        method = m._method
        if method is SINGLE:
            k = m._input_dimension
            a, b = d_lo[k], d_hi[k] - 1
            if b < a:
                continue  # an empty interval fits anywhere
            if a == NEG_INF or b == inf:
                return False
            offset, stride = m._offset, m._stride
            if stride > 0:
                first, last = offset + stride * a, offset + stride * b
            else:
                first, last = offset + stride * b, offset + stride * a
        elif method is CONSTANT:
            first = last = m._offset
        else:
            continue  # index arrays impose no bounds here
        if (first < o_lo[j] and not o_il[j]) or (last >= o_hi[j] and not o_iu[j]):
            return False
    return True


def propagate_bounds(outer_domain: IndexDomain, inner: IndexTransform) -> IndexDomain:
    """The domain of ``outer ∘ inner``: ``inner``'s domain, its implicit bounds replaced by the
    bounds that ``outer``'s domain imposes through single-input maps; explicit bounds must fit."""
    if _explicit_fits(outer_domain, inner):
        return inner._domain
    return _propagate_general(outer_domain, inner)


def _propagate_general(od: IndexDomain, inner: IndexTransform) -> IndexDomain:
    """``propagate_bounds`` for any domain: infer, tighten, merge and check per dimension."""
    dom = inner._domain
    o_lo, o_hi, o_il, o_iu = od._inclusive_min, od._exclusive_max, od._implicit_lower, od._implicit_upper
    d_lo, d_hi, d_il, d_iu = dom._inclusive_min, dom._exclusive_max, dom._implicit_lower, dom._implicit_upper
    rank = len(d_lo)
    inferred: list[tuple[int, int, bool, bool]] = [_UNBOUNDED] * rank
    # An empty domain accesses nothing, so nothing is bounds checked: ``definitely_empty`` is
    # only asked once a check fails.
    for j, m in enumerate(inner._output):
        method = m._method
        if method is SINGLE:
            il, iu = o_il[j], o_iu[j]
            lo, hi, stride = o_lo[j], o_hi[j] - 1, m._stride
            if hi < lo:
                plo, phi, swapped = affine_domain(lo, hi, m._offset, stride)
            else:
                plo, phi, swapped = affine_preimage(lo, hi, m._offset, stride)
            if swapped:
                il, iu = iu, il
            k = m._input_dimension
            current = inferred[k]
            if current is _UNBOUNDED:  # what _tighten gives against no bounds yet
                inferred[k] = (max(-inf, plo) if il else plo, min(inf, phi) if iu else phi, il, iu)
            else:
                inferred[k] = _tighten(current, plo, phi, il, iu)
        elif method is CONSTANT:
            lo, hi = o_lo[j], o_hi[j] - 1
            il, iu = o_il[j], o_iu[j]
            c = m._offset
            if ((not il and c < lo) or (not iu and c > hi)) and not definitely_empty(dom):
                raise IndexError(
                    f"OUT_OF_RANGE: Checking bounds of constant output index map for dimension {j}: "
                    f"Index {c} is outside valid range {format_interval(lo if not il else -inf, (hi if not iu else inf) + 1)}"
                )
    lo_out: list[int] | None = None
    for k in range(rank):
        bounds = inferred[k]
        if bounds is _UNBOUNDED:  # no single-input map constrains this dimension
            continue
        ilo, ihi, iil, iiu = bounds
        lower_implicit, upper_implicit = d_il[k], d_iu[k]
        new_lo, new_il = (ilo, iil) if lower_implicit else (d_lo[k], False)
        new_hi, new_iu = (ihi, iiu) if upper_implicit else (d_hi[k] - 1, False)
        # The merged interval must fit the explicit propagated bounds (an empty one always does).
        if (
            new_hi >= new_lo
            and (new_lo < (-inf if iil else ilo) or new_hi > (inf if iiu else ihi))
            and not definitely_empty(dom)
        ):
            raise IndexError(
                f"OUT_OF_RANGE: Propagated bounds {format_interval(ilo, ihi + 1)}, with size={ihi + 1 - ilo}, "
                f"for dimension {k} are incompatible with existing bounds "
                f"{format_interval(new_lo, new_hi + 1)}, with size={new_hi + 1 - new_lo}."
            )
        if not (lower_implicit or upper_implicit):
            continue  # explicit bounds stay as they are
        if new_hi < new_lo - 1:
            new_hi = new_lo - 1
        if lo_out is None:
            lo_out, hi_out, il_out, iu_out = list(d_lo), list(d_hi), list(d_il), list(d_iu)
        lo_out[k] = new_lo
        hi_out[k] = new_hi + 1
        il_out[k] = new_il
        iu_out[k] = new_iu
    if lo_out is None:
        return dom  # every bound kept: the domain is immutable, so it is the result
    return IndexDomain._make(
        tuple(lo_out), tuple(hi_out), tuple(il_out), tuple(iu_out), dom._labels
    )


def compose(outer: IndexTransform, inner: IndexTransform) -> IndexTransform:
    """``outer ∘ inner``: first ``inner`` (X -> Y), then ``outer`` (Y -> Z); tensorstore's ``outer[inner]``.

    Without index arrays on either side, the maps are integer arithmetic (nothing to check or
    normalise, and a map composed with an identity is the other map itself); and when every
    bound of ``inner``'s domain is explicit and its image lies in ``outer``'s domain (as
    ``_explicit_fits`` decides), that domain is the result's. Both are written out here: this
    runs for every transform applied to a transform.
    """
    inner_maps = inner._output
    od = outer._domain
    o_lo = od._inclusive_min
    if len(inner_maps) != len(o_lo):
        raise IndexError(
            f"Rank {outer.input_rank} -> {outer.output_rank} transform cannot be composed with "
            f"rank {inner.input_rank} -> {inner.output_rank} transform."
        )
    if not _AFFINE_SHORTCUT:
        return _compose_general(outer, inner)
    dom = inner._domain
    fits = not (True in dom._implicit_lower or True in dom._implicit_upper)
    if fits:
        d_lo, d_hi = dom._inclusive_min, dom._exclusive_max
        o_hi, o_il, o_iu = od._exclusive_max, od._implicit_lower, od._implicit_upper
        j = 0
        for n in inner_maps:
            method = n._method
            if method is SINGLE:
                k = n._input_dimension
                a = d_lo[k]
                b = d_hi[k] - 1
                if b < a:  # an empty interval fits anywhere
                    j += 1
                    continue
                if a == NEG_INF or b == inf:
                    fits = False
                    break
                offset = n._offset
                stride = n._stride
                if stride > 0:
                    first = offset + stride * a
                    last = offset + stride * b
                else:
                    first = offset + stride * b
                    last = offset + stride * a
            elif method is CONSTANT:
                first = last = n._offset
            else:
                return _compose_general(outer, inner)
            if (first < o_lo[j] and not o_il[j]) or (last >= o_hi[j] and not o_iu[j]):
                fits = False
                break
            j += 1
    maps: list[OutputIndexMap] = []
    for m in outer._output:
        method = m._method
        if method is SINGLE:
            n = inner_maps[m._input_dimension]
            m_stride = m._stride
            offset = m._offset + m_stride * n._offset
            if n._method is SINGLE:
                stride = m_stride * n._stride
                if offset == n._offset and stride == n._stride:
                    maps.append(n)
                    continue
                new_map = _new(OutputIndexMap)
                new_map._method = SINGLE
                new_map._stride = stride
                new_map._input_dimension = n._input_dimension
            elif n._method is CONSTANT:
                if offset == n._offset:
                    maps.append(n)
                    continue
                new_map = _new(OutputIndexMap)
                new_map._method = CONSTANT
                new_map._stride = 0
                new_map._input_dimension = -1
            else:
                return _compose_general(outer, inner)
            new_map._offset = offset
            new_map._index_array = None
            new_map._index_range = FULL_RANGE
            maps.append(new_map)
        elif method is CONSTANT:
            maps.append(m)
        else:
            return _compose_general(outer, inner)
    result = _new(IndexTransform)
    result._domain = dom if fits else _propagate_general(od, inner)
    result._output = tuple(maps)
    return result


#: Whether ``compose`` takes its shortcut for transforms without index arrays (tests turn it
#: off to compare it with the general path).
_AFFINE_SHORTCUT = True


def _compose_general(outer: IndexTransform, inner: IndexTransform) -> IndexTransform:
    """``compose`` through ``propagate_bounds`` and ``compose_maps``, for any maps."""
    domain = propagate_bounds(outer._domain, inner)
    return IndexTransform._make(domain, compose_maps(outer, inner._output, domain))


def effective_range(domain: IndexDomain, j: int) -> tuple[int, int]:
    """Half-open bounds of dimension ``j`` with implicit bounds treated as infinite."""
    lo = -inf if domain._implicit_lower[j] else domain._inclusive_min[j]
    hi = inf + 1 if domain._implicit_upper[j] else domain._exclusive_max[j]
    return lo, hi


def compose_maps(
    outer: IndexTransform,
    inner_maps: tuple[OutputIndexMap, ...],
    domain: IndexDomain,
    simplify: bool = True,
    normalize_empty: bool | None = None,
) -> tuple[OutputIndexMap, ...]:
    """Output maps of ``outer ∘ inner`` where ``inner_maps`` map ``domain`` into ``outer``'s input.

    ``simplify=False`` (translate/transpose/diagonal/label, which tensorstore applies to the
    domain directly) keeps single-element index arrays as arrays instead of constants;
    ``normalize_empty`` (default: ``simplify``) turns index arrays on an empty domain into constants.
    """
    if normalize_empty is None:
        normalize_empty = simplify
    od = outer._domain
    if (
        normalize_empty
        and any(n._method is ARRAY for n in inner_maps)
        and definitely_empty(domain)
    ):
        # tensorstore normalizes index arrays over an empty domain to ``constant 0`` first;
        # single-element arrays still become checked constants unless an explicit bound empties it.
        keep_single = not definitely_empty(domain)
        inner_maps = tuple(
            OutputIndexMap._constant(0)
            if n._method == ARRAY and not (keep_single and n._index_array.size == 1)  # type: ignore[union-attr]
            else n
            for n in inner_maps
        )
    result: list[OutputIndexMap] = []
    for m in outer._output:
        method = m._method
        if method == CONSTANT:
            result.append(m)
        elif method == SINGLE:
            n = inner_maps[m._input_dimension]
            if n._method == CONSTANT:
                result.append(OutputIndexMap._constant(m._offset + m._stride * n._offset))
            elif n._method == SINGLE:
                result.append(
                    OutputIndexMap._single(
                        n._input_dimension, m._offset + m._stride * n._offset, m._stride * n._stride
                    )
                )
            else:
                result.append(_fold_array_map(n, m._offset, m._stride, od, m._input_dimension))
        else:
            result.append(_compose_array_map(m, od, inner_maps, domain, simplify, normalize_empty))
    return tuple(result)


def _fold_array_map(
    n: OutputIndexMap, offset: int, stride: int, od: IndexDomain, j: int
) -> OutputIndexMap:
    """``offset + stride * (n)`` where ``n`` is an index-array map into dimension ``j`` of ``od``."""
    lo, hi = effective_range(od, j)
    plo, phi, _ = affine_preimage(lo, hi - 1, n._offset, n._stride)
    rng = n._index_range
    new_lo = max(plo, rng._inclusive_min)
    new_hi = max(min(phi + 1, rng._exclusive_max), new_lo)
    index_range = Dim._make(new_lo, new_hi, False, False, "")
    array = n._index_array
    assert array is not None
    new_offset = offset + stride * n._offset
    new_stride = stride * n._stride
    if array.size == 1:
        value = int(array.reshape(-1)[0])
        if not new_lo <= value < new_hi:
            raise IndexError(
                f"OUT_OF_RANGE: Index {value} is outside valid range {format_interval(new_lo, new_hi)}"
            )
        return OutputIndexMap._constant(new_offset + new_stride * value)
    return OutputIndexMap._array(array, new_offset, new_stride, index_range)


def _checked_values(n: OutputIndexMap, domain: IndexDomain, lo: int, hi: int, j: int) -> Any:
    """Values of inner map ``n`` over ``domain``, checked to lie in ``[lo, hi)`` (and its index range)."""
    if n._method == ARRAY:
        array = n._index_array
        assert array is not None
        rng = n._index_range
        if array.size:
            amin, amax = int(array.min()), int(array.max())
            if amin < rng._inclusive_min or amax >= rng._exclusive_max:
                bad = amin if amin < rng._inclusive_min else amax
                raise IndexError(
                    f"OUT_OF_RANGE: In index array map for output dimension {j}: Index {bad} is outside valid "
                    f"range {format_interval(rng._inclusive_min, rng._exclusive_max)}"
                )
    values = map_values(n, domain)
    if np.size(values):
        vmin, vmax = int(np.min(values)), int(np.max(values))
        if vmin < lo or vmax >= hi:
            bad = vmin if vmin < lo else vmax
            raise IndexError(
                f"OUT_OF_RANGE: In index array map for output dimension {j}: Index {bad} is outside valid "
                f"range {format_interval(lo, hi)}"
            )
    return values


def _is_translation_only(
    inner_maps: tuple[OutputIndexMap, ...], array: np.ndarray[Any, Any], domain: IndexDomain
) -> bool:
    """Whether ``inner_maps`` only shift each dimension (stride 1, same dims, same extents)."""
    if domain.rank != array.ndim:
        return False
    for j, n in enumerate(inner_maps):
        if n._method != SINGLE or n._input_dimension != j or n._stride != 1:
            return False
        if array.shape[j] not in (1, domain._exclusive_max[j] - domain._inclusive_min[j]):
            return False
    return True


def _compose_array_map(
    m: OutputIndexMap,
    od: IndexDomain,
    inner_maps: tuple[OutputIndexMap, ...],
    domain: IndexDomain,
    simplify: bool = True,
    normalize_empty: bool = True,
) -> OutputIndexMap:
    """Evaluate ``m``'s index array at the positions ``inner_maps`` give over ``domain``."""
    array = m._index_array
    assert array is not None
    rank = domain.rank
    if normalize_empty and definitely_empty(domain):
        return OutputIndexMap._constant(0)
    if _is_translation_only(inner_maps, array, domain) and not (simplify and array.size == 1):
        return m  # pure translation: the array is unchanged
    positions: list[Any] = []
    for j, n in enumerate(inner_maps):
        if array.shape[j] == 1:
            positions.append(0)
            continue
        lo, hi = od._inclusive_min[j], od._exclusive_max[j]
        values = _checked_values(n, domain, lo, hi, j)
        positions.append(values - lo)
    if rank:
        positions = [np.reshape(p, (1,) * rank) if np.ndim(p) == 0 else p for p in positions]
    new_array = array[tuple(positions)] if positions else array
    if new_array.ndim != rank:
        new_array = np.reshape(
            new_array, np.broadcast_shapes(*(np.shape(p) for p in positions)) or (1,) * rank
        )
    if new_array.size == 1 and simplify:
        value = int(new_array.reshape(-1)[0])
        rng = m._index_range
        if not rng._inclusive_min <= value < rng._exclusive_max:
            raise IndexError(
                f"OUT_OF_RANGE: Index {value} is outside valid range "
                f"{format_interval(rng._inclusive_min, rng._exclusive_max)}"
            )
        return OutputIndexMap._constant(m._offset + m._stride * value)
    new_array.flags.writeable = False
    return OutputIndexMap._array(new_array, m._offset, m._stride, m._index_range)


def inverse_transform(t: IndexTransform) -> IndexTransform:
    """Inverse of a transform whose maps are a permutation of stride +/-1 single-input maps."""
    dom = t._domain
    rank = dom.rank
    if t.output_rank != rank:
        raise ValueError(
            f"Transform is not invertible: input rank {rank} != output rank {t.output_rank}"
        )
    source: list[int] = [-1] * rank
    for j, m in enumerate(t._output):
        if m._method != SINGLE or m._stride not in (1, -1):
            raise ValueError(f"Transform is not invertible due to output index map {j}: {m!r}")
        if source[m._input_dimension] != -1:
            raise ValueError(
                f"Transform is not invertible due to input dimension {m._input_dimension} being used twice"
            )
        source[m._input_dimension] = j
    lo: list[int] = [0] * rank
    hi: list[int] = [0] * rank
    il: list[bool] = [False] * rank
    iu: list[bool] = [False] * rank
    labels: list[str] = [""] * rank
    maps: list[OutputIndexMap] = []
    for j, m in enumerate(t._output):
        k, o, s = m._input_dimension, m._offset, m._stride
        a, b = dom._inclusive_min[k], dom._exclusive_max[k] - 1
        if s == 1:
            lo[j] = a if a == -inf else a + o
            hi[j] = (b if b == inf else b + o) + 1
            il[j], iu[j] = dom._implicit_lower[k], dom._implicit_upper[k]
        else:
            lo[j] = -inf if b == inf else o - b
            hi[j] = (inf if a == -inf else o - a) + 1
            il[j], iu[j] = dom._implicit_upper[k], dom._implicit_lower[k]
        labels[j] = dom._labels[k]
    for k in range(rank):
        m = t._output[source[k]]
        maps.append(OutputIndexMap._single(source[k], -m._offset * m._stride, m._stride))
    domain = IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), tuple(labels))
    return IndexTransform._make(domain, tuple(maps))
