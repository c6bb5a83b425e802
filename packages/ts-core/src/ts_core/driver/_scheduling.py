"""Scheduling the per-chunk work of one read or write.

``pull_workers`` starts a few workers that each take the next part until none is left (no
part is handed from thread to thread); ``run_parts`` submits every part to a pool and
also waits for the Futures a part's work returns (kvstore writes it started). A single
part runs inline on the caller's thread in both.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence, Sized
from contextvars import ContextVar
from typing import Any, TypeVar

from .._executor import Executor
from .._future import Future

__all__ = ["SharedReads", "pull_workers", "run_parts", "shared_reads"]


class SharedReads:
    """Reads made at most once per key: the chunk reads of one submitted ``ts.Batch``.

    The first caller for a key reads; callers for the same key meanwhile (on any thread)
    wait for that read and share its result.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[Hashable, Future[Any]] = {}

    def read(self, key: Hashable, read: Callable[[], Result]) -> Result:
        with self._lock:
            shared = self._reads.get(key)
            first = shared is None
            if shared is None:
                shared = self._reads[key] = Future()
        if first:
            try:
                shared._set_result(read())
            except BaseException as exc:
                shared._set_exception(exc)
        value: Result = shared.result()
        return value


#: While set (by a ``ts.Batch`` as it starts its reads), chunk reads started on this
#: thread go through it, so reads of one batch that touch a chunk read it once.
shared_reads: ContextVar[SharedReads | None] = ContextVar("shared_reads", default=None)

Part = TypeVar("Part")
Result = TypeVar("Result")


def pull_workers(
    pool: Executor | None,
    limit: int,
    parts: Iterable[Part],
    work: Callable[[Part], Any],
    finish: Callable[[], None] | None,
    result: Result,
) -> Future[Result]:
    """Run ``work`` on every part with up to ``limit`` workers on ``pool``, each taking the
    next part until none is left; then ``finish`` (also after an error) and complete with
    ``result`` or the first error. Cheapest when each part is quick (local I/O). With no
    ``pool`` the caller's thread does it all before returning (for Python-bound parts,
    where more threads only contend for the GIL). ``parts`` may be an iterator that makes
    parts as they are taken; its ``length_hint`` then sizes the workers."""
    if pool is None:
        return _run_here(parts, work, finish, result)
    count = len(parts) if isinstance(parts, Sized) else operator.length_hint(parts, limit)
    workers = max(1, min(count, limit))
    future: Future[Result] = Future()
    lock = threading.Lock()
    pending = iter(parts)
    state: dict[str, Any] = {"running": workers, "error": None}

    def drain() -> None:
        try:
            while True:
                with lock:
                    part = None if state["error"] is not None else next(pending, None)
                if part is None:
                    return
                work(part)
        except BaseException as exc:
            with lock:
                if state["error"] is None:
                    state["error"] = exc
        finally:
            with lock:
                state["running"] -= 1
                last = state["running"] == 0
            if last:
                if finish is not None:
                    try:
                        finish()
                    except BaseException as exc:
                        state["error"] = state["error"] or exc
                if state["error"] is None:
                    future._set_result(result)
                else:
                    future._set_exception(state["error"])

    for _ in range(workers):
        pool.submit(drain)
    return future


def _run_here(
    parts: Iterable[Part], work: Callable[[Part], Any], finish: Callable[[], None] | None, result: Result
) -> Future[Result]:
    future: Future[Result] = Future()
    error: BaseException | None = None
    try:
        for part in parts:
            work(part)
    except Exception as exc:
        error = exc
    if finish is not None:
        try:
            finish()
        except Exception as exc:
            error = error or exc
    if error is None:
        future._set_result(result)
    else:
        future._set_exception(error)
    return future


def run_parts(
    executor: Executor, parts: Sequence[Part], work: Callable[[Part], Any], result: Callable[[], Result]
) -> Future[Result]:
    """Run ``work`` for every part on ``executor`` and complete with ``result()``, or fail
    with the first error. ``work`` may return a Future (say, a kvstore write it started);
    the part counts as done when that completes. One part runs on the caller's thread."""
    future: Future[Result] = Future()
    if not parts:
        future._set_result(result())
        return future
    if len(parts) == 1:  # the common small read or write: no lock, counter or closure
        try:
            outcome = work(parts[0])
        except BaseException as exc:
            future._set_exception(exc)
            return future
        _complete_after(future, outcome, result)
        return future
    remaining = [len(parts)]
    lock = threading.Lock()

    def finished(done: Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            future._set_exception(error)
            return
        inner = done.result()
        if isinstance(inner, Future):
            inner.add_done_callback(finished)
            return
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            future._set_result(result())

    for part in parts:
        executor.submit(work, part).add_done_callback(finished)
    return future


def _complete_after(future: Future[Result], outcome: Any, result: Callable[[], Result]) -> None:
    """Complete ``future`` with ``result()`` once ``outcome`` (a value, or a Future of one,
    possibly of another Future) completes, or with its error."""
    if isinstance(outcome, Future):
        outcome.add_done_callback(functools.partial(_complete_after_done, future, result))
        return
    future._set_result(result())


def _complete_after_done(future: Future[Result], result: Callable[[], Result], done: Future[Any]) -> None:
    error = done.exception()
    if error is not None:
        future._set_exception(error)
        return
    _complete_after(future, done.result(), result)
