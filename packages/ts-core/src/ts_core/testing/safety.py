"""Helpers for hostile-input tests of a kvstore or driver (ours or a third party's).

* :func:`sandbox` makes ``outside/secret`` and an empty ``root/`` below a directory, so a
  test can open a store at ``root/`` and check that nothing beside it changed;
* :func:`files_below` snapshots every file below a directory (relative path -> bytes);
* :func:`read_traced` reads a whole TensorStore and reports what it raised and the peak
  memory traced meanwhile, for decompression-bomb and size-limit tests;
* :func:`peak_while_raising` checks that a call is refused and reports the peak memory
  traced until then.
"""

from __future__ import annotations

import contextlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["files_below", "peak_while_raising", "read_traced", "sandbox"]


def files_below(top: Path) -> dict[str, bytes]:
    """Every file below ``top``, by path relative to it, with its bytes."""
    return {
        os.path.relpath(os.path.join(directory, name), top): Path(directory, name).read_bytes()
        for directory, _, names in os.walk(top)
        for name in names
    }


def sandbox(directory: Path) -> Path:
    """Make ``directory/outside/secret`` and an empty ``directory/root``; return the root."""
    (directory / "outside").mkdir()
    (directory / "outside" / "secret").write_bytes(b"secret")
    (directory / "root").mkdir()
    return directory / "root"


def read_traced(store: Any) -> tuple[BaseException | None, int]:
    """Read all of ``store``: the exception raised (or None) and the peak traced bytes.

    The read runs once untraced first, so lazy imports and thread start-up do not count.
    """
    with contextlib.suppress(Exception):
        store.read().result()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        error: BaseException | None = None
        try:
            store.read().result()
        except Exception as exc:
            error = exc
        return error, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def peak_while_raising(call: Callable[[], Any], match: str, exception: type[BaseException] = ValueError) -> int:
    """Run ``call``, which must raise ``exception`` matching ``match`` (a regex); return
    the peak traced memory meanwhile (to show a refusal came before any big allocation)."""
    import pytest

    tracemalloc.start()
    try:
        with pytest.raises(exception, match=match):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
