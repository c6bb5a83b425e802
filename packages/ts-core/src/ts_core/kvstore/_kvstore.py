"""KvStore: the user-facing handle (driver + path + transaction) returning Futures."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .._executor import run_inline
from .._future import Future
from ..context import Context
from ._driver import ByteRange, ByteRangesReadResult, KvStoreDriver, ReadOptions
from ._driver import ReadResult as _ReadResult
from ._generation import TimestampedStorageGeneration as _Stamp
from ._generation import normalize_generation
from ._key_range import KeyRange as _KeyRange
from ._key_range import as_key_bytes
from ._spec import KvStoreSpec, join_path

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._transaction import Transaction

__all__ = ["KvStore", "byte_range_from_slice"]


def byte_range_from_slice(byte_range: Any) -> ByteRange:
    """``slice(a, b)`` (or ``(a, b)``) -> ByteRange; steps are not allowed."""
    if byte_range is None:
        return ByteRange()
    if isinstance(byte_range, ByteRange):
        return byte_range
    if isinstance(byte_range, tuple) and len(byte_range) == 2:
        byte_range = slice(*byte_range)
    if not isinstance(byte_range, slice) or byte_range.step not in (None, 1):
        raise TypeError(f"byte_range: expected slice(start, stop), but received {byte_range!r}")
    start = 0 if byte_range.start is None else int(byte_range.start)
    stop = None if byte_range.stop is None else int(byte_range.stop)
    if stop is not None and (stop < 0 or start < 0):
        raise ValueError(f"byte_range: invalid {byte_range!r}: a negative start takes no stop")
    return ByteRange(start, stop)


class KvStore:
    """An open key-value store. Keys are appended (without separator) to ``path``."""

    Spec = KvStoreSpec
    KeyRange = _KeyRange
    ReadResult = _ReadResult
    TimestampedStorageGeneration = _Stamp

    __slots__ = ("_context", "_driver", "_path", "_transaction")

    def __init__(
        self,
        driver: KvStoreDriver,
        path: str = "",
        transaction: Transaction | None = None,
        context: Context | None = None,
    ) -> None:
        driver.check_path(path)
        self._driver = driver
        self._path = path
        self._transaction = transaction
        self._context = context

    # -- opening ------------------------------------------------------------------------
    @staticmethod
    def open(
        spec: KvStoreSpec | Any,
        *,
        context: Context | None = None,
        transaction: Transaction | None = None,
    ) -> Future[KvStore]:
        """Open a kvstore from a spec, its JSON or its URL."""
        spec = spec if isinstance(spec, KvStoreSpec) else KvStoreSpec(spec)
        if context is not None and not isinstance(context, Context):
            raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
        return run_inline(_open_now, spec, context, transaction)

    # -- properties ------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"path: expected str, but received {type(value).__name__}")
        self._driver.check_path(value)
        self._path = value

    @property
    def url(self) -> str:
        return type(self._driver).url_for(self._driver.spec, self._path)

    @property
    def transaction(self) -> Transaction | None:
        return self._transaction

    @property
    def base(self) -> KvStore | None:
        """The underlying kvstore of an adapter (``zip``); ``None`` for a root driver."""
        return self._driver.base_kvstore

    def spec(self, *, retain_context: bool | None = None, unbind_context: bool | None = None) -> KvStoreSpec:
        """A spec that reopens this store. ``unbind_context`` spells out the resources it
        uses under ``context``; ``retain_context`` also keeps them bound (shared)."""
        from ..plugin import get_registry

        record = get_registry().get("kvstore", self._driver.id)
        spec = KvStoreSpec._from_parts(record, self._driver.spec, self._path, None)
        if self._context is None:
            return spec
        if unbind_context:
            spec = KvStoreSpec(spec._unbound_json(self._context))
        elif retain_context:
            spec._bound = self._context
        return spec

    def copy(self) -> KvStore:
        return KvStore(self._driver, self._path, self._transaction, self._context)

    def with_transaction(self, transaction: Transaction | None) -> KvStore:
        """This store bound to ``transaction`` (or unbound, for None)."""
        if transaction is not None:
            from ._transaction import Transaction

            if not isinstance(transaction, Transaction):
                raise TypeError(
                    f"transaction: expected ts.Transaction or None, but received {type(transaction).__name__}"
                )
        return KvStore(self._driver, self._path, transaction, self._context)

    def __truediv__(self, component: str) -> KvStore:
        return KvStore(self._driver, join_path(self._path, component), self._transaction, self._context)

    def __add__(self, suffix: str) -> KvStore:
        return KvStore(self._driver, self._path + suffix, self._transaction, self._context)

    @property
    def driver(self) -> KvStoreDriver:
        """The kvstore driver behind this KvStore (for plugins that build on a kvstore;
        a ts extension)."""
        return self._driver

    @property
    def context(self) -> Context | None:
        """The context the kvstore was opened with (a ts extension)."""
        return self._context

    # -- I/O ---------------------------------------------------------------------------
    def _full_key(self, key: Any) -> bytes:
        relative = key.encode("utf-8") if type(key) is str and key.isascii() else as_key_bytes(key)
        self._driver.check_key(self._path, relative)
        return self._path.encode("utf-8") + relative

    def _full_range(self, range: _KeyRange) -> _KeyRange:
        self._driver.check_key_range(self._path, range)
        return range.with_prefix(self._path.encode("utf-8"))

    def _submit(self, function: Any, *args: Any) -> Future[Any]:
        executor = self._driver.executor
        return run_inline(function, *args) if executor is None else executor.submit(function, *args)

    def read(
        self,
        key: str | bytes,
        *,
        if_not_equal: str | bytes | None = None,
        staleness_bound: float | None = None,
        batch: Any = None,
        byte_range: slice | None = None,
    ) -> Future[_ReadResult]:
        """Read one key; a missing key gives ``state='missing'``, not an error. With a
        ``ts.Batch``, the read starts when the batch is submitted (identical reads once)."""
        full_key = self._full_key(key)
        options = ReadOptions(
            if_not_equal=normalize_generation(if_not_equal, "if_not_equal"),
            staleness_bound=_staleness(staleness_bound),
            byte_range=byte_range_from_slice(byte_range),
        )
        if batch is not None:
            defer = getattr(batch, "_defer", None)
            if defer is None:
                raise TypeError(f"batch: expected ts.Batch or None, but received {type(batch).__name__}")
            share = (id(self._driver), full_key, options, id(self._transaction))
            return defer(lambda: self._read_now(full_key, options), share)  # type: ignore[no-any-return]
        return self._read_now(full_key, options)

    def _read_now(self, full_key: bytes, options: ReadOptions) -> Future[_ReadResult]:
        if self._transaction is not None:
            return self._transaction._read(self._driver, full_key, options)
        return self._submit(self._driver.read, full_key, options)

    def read_blocking(self, key: str | bytes, if_not_equal: bytes | None = None) -> _ReadResult:
        """Read and wait; local drivers are called on this thread (no executor hop).

        The synchronous access drivers use from their worker threads (a ts extension).
        """
        if self._transaction is None and self._driver.local_io:
            return self._driver.read(self._full_key(key), ReadOptions(if_not_equal=if_not_equal))
        return self.read(key, if_not_equal=if_not_equal).result()

    def read_byte_ranges_blocking(self, key: str | bytes, ranges: Sequence[tuple[int, int]]) -> ByteRangesReadResult:
        """The bytes ``[start, stop)`` of each of ``ranges`` of ``key``, concatenated, all
        from one version of the value (``KvStoreDriver.read_byte_ranges``); local drivers
        are called on this thread. In a transaction, cut from the value the transaction
        reads. A ts extension for drivers that need a few pieces of a large value."""
        full_key = self._full_key(key)
        for i, item in enumerate(ranges):
            if not (isinstance(item, tuple | list) and len(item) == 2
                    and all(isinstance(end, int) and not isinstance(end, bool) for end in item)):
                raise TypeError(f"ranges[{i}]: expected a (start, stop) pair of ints, got {item!r}")
        if self._transaction is None:
            if self._driver.local_io:
                return self._driver.read_byte_ranges(full_key, ranges)
            return self._submit(self._driver.read_byte_ranges, full_key, ranges).result()  # type: ignore[no-any-return]
        whole = self._transaction._read(self._driver, full_key, ReadOptions()).result()
        if whole.state != "value":
            return ByteRangesReadResult("missing", b"", whole.stamp)
        pieces = []
        for start, stop in ranges:
            ByteRange(start, stop).resolve(len(whole.value), full_key)
            pieces.append(whole.value[start:stop])
        return ByteRangesReadResult("value", b"".join(pieces), whole.stamp, len(whole.value))

    def write_blocking(
        self, key: str | bytes, value: bytes | None, if_equal: bytes | None = None, batch: Any = None
    ) -> _Stamp:
        """Write and wait; local drivers are called on this thread (no executor hop).

        ``batch`` (from ``driver.write_batch()``, local drivers only) defers the write's
        remaining durability work to ``batch.finish()``. A ts extension for drivers.
        """
        if batch is not None:
            return batch.write(self._full_key(key), value, if_equal)  # type: ignore[no-any-return]
        if self._transaction is None and self._driver.local_io:
            return self._driver.write(self._full_key(key), value, if_equal)
        return self.write(key, value, if_equal=if_equal).result()

    def write(
        self, key: str | bytes, value: str | bytes | None, *, if_equal: str | bytes | None = None
    ) -> Future[_Stamp]:
        """Write (``None`` deletes); a failed ``if_equal`` yields an unknown (``b''``) generation."""
        full_key = self._full_key(key)
        data = value if value is None or type(value) is bytes else as_key_bytes(value, "value")
        condition = None if if_equal is None else normalize_generation(if_equal, "if_equal")
        if self._transaction is not None:
            return self._transaction._write(self._driver, full_key, data, condition)
        return self._submit(self._driver.write, full_key, data, condition)

    def delete(self, key: str | bytes, *, if_equal: str | bytes | None = None) -> Future[_Stamp]:
        """Delete one key (the same as ``write(key, None)``)."""
        return self.write(key, None, if_equal=if_equal)

    def delete_range(self, range: _KeyRange) -> Future[None]:
        """Delete every key in ``range`` (relative to ``path``)."""
        if not isinstance(range, _KeyRange):
            raise TypeError(f"range: expected KvStore.KeyRange, but received {type(range).__name__}")
        full_range = self._full_range(range)
        if self._transaction is not None:
            return self._transaction._delete_range(self._driver, full_range)
        return self._submit(self._driver.delete_range, full_range)

    def list(self, range: _KeyRange | None = None, strip_prefix_length: int = 0) -> Future[list[bytes]]:
        """Sorted keys in ``range`` (relative to ``path``), each minus its first ``strip_prefix_length`` bytes."""
        if range is not None and not isinstance(range, _KeyRange):
            raise TypeError(f"range: expected KvStore.KeyRange, but received {type(range).__name__}")
        if strip_prefix_length < 0:
            raise TypeError(f"strip_prefix_length must be >= 0, got {strip_prefix_length}")
        prefix = self._path.encode("utf-8")
        full_range = self._full_range(range or _KeyRange())
        strip = len(prefix) + strip_prefix_length

        def list_now() -> list[bytes]:
            if self._transaction is not None:
                keys = self._transaction._list(self._driver, full_range)
            else:
                keys = self._driver.list(full_range)
            return sorted(key[strip:] for key in keys)

        return self._submit(list_now)

    def experimental_copy_range_to(
        self,
        target: KvStore,
        source_range: _KeyRange | None = None,
        source_staleness_bound: float | None = None,
        *,
        source_inclusive_min: str | bytes | None = None,
        source_exclusive_max: str | bytes | None = None,
    ) -> Future[None]:
        """Copy every key in ``source_range`` (relative to ``path``; all keys by default) to
        the same relative key of ``target`` (tensorstore's experimental API).

        ``source_inclusive_min``/``source_exclusive_max`` are another spelling of the range
        (a ts extension). With a transaction bound to ``target`` the writes are staged in it.
        """
        if not isinstance(target, KvStore):
            raise TypeError(f"target: expected ts.KvStore, but received {type(target).__name__}")
        if source_range is not None and not isinstance(source_range, _KeyRange):
            raise TypeError(
                f"source_range: expected KvStore.KeyRange, but received {type(source_range).__name__}"
            )
        if source_inclusive_min is not None or source_exclusive_max is not None:
            if source_range is not None:
                raise TypeError("give source_range or source_inclusive_min/source_exclusive_max, not both")
            source_range = _KeyRange(source_inclusive_min or b"", source_exclusive_max or b"")
        keys_future = self.list(source_range)
        staleness = source_staleness_bound

        def copy_now() -> None:
            for key in keys_future.result():
                result = self.read(key, staleness_bound=staleness).result()
                if result.state == "value":
                    target.write(key, result.value).result()

        return run_inline(copy_now)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is present (a blocking read)."""
        if not isinstance(key, str | bytes):
            raise TypeError(f"key: expected str or bytes, but received {type(key).__name__}")
        return self.read(key).result().state == "value"

    def __getitem__(self, key: str | bytes) -> bytes:
        result = self.read(key).result()
        if result.state != "value":
            raise KeyError(key)
        return result.value

    def __setitem__(self, key: str | bytes, value: str | bytes) -> None:
        self.write(key, value).result()

    def __delitem__(self, key: str | bytes) -> None:
        self.write(key, None).result()

    # -- value semantics ---------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        if self._transaction is not None:
            raise TypeError("a KvStore bound to a transaction cannot be pickled")
        # The Context it was opened in travels as an object: kvstores pickled together
        # share one unpickled Context (and so one memory store).
        return (_unpickle, (self.spec().to_json(), self._context))

    def __repr__(self) -> str:
        from ..schema._pretty import pretty_repr

        return pretty_repr("KvStore(", self.spec(unbind_context=True).to_json())


def _staleness(bound: float | None) -> float:
    if bound is None:
        return math.inf
    bound = float(bound)
    return time.time() if bound == math.inf else bound


def _open_now(spec: KvStoreSpec, context: Context | None, transaction: Transaction | None) -> KvStore:
    context = context or Context()
    if spec._context is not None:
        context = Context(spec._context, parent=context)
    driver = spec._open_driver_class().open(spec._driver_spec, context)
    return KvStore(driver, spec.path, transaction, context)


def _unpickle(json: dict[str, Any], context: Context | None = None) -> KvStore:
    return KvStore.open(json, context=context).result()
