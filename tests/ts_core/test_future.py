"""Future and Promise: blocking, polling, callbacks, cancellation, asyncio."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import ts_core as ts
from ts_core._executor import Executor


def test_immediate_value() -> None:
    future = ts.Future(5)
    assert future.done()
    assert future.result() == 5
    assert future.exception() is None


def test_promise_result_from_another_thread() -> None:
    promise, future = ts.Promise.new()
    assert not future.done()
    threading.Timer(0.05, promise.set_result, args=("done",)).start()
    assert future.result(timeout=10) == "done"


def test_exception_propagates() -> None:
    promise, future = ts.Promise.new()
    promise.set_exception(ValueError("boom"))
    assert isinstance(future.exception(), ValueError)
    with pytest.raises(ValueError, match="boom"):
        future.result()


def test_timeout_and_deadline() -> None:
    _, future = ts.Promise.new()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        future.result(deadline=time.time() + 0.01)


def test_callbacks() -> None:
    promise, future = ts.Promise.new()
    seen: list[object] = []

    def callback(f: ts.Future[int]) -> None:
        seen.append(f.result())

    def removed(f: ts.Future[int]) -> None:
        seen.append("removed")

    future.add_done_callback(callback)
    future.add_done_callback(removed)
    assert future.remove_done_callback(removed) == 1
    promise.set_result(3)
    future.add_done_callback(callback)  # already done: runs at once
    assert seen == [3, 3]


def test_cancel() -> None:
    promise, future = ts.Promise.new()
    assert future.cancel()
    assert future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        future.result()
    promise.set_result(1)  # ignored
    assert not ts.Future(1).cancel()


def test_await_from_asyncio() -> None:
    async def main() -> int:
        promise, future = ts.Promise.new()
        asyncio.get_running_loop().call_later(0.01, promise.set_result, 7)
        ready = await ts.Future(1)
        return ready + await future

    assert asyncio.run(main()) == 8


def test_subscript_for_annotations() -> None:
    import typing

    alias = ts.Future[int]
    assert typing.get_origin(alias) is ts.Future
    assert typing.get_args(alias) == (int,)


def test_executor_bounds_concurrency() -> None:
    executor = Executor(2)
    running = []
    peak = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running.append(i)
            peak.append(len(running))
        time.sleep(0.01)
        with lock:
            running.remove(i)
        return i * i

    futures = [executor.submit(work, i) for i in range(20)]
    assert [f.result(timeout=30) for f in futures] == [i * i for i in range(20)]
    assert max(peak) <= 2


def test_executor_exception_lands_in_future() -> None:
    future = Executor(1).submit(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal"):
        future.result(timeout=30)


def test_executor_spreads_a_burst_over_workers() -> None:
    executor = Executor(4)
    executor.submit(time.sleep, 0).result(timeout=30)  # one worker exists and is idle
    barrier = threading.Barrier(4, timeout=30)
    futures = [executor.submit(barrier.wait) for _ in range(4)]  # needs 4 concurrent workers
    for future in futures:
        future.result(timeout=60)


def test_completion_wakes_only_its_own_waiters() -> None:
    """A thread blocked on one future stays blocked when other futures complete, and a
    timed-out waiter leaves nothing behind for the completion to release."""
    import threading

    from ts_core._future import completed

    futures = [ts.Future() for _ in range(4)]
    woke: list[int] = []

    def wait(index: int) -> None:
        futures[index].result(timeout=30)
        woke.append(index)

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for index in (2, 0, 3):
        futures[index]._set_result(index)
    for index in (2, 0, 3):
        threads[index].join(10)
    assert sorted(woke) == [0, 2, 3]
    assert threads[1].is_alive()
    futures[1]._set_result(1)
    threads[1].join(10)
    assert sorted(woke) == [0, 1, 2, 3]

    pending: ts.Future[int] = ts.Future()
    with pytest.raises(TimeoutError):
        pending.result(timeout=0.01)
    assert not pending._waiters  # the timed-out waiter removed itself
    pending._set_result(5)
    assert pending.result(timeout=0) == 5

    generator = (x for x in ())  # Future(generator) would run it as a coroutine
    done = completed(generator)
    assert done.done()
    assert done.result() is generator


def test_idle_executor_workers_keep_no_arguments_alive() -> None:
    """An idle worker holds nothing of the work it ran: neither the item its thread was
    started with nor the last one it took from the queue (a write's source array would
    otherwise outlive the write until the worker next gets work)."""
    import weakref

    class Payload:
        pass

    executor = Executor(1)
    first, second = Payload(), Payload()
    refs = [weakref.ref(first), weakref.ref(second)]
    executor.submit(id, first).result(timeout=30)  # starts the worker thread
    executor.submit(id, second).result(timeout=30)  # taken from the queue
    del first, second
    deadline = time.monotonic() + 2  # well before an idle worker exits (and drops all)
    while any(ref() is not None for ref in refs) and time.monotonic() < deadline:
        time.sleep(0.001)  # the worker drops its item right after completing its Future
    assert [ref() is None for ref in refs] == [True, True]
