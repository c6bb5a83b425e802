"""The ``zarr`` (v2) TensorStore driver."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ts_core.driver import (
    KvsChunkedDriver,
    RawChunkLayout,
    SchemaConstraints,
    check_metadata_members,
    load_metadata_json,
)
from ts_core.errors import SpecError

from ._codecs import decode_bounded, stage_limits
from ._dtype import ZarrField, encode_dtype, parse_dtype
from ._metadata import METADATA_KEY, ZarrMetadata, build_metadata, encode_fill_value, parse_metadata
from ._scratch import contiguous

__all__ = ["ZarrDriver"]

#: tensorstore's default compressor for new zarr v2 arrays.
DEFAULT_COMPRESSOR = {"blocksize": 0, "clevel": 5, "cname": "lz4", "id": "blosc", "shuffle": -1}


class ZarrDriver(KvsChunkedDriver[ZarrMetadata]):
    """zarr v2 arrays: ``.zarray`` metadata and one kvstore key per chunk."""

    id = "zarr"
    metadata_key = METADATA_KEY

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What the spec's ``metadata`` implies (rank, dtype, domain, chunk layout, codec,
        fill value), checked against the spec's own dtype, rank, transform and domain."""
        from ._spec_schema import check_spec_members, zarr_spec_schema

        implied = zarr_spec_schema(json_value)
        check_spec_members(implied, json_value)
        return implied

    @classmethod
    def normalize_codec_json(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """A ``zarr`` CodecSpec's JSON as tensorstore writes it (sorted, defaults filled in)."""
        from ._spec_schema import normalize_zarr_codec

        return normalize_zarr_codec(json_value)

    @classmethod
    def normalize_spec_metadata(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """The spec's ``metadata`` as tensorstore's Spec writes it (sorted, defaults filled in)."""
        from ._spec_schema import normalize_zarr_metadata

        return normalize_zarr_metadata(json_value)

    # -- metadata ------------------------------------------------------------------------------
    @classmethod
    def parse_stored_metadata(cls, data: bytes) -> ZarrMetadata:
        return parse_metadata(load_metadata_json(data), "")

    @classmethod
    def encode_metadata(cls, metadata: ZarrMetadata) -> bytes:
        return metadata.encode()

    @classmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> ZarrMetadata:
        _refuse_dimension_units(schema, 'cannot create using the specified "metadata" and schema: ')
        constraints: dict[str, Any] = dict(spec_members.get("metadata") or {})
        if "dtype" not in constraints:
            constraints["dtype"] = encode_dtype(schema.require_dtype("a zarr array").numpy_dtype)
        zarr_dtype = parse_dtype(constraints["dtype"], "metadata.dtype")
        if "shape" not in constraints:
            shape = schema.require_shape("a zarr array")
            constraints["shape"] = list(shape)[: len(shape) - len(_inner(zarr_dtype, spec_members))]
        if "chunks" not in constraints:
            constraints["chunks"] = list(_choose_chunks(constraints["shape"], zarr_dtype, schema))
        constraints.setdefault("compressor", _compressor_from_schema(schema))
        constraints.setdefault("filters", _filters_from_schema(schema))
        constraints.setdefault("order", _order_from_schema(schema))
        constraints.setdefault("dimension_separator", spec_members.get("key_encoding", "."))
        if "fill_value" not in constraints:
            fill = schema.fill_value
            constraints["fill_value"] = None if fill is None else encode_fill_value(fill, zarr_dtype)
        constraints["zarr_format"] = 2
        return build_metadata(constraints, "metadata")

    @classmethod
    def check_metadata(cls, metadata: ZarrMetadata, spec_members: dict[str, Any], schema: SchemaConstraints) -> None:
        _refuse_dimension_units(schema)
        wanted_members = spec_members.get("metadata")
        if wanted_members:
            # No filters may be spelled [] or null.
            check_metadata_members(
                metadata.to_json(), wanted_members,
                lambda member, wanted: None if member == "filters" and wanted == [] else wanted,
            )
        field = metadata.dtype.field(spec_members.get("field"), "field")
        wanted_dtype = schema.numpy_dtype
        if wanted_dtype is not None and wanted_dtype != field.numpy_dtype.newbyteorder("="):
            raise SpecError("dtype", f"expected {wanted_dtype} but the stored array has {field.numpy_dtype}")

    #: Dimension labels of the schema this array was opened with: zarr v2 stores none, yet
    #: the opened array carries them (as tensorstore's does), until it is reopened without.
    schema_labels: list[str] | None = None

    def check_schema_constraints(self, schema: SchemaConstraints) -> None:
        labels = schema.labels
        if any(labels) and len(labels) == len(self.shape):
            self.schema_labels = list(labels)
        super().check_schema_constraints(schema)

    def dimension_labels(self) -> list[str]:
        return list(self.schema_labels) if self.schema_labels is not None else [""] * len(self.shape)

    # -- layout ------------------------------------------------------------------------------
    @property
    def _field(self) -> ZarrField:
        return self.metadata.dtype.field(self.spec_members.get("field"), "field")

    def array_shape(self, metadata: ZarrMetadata) -> tuple[int, ...]:
        return metadata.shape

    def chunk_shape(self, metadata: ZarrMetadata) -> tuple[int, ...]:
        return metadata.chunks

    @property
    def inner_shape(self) -> tuple[int, ...]:
        return self._field.shape

    def with_shape(self, metadata: ZarrMetadata, shape: tuple[int, ...]) -> ZarrMetadata:
        return metadata.with_shape(shape)

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        rank = self.metadata.rank
        if rank == 0:
            return "0"
        return self.metadata.dimension_separator.join(str(i) for i in grid_indices[:rank])

    # -- codec -------------------------------------------------------------------------------
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        metadata = self.metadata
        storage = np.zeros(metadata.chunks, dtype=metadata.dtype.storage_dtype)
        for field, fill in zip(metadata.dtype.fields, metadata.fill_values, strict=True):
            if fill is not None and any(np.asarray(fill).tobytes()):  # zeros are there already
                target = storage[field.name] if metadata.dtype.has_fields else storage
                target[...] = fill
        return storage

    def storage_dtype(self) -> np.dtype[Any]:
        storage: np.dtype[Any] = self.metadata.dtype.storage_dtype
        return storage

    def field_view(self, storage: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.metadata.dtype.has_fields:
            view: np.ndarray[Any, Any] = storage[self._field.name]
            return view
        return storage

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        metadata = self.metadata
        buffer: Any = data
        element = _element_dtype(metadata.dtype.storage_dtype)
        count = int(math.prod(metadata.chunks))
        # Each stage stops at the size it can have, so a small hostile chunk cannot expand.
        limits = stage_limits(metadata.filters, count * element.itemsize)
        if metadata.compressor is not None:
            buffer = decode_bounded(metadata.compressor, buffer, limits[-1])
        for position in reversed(range(len(metadata.filters))):
            buffer = decode_bounded(metadata.filters[position], buffer, limits[position])
        raw = np.frombuffer(memoryview(buffer).cast("B"), dtype=np.uint8)
        if raw.size != count * element.itemsize:
            raise ValueError(
                f"expected {count * element.itemsize} bytes after decoding, but got {raw.size}"
            )
        elements = raw.view(element)
        if metadata.order == "F":
            # Fortran order of the chunk is C order of its transpose.
            elements = elements.reshape(metadata.chunks[::-1]).T
        else:
            elements = elements.reshape(metadata.chunks)
        return _from_elements(elements, metadata.dtype.storage_dtype)

    def raw_chunk_layout(self) -> RawChunkLayout | None:
        """Chunks with no compressor and no filters are their elements, in C or F order."""
        metadata = self.metadata
        dtype = metadata.dtype
        if metadata.compressor is not None or metadata.filters or dtype.has_fields:
            return None
        storage = dtype.storage_dtype
        if storage.subdtype is not None or storage.hasobject:
            return None
        rank = len(metadata.chunks)
        order = list(range(rank)) if metadata.order == "C" else list(reversed(range(rank)))
        return RawChunkLayout(storage, order)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        metadata = self.metadata
        elements = _to_elements(storage, metadata.dtype.storage_dtype, metadata.chunks)
        if metadata.compressor is None and not metadata.filters:
            return elements.tobytes(order="F" if metadata.order == "F" else "C")  # one copy, from any layout
        # Fortran order of the chunk is C order of its transpose. The codecs keep no
        # reference to their input, so it may be this thread's reused scratch copy.
        raw: Any = contiguous(elements.T if metadata.order == "F" else elements)
        for codec in metadata.filters:
            raw = codec.encode(raw)
        if metadata.compressor is not None:
            raw = metadata.compressor.encode(raw)
        return raw if isinstance(raw, bytes) else bytes(memoryview(raw).cast("B"))

    # -- schema --------------------------------------------------------------------------------
    def codec_json(self) -> dict[str, Any]:
        return {"driver": "zarr", "compressor": self.metadata.compressor_json, "filters": self.metadata.filters_json}

    def has_fill_value(self, metadata: ZarrMetadata) -> bool:
        # tensorstore's zarr driver: with ``fill_value: null`` every written chunk is stored.
        return any(fill is not None for fill in metadata.fill_values)

    def fill_value_array(self) -> np.ndarray[Any, Any] | None:
        index = self.metadata.dtype.fields.index(self._field)
        return self.metadata.fill_values[index]

    def inner_order(self) -> list[int]:
        # "order" lays out the array's own dimensions; a subarray field's dimensions stay
        # C order inside each element, innermost (as tensorstore reports them)
        rank = len(self.shape)
        outer = rank - len(self._field.shape)
        order = list(range(outer)) if self.metadata.order == "C" else list(reversed(range(outer)))
        return order + list(range(outer, rank))

    # -- spec ----------------------------------------------------------------------------------
    def spec_json(self) -> dict[str, Any]:
        json_value: dict[str, Any] = {
            "driver": "zarr",
            "kvstore": self.kvstore.spec().to_json(),
            "metadata": self.metadata.to_json(),
        }
        if self.metadata.dtype.has_fields:  # the field selected, named even when implied
            json_value["field"] = self._field.name
        return json_value


def _refuse_dimension_units(schema: SchemaConstraints, context: str = "") -> None:
    """zarr v2 has nowhere to store dimension units: tensorstore refuses any that are given."""
    units = schema.dimension_units
    if units is not None and any(unit is not None for unit in units):
        raise SpecError("dimension_units", f"{context}dimension units are not supported by the zarr driver")


def _element_dtype(storage_dtype: np.dtype[Any]) -> np.dtype[Any]:
    """One stored element; a subarray dtype (``|S4``) becomes opaque bytes of its size."""
    if storage_dtype.subdtype is not None:
        return np.dtype((np.void, storage_dtype.itemsize))
    return storage_dtype


def _from_elements(elements: np.ndarray[Any, Any], storage_dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    if storage_dtype.subdtype is None:
        return elements
    base, subshape = storage_dtype.subdtype
    contiguous = np.ascontiguousarray(elements)
    return contiguous.view(base).reshape(contiguous.shape + subshape)


def _to_elements(
    storage: np.ndarray[Any, Any], storage_dtype: np.dtype[Any], chunks: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    if storage_dtype.subdtype is None:
        return storage
    return np.ascontiguousarray(storage).view(_element_dtype(storage_dtype)).reshape(chunks)


def _inner(zarr_dtype: Any, spec_members: dict[str, Any]) -> tuple[int, ...]:
    shape: tuple[int, ...] = zarr_dtype.field(spec_members.get("field"), "field").shape
    return shape


def _choose_chunks(shape: list[int], zarr_dtype: Any, schema: SchemaConstraints) -> tuple[int, ...]:
    from ts_core.schema import choose_read_write_chunk_shape

    return choose_read_write_chunk_shape(schema.layout(), shape)


def _compressor_from_schema(schema: SchemaConstraints) -> Any:
    codec = schema.codec
    if codec is not None:
        json_value = codec.to_json()
        if "compressor" in json_value:
            return json_value["compressor"]
    return dict(DEFAULT_COMPRESSOR)


def _filters_from_schema(schema: SchemaConstraints) -> Any:
    codec = schema.codec
    return None if codec is None else codec.to_json().get("filters")


def _order_from_schema(schema: SchemaConstraints) -> str:
    order = None if schema.chunk_layout is None else schema.chunk_layout.inner_order
    if order is not None and list(order) == sorted(order, reverse=True) and len(order) > 1:
        return "F"
    return "C"
