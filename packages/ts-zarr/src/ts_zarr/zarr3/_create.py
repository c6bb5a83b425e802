"""Metadata for a new zarr3 array from the spec's ``metadata`` and schema constraints.

As in tensorstore, a chunk layout whose read chunk differs from its write chunk produces a
``sharding_indexed`` codec (write chunk = shard, read chunk = inner chunk), a non-C
``inner_order`` a ``transpose`` codec, and ``CodecSpec`` codecs go inside the shard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core.errors import SpecError, describe

from ._dtype import data_type_for, encode_fill_value, parse_data_type
from ._metadata import Zarr3Metadata, build_metadata, parse_chunk_grid
from ._sharding import DEFAULT_INDEX_CODECS

if TYPE_CHECKING:
    from ts_core.driver import SchemaConstraints
    from ts_core.schema import ChunkLayout

__all__ = ["check_dimension_units", "metadata_for_create", "stored_dimension_units"]


def _has_sharding(codecs: Any) -> bool:
    return isinstance(codecs, list) and any(
        (c.get("name") if isinstance(c, dict) else c) == "sharding_indexed" for c in codecs
    )


def metadata_for_create(spec_members: dict[str, Any], schema: SchemaConstraints) -> Zarr3Metadata:
    from ts_core.schema import choose_read_write_chunk_shape, choose_sharded_chunk_shapes

    constraints: dict[str, Any] = dict(spec_members.get("metadata") or {})
    if "data_type" not in constraints:
        try:
            constraints["data_type"] = data_type_for(schema.require_dtype("a zarr3 array").numpy_dtype)
        except ValueError as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError("dtype", str(exc)) from None
    data_type = parse_data_type(constraints["data_type"])
    if "shape" not in constraints:
        shape = schema.require_shape("a zarr3 array")
        constraints["shape"] = list(shape)[: len(shape) - len(data_type.inner_shape)]
    shape = constraints["shape"]
    layout = schema.layout()
    codec = schema.codec
    codec_codecs = None if codec is None else codec.to_json().get("codecs")
    given_shape = None
    if "chunk_grid" in constraints:  # checked here: the shapes below are computed from it
        rank = len(shape) if isinstance(shape, list) else None
        if rank is None:
            raise SpecError("metadata.shape", f"expected array, but received: {describe(shape)}")
        given_shape = list(parse_chunk_grid(constraints["chunk_grid"], "metadata.chunk_grid", rank))
    if "codecs" in constraints or _has_sharding(codec_codecs):
        if "codecs" not in constraints:
            constraints["codecs"] = codec_codecs
        if given_shape is None:
            given_shape = list(choose_read_write_chunk_shape(_write_only(layout, len(shape)), shape))
    else:
        order = _inner_order(layout, len(shape))
        inner = ([{"name": "transpose", "configuration": {"order": order}}] if order else []) + list(codec_codecs or [])
        if given_shape is not None:
            write_shape = tuple(given_shape)
            read = layout.read_chunk.shape if layout.rank is not None else None
            read_shape = tuple(r if r else w for r, w in zip(read, write_shape, strict=True)) if read else write_shape
        else:
            write_shape, read_shape = choose_sharded_chunk_shapes(layout, shape)
        given_shape = list(write_shape)
        if tuple(read_shape) != tuple(write_shape):
            constraints["codecs"] = [{
                "name": "sharding_indexed",
                "configuration": {"chunk_shape": list(read_shape), "codecs": inner or [{"name": "bytes"}],
                                  "index_codecs": DEFAULT_INDEX_CODECS},
            }]
        else:
            constraints["codecs"] = inner or [{"name": "bytes"}]
    constraints["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": list(given_shape)}}
    constraints.setdefault("chunk_key_encoding", {"name": "default"})
    if "fill_value" not in constraints:
        fill = schema.fill_value
        if fill is None:
            fill = np.zeros(data_type.inner_shape, dtype=data_type.numpy_dtype)
        constraints["fill_value"] = encode_fill_value(fill, data_type)
    labels = schema.labels
    if "dimension_names" not in constraints and any(labels):
        constraints["dimension_names"] = [label or None for label in labels[: len(shape)]]
    units = schema.dimension_units
    if units is not None and any(unit is not None for unit in units):
        attributes = constraints.get("attributes")
        attributes = dict(attributes) if isinstance(attributes, dict) else {}
        if "dimension_units" in attributes:
            check_dimension_units(units, attributes["dimension_units"])
        else:
            # Where tensorstore keeps them: strings such as "4 nm", null for none.
            attributes["dimension_units"] = [None if unit is None else str(_unit(unit)) for unit in units[: len(shape)]]
            constraints["attributes"] = attributes
    constraints["zarr_format"] = 3
    constraints["node_type"] = "array"
    return build_metadata(constraints, "metadata")


def _unit(value: Any) -> Any:
    from ts_core.schema import Unit

    return value if isinstance(value, Unit) else Unit(value)


def stored_dimension_units(attributes: Any) -> list[Any] | None:
    """``attributes.dimension_units`` of zarr3 metadata (tensorstore's place for them), or None."""
    if not isinstance(attributes, dict) or attributes.get("dimension_units") is None:
        return None
    units = attributes["dimension_units"]
    if not isinstance(units, list):
        raise SpecError("metadata.attributes.dimension_units", f"expected array, but received: {describe(units)}")
    return [None if unit is None else _unit(unit) for unit in units]


def check_dimension_units(wanted: Any, stored_json: Any) -> None:
    """Each unit the schema gives must equal the stored one where both are given."""
    stored = stored_dimension_units({"dimension_units": stored_json}) or []
    if len(wanted) != len(stored):
        raise SpecError("dimension_units", f"has {len(wanted)} entries but the metadata has {len(stored)}")
    for dim, (want, have) in enumerate(zip(wanted, stored, strict=True)):
        if want is not None and have is not None and _unit(want) != have:
            raise SpecError(f"dimension_units[{dim}]", f"expected {str(_unit(want))!r} but the metadata has {str(have)!r}")


def _inner_order(layout: ChunkLayout, rank: int) -> list[int] | None:
    order = layout.inner_order
    if order is None or list(order) == list(range(rank)):
        return None
    return list(order)


def _write_only(layout: ChunkLayout, rank: int) -> ChunkLayout:
    from ts_core.schema import ChunkLayout

    shape = layout.write_chunk.shape
    if not shape:
        return ChunkLayout()
    return ChunkLayout(write_chunk=ChunkLayout.Grid(shape=list(shape)))
