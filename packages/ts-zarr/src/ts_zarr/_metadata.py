"""zarr v2 ``.zarray`` metadata: parsing with JSON-path errors, validation, encoding.

The encoded form is byte-identical to what tensorstore writes (sorted keys, compact
separators), so both libraries agree on the bytes of ``.zarray``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe
from ts_core.schema import check_chunk_bytes, validate_json

from ._codecs import Codec, get_codec
from ._dtype import ZarrDType, parse_dtype
from ._members import index_vector, integer_range

__all__ = ["METADATA_KEY", "ZARR_FORMAT", "ZarrMetadata", "decode_fill_value", "encode_fill_value"]

#: Name of the array metadata object (zarr v2 spec, "Metadata").
METADATA_KEY = ".zarray"
#: Name of the user attributes object (zarr v2 spec, "Attributes").
ATTRIBUTES_KEY = ".zattrs"
ZARR_FORMAT = 2
_MEMBERS = (
    "chunks",
    "compressor",
    "dimension_separator",
    "dtype",
    "fill_value",
    "filters",
    "order",
    "shape",
    "zarr_format",
)


@attrs.frozen(eq=False)
class ZarrMetadata:
    """A validated ``.zarray``."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: ZarrDType
    compressor: Codec | None
    compressor_json: Any
    filters: tuple[Codec, ...]
    filters_json: Any
    fill_value_json: Any
    #: Per-field fill value arrays (None where the JSON fill value is null).
    fill_values: tuple[np.ndarray[Any, Any] | None, ...]
    order: str
    dimension_separator: str
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def to_json(self) -> dict[str, Any]:
        json_value = {
            "chunks": list(self.chunks),
            "compressor": self.compressor_json,
            "dimension_separator": self.dimension_separator,
            "dtype": self.dtype.json,
            "fill_value": self.fill_value_json,
            "filters": self.filters_json,
            "order": self.order,
            "shape": list(self.shape),
            "zarr_format": ZARR_FORMAT,
            **self.extra,
        }
        return dict(sorted(json_value.items()))

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False).encode()

    def with_shape(self, shape: tuple[int, ...]) -> ZarrMetadata:
        return attrs.evolve(self, shape=shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZarrMetadata) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


#: The driver schema's definition of a compressor or filter (parameters of known codecs).
_CODEC_SCHEMA = {"$ref": "urn:ts:driver:zarr#/$defs/codec"}


#: Normalised configurations of codec JSON already checked against ``_CODEC_SCHEMA``, by
#: a key that tells ``1``, ``1.0`` and ``True`` apart: the same compressor is parsed on
#: every open, and its check is a pure function of the JSON. Only flat configurations
#: (scalar parameters) are kept, as tuples; each parse gets a new dict and a new codec.
_CHECKED_CODECS_SIZE = 256
_checked_codecs: dict[tuple[tuple[str, type, Any], ...], tuple[tuple[str, Any], ...]] = {}
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _flat_codec_key(value: Mapping[str, Any]) -> tuple[tuple[str, type, Any], ...] | None:
    key = []
    for name, item in value.items():
        kind = type(item)
        if kind not in _SCALAR_TYPES or type(name) is not str:
            return None
        key.append((name, kind, item))
    key.sort(key=lambda entry: entry[0])
    return tuple(key)


def _parse_codec(value: Any, json_path: str) -> tuple[Codec, Any]:
    """The codec and its JSON (integral numbers such as ``1.0`` made ints, as tensorstore does)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        raise SpecError(json_path, f'expected an object with a string "id", but received: {describe(value)}')
    key = _flat_codec_key(value)
    checked = _checked_codecs.get(key) if key is not None else None
    if checked is None:
        validate_json(value, _CODEC_SCHEMA, json_path)
        checked = tuple(
            (name, int(item) if isinstance(item, float) and item.is_integer() else item) for name, item in value.items()
        )
        if key is not None:
            if len(_checked_codecs) >= _CHECKED_CODECS_SIZE:
                _checked_codecs.clear()
            _checked_codecs[key] = checked
    config = dict(checked)
    return get_codec(config, json_path), config


def parse_metadata(value: Any, json_path: str = "metadata") -> ZarrMetadata:
    """Validate a complete ``.zarray`` JSON object (``json_path`` prefixes error paths)."""
    return _parse_metadata(value, json_path)


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def _parse_metadata(value: Any, json_path: str) -> ZarrMetadata:
    if not isinstance(value, Mapping):
        raise SpecError(json_path, f"expected object, but received: {describe(value)}")
    for member in ("shape", "chunks", "dtype", "compressor", "fill_value", "filters", "order", "zarr_format"):
        if member not in value:
            raise SpecError(json_path, f'missing required member "{member}"')
    return build_metadata(value, json_path)


def build_metadata(value: Mapping[str, Any], json_path: str) -> ZarrMetadata:
    if value.get("zarr_format", ZARR_FORMAT) != ZARR_FORMAT:
        raise SpecError(_join(json_path, "zarr_format"), f"expected 2, but received: {describe(value.get('zarr_format'))}")
    shape = index_vector(value["shape"], _join(json_path, "shape"), 0)
    chunks = index_vector(value["chunks"], _join(json_path, "chunks"), 1)
    if len(chunks) != len(shape):
        raise SpecError(
            _join(json_path, "chunks"), f"rank {len(chunks)} does not match the rank {len(shape)} of shape"
        )
    dtype = parse_dtype(value["dtype"], _join(json_path, "dtype"))
    order = value.get("order", "C")
    if order not in ("C", "F"):
        raise SpecError(_join(json_path, "order"), f'expected one of "C", "F", but received: {describe(order)}')
    separator = value.get("dimension_separator", ".")
    # Chunk keys are decimal grid indices joined by this separator, so with "." or "/"
    # they are safe by construction (no "..", no absolute key, bounded length); any other
    # separator (say "/../") could lead keys out of the array's path, so it is refused.
    if separator not in (".", "/"):
        raise SpecError(
            _join(json_path, "dimension_separator"), f'expected one of ".", "/", but received: {describe(separator)}'
        )
    check_chunk_bytes(chunks, dtype.storage_dtype.itemsize, _join(json_path, "chunks"))
    compressor_json = value.get("compressor")
    compressor = None
    if compressor_json is not None:
        compressor, compressor_json = _parse_codec(compressor_json, _join(json_path, "compressor"))
    filters_json = value.get("filters")
    if filters_json is not None and not isinstance(filters_json, list):
        raise SpecError(_join(json_path, "filters"), f"expected array or null, but received: {describe(filters_json)}")
    if filters_json == []:
        filters_json = None  # zarr treats [] like null; normalise as zarr-python does
    parsed_filters = [
        _parse_codec(item, _join(json_path, f"filters[{i}]")) for i, item in enumerate(filters_json or [])
    ]
    filters = tuple(codec for codec, _ in parsed_filters)
    if filters_json is not None:
        filters_json = [config for _, config in parsed_filters]
    fill_value_json = value.get("fill_value")
    fill_values = decode_fill_value(fill_value_json, dtype, _join(json_path, "fill_value"))
    extra = {k: v for k, v in value.items() if k not in _MEMBERS}
    return ZarrMetadata(
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressor=compressor,
        compressor_json=compressor_json,
        filters=filters,
        filters_json=filters_json,
        fill_value_json=fill_value_json,
        fill_values=fill_values,
        order=order,
        dimension_separator=separator,
        extra=extra,
    )


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode_scalar(value: Any, numpy_dtype: np.dtype[Any], json_path: str) -> Any:
    kind = numpy_dtype.kind
    if kind == "b":
        if not isinstance(value, bool):
            raise SpecError(json_path, f"expected boolean, but received: {describe(value)}")
        return value
    if kind in "iu":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise SpecError(json_path, f"expected integer, but received: {describe(value)}")
        low, high = integer_range(numpy_dtype)
        if not low <= value <= high:
            raise SpecError(json_path, f"{value} is out of range for {numpy_dtype.name}")
        return value
    if kind == "f" or numpy_dtype.name == "bfloat16":
        if isinstance(value, str) and value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(json_path, f'expected number, "NaN", "Infinity" or "-Infinity", but received: {describe(value)}')
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float
            raise SpecError(json_path, f"{describe(value)} is out of range for {numpy_dtype.name}") from None
    if kind == "c":
        if not isinstance(value, list) or len(value) != 2:
            raise SpecError(json_path, f"expected [real, imag], but received: {describe(value)}")
        real = _decode_scalar(value[0], np.dtype("f8"), f"{json_path}[0]")
        imag = _decode_scalar(value[1], np.dtype("f8"), f"{json_path}[1]")
        return complex(real, imag)
    raise SpecError(json_path, f"fill values of dtype {numpy_dtype} must be base64 encoded")


def decode_fill_value(value: Any, dtype: ZarrDType, json_path: str) -> tuple[np.ndarray[Any, Any] | None, ...]:
    """Per-field fill arrays (each shaped like the field's inner shape), or Nones for null."""
    if value is None:
        return tuple(None for _ in dtype.fields)
    field = dtype.fields[0]
    if dtype.has_fields or field.numpy_dtype.kind == "S":
        if not isinstance(value, str):
            raise SpecError(json_path, f"expected base64-encoded bytes, but received: {describe(value)}")
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise SpecError(json_path, f"invalid base64: {describe(value)}") from None
        if len(raw) != dtype.storage_dtype.itemsize:
            raise SpecError(
                json_path,
                f"expected {dtype.storage_dtype.itemsize} base64-encoded bytes, but received: {len(raw)} bytes",
            )
        element = np.frombuffer(raw, dtype=dtype.storage_dtype)[0]
        if dtype.has_fields:
            return tuple(np.array(element[f.name], dtype=f.numpy_dtype) for f in dtype.fields)
        return (np.frombuffer(raw, dtype=field.numpy_dtype).reshape(field.shape).copy(),)
    scalar = _decode_scalar(value, field.numpy_dtype, json_path)
    return (np.full(field.shape, scalar, dtype=field.numpy_dtype),)


def encode_fill_value(
    fill: np.ndarray[Any, Any] | None, dtype: ZarrDType, json_path: str = "schema.fill_value"
) -> Any:
    """JSON for a (single-field, non-bytes) fill value, as tensorstore writes it; a value
    that does not convert to the data type is a ``SpecError`` at ``json_path``."""
    if fill is None:
        return None
    field = dtype.fields[0]
    try:
        if np.asarray(fill).dtype.kind in "US" and field.numpy_dtype.kind in "iub":
            raise ValueError("expected a number")
        if dtype.has_fields or field.numpy_dtype.kind == "S":
            return base64.b64encode(np.ascontiguousarray(fill, dtype=field.numpy_dtype).tobytes()).decode()
        values = np.asarray(fill, dtype=field.numpy_dtype).reshape(-1)
        scalar = values[0]
        if values.size > 1 and values.tobytes() != np.full(values.shape, scalar).tobytes():
            raise ValueError("zarr stores one fill value per field, but these differ")
    except (TypeError, ValueError, OverflowError) as exc:
        raise SpecError(json_path, f"cannot convert {describe(np.asarray(fill).tolist())} to {field.numpy_dtype}: {exc}") from None
    kind = field.numpy_dtype.kind
    if kind == "b":
        return bool(scalar)
    if kind in "iu":
        return int(scalar)
    if kind == "c":
        return [_encode_float(float(scalar.real)), _encode_float(float(scalar.imag))]
    return _encode_float(float(scalar))


def _encode_float(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
