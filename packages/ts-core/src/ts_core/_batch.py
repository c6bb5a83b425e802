"""``ts.Batch``: group reads so that those touching the same chunks read each chunk once.

Operations given ``batch=`` are deferred: ``read(batch=b)`` returns a pending Future, and
nothing starts until the batch is submitted (``b.submit()``, leaving a ``with`` block, or
dropping the last reference). Submitting starts them all together with one shared set of
chunk reads (``driver.shared_reads``), so two reads of overlapping regions cost one
kvstore read per chunk; identical ``KvStore.read`` calls in a batch are made once. After submit the batch takes no new operations (ValueError), as
in tensorstore; submitting again does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from ._future import Future

__all__ = ["Batch"]

T = TypeVar("T")


class Batch:
    """A group of deferred read operations, started together by :meth:`submit`."""

    __slots__ = ("__weakref__", "_lock", "_pending", "_shared", "_submitted")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[[], Future[Any]], Future[Any]]] = []
        self._shared: dict[Hashable, Future[Any]] = {}
        self._submitted = False

    def _defer(self, start: Callable[[], Future[T]], share: Hashable | None = None) -> Future[T]:
        """A Future of ``start()``'s outcome; ``start`` runs when the batch is submitted.

        Operations deferred with the same ``share`` key (identical kvstore reads) run once.
        """
        result: Future[T] = Future()
        with self._lock:
            if self._submitted:
                raise ValueError("batch was already submitted")
            first = self._shared.get(share) if share is not None else None
            if first is None:
                self._pending.append((start, result))
                if share is not None:
                    self._shared[share] = result
                return result
        first.add_done_callback(lambda done: _settle(result, done))
        return result

    def submit(self) -> None:
        """Start every deferred operation, sharing their chunk reads; later calls do nothing."""
        from .driver._scheduling import SharedReads, shared_reads

        with self._lock:
            if self._submitted:
                return
            self._submitted = True
            pending, self._pending = self._pending, []
            self._shared.clear()
        token = shared_reads.set(SharedReads())
        try:
            for start, result in pending:
                _start_into(start, result)
        finally:
            shared_reads.reset(token)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.submit()

    def __del__(self) -> None:
        # Dropping the last reference submits, as in tensorstore (do not rely on it).
        if not getattr(self, "_submitted", True):
            self.submit()

    def __repr__(self) -> str:
        return f"<ts_core.Batch object at {id(self):#x}>"


def _start_into(start: Callable[[], Future[Any]], result: Future[Any]) -> None:
    try:
        started = start()
    except Exception as exc:
        result._set_exception(exc)
        return

    started.add_done_callback(lambda done: _settle(result, done))


def _settle(result: Future[Any], done: Future[Any]) -> None:
    """Complete ``result`` as ``done`` completed."""
    error = done.exception()
    if error is not None:
        result._set_exception(error)
    else:
        result._set_result(done.result())
