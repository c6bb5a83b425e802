"""Future and Promise: the handle every asynchronous ts operation returns.

A Future is completed from any thread; consumers block (`result`), poll (`done`),
register callbacks, or `await` it from asyncio. No event loop is needed to produce
results: the executor layer completes Futures from worker threads. ``Future(coroutine)``
runs the coroutine on an asyncio event loop the caller already has; ts never starts one.
"""

from __future__ import annotations

import collections.abc
import concurrent.futures
import contextlib
import os
import threading
import time
import types
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, Union

if TYPE_CHECKING:
    import asyncio

__all__ = ["Future", "FutureLike", "Promise", "completed", "failed", "then"]

T = TypeVar("T")

_PENDING, _DONE, _CANCELLED = 0, 1, 2

# One lock shared by all futures guards their state changes and callback lists, which keeps
# each Future small (no per-object lock). A thread blocked in ``result()`` waits on a lock of
# its own that only its future's completion releases, so completing one future never wakes
# the threads waiting for others.
_lock = threading.Lock()


def _reinit_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reinit_after_fork)

_UNSET: Any = object()

#: Every type ``asyncio.iscoroutine`` accepts is one of these: a value of another type is
#: no coroutine, so asyncio (about 30 modules, a tenth of a process's start-up) is
#: imported only when a program uses it.
_COROUTINE_LIKE = (types.CoroutineType, types.GeneratorType, collections.abc.Coroutine)


def _asyncio() -> Any:
    import asyncio

    return asyncio


def _is_coroutine(value: Any) -> bool:
    return isinstance(value, _COROUTINE_LIKE) and bool(_asyncio().iscoroutine(value))


def _seconds(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number of seconds or None, but received {value!r}") from None


class Future(Generic[T]):
    """Handle for consuming the result of an asynchronous operation.

    ``Future(value)`` converts a future-like value, as tensorstore's constructor does:
    a Future is returned as is, a coroutine is run on ``loop`` (default: the running
    event loop; with neither it is an error), and anything else is an immediate result.
    ``Future()`` with no argument, a pending future completed by the library, is for
    ts's own producers.
    """

    __slots__ = ("__weakref__", "_callbacks", "_exception", "_on_cancel", "_result", "_state", "_waiters")

    _callbacks: list[Callable[[Future[T]], None]]
    _exception: BaseException | None
    _on_cancel: Callable[[], Any] | None
    _result: Any
    _state: int
    #: Locks of the threads blocked in ``result()``/``exception()``, released on completion.
    _waiters: list[threading.Lock] | None

    def __new__(cls, future: Any = _UNSET, *, loop: asyncio.AbstractEventLoop | None = None) -> Future[T]:
        if future is not _UNSET and cls is Future and isinstance(future, Future):
            return future
        self = object.__new__(cls)
        self._callbacks = []
        self._exception = None
        self._on_cancel = None
        self._result = None
        self._state = _PENDING
        self._waiters = None
        if future is _UNSET:  # the library's own pending futures: the hot path
            return self
        if isinstance(future, Future):
            future.add_done_callback(self._copy_from)
        elif _is_coroutine(future):
            self._run_coroutine(future, loop)
        else:
            self._result = future
            self._state = _DONE
        return self

    def __init__(self, future: Any = _UNSET, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """All set up by ``__new__`` (which may return ``future`` itself)."""

    def _run_coroutine(self, coroutine: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        aio = _asyncio()
        if loop is None:
            try:
                loop = aio.get_running_loop()
            except RuntimeError:
                coroutine.close()  # never started: close it so Python does not warn
                raise ValueError("no event loop specified and thread does not have a default event loop") from None
        try:
            running = aio.run_coroutine_threadsafe(coroutine, loop)
        except BaseException:
            coroutine.close()
            raise
        self._on_cancel = running.cancel
        running.add_done_callback(self._copy_from_concurrent)

    def _copy_from(self, other: Future[Any]) -> None:
        if other._state == _CANCELLED:
            self._complete(_CANCELLED, None, other._exception)
        elif other._exception is not None:
            self._set_exception(other._exception)
        else:
            self._set_result(other._result)

    def _copy_from_concurrent(self, other: concurrent.futures.Future[Any]) -> None:
        if other.cancelled():
            self._complete(_CANCELLED, None, _asyncio().CancelledError())
            return
        exception = other.exception()
        if exception is not None:
            self._set_exception(exception)
        else:
            self._set_result(other.result())

    # -- consumption ---------------------------------------------------------------
    def done(self) -> bool:
        """True once the operation finished, failed or was cancelled."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """True if the operation was cancelled before it completed."""
        return self._state == _CANCELLED

    def _wait(self, timeout: Any, deadline: Any) -> None:
        timeout = _seconds(timeout, "timeout")
        deadline = _seconds(deadline, "deadline")
        if self._state != _PENDING:
            return
        if deadline is not None:
            remaining = deadline - time.time()
            timeout = remaining if timeout is None else min(timeout, remaining)
        waiter = threading.Lock()
        waiter.acquire()
        with _lock:
            if self._state != _PENDING:
                return
            if self._waiters is None:
                self._waiters = [waiter]
            else:
                self._waiters.append(waiter)
        if timeout is None:
            waiter.acquire()
            return
        if not waiter.acquire(timeout=max(timeout, 0.0)):
            with _lock:
                if self._state == _PENDING:
                    assert self._waiters is not None
                    self._waiters.remove(waiter)
                    raise TimeoutError("Future did not complete before the timeout")

    def result(self, timeout: float | None = None, deadline: float | None = None) -> T:
        """Block until complete and return the value, or raise the operation's error.

        ``timeout`` is in seconds, ``deadline`` in seconds since the Unix epoch; running
        out of either raises ``TimeoutError``.
        """
        self._wait(timeout, deadline)
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    def exception(self, timeout: float | None = None, deadline: float | None = None) -> BaseException | None:
        """Block until complete and return the error, or None on success (a cancelled
        future raises ``asyncio.CancelledError``)."""
        self._wait(timeout, deadline)
        if self._state == _CANCELLED:
            raise self._exception  # type: ignore[misc]
        return self._exception

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Call ``callback(self)`` on completion (at once if already complete), from
        whichever thread completes the future."""
        with _lock:
            if self._state == _PENDING:
                self._callbacks.append(callback)
                return
        callback(self)

    def remove_done_callback(self, callback: Callable[[Future[T]], None]) -> int:
        """Unregister ``callback``; returns how many registrations were removed."""
        with _lock:
            before = len(self._callbacks)
            self._callbacks = [c for c in self._callbacks if c != callback]
            return before - len(self._callbacks)

    def cancel(self) -> bool:
        """Request cancellation; returns False if the operation had already finished."""
        on_cancel = self._on_cancel
        if not self._complete(_CANCELLED, None, _asyncio().CancelledError()):
            return False
        if on_cancel is not None:
            on_cancel()
        return True

    def force(self) -> None:
        """Ensure the operation is started; ts starts every operation eagerly."""

    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _PENDING:
            aio = _asyncio()
            loop = aio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: Future[T]) -> None:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody to wake
                    loop.call_soon_threadsafe(_set_if_pending, waiter)

            self.add_done_callback(wake)
            try:
                yield from waiter.__await__()
            except aio.CancelledError:
                self.cancel()
                raise
        return self.result()

    def __reduce__(self) -> NoReturn:
        # A future is a handle on work in this process; a copy elsewhere could never complete.
        raise TypeError(f"cannot pickle '{type(self).__module__}.{type(self).__qualname__}' object")

    def __repr__(self) -> str:
        state = {_PENDING: "pending", _DONE: "done", _CANCELLED: "cancelled"}[self._state]
        if self._state == _DONE and self._exception is not None:
            state = f"failed: {type(self._exception).__name__}"
        return f"<{type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}, {state}>"

    # -- completion (used by Promise and the executor) ----------------------------
    def _complete(self, state: int, result: Any, exception: BaseException | None) -> bool:
        with _lock:
            if self._state != _PENDING:
                return False
            self._result = result
            self._exception = exception
            self._state = state
            callbacks, self._callbacks = self._callbacks, []
            self._on_cancel = None
            waiters, self._waiters = self._waiters, None
        if waiters is not None:
            for waiter in waiters:
                waiter.release()
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


#: What ``ts.Future(...)`` accepts: a Future, an awaitable, or an immediate value.
FutureLike = Union[Future[T], Awaitable[T], T]  # noqa: UP007 (a runtime alias, like tensorstore's)


class Promise(Generic[T]):
    """Handle for *producing* the result of a Future; made only by ``Promise.new()``."""

    __slots__ = ("_future",)

    _future: Future[T]

    def __new__(cls, *args: Any, **kwargs: Any) -> Promise[T]:
        raise TypeError(f"cannot create '{cls.__module__}.{cls.__qualname__}' instances; use Promise.new()")

    @classmethod
    def new(cls) -> tuple[Promise[T], Future[T]]:
        """Return a linked ``(promise, future)`` pair (``Promise[int].new()`` types them)."""
        future: Future[T] = Future()
        promise: Promise[T] = object.__new__(cls)
        promise._future = future
        return promise, future

    def set_result(self, result: T) -> None:
        """Complete the linked future with ``result`` (ignored if already done)."""
        self._future._set_result(result)

    def set_exception(self, exception: BaseException) -> None:
        """Fail the linked future with ``exception`` (ignored if already done)."""
        if isinstance(exception, type) and issubclass(exception, BaseException):
            exception = exception()
        if not isinstance(exception, BaseException):
            raise TypeError(f"set_exception: expected an exception, but received {type(exception).__name__}")
        self._future._set_exception(exception)

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"cannot pickle '{type(self).__module__}.{type(self).__qualname__}' object")

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}, for {self._future!r}>"


# The public home is the package (``ts.Future``), as tensorstore's classes live in ``tensorstore``.
Future.__module__ = Promise.__module__ = "ts_core"


U = TypeVar("U")


def then(future: Future[T], function: Callable[[T], U]) -> Future[U]:
    """A Future of ``function(future.result())``, completed when ``future`` is (no thread waits)."""
    result: Future[U] = Future()

    def done(source: Future[T]) -> None:
        error = source.exception()
        if error is not None:
            result._set_exception(error)
            return
        try:
            result._set_result(function(source.result()))
        except Exception as exc:
            result._set_exception(exc)

    future.add_done_callback(done)
    return result


def completed(value: T) -> Future[T]:
    """A Future that has already completed with ``value`` (whatever it is: unlike
    ``Future(value)``, a coroutine or Future is not converted), made without the checks of
    the constructor, for producers that already have their result."""
    # The constructor's own fast path (a pending future), called as ``__new__`` alone: no
    # ``type.__call__`` and no (empty) ``__init__`` to run, a third of the cost.
    future: Future[T] = Future.__new__(Future)
    future._result = value
    future._state = _DONE
    return future


def failed(error: BaseException) -> Future[Any]:
    """A Future that has already failed with ``error``."""
    future: Future[Any] = Future()
    future._set_exception(error)
    return future
