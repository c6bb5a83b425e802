"""Running many blocking kvstore operations at once, with the calling thread taking part."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .._executor import Executor

__all__ = ["run_all"]

Item = TypeVar("Item")

#: What the item iterator gives when it is exhausted (an item may itself be None).
_DONE = object()


def run_all(executor: Executor | None, limit: int, items: Sequence[Item], work: Callable[[Item], object]) -> None:
    """Call ``work`` on every item, up to ``limit`` at once, and return when all are done.

    The calling thread works through the items itself while up to ``limit - 1`` helpers
    from ``executor`` join it, each taking the next item until none is left. The caller
    waits only for items a helper has taken, never for a helper to start, so this cannot
    deadlock even when it runs on a thread of a saturated ``executor``. After the first
    error no further item is started; that error is raised once the running ones end.
    """
    if executor is None or limit <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    pending = iter(items)
    lock = threading.Lock()
    idle = threading.Condition(lock)
    busy = [0]  # items helpers are working on
    errors: list[BaseException] = []

    def drain(helper: bool) -> None:
        while True:
            with lock:
                item = _DONE if errors else next(pending, _DONE)
                if item is _DONE:
                    return
                if helper:
                    busy[0] += 1
            try:
                work(item)  # type: ignore[arg-type]
            except BaseException as error:
                with lock:
                    errors.append(error)
            finally:
                if helper:
                    with lock:
                        busy[0] -= 1
                        idle.notify_all()

    for _ in range(min(limit, len(items)) - 1):
        executor.submit(drain, True)
    drain(False)
    with lock:
        while busy[0]:
            idle.wait()
    if errors:
        raise errors[0]
