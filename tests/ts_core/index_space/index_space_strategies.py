"""Hypothesis strategies shared by the differential tests: random transforms and index expressions
described as plain data, so the same expression can be built for ts_core and for tensorstore."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

LABELS = ("x", "y", "z", "w")
MAX_RANK = 4
INFINITE = 4611686018427387903


@st.composite
def transform_json(
    draw: Any,
    finite: bool = True,
    max_rank: int = MAX_RANK,
    labels: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """JSON of a random transform: random box (implicit flags, labels) and random output maps;
    ``labels`` fixes the rank and the labels."""
    rank = draw(st.integers(0, max_rank)) if labels is None else len(labels)
    lo, hi = [], []
    for _ in range(rank):
        if not finite and draw(st.integers(0, 5)) == 0:
            lo.append(["-inf"])
            hi.append(["+inf"])
            continue
        a = draw(st.integers(-4, 4))
        n = draw(st.integers(0, 6) if draw(st.integers(0, 9)) == 0 else st.integers(1, 6))
        # Empty implicit intervals are left out: see docs/indexing.md, "Known differences".
        lo.append([a] if n and draw(st.booleans()) and draw(st.booleans()) else a)
        hi.append([a + n] if n and draw(st.booleans()) and draw(st.booleans()) else a + n)
    if labels is None:
        drawn = draw(st.lists(st.sampled_from(("", *LABELS)), min_size=rank, max_size=rank))
        seen: set[str] = set()
        labels = tuple(x if x not in seen and not seen.add(x) else "" for x in drawn)  # type: ignore[func-returns-value]
    out: dict[str, Any] = {"input_rank": rank}
    if rank:
        out = {"input_inclusive_min": lo, "input_exclusive_max": hi, "input_labels": list(labels)}
    if draw(st.booleans()):
        return out
    shape = [(h[0] if isinstance(h, list) else h) for h in hi]
    origin = [(a[0] if isinstance(a, list) else a) for a in lo]
    maps = []
    for _ in range(draw(st.integers(0, MAX_RANK))):
        kind = draw(st.integers(0, 4))
        offset = draw(st.integers(-3, 3))
        if kind == 0 or rank == 0:
            maps.append({"offset": offset})
        elif kind <= 3:
            stride = draw(st.sampled_from((1, 1, -1, 2, -2)))
            maps.append(
                {
                    "input_dimension": draw(st.integers(0, rank - 1)),
                    "offset": offset,
                    "stride": stride,
                }
            )
        else:
            # Index arrays only over explicit bounds: the wheel can crash slicing them to empty
            # implicit domains.
            if any(isinstance(b, list) for b in lo + hi):
                maps.append({"offset": offset})
                continue
            ashape = [
                (s - o) if draw(st.booleans()) else 1 for s, o in zip(shape, origin, strict=True)
            ]
            if 0 in ashape or any(isinstance(s, str) for s in shape):
                maps.append({"offset": offset})
                continue
            values = draw(
                st.lists(
                    st.integers(-2, 8), min_size=int(np.prod(ashape)), max_size=int(np.prod(ashape))
                )
            )
            maps.append(
                {"index_array": np.array(values).reshape(ashape).tolist(), "offset": offset}
            )
    out["output"] = maps
    return out


def _int_array(draw: Any, min_size: int = 0) -> np.ndarray:
    ndim = draw(st.integers(1, 2))
    shape = draw(st.lists(st.integers(min_size, 3), min_size=ndim, max_size=ndim))
    values = draw(
        st.lists(st.integers(-2, 7), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    return np.array(values, dtype=np.int64).reshape(shape)


def _bool_array(draw: Any) -> np.ndarray:
    ndim = draw(st.integers(0, 2))
    shape = draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim))
    values = draw(
        st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    return np.array(values, dtype=bool).reshape(shape)


@st.composite
def index_term(
    draw: Any, arrays: bool = True, newaxis: bool = True, min_array_size: int = 0
) -> Any:
    """One NumPy-style term: int, slice, None, int array or bool array."""
    kind = draw(st.integers(0, 9 if arrays else 6))
    bound = st.one_of(st.none(), st.integers(-3, 9))
    if kind <= 1:
        return draw(st.integers(-2, 8))
    if kind <= 5:
        step = draw(st.sampled_from((None, None, 1, 2, 3, -1, -2)))
        return slice(draw(bound), draw(bound), step)
    if kind == 6:
        return None if newaxis else slice(None)
    if kind <= 8:
        return _int_array(draw, min_array_size)
    return _bool_array(draw)


@st.composite
def numpy_index(draw: Any) -> tuple[Any, ...]:
    """A NumPy-style index tuple with at most one ellipsis."""
    terms = draw(st.lists(index_term(), max_size=4))
    if draw(st.integers(0, 3)) == 0:
        terms.insert(draw(st.integers(0, len(terms))), Ellipsis)
    return tuple(terms)


@st.composite
def dim_selection(draw: Any) -> tuple[Any, ...]:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return (
            slice(
                draw(st.sampled_from((None, 0, 1, -1))),
                draw(st.sampled_from((None, 2, -1))),
                draw(st.sampled_from((None, 1, -1))),
            ),
        )
    items = draw(
        st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(LABELS)), min_size=1, max_size=3)
    )
    return tuple(items)


_OPS = (
    "label",
    "translate_by",
    "translate_to",
    "translate_backward_by",
    "stride",
    "transpose",
    "diagonal",
    "mark_bounds_implicit",
    "index",
    "oindex",
    "vindex",
)


@st.composite
def dim_expression(draw: Any) -> tuple[tuple[Any, ...], list[tuple[str, Any]]]:
    """A selection plus 1-3 chained operations, as data."""
    selection = draw(dim_selection())
    ops = []
    for position in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(_OPS))
        n = draw(st.integers(1, 3))
        if op == "label":
            names = draw(
                st.lists(st.sampled_from(("a", "b", "c", "x", "")), min_size=n, max_size=n)
            )
            arg: Any = names[0] if n == 1 and draw(st.booleans()) else tuple(names)
        elif op.startswith("translate"):
            vals = draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n))
            arg = vals[0] if n == 1 else tuple(vals)
        elif op == "stride":
            vals = draw(st.lists(st.sampled_from((1, 2, 3, -1, -2, 0)), min_size=n, max_size=n))
            arg = vals[0] if n == 1 else tuple(vals)
        elif op == "transpose":
            vals = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
            arg = vals[0] if n == 1 else tuple(vals)
        elif op == "diagonal":
            arg = None
        elif op == "mark_bounds_implicit":
            v = st.sampled_from((None, True, False))
            arg = draw(v) if draw(st.booleans()) else slice(draw(v), draw(v))
        else:
            # Empty index arrays after another op are left out: see docs/indexing.md.
            terms = draw(
                st.lists(index_term(min_array_size=1 if position else 0), min_size=1, max_size=3)
            )
            # The tensorstore wheel crashes on `...` in chained indexing, so only the first op gets one.
            if position == 0 and draw(st.integers(0, 4)) == 0:
                terms.insert(draw(st.integers(0, len(terms))), Ellipsis)
            arg = terms[0] if len(terms) == 1 and draw(st.booleans()) else tuple(terms)
        ops.append((op, arg))
    return selection, ops


def build_dim_expression(mod: Any, selection: tuple[Any, ...], ops: list[tuple[str, Any]]) -> Any:
    """Build the described expression with ``mod.d`` (ts_core.index_space or tensorstore)."""
    expr = mod.d[selection]
    for op, arg in ops:
        if op == "diagonal":
            expr = expr.diagonal
        elif op == "index":
            expr = expr[arg]
        else:
            expr = getattr(expr, op)[arg]
    return expr
