"""Differential tests of *validation*: random, often invalid, index terms and dimension
expressions give the same result or the same exception type (ValueError, IndexError,
TypeError) in ts_core and in the tensorstore wheel, and the same ``repr``.

``test_differential.py`` checks results on well-formed input; this file draws hostile
arguments (wrong types, vector slices, huge integers, labels where indices are expected)
and compares where and how each library refuses them: when the expression is built, or
when it is applied. Each failure a fresh run found is pinned with ``@example``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ts_core as my

from .index_space_strategies import transform_json

ts = pytest.importorskip("tensorstore")

EXAMPLES = settings(
    max_examples=int(os.environ.get("TS_DIFFERENTIAL_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- outcomes --------------------------------------------------------------------------------------
_KINDS = {ValueError: "ValueError", IndexError: "IndexError", TypeError: "TypeError"}


def _kind(exc: BaseException) -> str:
    """The error class as tensorstore users see it; pybind11's failed argument conversions
    (``RuntimeError: Unable to cast``) are the wheel's TypeErrors."""
    if isinstance(exc, RuntimeError) and "Unable to cast" in str(exc):
        return "TypeError"
    for cls, name in _KINDS.items():
        if isinstance(exc, cls):
            return name
    raise exc


def _text(value: Any) -> str:
    return (
        repr(value).replace("ts_core.index_space", "tensorstore").replace("ts_core", "tensorstore")
    )


def outcome(build: Any) -> Any:
    """``("built", repr, result JSON)`` or ``("error", stage, kind)``."""
    try:
        expression = build()
    except Exception as exc:  # construction
        return ("error", "build", _kind(exc))
    return expression


def apply_outcome(target: Any, expression: Any, how: Any) -> Any:
    try:
        result = how(target, expression)
    except Exception as exc:
        return ("error", "apply", _kind(exc))
    return ("ok", result.to_json())


# -- strategies ------------------------------------------------------------------------------------
SMALL = st.integers(-3, 9)
HUGE = st.sampled_from([2**62, -(2**62), 2**63, -(2**63) - 1, 2**70])
LABELS = st.sampled_from(["x", "y", "z", "w", "q", "", "it's"])


@st.composite
def slice_part(draw: Any, vectors: bool = True) -> Any:
    kind = draw(st.integers(0, 12))
    if kind <= 4:
        return None
    if kind <= 8:
        return draw(SMALL)
    if kind == 9 and vectors:
        return draw(st.lists(st.none() | SMALL, min_size=1, max_size=3))
    if kind == 10:
        return draw(st.sampled_from([True, np.int64(2), 1.5, "a"]))
    return draw(HUGE)


@st.composite
def index_term(draw: Any, newaxis: bool = True) -> Any:
    """One NumPy-style term, valid or not."""
    kind = draw(st.integers(0, 16))
    if kind <= 2:
        return draw(SMALL)
    if kind <= 6:
        step = draw(st.sampled_from([None, None, 1, 2, -1, -2, 0]) | slice_part())
        return slice(draw(slice_part()), draw(slice_part()), step)
    if kind == 7:
        return None if newaxis else slice(None)
    if kind == 8:
        return draw(st.lists(st.integers(-2, 7), min_size=1, max_size=3))
    if kind == 9:
        rows = draw(st.integers(1, 2))
        cols = draw(st.integers(1, 2))
        return np.array(
            draw(st.lists(st.integers(-2, 7), min_size=rows * cols, max_size=rows * cols))
        ).reshape(rows, cols)
    if kind == 10:
        n = draw(st.integers(1, 5))
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if kind == 11:
        return draw(st.sampled_from([np.array(2), np.array(True), np.array(False), True]))
    if kind == 12:
        return draw(st.sampled_from([np.array([1], dtype=np.uint8), np.array([1.0]), np.int32(1)]))
    if kind == 13:
        return draw(HUGE)
    if kind == 14:
        return draw(st.sampled_from([1.5, "x", [1.5], {}, [[1], [2, 3]]]))
    if kind == 15:
        return Ellipsis
    return draw(SMALL)


@st.composite
def numpy_index(draw: Any, newaxis: bool = True, ellipsis: bool = True) -> Any:
    terms = draw(st.lists(index_term(newaxis=newaxis), min_size=0, max_size=4))
    if not ellipsis:
        terms = [slice(None) if t is Ellipsis else t for t in terms]
    if draw(st.booleans()) and len(terms) == 1:
        return terms[0]
    return tuple(terms)


@st.composite
def selection(draw: Any) -> Any:
    """A dimension selection (``ts.d[...]``), valid or not."""
    item = st.one_of(
        st.integers(-4, 4),
        LABELS,
        st.builds(
            slice,
            st.none() | st.integers(-4, 4),
            st.none() | st.integers(-4, 4),
            st.sampled_from([None, 1, -1, 2]),
        ),
    )
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(item)
    if kind <= 8:
        return tuple(draw(st.lists(item | st.lists(item, max_size=2), min_size=0, max_size=3)))
    return draw(st.sampled_from([1.5, None, True, np.int64(1), np.array(1), slice(0, 2, 0)]))


@st.composite
def vector_argument(draw: Any, values: Any) -> Any:
    kind = draw(st.integers(0, 5))
    if kind <= 2:
        return draw(values)
    if kind <= 4:
        return tuple(draw(st.lists(values, min_size=0, max_size=3)))
    return draw(st.sampled_from([1.5, "a", [1, "b"], 2**63, np.array([1, 2])]))


OPERATIONS = (
    "index",
    "oindex",
    "vindex",
    "translate_by",
    "translate_backward_by",
    "translate_to",
    "stride",
    "label",
    "transpose",
    "mark_bounds_implicit",
    "diagonal",
)


@st.composite
def operations(draw: Any) -> list[tuple[str, Any]]:
    ops: list[tuple[str, Any]] = []
    for position in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(OPERATIONS))
        if op in ("index", "oindex", "vindex"):
            # The wheel aborts on `...` in a chained indexing operation: first op only.
            arg: Any = draw(numpy_index(newaxis=True, ellipsis=position == 0))
            if position and _has_empty_array(arg):
                continue  # and lays out chained empty index arrays differently (docs/indexing.md)
        elif op.startswith("translate"):
            arg = draw(vector_argument(st.none() | st.integers(-5, 5)))
        elif op == "stride":
            arg = draw(vector_argument(st.none() | st.sampled_from([1, 2, -1, -2, 0])))
        elif op == "label":
            arg = draw(
                LABELS
                | st.lists(LABELS, max_size=3).map(tuple)
                | st.sampled_from([1, None, ("a", 1)])
            )
        elif op == "transpose":
            arg = draw(selection())
        elif op == "mark_bounds_implicit":
            flag = st.sampled_from([None, True, False, 1, 0])
            arg = draw(
                flag | st.builds(slice, flag, flag) | st.sampled_from(["a", slice(True, None, 1)])
            )
        else:
            arg = None
        ops.append((op, arg))
    return ops


def _has_empty_array(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(
        isinstance(x, np.ndarray | list) and np.size(np.asarray(x, dtype=object)) == 0
        for x in items
    )


def build(mod: Any, sel: Any, ops: list[tuple[str, Any]]) -> Any:
    expression = mod.d[sel]
    for op, arg in ops:
        if op == "diagonal":
            expression = expression.diagonal
        elif op == "index":
            expression = expression[arg]
        else:
            expression = getattr(expression, op)[arg]
    return expression


def _safe_for_wheel(json: dict[str, Any]) -> bool:
    """Index arrays on implicit or empty bounds can abort the wheel: keep explicit boxes."""
    for key in ("input_inclusive_min", "input_exclusive_max"):
        if any(isinstance(b, list) for b in json.get(key, [])):
            return False
    lo, hi = json.get("input_inclusive_min", []), json.get("input_exclusive_max", [])
    return all(b > a for a, b in zip(lo, hi, strict=True))


def _both_transforms(json: dict[str, Any]) -> tuple[Any, Any]:
    return my.IndexTransform(json=json), ts.IndexTransform(json=json)


def _compare(
    json: dict[str, Any], sel: Any, ops: list[tuple[str, Any]], how: Any, on_domain: bool = False
) -> None:
    ours_t, theirs_t = _both_transforms(json)
    if on_domain:
        ours_t, theirs_t = ours_t.domain, theirs_t.domain
    mine = outcome(lambda: build(my, sel, ops))
    reference = outcome(lambda: build(ts, sel, ops))
    context = (json, sel, ops)
    if isinstance(reference, tuple) or isinstance(mine, tuple):
        assert mine == reference, context
        return
    assert _text(mine) == _text(reference), context
    assert apply_outcome(ours_t, mine, how) == apply_outcome(theirs_t, reference, how), context


# -- tests -----------------------------------------------------------------------------------------
_INDEX = lambda target, expression: target[expression]  # noqa: E731


@EXAMPLES
@given(transform_json().filter(_safe_for_wheel), selection(), operations())
@example(
    {"input_exclusive_max": [2, 3], "input_inclusive_min": [0, 0], "input_labels": ["x", "y"]},
    ("x", "y"),
    [("index", (slice([0, 1], [2, 3]),))],
)  # vector slices were refused ("Only integers, slices, ...")
@example(
    {"input_exclusive_max": [2, 3], "input_inclusive_min": [0, 0], "input_labels": ["x", "y"]},
    ("x", "y"),
    [("transpose", ("y", "x"))],
)  # target labels: tensorstore refuses them with an IndexError
@example(
    {"input_exclusive_max": [4], "input_inclusive_min": [0], "input_labels": ["x"]},
    0,
    [("stride", 2), ("index", None)],
)  # newaxis in a chained op is refused when the expression is built
@example(
    {"input_exclusive_max": [4, 4], "input_inclusive_min": [0, 0], "input_labels": ["x", "y"]},
    (0, 1),
    [("index", np.array(2))],
)  # a 0-d index array applies to every selected dimension
@example(
    {"input_exclusive_max": [4], "input_inclusive_min": [0], "input_labels": ["x"]},
    0,
    [("translate_by", 1.5)],
)  # non-integer translations were accepted
def test_dim_expressions_accept_and_reject_like_tensorstore(
    json: dict[str, Any], sel: Any, ops: list[tuple[str, Any]]
) -> None:
    _compare(json, sel, ops, _INDEX)


@EXAMPLES
@given(transform_json().filter(_safe_for_wheel), selection(), operations())
def test_dim_expressions_on_domains_like_tensorstore(
    json: dict[str, Any], sel: Any, ops: list[tuple[str, Any]]
) -> None:
    _compare(json, sel, ops, _INDEX, on_domain=True)


@EXAMPLES
@given(
    transform_json().filter(_safe_for_wheel),
    numpy_index(),
    st.sampled_from(("default", "oindex", "vindex")),
)
@example(
    {"input_exclusive_max": [3, 4, 5], "input_inclusive_min": [0, 0, 0]},
    (np.array(1), slice(None), [0, 1]),
    "default",
)
@example(
    {"input_exclusive_max": [3, 4], "input_inclusive_min": [0, 0]}, slice([0, 1], [1, 2]), "default"
)
@example({"input_exclusive_max": [3, 4], "input_inclusive_min": [0, 0]}, [2**63], "default")
@example({"input_exclusive_max": [3, 4], "input_inclusive_min": [0, 0]}, slice(1, 2**63), "default")
@example({"input_exclusive_max": [3, 4], "input_inclusive_min": [0, 0]}, np.array([1.0]), "default")
def test_numpy_indices_accept_and_reject_like_tensorstore(
    json: dict[str, Any], index: Any, mode: str
) -> None:
    ours, theirs = _both_transforms(json)

    def apply(target: Any) -> Any:
        try:
            result = (target if mode == "default" else getattr(target, mode))[index]
        except Exception as exc:
            return ("error", _kind(exc))
        return ("ok", result.to_json())

    assert apply(ours) == apply(theirs), (json, index, mode)


_WHOLE_OPS = (
    "translate_by",
    "translate_backward_by",
    "translate_to",
    "label",
    "mark_bounds_implicit",
)


@EXAMPLES
@given(transform_json().filter(_safe_for_wheel), operations(), st.booleans())
@example(
    {"input_exclusive_max": [3, 4], "input_inclusive_min": [0, 0]},
    [("translate_by", (1, 2, 3))],
    False,
)
def test_whole_object_operations_like_tensorstore(
    json: dict[str, Any], ops: list[tuple[str, Any]], domain: bool
) -> None:
    """``t.translate_by[...]`` and friends (ValueError in tensorstore where ``ts.d`` gives
    IndexError), and ``transpose(axes)``."""
    ours, theirs = _both_transforms(json)
    if domain:
        ours, theirs = ours.domain, theirs.domain
    for op, arg in ops:
        if op not in _WHOLE_OPS and op != "transpose":
            continue

        def apply(target: Any, op: str = op, arg: Any = arg) -> Any:
            try:
                result = target.transpose(arg) if op == "transpose" else getattr(target, op)[arg]
            except Exception as exc:
                return ("error", _kind(exc))
            return ("ok", result.to_json())

        assert apply(ours) == apply(theirs), (json, op, arg)
