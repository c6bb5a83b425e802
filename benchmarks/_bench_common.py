"""Helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

__all__ = ["timed", "write_then_read"]


def timed(function: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def write_then_read(
    path: str,
    open_store: Callable[[str, bool], Any],
    write: Callable[[Any], None],
    read: Callable[[Any], Any],
) -> tuple[float, float]:
    """(write seconds, best of two read seconds) for a store created fresh at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    store = open_store(path, True)
    write_seconds = timed(lambda: write(store))
    store = open_store(path, False)
    return write_seconds, timed(lambda: read(store), repeat=2)
