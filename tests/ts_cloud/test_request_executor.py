"""The cloud kvstores' request executor: a waiting caller runs its own request, nothing is lost."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from cloud_servers import s3_spec, unique_prefix

import ts_core as ts
from ts_cloud import _request_executor
from ts_cloud._request_executor import RequestExecutor, RequestFuture

WAIT = 10.0  # seconds: generous, only reached when something is broken


def test_a_caller_that_waits_runs_its_request_on_its_own_thread() -> None:
    executor = RequestExecutor(4, "test")
    future = executor.submit(lambda: threading.current_thread())
    assert isinstance(future, ts.Future)
    assert future.result() is threading.current_thread()
    assert future.done()


def test_a_request_nobody_waits_for_still_runs() -> None:
    executor = RequestExecutor(4, "test")
    ran = threading.Event()
    executor.submit(ran.set)  # the Future is dropped at once
    assert ran.wait(WAIT)


def test_a_burst_runs_concurrently_on_workers() -> None:
    executor = RequestExecutor(8, "test")
    count = 6
    barrier = threading.Barrier(count, timeout=WAIT)  # passes only if all run at once
    futures = [executor.submit(barrier.wait) for _ in range(count)]
    assert sorted(future.result() for future in futures) == list(range(count))


def test_blocking_on_one_request_starts_the_held_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_request_executor, "HOLD_SECONDS", 60.0)  # the ticker would be too late
    executor = RequestExecutor(4, "test")
    second_ran = threading.Event()
    first = executor.submit(second_ran.wait, WAIT)  # true only if the second runs meanwhile
    executor.submit(second_ran.set)  # held: only the wait for the first can start it
    assert first.result() is True


def test_errors_reach_the_caller_whoever_ran_the_request() -> None:
    executor = RequestExecutor(4, "test")

    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        executor.submit(fail).result()  # run by the caller
    dispatched = executor.submit(fail)
    assert isinstance(dispatched.exception(timeout=WAIT), KeyError)  # run by a worker


def test_a_wait_with_a_timeout_leaves_the_request_to_a_worker() -> None:
    executor = RequestExecutor(4, "test")
    future = executor.submit(lambda: threading.current_thread())
    assert future.result(timeout=WAIT) is not threading.current_thread()


def test_callbacks_and_await_start_the_request() -> None:
    executor = RequestExecutor(4, "test")
    called = threading.Event()
    executor.submit(lambda: 7).add_done_callback(lambda future: called.set())
    assert called.wait(WAIT)

    import asyncio

    async def wait_for_it() -> int:
        return await executor.submit(lambda: 8)

    assert asyncio.run(wait_for_it()) == 8


def test_a_cancelled_held_request_never_runs() -> None:
    executor = RequestExecutor(4, "test")
    ran = threading.Event()
    future = executor.submit(ran.set)
    assert future.cancel()
    assert future.cancelled()
    time.sleep(0.05)  # long past the hold
    assert not ran.is_set()


def test_each_request_runs_exactly_once_when_many_threads_wait() -> None:
    executor = RequestExecutor(2, "test")
    for _ in range(50):
        runs: list[int] = []
        future = executor.submit(lambda runs=runs: runs.append(1) or len(runs))
        results: list[int] = []

        def wait(future: ts.Future[int] = future, results: list[int] = results) -> None:
            results.append(future.result())

        threads = [threading.Thread(target=wait) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert runs == [1]
        assert results == [1, 1, 1, 1]


def test_the_ticker_parks_exits_and_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_request_executor, "PARK_AFTER_TICKS", 2)
    monkeypatch.setattr(_request_executor, "TICKER_EXIT_SECONDS", 0.02)
    executor = RequestExecutor(2, "test")
    for _ in range(2):
        ran = threading.Event()
        executor.submit(ran.set)
        assert ran.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while executor.ticker_running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not executor.ticker_running


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_executor() -> None:
    executor = RequestExecutor(2, "test")
    assert executor.submit(lambda: 1).result() == 1
    executor.submit(lambda: None)  # held when the process forks
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether both paths work
        ok = False
        try:
            ran = threading.Event()
            executor.submit(ran.set)
            ok = executor.submit(lambda: 2).result() == 2 and ran.wait(WAIT)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_cloud_kvstores_use_it() -> None:
    store = ts.KvStore.open({"driver": "s3", "bucket": "bkt", "endpoint": "http://127.0.0.1:9",
                             "aws_region": "us-east-1", "aws_credentials": {"type": "anonymous"}}).result()
    assert isinstance(store.driver.executor, RequestExecutor)
    assert isinstance(store.driver.executor.submit(lambda: 1), RequestFuture)


def _outcome(future: ts.Future[Any], how: str) -> Any:
    """The result of ``future`` taken the way ``how`` says (each runs the request elsewhere)."""
    if how == "caller":
        return future.result()  # run by this thread
    if how == "timeout":
        return future.result(timeout=WAIT)  # handed to a worker
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())  # handed to a worker, no waiting
    assert done.wait(WAIT)
    return future.result()


@pytest.mark.parametrize("how", ["timeout", "callback"])
def test_s3_outcomes_are_the_same_run_by_the_caller_or_a_worker(s3_endpoint: str, how: str) -> None:
    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("request-executor"))).result()

    def script(how: str, key: str) -> list[Any]:
        written = _outcome(store.write(key, b"value"), how)
        read = _outcome(store.read(key), how)
        unchanged = _outcome(store.read(key, if_not_equal=read.stamp.generation), how)
        refused = _outcome(store.write(key, b"other", if_equal=b"\x02"), how)  # must not exist
        ranged = _outcome(store.read(key, byte_range=slice(1, 3)), how)
        missing = _outcome(store.read(key + "-absent"), how)
        with pytest.raises(ValueError, match="byte range") as out_of_range:
            _outcome(store.read(key, byte_range=slice(10, 20)), how)
        _outcome(store.delete(key), how)
        deleted = _outcome(store.read(key), how)
        return [written.generation == read.stamp.generation, read.state, read.value, unchanged.state,
                refused.generation, ranged.value, missing.state, deleted.state,
                str(out_of_range.value).replace(key, "KEY")]

    assert script(how, "by-worker") == script("caller", "by-caller")
