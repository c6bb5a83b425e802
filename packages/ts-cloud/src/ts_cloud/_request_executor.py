"""The request executor of the cloud kvstores: a caller that waits runs its own request.

A small request to a nearby object store takes 0.3-0.5 ms; handing it to a worker
thread and the answer back cost 30-70 us more (two thread wake-ups and the GIL changing
hands twice), and a worker woken for a request its caller then runs itself still
contends for the GIL. So the executor holds back the most recent request for a moment
instead of waking a worker at once:

* a caller that blocks on its Future (``store.read(key).result()``, ``read_blocking``
  from a chunk cache's worker) takes the held request and runs it on its own thread;
* anything else that needs it started hands it to a worker: the next submission (so a
  burst of requests runs concurrently), a caller blocking on another request, a
  callback, ``await``, ``done()``, ``force()``, a wait with a timeout;
* otherwise a ticker thread hands it over within ``HOLD_SECONDS``: no request waits
  longer than that to start. The ticker parks when nothing has been submitted for a
  while, and exits when parked for long.

A queued request that no worker has started yet is also run by a caller that blocks on
it. Each request runs exactly once, on whichever thread takes it first. A request run by
its caller is one more than ``limit`` in flight; callers are threads of their own
bounded pools (or the user's), so the total stays bounded.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ts_core import Future, Promise
from ts_core.concurrency import Executor

__all__ = ["HOLD_SECONDS", "RequestExecutor", "RequestFuture"]

T = TypeVar("T")

#: Longest a request waits for its caller before a worker is woken for it. Every tick
#: of the ticker takes the GIL, which costs the threads doing requests: 1 ms ticks
#: cost a tight loop of small requests 30 us each, 5 ms ticks under 10.
HOLD_SECONDS = 0.005
#: The ticker parks after this many ticks without a submission, and exits after
#: ``TICKER_EXIT_SECONDS`` parked.
PARK_AFTER_TICKS = 200
TICKER_EXIT_SECONDS = 5.0

# Where a request is: held back for its caller, queued for a worker, or taken (being
# run or done, or cancelled before it started).
_HELD, _QUEUED, _TAKEN = 0, 1, 2


class _Request:
    """One submitted call; its ``state`` changes under the executor's lock."""

    __slots__ = ("args", "function", "future", "promise", "state")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...], promise: Promise[Any],
                 future: RequestFuture[Any]) -> None:
        self.function: Callable[..., Any] | None = function
        self.args = args
        self.promise = promise
        self.future: RequestFuture[Any] | None = future  # dropped once run
        self.state = _HELD

    def run(self) -> None:
        function, args = self.function, self.args
        assert function is not None
        self.function, self.args, self.future = None, (), None  # references go once it is done
        try:
            result = function(*args)
        except BaseException as exc:  # result() raises it, as for a worker's request
            self.promise.set_exception(exc)
        else:
            self.promise.set_result(result)


class RequestFuture(Future[T]):
    """A request's Future: waiting on it before a worker starts the request runs it here."""

    __slots__ = ("executor", "request")

    executor: RequestExecutor
    request: _Request

    def start(self) -> None:
        """Make sure the request is started or queued for a worker (no longer held back)."""
        self.executor.dispatch_if_held(self.request)

    def run_if_unstarted(self) -> None:
        """Run the request on this thread unless it has started elsewhere."""
        if self.executor.take_for_caller(self.request):
            self.request.run()

    def result(self, timeout: float | None = None, deadline: float | None = None) -> T:
        if timeout is None and deadline is None:
            self.run_if_unstarted()
        else:
            self.start()
        return super().result(timeout, deadline)

    def exception(self, timeout: float | None = None, deadline: float | None = None) -> BaseException | None:
        if timeout is None and deadline is None:
            self.run_if_unstarted()
        else:
            self.start()
        return super().exception(timeout, deadline)

    def done(self) -> bool:
        self.start()
        return super().done()

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        self.start()
        super().add_done_callback(callback)

    def force(self) -> None:
        self.start()

    def cancel(self) -> bool:
        # A request that has not started is taken so that nobody runs it.
        self.executor.take(self.request)
        return super().cancel()


class RequestExecutor(Executor):
    """An Executor whose most recent request waits briefly for its caller to run it."""

    def __init__(self, limit: int, name: str = "ts") -> None:
        super().__init__(limit, name)
        self.reset_holding()
        _request_executors.add(self)

    def reset_holding(self) -> None:
        """No request held and no ticker (also what a forked child starts from)."""
        self.hold_lock = threading.Lock()
        self.held: _Request | None = None
        self.submissions = 0
        self.ticker_running = False
        self.ticker_parked = False
        #: Released to wake a parked ticker.
        self.ticker_wake = threading.Lock()
        self.ticker_wake.acquire()

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        pair: tuple[Promise[T], Future[T]] = Promise.new()
        promise, completion = pair
        # Completed (on the thread that runs the request) when ``completion`` is.
        future: RequestFuture[T] = RequestFuture(completion)
        request = _Request(function, args, promise, future)
        future.executor = self
        future.request = request
        with self.hold_lock:
            previous, self.held = self.held, request
            self.submissions += 1
            if previous is not None:
                previous.state = _QUEUED
            start_ticker = not self.ticker_running
            wake_ticker = self.ticker_parked
            self.ticker_running = True
            self.ticker_parked = False
        if wake_ticker:
            self.ticker_wake.release()
        elif start_ticker:
            threading.Thread(target=self.tick, name=f"{self.name}-ticker", daemon=True).start()
        if previous is not None:
            self.dispatch(previous)
        return future

    def dispatch(self, request: _Request) -> None:
        """Queue a request (state ``_QUEUED``) for a worker."""
        super().submit(self.run_on_worker, request)

    def run_on_worker(self, request: _Request) -> None:
        if self.take(request):
            request.run()

    def take(self, request: _Request) -> bool:
        """Claim a request that has not started: True if this thread now owns it."""
        with self.hold_lock:
            if request.state == _TAKEN:
                return False
            if request.state == _HELD:
                self.held = None
            request.state = _TAKEN
            return True

    def take_for_caller(self, request: _Request) -> bool:
        """``take`` for a caller about to block: another held request goes to a worker."""
        with self.hold_lock:
            other = self.held if self.held is not request else None
            if other is not None:
                other.state = _QUEUED
            if request.state == _TAKEN:
                taken = False
            else:
                taken = True
                request.state = _TAKEN
            if self.held is request or other is not None:
                self.held = None
        if other is not None:
            self.dispatch(other)
        return taken

    def dispatch_if_held(self, request: _Request) -> None:
        with self.hold_lock:
            if request.state != _HELD:
                return
            self.held = None
            request.state = _QUEUED
        self.dispatch(request)

    def tick(self) -> None:
        """Dispatch whatever request is still held every ``HOLD_SECONDS``; park when idle."""
        idle_ticks = 0
        submissions = -1
        while True:
            time.sleep(HOLD_SECONDS)
            with self.hold_lock:
                request = self.held
                if request is not None:
                    self.held = None
                    request.state = _QUEUED
                    idle_ticks = 0
                else:
                    # Idle means no submissions, not merely none held: a caller that
                    # runs each of its own requests must not have to wake a parked ticker.
                    idle_ticks = idle_ticks + 1 if submissions == self.submissions else 0
                    submissions = self.submissions
                    if idle_ticks >= PARK_AFTER_TICKS:
                        self.ticker_parked = True
            if request is not None:
                self.dispatch(request)
            elif idle_ticks >= PARK_AFTER_TICKS and not self.park():
                return
            else:
                idle_ticks = 0 if idle_ticks >= PARK_AFTER_TICKS else idle_ticks

    def park(self) -> bool:
        """Wait for a submission to wake the ticker: False if it should exit instead."""
        woken = self.ticker_wake.acquire(timeout=TICKER_EXIT_SECONDS)
        if woken:
            return True
        with self.hold_lock:
            if self.ticker_parked:  # nobody came: exit (the next submission starts a ticker)
                self.ticker_parked = False
                self.ticker_running = False
                return False
        # A submission woke it just as the wait timed out: take that wake-up.
        self.ticker_wake.acquire()
        return True


_request_executors: weakref.WeakSet[RequestExecutor] = weakref.WeakSet()


def _reset_after_fork() -> None:
    # The ticker does not survive fork; a held request belonged to the parent.
    for executor in list(_request_executors):
        executor.reset_holding()


os.register_at_fork(after_in_child=_reset_after_fork)
