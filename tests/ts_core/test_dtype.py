"""ts_core data types, checked against the tensorstore wheel for every name."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys
import warnings
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import tensorstore

from ts_core import _dtype
from ts_core._dtype import dtype, to_dtype
from ts_core._validation import SpecError

WHEEL_NAMES = sorted(
    n for n in dir(tensorstore) if isinstance(getattr(tensorstore, n), tensorstore.dtype)
)
ML_FLOAT_NAMES = [
    n for n in _dtype.NAMES if n in _dtype._ML_DTYPES_NAMES and n != "int2" and n != "int4"
]


def _outcome(func: Any, arg: Any) -> tuple[str, Any]:
    """Comparable summary of calling ``func(arg)``: the value (or its type) or the error type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = func(arg)
    except Exception as exc:  # the error type is part of the compared behaviour
        return ("error", type(exc).__name__)
    if isinstance(result, np.ndarray):
        return ("array", result.dtype.str, repr(result.tolist()))
    if isinstance(result, float) and math.isnan(result):
        return ("value", type(result).__name__, "nan")
    return ("value", type(result).__name__, repr(result))


def test_names_match_wheel() -> None:
    assert sorted(_dtype.NAMES) == WHEEL_NAMES
    assert set(_dtype.__all__) == {*WHEEL_NAMES, "dtype", "to_dtype", "DTypeLike"}


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_attributes_match_wheel(name: str) -> None:
    ours, theirs = getattr(_dtype, name), getattr(tensorstore, name)
    assert ours is dtype(name)
    assert ours.name == theirs.name == name
    assert repr(ours) == repr(theirs) == str(ours) == f'dtype("{name}")'
    assert ours.to_json() == theirs.to_json() == name
    assert ours.numpy_dtype == theirs.numpy_dtype
    assert ours.numpy_dtype.str == theirs.numpy_dtype.str
    assert ours.type is theirs.type


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_numpy_round_trip(name: str) -> None:
    ours = getattr(_dtype, name)
    if name != "json":
        assert dtype(ours.type) is ours
    if ours.numpy_dtype == np.dtype(object):
        with pytest.raises(ValueError, match="NumPy dtype"):
            dtype(ours.numpy_dtype)
        return
    assert dtype(ours.numpy_dtype) is ours
    assert dtype(ours.numpy_dtype).numpy_dtype == ours.numpy_dtype
    assert dtype(ours.numpy_dtype.newbyteorder(">")) is ours
    assert dtype(ours.numpy_dtype.newbyteorder("<")) is ours
    assert ours == ours.numpy_dtype
    assert ours == ours.type
    assert ours == name


SCALAR_INPUTS = [
    0,
    1,
    -1,
    1.5,
    300,
    2**63,
    2**64 - 1,
    2**64,
    True,
    False,
    None,
    1 + 2j,
    float("nan"),
    float("inf"),
    "abc",
    "1.5",
    "7",
    "é",
    b"abc",
    b"\xff",
    [1, 2],
    (1, None),
    {"a": (1, b"x")},
    {1: 2},
    np.float32(1.5),
    np.int64(-5),
    np.uint64(2**64 - 1),
    np.bool_(True),
    np.array(3),
    np.array([1, 2]),
    np.array([[1.5], [2.0]]),
    range(3),
    bytearray(b"ab"),
    {1},
    object(),
]
# ml_dtypes' scalar constructors crash the interpreter on some str/bytes inputs; skip those.
_ML_UNSAFE = (str, bytes, bytearray)


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_scalar_conversion_matches_wheel(name: str) -> None:
    ours, theirs = getattr(_dtype, name), getattr(tensorstore, name)
    for value in SCALAR_INPUTS:
        if name in _dtype._ML_DTYPES_NAMES and isinstance(value, _ML_UNSAFE):
            continue
        assert _outcome(ours, value) == _outcome(theirs, value), (name, value)


def test_json_conversion() -> None:
    assert _dtype.json({"a": (1, None), 2: [b"ab"]}) == {"a": [1, None], "2": [[97, 98]]}
    assert _dtype.json(np.array([[1, 2]])) == [[1, 2]]
    assert type(_dtype.json(np.int32(3))) is int
    assert _dtype.json(np.bool_(True)) == 1.0
    with pytest.raises(TypeError, match="'set' object"):
        _dtype.json({1})
    with pytest.raises(OverflowError):
        _dtype.json(2**64)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (int, "int64"),
        (float, "float64"),
        (bool, "bool"),
        (complex, "complex128"),
        (str, "ustring"),
        (bytes, "string"),
        (np.bytes_, "char"),
        (np.void, "byte"),
        (memoryview, "byte"),
        (np.intc, "int32"),
        (np.half, "float16"),
        (ml_dtypes.bfloat16, "bfloat16"),
        (np.dtype(">u2"), "uint16"),
        (np.dtype("<c8"), "complex64"),
        (np.dtype("S5"), "char"),
        (np.dtype("V3"), "byte"),
        (np.dtype([("a", "<i4")]), "byte"),
        (np.dtype(("i4", (2,))), "byte"),
        (np.dtype(ml_dtypes.int4), "int4"),
        (np.dtype(ml_dtypes.bfloat16).newbyteorder(">"), "bfloat16"),
    ],
)
def test_conversion_from_types_matches_wheel(value: Any, expected: str) -> None:
    assert dtype(value).name == tensorstore.dtype(value).name == expected
    assert to_dtype(value) is getattr(_dtype, expected)


@pytest.mark.parametrize(
    "value",
    [
        "uint3",
        "u2",
        ">u2",
        "float",
        "UINT16",
        " uint16",
        "O",
        object,
        list,
        np.object_,
        np.str_,
        np.datetime64,
        np.longdouble,
        np.dtype("U3"),
        np.dtype("O"),
        ml_dtypes.uint4,
    ],
)
def test_unknown_inputs_raise_value_error(value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the wheel's only guarantee is the type
        tensorstore.dtype(value)
    with pytest.raises(ValueError, match=r"unknown data type|NumPy dtype") as info:
        dtype(value)
    if isinstance(value, str):
        assert str(info.value).startswith(f"unknown data type {value!r}; known: bool, char, byte")


@pytest.mark.parametrize("value", [3, None, b"uint16", 1.5, np.zeros(3), np.float32(1), np.integer])
def test_non_dtype_inputs_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        tensorstore.dtype(value)
    with pytest.raises(TypeError, match="to a data type"):
        dtype(value)


def test_to_dtype_names_json_path() -> None:
    assert to_dtype("uint8", json_path="dtype") is _dtype.uint8
    with pytest.raises(SpecError, match=r"^dtype: unknown data type 'uint3'; known: ") as info:
        to_dtype("uint3", json_path="dtype")
    assert info.value.json_path == "dtype"
    with pytest.raises(ValueError, match=r"^schema\.dtype: cannot convert 3 \(int\)"):
        to_dtype(3, json_path="schema.dtype")
    with pytest.raises(TypeError, match=r"^cannot convert 3 \(int\)"):
        to_dtype(3)


def test_equality_and_hash() -> None:
    assert _dtype.uint16 == "uint16" == _dtype.uint16
    assert _dtype.uint16 == np.dtype(">u2")
    assert np.dtype("uint16") == _dtype.uint16
    assert _dtype.uint16 == np.uint16
    assert _dtype.int64 == int  # noqa: E721 - a Python type names a data type
    assert _dtype.uint16 != _dtype.int16
    assert _dtype.uint16 != "int16"
    assert (_dtype.uint16 != "uint16") is False
    # The wheel raises for inputs that are no data type at all; here they are simply unequal.
    assert _dtype.uint16 != "uint3"
    assert _dtype.uint16 != 3
    assert _dtype.uint16 != None  # noqa: E711
    assert _dtype.uint16 in [None, 3, "uint16"]
    assert hash(_dtype.uint16) == hash(dtype("uint16")) == hash("uint16")
    assert len({dtype(n) for n in WHEEL_NAMES}) == len(WHEEL_NAMES)
    with pytest.raises(TypeError):
        _ = _dtype.uint16 < _dtype.int8  # type: ignore[operator]


def test_immutable() -> None:
    with pytest.raises(AttributeError):
        _dtype.uint16.name = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _dtype.uint16.foo = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_pickle_by_name(name: str) -> None:
    ours = getattr(_dtype, name)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(ours, protocol=protocol)
        assert name.encode() in data
        assert pickle.loads(data) is ours
    assert ours.__reduce__() == (dtype, (name,))
    assert copy.copy(ours) is ours
    assert copy.deepcopy([ours])[0] is ours


def test_constructor_keyword() -> None:
    assert dtype(dtype="int8") is _dtype.int8
    assert tensorstore.dtype(dtype="int8").name == "int8"


def test_import_does_not_load_numpy() -> None:
    code = (
        "import sys, ts_core._dtype as d\n"
        "assert d.uint16.name == 'uint16' and d.dtype('json') is d.json\n"
        "assert d.dtype(int) is d.int64 and d.uint16 == 'uint16'\n"
        "loaded = {'numpy', 'ml_dtypes'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "d.uint16.numpy_dtype\n"
        "assert 'numpy' in sys.modules and 'ml_dtypes' not in sys.modules\n"
        "d.bfloat16.numpy_dtype\n"
        "assert 'ml_dtypes' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_top_level_reexport() -> None:
    import ts_core as ts

    for name in ("dtype", "uint16", "bfloat16", "json", "float8_e5m2"):
        assert getattr(ts, name) is getattr(_dtype, name)
