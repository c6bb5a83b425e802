"""Unit: construction, arithmetic, value semantics, and agreement with the tensorstore wheel."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_core.schema import Unit

tensorstore = pytest.importorskip("tensorstore")


def test_forms_of_construction() -> None:
    assert Unit("4nm") == Unit(4, "nm") == Unit((4, "nm")) == Unit(json=[4, "nm"])
    assert Unit(multiplier=4, base_unit="nm") == Unit("4 nm")
    assert Unit(json="4nm") == Unit("4nm")
    assert Unit(5) == Unit(json=5) == Unit(5.0, "")
    assert Unit() == Unit(1, "")
    assert (Unit("4nm").multiplier, Unit("4nm").base_unit) == (4.0, "nm")


def test_arithmetic_and_text() -> None:
    assert Unit("4nm") * 2 == Unit("8nm")
    assert Unit("4nm") / 2 == Unit("2nm")
    assert repr(Unit("4nm") * 2.5) == 'Unit(10, "nm")'
    assert str(Unit("nm")) == "nm"
    assert str(Unit(1, "")) == "1"
    assert str(Unit("0.5um")) == "0.5 um"
    assert Unit("4nm").to_json() == [4.0, "nm"]
    with pytest.raises(TypeError):
        Unit("4nm") * Unit("2nm")  # type: ignore[operator]


def test_immutable_unhashable_picklable() -> None:
    unit = Unit("4nm")
    with pytest.raises(AttributeError):
        unit.multiplier = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(unit)
    assert pickle.loads(pickle.dumps(unit)) == unit


@pytest.mark.parametrize(
    ("value", "message"),
    [([4], "length 2"), (["nm", 4], r"\[0\]: expected number"), ([4, 5], r"\[1\]: expected"),
     (None, "expected array"), (True, "expected array")],
)
def test_bad_json_names_the_position(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Unit(json=value if value is not None else {"a": 1})


_TEXT = st.one_of(
    st.text(alphabet="0123456789.eE+- nmusµ_/x", max_size=10),
    st.builds(lambda n, u: f"{n}{u}", st.floats(allow_nan=False, allow_infinity=False),
              st.sampled_from(["nm", " um", "s", "", " m/s"])),
    st.builds(lambda m, e, u: f"{m}e{e}{u}", st.sampled_from(["0", "1", "-2.5", "0.000"]),
              st.integers(-400, 400), st.sampled_from(["nm", ""])),
)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_parsing_matches_wheel(text: str) -> None:
    expected = tensorstore.Unit(text)
    ours = Unit(text)
    assert ours.to_json() == expected.to_json()
    assert repr(ours) == repr(expected)
    assert str(ours) == str(expected)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True), st.text(max_size=5),
       st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: x != 0))
def test_numbers_and_arithmetic_match_wheel(multiplier: float, base: str, factor: float) -> None:
    ours = Unit(multiplier, base)
    expected = tensorstore.Unit(multiplier, base)
    assert (ours * factor).to_json() == (expected * factor).to_json()
    assert (ours / factor).to_json() == (expected / factor).to_json()
    assert repr(ours) == repr(expected)
    assert Unit(json=ours.to_json()) == ours
