"""Executor layer: bounded thread pools that run synchronous leaf operations.

Kvstore I/O and codec work are plain functions; an :class:`Executor` runs them on at
most ``limit`` threads and completes a :class:`~ts_core._future.Future`. Threads are
started on demand and pools are reset in a forked child, so a process forked while
ts is in use (a PyTorch DataLoader worker) gets fresh, working pools.
"""

from __future__ import annotations

import os
import queue
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
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._queue = queue.SimpleQueue()
        self._threads = 0
        self._waiting = 0  # workers blocked on (or about to block on) the queue
        self._queued = 0  # items put and not yet taken

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Schedule ``function(*args)``; the Future carries its result or exception."""
        future: Future[T] = Future()
        item = (future, function, args)
        with self._lock:
            # A waiting worker per queued item; beyond that start a thread (up to the
            # limit), so a burst of submissions spreads over workers instead of piling
            # onto one that was already woken.
            if self._waiting <= self._queued and self._threads < self.limit:
                self._threads += 1
                # The item travels in a list the worker empties: a Thread keeps its args
                # for as long as it runs, which would keep the item's arguments alive.
                threading.Thread(
                    target=self._worker, args=([item],), name=f"{self.name}-{self._threads}", daemon=True
                ).start()
            else:
                self._queued += 1
                self._queue.put(item)
        return future

    def _worker(self, first: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]) -> None:
        item = first.pop()
        while True:
            future, function, args = item
            if not future.done():  # skip work cancelled while queued
                _run_into(future, function, args)
            # An idle worker keeps nothing of the work it finished: its arguments may hold
            # the caller's array (a write encodes straight from it), which must be freed
            # when the caller drops it, not when this worker next gets work.
            del item, future, function, args
            while True:
                with self._lock:
                    self._waiting += 1
                try:
                    item = self._queue.get(timeout=_IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        self._waiting -= 1
                        if self._queued == 0:
                            self._threads -= 1
                            return
                    continue  # something arrived as the wait timed out
                with self._lock:
                    self._waiting -= 1
                    self._queued -= 1
                break

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
