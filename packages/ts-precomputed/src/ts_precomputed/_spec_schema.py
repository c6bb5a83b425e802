"""What a ``neuroglancer_precomputed`` spec's own members imply, as a ``ts.Schema``
(tensorstore's effective domain, chunk layout, codec and dimension units of a spec)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ts_core.driver import check_spec_members

__all__ = ["normalize_spec_members", "precomputed_spec_schema"]


def precomputed_spec_schema(json_value: Mapping[str, Any]) -> Any:
    """Schema implied by ``multiscale_metadata``, ``scale_metadata`` and the spec's dtype."""
    from ts_core.index_space import IndexDomain, inf
    from ts_core.schema import ChunkLayout, CodecSpec, Schema

    from ._metadata import DATA_TYPES, check_data_type, integer_vector, number_vector
    from ._scale import LABELS

    multiscale = json_value.get("multiscale_metadata")
    multiscale = multiscale if isinstance(multiscale, Mapping) else {}
    scale = json_value.get("scale_metadata")
    scale = scale if isinstance(scale, Mapping) else {}
    schema = Schema(rank=4)
    schema_json = json_value.get("schema")
    for dtype, member in ((json_value.get("dtype"), "dtype"),
                          ((schema_json or {}).get("dtype") if isinstance(schema_json, Mapping) else None, "schema.dtype")):
        if isinstance(dtype, str) and dtype not in DATA_TYPES:
            from ts_core.errors import SpecError

            raise SpecError(member, f"{dtype} data type is not one of the supported data types: {', '.join(DATA_TYPES)}")
    if "data_type" in multiscale:
        schema.update(dtype=DATA_TYPES[check_data_type(multiscale["data_type"], "multiscale_metadata.data_type")])
    lower: list[int] = [-inf] * 3 + [0]
    upper: list[int] = [inf] * 4
    implicit_lower = [True, True, True, False]
    implicit_upper = [True] * 4
    channels = multiscale.get("num_channels")
    if isinstance(channels, int) and not isinstance(channels, bool):
        upper[3], implicit_upper[3] = channels, False
    if "voxel_offset" in scale and "size" not in scale:
        from ts_core.errors import SpecError

        raise SpecError("scale_metadata.voxel_offset", 'cannot be specified without "size"')
    if "size" in scale:
        size = integer_vector(scale["size"], "scale_metadata.size", 0)
        offset = integer_vector(scale.get("voxel_offset", [0, 0, 0]), "scale_metadata.voxel_offset", -(2**62 - 2))
        for dim in range(3):
            lower[dim], upper[dim] = offset[dim], offset[dim] + size[dim]
            implicit_lower[dim] = implicit_upper[dim] = False
    domain = IndexDomain(
        inclusive_min=lower,
        inclusive_max=[value - 1 if value != inf else inf for value in upper],
        implicit_lower_bounds=implicit_lower,
        implicit_upper_bounds=implicit_upper,
        labels=list(LABELS),
    )
    schema.update(domain=domain)
    layout: dict[str, Any] = {"inner_order": [3, 2, 1, 0]}
    origin = [None if implicit_lower[dim] else lower[dim] for dim in range(4)]
    layout["grid_origin"] = origin
    chunk_channels = None if implicit_upper[3] else upper[3]
    read_shape: list[Any] = [None, None, None, chunk_channels]
    if "chunk_size" in scale:
        read_shape[:3] = list(integer_vector(scale["chunk_size"], "scale_metadata.chunk_size", 1))
    layout["read_chunk"] = {"shape": read_shape}
    write_shape = list(read_shape) if ("sharding" in scale and scale["sharding"] is None) else [None, None, None, chunk_channels]
    layout["write_chunk"] = {"shape": write_shape}
    schema.update(chunk_layout=ChunkLayout(json=layout))
    codec: dict[str, Any] = {"driver": "neuroglancer_precomputed"}
    for name in ("encoding", "jpeg_quality", "png_level"):
        if name in scale:
            codec[name] = scale[name]
    sharding = scale.get("sharding")
    if isinstance(sharding, Mapping) and "data_encoding" in sharding:
        codec["shard_data_encoding"] = sharding["data_encoding"]
    schema.update(codec=CodecSpec(codec))
    if "resolution" in scale:
        resolution = number_vector(scale["resolution"], "scale_metadata.resolution")
        schema.update(dimension_units=[*((value, "nm") for value in resolution), None])
    check_spec_members(schema, json_value)
    return schema


#: ``shard_data_encoding`` values (the sharding spec's ``data_encoding``).
SHARD_DATA_ENCODINGS = ("raw", "gzip")


def normalize_codec(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """A ``neuroglancer_precomputed`` CodecSpec's JSON, checked as tensorstore checks it:
    ``jpeg_quality`` and ``png_level`` only with their encoding (and in range), a registered
    ``encoding``, ``shard_data_encoding`` raw or gzip, no other members (besides the
    encoding's own writer options)."""
    from ts_core.errors import SpecError, describe

    from ._metadata import ENCODING_OWNED_MEMBERS, encoding_class

    encoding = json_value.get("encoding")
    own: tuple[str, ...] = ()
    if encoding is not None:
        own = encoding_class(encoding, "codec.encoding").writer_options
    for member, owner in ENCODING_OWNED_MEMBERS.items():
        if member in json_value and member != "compressed_segmentation_block_size" and encoding != owner:
            raise SpecError(f"codec.{member}", f'Only valid for "{owner}" encoding')
    for member, maximum in (("jpeg_quality", 100), ("png_level", 9)):
        value = json_value.get(member)
        if member in json_value and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum):
            raise SpecError(f"codec.{member}", f"expected integer in the range [0, {maximum}], but received: {describe(value)}")
    if "shard_data_encoding" in json_value and json_value["shard_data_encoding"] not in SHARD_DATA_ENCODINGS:
        raise SpecError(
            "codec.shard_data_encoding",
            f'Expected one of "raw", "gzip", but received: {describe(json_value["shard_data_encoding"])}',
        )
    allowed = {"driver", "encoding", "jpeg_quality", "png_level", "shard_data_encoding", *own}
    extra = [name for name in json_value if name not in allowed]
    if extra:
        raise SpecError("codec", "Object includes extra members: " + ", ".join(f'"{name}"' for name in extra))
    return dict(sorted(json_value.items()))


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    return value


def normalize_spec_members(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with ``multiscale_metadata`` and ``scale_metadata`` as tensorstore's
    ``Spec.to_json`` writes them: members sorted, ``data_type`` moved out (it is the spec's
    ``dtype``), an empty ``multiscale_metadata`` dropped, ``resolution`` as floats and
    ``voxel_offset`` zeros when only ``size`` is given. Runs after validation."""
    result = dict(json_value)
    multiscale = result.get("multiscale_metadata")
    if isinstance(multiscale, Mapping):
        members = {key: value for key, value in multiscale.items() if key != "data_type"}
        if members:
            result["multiscale_metadata"] = _sorted(members)
        else:
            del result["multiscale_metadata"]
    scale = result.get("scale_metadata")
    if isinstance(scale, Mapping):
        members = dict(scale)
        resolution = members.get("resolution")
        if isinstance(resolution, list):
            members["resolution"] = [float(value) for value in resolution]
        if "size" in members and "voxel_offset" not in members:
            members["voxel_offset"] = [0, 0, 0]
        result["scale_metadata"] = _sorted(members)
    return result
