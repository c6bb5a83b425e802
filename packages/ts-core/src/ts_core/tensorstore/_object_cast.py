"""``astype`` to and from ``string``, ``ustring`` and ``json``, converting as tensorstore does.

NumPy holds all three as ``object`` arrays, so the cast driver (which knows only NumPy
dtypes) cannot tell them apart; this adapter keeps the ``ts.dtype`` names and converts
element by element: numbers print as C++ streams print them (``%g``), ``ustring`` <->
``string`` is UTF-8, ``json`` holds Python JSON values. A pair tensorstore cannot convert
fails when the view is made (``bool`` <-> strings) or when it is read or written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..driver.cast import CastDriver
from ._futures import then

if TYPE_CHECKING:
    from .._dtype import dtype as DType
    from .._future import Future
    from ..driver import Driver
    from ..index_space import IndexTransform

__all__ = ["OBJECT_TYPES", "ObjectCastDriver", "check_convertible"]

#: The ``ts.dtype`` names NumPy stores as ``object``.
OBJECT_TYPES = frozenset({"string", "ustring", "json"})
_STRINGS = frozenset({"string", "ustring"})

Converter = Callable[[Any], Any]


def check_convertible(source: DType, target: DType) -> None:
    """Raise ValueError if tensorstore refuses a view of ``source`` as ``target`` outright."""
    for a, b in ((source, target), (target, source)):
        if a.name == "bool" and b.name in _STRINGS:
            raise ValueError(f"Cannot convert {source.name} <-> {target.name}")


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _number_text(value: Any) -> str:
    """A number as a C++ output stream formats it (6 significant digits for floats)."""
    if isinstance(value, np.bool_ | bool):
        return "1" if value else "0"
    if isinstance(value, np.integer | int):
        return str(int(value))
    if isinstance(value, np.complexfloating | complex):
        return f"({_number_text(float(value.real))},{_number_text(float(value.imag))})"
    return f"{float(value):g}"


def _number_json(value: Any) -> Any:
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.complexfloating | complex):
        return [float(value.real), float(value.imag)]
    return float(value)


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("Invalid UTF-8 sequence encountered") from None


def _json_to_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Expected string, but received: {_json_text(value)}")
    return value


def _json_to_number(target: np.dtype[Any]) -> Converter:
    if target.kind == "b":
        def to_bool(value: Any) -> Any:
            if not isinstance(value, bool):
                raise ValueError(f"Expected boolean, but received: {_json_text(value)}")
            return value

        return to_bool
    if target.kind in "iu":
        info = np.iinfo(target)

        def to_int(value: Any) -> Any:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not info.min <= value <= info.max:
                raise ValueError(
                    f"Expected integer in the range [{info.min}, {info.max}], but received: {_json_text(value)}"
                )
            return value

        return to_int

    bits = target.itemsize * 8 // (2 if target.kind == "c" else 1)

    def to_float(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"Expected {bits}-bit floating-point number, but received: {_json_text(value)}")
        return value

    return to_float


def _converter(source: DType, target: DType, direction: str) -> Converter:
    """Element conversion ``source`` -> ``target``; ValueError naming ``direction`` if none."""
    s, t = source.name, target.name
    if s == t:
        return lambda value: value
    if t == "string":
        if s == "ustring":
            return lambda value: value.encode("utf-8")
        if s == "json":
            return lambda value: _json_to_string(value).encode("utf-8")
        if s not in OBJECT_TYPES:
            return lambda value: _number_text(value).encode("ascii")
    if t == "ustring":
        if s == "string":
            return _decode
        if s == "json":
            return _json_to_string
        if s not in OBJECT_TYPES:
            return _number_text
    if t == "json":
        if s == "string":
            return _decode
        if s == "ustring":
            return lambda value: value
        return _number_json
    if s == "json":
        return _json_to_number(target.numpy_dtype)
    raise ValueError(f"{direction} does not support {'reading' if direction == 'Source' else 'writing'}.")


def _convert(array: np.ndarray[Any, Any], convert: Converter, numpy_dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    result = np.empty(array.shape, dtype=numpy_dtype)
    flat_result = result.reshape(-1)
    for index, value in enumerate(array.reshape(-1).tolist() if array.dtype.kind != "O" else array.reshape(-1)):
        flat_result[index] = convert(value)
    return result


class ObjectCastDriver(CastDriver):
    """A ``cast`` view where the base or the view type is ``string``/``ustring``/``json``."""

    def __init__(self, base: Driver, target: DType, base_dtype: DType, base_transform: IndexTransform | None = None) -> None:
        super().__init__(base, target.numpy_dtype, base_transform)
        self.ts_dtype = target
        self.base_ts_dtype = base_dtype

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        convert = _converter(self.base_ts_dtype, self.ts_dtype, "Source")
        target = self.ts_dtype.numpy_dtype
        return then(self._base.read(transform, transaction), lambda array: _convert(array, convert, target))

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        convert = _converter(self.ts_dtype, self.base_ts_dtype, "Destination")
        return self._base.write(transform, _convert(source, convert, self.base_ts_dtype.numpy_dtype), transaction)

    def spec_json(self) -> dict[str, Any]:
        base = dict(self._base.spec_json())
        base["dtype"] = self.base_ts_dtype.name
        return {"driver": "cast", "base": base, "dtype": self.ts_dtype.name}
