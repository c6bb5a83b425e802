"""KvsChunkedDriver: the base of every chunked format stored in a kvstore.

A format plugin (zarr, n5, ...) subclasses it and implements only the format hooks:
metadata handling, chunk keys and the chunk codec. The base wires in the rest, each in a
module named after it: opening with its modes and creation race (``_chunk_open``), schema
checks (``_schema_check``), resize (``_resize``), the generation-validated chunk cache
(``_chunk_cache``), the fill chunk (``_fill``), reads, writes, read-modify-write and
transaction staging (``_chunk_io``), and scheduling (``_scheduling``). What a format may use
beyond its hooks is public below (``shape``, ``metadata``, ``chunk_cache``, ...).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from ..errors import ChunkError, ChunkStorageError, OutOfRangeError
from ..index_space._partition import output_index_bounds
from . import _chunk_io, _chunk_open, _resize, _schema_check
from ._chunk_cache import ChunkCache
from ._chunk_open import GENERIC_MEMBERS, load_metadata_json
from ._driver import Driver
from ._fill import FillChunk
from ._open_options import OpenOptions, staleness_bound
from ._raw_chunk import RawChunkLayout

if TYPE_CHECKING:
    from .._executor import Executor
    from .._future import Future
    from ..context import Context
    from ..index_space import IndexDomain, IndexTransform
    from ..kvstore import KvStore, Transaction
    from ._constraints import SchemaConstraints

__all__ = ["GENERIC_MEMBERS", "ChunkError", "ChunkStorageError", "KvsChunkedDriver", "RawChunkLayout", "load_metadata_json"]


#: The format's metadata type (``ZarrMetadata``, ...): ``KvsChunkedDriver[ZarrMetadata]``.
MetadataT = TypeVar("MetadataT")


class KvsChunkedDriver(Driver, Generic[MetadataT]):
    """Chunked array in a kvstore; subclasses supply the format.

    A format names its metadata type as the type parameter (``class
    ZarrDriver(KvsChunkedDriver[ZarrMetadata])``), so the hooks and ``metadata`` are typed.
    """

    #: Name of the metadata object below the array's kvstore path (e.g. ``".zarray"``).
    metadata_key: str

    def __init__(
        self,
        *,
        kvstore: KvStore,
        metadata: MetadataT,
        context: Context,
        options: OpenOptions,
        spec_members: dict[str, Any],
    ) -> None:
        self._kvstore = kvstore
        self._context = context
        self._options = options
        self._spec_members = spec_members
        self._executor: Executor = context.resource(
            "data_copy_concurrency", spec_members.get("data_copy_concurrency"), "data_copy_concurrency"
        )
        self._metadata_staleness = staleness_bound(
            options.recheck_cached_metadata, options.open_time, "recheck_cached_metadata"
        )
        self._metadata_generation: bytes | None = None  # unknown until first revalidation
        self._metadata_checked = options.open_time
        self._metadata_lock = threading.Lock()
        self._store_fill = bool(spec_members.get("store_data_equal_to_fill_value", False))
        self._fill_missing = bool(spec_members.get("fill_missing_data_reads", True))
        # Back-pressure for bulk writes: encoded chunks waiting for the kvstore are capped,
        # so writing an array of any size holds a bounded number of chunks in flight.
        kv_executor = kvstore.driver.executor
        self._write_slots = threading.BoundedSemaphore(
            2 * max(kv_executor.limit if kv_executor is not None else 1, self._executor.limit)
        )
        self._chunk_cache = ChunkCache(
            context.resource("cache_pool", spec_members.get("cache_pool"), "cache_pool"),
            kvstore,
            staleness=staleness_bound(options.recheck_cached_data, options.open_time),
            decode=self.decode_chunk,
            fill_missing=self._fill_missing,
        )
        self._configure(metadata)

    def _configure(self, metadata: MetadataT) -> None:
        """Take (new) metadata: derive shapes, reset the fill chunk, let the format react."""
        from ..schema import check_chunk_bytes, check_shape

        # Formats check the exact byte size when parsing; this backstop (any format, no
        # allocation) refuses a chunk grid cell whose element count alone is too large,
        # and a shape no index domain can span.
        check_chunk_bytes(tuple(self.chunk_shape(metadata)), None, "metadata")
        check_shape(tuple(self.array_shape(metadata)), "metadata")
        self._metadata = metadata
        self._shape = tuple(self.array_shape(metadata)) + self.inner_shape
        self._chunk = tuple(self.chunk_shape(metadata)) + self.inner_shape
        self._fill_state = FillChunk(self.fill_chunk)
        self._numpy_dtype: np.dtype[Any] | None = None
        # With no fill value (zarr v2 ``fill_value: null``) no chunk "equals the fill value":
        # every written chunk is stored, as tensorstore does.
        requested = bool(self._spec_members.get("store_data_equal_to_fill_value", False))
        self._store_fill = requested or not self.has_fill_value(metadata)
        self.on_metadata(metadata)
        self._chunk_cache.bind(self.chunk_kvstore)

    # -- format hooks ---------------------------------------------------------------------
    def has_fill_value(self, metadata: MetadataT) -> bool:
        """Whether ``metadata`` names a fill value; a format whose metadata may leave it out
        (zarr v2's ``fill_value: null``) returns False then, and every chunk it writes is
        stored even when it equals what a missing chunk reads as."""
        return True

    @classmethod
    @abc.abstractmethod
    def parse_stored_metadata(cls, data: bytes) -> MetadataT:
        """Parse the stored metadata object (errors name its key)."""

    @classmethod
    @abc.abstractmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: SchemaConstraints) -> MetadataT:
        """Complete metadata for a new array from the spec's constraints."""

    @classmethod
    @abc.abstractmethod
    def check_metadata(cls, metadata: MetadataT, spec_members: dict[str, Any], schema: SchemaConstraints) -> None:
        """Raise ValueError naming the member if stored ``metadata`` violates the spec."""

    @classmethod
    @abc.abstractmethod
    def encode_metadata(cls, metadata: MetadataT) -> bytes:
        """Bytes of the metadata object."""

    @abc.abstractmethod
    def array_shape(self, metadata: MetadataT) -> tuple[int, ...]:
        """Shape of the chunked dimensions."""

    @abc.abstractmethod
    def chunk_shape(self, metadata: MetadataT) -> tuple[int, ...]:
        """Shape of one chunk (chunked dimensions only)."""

    @abc.abstractmethod
    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        """Key of a chunk, relative to the array's kvstore path."""

    @abc.abstractmethod
    def decode_chunk(self, data: bytes) -> np.ndarray[Any, Any]:
        """Decode stored bytes to a storage array (``storage_chunk_shape``)."""

    @abc.abstractmethod
    def encode_chunk(self, storage: np.ndarray[Any, Any]) -> bytes:
        """Encode a storage array."""

    def encode_chunk_transient(self, storage: np.ndarray[Any, Any]) -> bytes | memoryview:
        """``encode_chunk(storage)``, possibly in a buffer this thread reuses at its next
        call: for a write that is done with the value when it returns (a ``WriteBatch``
        with ``copies_values``). A format that can encode without a new buffer per chunk
        overrides it (a new multi-megabyte buffer costs a page fault per page of it)."""
        return self.encode_chunk(storage)

    def decode_chunk_transient(self, data: bytes) -> np.ndarray[Any, Any]:
        """``decode_chunk(data)`` as a writable array nothing else refers to, possibly in a
        buffer this thread reuses at its next call: for a read-modify-write that encodes the
        result before this thread decodes again and keeps no reference to it. This default
        copies; a format that can decode without a new chunk-sized array overrides it."""
        return np.array(self.decode_chunk(data), copy=True, order="K")

    @abc.abstractmethod
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        """A new, writable storage array holding the fill value."""

    def raw_chunk_layout(self) -> RawChunkLayout | None:
        """How a stored chunk holds its elements when its bytes are nothing else (no
        compression, no header), or None. With a layout, a read that needs a small part
        of a chunk it will not cache reads only the bytes of that part. Formats with
        ``field_view`` or ``inner_shape`` are read whole regardless."""
        return None

    def field_view(self, storage: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The part of a storage array this driver exposes (a field, for structured dtypes)."""
        return storage

    def storage_dtype(self) -> np.dtype[Any] | None:
        """The dtype of this format's storage arrays (what ``fill_chunk`` returns), or None
        to have it read off the fill chunk."""
        return None

    def codec_json(self) -> dict[str, Any] | None:
        """The format's codec as ``ts.CodecSpec`` JSON (None if it has none to report)."""
        return None

    def fill_value_array(self) -> np.ndarray[Any, Any] | None:
        """The fill value as an array broadcastable to one element, or None if unset."""
        return None

    def inner_order(self) -> list[int]:
        """Storage order of the dimensions within a chunk (C order unless overridden)."""
        return list(range(len(self._shape)))

    def dimension_labels(self) -> list[str]:
        """Labels of the array's dimensions (empty strings unless the format stores some)."""
        return [""] * len(self._shape)

    def with_shape(self, metadata: MetadataT, shape: tuple[int, ...]) -> MetadataT:
        """Metadata with the chunked dimensions resized (formats that can resize override)."""
        raise NotImplementedError(f'the "{self.id}" driver does not support resize')

    @property
    def inner_shape(self) -> tuple[int, ...]:
        """Trailing unchunked dimensions of each element (e.g. a field's shape)."""
        return ()

    def on_metadata(self, metadata: MetadataT) -> None:
        """Called whenever the driver takes metadata (at open, and when a revalidation reads
        a newer version), after ``shape`` and ``grid_chunk_shape`` are set; a format derives
        its own state from the metadata here."""

    @property
    def chunk_kvstore(self) -> KvStore:
        """The kvstore chunk keys are read from and written to: the array's ``kvstore``
        unless a format stores chunks inside other objects (zarr3 shards) and overrides it."""
        return self._kvstore

    # -- what a format may use ------------------------------------------------------------
    @property
    def metadata(self) -> MetadataT:
        """The format's metadata object currently in effect."""
        return self._metadata

    @property
    def kvstore(self) -> KvStore:
        """The array's kvstore (its path ends with ``/``); the metadata object lives in it."""
        return self._kvstore

    @property
    def spec_members(self) -> Mapping[str, Any]:
        """The spec's format-specific members (those the base does not interpret); read-only."""
        return self._spec_members

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape: chunked dimensions, then ``inner_shape``."""
        return self._shape

    @property
    def grid_chunk_shape(self) -> tuple[int, ...]:
        """Shape of one cell of the chunk grid reads and writes are partitioned on."""
        return self._chunk

    @property
    def executor(self) -> Executor:
        """The ``data_copy_concurrency`` pool that decodes, encodes and copies chunks."""
        return self._executor

    @property
    def chunk_cache(self) -> ChunkCache:
        """The array's chunk cache (in the context's shared ``cache_pool``)."""
        return self._chunk_cache

    @property
    def fill_chunk_view(self) -> np.ndarray[Any, Any]:
        """The read-only chunk of fill values (what a missing chunk reads as), made once."""
        return self._fill_state.chunk

    def equals_fill(self, storage: np.ndarray[Any, Any]) -> bool:
        """Whether ``storage`` is byte-for-byte the fill chunk (NaN fill values included),
        i.e. whether the chunk need not be stored."""
        return self._fill_state.equals(storage)

    @property
    def fill_missing(self) -> bool:
        """Whether a missing chunk reads as the fill value (``fill_missing_data_reads``)."""
        return self._fill_missing

    @property
    def store_data_equal_to_fill_value(self) -> bool:
        """Whether chunks equal to the fill chunk are stored anyway rather than deleted."""
        return self._store_fill

    def read_stored_chunk(self, key: str, kvstore: KvStore | None = None) -> tuple[np.ndarray[Any, Any] | None, bytes]:
        """Chunk ``key`` of ``kvstore`` (default ``chunk_kvstore``) through the chunk cache:
        a read-only storage array, or None if missing, and its generation."""
        return self._chunk_cache.read(key, self.chunk_kvstore if kvstore is None else kvstore)


    def check_bounds(self, transform: IndexTransform) -> None:
        """Re-read the metadata if ``recheck_cached_metadata`` says so, then raise IndexError
        if ``transform`` reaches outside the array."""
        if self._metadata_checked < self._metadata_staleness:
            _chunk_open.revalidate_metadata(self)
        for dim, (low, high) in enumerate(output_index_bounds(transform)):
            if low > high:  # empty
                continue
            if low < 0 or high >= self._shape[dim]:
                raise OutOfRangeError(
                    f"index range [{low}, {high + 1}) is out of bounds for dimension {dim} "
                    f"with domain [0, {self._shape[dim]})"
                )

    def refresh_metadata(self) -> None:
        """Re-read the stored metadata now (a conditional read) and apply it if it changed:
        ``TensorStore.resolve`` uses it to report bounds changed by a resize."""
        _chunk_open.revalidate_metadata(self)

    def covers_chunk(self, part: Any) -> bool:
        """Whether partition ``part`` overwrites every in-bounds element of its chunk."""
        return _chunk_io.covers_chunk(self, part)

    # -- the Driver contract --------------------------------------------------------------
    @property
    def domain(self) -> IndexDomain:
        """``[0, shape)``, with implicit upper bounds on the chunked (resizable) dimensions."""
        from ..index_space import IndexDomain

        chunked = len(self._shape) - len(self.inner_shape)
        return IndexDomain(
            shape=self._shape,
            implicit_upper_bounds=[True] * chunked + [False] * len(self.inner_shape),
            labels=self.dimension_labels(),
        )

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The dtype of what reads return (the exposed field's, for structured storage).
        From ``storage_dtype()`` when the format gives it; else from the fill chunk, which
        a nonzero fill value makes costly to build just for this (tens of ms per 8 MiB)."""
        dtype = self._numpy_dtype
        if dtype is None:
            storage = self.storage_dtype()
            sample = self._fill_state.chunk if storage is None else np.empty(0, dtype=storage)
            dtype = self._numpy_dtype = self.field_view(sample).dtype
        return dtype

    @property
    def schema(self) -> Any:
        """Schema from the hooks: one chunk grid for reads and writes, codec, fill value."""
        from ..schema import ChunkLayout, CodecSpec, Schema

        rank = len(self._shape)
        grid = ChunkLayout.Grid(shape=list(self._chunk))
        layout = ChunkLayout(grid_origin=[0] * rank, inner_order=self.inner_order(), read_chunk=grid, write_chunk=grid)
        codec_json = self.codec_json()
        return Schema(
            dtype=self.numpy_dtype,
            domain=self.domain,
            chunk_layout=layout,
            codec=None if codec_json is None else CodecSpec(codec_json),
            fill_value=self.fill_value_array(),
        )

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        """Read chunk by chunk through the chunk cache (see ``_chunk_io``)."""
        return _chunk_io.read(self, transform, transaction)

    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        """Write chunk by chunk; partial chunks by conditioned read-modify-write (see ``_chunk_io``)."""
        return _chunk_io.write(self, transform, source, transaction)

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
        """(stored, total) chunks the transform touches; one listing when there are many."""
        return _chunk_io.stored_chunk_counts(self, transform, transaction)

    def _store(
        self, kvstore: KvStore, key: str, storage: np.ndarray[Any, Any], if_equal: bytes | None, batch: Any = None
    ) -> bool:
        """Write (or delete, if it equals the fill value) one chunk; False on a failed condition."""
        return _chunk_io.store(self, kvstore, key, storage, if_equal, batch)

    # -- opening, schema checks, resize -----------------------------------------------------
    @classmethod
    def from_spec(
        cls, json_value: dict[str, Any], *, context: Context, options: OpenOptions, transaction: Any
    ) -> KvsChunkedDriver[MetadataT]:
        """Open the kvstore a spec names, gather its constraints, then ``open_driver``."""
        return _chunk_open.open_from_spec(cls, json_value, context=context, options=options, transaction=transaction)

    @classmethod
    def open_driver(
        cls, kvstore: KvStore, spec_members: dict[str, Any], schema: SchemaConstraints, context: Context, options: OpenOptions
    ) -> KvsChunkedDriver[MetadataT]:
        """Open, create or replace the array according to ``options`` (runs synchronously)."""
        return _chunk_open.open_array(cls, kvstore, spec_members, schema, context, options)

    def check_schema_constraints(self, schema: SchemaConstraints) -> None:
        """Schema constraints (rank, shape, dtype, hard chunk shape, codec) must hold for the array."""
        _schema_check.check_schema_constraints(self, schema)

    def check_codec_constraint(self, codec: Any) -> None:
        """Raise ValueError if the stored codec contradicts a ``CodecSpec`` constraint.

        The default compares top-level members literally; formats whose codec specs are
        partial descriptions (zarr3 codec chains) override it.
        """
        _schema_check.check_codec_constraint(self, codec)

    def resize_to(
        self, exclusive_max: Sequence[int | None], *, metadata_only: bool, expand_only: bool, shrink_only: bool
    ) -> KvsChunkedDriver[MetadataT]:
        """Change the array's upper bounds (conditional metadata update; trims chunks)."""
        return _resize.resize(
            self, exclusive_max, metadata_only=metadata_only, expand_only=expand_only, shrink_only=shrink_only
        )
