"""zarr v3 ``data_type`` names and ``fill_value`` JSON encodings.

Raw-bits types ``r<N>`` are exposed as tensorstore does: an array of ``byte`` with one
extra trailing dimension of ``N / 8``.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe

from .._members import integer_range

__all__ = ["Zarr3DType", "decode_fill_value", "encode_fill_value", "parse_data_type"]

_NUMERIC = {
    "bool": "?", "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8",
    "uint8": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
    "float16": "f2", "float32": "f4", "float64": "f8", "complex64": "c8", "complex128": "c16",
}
_RAW_BITS = re.compile(r"^r([1-9][0-9]*)$")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@attrs.frozen
class Zarr3DType:
    """A parsed ``data_type``: the element dtype in memory and the trailing inner shape."""

    name: str
    numpy_dtype: np.dtype[Any]
    inner_shape: tuple[int, ...] = ()

    @property
    def is_raw(self) -> bool:
        return bool(self.inner_shape)


def parse_data_type(value: Any, json_path: str = "metadata.data_type") -> Zarr3DType:
    """Validate a ``data_type`` name."""
    if type(value) is str:
        return _parse_name(value, json_path)
    return _parse_data_type(value, json_path)


@functools.lru_cache(maxsize=256)
def _parse_name(value: str, json_path: str) -> Zarr3DType:
    """A data type parsed once per name (a ``Zarr3DType`` is immutable, so arrays share it)."""
    return _parse_data_type(value, json_path)


def _parse_data_type(value: Any, json_path: str) -> Zarr3DType:
    if not isinstance(value, str):
        raise SpecError(json_path, f"expected string, but received: {describe(value)}")
    if value in _NUMERIC:
        return Zarr3DType(value, np.dtype(_NUMERIC[value]))
    if value == "bfloat16":
        import ml_dtypes

        return Zarr3DType(value, np.dtype(ml_dtypes.bfloat16))
    match = _RAW_BITS.match(value)
    if match is not None and int(match.group(1)) % 8 == 0:
        return Zarr3DType(value, np.dtype("V1"), (int(match.group(1)) // 8,))
    known = ", ".join([*_NUMERIC, "bfloat16", "r<N>"])
    raise SpecError(json_path, f'unsupported data type "{value}" (expected one of: {known})')


def data_type_for(numpy_dtype: np.dtype[Any]) -> str:
    """The ``data_type`` name of a numpy dtype (``ValueError`` if zarr v3 has none)."""
    if numpy_dtype.name == "bfloat16":
        return "bfloat16"
    for name, code in _NUMERIC.items():
        if np.dtype(code) == numpy_dtype.newbyteorder("="):
            return name
    raise ValueError(f"data type {numpy_dtype} is not supported by zarr v3")


def _float(value: Any, numpy_dtype: np.dtype[Any], json_path: str) -> np.ndarray[Any, Any]:
    """One float of ``numpy_dtype`` from its JSON (hex bit patterns keep NaN payloads)."""
    if isinstance(value, str) and value in _SPECIAL_FLOATS:
        return np.array(_SPECIAL_FLOATS[value], dtype=numpy_dtype)
    if isinstance(value, str) and value.startswith("0x"):
        size = numpy_dtype.itemsize
        try:
            bits = int(value, 16)
        except ValueError:
            raise SpecError(json_path, f"invalid hex fill value: {describe(value)}") from None
        if bits >= 1 << (8 * size):
            raise SpecError(json_path, f"hex fill value {value} does not fit {size} bytes")
        return np.frombuffer(bits.to_bytes(size, "big"), dtype=numpy_dtype.newbyteorder(">")).astype(numpy_dtype).reshape(())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(json_path, f'expected number, "NaN", "Infinity", "-Infinity" or "0x..." bits, but received: {describe(value)}')
    try:
        as_float = float(value)
    except OverflowError:  # an integer beyond any float
        raise SpecError(json_path, f"{describe(value)} is out of range for {numpy_dtype.name}") from None
    with np.errstate(over="ignore"):
        return np.array(as_float, dtype=numpy_dtype)


def decode_fill_value(value: Any, dtype: Zarr3DType, json_path: str = "metadata.fill_value") -> np.ndarray[Any, Any]:
    """The fill value as an array shaped like one element (``inner_shape``)."""
    numpy_dtype = dtype.numpy_dtype
    if dtype.is_raw:
        size = dtype.inner_shape[0]
        if isinstance(value, str):  # tensorstore writes raw bytes in base64
            try:
                raw = base64.b64decode(value, validate=True)
            except ValueError:
                raise SpecError(json_path, f"invalid base64: {describe(value)}") from None
            if len(raw) != size:
                raise SpecError(json_path, f"expected {size} base64-encoded bytes, but received: {len(raw)} bytes")
            return np.frombuffer(raw, dtype=numpy_dtype).copy()
        if not isinstance(value, list) or len(value) != size or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value
        ):
            raise SpecError(json_path, f"expected an array of {size} byte values, but received: {describe(value)}")
        return np.frombuffer(bytes(value), dtype=numpy_dtype).copy()
    kind = numpy_dtype.kind
    if kind == "b":
        if not isinstance(value, bool):
            raise SpecError(json_path, f"expected boolean, but received: {describe(value)}")
        return np.array(value)
    if kind in "iu":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(json_path, f"expected integer, but received: {describe(value)}")
        low, high = integer_range(numpy_dtype)
        if not low <= value <= high:
            raise SpecError(json_path, f"{value} is out of range for {dtype.name}")
        return np.array(value, dtype=numpy_dtype)
    if kind == "c":
        if not isinstance(value, list) or len(value) != 2:
            raise SpecError(json_path, f"expected [real, imag], but received: {describe(value)}")
        part = np.dtype("f4" if numpy_dtype.itemsize == 8 else "f8")
        pair = np.array([_float(value[0], part, f"{json_path}[0]"), _float(value[1], part, f"{json_path}[1]")], dtype=part)
        return pair.view(numpy_dtype).reshape(())
    return _float(value, numpy_dtype, json_path)


def _encode_float(scalar: Any) -> Any:
    value = float(scalar)
    if math.isnan(value):
        dtype = np.asarray(scalar).dtype
        canonical = np.array(math.nan, dtype=dtype)
        bits = np.asarray(scalar, dtype=dtype).reshape(1).view(f"u{dtype.itemsize}")[0]
        if bits == canonical.reshape(1).view(f"u{dtype.itemsize}")[0]:
            return "NaN"
        return f"0x{int(bits):0{2 * dtype.itemsize}x}"  # a NaN payload survives as its bit pattern
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def encode_fill_value(fill: Any, dtype: Zarr3DType, json_path: str = "schema.fill_value") -> Any:
    """JSON for a fill value, as tensorstore writes it; a value that does not convert to
    the data type is a ``SpecError`` at ``json_path``."""
    array = np.asarray(fill)
    try:
        if array.dtype.kind in "US" and dtype.numpy_dtype.kind in "iub":
            raise ValueError("expected a number")
        if dtype.is_raw:
            return base64.b64encode(np.ascontiguousarray(array, dtype=dtype.numpy_dtype).tobytes()).decode()
        values = array.astype(dtype.numpy_dtype).reshape(-1)
        scalar = values[0]
        if values.size > 1 and values.tobytes() != np.full(values.shape, scalar).tobytes():
            raise ValueError("zarr v3 stores one fill value, but these differ")
    except (TypeError, ValueError, OverflowError) as exc:
        raise SpecError(json_path, f"cannot convert {describe(array.tolist())} to {dtype.name}: {exc}") from None
    kind = dtype.numpy_dtype.kind
    if kind == "b":
        return bool(scalar)
    if kind in "iu":
        return int(scalar)
    if kind == "c":
        return [_encode_float(scalar.real), _encode_float(scalar.imag)]
    return _encode_float(scalar)
