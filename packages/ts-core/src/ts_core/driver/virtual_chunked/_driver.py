"""The ``virtual_chunked`` driver: an array whose chunks a Python function computes or stores.

The domain is cut into chunks of the chosen chunk layout; a read calls ``read_function``
once per chunk it touches (with the part of the chunk inside the domain), a write calls
``write_function`` per chunk, after reading the chunk first when only part of it is
written (conditioned on the generation read, retried if the function reports a
conflict by returning an unknown generation). Chunks of one operation run concurrently
on the ``data_copy_concurrency`` pool; coroutine functions run on the given event loop.

Chunks are cached in the ``cache_pool`` with the generation the function returned
(``None`` means "never changes"); a stale cached chunk is revalidated by calling
``read_function`` with ``if_not_equal``. In a transaction, each chunk is one key of a
small in-process kvstore (:class:`ChunkFunctionStore`), so the ordinary transaction
layer stages writes and calls ``write_function`` at commit.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future
from ..._validation import SpecError
from ...kvstore._driver import KvStoreDriver, ReadOptions, ReadResult
from ...kvstore._generation import UNKNOWN, TimestampedStorageGeneration
from .._driver import Driver
from .._open_options import staleness_bound

if TYPE_CHECKING:
    from ...context import Context
    from ...index_space import IndexDomain, IndexTransform
    from ...kvstore import Transaction

__all__ = ["ChunkFunctionStore", "PythonFunction", "VirtualChunkedDriver", "VirtualChunkedReadParameters", "VirtualChunkedWriteParameters"]

#: How often a partial-chunk write re-reads and retries after the write function reports a conflict.
_MAX_WRITE_RETRIES = 100
_MAX_INDEX = 2**62 - 1
_counter = itertools.count()


class VirtualChunkedReadParameters:
    """Options passed to a ``virtual_chunked`` read function."""

    __slots__ = ("_batch", "_if_not_equal", "_staleness_bound")
    _batch: Any
    _if_not_equal: bytes
    _staleness_bound: float

    def __init__(self) -> None:
        raise TypeError("ts.VirtualChunkedReadParameters: No constructor defined!")

    @classmethod
    def _make(cls, if_not_equal: bytes, staleness: float) -> VirtualChunkedReadParameters:
        params = object.__new__(cls)
        params._if_not_equal, params._staleness_bound, params._batch = if_not_equal, staleness, None
        return params

    @property
    def if_not_equal(self) -> bytes:
        """Cached generation: the read may report "unchanged" if the data still has it."""
        return self._if_not_equal

    @property
    def staleness_bound(self) -> float:
        """The read may be answered with data no older than this time."""
        return self._staleness_bound

    @property
    def batch(self) -> Any:
        return self._batch


class VirtualChunkedWriteParameters:
    """Options passed to a ``virtual_chunked`` write function."""

    __slots__ = ("_if_equal",)
    _if_equal: bytes

    def __init__(self) -> None:
        raise TypeError("ts.VirtualChunkedWriteParameters: No constructor defined!")

    @classmethod
    def _make(cls, if_equal: bytes) -> VirtualChunkedWriteParameters:
        params = object.__new__(cls)
        params._if_equal = if_equal
        return params

    @property
    def if_equal(self) -> bytes:
        """If non-empty, the write should happen only if the stored data has this generation."""
        return self._if_equal


class PythonFunction:
    """A user function inside spec JSON: copies of the spec share it (a deep copy would
    copy a bound method's object, and the view would then write to the copy)."""

    __slots__ = ("function",)
    function: Any

    def __init__(self, function: Any) -> None:
        self.function = function.function if isinstance(function, PythonFunction) else function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __deepcopy__(self, memo: Any) -> PythonFunction:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (PythonFunction, (self.function,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PythonFunction) and other.function == self.function

    def __hash__(self) -> int:
        return hash(self.function)

    def __repr__(self) -> str:
        return repr(self.function)


class ChunkFunctionStore(KvStoreDriver):
    """Chunks as kvstore keys (C-order element bytes), so transactions can stage them."""

    id = "virtual_chunked"
    supports_atomic_multi_key = False

    def __init__(self, owner: VirtualChunkedDriver) -> None:
        self._owner = owner

    @classmethod
    def open(cls, spec: Any, context: Context) -> ChunkFunctionStore:
        raise NotImplementedError("virtual chunks are not a kvstore one can open")

    @property
    def spec(self) -> Any:
        raise NotImplementedError("virtual chunks have no kvstore spec")

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        chunk, stamp = self._owner.read_chunk(_grid(key), options.staleness_bound)
        if options.if_not_equal and stamp.generation == options.if_not_equal:
            return ReadResult("unspecified", b"", stamp)  # unchanged (a commit revalidating a read)
        return ReadResult("value", chunk.tobytes(), stamp)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        owner = self._owner
        chunk = owner.fill_chunk() if value is None else np.frombuffer(value, owner.numpy_dtype).reshape(owner.chunk_shape)
        return owner.write_chunk(_grid(key), chunk, if_equal or b"")

    def delete_range(self, key_range: Any) -> None:
        raise NotImplementedError("virtual chunks cannot be deleted")

    def list(self, key_range: Any) -> list[bytes]:
        return []


def _key(grid: tuple[int, ...]) -> bytes:
    return ",".join(str(g) for g in grid).encode()


def _grid(key: bytes) -> tuple[int, ...]:
    return tuple(int(g) for g in key.decode().split(",")) if key else ()


class VirtualChunkedDriver(Driver):
    """Chunks are read and written by user functions (``ts.virtual_chunked``)."""

    id = "virtual_chunked"

    def __init__(
        self,
        read_function: Any,
        write_function: Any,
        numpy_dtype: np.dtype[Any],
        domain: IndexDomain,
        chunk_layout: Any,
        *,
        context: Context,
        loop: asyncio.AbstractEventLoop | None = None,
        dimension_units: Any = None,
        members: dict[str, Any] | None = None,
    ) -> None:
        from ...schema import ChunkLayout, choose_read_write_chunk_shape

        self._read_function = read_function
        self._write_function = write_function
        self._dtype = numpy_dtype
        self._domain = domain
        self._members = dict(members or {})
        self._dimension_units = dimension_units
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._loop = loop
        layout = chunk_layout if chunk_layout is not None else ChunkLayout()
        lower = [int(v) for v in domain.inclusive_min]
        upper = [int(v) for v in domain.exclusive_max]
        extents = [min(hi - lo, _MAX_INDEX) if abs(lo) < _MAX_INDEX else _MAX_INDEX for lo, hi in zip(lower, upper, strict=True)]
        try:
            self.chunk_shape = tuple(int(n) for n in choose_read_write_chunk_shape(layout, extents))
        except ValueError as exc:
            raise ValueError(f"Failed to compute chunk grid: {exc}") from None
        given_origin = layout.grid_origin
        self._grid_origin = tuple(
            int(given) if given is not None else (lo % n if abs(lo) < _MAX_INDEX else 0)
            for given, lo, n in zip(given_origin or [None] * len(lower), lower, self.chunk_shape, strict=True)
        )
        self._inner_order = tuple(layout.inner_order or range(len(lower)))
        self._executor = context.resource(
            "data_copy_concurrency", self._members.get("data_copy_concurrency"), "data_copy_concurrency"
        )
        self._cache = context.resource("cache_pool", self._members.get("cache_pool"), "cache_pool")
        self._staleness_option = self._members.get("recheck_cached_data", True)
        self._open_time = time.time()
        staleness_bound(self._staleness_option, self._open_time)  # checked now
        self._token = next(_counter)
        self._store = ChunkFunctionStore(self)

    @classmethod
    def from_spec(
        cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any
    ) -> VirtualChunkedDriver:
        from ...index_space import IndexDomain
        from .._constraints import constraints_from_spec

        read_function, write_function = json_value.get("read_function"), json_value.get("write_function")
        for name, function in (("read_function", read_function), ("write_function", write_function)):
            if function is not None and not callable(function):
                raise SpecError(name, f"expected a callable, but received {type(function).__name__}")
        read_function = None if read_function is None else PythonFunction(read_function)
        write_function = None if write_function is None else PythonFunction(write_function)
        constraints = constraints_from_spec(json_value)
        if constraints.fill_value is not None:
            raise ValueError("fill_value not supported")
        rank = constraints.rank if constraints.domain is None else constraints.domain.rank
        if rank is None:
            raise ValueError("rank must be specified")
        if constraints.dtype is None:
            raise ValueError("dtype must be specified")
        domain = constraints.domain if constraints.domain is not None else IndexDomain(rank)
        domain = IndexDomain(
            inclusive_min=list(domain.inclusive_min), exclusive_max=list(domain.exclusive_max), labels=list(domain.labels)
        )
        members: dict[str, Any] = {k: json_value[k] for k in ("data_copy_concurrency", "cache_pool", "recheck_cached_data") if k in json_value}
        return cls(
            read_function, write_function, constraints.dtype.numpy_dtype, domain, constraints.chunk_layout,
            context=context, dimension_units=constraints.dimension_units, members=members,
        )

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run coroutine functions on ``loop`` (not part of the spec: it does not pickle)."""
        self._loop = loop

    # -- description --------------------------------------------------------------------------
    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def domain(self) -> IndexDomain:
        return self._domain

    @property
    def chunk_layout(self) -> Any:
        from ...schema import ChunkLayout

        return ChunkLayout(
            grid_origin=list(self._grid_origin), inner_order=list(self._inner_order),
            read_chunk_shape=list(self.chunk_shape), write_chunk_shape=list(self.chunk_shape),
        )

    @property
    def schema(self) -> Any:
        from ...schema import Schema

        return Schema(dtype=self._dtype, domain=self._domain, chunk_layout=self.chunk_layout,
                      dimension_units=self._dimension_units)

    def spec_json(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"domain": self._domain.to_json(), "chunk_layout": self.chunk_layout.to_json()}
        if self._dimension_units is not None:
            schema["dimension_units"] = self._dimension_units
        json_value: dict[str, Any] = {"driver": "virtual_chunked", "schema": schema, **self._members}
        if self._read_function is not None:
            json_value["read_function"] = self._read_function
        if self._write_function is not None:
            json_value["write_function"] = self._write_function
        return json_value

    # -- one chunk ------------------------------------------------------------------------------
    def _cell_box(self, grid: tuple[int, ...]) -> tuple[list[int], list[int], tuple[slice, ...]]:
        """The chunk's part inside the domain: bounds, and its selection within the chunk."""
        lower, upper, selection = [], [], []
        for g, origin, size, lo, hi in zip(
            grid, self._grid_origin, self.chunk_shape, self._domain.inclusive_min, self._domain.exclusive_max, strict=True
        ):
            start = origin + g * size
            a, b = max(start, int(lo)), min(start + size, int(hi))
            lower.append(a)
            upper.append(b)
            selection.append(slice(a - start, b - start))
        return lower, upper, tuple(selection)

    def _cell_domain(self, lower: list[int], upper: list[int]) -> IndexDomain:
        from ...index_space import IndexDomain

        return IndexDomain(inclusive_min=lower, exclusive_max=upper, labels=list(self._domain.labels))

    def fill_chunk(self) -> np.ndarray[Any, Any]:
        """A new zero chunk laid out in memory in the chunk layout's ``inner_order`` (the
        functions see arrays in that layout, as in tensorstore)."""
        order = self._inner_order
        stored = np.zeros([self.chunk_shape[dim] for dim in order], dtype=self._dtype)
        return stored.transpose(np.argsort(order))

    def _laid_out(self, chunk: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        copy = self.fill_chunk()
        copy[...] = chunk
        return copy

    def _call(self, function: Any, *args: Any) -> TimestampedStorageGeneration | None:
        """Call a user function; await a coroutine on the loop, wait for a Future."""
        outcome = function(*args)
        if inspect.isawaitable(outcome):
            if self._loop is None:
                if inspect.iscoroutine(outcome):
                    outcome.close()
                raise ValueError("no event loop specified and thread does not have a default event loop")

            async def wait() -> Any:
                return await outcome

            outcome = asyncio.run_coroutine_threadsafe(wait(), self._loop).result()
        elif isinstance(outcome, Future):
            outcome = outcome.result()
        if outcome is not None and not isinstance(outcome, TimestampedStorageGeneration):
            raise TypeError(
                f"a virtual_chunked function must return None or a ts.KvStore.TimestampedStorageGeneration, "
                f"not {type(outcome).__name__}"
            )
        return outcome

    def read_chunk(self, grid: tuple[int, ...], staleness: float) -> tuple[np.ndarray[Any, Any], TimestampedStorageGeneration]:
        """A chunk's data and stamp: from the cache if fresh enough, else from ``read_function``."""
        if self._read_function is None:
            raise ValueError("Write-only virtual chunked view requires chunk-aligned writes")
        cache_key = (self._token, grid)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1].time >= staleness:
            return cached  # type: ignore[no-any-return]
        lower, upper, selection = self._cell_box(grid)
        chunk = self.fill_chunk()
        if_not_equal = cached[1].generation if cached is not None else b""
        params = VirtualChunkedReadParameters._make(if_not_equal, staleness if staleness != math.inf else time.time())
        stamp = self._call(self._read_function, self._cell_domain(lower, upper), chunk[selection], params)
        if stamp is None:
            stamp = TimestampedStorageGeneration(b"", math.inf)  # never changes: cache indefinitely
        elif stamp.generation == UNKNOWN and cached is not None:
            chunk = cached[0]  # unchanged since the cached read
            stamp = TimestampedStorageGeneration(cached[1].generation, stamp.time)
        chunk.setflags(write=False)
        self._cache.put(cache_key, (chunk, stamp), chunk.nbytes)
        return chunk, stamp

    def write_chunk(self, grid: tuple[int, ...], chunk: np.ndarray[Any, Any], if_equal: bytes) -> TimestampedStorageGeneration:
        """Store a whole chunk with ``write_function``; an unknown generation back means a conflict."""
        if self._write_function is None:
            raise ValueError("Writing not supported")
        lower, upper, selection = self._cell_box(grid)
        written = self._laid_out(chunk)
        written.setflags(write=False)
        params = VirtualChunkedWriteParameters._make(if_equal)
        stamp = self._call(self._write_function, self._cell_domain(lower, upper), written[selection], params)
        cache_key = (self._token, grid)
        if stamp is None:
            # Written for good: cache it as a read returning None would be; report a
            # generation that is not "unknown" (which would mean a conflict).
            self._cache.put(cache_key, (written, TimestampedStorageGeneration(b"", math.inf)), written.nbytes)
            return TimestampedStorageGeneration(b"\x01", math.inf)
        if stamp.generation == UNKNOWN:
            self._cache.discard(cache_key)
            # conditional: a conflict; unconditional: it cannot conflict, the version is unknown
            return stamp if if_equal else TimestampedStorageGeneration(b"\x01", stamp.time)
        self._cache.put(cache_key, (written, stamp), written.nbytes)
        return stamp

    # -- operations -------------------------------------------------------------------------------
    def _staleness(self) -> float:
        return staleness_bound(self._staleness_option, self._open_time)

    def _parts(self, transform: IndexTransform) -> list[Any]:
        """The per-chunk parts of an operation (IndexError for positions outside the domain)."""
        from ...index_space import output_index_bounds, partition_index_transform

        domain = transform.domain
        if any(lo >= hi for lo, hi in zip(domain.inclusive_min, domain.exclusive_max, strict=True)):
            return []
        bounds = self._domain
        for dim, (lo, hi) in enumerate(output_index_bounds(transform)):
            if lo < bounds.inclusive_min[dim] or hi >= bounds.exclusive_max[dim]:
                from ...errors import OutOfRangeError

                raise OutOfRangeError(f"{transform.domain} is outside the domain {bounds} in dimension {dim}")
        return list(partition_index_transform(transform, self.chunk_shape, self._grid_origin))

    def _run(self, parts: list[Any], work: Any, result: Any) -> Future[Any]:
        """Run ``work`` per part on the pool and complete with ``result()`` or the first error.
        Never on the caller's thread: a coroutine function may need the caller's event loop."""
        future: Future[Any] = Future()
        if not parts:
            future._set_result(result())
            return future
        remaining = [len(parts)]
        lock = threading.Lock()

        def finished(done: Future[Any]) -> None:
            error = done.exception()
            if error is not None:
                future._set_exception(error)  # the first error wins; later ones are ignored
                return
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                future._set_result(result())

        for part in parts:
            self._executor.submit(work, part).add_done_callback(finished)
        return future

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        try:
            if self._read_function is None:
                raise ValueError("Reading not supported")
            parts = self._parts(transform)
        except Exception as exc:
            failed: Future[Any] = Future()
            failed._set_exception(exc)
            return failed
        target = np.empty(tuple(int(n) for n in transform.domain.shape), dtype=self._dtype)
        staleness = self._staleness()

        def read_part(part: Any) -> None:
            if transaction is not None:
                result = transaction._read(self._store, _key(part.grid_indices), ReadOptions()).result()
                chunk = np.frombuffer(result.value, self._dtype).reshape(self.chunk_shape)
            else:
                chunk = self.read_chunk(part.grid_indices, staleness)[0]
            target[part.array_selection] = chunk[part.cell_selection]

        return self._run(parts, read_part, lambda: target)

    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        try:
            if self._write_function is None:
                raise ValueError("Writing not supported")
            parts = self._parts(transform)
            if transaction is not None and transaction.atomic and len(parts) > 1:
                # Refused before anything is staged, and the transaction fails as a whole.
                raise _poisoned(transaction, ValueError(
                    f"Cannot write to virtual chunk {self._describe_chunk(parts[1].grid_indices)} and write to "
                    f"virtual chunk {self._describe_chunk(parts[0].grid_indices)} as single atomic transaction"
                ))
        except Exception as exc:
            failed: Future[Any] = Future()
            failed._set_exception(exc)
            return failed

        def write_part(part: Any) -> None:
            grid = part.grid_indices
            values = np.array(source[part.array_selection], dtype=self._dtype)
            whole = self._covers(part)
            if transaction is not None:
                try:
                    self._stage(transaction, part, values, whole)
                except Exception as exc:
                    # In an atomic transaction a write staged in part would be a torn
                    # write at commit: fail the transaction instead (as tensorstore does).
                    if transaction.atomic:
                        raise _poisoned(transaction, exc) from None
                    raise
                return
            for _ in range(_MAX_WRITE_RETRIES):
                if whole:
                    chunk, if_equal = self.fill_chunk(), b""
                else:
                    stored, stamp = self.read_chunk(grid, -math.inf)
                    chunk, if_equal = stored.copy(), stamp.generation
                chunk[part.cell_selection] = values
                if self.write_chunk(grid, chunk, if_equal).generation != UNKNOWN:
                    return
            raise ValueError(f"write to virtual chunk {grid} lost {_MAX_WRITE_RETRIES} conflicts in a row")

        return self._run(parts, write_part, lambda: None)

    def _describe_chunk(self, grid: tuple[int, ...]) -> str:
        """A chunk as tensorstore's messages show it: ``{origin={2}, shape={2}}``."""
        lower, upper, _ = self._cell_box(grid)
        origin = ", ".join(str(v) for v in lower)
        shape = ", ".join(str(hi - lo) for lo, hi in zip(lower, upper, strict=True))
        return f"{{origin={{{origin}}}, shape={{{shape}}}}}"

    def _covers(self, part: Any) -> bool:
        """Whether a part writes every element of its chunk that lies in the domain."""
        _, _, selection = self._cell_box(part.grid_indices)
        mask = np.zeros(self.chunk_shape, dtype=bool)
        mask[part.cell_selection] = True
        return bool(mask[selection].all())

    def _stage(self, transaction: Transaction, part: Any, values: np.ndarray[Any, Any], whole: bool) -> None:
        key = _key(part.grid_indices)
        if whole:
            chunk = self.fill_chunk()
            chunk[part.cell_selection] = values
            transaction._write(self._store, key, chunk.tobytes(), None).result()
            return
        if self._read_function is None:
            raise ValueError("Write-only virtual chunked view requires chunk-aligned writes")
        selection = part.cell_selection

        def modify(stored: bytes | None) -> bytes:
            chunk = self.fill_chunk() if stored is None else np.frombuffer(stored, self._dtype).reshape(self.chunk_shape).copy()
            chunk[selection] = values
            return chunk.tobytes()

        transaction._modify(self._store, key, modify)


def _poisoned(transaction: Transaction, error: BaseException) -> BaseException:
    """Abort ``transaction`` because of ``error`` (so nothing it staged is committed, and
    later operations and the commit fail, as in tensorstore); returns ``error``.

    The transaction's ``future`` reports ``error`` itself.
    """
    if transaction.open:
        transaction.future._set_exception(error)  # first: abort's own error is then ignored
        transaction.abort()
    return error
