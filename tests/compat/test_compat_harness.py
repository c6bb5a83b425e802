"""The comparison rules of the compat harness itself (compat_docrunner, compat_api), on
small made-up inputs, so a change to them is a visible decision."""

from __future__ import annotations

import io
import sys

import pytest
from compat_api import CallResult, comparable, differences
from compat_docrunner import (
    Expectation,
    Raw,
    _compile,
    collect,
    exception_matches,
    excluded_examples,
    output_matches,
)


def test_output_comparison_is_doctests_with_addresses_and_module_names_ours() -> None:
    assert output_matches("[1,\n 2]\n", "[1, 2]\n", ours=False)
    assert output_matches("Spec({...})\n", "Spec({'driver': 'zarr'})\n", ours=False)
    assert output_matches("<x at 0x7f00aa11bb22>\n", "<x at 0x55aa0011ff00>\n", ours=False)
    assert output_matches("<class 'tensorstore.Dim'>\n", "<class 'ts_core.Dim'>\n", ours=True)
    assert not output_matches("<class 'tensorstore.Dim'>\n", "<class 'ts_core.Dim'>\n", ours=False)
    assert not output_matches("True\n", "False\n", ours=True)


def test_exceptions_need_the_type_on_ts_and_the_message_on_the_wheel() -> None:
    class SpecError(ValueError):
        pass

    documented = Expectation(exc_msg='ValueError: Error parsing "x"\n')
    ours = Raw(exception=SpecError("x: our own words"))
    assert exception_matches(documented, ours, ours=True)
    assert not exception_matches(documented, Raw(exception=KeyError("x")), ours=True)
    assert not exception_matches(documented, Raw(exception=ValueError("other")), ours=False)
    assert exception_matches(
        Expectation(exc_msg="...KeyError...\n"), Raw(exception=KeyError(1)), ours=True
    )


def test_examples_opening_remote_storage_and_what_they_made_are_not_run() -> None:
    # A Spec naming a GCS bucket does no I/O: such examples run.
    assert not excluded_examples("Spec.url")
    excluded = excluded_examples("open")
    first_remote = min(excluded)
    assert "opens remote storage" in excluded[first_remote]
    assert any("uses 'store'" in reason for reason in excluded.values())
    # The example after the last excluded one assigns ``store`` afresh, and from there on
    # examples run again.
    following = collect()["open"].examples[max(excluded) + 1]
    assert following.source.startswith("store = ")
    assert len(collect()["open"].examples) > max(excluded) + 10


def test_an_example_of_several_statements_shows_its_last_value() -> None:
    namespace: dict[str, object] = {}
    buffer, previous = io.StringIO(), sys.stdout
    sys.stdout = buffer
    try:
        eval(_compile("x = 2\nx + 1", "<test>"), namespace)
        eval(_compile("x * 10", "<test>"), namespace)
    finally:
        sys.stdout = previous
    assert buffer.getvalue() == "3\n20\n"


@pytest.mark.parametrize(
    ("wheel", "ours", "expected"),
    [
        (CallResult(value=3), CallResult(value=3), ""),
        (CallResult(value=3), CallResult(value=4), "value 4, wheel 3"),
        (CallResult(value=(1, 2)), CallResult(value=[1, 2]), "returns a list, wheel a tuple"),
        (CallResult(value="tensorstore.Future[int]"), CallResult(value="ts_core.Future[int]"), ""),
        (
            CallResult(exception=ValueError('member "dtype"')),
            CallResult(exception=ValueError("dtype: bad")),
            "",
        ),
        (
            CallResult(exception=ValueError('member "dtype"')),
            CallResult(exception=ValueError("bad")),
            "message names none of ['dtype']",
        ),
        (
            CallResult(exception=IndexError("x")),
            CallResult(exception=ValueError("x")),
            "raises ValueError",
        ),
        (CallResult(exception=ValueError("x")), CallResult(value=1), "wheel raises ValueError"),
        (CallResult(value=1), CallResult(exception=ValueError("x")), "ts raises ValueError"),
    ],
)
def test_call_differences(wheel: CallResult, ours: CallResult, expected: str) -> None:
    found = "; ".join(differences(wheel, ours))
    assert (expected in found) if expected else not found, found


def test_numpy_values_compare_by_dtype_shape_and_content() -> None:
    import numpy as np

    assert comparable(np.arange(3, dtype=np.uint8)) != comparable(np.arange(3, dtype=np.int8))
    assert comparable(np.zeros((2, 1))) != comparable(np.zeros((1, 2)))


def test_wheel_signature_lines_are_parsed_with_defaults_and_keyword_only_markers() -> None:
    from compat_signatures import WheelParameter, _parse

    parsed = _parse(
        "self: tensorstore.KvStore, key: str | bytes, *, "
        "if_not_equal: str | bytes | None = None, byte_range: slice[int, int] | None = None"
    )
    assert parsed == [
        WheelParameter("key", has_default=False, keyword_only=False),
        WheelParameter("if_not_equal", has_default=True, keyword_only=True),
        WheelParameter("byte_range", has_default=True, keyword_only=True),
    ]
    assert _parse("*args, **kwargs") is None
