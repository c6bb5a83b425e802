"""Helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Library", "compare", "settle", "timed"]

#: (open_store(path, create), write(store), read(store)) for one library.
Library = tuple[Callable[[str, bool], Any], Callable[[Any], None], Callable[[Any], Any]]


def timed(function: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def settle() -> None:
    """Flush every dirty page and pending discard to disk, so that none of the work left
    behind by the previous measurement (a library that does not fsync, a deleted tree)
    is charged to the next one."""
    os.sync()
    time.sleep(0.2)


def compare(root: str, libraries: dict[str, Library], rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Best (write seconds, read seconds) per library over ``rounds`` interleaved rounds.

    Each round writes every library's array into a new directory and reads it back
    through a newly opened store, in an order rotated from round to round, so that a
    slow spell of a shared disk does not fall on one library only. Every measurement
    starts from a settled disk (see ``settle``). Nothing is deleted between rounds: ext4
    skips recently freed inodes when it creates files, so files created just after a
    large delete cost several times more, which would be charged to whoever came next.
    """
    names = list(libraries)
    best = {name: (float("inf"), float("inf")) for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            open_store, write, read = libraries[name]
            path = f"{root}/{name}-{round_}/"
            store = open_store(path, True)
            settle()
            write_seconds = timed(lambda store=store, write=write: write(store))
            settle()
            store = open_store(path, False)
            read_seconds = timed(lambda store=store, read=read: read(store), repeat=3)
            best[name] = (min(best[name][0], write_seconds), min(best[name][1], read_seconds))
    return best
