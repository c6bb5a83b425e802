"""TensorStore: a view (driver + index transform + transaction + mode) of an array.

Indexing composes the view's transform and touches no data; ``read`` and ``write`` hand
the transform to the driver, which reads or writes exactly the selected elements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._future import Future
from ..errors import OutOfRangeError
from ..index_space._mixin import Indexable
from ._futures import StorageStatistics, WriteFutures, failed, then
from ._write_source import align_shape, check_implicit_conversion, convert_array_source

if TYPE_CHECKING:
    from ..driver import Driver
    from ..index_space import IndexDomain, IndexTransform
    from ..kvstore import KvStore, Transaction

__all__ = ["COPY_SLAB_BYTES", "OutOfRangeError", "StorageStatistics", "TensorStore", "WriteFutures"]

#: A TensorStore-to-TensorStore copy moves at most about this many bytes at a time.
COPY_SLAB_BYTES = 64 << 20

_StorageStatistics = StorageStatistics




def _dim0_slice(store: Any, start: int, stop: int) -> tuple[Any, ...]:
    """Rows ``[start, stop)`` (counted from the view's origin) of the first dimension."""
    origin = store.origin[0]
    return (slice(origin + start, origin + stop), ...)


def _check_batch(batch: Any) -> Any:
    if batch is None:
        return None
    from .._batch import Batch

    if not isinstance(batch, Batch):
        raise TypeError(f"batch: expected ts.Batch or None, but received {type(batch).__name__}")
    return batch


def _out_of_range(call: Any, *args: Any) -> Any:
    """``call(*args)``, a bounds IndexError from the driver becoming a failed Future of
    ``OutOfRangeError`` (a ValueError), as tensorstore reports it."""
    try:
        return call(*args)
    except OutOfRangeError as exc:
        return failed(exc)
    except IndexError as exc:
        return failed(OutOfRangeError(f"OUT_OF_RANGE: {exc}"))


class _SettableIndexer:
    """``store.oindex[...]`` / ``store.vindex[...]``: views, and blocking assignment."""

    __slots__ = ("_mode", "_store")

    def __init__(self, store: TensorStore, mode: str) -> None:
        self._store = store
        self._mode = mode

    def __getitem__(self, index: Any) -> TensorStore:
        from ..index_space._indexing import apply_index

        return self._store._with_index_transform(apply_index(self._store._transform, index, self._mode))

    def __setitem__(self, index: Any, source: Any) -> None:
        self[index].write(source).result()


class TensorStore(Indexable):
    """An asynchronous view of a multi-dimensional array."""

    __slots__ = ("_driver", "_read", "_transaction", "_transform_value", "_write")

    StorageStatistics = StorageStatistics

    #: Not iterable, as in tensorstore (integer indexing would never stop at implicit bounds).
    __iter__ = None

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

    # Indexable hooks: [], oindex, vindex, T, transpose, translate_*, label, mark_bounds_implicit
    def _index_transform(self) -> IndexTransform:
        return self._transform

    def _with_index_transform(self, transform: IndexTransform) -> TensorStore:
        return self._with_transform(transform)

    # -- properties --------------------------------------------------------------------------
    @property
    def dtype(self) -> Any:
        from .._dtype import dtype

        named = getattr(self._driver, "ts_dtype", None)
        if named is not None:
            return named
        numpy_dtype = self._driver.numpy_dtype
        # NumPy object arrays hold JSON values unless an adapter says otherwise, as in tensorstore.
        return dtype("json") if numpy_dtype.kind == "O" else dtype(numpy_dtype)

    @property
    def domain(self) -> IndexDomain:
        return self._transform.domain

    @property
    def rank(self) -> int:
        return int(self._transform.input_rank)

    @property
    def ndim(self) -> int:
        return self.rank

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.domain.shape)

    @property
    def size(self) -> int:
        """The number of elements in the domain."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

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
        """The kvstore holding the array (with the context it was opened in); None if none."""
        kvstore = self._driver.kvstore
        if kvstore is None:
            base = self.base  # an adapter stores what its base stores
            return None if base is None else base.kvstore
        if self._transaction is None:
            return kvstore
        return kvstore.with_transaction(self._transaction)

    @property
    def base(self) -> TensorStore | None:
        """The TensorStore an adapter (``cast``, ``downsample``) reads from; None otherwise."""
        from ._spec_json import base_view

        found = base_view(self._driver, self._transform)
        if found is None:
            return None
        driver, transform = found
        return TensorStore(driver, transform, self._transaction, self._read, self._write)

    @property
    def url(self) -> str:
        """The URL form of the store's spec (``"memory://|zarr3:"``); NotImplementedError
        for drivers without one, as in tensorstore."""
        from ._spec_json import driver_url

        return driver_url(self.spec(minimal_spec=True).to_json())

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
        """The driver's schema seen through this view: a transposed, translated, strided or
        sliced view reports its own domain, chunk layout and units (as tensorstore's)."""
        base = self._driver.schema
        transform = self._transform_value
        if transform is None or base.rank is None or transform == self._driver.base_transform:
            return base
        from ..schema._schema import transform_schema

        viewed = transform_schema(base, transform)
        viewed._domain = transform.domain  # the view's own bounds and implicitness
        return viewed

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
    @property
    def oindex(self) -> _SettableIndexer:  # type: ignore[override]
        return _SettableIndexer(self, "oindex")

    @property
    def vindex(self) -> _SettableIndexer:  # type: ignore[override]
        return _SettableIndexer(self, "vindex")

    def __setitem__(self, index: Any, source: Any) -> None:
        """``store[index] = source``: ``store[index].write(source).result()``."""
        self[index].write(source).result()

    # -- I/O ----------------------------------------------------------------------------------
    def read(self, *, order: str = "C", batch: Any = None) -> Future[np.ndarray[Any, Any]]:
        """Read the view into a new NumPy array (``order`` 'C' or 'F'); with ``batch``, the
        read starts when the batch is submitted, sharing chunk reads with its other reads."""
        if order not in ("C", "F"):
            raise TypeError("`order` must be specified as 'C' or 'F'")
        batch = _check_batch(batch)
        if not self._read:
            raise ValueError("Source does not support reading (the TensorStore was opened without read access)")
        if batch is not None:
            return batch._defer(lambda: self._read_now(order))  # type: ignore[no-any-return]
        return self._read_now(order)

    def _read_now(self, order: str) -> Future[np.ndarray[Any, Any]]:
        future: Future[np.ndarray[Any, Any]] = _out_of_range(self._driver.read, self._transform, self._transaction)
        if order == "C":
            return future
        return then(future, np.asfortranarray)

    def write(self, source: Any, *, batch: Any = None, can_reference_source_data_indefinitely: bool | None = None) -> WriteFutures:
        """Write ``source`` (array-like, scalar, or another TensorStore) to the view; with
        ``batch`` (TensorStore sources only), the source is read as part of the batch."""
        batch = _check_batch(batch)
        if not self._write:
            raise ValueError("Destination does not support writing (the TensorStore was opened without write access)")
        if isinstance(source, TensorStore):
            return self._copy_from(source, batch)
        if batch is not None:
            raise ValueError("Invalid batch: batch can only be specified when copying from a TensorStore source")
        return self._write_array(source)

    def _target_dtype(self) -> np.dtype[Any]:
        numpy_dtype: np.dtype[Any] = self._driver.numpy_dtype
        return numpy_dtype

    def _write_array(self, source: Any) -> WriteFutures:
        numpy_dtype = self._driver.numpy_dtype
        if (
            type(source) is np.ndarray
            and source.dtype == numpy_dtype
            and numpy_dtype.kind != "O"
            and source.shape == self._transform._domain.shape
        ):
            # The common call (an array of the stored type and of the view's shape) skips the
            # conversion and the broadcast. The driver gets a read-only view, as from the
            # broadcast: a driver may keep an array it is given that has no base.
            array = source.view()
            array.flags.writeable = False
            return WriteFutures(_out_of_range(self._driver.write, self._transform, array, self._transaction))
        if self.dtype.name == "json":
            from ..driver.json import json_source_array

            # As in tensorstore, nesting beyond the rank belongs to the JSON values.
            array = json_source_array(source, self.shape)
        else:
            array = convert_array_source(source, self._target_dtype(), self.rank)
        try:
            shape = align_shape(array.shape, self.domain)
        except ValueError as exc:
            raise ValueError(
                f"{exc} (cannot broadcast the source of shape {array.shape} to the target shape {self.shape})"
            ) from None
        array = np.broadcast_to(array.reshape(shape), self.shape)
        return WriteFutures(_out_of_range(self._driver.write, self._transform, array, self._transaction))

    def _copy_from(self, source: TensorStore, batch: Any) -> WriteFutures:
        """Copy another TensorStore, slab by slab so memory stays bounded for any size
        (whole-source reads when the source broadcasts or is read in a batch)."""
        from .._executor import run_inline

        check_implicit_conversion(source.dtype, self.dtype)
        try:
            source_shape = align_shape(source.shape, self.domain, source.domain)
        except ValueError as exc:
            raise ValueError(
                f"{exc} (cannot copy a source of shape {tuple(source.shape)} to the target shape {self.shape})"
            ) from None
        if batch is not None or source_shape != self.shape:
            return self._copy_whole(source, source_shape, batch)

        def copy_now() -> None:
            shape = self.shape
            itemsize = max(self._target_dtype().itemsize, source._driver.numpy_dtype.itemsize)
            if not shape or int(np.prod(shape)) * itemsize <= COPY_SLAB_BYTES:
                self._write_array(source.read().result().astype(self._target_dtype(), copy=False)).result()
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
                target_slab._write_array(source_slab.read().result().astype(self._target_dtype(), copy=False)).result()

        return WriteFutures(run_inline(copy_now))

    def _copy_whole(self, source: TensorStore, source_shape: tuple[int, ...], batch: Any) -> WriteFutures:
        """Read all of ``source`` (in ``batch``, if any), then write it broadcast."""
        commit: Future[None] = Future()

        def settle(done: Future[Any]) -> None:
            error = done.exception()
            if error is not None:
                commit._set_exception(error)
            else:
                commit._set_result(None)

        def write_read(array: np.ndarray[Any, Any]) -> None:
            converted = array.astype(self._target_dtype(), copy=False).reshape(source_shape)
            self._write_array(converted).commit.add_done_callback(settle)

        copy = then(source.read(batch=batch), write_read)
        copy.add_done_callback(lambda done: settle(done) if done.exception() is not None else None)
        return WriteFutures(commit, copy)

    def _dim0_chunk(self) -> int:
        chunk = getattr(self._driver, "grid_chunk_shape", None)
        return int(chunk[0]) if chunk else 0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        array = self.read().result()
        return array if dtype is None else array.astype(dtype)

    # -- views ---------------------------------------------------------------------------------
    def with_transaction(self, transaction: Transaction | None) -> TensorStore:
        """This view bound to ``transaction`` (or to none)."""
        if transaction is not None:
            from ..kvstore import Transaction

            if not isinstance(transaction, Transaction):
                raise TypeError(
                    f"transaction: expected ts.Transaction or None, but received {type(transaction).__name__}"
                )
        current = self._transaction
        if current is not None and not current.commit_started:
            # As tensorstore: a view's staged writes must not be split from their transaction.
            raise ValueError("Cannot rebind transaction when existing transaction is uncommitted")
        return TensorStore(self._driver, self._transform, transaction, self._read, self._write)

    def astype(self, dtype: Any) -> TensorStore:
        """A read/write view converting elements to ``dtype`` (tensorstore's ``cast``)."""
        from .._dtype import to_dtype
        from ._object_cast import OBJECT_TYPES, ObjectCastDriver, check_convertible

        target = to_dtype(dtype)
        source = self.dtype
        if target.name in OBJECT_TYPES or source.name in OBJECT_TYPES:
            check_convertible(source, target)
            driver = ObjectCastDriver(self._driver, target, source)
            return TensorStore(driver, self._transform, self._transaction, self._read, self._write)
        from .._adapters import cast

        view: TensorStore = cast(self, target)
        return view

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
            domain = self.domain
            # As tensorstore: only implicit bounds of the view may be resized.
            if inclusive_min is not None:
                for dim, bound in enumerate(inclusive_min):
                    if bound is None:
                        continue
                    if not domain[dim].implicit_lower:
                        raise ValueError(
                            f"Invalid resize request for input dimension {dim}: Cannot change explicit lower bound"
                        )
                    if bound != self.origin[dim]:
                        raise ValueError(f"inclusive_min[{dim}]: the lower bound {self.origin[dim]} cannot be changed")
            bounds = [None] * rank if exclusive_max is None else list(exclusive_max)
            if len(bounds) != rank:
                raise ValueError(f"exclusive_max has {len(bounds)} entries, expected {rank}")
            whole = self._driver.domain
            for dim, bound in enumerate(bounds):
                if bound is None:
                    continue
                if not domain[dim].implicit_upper:
                    raise ValueError(
                        f"Invalid resize request for input dimension {dim}: Cannot change explicit upper bound"
                    )
                if not resize_tied_bounds and domain[dim].inclusive_min > whole[dim].inclusive_min:
                    raise ValueError(
                        f"resize of input dimension {dim} would also affect the array over "
                        f"[{whole[dim].inclusive_min}, {domain[dim].inclusive_min}) outside the view, "
                        "but `resize_tied_bounds` was not specified"
                    )
            driver = resize_to(
                bounds, metadata_only=resize_metadata_only, expand_only=expand_only, shrink_only=shrink_only
            )
            resized = TensorStore(driver, None, self._transaction, self._read, self._write)
            # The result keeps the view's explicit bounds; implicit upper bounds follow the array.
            kept = tuple(
                slice(dim.inclusive_min, None if dim.implicit_upper else dim.exclusive_max) for dim in domain
            )
            if any(
                part.start != new.inclusive_min or part.stop is not None
                for part, new in zip(kept, resized.domain, strict=True)
            ):
                resized = resized[kept]
            return resized

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
            refresh = getattr(self._driver, "refresh_metadata", None)
            if refresh is None or self._transform_value is None:
                self._transform  # noqa: B018 - materialise the transform
                return self
            refresh()  # picks up a resize, by this process or another
            transform = _with_resolved_bounds(self._transform, self._driver.domain)
            return self._with_transform(transform)

        return run_inline(resolve_now)

    # -- spec -----------------------------------------------------------------------------------
    def _spec_json(self) -> dict[str, Any]:
        view_spec_json = getattr(self._driver, "view_spec_json", None)
        if view_spec_json is not None:  # the array driver folds the view into its array
            folded: dict[str, Any] = view_spec_json(self._transform)
            return folded
        json_value = dict(self._driver.spec_json())
        json_value["dtype"] = self.dtype.name
        json_value["transform"] = self._transform.to_json()
        return json_value

    def spec(self, **options: Any) -> Any:
        """A ``ts.Spec`` that reopens this view; options as tensorstore's (``minimal_spec``
        leaves out the metadata, ``unbind_context``/``retain_context`` add the context
        resources the store is bound to, open-mode and recheck options are recorded)."""
        from ..spec import Spec
        from ._spec_json import apply_spec_options

        if self._transform_value is None and getattr(self._driver, "opened", True) is False:
            return Spec(self._driver.spec_json())  # an unopened lazy store: say no more than we know
        spec = Spec(apply_spec_options(self._spec_json(), self._driver, options))
        if options.get("retain_context") and not options.get("unbind_context"):
            from ._spec_json import driver_context

            # Bound to the store's own resources, as tensorstore's retain_context binds them.
            spec = Spec._from_normalized(spec._json, driver_context(self._driver))
        return spec

    def __reduce__(self) -> tuple[Any, ...]:
        if self._transaction is not None:
            raise TypeError("a TensorStore bound to a transaction cannot be pickled")
        from ._spec_json import apply_spec_options, driver_context

        if self._transform_value is None and getattr(self._driver, "opened", True) is False:
            spec_json = self.spec().to_json()  # an unopened lazy store
        else:
            # What ``self.spec().to_json()`` gives, without parsing it into a Spec first (a
            # pickle is made per Dask task; the parse was three quarters of its cost), as
            # unpickling parses it anyway.
            spec_json = apply_spec_options(self._spec_json(), self._driver, {})
        # The Context travels as an object: stores pickled together share one unpickled
        # Context (its resources' specs, e.g. cache_pool limits, and so one memory store).
        return (_reopen, (spec_json, self._read, self._write, driver_context(self._driver)))

    def __repr__(self) -> str:
        from ..schema._pretty import pretty_repr

        try:
            spec_json = self.spec(unbind_context=True).to_json()
        except ValueError:
            return "TensorStore(...)"  # no spec describes this view; tensorstore's repr says so too
        return pretty_repr("TensorStore(", spec_json)


def _reopen(json_value: dict[str, Any], read: bool, write: bool, context: Any = None) -> TensorStore:
    from .._open import open as ts_open

    # As tensorstore's unpickling (open mode assume_cached_metadata): the pickle carries
    # the array's metadata, so reopening reads nothing from storage. A Dask task that
    # unpickles the store costs no metadata read (a request each on cloud storage), and
    # a memory store, new and empty after unpickling, opens with that metadata unwritten.
    # Operations that depend on the stored metadata (resize) still re-read it. Adapters
    # (cast, downsample, stack layers) carry their arrays' metadata nested: each nested
    # spec that has metadata is marked, as the open options reach only the top one.
    options = {"assume_cached_metadata": True} if "metadata" in json_value else {}
    reopened: TensorStore = ts_open(
        _assume_cached_metadata(json_value), read=read, write=write, open=True, context=context, **options
    ).result()
    return reopened


def _assume_cached_metadata(json_value: dict[str, Any]) -> dict[str, Any]:
    """``json_value`` with ``assume_cached_metadata`` set in every nested driver spec
    (``base``, ``layers``) that carries ``metadata`` (the top one takes it as an option)."""
    marked = dict(json_value)
    base = marked.get("base")
    if isinstance(base, dict) and "driver" in base:
        marked["base"] = _mark_cached(base)
    layers = marked.get("layers")
    if isinstance(layers, list):
        marked["layers"] = [
            _mark_cached(layer) if isinstance(layer, dict) and "driver" in layer else layer for layer in layers
        ]
    return marked


def _mark_cached(json_value: dict[str, Any]) -> dict[str, Any]:
    marked = _assume_cached_metadata(json_value)
    if "metadata" in marked and not {"open", "create", "assume_metadata"} & marked.keys():
        marked["assume_cached_metadata"] = True
    return marked


def _with_resolved_bounds(transform: IndexTransform, domain: IndexDomain) -> IndexTransform:
    """``transform`` with each implicit input bound replaced by the bound the array's current
    ``domain`` implies through a ``single_input_dimension`` map of stride 1 or -1 (as
    tensorstore's ``resolve`` updates resizable bounds); explicit bounds stay as they are."""
    from ..index_space import IndexTransform as Transform

    json_value = transform.to_json()
    rank = transform.input_rank
    lower = list(json_value.get("input_inclusive_min", [[-(2**62) + 1]] * rank))
    upper = list(json_value.get("input_exclusive_max", [[2**62]] * rank))
    outputs = json_value.get("output") or [{"input_dimension": d} for d in range(rank)]
    changed = False
    for out_dim, output in enumerate(outputs):
        if "input_dimension" not in output or "index_array" in output:
            continue
        stride = int(output.get("stride", 1))
        offset = int(output.get("offset", 0))
        in_dim = int(output["input_dimension"])
        if stride not in (1, -1):
            continue
        new_lo, new_hi = int(domain.inclusive_min[out_dim]), int(domain.exclusive_max[out_dim])
        lower_implicit = domain.implicit_lower_bounds[out_dim]
        upper_implicit = domain.implicit_upper_bounds[out_dim]
        if stride == 1:
            in_lo, in_hi = new_lo - offset, new_hi - offset
        else:  # reversed: the input's lower bound comes from the array's upper bound
            in_lo, in_hi = offset - new_hi + 1, offset - new_lo + 1
            lower_implicit, upper_implicit = upper_implicit, lower_implicit
        if isinstance(lower[in_dim], list) and lower_implicit:
            lower[in_dim] = [in_lo]
            changed = True
        if isinstance(upper[in_dim], list) and upper_implicit:
            upper[in_dim] = [in_hi]
            changed = True
    if not changed:
        return transform
    json_value["input_inclusive_min"] = lower
    json_value["input_exclusive_max"] = upper
    return Transform(json=json_value)
