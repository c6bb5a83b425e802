"""The chunkdir metadata object (``chunkdir.json``): parsing, checking and encoding.

The same parser reads stored metadata (paths relative to the object, ``"chunks[1]"``)
and the ``metadata`` member of a spec (paths under ``"metadata"``), so every error
names the member at fault.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from ts_core.errors import SpecError, describe

__all__ = ["COMPRESSIONS", "DATA_TYPES", "METADATA_KEY", "ChunkdirMetadata", "fill_value_json", "member_path", "parse_metadata"]

#: The metadata object's key below the array's kvstore path.
METADATA_KEY = "chunkdir.json"

#: Element types; chunks store them little-endian whatever the machine's byte order.
DATA_TYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
)

#: Chunk compressions: the raw bytes, or one zlib stream (RFC 1950) per chunk.
COMPRESSIONS = ("none", "zlib")

#: The metadata members; the first three are required.
MEMBERS = ("shape", "chunks", "dtype", "fill_value", "compression")

#: JSON has no non-finite numbers: floating-point fill values may be these strings.
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def member_path(path: str, member: str | int) -> str:
    """``member_path("metadata", "chunks")`` is ``"metadata.chunks"``; ints index."""
    if isinstance(member, int):
        return f"{path}[{member}]"
    return f"{path}.{member}" if path else member


@dataclass(frozen=True)
class ChunkdirMetadata:
    """A validated metadata object; ``fill_value`` is held in its JSON form."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    fill_value: Any = 0
    compression: str = "none"

    @cached_property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The element type in native byte order (what reads return)."""
        return np.dtype(self.dtype)

    @cached_property
    def stored_dtype(self) -> np.dtype[Any]:
        """The element type as stored in chunks (little-endian)."""
        return self.numpy_dtype.newbyteorder("<")

    @cached_property
    def chunk_nbytes(self) -> int:
        """Exact size of one decoded chunk: what a stored chunk must hold, and the most
        a compressed one may decompress to."""
        return math.prod(self.chunks) * self.numpy_dtype.itemsize

    def fill_array(self) -> np.ndarray[Any, Any]:
        """The fill value as a 0-d array of the element type."""
        value = NON_FINITE.get(self.fill_value, self.fill_value)
        return np.asarray(value, dtype=self.numpy_dtype)

    def with_shape(self, shape: tuple[int, ...]) -> ChunkdirMetadata:
        return replace(self, shape=tuple(shape))

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "chunks": list(self.chunks),
            "dtype": self.dtype,
            "fill_value": self.fill_value,
            "compression": self.compression,
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), allow_nan=False).encode("utf-8")


def parse_metadata(value: Any, path: str) -> ChunkdirMetadata:
    """Validate a metadata object; ``path`` prefixes the JSON path in errors."""
    if not isinstance(value, dict):
        raise SpecError(path, f"expected a JSON object, but received: {describe(value)}")
    for member in value:
        if member not in MEMBERS:
            raise SpecError(member_path(path, member), f"unknown member; expected one of {', '.join(MEMBERS)}")
    for member in MEMBERS[:3]:
        if member not in value:
            raise SpecError(member_path(path, member), "is required")
    dtype = parse_dtype(value["dtype"], member_path(path, "dtype"))
    shape = _parse_dimensions(value["shape"], member_path(path, "shape"), minimum=0)
    chunks = _parse_dimensions(value["chunks"], member_path(path, "chunks"), minimum=1)
    if len(chunks) != len(shape):
        raise SpecError(
            member_path(path, "chunks"), f"has {len(chunks)} entries, but shape has {len(shape)} (the rank)"
        )
    default_fill = False if dtype == "bool" else 0
    fill_value = parse_fill_value(value.get("fill_value", default_fill), dtype, member_path(path, "fill_value"))
    compression = value.get("compression", "none")
    if compression not in COMPRESSIONS:
        raise SpecError(
            member_path(path, "compression"), f"expected one of {', '.join(COMPRESSIONS)}, but received: {describe(compression)}"
        )
    return ChunkdirMetadata(shape, chunks, dtype, fill_value, compression)


def parse_dtype(value: Any, path: str) -> str:
    if value not in DATA_TYPES:
        raise SpecError(path, f"expected one of {', '.join(DATA_TYPES)}, but received: {describe(value)}")
    return str(value)


def _parse_dimensions(value: Any, path: str, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise SpecError(path, f"expected an array of integers, but received: {describe(value)}")
    for index, size in enumerate(value):
        if isinstance(size, bool) or not isinstance(size, int) or size < minimum:
            raise SpecError(member_path(path, index), f"expected an integer >= {minimum}, but received: {describe(size)}")
    return tuple(value)


def parse_fill_value(value: Any, dtype: str, path: str) -> Any:
    """The fill value's normalised JSON form; it must be exactly representable in ``dtype``."""
    numpy_dtype = np.dtype(dtype)
    if numpy_dtype.kind == "b":
        if not isinstance(value, bool):
            raise SpecError(path, f"expected true or false for dtype bool, but received: {describe(value)}")
        return value
    if numpy_dtype.kind in "iu":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"expected an integer for dtype {dtype}, but received: {describe(value)}")
        limits = np.iinfo(numpy_dtype)
        if not limits.min <= value <= limits.max:
            raise SpecError(path, f"{value} is out of range for dtype {dtype} [{limits.min}, {limits.max}]")
        return value
    if isinstance(value, str) and value in NON_FINITE:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(
            path, f'expected a number, "NaN", "Infinity" or "-Infinity" for dtype {dtype}, but received: {describe(value)}'
        )
    with np.errstate(over="ignore"):
        try:
            finite = bool(np.isfinite(numpy_dtype.type(value)))
        except OverflowError:  # an integer beyond any float
            finite = False
        if not finite:
            raise SpecError(path, f"{describe(value)} is out of range for dtype {dtype}")
    return float(value)


def fill_value_json(value: np.ndarray[Any, Any]) -> Any:
    """The JSON form of a fill value given as an array (a ``schema.fill_value`` constraint)."""
    if value.ndim:
        raise SpecError("schema.fill_value", f"expected a scalar, but received an array of shape {list(value.shape)}")
    scalar = value.item()
    if isinstance(scalar, float) and not math.isfinite(scalar):
        return "NaN" if math.isnan(scalar) else ("Infinity" if scalar > 0 else "-Infinity")
    return scalar
