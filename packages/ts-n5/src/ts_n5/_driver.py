"""The ``n5`` TensorStore driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ts_core.driver import (
    KvsChunkedDriver,
    SchemaConstraints,
    check_metadata_members,
    load_metadata_json,
)
from ts_core.errors import SpecError, describe

from ._block import BlockCodec
from ._compression import default_compression
from ._metadata import (
    DATA_TYPES,
    METADATA_KEY,
    N5Metadata,
    build_metadata,
    check_data_type,
    parse_metadata,
    units_from_metadata,
)

__all__ = ["N5Driver"]


class N5Driver(KvsChunkedDriver[N5Metadata]):
    """N5 datasets: ``attributes.json`` and one kvstore key per block (``"i/j/k"``)."""

    id = "n5"
    metadata_key = METADATA_KEY

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What the spec's ``metadata`` implies (rank, dtype, domain, chunk layout, codec,
        dimension units), checked against the spec's own dtype, rank, transform and domain."""
        from ._spec_schema import check_spec_members, n5_spec_schema

        implied = n5_spec_schema(json_value)
        check_spec_members(implied, json_value)
        return implied

    @classmethod
    def normalize_spec_metadata(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """The spec's ``metadata`` as tensorstore's Spec writes it (sorted, defaults filled in)."""
        from ._spec_schema import normalize_n5_metadata

        return normalize_n5_metadata(json_value)

    # -- metadata ------------------------------------------------------------------------------
    @classmethod
    def parse_stored_metadata(cls, data: bytes) -> N5Metadata:
        return parse_metadata(load_metadata_json(data), "")

    @classmethod
    def encode_metadata(cls, metadata: N5Metadata) -> bytes:
        return metadata.encode()

    @classmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> N5Metadata:
        constraints: dict[str, Any] = dict(spec_members.get("metadata") or {})
        if schema.fill_value is not None:
            raise SpecError("schema.fill_value", "a fill value is not supported by the N5 format (its attributes.json metadata has none; missing blocks read as 0)")
        dtype = _schema_dtype(schema)
        if "dataType" in constraints:
            data_type = check_data_type(constraints["dataType"], "metadata.dataType")
            if dtype is not None and DATA_TYPES[data_type] != dtype:
                raise SpecError("dtype", f"{dtype.name} conflicts with metadata.dataType {describe(data_type)}")
        else:
            constraints["dataType"] = check_data_type(schema.require_dtype("an N5 array").name, "dtype")
        data_type = constraints["dataType"]
        _check_zero_origin(schema.domain)
        shape = schema.shape
        if "dimensions" not in constraints:
            constraints["dimensions"] = list(schema.require_shape("an N5 array"))
        elif shape is not None and list(shape) != constraints["dimensions"]:
            raise SpecError(
                "metadata.dimensions",
                f"{describe(constraints['dimensions'])} conflicts with the schema's shape {list(shape)}",
            )
        rank = len(constraints["dimensions"])
        if schema.rank is not None and schema.rank != rank:
            raise SpecError("rank", f"rank {schema.rank} does not match the rank {rank} of metadata.dimensions")
        if "axes" not in constraints and any(schema.labels):
            constraints["axes"] = schema.labels
        layout = schema.chunk_layout
        _check_inner_order(layout, rank)
        if "blockSize" in constraints:
            if isinstance(constraints["blockSize"], list):
                schema.check_chunk_shape(constraints["blockSize"], "metadata.blockSize")
        else:
            from ts_core.schema import choose_read_write_chunk_shape

            constraints["blockSize"] = list(choose_read_write_chunk_shape(schema.layout(), constraints["dimensions"]))
        if "compression" not in constraints:
            constraints["compression"] = _compression_from_schema(schema, DATA_TYPES[data_type].itemsize)
        units = schema.dimension_units
        if units is not None and "units" not in constraints and "resolution" not in constraints:
            constraints.update(_units_json(units, rank))
        return build_metadata(constraints, "metadata")

    @classmethod
    def check_metadata(cls, metadata: N5Metadata, spec_members: dict[str, Any], schema: SchemaConstraints) -> None:
        """The format's own checks; dtype, rank and shape are the base's schema checks."""

        def normalize(member: str, wanted: Any) -> Any:
            if member == "compression" and isinstance(wanted, dict):
                from ._compression import parse_compression

                return parse_compression(wanted, "metadata.compression").to_json()
            if member == "resolution" and isinstance(wanted, list):
                return [float(x) for x in wanted]
            return wanted

        check_metadata_members(metadata.to_json(), spec_members.get("metadata"), normalize)
        _check_zero_origin(schema.domain)
        schema.check_chunk_shape(metadata.block_size, stored_name="blockSize")
        _check_stored_units(schema.dimension_units, metadata)
        if schema.codec is not None:
            from ._compression import parse_compression

            wanted = _compression_from_schema(schema, metadata.dtype.itemsize, default=None)
            if wanted is not None:
                normalized = parse_compression(wanted, "codec.compression").to_json()
                have = metadata.compression.to_json()
                if normalized != have:
                    raise SpecError(
                        "codec.compression", f"expected {describe(normalized)} but the stored array has {describe(have)}"
                    )

    # -- layout ------------------------------------------------------------------------------
    def array_shape(self, metadata: N5Metadata) -> tuple[int, ...]:
        return metadata.dimensions

    def chunk_shape(self, metadata: N5Metadata) -> tuple[int, ...]:
        return metadata.block_size

    def with_shape(self, metadata: N5Metadata, shape: tuple[int, ...]) -> N5Metadata:
        return metadata.with_shape(shape)

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        # N5 spec: block paths are the grid position, one path component per dimension.
        if not grid_indices:
            return "0"
        return "/".join(str(index) for index in grid_indices)

    def dimension_labels(self) -> list[str]:
        axes = self.metadata.axes
        return [""] * self.metadata.rank if axes is None else list(axes)

    def inner_order(self) -> list[int]:
        return list(reversed(range(self.metadata.rank)))

    # -- blocks ------------------------------------------------------------------------------
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        return np.zeros(self.metadata.block_size, dtype=self.metadata.dtype, order="F")

    @property
    def _blocks(self) -> BlockCodec:
        """The block codec of the current metadata (built once per metadata object)."""
        cached = self.__dict__.get("_block_codec")
        if cached is None or cached[0] is not self.metadata:
            metadata = self.metadata
            cached = (metadata, BlockCodec(metadata.block_size, metadata.stored_dtype, metadata.compression))
            self.__dict__["_block_codec"] = cached
        return cached[1]

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        return self._blocks.decode(data)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        return self._blocks.encode(storage)

    # -- schema --------------------------------------------------------------------------------
    def codec_json(self) -> dict[str, Any]:
        return {"driver": "n5", "compression": self.metadata.compression.to_json()}

    @property
    def schema(self) -> Any:
        schema = super().schema
        units = units_from_metadata(self.metadata)
        if units is not None:
            schema.update(dimension_units=units)
        return schema

    # -- spec ----------------------------------------------------------------------------------
    def spec_json(self) -> dict[str, Any]:
        return {
            "driver": "n5",
            "kvstore": self.kvstore.spec().to_json(),
            "metadata": self.metadata.to_json(),
        }


def _schema_dtype(schema: SchemaConstraints) -> np.dtype[Any] | None:
    dtype = schema.dtype
    if dtype is None:
        return None
    numpy_dtype = dtype.numpy_dtype.newbyteorder("=")
    if numpy_dtype not in DATA_TYPES.values():
        raise SpecError("dtype", f"{dtype.name} is not one of the N5 data types: {', '.join(DATA_TYPES)}")
    return numpy_dtype


def _check_zero_origin(domain: Any) -> None:
    """N5 arrays start at 0 in every dimension."""
    if domain is not None and any(domain.inclusive_min):
        raise SpecError(
            "schema.domain", f"N5 arrays have origin 0, but the domain has inclusive_min {list(domain.inclusive_min)}"
        )


def _check_stored_units(units: Any, metadata: N5Metadata) -> None:
    """Each given dimension unit must equal the stored one (None entries are unconstrained)."""
    from ts_core.schema import Unit

    if units is None:
        return
    stored: Sequence[tuple[float, str] | None] = units_from_metadata(metadata) or [None] * metadata.rank
    if len(units) != metadata.rank:
        raise SpecError("dimension_units", f"has {len(units)} entries but the stored array has rank {metadata.rank}")
    for dim, (wanted, have) in enumerate(zip(units, stored, strict=True)):
        if wanted is None:
            continue
        wanted_unit = wanted if isinstance(wanted, Unit) else Unit(wanted)
        if have is None or wanted_unit != Unit(*have):
            raise SpecError(
                f"dimension_units[{dim}]",
                f"expected {str(wanted_unit)!r} but the stored array has {'no unit' if have is None else repr(str(Unit(*have)))}",
            )


def _check_inner_order(layout: Any, rank: int) -> None:
    """N5 stores the first dimension fastest: only the reversed order is possible."""
    if layout is None:
        return
    json_value = layout.to_json()
    order = json_value.get("inner_order")
    if order is not None and list(order) != list(reversed(range(rank))):
        raise SpecError(
            "schema.chunk_layout.inner_order",
            f"N5 stores blocks in the order {list(reversed(range(rank)))}, but {list(order)} was required",
        )


def _compression_from_schema(schema: SchemaConstraints, itemsize: int, default: Any = True) -> Any:
    """The schema's codec compression, else ``default`` (True: tensorstore's default)."""
    codec = schema.codec
    if codec is not None:
        json_value = codec.to_json()
        if json_value.get("driver") != "n5":
            raise SpecError("codec.driver", f'expected "n5", but received: {describe(json_value.get("driver"))}')
        if "compression" in json_value:
            return json_value["compression"]
    return default_compression(itemsize) if default is True else default


def _units_json(units: Sequence[Any], rank: int) -> dict[str, Any]:
    """``units``/``resolution`` for dimension units; unknown units become ``""`` with 1."""
    from ts_core.schema import Unit

    if len(units) != rank:
        raise SpecError("dimension_units", f"has {len(units)} entries but the rank is {rank}")
    parsed = [None if unit is None else Unit(unit) if not isinstance(unit, Unit) else unit for unit in units]
    if all(unit is None for unit in parsed):
        return {}
    return {
        "units": ["" if unit is None else unit.base_unit for unit in parsed],
        "resolution": [1.0 if unit is None else float(unit.multiplier) for unit in parsed],
    }
