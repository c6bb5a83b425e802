"""Fill values: conversion from Python/JSON, the "unbroadcast" normal form, and JSON output.

A fill value is kept in its smallest form: dimensions that were broadcast (stride 0)
shrink to size 1 and leading size-1 dimensions are dropped, so ``[[5, 6]]`` and
``numpy.broadcast_to([5, 6], (3, 2))`` are both stored as ``[5, 6]``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .._validation import SpecError, describe

if TYPE_CHECKING:
    import numpy

    from .._dtype import dtype

__all__ = [
    "broadcast_compatible",
    "fill_value_from_json",
    "fill_value_from_python",
    "fill_value_to_json",
    "fill_values_equal",
    "unbroadcast",
]

_JSON_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def unbroadcast(array: numpy.ndarray) -> numpy.ndarray:
    """The smallest array that broadcasts back to ``array``."""
    if array.ndim == 0:
        return array.copy()
    index = tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None)
                  for stride, size in zip(array.strides, array.shape, strict=True))
    reduced = array[index]
    leading = 0
    while leading < reduced.ndim and reduced.shape[leading] == 1:
        leading += 1
    return reduced.reshape(reduced.shape[leading:]).copy()


def fill_value_from_python(value: Any, data_type: dtype | None) -> numpy.ndarray:
    """Convert a Python/NumPy fill value (cast to ``data_type`` if known)."""
    import numpy as np

    from .._dtype import to_dtype

    if isinstance(value, np.ndarray):
        if data_type is not None:
            value = value.astype(data_type.numpy_dtype, casting="safe")
        array = value
    elif data_type is not None:
        array = np.asarray(value, dtype=data_type.numpy_dtype)
    else:
        array = np.asarray(value)
    if array.dtype != object:
        to_dtype(array.dtype, json_path="fill_value")  # only data types ts supports
    return unbroadcast(array)


def fill_value_from_json(value: Any, data_type: dtype | None, path: str) -> numpy.ndarray:
    """Convert a JSON fill value; without a data type it is kept as JSON (object array)."""
    import numpy as np

    if data_type is None or data_type.name == "json":
        array = np.empty((), dtype=object)
        array[()] = value
        if isinstance(value, list):
            array = np.array(value, dtype=object)
        return unbroadcast(array)
    kind = data_type.numpy_dtype.kind
    if kind == "c":
        raise SpecError(path, f"conversion from JSON to {data_type.name} is not supported")
    try:
        converted = _replace_float_words(value) if kind == "f" or data_type.name in (
            "bfloat16",) else value
        _check_json_leaves(converted, kind, path)
        return unbroadcast(np.asarray(converted, dtype=data_type.numpy_dtype))
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(path, f"cannot convert {describe(value)} to {data_type.name}: "
                              f"{exc}") from None


def _replace_float_words(value: Any) -> Any:
    if isinstance(value, list):
        return [_replace_float_words(item) for item in value]
    if isinstance(value, str) and value in _JSON_FLOAT_WORDS:
        return _JSON_FLOAT_WORDS[value]
    return value


def _check_json_leaves(value: Any, kind: str, path: str) -> None:
    if isinstance(value, list):
        for item in value:
            _check_json_leaves(item, kind, path)
        return
    if kind == "b" and not isinstance(value, bool):
        raise SpecError(path, f"expected boolean, but received: {describe(value)}")
    if kind in "iu" and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpecError(path, f"expected integer, but received: {describe(value)}")
    if kind == "f" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise SpecError(path, f"expected number, but received: {describe(value)}")


def fill_value_to_json(array: numpy.ndarray) -> Any:
    """JSON form of a (normalised) fill value."""
    if array.dtype == object:
        return array.tolist()
    kind = array.dtype.kind
    if kind == "c":
        return _complex_to_json(array.tolist())
    if kind == "V" or array.dtype.isbuiltin == 2:  # ml_dtypes floats: go through float
        return array.astype(float).tolist()
    if kind == "S":
        return array.astype(object).tolist()
    return array.tolist()


def _complex_to_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_complex_to_json(item) for item in value]
    return [value.real, value.imag]


def broadcast_compatible(array: numpy.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether ``array`` broadcasts to exactly ``shape``."""
    if array.ndim > len(shape):
        return False
    for size, target in zip(reversed(array.shape), reversed(shape), strict=False):
        if size not in (1, target):
            return False
    return True


def fill_values_equal(a: numpy.ndarray, b: numpy.ndarray) -> bool:
    """Equal after broadcasting to a common shape (NaNs compare equal)."""
    import numpy as np

    try:
        left, right = np.broadcast_arrays(a, b)
    except ValueError:
        return False
    if left.dtype.kind in "fc" and right.dtype.kind in "fc":
        return bool(np.array_equal(left, right, equal_nan=True))
    return bool(np.array_equal(left, right))
