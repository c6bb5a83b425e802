"""A commit's new values: what each write's ``modify`` makes of the value it reads,
computed on several threads when they are slow (array chunks being encoded)."""

from __future__ import annotations

import itertools
import operator
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeAlias, TypeVar

from ts_core.concurrency import Executor, default_concurrency

from .format import IndirectDataReference

__all__ = [
    "PARALLEL_MODIFY_SECONDS", "NewValue", "compute_unread_values", "compute_values", "new_value", "new_values"
]

#: A key's new value in a commit: bytes, a value already stored in a data file, or None
#: (deleted).
NewValue: TypeAlias = bytes | IndirectDataReference | None

#: The values of a request are computed on several threads when the first one took
#: longer than this, in seconds: an array chunk being encoded (its compressor releases
#: the GIL), not a small value set as it is.
PARALLEL_MODIFY_SECONDS: Final = 200e-6

_Item = TypeVar("_Item")

_pool: Executor | None = None
_pool_lock = threading.Lock()
#: Set on the pool's threads: a commit made from one computes its values there alone.
_on_pool = threading.local()


def new_value(value: bytes | None) -> NewValue:
    """What a ``modify`` returned (bytes-like, None, or a value already stored in a data
    file), as a new value for the writer."""
    if value is None or value.__class__ is bytes or isinstance(value, IndirectDataReference):
        return value
    return bytes(value)


def compute_values(apply: Callable[[_Item], NewValue], items: Sequence[_Item]) -> list[NewValue]:
    """``[apply(item) for item in items]``: the first on this thread and, if that took a
    while (``PARALLEL_MODIFY_SECONDS``), the others by this thread together with helpers
    from a pool of one thread per core, each taking the next item until none is left, so
    a transaction's chunks are encoded at once rather than one after another on the
    committing thread. Nothing is handed over per item (no Future, no wake-up), and this
    thread never waits for a helper to start: with the pool busy it computes them all.
    The first exception raised is raised, once the items already started have ended."""
    if not items:
        return []
    started = time.perf_counter()
    first = apply(items[0])
    if not _in_parallel(started, len(items)):
        return [first, *map(apply, items[1:])]
    return _compute_in_parallel(apply, items, first)


def compute_unread_values(modifies: Sequence[Callable[[bytes | None], Any]]) -> list[NewValue]:
    """``compute_values`` of writes that do not read the stored value: ``modify(None)`` of
    each. When that is quick (values set as they are: most of a large transaction) the
    calls are one loop in C, and the results are checked in one pass (``new_value`` only
    if one is not bytes or None)."""
    if not modifies:
        return []
    started = time.perf_counter()
    first = new_value(modifies[0](None))
    if _in_parallel(started, len(modifies)):
        return _compute_in_parallel(_unread_value, modifies, first)
    values: list[Any] = [first, *map(operator.call, itertools.islice(modifies, 1, None), itertools.repeat(None))]
    if not set(map(type, values)) <= _NEW_VALUE_TYPES:
        values = list(map(new_value, values))
    return values


def new_values(values: dict[bytes, Any]) -> dict[bytes, NewValue]:
    """A copy of ``values`` (key -> bytes-like or None) as new values: made in C loops when
    each is bytes or None already (a transaction's whole values)."""
    if set(map(type, values.values())) <= _NEW_VALUE_TYPES:
        return dict(values)
    return {key: new_value(value) for key, value in values.items()}


#: The types a ``modify`` returns that are new values as they are.
_NEW_VALUE_TYPES: Final = frozenset({bytes, type(None)})


def _unread_value(modify: Callable[[bytes | None], Any]) -> NewValue:
    return new_value(modify(None))


def _in_parallel(started: float, count: int) -> bool:
    """Whether the items of a ``compute_values`` call whose first took since ``started``
    are worth computing on several threads."""
    return (
        min(default_concurrency(), count) > 1
        and time.perf_counter() - started >= PARALLEL_MODIFY_SECONDS
        and not getattr(_on_pool, "active", False)
    )


def _compute_in_parallel(apply: Callable[[_Item], NewValue], items: Sequence[_Item], first: NewValue) -> list[NewValue]:
    """The rest of ``compute_values``: the items after the first by this thread and helpers."""
    global _pool
    helpers = min(default_concurrency(), len(items)) - 1
    with _pool_lock:
        if _pool is None:
            _pool = Executor(default_concurrency(), "ts-ocdbt-values")
        pool = _pool
    job = _Job(apply, items, first)
    futures = [pool.submit(_help, job) for _ in range(helpers)]
    try:
        job.work()
        return job.finish()
    finally:
        for future in futures:
            future.cancel()  # a helper that has not started yet need not


def _help(job: _Job[Any]) -> None:
    _on_pool.active = True
    job.work()


class _Job(Generic[_Item]):
    """The items of one ``compute_values`` call, taken one at a time by its workers."""

    def __init__(self, apply: Callable[[_Item], NewValue], items: Sequence[_Item], first: NewValue) -> None:
        self._apply: Callable[[_Item], NewValue] | None = apply
        self._items = items
        self._values: list[NewValue] = [first, *([None] * (len(items) - 1))]
        self._next = 1
        self._running = 0  # items being computed
        self._errors: list[BaseException] = []
        self._changed = threading.Condition(threading.Lock())

    def work(self) -> None:
        """Compute items until none is left (or one failed)."""
        changed = self._changed
        while True:
            with changed:
                apply, index = self._apply, self._next
                if apply is None or self._errors or index >= len(self._items):
                    return
                self._next, self._running = index + 1, self._running + 1
            try:
                self._values[index] = apply(self._items[index])
            except BaseException as error:
                with changed:
                    self._errors.append(error)
            finally:
                with changed:
                    self._running -= 1
                    if not self._running:
                        changed.notify_all()

    def finish(self) -> list[NewValue]:
        """(On the calling thread, once it found nothing left to take.) The values, once
        the items that helpers are computing have ended; the first error if one failed.
        A helper that starts later finds the job closed (and holds none of its items or
        values while it waits in the pool's queue)."""
        with self._changed:
            while self._running:
                self._changed.wait()
            self._apply = None
            values, errors = self._values, self._errors
            self._items, self._values = (), []
        if errors:
            raise errors[0]
        return values
