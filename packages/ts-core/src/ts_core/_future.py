"""Future and Promise: the handle every asynchronous ts operation returns.

A Future is completed from any thread; consumers block (`result`), poll (`done`),
register callbacks, or `await` it from asyncio. No event loop is needed to produce
results: the executor layer completes Futures from worker threads.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Future", "FutureLike", "Promise"]

T = TypeVar("T")

_PENDING, _DONE, _CANCELLED = 0, 1, 2

# One condition variable shared by all futures keeps each Future small (no per-object
# lock); waiters re-check their own future's state after every wake-up.
_condition = threading.Condition(threading.Lock())


def _reinit_after_fork() -> None:
    global _condition
    _condition = threading.Condition(threading.Lock())


os.register_at_fork(after_in_child=_reinit_after_fork)

_UNSET: Any = object()


class Future(Generic[T]):
    """Handle for consuming the result of an asynchronous operation.

    ``Future(value)`` is an already-completed future; awaiting or ``result()`` returns
    ``value``. Futures are created pending by ``Promise.new()`` and by the library.
    """

    __slots__ = ("__weakref__", "_callbacks", "_exception", "_on_cancel", "_result", "_state")

    def __init__(self, value: Any = _UNSET) -> None:
        self._callbacks: list[Callable[[Future[T]], None]] = []
        self._exception: BaseException | None = None
        self._on_cancel: Callable[[], None] | None = None
        if value is _UNSET:
            self._result: Any = None
            self._state = _PENDING
        elif isinstance(value, Future):
            self._result = None
            self._state = _PENDING
            value.add_done_callback(self._copy_from)
        else:
            self._result = value
            self._state = _DONE

    def _copy_from(self, other: Future[Any]) -> None:
        exc = other._exception
        if exc is not None:
            self._set_exception(exc)
        else:
            self._set_result(other._result)

    # -- consumption ---------------------------------------------------------------
    def done(self) -> bool:
        """True once the operation finished, failed or was cancelled."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """True if the operation was cancelled before it completed."""
        return self._state == _CANCELLED

    def _wait(self, timeout: float | None, deadline: float | None) -> None:
        if self._state != _PENDING:
            return
        if deadline is not None:
            remaining = deadline - time.time()
            timeout = remaining if timeout is None else min(timeout, remaining)
        end = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with _condition:
            while self._state == _PENDING:
                if end is None:
                    _condition.wait()
                else:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("Future did not complete before the timeout")
                    _condition.wait(left)

    def result(self, timeout: float | None = None, deadline: float | None = None) -> T:
        """Block until complete and return the value, or raise the operation's error."""
        self._wait(timeout, deadline)
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    def exception(
        self, timeout: float | None = None, deadline: float | None = None
    ) -> BaseException | None:
        """Block until complete and return the error, or None on success."""
        self._wait(timeout, deadline)
        if self._state == _CANCELLED:
            raise self._exception  # type: ignore[misc]
        return self._exception

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Call ``callback(self)`` on completion (at once if already complete)."""
        with _condition:
            if self._state == _PENDING:
                self._callbacks.append(callback)
                return
        callback(self)

    def remove_done_callback(self, callback: Callable[[Future[T]], None]) -> int:
        """Unregister ``callback``; returns how many registrations were removed."""
        with _condition:
            before = len(self._callbacks)
            self._callbacks = [c for c in self._callbacks if c != callback]
            return before - len(self._callbacks)

    def cancel(self) -> bool:
        """Request cancellation; returns False if the operation had already finished."""
        on_cancel = self._on_cancel
        if not self._complete(_CANCELLED, None, asyncio.CancelledError()):
            return False
        if on_cancel is not None:
            on_cancel()
        return True

    def force(self) -> None:
        """Ensure the operation is started; ts starts every operation eagerly."""

    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _PENDING:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: Future[T]) -> None:
                loop.call_soon_threadsafe(_set_if_pending, waiter)

            self.add_done_callback(wake)
            try:
                yield from waiter.__await__()
            except asyncio.CancelledError:
                self.cancel()
                raise
        return self.result()

    def __repr__(self) -> str:
        state = {_PENDING: "pending", _DONE: "done", _CANCELLED: "cancelled"}[self._state]
        if self._state == _DONE and self._exception is not None:
            state = f"failed: {type(self._exception).__name__}"
        return f"<ts.Future {state}>"

    # -- completion (used by Promise and the executor) ----------------------------
    def _complete(self, state: int, result: Any, exception: BaseException | None) -> bool:
        with _condition:
            if self._state != _PENDING:
                return False
            self._result = result
            self._exception = exception
            self._state = state
            callbacks, self._callbacks = self._callbacks, []
            self._on_cancel = None
            _condition.notify_all()
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a faulty callback must not break the producer
                import traceback

                traceback.print_exc()
        return True

    def _set_result(self, value: Any) -> bool:
        return self._complete(_DONE, value, None)

    def _set_exception(self, exception: BaseException) -> bool:
        return self._complete(_DONE, None, exception)


def _set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


FutureLike = Future


class Promise(Generic[T]):
    """Handle for *producing* the result of a Future."""

    __slots__ = ("_future",)

    def __init__(self, future: Future[T]) -> None:
        self._future = future

    @staticmethod
    def new() -> tuple[Promise[Any], Future[Any]]:
        """Return a linked ``(promise, future)`` pair."""
        future: Future[Any] = Future()
        return Promise(future), future

    def set_result(self, result: T) -> None:
        """Complete the linked future with ``result`` (ignored if already done)."""
        self._future._set_result(result)

    def set_exception(self, exception: BaseException) -> None:
        """Fail the linked future with ``exception`` (ignored if already done)."""
        self._future._set_exception(exception)

    def __repr__(self) -> str:
        return f"<ts.Promise for {self._future!r}>"
