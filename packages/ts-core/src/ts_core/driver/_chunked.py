"""KvsChunkedDriver: the base of every chunked format stored in a kvstore.

A format plugin (zarr, n5, ...) subclasses it and implements only metadata handling,
chunk keys and the chunk codec. This module supplies the rest: open/create/delete
modes, the chunk cache (``cache_pool`` resource, generation-validated), partitioning a
transform onto the chunk grid, concurrent reads and decodes, fill values, and
read-modify-write of partial chunks conditioned on the generation read, so concurrent
writers to disjoint parts of one chunk lose nothing.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._executor import Executor
from .._future import Future
from ..errors import ChunkError, ChunkStorageError, SpecError
from ..kvstore import NO_VALUE, UNKNOWN, KvStore, prefix_range
from ._driver import Driver
from ._open_options import OpenOptions, staleness_bound

if TYPE_CHECKING:
    from ..cache import CachePool
    from ..context import Context
    from ..index_space import IndexDomain, IndexTransform
    from ..kvstore import Transaction

__all__ = ["GENERIC_MEMBERS", "ChunkError", "ChunkStorageError", "KvsChunkedDriver", "load_metadata_json"]

#: Spec members that KvsChunkedDriver interprets itself (the rest go to the format).
GENERIC_MEMBERS = frozenset(
    {
        "driver", "context", "dtype", "rank", "transform", "schema", "kvstore", "path",
        "open", "create", "delete_existing", "assume_metadata", "assume_cached_metadata",
        "recheck_cached_data", "recheck_cached_metadata", "recheck_cached",
    }
)


def load_metadata_json(data: bytes) -> Any:
    """Decode a stored JSON metadata object; invalid JSON is a SpecError, not a traceback."""
    import json

    try:
        return json.loads(data)
    except ValueError as exc:
        raise SpecError("", f"invalid JSON: {exc}") from None


def _storage_call(action: str, full_key: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a kvstore call; failures other than our own input errors name the chunk."""
    try:
        return call(*args, **kwargs)
    except (ValueError, TypeError, ChunkStorageError):
        raise
    except Exception as exc:
        raise ChunkStorageError(f"{action} {full_key!r} failed: {type(exc).__name__}: {exc}") from exc


def _pull_workers(
    pool: Any,
    limit: int,
    parts: list[Any],
    work: Callable[[Any], Any],
    finish: Callable[[], None] | None,
    result: Any,
) -> Future[Any]:
    """Run ``work`` on every part with up to ``limit`` workers on ``pool``, each taking the
    next part until none is left; then ``finish`` (also after an error) and complete
    with ``result`` or the first error. No part is handed from thread to thread.
    """
    workers = max(1, min(len(parts), limit))
    future: Future[Any] = Future()
    lock = threading.Lock()
    pending = iter(parts)
    state: dict[str, Any] = {"running": workers, "error": None}

    def drain() -> None:
        try:
            while True:
                with lock:
                    part = None if state["error"] is not None else next(pending, None)
                if part is None:
                    return
                work(part)
        except BaseException as exc:
            with lock:
                if state["error"] is None:
                    state["error"] = exc
        finally:
            with lock:
                state["running"] -= 1
                last = state["running"] == 0
            if last:
                if finish is not None:
                    try:
                        finish()
                    except BaseException as exc:
                        state["error"] = state["error"] or exc
                if state["error"] is None:
                    future._set_result(result)
                else:
                    future._set_exception(state["error"])

    for _ in range(workers):
        pool.submit(drain)
    return future


class KvsChunkedDriver(Driver):
    """Chunked array in a kvstore; subclasses supply the format."""

    #: Name of the metadata object below the array's kvstore path (e.g. ``".zarray"``).
    metadata_key: str

    def __init__(
        self,
        *,
        kvstore: KvStore,
        metadata: Any,
        context: Context,
        options: OpenOptions,
        spec_members: dict[str, Any],
    ) -> None:
        self._kvstore = kvstore
        self._metadata = metadata
        self._context = context
        self._options = options
        self._spec_members = spec_members
        self._cache_pool: CachePool = context.resource(
            "cache_pool", spec_members.get("cache_pool"), "cache_pool"
        )
        self._executor: Executor = context.resource(
            "data_copy_concurrency", spec_members.get("data_copy_concurrency"), "data_copy_concurrency"
        )
        self._data_staleness = staleness_bound(options.recheck_cached_data, options.open_time)
        self._metadata_staleness = staleness_bound(
            options.recheck_cached_metadata, options.open_time, "recheck_cached_metadata"
        )
        self._metadata_generation: bytes | None = None  # unknown until first revalidation
        self._metadata_checked = options.open_time
        self._store_fill = bool(spec_members.get("store_data_equal_to_fill_value", False))
        self._fill_missing = bool(spec_members.get("fill_missing_data_reads", True))
        self._metadata_lock = threading.Lock()
        # Back-pressure for bulk writes: encoded chunks waiting for the kvstore are capped,
        # so writing an array of any size holds a bounded number of chunks in flight.
        kv_executor = kvstore._driver.executor
        self._write_slots = threading.BoundedSemaphore(
            2 * max(kv_executor.limit if kv_executor is not None else 1, self._executor.limit)
        )
        self._configure(metadata)

    # -- format hooks ---------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def parse_stored_metadata(cls, data: bytes) -> Any:
        """Parse the stored metadata object (errors name its key)."""

    @classmethod
    @abc.abstractmethod
    def metadata_for_create(cls, spec_members: dict[str, Any], schema: Any) -> Any:
        """Complete metadata for a new array from the spec's constraints."""

    @classmethod
    @abc.abstractmethod
    def check_metadata(cls, metadata: Any, spec_members: dict[str, Any], schema: Any) -> None:
        """Raise ValueError naming the member if stored ``metadata`` violates the spec."""

    @classmethod
    @abc.abstractmethod
    def encode_metadata(cls, metadata: Any) -> bytes:
        """Bytes of the metadata object."""

    @abc.abstractmethod
    def array_shape(self, metadata: Any) -> tuple[int, ...]:
        """Shape of the chunked dimensions."""

    @abc.abstractmethod
    def chunk_shape(self, metadata: Any) -> tuple[int, ...]:
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

    @abc.abstractmethod
    def fill_chunk(self) -> np.ndarray[Any, Any]:
        """A new, writable storage array holding the fill value."""

    def field_view(self, storage: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The part of a storage array this driver exposes (a field, for structured dtypes)."""
        return storage

    def codec_json(self) -> dict[str, Any] | None:
        """The format's codec as ``ts.CodecSpec`` JSON (None if it has none to report)."""
        return None

    def fill_value_array(self) -> np.ndarray[Any, Any] | None:
        """The fill value as an array broadcastable to one element, or None if unset."""
        return None

    def inner_order(self) -> list[int]:
        """Storage order of the dimensions within a chunk (C order unless overridden)."""
        return list(range(len(self._shape)))

    @property
    def schema(self) -> Any:
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

    @property
    def inner_shape(self) -> tuple[int, ...]:
        """Trailing unchunked dimensions of each element (e.g. a field's shape)."""
        return ()

    # -- configuration ---------------------------------------------------------------------
    def _configure(self, metadata: Any) -> None:
        self._metadata = metadata
        self._shape = tuple(self.array_shape(metadata)) + self.inner_shape
        self._chunk = tuple(self.chunk_shape(metadata)) + self.inner_shape
        self._fill_chunk: np.ndarray[Any, Any] | None = None  # made on first use
        self._fill_probe: Any = None

    @property
    def _fill(self) -> np.ndarray[Any, Any]:
        """The read-only chunk of fill values (what a missing chunk reads as)."""
        fill = self._fill_chunk
        if fill is None:
            fill = self.fill_chunk()
            fill.setflags(write=False)
            self._fill_chunk = fill
        return fill

    def _probe(self) -> tuple[Any, np.ndarray[Any, Any]]:
        """~64 evenly spread positions of a chunk and the fill value's bytes there, probed
        before comparing a whole chunk with the fill value (one fancy-indexing call,
        whatever the chunk's layout)."""
        if self._fill_probe is None:
            fill = self._fill
            count = min(fill.size, 64)
            positions = np.arange(count, dtype=np.intp) * (fill.size - 1) // max(count - 1, 1)
            where = np.unravel_index(positions, fill.shape)
            self._fill_probe = (where, np.ascontiguousarray(fill[where]).view(np.uint8))
        return self._fill_probe  # type: ignore[no-any-return]

    @property
    def metadata(self) -> Any:
        return self._metadata

    @property
    def kvstore(self) -> KvStore:
        return self._kvstore

    @property
    def domain(self) -> IndexDomain:
        from ..index_space import IndexDomain

        chunked = len(self._shape) - len(self.inner_shape)
        return IndexDomain(
            shape=self._shape,
            implicit_upper_bounds=[True] * chunked + [False] * len(self.inner_shape),
            labels=self.dimension_labels(),
        )

    def dimension_labels(self) -> list[str]:
        return [""] * len(self._shape)

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self.field_view(self._fill).dtype

    @property
    def grid_chunk_shape(self) -> tuple[int, ...]:
        return self._chunk

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def from_spec(
        cls, json_value: dict[str, Any], *, context: Context, options: OpenOptions, transaction: Any
    ) -> KvsChunkedDriver:
        """Open the kvstore a spec names, gather its constraints, then ``open_driver``."""
        from ..kvstore import KvStoreSpec
        from ._constraints import constraints_from_spec

        if "kvstore" not in json_value:
            raise ValueError(f'kvstore: the "{cls.id}" driver needs a "kvstore" member')
        kvstore_spec = KvStoreSpec(json_value["kvstore"])
        if json_value.get("path"):
            kvstore_spec = kvstore_spec / json_value["path"]
        if kvstore_spec.path and not kvstore_spec.path.endswith("/"):
            kvstore_spec = kvstore_spec + "/"
        kvstore = KvStore.open(kvstore_spec, context=context, transaction=transaction).result()
        members = {k: v for k, v in json_value.items() if k not in GENERIC_MEMBERS}
        schema = constraints_from_spec(json_value)
        return cls.open_driver(kvstore, members, schema, context, options)

    @classmethod
    def open_driver(
        cls,
        kvstore: KvStore,
        spec_members: dict[str, Any],
        schema: Any,
        context: Context,
        options: OpenOptions,
    ) -> KvsChunkedDriver:
        """Open, create or replace the array according to ``options`` (runs synchronously)."""
        if options.delete_existing:
            kvstore.delete_range(prefix_range(b"")).result()
        metadata = None
        if options.assume_metadata:
            metadata = cls.metadata_for_create(spec_members, schema)
        else:
            stored = _storage_call(
                "reading metadata", kvstore.path + cls.metadata_key, kvstore.read_blocking, cls.metadata_key
            )
            if stored.state == "value":
                if not options.open:
                    raise ValueError(
                        f"cannot create: an array already exists at {kvstore.url or kvstore.path!r} "
                        f"({cls.metadata_key} is present); pass open=True to open it"
                    )
                metadata = cls._parse_checked(stored.value, kvstore)
                cls.check_metadata(metadata, spec_members, schema)
            elif not options.create:
                raise ValueError(
                    f"cannot open: no array at {kvstore.url or kvstore.path!r} "
                    f"({cls.metadata_key} is missing); pass create=True to create one"
                )
            else:
                metadata = cls.metadata_for_create(spec_members, schema)
                stamp = _storage_call(
                    "writing metadata", kvstore.path + cls.metadata_key,
                    lambda: kvstore.write(cls.metadata_key, cls.encode_metadata(metadata), if_equal=NO_VALUE).result(),
                )
                if stamp.generation == UNKNOWN:
                    # Someone created it first: open theirs only if it matches what we wanted.
                    stored = kvstore.read_blocking(cls.metadata_key)
                    theirs = cls._parse_checked(stored.value, kvstore)
                    if not options.open or cls.encode_metadata(theirs) != cls.encode_metadata(metadata):
                        raise ValueError(
                            f"cannot create: another writer created the array at "
                            f"{kvstore.url or kvstore.path!r} concurrently with different metadata"
                            if cls.encode_metadata(theirs) != cls.encode_metadata(metadata)
                            else f"cannot create: the array at {kvstore.url or kvstore.path!r} was "
                            "created concurrently; pass open=True to open it"
                        )
                    metadata = theirs
        driver = cls(kvstore=kvstore, metadata=metadata, context=context, options=options, spec_members=spec_members)
        driver.check_schema_constraints(schema)
        return driver

    def check_schema_constraints(self, schema: Any) -> None:
        """Schema constraints (rank, shape, dtype, hard chunk shape, codec) must hold for the array."""
        from ..errors import SpecError

        shape = getattr(schema, "shape", None)
        if shape is not None and tuple(shape) != self._shape:
            raise SpecError("schema.domain", f"expected shape {list(shape)} but the array has shape {list(self._shape)}")
        rank = getattr(schema, "rank", None)
        if rank is not None and rank != len(self._shape):
            raise SpecError("rank", f"expected rank {rank} but the array has rank {len(self._shape)}")
        dtype = getattr(schema, "dtype", None)
        if dtype is not None:
            wanted = np.dtype(getattr(dtype, "numpy_dtype", dtype))
            if wanted != self.numpy_dtype.newbyteorder("="):
                raise SpecError("dtype", f"expected {wanted} but the array has {self.numpy_dtype}")
        layout = getattr(schema, "chunk_layout", None)
        if layout is not None:
            actual = self.schema.chunk_layout
            for grid_name in ("read_chunk", "write_chunk"):
                hard = getattr(getattr(layout, grid_name, None), "shape", None)
                have = list(getattr(getattr(actual, grid_name, None), "shape", None) or self._chunk)
                for dim, size in enumerate(hard or ()):
                    if size is not None and size > 0 and dim < len(have) and size != have[dim]:
                        raise SpecError(
                            f"schema.chunk_layout.{grid_name}.shape[{dim}]",
                            f"expected {size} but the array's {grid_name.replace('_', ' ')}s are {have}",
                        )
        codec = getattr(schema, "codec", None)
        if codec is not None:
            self.check_codec_constraint(codec)

    def check_codec_constraint(self, codec: Any) -> None:
        """Raise ValueError if the stored codec contradicts a ``CodecSpec`` constraint.

        The default compares top-level members literally; formats whose codec specs are
        partial descriptions (zarr3 codec chains) override it.
        """
        from .._validation import SpecError, describe

        stored = self.codec_json()
        if stored is None:
            return
        for member, wanted_value in codec.to_json().items():
            if member in stored and stored[member] != wanted_value:
                raise SpecError(
                    f"schema.codec.{member}",
                    f"expected {describe(wanted_value)} but the array has {describe(stored[member])}",
                )

    @classmethod
    def _parse_checked(cls, data: bytes, kvstore: KvStore) -> Any:
        try:
            return cls.parse_stored_metadata(data)
        except ValueError as exc:
            raise ValueError(f"invalid metadata in {kvstore.path + cls.metadata_key!r}: {exc}") from exc

    # -- resize ------------------------------------------------------------------------------
    def with_shape(self, metadata: Any, shape: tuple[int, ...]) -> Any:
        """Metadata with the chunked dimensions resized (formats that can resize override)."""
        raise NotImplementedError(f'the "{self.id}" driver does not support resize')

    def resize_to(
        self, exclusive_max: Sequence[int | None], *, metadata_only: bool, expand_only: bool, shrink_only: bool
    ) -> KvsChunkedDriver:
        """Change the array's upper bounds (conditional metadata update; trims chunks)."""
        chunked = len(self._shape) - len(self.inner_shape)
        if len(exclusive_max) != len(self._shape):
            raise ValueError(f"exclusive_max has {len(exclusive_max)} entries, the array has rank {len(self._shape)}")
        while True:
            stored = self._kvstore.read_blocking(self.metadata_key)
            if stored.state != "value":
                raise ValueError(f"cannot resize: {self.metadata_key!r} no longer exists")
            current = self._parse_checked(stored.value, self._kvstore)
            old_shape = tuple(self.array_shape(current))
            new_shape = list(old_shape)
            for dim, bound in enumerate(exclusive_max[:chunked]):
                if bound is None:
                    continue
                if bound < 0:
                    raise ValueError(f"exclusive_max[{dim}] = {bound} is negative")
                if expand_only and bound < old_shape[dim]:
                    raise ValueError(f"expand_only: dimension {dim} would shrink from {old_shape[dim]} to {bound}")
                if shrink_only and bound > old_shape[dim]:
                    raise ValueError(f"shrink_only: dimension {dim} would grow from {old_shape[dim]} to {bound}")
                new_shape[dim] = int(bound)
            for dim, bound in enumerate(exclusive_max[chunked:], start=chunked):
                if bound is not None and bound != self._shape[dim]:
                    raise ValueError(f"dimension {dim} is not resizable (it is part of the element type)")
            updated = self.with_shape(current, tuple(new_shape))
            stamp = self._kvstore.write_blocking(
                self.metadata_key, self.encode_metadata(updated), stored.stamp.generation
            )
            if stamp.generation != UNKNOWN:
                break  # otherwise someone else changed the metadata: apply ours to theirs
        resized = type(self)(
            kvstore=self._kvstore, metadata=updated, context=self._context,
            options=self._options, spec_members=self._spec_members,
        )
        if not metadata_only:
            resized._trim(old_shape, tuple(new_shape))
        return resized

    def _trim(self, old_shape: tuple[int, ...], new_shape: tuple[int, ...]) -> None:
        """After shrinking: delete chunks now wholly outside, reset the cut-off part of edge chunks."""
        import itertools

        chunk = self._chunk[: len(old_shape)]
        if all(n >= o for n, o in zip(new_shape, old_shape, strict=True)):
            return
        ranges = [range(-(-o // c)) for o, c in zip(old_shape, chunk, strict=True)]
        for grid in itertools.product(*ranges):
            starts = [g * c for g, c in zip(grid, chunk, strict=True)]
            if all(s + c <= n for s, c, n in zip(starts, chunk, new_shape, strict=True)):
                continue  # still wholly inside
            key = self.chunk_key(grid)
            if any(s >= n for s, n in zip(starts, new_shape, strict=True)):
                self._kvstore.write_blocking(key, None)
                self._cache_pool.discard(self._cache_key(key))
                continue
            while True:
                current, generation = self._read_storage(key, self._kvstore)
                if current is None:
                    break
                storage = current.copy(order="K")
                fill = self._fill
                cut = tuple(slice(max(0, n - s), None) for s, n in zip(starts, new_shape, strict=True))
                for dim, part in enumerate(cut):
                    index = (slice(None),) * dim + (part,)
                    storage[index] = fill[index]
                if self._store(self._kvstore, key, storage, generation):
                    break

    # -- chunk access ------------------------------------------------------------------------
    def _cache_key(self, key: str) -> tuple[int, str]:
        return (id(self._kvstore._driver), self._kvstore.path + key)

    def _read_storage(self, key: str, kvstore: KvStore) -> tuple[np.ndarray[Any, Any] | None, bytes]:
        """The stored chunk (read-only array, or None if missing) and its generation."""
        cache_key = self._cache_key(key)
        cached = self._cache_pool.get(cache_key) if kvstore.transaction is None else None
        if cached is not None:
            generation, stamp_time, storage = cached
            if stamp_time >= self._data_staleness:
                return storage, generation
            result = _storage_call("reading chunk", kvstore.path + key, kvstore.read_blocking, key, if_not_equal=generation)
            if result.state == "unspecified":
                self._remember(cache_key, generation, result.stamp.time, storage)
                return storage, generation
        else:
            result = _storage_call("reading chunk", kvstore.path + key, kvstore.read_blocking, key)
        if result.state == "missing":
            if not self._fill_missing:
                raise ValueError(f"chunk {kvstore.path + key!r} is missing")
            return None, result.stamp.generation
        try:
            storage = self.decode_chunk(result.value)
        except Exception as exc:
            raise ChunkError(f"error decoding chunk {kvstore.path + key!r}: {exc}") from exc
        storage.setflags(write=False)
        if kvstore.transaction is None:
            self._remember(cache_key, result.stamp.generation, result.stamp.time, storage)
        return storage, result.stamp.generation

    def _remember(self, cache_key: Any, generation: bytes, stamp_time: float, storage: Any) -> None:
        if self._cache_pool.total_bytes_limit:
            self._cache_pool.put(cache_key, (generation, stamp_time, storage), storage.nbytes)

    # -- storage statistics -------------------------------------------------------------------
    def stored_chunk_counts(self, transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
        from ..index_space import partition_index_transform

        self._check_bounds(transform)
        kvstore = self._kvstore if transaction is None else self._kvstore.with_transaction(transaction)
        keys = {self.chunk_key(part.grid_indices) for part in partition_index_transform(transform, self._chunk)}
        if not keys:
            return (0, 0)
        if len(keys) > 64:  # one listing beats many reads
            listed = {k.decode("utf-8", "surrogateescape") for k in kvstore.list().result()}
            return (len(keys & listed), len(keys))
        present = sum(kvstore.read_blocking(key).state == "value" for key in keys)
        return (present, len(keys))

    # -- bounds --------------------------------------------------------------------------------
    def _revalidate_metadata(self) -> None:
        """Re-read the metadata when ``recheck_cached_metadata`` says it may be stale.

        With the default ("open") nothing happens after opening; with ``True`` every
        operation checks (cheaply, with ``if_not_equal``) and picks up a resize made by
        another process.
        """
        if self._metadata_checked >= self._metadata_staleness:
            return
        import time as _time

        with self._metadata_lock:
            now = _time.time()
            stored = self._kvstore.read_blocking(self.metadata_key, if_not_equal=self._metadata_generation)
            if stored.state == "value":
                self._configure(self._parse_checked(stored.value, self._kvstore))
                self._metadata_generation = stored.stamp.generation
            elif stored.state == "missing":
                raise ValueError(f"the array's {self.metadata_key!r} was deleted")
            self._metadata_checked = now

    def _check_bounds(self, transform: IndexTransform) -> None:
        self._revalidate_metadata()
        from ..index_space import output_index_bounds

        for dim, (low, high) in enumerate(output_index_bounds(transform)):
            if low > high:  # empty
                continue
            if low < 0 or high >= self._shape[dim]:
                raise IndexError(
                    f"index range [{low}, {high + 1}) is out of bounds for dimension {dim} "
                    f"with domain [0, {self._shape[dim]})"
                )

    # -- read ---------------------------------------------------------------------------------
    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        from ..index_space import partition_index_transform

        self._check_bounds(transform)
        kvstore = self._kvstore if transaction is None else self._kvstore.with_transaction(transaction)
        target = np.empty(transform.domain.shape, dtype=self.numpy_dtype)
        parts = list(partition_index_transform(transform, self._chunk))

        def read_part(part: Any) -> None:
            storage, _ = self._read_storage(self.chunk_key(part.grid_indices), kvstore)
            source = self.field_view(self._fill if storage is None else storage)
            target[part.array_selection] = source[part.cell_selection]

        if len(parts) == 1:  # the common small read: no scheduling at all
            future: Future[np.ndarray[Any, Any]] = Future()
            try:
                read_part(parts[0])
            except Exception as exc:
                future._set_exception(exc)
            else:
                future._set_result(target)
            return future
        if kvstore.transaction is None and kvstore._driver.local_io:
            # Local reads are quick: a worker per data-copy thread reads, decodes and
            # copies chunk after chunk, with no hand-off per chunk.
            return _pull_workers(self._executor, self._executor.limit, parts, read_part, None, target)
        return self._run_all(parts, read_part, lambda: target)

    # -- write --------------------------------------------------------------------------------
    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        from ..index_space import partition_index_transform

        self._check_bounds(transform)
        kvstore = self._kvstore if transaction is None else self._kvstore.with_transaction(transaction)
        parts = list(partition_index_transform(transform, self._chunk))

        if transaction is None and kvstore._driver.local_io and len(parts) > 1:
            return self._write_locally(kvstore, parts, source)

        def write_part(part: Any) -> Future[Any] | None:
            return self._write_chunk(kvstore, part, source)

        return self._run_all(parts, write_part, lambda: None)

    def _write_locally(self, kvstore: KvStore, parts: list[Any], source: np.ndarray[Any, Any]) -> Future[None]:
        """Write many chunks to a local kvstore (file, memory) with a few pull workers.

        Each worker takes the next part, encodes it and writes it into the kvstore's write
        batch itself, then takes another. Nothing is handed from thread to thread per
        chunk: in CPython every hand-off (a queue, a Future callback, a semaphore) costs
        GIL round trips and futex calls, which were most of the CPU time of a bulk write.
        The workers run on the kvstore's I/O pool, as many as the batch asks for (more
        when each write waits for its own fsync); the batch makes everything durable
        before the returned Future completes. Memory stays bounded at one chunk per
        worker.
        """
        io_pool = kvstore._driver.executor
        pool = io_pool if io_pool is not None else self._executor
        batch = kvstore._driver.write_batch()  # durability work shared by all the chunks
        limit = pool.limit if io_pool is None else min(
            pool.limit, batch.writers(kvstore.path.encode("utf-8"), self._executor.limit)
        )

        def finish() -> None:  # also after an error: what was written is made durable
            _storage_call("making durable the chunks written under", kvstore.path, batch.finish)

        return _pull_workers(
            pool, limit, parts, lambda part: self._write_chunk(kvstore, part, source, batch=batch), finish, None
        )

    def _covers_chunk(self, part: Any) -> bool:
        """Whether ``part`` overwrites every in-bounds element of its chunk."""
        selection = part.cell_selection
        if not isinstance(selection, tuple) or len(selection) != len(self._chunk):
            return False
        for dim, item in enumerate(selection):
            if not isinstance(item, slice):
                return False
            start, stop, step = item.indices(self._chunk[dim])
            in_bounds = min(self._chunk[dim], self._shape[dim] - part.grid_indices[dim] * self._chunk[dim])
            if step != 1 or start != 0 or stop < in_bounds:
                return False
        return True

    def _write_chunk(
        self, kvstore: KvStore, part: Any, source: np.ndarray[Any, Any], batch: Any = None
    ) -> Future[Any] | None:
        """Write one part; a whole-chunk write returns the Future of its kvstore write, or
        with a kvstore write ``batch`` writes on this thread (into it) and returns None."""
        key = self.chunk_key(part.grid_indices)
        values = source[part.array_selection]
        if kvstore.transaction is not None:
            self._stage_in_transaction(kvstore, key, part, np.array(values, copy=True))
            return None
        if self._covers_chunk(part):
            if values.shape == self._chunk and self.field_view(self._fill) is self._fill:
                storage = values  # interior chunk: encode straight from the caller's array
            else:
                storage = self.fill_chunk()
                self.field_view(storage)[part.cell_selection] = values
            if batch is not None:
                self._store(kvstore, key, storage, None, batch)
                return None
            return self._store_unconditionally(kvstore, key, storage)
        while True:  # read-modify-write, retried when another writer got there first
            current, generation = self._read_storage(key, kvstore)
            storage = self.fill_chunk() if current is None else current.copy(order="K")
            self.field_view(storage)[part.cell_selection] = values
            if self._store(kvstore, key, storage, generation, batch):
                return None

    def _store_unconditionally(self, kvstore: KvStore, key: str, storage: np.ndarray[Any, Any]) -> Future[Any]:
        """Encode here, then let the kvstore's own pool do the (possibly fsync-bound) write,
        so the data-copy threads go on encoding while many writes are in flight."""
        equals_fill = not self._store_fill and self._equals_fill(storage)
        value = None if equals_fill else self.encode_chunk(storage)
        cache_key = self._cache_key(key)
        if equals_fill or not self._cache_pool.total_bytes_limit:
            self._cache_pool.discard(cache_key)
            cached = None
        else:
            cached = np.array(storage, copy=True) if storage.base is not None else storage
            cached.setflags(write=False)
        full_key = kvstore.path + key
        written: Future[Any] = Future()

        def settle(done: Future[Any]) -> None:
            error = done.exception()
            if error is None:
                written._set_result(done.result())
                return
            try:
                _storage_call("writing chunk", full_key, lambda: done.result())
            except Exception as wrapped:
                written._set_exception(wrapped)

        self._write_slots.acquire()  # released when the write completes
        try:
            started = _storage_call("writing chunk", full_key, kvstore.write, key, value)
        except BaseException:
            self._write_slots.release()
            raise
        started.add_done_callback(lambda _: self._write_slots.release())
        started.add_done_callback(settle)
        if cached is None:
            return written

        def remember(done: Future[Any]) -> None:
            if done.exception() is None:
                self._remember(cache_key, done.result().generation, time.time(), cached)

        written.add_done_callback(remember)
        return written

    def _stage_in_transaction(
        self, kvstore: KvStore, key: str, part: Any, values: np.ndarray[Any, Any]
    ) -> None:
        """Stage the write as a modification the transaction applies to the stored chunk.

        If the transaction also read this chunk, the commit is conditioned on what it read;
        otherwise the modification is re-applied to whatever is stored at commit time.
        """
        covers = self._covers_chunk(part)
        full_key = kvstore.path + key

        def modify(stored: bytes | None) -> bytes | None:
            if covers or stored is None:
                storage = self.fill_chunk()
            else:
                try:
                    storage = np.array(self.decode_chunk(stored), copy=True, order="K")
                except Exception as exc:
                    raise ChunkError(f"error decoding chunk {full_key!r}: {exc}") from exc
            self.field_view(storage)[part.cell_selection] = values
            if not self._store_fill and self._equals_fill(storage):
                return None
            return self.encode_chunk(storage)

        assert kvstore.transaction is not None
        kvstore.transaction._modify(kvstore._driver, full_key.encode("utf-8"), modify)
        self._cache_pool.discard(self._cache_key(key))

    def _equals_fill(self, storage: np.ndarray[Any, Any]) -> bool:
        """Byte-exact comparison with the fill chunk (so NaN fill values compare equal).

        A sparse probe is compared first, without copying the chunk, which rejects
        almost every real chunk cheaply.
        """
        fill = self._fill
        if storage.shape != fill.shape:
            return False
        if fill.ndim and fill.size:
            where, expected = self._probe()
            if not np.array_equal(np.ascontiguousarray(storage[where]).view(np.uint8), expected):
                return False
        stored_bytes = np.ascontiguousarray(storage).reshape(-1).view(np.uint8)
        return bool(np.array_equal(stored_bytes, np.ascontiguousarray(fill).reshape(-1).view(np.uint8)))

    def _store(
        self, kvstore: KvStore, key: str, storage: np.ndarray[Any, Any], if_equal: bytes | None, batch: Any = None
    ) -> bool:
        """Write (or delete, if it equals the fill value) one chunk; False on a failed condition."""
        full_key = kvstore.path + key
        if not self._store_fill and self._equals_fill(storage):
            stamp = _storage_call("deleting chunk", full_key, kvstore.write_blocking, key, None, if_equal, batch)
            cached: np.ndarray[Any, Any] | None = None
        else:
            encoded = self.encode_chunk(storage)
            stamp = _storage_call("writing chunk", full_key, kvstore.write_blocking, key, encoded, if_equal, batch)
            cached = storage
        if if_equal is not None and stamp.generation == UNKNOWN and kvstore.transaction is None:
            return False
        if kvstore.transaction is None:
            cache_key = self._cache_key(key)
            if cached is None or not self._cache_pool.total_bytes_limit:
                self._cache_pool.discard(cache_key)
            else:
                cached = np.array(cached, copy=True) if cached.base is not None else cached
                cached.setflags(write=False)
                self._remember(cache_key, stamp.generation, time.time(), cached)
        return True

    # -- scheduling ------------------------------------------------------------------------------
    def _run_all(self, parts: list[Any], work: Callable[[Any], Any], result: Callable[[], Any]) -> Future[Any]:
        """Run ``work`` for every part on the data-copy pool; fail with the first error.

        ``work`` may return a Future (e.g. a kvstore write it started); the part counts as
        done when that completes.
        """
        future: Future[Any] = Future()
        if not parts:
            future._set_result(result())
            return future
        remaining = [len(parts)]
        lock = threading.Lock()

        def finished(done: Future[Any]) -> None:
            error = done.exception()
            if error is not None:
                future._set_exception(error)
                return
            inner = done.result()
            if isinstance(inner, Future):
                inner.add_done_callback(finished)
                return
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                future._set_result(result())

        if len(parts) == 1:
            from .._executor import run_inline

            run_inline(work, parts[0]).add_done_callback(finished)
            return future
        for part in parts:
            self._executor.submit(work, part).add_done_callback(finished)
        return future

