"""Fuzz index-space parsing: transform and domain JSON, dimension expressions, NumPy-style
indices, and the small string parsers (units, data types).

A spec's ``transform`` member is user JSON, and an expression's labels and bounds often
come from user input too: each gives a result or a clear error.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

import ts_core as ts

from ._support import EDGE_INTEGERS, JSON_VALUES, check_clear_error, fuzz_settings, mutated_json

TRANSFORM = {
    "input_labels": ["x", "y", ""],
    "input_inclusive_min": [0, [-3], 1],
    "input_exclusive_max": [5, [7], 4],
    "output": [
        {"offset": 2, "input_dimension": 1, "stride": 3},
        {"offset": 1},
        {"index_array": [[[1]], [[2]], [[3]], [[4]], [[5]]], "index_array_bounds": [0, 10]},
    ],
}
TRANSFORM_MEMBERS = (
    "input_rank", "input_inclusive_min", "input_shape", "input_inclusive_max", "input_exclusive_max",
    "input_labels", "output", "offset", "stride", "input_dimension", "index_array", "index_array_bounds",
)
DOMAIN = {"labels": ["a", "b"], "inclusive_min": [0, ["-inf"]], "exclusive_max": [[4], "+inf"]}
DOMAIN_MEMBERS = ("rank", "inclusive_min", "shape", "inclusive_max", "exclusive_max", "labels")


@fuzz_settings(100)
@given(value=mutated_json(TRANSFORM, TRANSFORM_MEMBERS) | JSON_VALUES)
@example(value={"input_rank": 2**63})  # ran out of memory building 2**63 bounds
@example(value={"input_rank": 1, "output": [{}] * 33})
@example(value={"input_shape": [2**64], "output": [{"input_dimension": 0, "stride": 2**64}]})
@example(value={"input_shape": [3], "output": [{"index_array": [1, [2], 3]}]})
def test_transform_json_parses_or_explains(value: Any) -> None:
    try:
        transform = ts.IndexTransform(json=value)
    except Exception as exc:
        check_clear_error(exc)
        return
    json_value = transform.to_json()
    assert ts.IndexTransform(json=json_value).to_json() == json_value


@fuzz_settings(60)
@given(value=mutated_json(DOMAIN, DOMAIN_MEMBERS) | JSON_VALUES)
@example(value={"rank": 2**40})  # was a 2**40-entry loop: ranks above 32 are refused first
@example(value={"labels": [""] * 33})
def test_domain_json_parses_or_explains(value: Any) -> None:
    try:
        domain = ts.IndexDomain(json=value)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.IndexDomain(json=domain.to_json()) == domain


# -- dimension expressions and NumPy-style indices ------------------------------------------------
BASE = ts.IndexTransform(input_inclusive_min=[0, -2, 3], input_shape=[5, 6, 7], input_labels=["x", "y", "z"])
INTEGERS = st.integers(-12, 12) | EDGE_INTEGERS
LABELS = st.sampled_from(["x", "y", "z", "", "w", "x "]) | st.text(max_size=3)
SLICES = st.builds(slice, st.none() | INTEGERS | LABELS, st.none() | INTEGERS | LABELS, st.none() | st.integers(-3, 3) | EDGE_INTEGERS)
ITEMS = (
    INTEGERS | LABELS | SLICES | st.just(Ellipsis) | st.none() | st.booleans()
    | st.floats(allow_nan=True) | st.lists(INTEGERS, max_size=3) | st.lists(st.lists(st.integers(-3, 8), min_size=1, max_size=2), max_size=2)
)
INDICES = st.lists(ITEMS, max_size=4).map(tuple) | ITEMS


OPERATIONS = [
    "index", "oindex", "vindex", "translate_by", "translate_backward_by", "translate_to",
    "stride", "label", "transpose", "mark_bounds_implicit", "diagonal",
]


@st.composite
def expression_steps(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """A dimension selection and one or two operations with hostile arguments, as plain data
    (``ts.d`` checks some arguments eagerly; building the expression is part of the test)."""
    steps: list[tuple[str, Any]] = [("select", draw(INDICES))]
    for _ in range(draw(st.integers(1, 2))):
        operation = draw(st.sampled_from(OPERATIONS))
        if operation == "label":
            argument: Any = draw(LABELS | st.lists(LABELS, max_size=3))
        elif operation == "mark_bounds_implicit":
            argument = draw(st.booleans() | st.none() | SLICES)
        else:
            argument = None if operation == "diagonal" else draw(INDICES)
        steps.append((operation, argument))
    return steps


def apply_steps(steps: list[tuple[str, Any]]) -> Any:
    expression: Any = ts.d
    for operation, argument in steps:
        if operation == "diagonal":
            expression = expression.diagonal
        elif operation in ("select", "index"):
            expression = expression[argument]
        else:
            expression = getattr(expression, operation)[argument]
    return BASE[expression]


@fuzz_settings(150)
@given(steps=expression_steps())
@example(steps=[("select", "x"), ("stride", 0)])
@example(steps=[("select", 0), ("translate_by", 2**63)])
@example(steps=[("select", "nope"), ("label", "a")])
@example(steps=[("select", Ellipsis), ("diagonal", None)])
@example(steps=[("select", ["x", "y"]), ("index", slice([0, 1], [2, 3]))])  # vector slice: was refused
@example(steps=[("select", ["x", "y"]), ("index", slice([0, 1], [2]))])  # ranks of the bounds differ
@example(steps=[("select", ["x", "y"]), ("transpose", ["y", "x"])])  # target labels: IndexError
@example(steps=[("select", 0), ("translate_by", 1.5)])  # non-integer translation: was accepted
@example(steps=[("select", "x"), ("stride", None)])  # tensorstore's implicit stride overflows
def test_dimension_expression_applies_or_explains(steps: list[tuple[str, Any]]) -> None:
    try:
        result = apply_steps(steps)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert isinstance(result, ts.IndexTransform)


@fuzz_settings(100)
@given(index=INDICES)
@example(index=(slice(None, None, 0),))
@example(index=(2**63,))
@example(index=([[1, 2], [3]],))
@example(index=(slice([0, 1], [2, 3]),))  # vector slice bounds
@example(index=([2**63],))  # uint64 index array: TypeError, as tensorstore
@example(index=(slice(1, 2**63),))  # slice bound beyond 64 bits: TypeError
def test_numpy_index_applies_or_explains(index: Any) -> None:
    try:
        result = BASE[index]
    except Exception as exc:
        check_clear_error(exc)
        return
    assert isinstance(result, ts.IndexTransform)


# -- small string parsers -------------------------------------------------------------------------
@fuzz_settings(60)
@given(text=st.text(max_size=12) | st.from_regex(r"\A[-+]?[0-9.e]{0,6} ?[a-zµ]{0,3}\Z") | st.sampled_from(["nan nm", "inf", "1e999 m", "-0 s"]))
def test_unit_string_parses_or_explains(text: str) -> None:
    try:
        unit = ts.Unit(text)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.Unit(unit.to_json()) == unit


@fuzz_settings(60)
@given(value=st.text(max_size=10) | st.sampled_from(["<i2", ">f8", "|S3", "int4", "bfloat16", "V", "U", "O", "i99"]) | JSON_VALUES)
def test_dtype_parses_or_explains(value: Any) -> None:
    try:
        dtype = ts.dtype(value)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.dtype(dtype.name) == dtype
