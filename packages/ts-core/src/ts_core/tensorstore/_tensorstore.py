"""TensorStore: a view (driver + index transform + transaction + mode) of an array.

Indexing composes the view's transform and touches no data; ``read`` and ``write`` hand
the transform to the driver, which reads or writes exactly the selected elements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._future import Future

if TYPE_CHECKING:
    from ..driver import Driver
    from ..index_space import IndexDomain, IndexTransform
    from ..kvstore import KvStore, Transaction

__all__ = ["COPY_SLAB_BYTES", "StorageStatistics", "TensorStore", "WriteFutures"]

#: A TensorStore-to-TensorStore copy moves at most about this many bytes at a time.
COPY_SLAB_BYTES = 64 << 20


def _dim0_slice(store: Any, start: int, stop: int) -> tuple[Any, ...]:
    """Rows ``[start, stop)`` (counted from the view's origin) of the first dimension."""
    origin = store.origin[0]
    return (slice(origin + start, origin + stop), ...)


class WriteFutures(Future[None]):
    """The outcome of a write: ``copy`` (source consumed) and ``commit`` (durable).

    Awaiting or calling ``result()`` waits for ``commit``, like tensorstore's WriteFutures.
    """

    __slots__ = ("copy",)

    def __init__(self, commit: Future[None]) -> None:
        super().__init__(commit)
        self.copy: Future[None] = self

    @property
    def commit(self) -> Future[None]:
        return self


class StorageStatistics:
    """Whether a region is stored: ``not_stored`` (nothing) / ``fully_stored`` (everything)."""

    __slots__ = ("fully_stored", "not_stored")

    def __init__(self, not_stored: bool | None = None, fully_stored: bool | None = None) -> None:
        self.not_stored = not_stored
        self.fully_stored = fully_stored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StorageStatistics):
            return NotImplemented
        return (self.not_stored, self.fully_stored) == (other.not_stored, other.fully_stored)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TensorStore.StorageStatistics(not_stored={self.not_stored}, fully_stored={self.fully_stored})"


_StorageStatistics = StorageStatistics


class _Indexer:
    __slots__ = ("_mode", "_store")

    def __init__(self, store: TensorStore, mode: str) -> None:
        self._store = store
        self._mode = mode

    def __getitem__(self, index: Any) -> TensorStore:
        transform = getattr(self._store._transform, self._mode)[index]
        return self._store._with_transform(transform)


class TensorStore:
    """An asynchronous view of a multi-dimensional array."""

    __slots__ = ("_driver", "_read", "_transaction", "_transform_value", "_write")

    StorageStatistics = StorageStatistics

    def __init__(
        self,
        driver: Driver,
        transform: IndexTransform | None = None,
        transaction: Transaction | None = None,
        read: bool = True,
        write: bool = True,
    ) -> None:
        self._driver = driver
        # None: the driver's own transform, asked for on first use (a lazy driver opens then)
        self._transform_value = transform
        self._transaction = transaction
        self._read = read
        self._write = write

    @property
    def _transform(self) -> IndexTransform:
        if self._transform_value is None:
            self._transform_value = self._driver.base_transform
        return self._transform_value

    def _with_transform(self, transform: IndexTransform) -> TensorStore:
        return TensorStore(self._driver, transform, self._transaction, self._read, self._write)

    # -- properties --------------------------------------------------------------------------
    @property
    def dtype(self) -> Any:
        return self._driver.data_type

    @property
    def domain(self) -> IndexDomain:
        return self._transform.domain

    @property
    def rank(self) -> int:
        return int(self._transform.input_rank)

    ndim = rank

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.domain.shape)

    @property
    def origin(self) -> tuple[int, ...]:
        return tuple(self.domain.origin)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.domain.labels)

    @property
    def transform(self) -> IndexTransform:
        return self._transform

    @property
    def transaction(self) -> Transaction | None:
        return self._transaction

    @property
    def kvstore(self) -> KvStore | None:
        return self._driver.kvstore

    @property
    def readable(self) -> bool:
        return self._read

    @property
    def writable(self) -> bool:
        return self._write

    @property
    def mode(self) -> str:
        return ("r" if self._read else "") + ("w" if self._write else "")

    @property
    def schema(self) -> Any:
        return self._driver.schema

    @property
    def chunk_layout(self) -> Any:
        return self.schema.chunk_layout

    @property
    def codec(self) -> Any:
        return self.schema.codec

    @property
    def fill_value(self) -> Any:
        return self.schema.fill_value

    @property
    def dimension_units(self) -> Any:
        return self.schema.dimension_units

    # -- indexing ----------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> TensorStore:
        return self._with_transform(self._transform[index])

    @property
    def oindex(self) -> _Indexer:
        return _Indexer(self, "oindex")

    @property
    def vindex(self) -> _Indexer:
        return _Indexer(self, "vindex")

    @property
    def T(self) -> TensorStore:
        return self._with_transform(self._transform.T)

    # -- I/O ----------------------------------------------------------------------------------
    def read(self, *, order: str = "C", batch: Any = None) -> Future[np.ndarray[Any, Any]]:
        """Read the view into a new NumPy array (``order`` 'C' or 'F')."""
        if not self._read:
            raise ValueError("this TensorStore was opened without read access")
        if order not in ("C", "F"):
            raise ValueError(f"order must be 'C' or 'F', got {order!r}")
        future = self._driver.read(self._transform, self._transaction)
        if order == "C":
            return future
        result: Future[np.ndarray[Any, Any]] = Future()

        def reorder(done: Future[np.ndarray[Any, Any]]) -> None:
            error = done.exception()
            if error is not None:
                result._set_exception(error)
            else:
                result._set_result(np.asfortranarray(done.result()))

        future.add_done_callback(reorder)
        return result

    def write(self, source: Any, *, batch: Any = None) -> WriteFutures:
        """Write ``source`` (array-like, scalar, or another TensorStore) to the view."""
        if not self._write:
            raise ValueError("this TensorStore was opened without write access")
        if isinstance(source, TensorStore):
            return self._copy_from(source)
        return self._write_array(source)

    def _write_array(self, source: Any) -> WriteFutures:
        if self._driver.data_type.name == "json":
            from ..driver.json import json_source_array

            return WriteFutures(self._driver.write(self._transform, json_source_array(source, self.shape), self._transaction))
        try:
            array = np.asarray(source, dtype=self._driver.numpy_dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot convert the source to {self._driver.numpy_dtype}: {exc}") from None
        try:
            array = np.broadcast_to(array, self.shape)
        except ValueError:
            raise ValueError(
                f"cannot broadcast the source of shape {array.shape} to the target shape {self.shape}"
            ) from None
        return WriteFutures(self._driver.write(self._transform, array, self._transaction))

    def _copy_from(self, source: TensorStore) -> WriteFutures:
        """Copy another TensorStore slab by slab, so memory stays bounded for any size."""
        from .._executor import run_inline

        if tuple(source.shape) != self.shape:
            raise ValueError(f"cannot copy a source of shape {tuple(source.shape)} to the target shape {self.shape}")

        def copy_now() -> None:
            shape = self.shape
            itemsize = max(self._driver.numpy_dtype.itemsize, source._driver.numpy_dtype.itemsize)
            if not shape or int(np.prod(shape)) * itemsize <= COPY_SLAB_BYTES:
                self._write_array(source.read().result()).result()
                return
            row_bytes = max(1, int(np.prod(shape[1:])) * itemsize)
            rows = max(1, COPY_SLAB_BYTES // row_bytes)
            chunk = self._dim0_chunk()
            if chunk and rows > chunk:
                rows -= rows % chunk  # whole chunks per slab: no read-modify-write
            for start in range(0, shape[0], rows):
                stop = min(shape[0], start + rows)
                source_slab = source[_dim0_slice(source, start, stop)]
                target_slab = self[_dim0_slice(self, start, stop)]
                target_slab._write_array(source_slab.read().result()).result()

        return WriteFutures(run_inline(copy_now))

    def _dim0_chunk(self) -> int:
        chunk = getattr(self._driver, "grid_chunk_shape", None)
        return int(chunk[0]) if chunk else 0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        array = self.read().result()
        return array if dtype is None else array.astype(dtype)

    # -- views ---------------------------------------------------------------------------------
    def with_transaction(self, transaction: Transaction | None) -> TensorStore:
        return TensorStore(self._driver, self._transform, transaction, self._read, self._write)

    def astype(self, dtype: Any) -> TensorStore:
        from .._adapters import cast

        return cast(self, dtype)

    def resize(
        self,
        inclusive_min: Any = None,
        exclusive_max: Any = None,
        resize_metadata_only: bool = False,
        resize_tied_bounds: bool = False,
        expand_only: bool = False,
        shrink_only: bool = False,
    ) -> Future[TensorStore]:
        """Change the array's bounds (upper bounds; lower bounds are fixed at the origin)."""
        from .._executor import run_inline

        def resize_now() -> TensorStore:
            resize_to = getattr(self._driver, "resize_to", None)
            if resize_to is None:
                raise NotImplementedError(f'the "{self._driver.id}" driver does not support resize')
            if not self._is_identity_view():
                raise NotImplementedError("resize is implemented for views that are the whole array (no indexing)")
            rank = self.rank
            if inclusive_min is not None:
                for dim, bound in enumerate(inclusive_min):
                    if bound is not None and bound != self.origin[dim]:
                        raise ValueError(f"inclusive_min[{dim}]: the lower bound {self.origin[dim]} cannot be changed")
            bounds = [None] * rank if exclusive_max is None else list(exclusive_max)
            if len(bounds) != rank:
                raise ValueError(f"exclusive_max has {len(bounds)} entries, expected {rank}")
            driver = resize_to(
                bounds, metadata_only=resize_metadata_only, expand_only=expand_only, shrink_only=shrink_only
            )
            return TensorStore(driver, None, self._transaction, self._read, self._write)

        return run_inline(resize_now)

    def storage_statistics(
        self, *, query_not_stored: bool = False, query_fully_stored: bool = False
    ) -> Future[_StorageStatistics]:
        """Whether the view's region has no stored chunks / only stored chunks."""
        from .._executor import run_inline

        def query() -> _StorageStatistics:
            present, total = self._driver.stored_chunk_counts(self._transform, self._transaction)
            return _StorageStatistics(
                not_stored=(present == 0) if query_not_stored else None,
                fully_stored=(present == total) if query_fully_stored else None,
            )

        return run_inline(query)

    def _is_identity_view(self) -> bool:
        transform = self._transform
        if transform.input_rank != transform.output_rank:
            return False
        for dim, output in enumerate(transform.output):
            if str(output.method).split(".")[-1] != "single_input_dimension":
                return False
            if output.input_dimension != dim or output.offset != 0 or output.stride != 1:
                return False
        return True

    def resolve(self, **kwargs: Any) -> Future[TensorStore]:
        """For a lazy TensorStore, open the base now; otherwise this view as it is."""
        from .._executor import run_inline

        def resolve_now() -> TensorStore:
            resolve = getattr(self._driver, "resolve", None)
            if resolve is not None:
                resolve()
            self._transform  # noqa: B018 - materialise the transform
            return self

        return run_inline(resolve_now)

    # -- spec -----------------------------------------------------------------------------------
    def spec(self, *, minimal: bool = False, retain_context: bool = False, **kwargs: Any) -> Any:
        from ..spec import Spec

        if self._transform_value is None and getattr(self._driver, "opened", True) is False:
            return Spec(self._driver.spec_json())  # an unopened lazy store: say no more than we know
        json_value = dict(self._driver.spec_json())
        json_value["dtype"] = self.dtype.name
        json_value["transform"] = self._transform.to_json()
        return Spec(dict(sorted(json_value.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        if self._transaction is not None:
            raise TypeError("a TensorStore bound to a transaction cannot be pickled")
        return (_reopen, (self.spec().to_json(), self._read, self._write))

    def __repr__(self) -> str:
        return f"TensorStore({self.spec().to_json()!r})"


def _reopen(json_value: dict[str, Any], read: bool, write: bool) -> TensorStore:
    from .._open import open as ts_open

    reopened: TensorStore = ts_open(json_value, read=read, write=write, open=True).result()
    return reopened
