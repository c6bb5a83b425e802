"""ts.Future / ts.Promise against the tensorstore wheel: construction from future-likes and
coroutines, typing, pickling, timeouts, and that a failed coroutine leaves no thread behind."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import textwrap
import threading
import typing
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import tensorstore

import ts_core

LIBRARIES = [pytest.param(ts_core, id="ts_core"), pytest.param(tensorstore, id="tensorstore")]


def _outcome(call: Any, library: Any) -> tuple[str, str]:
    try:
        return ("value", repr(call(library)))
    except BaseException as error:
        return ("error", type(error).__name__)


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop

    async def drain() -> None:  # let cancelled tasks finish before the loop stops
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(drain(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.mark.parametrize("ts", LIBRARIES)
def test_future_of_a_future_is_itself_and_values_are_immediate(ts: Any) -> None:
    future = ts.Future(3)
    assert future.done()
    assert ts.Future(future) is future
    assert ts.Future(future=4).result() == 4
    assert ts.Future(None).result() is None


def test_conversions_match_the_wheel() -> None:
    async def value() -> int:
        return 1

    calls = {
        "no argument": lambda ts: ts.Future(),
        "two positional": lambda ts: ts.Future(1, 2),
        "coroutine without a loop": lambda ts: ts.Future(value()),
        "Promise()": lambda ts: ts.Promise(),
        "pickle Future": lambda ts: pickle.dumps(ts.Future(1)),
        "pickle Promise": lambda ts: pickle.dumps(ts.Promise.new()[0]),
        "timeout as text": lambda ts: ts.Promise.new()[1].result(timeout="soon"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the wheel leaves the coroutine unawaited
        for name, call in calls.items():
            ours, theirs = _outcome(call, ts_core), _outcome(call, tensorstore)
            if name == "no argument":  # ts makes pending futures this way for its own producers
                assert theirs[0] == "error"
                assert not ts_core.Future().done()
                continue
            assert ours[0] == theirs[0] == "error", name
            assert ours == theirs, name


def test_coroutine_without_a_loop_is_closed_not_leaked() -> None:
    async def value() -> int:
        return 1

    coroutine = value()
    with pytest.raises(ValueError, match="no event loop specified"):
        ts_core.Future(coroutine)
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning later


@pytest.mark.parametrize("ts", LIBRARIES)
def test_coroutine_runs_on_the_running_loop(ts: Any) -> None:
    async def later(value: int) -> int:
        await asyncio.sleep(0.01)
        return value

    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    async def main() -> tuple[bool, int, str]:
        future = ts.Future(later(42))
        started_done = future.done()
        value = await future
        with pytest.raises(KeyError):
            await ts.Future(fails())
        return started_done, value, repr(await asyncio.wait_for(ts.Future(later(7)), 10))

    assert asyncio.run(main()) == (False, 42, "7")


@pytest.mark.parametrize("ts", LIBRARIES)
def test_coroutine_runs_on_the_given_loop(ts: Any, loop_thread: asyncio.AbstractEventLoop) -> None:
    async def where() -> str:
        return threading.current_thread().name

    async def fails() -> None:
        raise ValueError("from the loop")

    async def forever() -> None:
        await asyncio.sleep(3600)

    assert ts.Future(where(), loop=loop_thread).result(timeout=10) != threading.current_thread().name
    with pytest.raises(ValueError, match="from the loop"):
        ts.Future(fails(), loop=loop_thread).result(timeout=10)
    pending = ts.Future(forever(), loop=loop_thread)
    assert not pending.done()
    assert pending.cancel()
    assert pending.cancelled()
    with pytest.raises(asyncio.CancelledError):
        pending.result(timeout=10)


@pytest.mark.parametrize("ts", LIBRARIES)
def test_other_awaitables_are_immediate_results_as_in_the_wheel(ts: Any) -> None:
    async def main() -> bool:
        task = asyncio.ensure_future(asyncio.sleep(0, result=5))
        converted = ts.Future(task)
        same = converted.done() and converted.result() is task
        await task
        return same

    assert asyncio.run(main())


def test_failed_coroutine_leaves_no_thread_and_the_interpreter_exits() -> None:
    script = textwrap.dedent(
        """
        import asyncio, threading
        import ts_core as ts

        async def fails():
            raise RuntimeError("boom")

        try:
            ts.Future(fails())
        except ValueError:
            pass

        async def main():
            try:
                await ts.Future(fails())
            except RuntimeError:
                pass
        asyncio.run(main())

        loop = asyncio.new_event_loop()
        future = ts.Future(fails(), loop=loop)
        try:
            loop.run_until_complete(asyncio.sleep(0.01))
        finally:
            loop.close()
        assert isinstance(future.exception(timeout=5), RuntimeError)
        print(threading.active_count())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "never awaited" not in done.stderr


@pytest.mark.parametrize("ts", LIBRARIES)
def test_generic_aliases(ts: Any) -> None:
    promise, future = ts.Promise[int].new()
    assert typing.get_origin(ts.Future[int]) is ts.Future
    assert typing.get_args(ts.Promise[str]) == (str,)
    promise.set_result(5)
    assert future.result() == 5


@pytest.mark.parametrize("ts", LIBRARIES)
def test_timeouts_and_deadlines(ts: Any) -> None:
    import time

    promise, future = ts.Promise.new()
    for kwargs in ({"timeout": 0.01}, {"timeout": -1}, {"deadline": time.time() + 0.01}, {"deadline": 0}):
        with pytest.raises(TimeoutError):
            future.result(**kwargs)
        with pytest.raises(TimeoutError):
            future.exception(**kwargs)
    promise.set_result(1)
    assert future.result(timeout=0) == 1


@pytest.mark.parametrize("ts", LIBRARIES)
def test_callbacks_cancel_and_force(ts: Any) -> None:
    promise, future = ts.Promise.new()
    seen: list[Any] = []

    def callback(f: Any) -> None:
        seen.append(f.result())

    future.add_done_callback(callback)
    future.add_done_callback(callback)
    assert future.remove_done_callback(callback) == 2
    assert future.remove_done_callback(callback) == 0
    future.add_done_callback(callback)
    assert future.force() is None
    promise.set_result(9)
    promise.set_result(10)  # ignored: already done
    assert seen == [9]
    _, pending = ts.Promise.new()
    assert pending.cancel() is True
    assert pending.cancel() is False
    assert pending.cancelled()
    assert pending.done()
    with pytest.raises(asyncio.CancelledError):
        pending.exception()


def test_repr_names_the_class_and_state() -> None:
    promise, future = ts_core.Promise.new()
    assert repr(future).startswith("<ts_core.Future object at 0x")
    assert repr(future).endswith(", pending>")
    promise.set_exception(ValueError("x"))
    assert repr(future).endswith(", failed: ValueError>")
    assert repr(promise).startswith("<ts_core.Promise object at 0x")
    with pytest.raises(TypeError, match="expected an exception"):
        promise.set_exception(5)  # type: ignore[arg-type]
