"""The ``chunkdir`` TensorStore driver: only the format hooks of ``KvsChunkedDriver``.

The base class does everything that is not the format: open/create/delete modes, the
chunk cache, partitioning reads and writes onto the chunk grid, concurrency,
read-modify-write of partial chunks, resize, fill-value chunks left unstored.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core.driver import (
    KvsChunkedDriver,
    SchemaConstraints,
    check_metadata_members,
    load_metadata_json,
)
from ts_core.errors import ChunkError, SpecError, describe
from ts_core.schema import choose_read_write_chunk_shape

from ._metadata import (
    DATA_TYPES,
    METADATA_KEY,
    ChunkdirMetadata,
    fill_value_json,
    member_path,
    parse_fill_value,
    parse_metadata,
)

if TYPE_CHECKING:
    pass

__all__ = ["ChunkdirDriver"]

#: zlib's speed/size trade-off for new chunks (1 fastest .. 9 smallest); readers need not know it.
ZLIB_LEVEL = 6

class ChunkdirDriver(KvsChunkedDriver[ChunkdirMetadata]):
    """A chunkdir array: ``chunkdir.json`` and one object per chunk (``"c/i.j"``)."""

    id = "chunkdir"
    metadata_key = METADATA_KEY

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What the spec's ``metadata`` implies, checked against its dtype, rank and domain."""
        from ._spec_schema import check_spec_members, chunkdir_spec_schema

        implied = chunkdir_spec_schema(json_value)
        check_spec_members(implied, json_value)
        return implied

    # -- metadata (class methods: they run before the driver exists) --------------------------
    @classmethod
    def parse_stored_metadata(cls, data: bytes) -> ChunkdirMetadata:
        return parse_metadata(load_metadata_json(data), "")

    @classmethod
    def encode_metadata(cls, metadata: ChunkdirMetadata) -> bytes:
        return metadata.encode()

    @classmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> ChunkdirMetadata:
        """Complete metadata from the spec's ``metadata`` member and its schema constraints.

        Every constraint is checked here: the base writes what this returns before it
        builds the driver.
        """
        members: dict[str, Any] = dict(spec_members.get("metadata") or {})
        if "dtype" not in members:
            schema.require_dtype("a chunkdir array")
        _merge(members, "dtype", _schema_dtype(schema), "dtype")
        if schema.domain is not None and any(schema.domain.inclusive_min):
            raise SpecError(
                "schema.domain", f"chunkdir arrays have origin 0, but inclusive_min is {list(schema.domain.inclusive_min)}"
            )
        if "shape" not in members:
            schema.require_shape("a chunkdir array")
        _merge(members, "shape", None if schema.shape is None else list(schema.shape), "schema.domain")
        rank = schema.rank
        if isinstance(members["shape"], list) and rank is not None and rank != len(members["shape"]):
            raise SpecError("rank", f"rank {rank} does not match metadata.shape {describe(members['shape'])}")
        if "chunks" not in members and isinstance(members["shape"], list):
            members["chunks"] = list(choose_read_write_chunk_shape(schema.layout(), members["shape"]))
        if isinstance(members.get("chunks"), list):
            schema.check_chunk_shape(members["chunks"], "metadata.chunks")
        if schema.fill_value is not None:
            fill_json = fill_value_json(schema.fill_value)
            if members.get("dtype") in DATA_TYPES:  # else parse_metadata names the bad dtype
                fill_json = parse_fill_value(fill_json, members["dtype"], "schema.fill_value")
            _merge(members, "fill_value", fill_json, "schema.fill_value")
        _merge(members, "compression", _schema_compression(schema), "schema.codec.compression")
        return parse_metadata(members, "metadata")

    @classmethod
    def check_metadata(
        cls, metadata: ChunkdirMetadata, spec_members: dict[str, Any], schema: SchemaConstraints
    ) -> None:
        """The stored metadata must match every member the spec gives; the base checks the
        schema's dtype, rank, shape, chunk layout and codec once the driver exists."""
        check_metadata_members(
            metadata.to_json(),
            spec_members.get("metadata"),
            lambda member, wanted: (
                parse_fill_value(wanted, metadata.dtype, "metadata.fill_value") if member == "fill_value" else wanted
            ),
        )
        if schema.fill_value is not None:
            wanted = parse_fill_value(fill_value_json(schema.fill_value), metadata.dtype, "schema.fill_value")
            if wanted != metadata.fill_value:
                raise SpecError(
                    "schema.fill_value", f"expected {describe(wanted)} but the stored array has {describe(metadata.fill_value)}"
                )

    # -- layout ---------------------------------------------------------------------------------
    def array_shape(self, metadata: ChunkdirMetadata) -> tuple[int, ...]:
        return metadata.shape

    def chunk_shape(self, metadata: ChunkdirMetadata) -> tuple[int, ...]:
        return metadata.chunks

    def with_shape(self, metadata: ChunkdirMetadata, shape: tuple[int, ...]) -> ChunkdirMetadata:
        return metadata.with_shape(shape)

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        return "c/" + (".".join(str(index) for index in grid_indices) if grid_indices else "0")

    # -- chunks ---------------------------------------------------------------------------------
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        metadata: ChunkdirMetadata = self.metadata
        return np.full(metadata.chunks, metadata.fill_array(), dtype=metadata.numpy_dtype)

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        """Stored bytes to a chunk; anything but exactly one chunk's bytes is a ChunkError
        (the base adds the chunk's key to the message)."""
        metadata: ChunkdirMetadata = self.metadata
        expected = metadata.chunk_nbytes
        raw = data if metadata.compression == "none" else _inflate(data, expected)
        if len(raw) != expected:
            raise ChunkError(
                f"expected {expected} bytes ({metadata.dtype} chunk of shape {list(metadata.chunks)}), "
                f"but {'it decompresses to' if metadata.compression != 'none' else 'found'} {len(raw)}"
            )
        chunk = np.frombuffer(raw, dtype=metadata.stored_dtype).reshape(metadata.chunks)
        if metadata.dtype == "bool" and chunk.size and np.frombuffer(raw, dtype=np.uint8).max() > 1:
            raise ChunkError("a bool chunk holds a byte other than 0 or 1")
        return chunk if chunk.dtype == metadata.numpy_dtype else chunk.astype(metadata.numpy_dtype)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        metadata: ChunkdirMetadata = self.metadata
        raw = np.asarray(storage, dtype=metadata.stored_dtype).tobytes(order="C")
        return raw if metadata.compression == "none" else zlib.compress(raw, ZLIB_LEVEL)

    # -- what the array reports -----------------------------------------------------------------
    def codec_json(self) -> dict[str, Any]:
        return {"driver": "chunkdir", "compression": self.metadata.compression}

    def fill_value_array(self) -> np.ndarray[Any, Any]:
        metadata: ChunkdirMetadata = self.metadata
        return metadata.fill_array()

    def spec_json(self) -> dict[str, Any]:
        kvstore = self.kvstore
        assert kvstore is not None
        return {"driver": "chunkdir", "kvstore": kvstore.spec().to_json(), "metadata": self.metadata.to_json()}


def _inflate(data: bytes, limit: int) -> bytes:
    """Decompress one zlib stream, producing at most ``limit + 1`` bytes whatever it claims
    (so a small corrupt or hostile chunk cannot make us allocate a huge buffer)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ChunkError(f"corrupt zlib stream: {exc}") from None
    if len(raw) > limit:
        raise ChunkError(f"the zlib stream decompresses to more than the chunk's {limit} bytes")
    if not inflater.eof:
        raise ChunkError(f"truncated zlib stream ({len(data)} bytes end before the stream does)")
    if inflater.unused_data:
        raise ChunkError(f"{len(inflater.unused_data)} unexpected bytes after the end of the zlib stream")
    return raw


def _merge(members: dict[str, Any], member: str, value: Any, source: str) -> None:
    """Put a schema-derived ``value`` into ``members`` unless the spec's metadata gave a different one."""
    if value is None:
        return
    if member not in members:
        members[member] = value
    elif members[member] != value:
        raise SpecError(
            member_path("metadata", member), f"{describe(members[member])} conflicts with {source} {describe(value)}"
        )


def _schema_dtype(schema: SchemaConstraints) -> str | None:
    if schema.dtype is None:
        return None
    name = schema.dtype.name
    if name not in DATA_TYPES:
        raise SpecError("dtype", f"{name} is not a chunkdir data type; expected one of {', '.join(DATA_TYPES)}")
    return name


def _schema_compression(schema: SchemaConstraints) -> str | None:
    codec = schema.codec
    if codec is None:
        return None
    codec_json = codec.to_json()
    if codec_json.get("driver") != "chunkdir":
        raise SpecError("schema.codec.driver", f'expected "chunkdir", but received: {describe(codec_json.get("driver"))}')
    return codec_json.get("compression")
