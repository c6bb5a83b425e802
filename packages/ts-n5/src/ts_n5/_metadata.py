"""N5 dataset attributes (``attributes.json``): parsing with JSON-path errors and encoding.

N5 spec "Datasets": a dataset is a group whose attributes include ``dimensions``,
``blockSize``, ``dataType`` and ``compression``. Any other attribute (``axes``, ``units``,
``resolution`` and whatever users store) is kept and written back unchanged. Dimensions
are exposed in the order ``attributes.json`` lists them (as tensorstore does); the first is
the fastest varying within a block. The encoding (sorted keys, compact separators) is
byte-identical to tensorstore's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe
from ts_core.schema import check_chunk_bytes

from ._compression import parse_compression
from .compression_api import N5Compression

__all__ = ["DATA_TYPES", "METADATA_KEY", "N5Metadata", "build_metadata", "parse_metadata"]

#: Name of the attributes object of a group or dataset (N5 spec, "attributes.json").
METADATA_KEY = "attributes.json"
#: N5 data types (N5 spec, "dataType") and their NumPy equivalents.
DATA_TYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(name)
    for name in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64")
}
#: The dataset members this driver interprets; everything else is preserved as is.
_DATASET_MEMBERS = ("dimensions", "blockSize", "dataType", "compression")
_OPTIONAL_MEMBERS = ("axes", "units", "resolution")
#: Largest index tensorstore (and we) accept in a shape, and the largest rank.
_MAX_INDEX = 2**63 - 2
MAX_RANK = 32


@attrs.frozen(eq=False)
class N5Metadata:
    """A validated N5 dataset's ``attributes.json``."""

    dimensions: tuple[int, ...]
    block_size: tuple[int, ...]
    data_type: str
    compression: N5Compression
    axes: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None
    resolution: tuple[float, ...] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def rank(self) -> int:
        return len(self.dimensions)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Native-order NumPy dtype of the elements."""
        return DATA_TYPES[self.data_type]

    @property
    def stored_dtype(self) -> np.dtype[Any]:
        """Big-endian dtype of the elements in a block (N5 spec, "Data block format")."""
        return DATA_TYPES[self.data_type].newbyteorder(">")

    def to_json(self) -> dict[str, Any]:
        json_value: dict[str, Any] = {
            **self.extra,
            "dimensions": list(self.dimensions),
            "blockSize": list(self.block_size),
            "dataType": self.data_type,
            "compression": self.compression.to_json(),
        }
        if self.axes is not None:
            json_value["axes"] = list(self.axes)
        if self.units is not None:
            json_value["units"] = list(self.units)
        if self.resolution is not None:
            json_value["resolution"] = list(self.resolution)
        return dict(sorted(json_value.items()))

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True, allow_nan=False).encode()

    def with_shape(self, shape: tuple[int, ...]) -> N5Metadata:
        return attrs.evolve(self, dimensions=shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, N5Metadata) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def parse_metadata(value: Any, json_path: str = "") -> N5Metadata:
    """Validate a stored ``attributes.json`` object (all dataset members required)."""
    if not isinstance(value, Mapping):
        raise SpecError(json_path, f"expected object, but received: {describe(value)}")
    for member in _DATASET_MEMBERS:
        if member not in value:
            raise SpecError(json_path, f'missing required member "{member}" (not an N5 dataset)')
    return build_metadata(value, json_path)


def _index_vector(value: Any, json_path: str, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    if len(value) > MAX_RANK:
        raise SpecError(json_path, f"rank {len(value)} exceeds the maximum rank {MAX_RANK}")
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not minimum <= item <= _MAX_INDEX:
            raise SpecError(
                f"{json_path}[{position}]",
                f"expected integer in the range [{minimum}, {_MAX_INDEX}], but received: {describe(item)}",
            )
    return tuple(value)


def _vector(value: Any, json_path: str, rank: int, item_type: type | tuple[type, ...], what: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    if len(value) != rank:
        raise SpecError(json_path, f"array has length {len(value)} but should have length {rank}")
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, item_type):
            raise SpecError(f"{json_path}[{position}]", f"expected {what}, but received: {describe(item)}")
    return value


def check_data_type(value: Any, json_path: str) -> str:
    if value not in DATA_TYPES:
        raise SpecError(
            json_path, f"expected one of {', '.join(DATA_TYPES)}, but received: {describe(value)}"
        )
    return str(value)


def build_metadata(value: Mapping[str, Any], json_path: str) -> N5Metadata:
    """Validate complete dataset attributes (``json_path`` prefixes error paths)."""
    dimensions = _index_vector(value["dimensions"], _join(json_path, "dimensions"), 0)
    rank = len(dimensions)
    block_size = _index_vector(value["blockSize"], _join(json_path, "blockSize"), 1)
    if len(block_size) != rank:
        raise SpecError(
            _join(json_path, "blockSize"), f"rank {len(block_size)} does not match the rank {rank} of dimensions"
        )
    data_type = check_data_type(value["dataType"], _join(json_path, "dataType"))
    check_chunk_bytes(block_size, DATA_TYPES[data_type].itemsize, _join(json_path, "blockSize"), what="block")
    compression = parse_compression(value["compression"], _join(json_path, "compression"))
    axes = None
    if value.get("axes") is not None:
        axes = tuple(_vector(value["axes"], _join(json_path, "axes"), rank, str, "string"))
        named = [label for label in axes if label]
        duplicates = sorted({label for label in named if named.count(label) > 1})
        if duplicates:
            raise SpecError(
                _join(json_path, "axes"), f"dimension label(s) {', '.join(map(json.dumps, duplicates))} not unique"
            )
    units = None
    if value.get("units") is not None:
        units = tuple(_vector(value["units"], _join(json_path, "units"), rank, str, "string"))
    resolution = None
    if value.get("resolution") is not None:
        numbers = _vector(value["resolution"], _join(json_path, "resolution"), rank, (int, float), "number")
        for position, number in enumerate(numbers):
            try:
                finite = math.isfinite(number)
            except OverflowError:  # a JSON integer beyond the float range
                finite = False
            if not finite:
                raise SpecError(_join(json_path, f"resolution[{position}]"), f"expected a finite number, but received: {number}")
        resolution = tuple(float(number) for number in numbers)
    # A null optional member is not interpreted, only preserved.
    extra = {
        k: v for k, v in value.items()
        if k not in _DATASET_MEMBERS and not (k in _OPTIONAL_MEMBERS and v is not None)
    }
    return N5Metadata(
        dimensions=dimensions,
        block_size=block_size,
        data_type=data_type,
        compression=compression,
        axes=axes,
        units=units,
        resolution=resolution,
        extra=extra,
    )


def units_from_metadata(metadata: N5Metadata) -> list[tuple[float, str]] | None:
    """``(multiplier, unit)`` per dimension when ``units`` is stored, else None.

    ``resolution`` alone carries no unit, so it yields no dimension units (as tensorstore).
    """
    if metadata.units is None:
        return None
    resolution: Sequence[float] = metadata.resolution or (1.0,) * metadata.rank
    return list(zip(resolution, metadata.units, strict=True))
