"""Executor layer: bounded thread pools that run synchronous leaf operations.

Kvstore I/O and codec work are plain functions; an :class:`Executor` runs them on at
most ``limit`` threads and completes a :class:`~ts_core._future.Future`. Threads are
started on demand and pools are reset in a forked child, so a process forked while
ts is in use (a PyTorch DataLoader worker) gets fresh, working pools.
"""

from __future__ import annotations

import collections
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ._future import Future

__all__ = ["Executor", "default_concurrency", "run_inline"]

T = TypeVar("T")

_IDLE_SECONDS = 5.0  # a worker with nothing to do for this long exits


def default_concurrency() -> int:
    """Number of cores usable by this process."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Executor:
    """Runs callables on at most ``limit`` worker threads, FIFO."""

    def __init__(self, limit: int, name: str = "ts") -> None:
        if limit < 1:
            raise ValueError(f"executor limit must be >= 1, got {limit}")
        self.limit = limit
        self.name = name
        self._reset()
        _executors.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._queue: collections.deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._queue = collections.deque()
        self._threads = 0
        self._idle = 0

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Schedule ``function(*args)``; the Future carries its result or exception."""
        future: Future[T] = Future()
        with self._lock:
            self._queue.append((future, function, args))
            if self._idle:
                self._work_ready.notify()
            elif self._threads < self.limit:
                self._threads += 1
                threading.Thread(
                    target=self._worker, name=f"{self.name}-{self._threads}", daemon=True
                ).start()
        return future

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._idle += 1
                    woke = self._work_ready.wait(_IDLE_SECONDS)
                    self._idle -= 1
                    if not woke and not self._queue:
                        self._threads -= 1
                        return
                future, function, args = self._queue.popleft()
            if future.done():  # cancelled while queued
                continue
            _run_into(future, function, args)

    def __repr__(self) -> str:
        return f"Executor(limit={self.limit}, name={self.name!r})"


def _run_into(future: Future[Any], function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = function(*args)
    except BaseException as exc:
        future._set_exception(exc)
    else:
        future._set_result(result)


def run_inline(function: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``function`` now on the calling thread, capturing its outcome in a Future."""
    future: Future[T] = Future()
    _run_into(future, function, args)
    return future


_executors: weakref.WeakSet[Executor] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    # Worker threads do not survive fork; queued work belonged to the parent.
    for executor in list(_executors):
        executor._reset()


os.register_at_fork(after_in_child=_reset_all_after_fork)
