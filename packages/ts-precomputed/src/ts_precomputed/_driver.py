"""The ``neuroglancer_precomputed`` TensorStore driver: one scale of a multiscale volume.

The array is 4-D, ``x, y, z, channel``, its origin the scale's ``voxel_offset`` and its
chunk grid aligned there. Chunks live under the scale's ``key`` as
``<key>/<x0>-<x1>_<y0>-<y1>_<z0>-<z1>`` (their bounds, truncated at the volume's upper
edge). Internally the chunked-driver base works on the zero-based grid; reads and writes
are shifted by the origin on the way in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ts_core.driver import KvsChunkedDriver, SchemaConstraints, load_metadata_json
from ts_core.errors import SpecError
from ts_core.kvstore import NO_VALUE, UNKNOWN, KvStore, prefix_range

from ._chunk_store import cell_array, cell_buffer
from ._metadata import INFO_KEY, MultiscaleMetadata, ScaleMetadata, encoding_class, parse_info
from ._scale import (
    LABELS,
    ScaleExistsError,
    create_scale,
    open_scale,
    parse_constraints,
)

if TYPE_CHECKING:
    from ts_core import Future
    from ts_core.context import Context
    from ts_core.driver import OpenOptions
    from ts_core.index_space import IndexDomain, IndexTransform
    from ts_core.kvstore import Transaction

    from .encoding_api import ChunkEncoding

__all__ = ["PrecomputedDriver", "resolve_scale_key"]

#: Spec members naming the scale; the rest of a spec is the base's.
FORMAT_MEMBERS = ("scale_index", "multiscale_metadata", "scale_metadata")


def resolve_scale_key(path: str, scale_key: str, json_path: str = "key") -> str:
    """The kvstore path of a scale's chunks: ``scale_key`` relative to the volume's
    ``path``, a ``..`` component taking one directory off (tensorstore's rule).

    Unlike tensorstore, a key may not leave the volume's directory (``"../other"``): keys
    that follow from stored metadata stay inside the kvstore's root (docs/security.md), so a
    hostile ``info`` cannot send chunk writes elsewhere. SpecError naming ``json_path``.
    """
    root = [part for part in path.rstrip("/").split("/")] if path.rstrip("/") else []
    parts = list(root)
    for part in scale_key.split("/"):
        if part == "..":
            if len(parts) <= len(root):
                raise SpecError(
                    json_path, f"{scale_key!r} leaves the volume's directory; scale keys must stay inside it"
                )
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class PrecomputedDriver(KvsChunkedDriver[MultiscaleMetadata]):
    """One scale of a Neuroglancer precomputed volume."""

    id = "neuroglancer_precomputed"
    metadata_key = INFO_KEY
    metadata_members = ("multiscale_metadata", "scale_metadata")

    # -- what a spec implies ------------------------------------------------------------------
    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """Rank, dtype, domain, chunk layout, codec and units the spec's members imply."""
        from ._spec_schema import precomputed_spec_schema

        return precomputed_spec_schema(json_value)

    @classmethod
    def normalize_spec_members(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """The spec's ``multiscale_metadata`` and ``scale_metadata`` in canonical form."""
        from ._spec_schema import normalize_spec_members

        return normalize_spec_members(json_value)

    @classmethod
    def normalize_codec_json(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """A precomputed ``ts.CodecSpec``'s JSON, checked member by member (sorted)."""
        from ._spec_schema import normalize_codec

        return normalize_codec(json_value)

    # -- metadata ------------------------------------------------------------------------------
    @classmethod
    def parse_stored_metadata(cls, data: bytes) -> MultiscaleMetadata:
        return parse_info(load_metadata_json(data))

    @classmethod
    def encode_metadata(cls, metadata: MultiscaleMetadata) -> bytes:
        return metadata.encode()

    @classmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> MultiscaleMetadata:
        constraints = parse_constraints(spec_members, schema)
        return create_scale(None, constraints, schema)[0]

    @classmethod
    def check_metadata(cls, metadata: MultiscaleMetadata, spec_members: dict[str, Any], schema: SchemaConstraints) -> None:
        open_scale(metadata, parse_constraints(spec_members, schema), schema)

    @classmethod
    def open_driver(
        cls, kvstore: KvStore, spec_members: dict[str, Any], schema: SchemaConstraints, context: Context, options: OpenOptions
    ) -> PrecomputedDriver:
        """Open a scale, create a volume, or add a scale to an existing ``info``.

        A new ``info`` is written only if none exists, and a scale is added by a write
        conditioned on the generation of the ``info`` it was added to: of two concurrent
        creators one wins, the other re-reads and tries again (then finding the scale, or
        adding its own after the winner's)."""
        if schema.fill_value is not None:
            raise SpecError("fill_value", "fill_value not supported by neuroglancer_precomputed format")
        constraints = parse_constraints(spec_members, schema)
        if options.delete_existing:
            kvstore.delete_range(prefix_range(b"")).result()
        if options.assume_metadata:
            info, index = create_scale(None, constraints, schema, assume_metadata=True)
            return cls.build(kvstore, info, index, spec_members, schema, context, options)
        where = _where(kvstore)
        while True:
            stored = kvstore.read_blocking(INFO_KEY)
            existing = None
            if stored.state == "value":
                existing = _parse_stored(stored.value, kvstore)
            if options.create:
                try:
                    info, index = create_scale(existing, constraints, schema)
                except ScaleExistsError as exc:
                    if not options.open:
                        raise SpecError(exc.json_path, exc.detail) from None
                else:
                    driver = cls.build(kvstore, info, index, spec_members, schema, context, options)
                    condition = NO_VALUE if existing is None else stored.stamp.generation
                    stamp = kvstore.write(INFO_KEY, info.encode(), if_equal=condition).result()
                    if stamp.generation == UNKNOWN and kvstore.transaction is None:
                        continue  # another writer changed info first: decide again on theirs
                    return driver
            if existing is None:
                raise ValueError(
                    f"cannot open: no precomputed volume at {where!r} ({INFO_KEY} is missing); "
                    "pass create=True to create one"
                )
            index = open_scale(existing, constraints, schema)
            try:
                return cls.build(kvstore, existing, index, spec_members, schema, context, options)
            except SpecError as exc:
                if exc.json_path != "metadata":
                    raise
                # The base's size limits on what the stored info declares: name the object.
                raise ValueError(f"invalid metadata in {kvstore.path + INFO_KEY!r}: {exc}") from exc

    @classmethod
    def build(
        cls,
        kvstore: KvStore,
        info: MultiscaleMetadata,
        index: int,
        spec_members: Mapping[str, Any],
        schema: SchemaConstraints,
        context: Context,
        options: OpenOptions,
    ) -> PrecomputedDriver:
        """The driver of scale ``index`` of ``info``, checked against the schema."""
        members = {**spec_members, "scale_index": index}
        driver = cls(kvstore=kvstore, metadata=info, context=context, options=options, spec_members=members)
        driver.check_schema_constraints(schema)
        driver.check_units(schema)
        return driver

    def check_units(self, schema: SchemaConstraints) -> None:
        """Dimension units the schema asks for must be the scale's resolution in nm."""
        from ._scale import OpenConstraints, check_units_match_resolution, effective_units

        if schema.dimension_units is not None:
            units = effective_units(OpenConstraints(None, {}, {}), schema)
            check_units_match_resolution(units, self.scale.resolution, "dimension_units")

    # -- the selected scale ------------------------------------------------------------------
    @property
    def scale_index(self) -> int:
        index: int = self.spec_members["scale_index"]
        return index

    @property
    def scale(self) -> ScaleMetadata:
        """The scale this driver reads and writes."""
        return self.metadata.scales[self.scale_index]

    def scale_of(self, metadata: MultiscaleMetadata) -> ScaleMetadata:
        index = self.scale_index
        if index >= len(metadata.scales):
            raise ValueError(f"the volume's info no longer has scale {index}")
        return metadata.scales[index]

    def chunk_size_of(self, metadata: MultiscaleMetadata) -> tuple[int, int, int]:
        wanted = (self.spec_members.get("scale_metadata") or {}).get("chunk_size")
        scale = self.scale_of(metadata)
        if wanted is not None and tuple(wanted) in scale.chunk_sizes:
            return (wanted[0], wanted[1], wanted[2])
        return scale.chunk_sizes[0]

    @property
    def origin(self) -> tuple[int, int, int, int]:
        """The domain's inclusive lower bounds: ``voxel_offset`` and channel 0."""
        return (*self.scale.voxel_offset, 0)

    @property
    def encoding(self) -> ChunkEncoding:
        """The scale's encoding, configured with the spec's writer options."""
        return self.encoded_state[0]

    @property
    def encoded_state(self) -> tuple[ChunkEncoding, KvStore, Any]:
        state = self.__dict__.get("_precomputed_state")
        if state is None or state[2] is not self.metadata:
            self.on_metadata(self.metadata)
            state = self.__dict__["_precomputed_state"]
        return state  # type: ignore[no-any-return]

    def on_metadata(self, metadata: MultiscaleMetadata) -> None:
        previous = self.__dict__.get("_precomputed_state")
        if previous is not None and previous[2] is not metadata:
            check_compatible(previous[2], metadata, self.scale_index, self.chunk_size_of(previous[2]))
        scale = self.scale_of(metadata)
        encoding_type = encoding_class(scale.encoding, f"scales[{self.scale_index}].encoding")
        wanted = dict(self.spec_members.get("scale_metadata") or {})
        options = {
            name: wanted.get(name, scale.encoding_members.get(name))
            for name in encoding_type.writer_options
            if name in wanted or name in scale.encoding_members
        }
        scale_json = {**scale.to_json(), "chunk_sizes": [list(self.chunk_size_of(metadata))]}
        encoding = encoding_type(metadata.dtype, metadata.num_channels, scale_json, options)
        chunk_store = _chunk_store(self, metadata, scale, encoding)
        self.__dict__["_precomputed_state"] = (encoding, chunk_store, metadata)
        size, chunk = scale.size, self.chunk_size_of(metadata)
        self.__dict__["_precomputed_keys"] = (scale.voxel_offset, chunk, tuple(o + s for o, s in zip(scale.voxel_offset, size, strict=True)))

    @property
    def chunk_kvstore(self) -> KvStore:
        return self.encoded_state[1]

    # -- layout ------------------------------------------------------------------------------
    def array_shape(self, metadata: MultiscaleMetadata) -> tuple[int, ...]:
        return (*self.scale_of(metadata).size, metadata.num_channels)

    def chunk_shape(self, metadata: MultiscaleMetadata) -> tuple[int, ...]:
        return (*self.chunk_size_of(metadata), metadata.num_channels)

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        # Neuroglancer "unsharded chunk storage": the chunk's bounds, in voxels, per axis.
        origin, chunk, stop = self.__dict__["_precomputed_keys"]
        parts = []
        for dim in range(3):
            start = origin[dim] + grid_indices[dim] * chunk[dim]
            parts.append(f"{start}-{min(start + chunk[dim], stop[dim])}")
        return "_".join(parts)

    def dimension_labels(self) -> list[str]:
        return list(LABELS)

    def inner_order(self) -> list[int]:
        return [3, 2, 1, 0]

    # -- chunks: whole grid cells, x fastest (the chunk store converts to the encoding) ---------
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        return np.zeros(self.grid_chunk_shape, dtype=self.metadata.dtype, order="F")

    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        return cell_array(data, self.metadata.dtype.newbyteorder("<"), self.grid_chunk_shape)

    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        stored = self.metadata.dtype.newbyteorder("<")
        if self.encoding.name == "raw":
            return np.asarray(storage, dtype=stored).tobytes(order="F")
        # The chunk store encodes this value at once, so it is one copy of the cell in
        # the memory order of ``storage`` (cheap to make; the encoding reads either
        # order), seen as bytes through a buffer whose logical order is the x-fastest
        # layout. The store takes the array back from the buffer (``cell_array``).
        return cell_buffer(np.array(storage, dtype=stored, order="K", copy=True))  # type: ignore[return-value]

    # -- the domain: origin at voxel_offset -------------------------------------------------------
    @property
    def domain(self) -> IndexDomain:
        from ts_core.index_space import IndexDomain

        return IndexDomain(inclusive_min=list(self.origin), shape=list(self.shape), labels=list(LABELS))

    def to_grid(self, transform: IndexTransform) -> IndexTransform:
        """``transform`` (into the volume's domain) shifted onto the zero-based grid."""
        origin = self.origin
        if not any(origin):
            return transform
        from ts_core.index_space import IndexTransform, OutputIndexMap, compose

        shift = IndexTransform(
            input_inclusive_min=list(origin),
            input_shape=list(self.shape),
            input_labels=list(LABELS),
            output=[OutputIndexMap(input_dimension=dim, offset=-origin[dim]) for dim in range(4)],
        )
        shifted: IndexTransform = compose(shift, transform)
        return shifted

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        if self.scale.sharding is not None and transaction is None:
            from ._sharded_io import read_sharded  # grouped per shard

            return read_sharded(self, self.to_grid(transform))
        return super().read(self.to_grid(transform), transaction)

    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        if self.scale.sharding is not None and transaction is None:
            from ._sharded_io import write_sharded  # one write per shard

            return write_sharded(self, self.to_grid(transform), source)
        return super().write(self.to_grid(transform), source, transaction)

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
        return super().stored_chunk_counts(self.to_grid(transform), transaction)

    # -- schema and spec ----------------------------------------------------------------------
    def codec_json(self) -> dict[str, Any]:
        scale = self.scale
        codec: dict[str, Any] = {"driver": self.id, "encoding": scale.encoding}
        encoding_type = encoding_class(scale.encoding, "encoding")
        # tensorstore's codec members (jpeg_quality, png_level) and a plugin's writer options.
        for name in sorted({"jpeg_quality", "png_level", *encoding_type.writer_options}):
            if name in scale.encoding_members:
                codec[name] = scale.encoding_members[name]
        if scale.sharding is not None and "data_encoding" in scale.sharding:
            codec["shard_data_encoding"] = scale.sharding["data_encoding"]
        return codec

    @property
    def dimension_units(self) -> list[tuple[float, str] | None]:
        return [*((value, "nm") for value in self.scale.resolution), None]

    @property
    def schema(self) -> Any:
        from ts_core.schema import ChunkLayout, CodecSpec, Schema

        grid = ChunkLayout.Grid(shape=list(self.grid_chunk_shape))
        write_grid = grid
        if self.scale.sharding is not None:
            from ._sharded_io import sharded_write_chunk_shape  # a shard's box, or the volume

            write_grid = ChunkLayout.Grid(shape=sharded_write_chunk_shape(self))
        layout = ChunkLayout(grid_origin=list(self.origin), inner_order=[3, 2, 1, 0], read_chunk=grid, write_chunk=write_grid)
        block = self.scale.encoding_members.get("compressed_segmentation_block_size")
        if block is not None:  # the encoding's own blocks, as tensorstore reports them
            layout.update(codec_chunk=ChunkLayout.Grid(shape=[*block, 1]))
        schema = Schema(dtype=self.numpy_dtype, domain=self.domain, chunk_layout=layout, codec=CodecSpec(self.codec_json()))
        schema.update(dimension_units=self.dimension_units)
        return schema

    def spec_json(self) -> dict[str, Any]:
        # The members tensorstore writes; unknown members of the info stay in the info (a
        # spec's scale_metadata and multiscale_metadata refuse them).
        info, scale = self.metadata, self.scale
        scale_metadata: dict[str, Any] = {
            **scale.encoding_members,
            "key": scale.key,
            "size": list(scale.size),
            "voxel_offset": list(scale.voxel_offset),
            "chunk_size": list(self.chunk_size_of(info)),
            "resolution": list(scale.resolution),
            "encoding": scale.encoding,
            "sharding": None if scale.sharding is None else dict(scale.sharding),
        }
        multiscale = {"num_channels": info.num_channels, "type": info.type}
        return {
            "driver": self.id,
            "kvstore": self.kvstore.spec().to_json(),
            "dtype": info.data_type,
            "scale_index": self.scale_index,
            "multiscale_metadata": multiscale,
            "scale_metadata": dict(sorted(scale_metadata.items())),
        }


def check_compatible(
    before: MultiscaleMetadata, after: MultiscaleMetadata, index: int, chunk_size: tuple[int, int, int]
) -> None:
    """An ``info`` re-read while the volume is open must still describe the same scale
    (tensorstore's compatibility check): data type, channels, and the scale's key, bounds,
    encoding, encoding members and sharding; its chunk size must still be listed."""
    from ._scale import mismatch

    if after.num_channels != before.num_channels:
        raise mismatch("num_channels", "num_channels", before.num_channels, after.num_channels)
    if after.data_type != before.data_type:
        raise mismatch("data_type", "data_type", before.data_type, after.data_type)
    if index >= len(after.scales):
        raise ValueError(f"Updated metadata is missing scale {index}")
    old, new = before.scales[index], after.scales[index]
    path = f"scales[{index}]"
    for member in ("key", "size", "voxel_offset", "encoding", "sharding"):
        if getattr(old, member) != getattr(new, member):
            raise mismatch(f"{path}.{member}", member, getattr(old, member), getattr(new, member))
    if chunk_size not in new.chunk_sizes:
        raise ValueError(f"Updated metadata is missing chunk size {list(chunk_size)} for scale {index}")
    block = "compressed_segmentation_block_size"
    if old.encoding_members.get(block) != new.encoding_members.get(block):
        raise mismatch(f"{path}.{block}", block, old.encoding_members.get(block), new.encoding_members.get(block))


def _where(kvstore: KvStore) -> str:
    try:
        return kvstore.url or kvstore.path
    except (ValueError, NotImplementedError):
        return kvstore.path


def _parse_stored(data: bytes, kvstore: KvStore) -> MultiscaleMetadata:
    try:
        return parse_info(load_metadata_json(data))
    except ValueError as exc:
        raise ValueError(f"invalid metadata in {kvstore.path + INFO_KEY!r}: {exc}") from exc


def _chunk_store(driver: PrecomputedDriver, metadata: MultiscaleMetadata, scale: ScaleMetadata, encoding: ChunkEncoding) -> KvStore:
    """The kvstore the scale's chunks are read from and written to (keys: chunk bounds)."""
    if scale.sharding is not None:
        return _sharded_chunk_store(driver, metadata, scale, encoding)
    from ._chunk_store import EncodedChunkStore

    kvstore = driver.kvstore
    prefix = resolve_scale_key(kvstore.path, scale.key, f"scales[{driver.scale_index}].key")
    store = EncodedChunkStore(kvstore.driver, encoding, tuple(driver.chunk_shape(metadata)), metadata.dtype)  # type: ignore[arg-type]
    return KvStore(store, prefix + "/" if prefix else "", kvstore.transaction, kvstore.context)


def _sharded_chunk_store(driver: PrecomputedDriver, metadata: MultiscaleMetadata, scale: ScaleMetadata, encoding: ChunkEncoding) -> KvStore:
    """The seam of the sharded format: ``ts_precomputed._sharded_io`` provides the store."""
    from ._sharded_io import sharded_chunk_store

    return sharded_chunk_store(driver, metadata, scale, encoding)
