"""A commit's new values: what each write's ``modify`` makes of the value it reads,
computed on several threads when they are slow (array chunks being encoded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, TypeAlias, TypeVar

from ts_core.concurrency import Executor, default_concurrency

from .format import IndirectDataReference

__all__ = ["PARALLEL_MODIFY_SECONDS", "NewValue", "compute_values", "new_value"]

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
    while (``PARALLEL_MODIFY_SECONDS``), the others on a pool of one thread per core, so
    a transaction's chunks are encoded at once rather than one after another on the
    committing thread. The first exception raised is raised."""
    if not items:
        return []
    started = time.perf_counter()
    first = apply(items[0])
    if (
        len(items) == 1
        or time.perf_counter() - started < PARALLEL_MODIFY_SECONDS
        or getattr(_on_pool, "active", False)
        or default_concurrency() < 2
    ):
        return [first, *map(apply, items[1:])]
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Executor(default_concurrency(), "ts-ocdbt-values")
        pool = _pool

    def on_pool(item: _Item) -> NewValue:
        _on_pool.active = True
        return apply(item)

    futures = [pool.submit(on_pool, item) for item in items[1:]]
    return [first, *(future.result() for future in futures)]
