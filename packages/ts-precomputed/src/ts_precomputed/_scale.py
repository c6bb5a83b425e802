"""Choosing the scale to open, and the ``info`` that adds a new scale, from a spec's
``scale_index``, ``multiscale_metadata`` and ``scale_metadata`` and its schema.

The rules are tensorstore's: an existing scale is picked by ``scale_index``, else by
``scale_metadata.key`` and the resolution (``scale_metadata.resolution`` or the schema's
dimension units); the other given members must then match it. A new scale takes what the
spec and schema say, with tensorstore's defaults (raw encoding, resolution 1 nm, key
``"<x>_<y>_<z>"`` from the resolution, the chunk shape chosen from the chunk layout).
Errors name the member and use tensorstore's wording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ts_core.driver import SchemaConstraints
from ts_core.errors import SpecError, describe

from ._metadata import (
    DATA_TYPES,
    ENCODING_OWNED_MEMBERS,
    MultiscaleMetadata,
    ScaleMetadata,
    check_bounds,
    check_data_type,
    check_encoding_members,
    encoding_class,
    integer_vector,
    number_vector,
    scale_key_from_resolution,
)

__all__ = ["OpenConstraints", "ScaleExistsError", "create_scale", "open_scale", "parse_constraints"]

#: Members of ``scale_metadata`` interpreted here (besides the encodings' own).
_SCALE_CONSTRAINTS = ("key", "size", "voxel_offset", "chunk_size", "resolution", "encoding", "sharding")
_MULTISCALE_CONSTRAINTS = ("type", "data_type", "num_channels")
LABELS = ("x", "y", "z", "channel")


class ScaleExistsError(SpecError):
    """The scale a create asked for already exists (an open may then open it)."""

    def __init__(self, json_path: str, message: str) -> None:
        super().__init__(json_path, message)
        self.detail = message


@attrs.frozen
class OpenConstraints:
    """The format members of a spec, checked."""

    scale_index: int | None
    #: ``multiscale_metadata`` (``data_type`` filled from the spec's dtype).
    multiscale: Mapping[str, Any]
    #: ``scale_metadata``, with ``voxel_offset`` filled in when ``size`` is given.
    scale: Mapping[str, Any]

    @property
    def box(self) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """(voxel_offset, size) if the spec gives the size."""
        if "size" not in self.scale:
            return None
        return tuple(self.scale.get("voxel_offset", (0, 0, 0))), tuple(self.scale["size"])


def mismatch(json_path: str, name: str, expected: Any, received: Any) -> SpecError:
    """tensorstore's metadata mismatch error, naming the member."""
    return SpecError(json_path, f"Expected {json.dumps(name)} of {_dump(expected)} but received: {_dump(received)}")


def _dump(value: Any) -> str:
    if isinstance(value, tuple):
        value = [list(item) if isinstance(item, tuple) else item for item in value]
    return json.dumps(value, separators=(",", ":"))


def parse_constraints(spec_members: Mapping[str, Any], schema: SchemaConstraints) -> OpenConstraints:
    """Check the spec's ``scale_index``, ``multiscale_metadata`` and ``scale_metadata``."""
    scale_index = spec_members.get("scale_index")
    if scale_index is not None and (isinstance(scale_index, bool) or not isinstance(scale_index, int) or scale_index < 0):
        raise SpecError("scale_index", f"expected non-negative integer, but received: {describe(scale_index)}")
    multiscale = dict(spec_members.get("multiscale_metadata") or {})
    if "data_type" in multiscale:
        data_type = check_data_type(multiscale["data_type"], "multiscale_metadata.data_type")
        dtype = schema.numpy_dtype
        if dtype is not None and np.dtype(dtype).newbyteorder("=") != DATA_TYPES[data_type]:
            raise SpecError("dtype", f"{np.dtype(dtype).name} conflicts with multiscale_metadata.data_type {describe(data_type)}")
    elif schema.numpy_dtype is not None:
        name = np.dtype(schema.numpy_dtype).newbyteorder("=").name
        check_data_type_schema(name)
        multiscale["data_type"] = name
    if "num_channels" in multiscale:
        channels = multiscale["num_channels"]
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise SpecError("multiscale_metadata.num_channels", f"expected integer >= 1, but received: {describe(channels)}")
    if "type" in multiscale and not isinstance(multiscale["type"], str):
        raise SpecError("multiscale_metadata.type", f"expected string, but received: {describe(multiscale['type'])}")
    scale = dict(spec_members.get("scale_metadata") or {})
    path = "scale_metadata"
    if "key" in scale and not isinstance(scale["key"], str):
        raise SpecError(f"{path}.key", f"expected string, but received: {describe(scale['key'])}")
    if "size" in scale:
        scale["size"] = integer_vector(scale["size"], f"{path}.size", 0)
        scale["voxel_offset"] = integer_vector(scale.get("voxel_offset", [0, 0, 0]), f"{path}.voxel_offset", -(2**62 - 2))
        check_bounds(scale["size"], scale["voxel_offset"], path)
    elif "voxel_offset" in scale:
        raise SpecError(f"{path}.voxel_offset", 'cannot be specified without "size"')
    if "chunk_size" in scale:
        scale["chunk_size"] = integer_vector(scale["chunk_size"], f"{path}.chunk_size", 1)
    if "resolution" in scale:
        scale["resolution"] = number_vector(scale["resolution"], f"{path}.resolution")
    if scale.get("sharding") is not None and not isinstance(scale["sharding"], Mapping):
        raise SpecError(f"{path}.sharding", f"expected object or null, but received: {describe(scale['sharding'])}")
    encoding_members: set[str] = set()
    if "encoding" in scale:
        encoding = encoding_class(scale["encoding"], f"{path}.encoding")
        encoding_members = {*encoding.scale_members, *encoding.writer_options}
        check_encoding_members(scale, scale["encoding"], path)
        known_type = multiscale.get("data_type")
        if known_type is not None:
            encoding.check(DATA_TYPES[known_type], multiscale.get("num_channels", 1), scale, path)
    else:
        for member, owner in ENCODING_OWNED_MEMBERS.items():
            if member in scale:
                raise SpecError(f"{path}.{member}", f'Only valid for "{owner}" encoding')
    extra = [name for name in scale if name not in (*_SCALE_CONSTRAINTS, *ENCODING_OWNED_MEMBERS, *encoding_members)]
    if extra:
        raise SpecError(path, "Object includes extra members: " + ", ".join(json.dumps(name) for name in extra))
    return OpenConstraints(scale_index=scale_index, multiscale=multiscale, scale=scale)


def check_data_type_schema(name: str) -> None:
    """The schema's dtype must be one a precomputed volume can hold."""
    if name not in DATA_TYPES:
        raise SpecError("dtype", f"{name} data type is not one of the supported data types: {', '.join(DATA_TYPES)}")


# -- dimension units ----------------------------------------------------------------------
def _unit(value: Any) -> Any:
    from ts_core.schema import Unit

    if value is None or isinstance(value, Unit):
        return value
    if isinstance(value, (list, tuple)):
        return Unit(*value)
    return Unit(value)


def _units_string(units: Sequence[Any]) -> str:
    return "[" + ", ".join("null" if unit is None else json.dumps(str(unit)) for unit in units) + "]"


def effective_units(constraints: OpenConstraints, schema: SchemaConstraints) -> list[Any]:
    """Four dimension units (Unit or None): the schema's, then ``scale_metadata.resolution``."""
    units: list[Any] = [None] * 4
    if schema.dimension_units is not None:
        given = [_unit(unit) for unit in schema.dimension_units]
        if len(given) != 4:
            raise SpecError("dimension_units", f"has {len(given)} entries, but a precomputed volume has rank 4")
        if given[3] is not None:
            raise SpecError(
                "dimension_units",
                f"Invalid dimension units {_units_string(given)}: neuroglancer_precomputed format does not allow "
                "units to be specified for channel dimension",
            )
        for unit in given[:3]:
            if unit is not None and unit.base_unit != "nm":
                raise SpecError(
                    "dimension_units",
                    f"Invalid dimension units {_units_string(given)}: neuroglancer_precomputed format requires a "
                    'base unit of "nm" for the "x", "y", and "z" dimensions',
                )
        units = given
    resolution = constraints.scale.get("resolution")
    if resolution is not None:
        check_units_match_resolution(units, resolution, "scale_metadata.resolution")
        units[:3] = [_unit((value, "nm")) for value in resolution]
    return units


def check_units_match_resolution(units: Sequence[Any], resolution: Sequence[float], json_path: str) -> None:
    for dim in range(3):
        unit = units[dim] if dim < len(units) else None
        if unit is not None and float(unit.multiplier) != resolution[dim]:
            raise SpecError(
                json_path,
                f"Dimension units {_units_string(units)} do not match \"resolution\" in metadata: "
                f"{list(resolution)}",
            )


# -- opening ------------------------------------------------------------------------------
def check_multiscale(constraints: Mapping[str, Any], info: MultiscaleMetadata) -> None:
    """The given ``multiscale_metadata`` members must match the stored ``info``."""
    path = "multiscale_metadata"
    if "data_type" in constraints and constraints["data_type"] != info.data_type:
        raise mismatch(f"{path}.data_type", "data_type", constraints["data_type"], info.data_type)
    if "num_channels" in constraints and constraints["num_channels"] != info.num_channels:
        raise mismatch(f"{path}.num_channels", "num_channels", constraints["num_channels"], info.num_channels)
    if "type" in constraints and constraints["type"] != info.type:
        raise mismatch(f"{path}.type", "type", constraints["type"], info.type)
    for member, wanted in constraints.items():
        if member in _MULTISCALE_CONSTRAINTS:
            continue
        if member not in info.extra or info.extra[member] != wanted:
            raise mismatch(f"{path}.{member}", member, wanted, info.extra.get(member))


def check_scale(constraints: Mapping[str, Any], scale: ScaleMetadata) -> None:
    """The given ``scale_metadata`` members must match the chosen stored scale."""
    path = "scale_metadata"
    stored = scale.to_json()
    if "key" in constraints and constraints["key"] != scale.key:
        raise mismatch(f"{path}.key", "key", constraints["key"], scale.key)
    if "encoding" in constraints and constraints["encoding"] != scale.encoding:
        raise mismatch(f"{path}.encoding", "encoding", constraints["encoding"], scale.encoding)
    for member in ENCODING_OWNED_MEMBERS:
        if member in constraints and member in stored and constraints[member] != stored[member]:
            raise mismatch(f"{path}.{member}", member, constraints[member], stored[member])
    if "resolution" in constraints and tuple(constraints["resolution"]) != scale.resolution:
        raise mismatch(f"{path}.resolution", "resolution", list(constraints["resolution"]), list(scale.resolution))
    if "sharding" in constraints and constraints["sharding"] != scale.sharding:
        raise mismatch(f"{path}.sharding", "sharding", constraints["sharding"], scale.sharding)
    if "size" in constraints:
        if tuple(constraints["size"]) != scale.size:
            raise mismatch(f"{path}.size", "size", list(constraints["size"]), list(scale.size))
        if tuple(constraints["voxel_offset"]) != scale.voxel_offset:
            raise mismatch(f"{path}.voxel_offset", "voxel_offset", list(constraints["voxel_offset"]), list(scale.voxel_offset))
    if "chunk_size" in constraints and tuple(constraints["chunk_size"]) not in scale.chunk_sizes:
        raise mismatch(
            f"{path}.chunk_size", "chunk_size", list(constraints["chunk_size"]), [list(c) for c in scale.chunk_sizes]
        )
    for member, wanted in constraints.items():
        if member in _SCALE_CONSTRAINTS or member in ENCODING_OWNED_MEMBERS:
            continue
        if member in stored and stored[member] != wanted:
            raise mismatch(f"{path}.{member}", member, wanted, stored[member])
        if member not in stored and not _is_writer_option(scale.encoding, member):
            raise mismatch(f"{path}.{member}", member, wanted, None)


def _is_writer_option(encoding: str, member: str) -> bool:
    return member in encoding_class(encoding, "scale_metadata.encoding").writer_options


def open_scale(info: MultiscaleMetadata, constraints: OpenConstraints, schema: SchemaConstraints) -> int:
    """The index of the stored scale the spec selects (tensorstore's OpenScale)."""
    check_multiscale(constraints.multiscale, info)
    units = effective_units(constraints, schema)
    if constraints.scale_index is not None:
        index = constraints.scale_index
        if index >= len(info.scales):
            raise SpecError("scale_index", f"Scale {index} does not exist, number of scales is {len(info.scales)}")
    else:
        key = constraints.scale.get("key")
        matching = [
            position for position, scale in enumerate(info.scales)
            if (key is None or scale.key == key)
            and all(unit is None or float(unit.multiplier) == scale.resolution[dim] for dim, unit in enumerate(units[:3]))
        ]
        if matching:
            index = matching[0]
        else:
            explanation = []
            if any(unit is not None for unit in units):
                explanation.append(f"dimension_units={_units_string(units)}")
            if key is not None:
                explanation.append(f"key={json.dumps(key)}")
            member = "scale_metadata.key" if key is not None else "scale_metadata.resolution"
            raise SpecError(member, "No scale found matching " + ", ".join(explanation))
    check_scale(constraints.scale, info.scales[index])
    return index


# -- creating -----------------------------------------------------------------------------
def _effective_box(
    existing: MultiscaleMetadata | None, constraints: OpenConstraints, schema: SchemaConstraints
) -> tuple[list[int], list[int]]:
    """(inclusive_min, shape) of the new scale's 4-D domain; SpecError if not fully known."""
    lower: list[int | None] = [None, None, None, 0]
    upper: list[int | None] = [None, None, None, None]
    if existing is not None:
        upper[3] = existing.num_channels
    if "num_channels" in constraints.multiscale:
        upper[3] = constraints.multiscale["num_channels"]
    box = constraints.box
    if box is not None:
        for dim in range(3):
            lower[dim] = box[0][dim]
            upper[dim] = box[0][dim] + box[1][dim]
    domain = schema.domain
    if domain is None and schema.shape is not None and len(schema.shape) == 4:
        from ts_core.index_space import IndexDomain

        domain = IndexDomain(shape=list(schema.shape))
    if domain is not None:
        if domain.rank != 4:
            raise SpecError("schema.domain", f"a precomputed volume has rank 4, but the domain has rank {domain.rank}")
        for dim in range(4):
            label = domain.labels[dim]
            if label and label != LABELS[dim]:
                raise SpecError(
                    "schema.domain",
                    'Error applying domain constraints from "multiscale_metadata" and "scale_metadata": '
                    f"dimension {dim} is labelled {json.dumps(label)}, but precomputed volumes label it {json.dumps(LABELS[dim])}",
                )
            for bounds, value, implicit in (
                (lower, domain.inclusive_min[dim], domain.implicit_lower_bounds[dim]),
                (upper, domain.exclusive_max[dim], domain.implicit_upper_bounds[dim]),
            ):
                if abs(value) >= 2**62 or (implicit and dim < 3 and bounds[dim] is not None):
                    continue
                if bounds[dim] is None:
                    bounds[dim] = value
                elif bounds[dim] != value:
                    raise SpecError(
                        "schema.domain",
                        'Error applying domain constraints from "multiscale_metadata" and "scale_metadata": '
                        f"the domain {domain} does not match the bounds [{lower[dim]}, {upper[dim]}) "
                        f"of dimension {dim} ({json.dumps(LABELS[dim])})",
                    )
    if any(value is None for value in lower + upper):
        raise SpecError("schema.domain", "domain must be specified")
    low = [int(value) for value in lower]  # type: ignore[arg-type]
    return low, [int(high) - low[dim] for dim, high in enumerate(upper)]  # type: ignore[arg-type]


def _codec_members(constraints: OpenConstraints, schema: SchemaConstraints) -> dict[str, Any]:
    """Encoding members from ``scale_metadata`` merged with a codec constraint."""
    members = {
        name: constraints.scale[name]
        for name in ("encoding", *ENCODING_OWNED_MEMBERS)
        if name in constraints.scale and name != "compressed_segmentation_block_size"
    }
    if schema.codec is not None:
        codec_json = schema.codec.to_json()
        if codec_json.get("driver", "neuroglancer_precomputed") != "neuroglancer_precomputed":
            raise SpecError("codec.driver", f'expected "neuroglancer_precomputed", but received: {describe(codec_json["driver"])}')
        for name, value in codec_json.items():
            if name == "driver":
                continue
            if name in members and members[name] != value:
                raise SpecError(
                    f"codec.{name}", f"{describe(value)} conflicts with scale_metadata.{name} {describe(members[name])}"
                )
            members[name] = value
    return members


def _chunk_layout_json(schema: SchemaConstraints, origin: Sequence[int], num_channels: int) -> dict[str, Any]:
    """The schema's chunk layout as JSON, checked against what precomputed can store, with
    the channel dimension unchunked."""
    layout = schema.layout().to_json()
    if layout.get("rank", 4) != 4 and layout:
        raise SpecError("chunk_layout", "a precomputed volume has rank 4")
    grid_origin = layout.get("grid_origin")
    if grid_origin is not None:
        for dim, value in enumerate(grid_origin):
            if value is not None and value != origin[dim]:
                raise SpecError(
                    "chunk_layout.grid_origin",
                    f"Chunk grid origin must match domain origin: {describe(grid_origin)} vs {list(origin)}",
                )
    inner_order = layout.get("inner_order")
    if inner_order is not None and list(inner_order) != [3, 2, 1, 0]:
        raise SpecError(
            "chunk_layout.inner_order",
            f"Only lexicographic {{channel, z, y, x}} inner order is supported, not {describe(inner_order)}",
        )
    for usage in ("read_chunk", "write_chunk", "chunk"):
        grid = layout.get(usage) or {}
        shape = grid.get("shape")
        if shape is not None and shape[3] not in (None, 0, -1, num_channels):
            raise SpecError(f"chunk_layout.{usage}.shape", "Chunking of channel dimension is not supported")
    read = dict(layout.get("read_chunk") or {})
    read_shape = list(read.get("shape") or [None] * 4)
    read_shape[3] = num_channels
    read["shape"] = read_shape
    layout["read_chunk"] = read
    layout.pop("grid_origin", None)
    layout.pop("inner_order", None)
    return layout


def _check_read_chunk(schema: SchemaConstraints, chunks: Sequence[int]) -> None:
    """Hard ``read_chunk`` (and ``chunk``) shape constraints must match ``chunks``."""
    layout = schema.layout().to_json()
    for usage in ("read_chunk", "chunk"):
        shape = (layout.get(usage) or {}).get("shape")
        if shape is not None and any(
            wanted not in (None, 0) and wanted != have for wanted, have in zip(shape, chunks, strict=False)
        ):
            raise SpecError(
                "scale_metadata.chunk_size", f"{list(chunks[:3])} conflicts with schema.chunk_layout.{usage}.shape {describe(shape)}"
            )


#: Elements of a compressed_segmentation block tensorstore aims for (8 x 8 x 8).
TARGET_BLOCK_ELEMENTS = 512


def _choose_block_size(schema: SchemaConstraints, chunk_size: Sequence[int]) -> list[int]:
    """A compressed_segmentation block size within a chunk, from the chunk layout's
    ``codec_chunk`` constraints, else of about 512 voxels, as tensorstore chooses it."""
    from ts_core.schema import ChunkLayout, choose_read_write_chunk_shape

    codec_chunk = dict(schema.layout().to_json().get("codec_chunk") or {})
    if "shape" in codec_chunk:
        codec_chunk["shape"] = [*list(codec_chunk["shape"])[:3], 1]
    layout = ChunkLayout(json={"read_chunk": codec_chunk}) if codec_chunk else ChunkLayout()
    chosen = choose_read_write_chunk_shape(layout, [*chunk_size, 1], default_elements=TARGET_BLOCK_ELEMENTS)
    return list(chosen[:3])


def create_scale(
    existing: MultiscaleMetadata | None,
    constraints: OpenConstraints,
    schema: SchemaConstraints,
    *,
    assume_metadata: bool = False,
) -> tuple[MultiscaleMetadata, int]:
    """The ``info`` with the new scale the spec describes added, and the scale's index
    (tensorstore's CreateScale)."""
    from ts_core.schema import ChunkLayout, choose_read_write_chunk_shape

    if schema.fill_value is not None:
        raise SpecError("fill_value", "fill_value not supported by neuroglancer_precomputed format")
    origin, shape = _effective_box(existing, constraints, schema)
    num_channels = shape[3]
    data_type = constraints.multiscale.get("data_type")
    if existing is not None:
        if data_type is not None and data_type != existing.data_type:
            raise mismatch("multiscale_metadata.data_type", "data_type", data_type, existing.data_type)
        data_type = existing.data_type
    if data_type is None:
        raise SpecError("dtype", "dtype must be specified")
    volume_type = constraints.multiscale.get("type") or ("segmentation" if data_type in ("uint32", "uint64") else "image")
    units = effective_units(constraints, schema)
    resolution = tuple(float(unit.multiplier) if unit is not None else 1.0 for unit in units[:3])
    codec = _codec_members(constraints, schema)
    encoding_name = codec.pop("encoding", "raw")
    shard_data_encoding = codec.pop("shard_data_encoding", None)
    encoding = encoding_class(encoding_name, "scale_metadata.encoding")
    # Unsharded, a chunk is read and written whole: both kinds of constraints apply to it.
    # Otherwise the write constraints are the shards' (chosen below) and only the read
    # constraints choose the chunk, as in tensorstore.
    unsharded = "sharding" in constraints.scale and constraints.scale["sharding"] is None
    if "chunk_size" in constraints.scale:
        chunk_size = tuple(constraints.scale["chunk_size"])
        if unsharded:
            schema.check_chunk_shape([*chunk_size, num_channels], "scale_metadata.chunk_size")
        else:
            _check_read_chunk(schema, [*chunk_size, num_channels])
    else:
        layout_json = _chunk_layout_json(schema, origin, num_channels)
        if not unsharded:
            layout_json.pop("write_chunk", None)
        chunk_size = tuple(choose_read_write_chunk_shape(ChunkLayout(json=layout_json), shape))[:3]
    sharding = constraints.scale.get("sharding")
    if "sharding" not in constraints.scale:  # chosen from the write chunk constraints, as tensorstore
        from ._sharded_io import choose_sharding

        sharding = choose_sharding(schema.layout(), shape[:3], chunk_size, encoding_name, shard_data_encoding)
    if shard_data_encoding is not None and sharding is None:
        raise SpecError("codec.shard_data_encoding", "shard_data_encoding requires sharded format")
    key = constraints.scale.get("key") or scale_key_from_resolution(resolution)
    scale_index = constraints.scale_index
    if existing is None:
        if scale_index not in (None, 0) and not assume_metadata:
            raise SpecError("scale_index", f"Cannot create scale {scale_index} in new multiscale volume")
        extra = {k: v for k, v in constraints.multiscale.items() if k not in _MULTISCALE_CONSTRAINTS}
        info = MultiscaleMetadata(type=volume_type, data_type=data_type, num_channels=num_channels, scales=(), extra=extra)
    else:
        check_multiscale(constraints.multiscale, existing)
        if num_channels != existing.num_channels:
            raise mismatch("multiscale_metadata.num_channels", "num_channels", num_channels, existing.num_channels)
        count = len(existing.scales)
        if scale_index is not None:
            if scale_index < count:
                raise ScaleExistsError("scale_index", f"Scale index {scale_index} already exists")
            if scale_index != count:
                raise SpecError(
                    "scale_index",
                    f"Scale index to create ({scale_index}) must equal the existing number of scales ({count})",
                )
        else:
            for scale in existing.scales:
                if scale.key == key:
                    raise ScaleExistsError("scale_metadata.key", f"Scale with key {json.dumps(key)} already exists")
            if "key" not in constraints.scale:
                for scale in existing.scales:
                    if scale.resolution == resolution:
                        raise ScaleExistsError(
                            "scale_metadata.resolution",
                            f"Scale with resolution {json.dumps(list(scale.resolution))} already exists"
                        )
        info = existing
    scale_json: dict[str, Any] = {
        name: value for name, value in constraints.scale.items()
        if name not in _SCALE_CONSTRAINTS and name not in ENCODING_OWNED_MEMBERS
    }
    scale_json.update(codec)
    block = "compressed_segmentation_block_size"
    if block in constraints.scale:
        scale_json[block] = constraints.scale[block]
    elif block in encoding.scale_members:
        scale_json[block] = _choose_block_size(schema, chunk_size)
    scale_json.update(
        key=key,
        size=list(shape[:3]),
        voxel_offset=list(origin[:3]),
        chunk_sizes=[list(chunk_size)],
        resolution=list(resolution),
        encoding=encoding_name,
    )
    if sharding is not None:
        scale_json["sharding"] = dict(sharding)
    check_encoding_members(scale_json, encoding_name, "scale_metadata")
    encoding.check(DATA_TYPES[data_type], num_channels, scale_json, "scale_metadata")
    from ._metadata import parse_scale

    scale = parse_scale(scale_json, "scale_metadata", data_type, num_channels)
    if assume_metadata and existing is None and scale_index:
        # Scales before the assumed one are unknown; only the assumed one is described.
        raise SpecError("scale_index", "assume_metadata can only describe scale 0 of a volume without info")
    new_info = info.with_scale(scale)
    return new_info, len(new_info.scales) - 1
