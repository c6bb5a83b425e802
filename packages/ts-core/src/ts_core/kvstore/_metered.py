"""Every kvstore driver's operations counted in tensorstore's per-driver metrics.

``KvStoreDriver`` subclasses get their ``read``, ``write``, ``list`` and ``delete_range``
wrapped when the class is defined, so each call is recorded under
``/tensorstore/kvstore/<driver id>/`` whoever makes it: the KvStore front end, a chunk
cache, a transaction's commit, or an adapter (``zip``) reading its base kvstore. The
accounting follows tensorstore's: every call counts; a read that returns a value adds its
size to ``bytes_read`` and its latency (whole milliseconds) to ``read_latency_ms``; a write
that stores a value (not a delete) adds to ``bytes_written`` and ``write_latency_ms``.

Only drivers registered as kvstores are recorded (their id is a user-visible driver name);
internal drivers, such as a format's view of its chunks, are not.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .._metrics import KvStoreMetrics, kvstore_metrics

if TYPE_CHECKING:
    from ._driver import KvStoreDriver, WriteBatch

__all__ = ["meter_batch_writes", "meter_operations"]

#: Driver class -> its metrics, or None for a class that records none (unregistered id).
_metrics_by_class: dict[type, KvStoreMetrics | None] = {}


_UNKNOWN: Any = object()


def _metrics_of(cls: type) -> KvStoreMetrics | None:
    found = _metrics_by_class.get(cls, _UNKNOWN)
    if found is _UNKNOWN:
        from ..plugin import get_registry

        driver_id = getattr(cls, "id", None)
        record = get_registry().find("kvstore", driver_id) if isinstance(driver_id, str) else None
        found = _metrics_by_class[cls] = None if record is None else kvstore_metrics(driver_id)  # type: ignore[arg-type]
    return found  # type: ignore[no-any-return]


def _metered_read(read: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(read)
    def metered_read(self: Any, key: bytes, options: Any) -> Any:
        cls = type(self)
        # An override that calls ``super().read`` is counted once, by the outermost wrapper.
        if cls.read is not metered_read:
            return read(self, key, options)
        start = perf_counter()
        try:
            result = read(self, key, options)
        except BaseException:
            metrics = _metrics_of(cls)
            if metrics is not None:
                metrics.record_read(None, 0)
            raise
        metrics = _metrics_by_class.get(cls, _UNKNOWN)  # inline: this runs for every read
        if metrics is _UNKNOWN:
            metrics = _metrics_of(cls)
        if metrics is not None:
            if result.state == "value":
                metrics.record_read(len(result.value), int((perf_counter() - start) * 1000))
            else:
                metrics.record_read(None, 0)
        return result

    metered_read.__ts_metered__ = True  # type: ignore[attr-defined]
    return metered_read


def _metered_write(write: Callable[..., Any], driver_of_batch: bool = False) -> Callable[..., Any]:
    """``write`` recorded; for a WriteBatch's ``write`` (``driver_of_batch``), in the
    metrics of the batch's driver."""

    @functools.wraps(write)
    def metered_write(self: Any, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        if type(self).write is not metered_write:
            return write(self, key, value, if_equal)
        cls = type(self._driver) if driver_of_batch else type(self)
        start = perf_counter()
        try:
            stamp = write(self, key, value, if_equal)
        except BaseException:
            metrics = _metrics_of(cls)
            if metrics is not None:
                metrics.record_write(None, 0)
            raise
        metrics = _metrics_by_class.get(cls, _UNKNOWN)
        if metrics is _UNKNOWN:
            metrics = _metrics_of(cls)
        if metrics is not None:
            if value is None:
                metrics.record_write(None, 0)
            else:
                metrics.record_write(len(value), int((perf_counter() - start) * 1000))
        return stamp

    metered_write.__ts_metered__ = True  # type: ignore[attr-defined]
    return metered_write


#: Set while a thread runs a ``delete_range``: the listing a driver does to find the keys
#: to delete is part of that call, not a ``list`` of its own (as in tensorstore).
_deleting = threading.local()


def _counted(name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
    """``list`` / ``delete_range``: each call counted in the metric of that name."""

    @functools.wraps(operation)
    def counted(self: Any, key_range: Any) -> Any:
        cls = type(self)
        if getattr(cls, name) is not counted or getattr(_deleting, "driver", None) is self:
            return operation(self, key_range)
        metrics = _metrics_of(cls)
        if metrics is not None:
            getattr(metrics, name).increment()
        if name != "delete_range":
            return operation(self, key_range)
        outer = getattr(_deleting, "driver", None)
        _deleting.driver = self
        try:
            return operation(self, key_range)
        finally:
            _deleting.driver = outer

    counted.__ts_metered__ = True  # type: ignore[attr-defined]
    return counted


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "read": _metered_read,
    "write": _metered_write,
    "list": functools.partial(_counted, "list"),
    "delete_range": functools.partial(_counted, "delete_range"),
}


def meter_batch_writes(cls: type[WriteBatch]) -> None:
    """Record the writes of a WriteBatch subclass that writes by itself (the default
    ``WriteBatch.write`` calls the driver's ``write``, which records them)."""
    write = cls.__dict__.get("write")
    if callable(write) and not getattr(write, "__ts_metered__", False):
        cls.write = _metered_write(write, driver_of_batch=True)  # type: ignore[method-assign]


def meter_operations(cls: type[KvStoreDriver]) -> None:
    """Wrap the operations ``cls`` itself defines so that their calls are recorded."""
    for name, wrap in _WRAPPERS.items():
        operation = cls.__dict__.get(name)
        if (
            operation is None
            or not callable(operation)
            or getattr(operation, "__isabstractmethod__", False)
            or getattr(operation, "__ts_metered__", False)
        ):
            continue
        setattr(cls, name, wrap(operation))
