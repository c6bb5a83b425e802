"""The ``info`` file of a precomputed volume: parsing with JSON-path errors, and encoding.

Neuroglancer's precomputed volume format ("info JSON file specification"): a multiscale
volume has ``@type`` ``neuroglancer_multiscale_volume``, a ``type``, a ``data_type``,
``num_channels`` and a list of ``scales``; each scale has a ``key`` (the directory of its
chunks, relative to the volume), a ``size`` and ``voxel_offset`` (XYZ), one or more
``chunk_sizes``, a ``resolution`` in nanometres, an ``encoding`` and optionally
``sharding``. Members nobody here interprets are kept and written back unchanged, as
tensorstore keeps them. The encoding (sorted keys, compact) is byte-identical to
tensorstore's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe

from .encoding_api import CODEC_NAMESPACE, ChunkEncoding

__all__ = [
    "DATA_TYPES",
    "INFO_KEY",
    "MULTISCALE_TYPE",
    "MultiscaleMetadata",
    "ScaleMetadata",
    "check_data_type",
    "encoding_class",
    "parse_info",
    "scale_key_from_resolution",
]

#: Name of the metadata object of a volume.
INFO_KEY = "info"
#: The ``@type`` of a multiscale volume.
MULTISCALE_TYPE = "neuroglancer_multiscale_volume"
#: Data types a precomputed volume may hold (tensorstore's list, in its order).
DATA_TYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(name) for name in ("uint8", "uint16", "uint32", "int8", "int16", "int32", "uint64", "float32")
}
#: Scale members that belong to one encoding: present with another encoding they are an
#: error (as in tensorstore), not an unknown member to keep.
ENCODING_OWNED_MEMBERS = {
    "compressed_segmentation_block_size": "compressed_segmentation",
    "jpeg_quality": "jpeg",
    "png_level": "png",
}
#: The scale and volume members this driver interprets; the rest are kept as they are.
_SCALE_MEMBERS = ("key", "size", "voxel_offset", "chunk_sizes", "resolution", "encoding", "sharding")
_VOLUME_MEMBERS = ("@type", "type", "data_type", "num_channels", "scales")
#: Largest magnitude of an index (tensorstore's kMaxFiniteIndex).
MAX_INDEX = 2**62 - 2


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def check_data_type(value: Any, json_path: str) -> str:
    """A supported ``data_type`` name, else SpecError naming ``json_path``."""
    if not isinstance(value, str) or value not in DATA_TYPES:
        raise SpecError(json_path, f"expected one of {', '.join(DATA_TYPES)}, but received: {describe(value)}")
    return value


def encoding_class(name: Any, json_path: str) -> type[ChunkEncoding]:
    """The encoding plugin registered as ``name`` in the ``neuroglancer_precomputed`` namespace."""
    from ts_core.plugin import get_registry

    if not isinstance(name, str):
        raise SpecError(json_path, f"expected string, but received: {describe(name)}")
    registry = get_registry()
    record = registry.find("codec", name, CODEC_NAMESPACE)
    if record is None:
        known = ", ".join(registry.ids("codec", CODEC_NAMESPACE))
        raise SpecError(json_path, f"{describe(name)} is not a registered precomputed encoding (known: {known})")
    loaded: type[ChunkEncoding] = record.load()
    return loaded


def integer_vector(value: Any, json_path: str, minimum: int, maximum: int = MAX_INDEX, length: int = 3) -> tuple[int, ...]:
    """A list of ``length`` integers in ``[minimum, maximum]``."""
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    if len(value) != length:
        raise SpecError(json_path, f"array has length {len(value)} but should have length {length}")
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not minimum <= item <= maximum:
            raise SpecError(
                f"{json_path}[{position}]",
                f"expected integer in the range [{minimum}, {maximum}], but received: {describe(item)}",
            )
    return tuple(value)


def number_vector(value: Any, json_path: str, length: int = 3) -> tuple[float, ...]:
    """A list of ``length`` finite numbers, as floats."""
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    if len(value) != length:
        raise SpecError(json_path, f"array has length {len(value)} but should have length {length}")
    numbers = []
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise SpecError(f"{json_path}[{position}]", f"expected number, but received: {describe(item)}")
        try:
            number = float(item)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise SpecError(f"{json_path}[{position}]", f"expected a finite number, but received: {describe(item)}")
        numbers.append(number)
    return tuple(numbers)


def check_bounds(size: Sequence[int], voxel_offset: Sequence[int], json_path: str) -> None:
    """``voxel_offset`` + ``size`` must stay within the index range (tensorstore's check)."""
    for dim in range(3):
        if voxel_offset[dim] + size[dim] > MAX_INDEX + 1:
            raise SpecError(
                json_path,
                f'"size" of {json.dumps(list(size))} and "voxel_offset" of {json.dumps(list(voxel_offset))} '
                "do not specify a valid region",
            )


def scale_key_from_resolution(resolution: Sequence[float]) -> str:
    """tensorstore's default scale key, ``"<x>_<y>_<z>"`` (six significant digits)."""
    return "_".join(f"{value:g}" for value in resolution)


def check_encoding_members(scale: Mapping[str, Any], encoding: str, json_path: str) -> None:
    """A member that belongs to another encoding (``jpeg_quality`` on a raw scale) is an error."""
    for member, owner in ENCODING_OWNED_MEMBERS.items():
        if member in scale and scale[member] is not None and owner != encoding:
            raise SpecError(_join(json_path, member), f'Only valid for "{owner}" encoding')


@attrs.frozen(eq=False)
class ScaleMetadata:
    """One validated entry of ``scales``."""

    key: str
    size: tuple[int, int, int]
    voxel_offset: tuple[int, int, int]
    chunk_sizes: tuple[tuple[int, int, int], ...]
    resolution: tuple[float, float, float]
    encoding: str
    #: The ``sharding`` object (None: the unsharded format).
    sharding: Mapping[str, Any] | None = None
    #: Members stored for the encoding (``compressed_segmentation_block_size``, ...).
    encoding_members: Mapping[str, Any] = attrs.field(factory=dict)
    #: Members nobody here interprets, kept as they are.
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        json_value: dict[str, Any] = {
            **self.extra,
            **self.encoding_members,
            "key": self.key,
            "size": list(self.size),
            "voxel_offset": list(self.voxel_offset),
            "chunk_sizes": [list(chunk) for chunk in self.chunk_sizes],
            "resolution": list(self.resolution),
            "encoding": self.encoding,
        }
        if self.sharding is not None:
            json_value["sharding"] = dict(self.sharding)
        return dict(sorted(json_value.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScaleMetadata) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


@attrs.frozen(eq=False)
class MultiscaleMetadata:
    """A validated ``info`` file."""

    type: str
    data_type: str
    num_channels: int
    scales: tuple[ScaleMetadata, ...]
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Native-order NumPy dtype of the voxels."""
        return DATA_TYPES[self.data_type]

    def to_json(self) -> dict[str, Any]:
        json_value = {
            **self.extra,
            "@type": MULTISCALE_TYPE,
            "type": self.type,
            "data_type": self.data_type,
            "num_channels": self.num_channels,
            "scales": [scale.to_json() for scale in self.scales],
        }
        return dict(sorted(json_value.items()))

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True, allow_nan=False).encode()

    def with_scale(self, scale: ScaleMetadata) -> MultiscaleMetadata:
        return attrs.evolve(self, scales=(*self.scales, scale))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiscaleMetadata) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def parse_scale(value: Any, json_path: str, data_type: str, num_channels: int) -> ScaleMetadata:
    """Validate one stored scale (all its required members present)."""
    if not isinstance(value, Mapping):
        raise SpecError(json_path, f"expected object, but received: {describe(value)}")
    for member in ("key", "size", "chunk_sizes", "resolution", "encoding"):
        if member not in value:
            raise SpecError(json_path, f'missing required member "{member}"')
    key = value["key"]
    if not isinstance(key, str):
        raise SpecError(_join(json_path, "key"), f"expected string, but received: {describe(key)}")
    size = integer_vector(value["size"], _join(json_path, "size"), 0)
    voxel_offset: tuple[int, ...] = (0, 0, 0)
    if "voxel_offset" in value:
        voxel_offset = integer_vector(value["voxel_offset"], _join(json_path, "voxel_offset"), -MAX_INDEX)
    check_bounds(size, voxel_offset, json_path)
    chunk_sizes_json = value["chunk_sizes"]
    if not isinstance(chunk_sizes_json, list):
        raise SpecError(_join(json_path, "chunk_sizes"), f"expected array, but received: {describe(chunk_sizes_json)}")
    if not chunk_sizes_json:
        raise SpecError(_join(json_path, "chunk_sizes"), "At least one chunk size must be specified")
    chunk_sizes = tuple(
        integer_vector(chunk, f"{_join(json_path, 'chunk_sizes')}[{position}]", 1)
        for position, chunk in enumerate(chunk_sizes_json)
    )
    resolution = number_vector(value["resolution"], _join(json_path, "resolution"))
    sharding = value.get("sharding")
    if sharding is not None:
        if not isinstance(sharding, Mapping):
            raise SpecError(_join(json_path, "sharding"), f"expected object or null, but received: {describe(sharding)}")
        if len(chunk_sizes) != 1:
            raise SpecError(_join(json_path, "chunk_sizes"), "Sharded format does not support more than one chunk size")
    encoding = value["encoding"]
    encoding_type = encoding_class(encoding, _join(json_path, "encoding"))
    check_encoding_members(value, encoding, json_path)
    encoding_type.check(DATA_TYPES[data_type], num_channels, value, json_path)
    owned = set(encoding_type.scale_members) | set(encoding_type.writer_options)
    encoding_members = {name: value[name] for name in encoding_type.writer_options if name in value}
    encoding_members.update(encoding_type.normalized_members(value))
    extra = {
        name: item for name, item in value.items()
        if name not in _SCALE_MEMBERS and name not in owned and name not in ENCODING_OWNED_MEMBERS
    }
    return ScaleMetadata(
        key=key,
        size=size,  # type: ignore[arg-type]  # checked to have 3 entries
        voxel_offset=voxel_offset,  # type: ignore[arg-type]
        chunk_sizes=chunk_sizes,  # type: ignore[arg-type]
        resolution=resolution,  # type: ignore[arg-type]
        encoding=encoding,
        sharding=None if sharding is None else dict(sharding),
        encoding_members=encoding_members,
        extra=extra,
    )


def parse_info(value: Any, json_path: str = "") -> MultiscaleMetadata:
    """Validate a stored ``info`` object."""
    if not isinstance(value, Mapping):
        raise SpecError(json_path, f"expected object, but received: {describe(value)}")
    if "@type" in value and value["@type"] != MULTISCALE_TYPE:
        raise SpecError(
            _join(json_path, "@type"), f'expected "{MULTISCALE_TYPE}", but received: {describe(value["@type"])}'
        )
    for member in ("type", "data_type", "num_channels", "scales"):
        if member not in value:
            raise SpecError(json_path, f'missing required member "{member}"')
    volume_type = value["type"]
    if not isinstance(volume_type, str):
        raise SpecError(_join(json_path, "type"), f"expected string, but received: {describe(volume_type)}")
    data_type = check_data_type(value["data_type"], _join(json_path, "data_type"))
    num_channels = value["num_channels"]
    if isinstance(num_channels, bool) or not isinstance(num_channels, int) or not 1 <= num_channels <= MAX_INDEX:
        raise SpecError(
            _join(json_path, "num_channels"), f"expected integer >= 1, but received: {describe(num_channels)}"
        )
    scales_json = value["scales"]
    if not isinstance(scales_json, list):
        raise SpecError(_join(json_path, "scales"), f"expected array, but received: {describe(scales_json)}")
    scales = tuple(
        parse_scale(scale, f"{_join(json_path, 'scales')}[{position}]", data_type, num_channels)
        for position, scale in enumerate(scales_json)
    )
    extra = {name: item for name, item in value.items() if name not in _VOLUME_MEMBERS}
    return MultiscaleMetadata(
        type=volume_type, data_type=data_type, num_channels=num_channels, scales=scales, extra=extra
    )
