"""``compute_values``: a commit's new values, computed by the committing thread and, when
they are slow, by helpers of a pool at the same time; the same values in the same order
as one after another."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from ts_core.concurrency import Executor
from ts_ocdbt import _values
from ts_ocdbt._values import compute_values


def _slow_double(threads: set[str]) -> object:
    def apply(item: int) -> bytes:
        threads.add(threading.current_thread().name)
        time.sleep(0.001)  # slow enough (an array chunk being encoded) to go parallel
        return b"%d" % (2 * item)

    return apply


@pytest.mark.parametrize("slow", [False, True])
def test_values_are_those_of_a_serial_map_in_order(monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    monkeypatch.setattr(_values, "default_concurrency", lambda: 3)
    threads: set[str] = set()
    apply = _slow_double(threads) if slow else (lambda item: b"%d" % (2 * item))
    items = list(range(40))
    assert compute_values(apply, items) == [b"%d" % (2 * item) for item in items]  # type: ignore[arg-type]
    if slow:
        # The committing thread takes items too, beside at least one helper.
        assert threading.current_thread().name in threads
        assert len(threads) > 1


def test_one_core_computes_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_values, "default_concurrency", lambda: 1)
    threads: set[str] = set()
    assert compute_values(_slow_double(threads), [1, 2, 3]) == [b"2", b"4", b"6"]  # type: ignore[arg-type]
    assert threads == {threading.current_thread().name}


def test_a_busy_pool_leaves_the_work_to_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every helper thread is busy elsewhere (another commit's values): this commit does
    # not wait for one, it computes its values itself.
    monkeypatch.setattr(_values, "default_concurrency", lambda: 2)
    pool = Executor(1, "busy-values")
    release = threading.Event()
    blocker = pool.submit(release.wait, 30)
    monkeypatch.setattr(_values, "_pool", pool)
    threads: set[str] = set()
    try:
        assert compute_values(_slow_double(threads), list(range(10))) == [b"%d" % (2 * i) for i in range(10)]  # type: ignore[arg-type]
        assert threads == {threading.current_thread().name}
    finally:
        release.set()
    assert blocker.result(timeout=30)


def test_the_first_error_is_raised_and_no_item_starts_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_values, "default_concurrency", lambda: 2)
    started: list[int] = []

    def apply(item: int) -> bytes:
        started.append(item)
        time.sleep(0.001)
        if item == 5:
            raise ValueError("chunk 5 cannot be encoded")
        return b"x"

    with pytest.raises(ValueError, match="chunk 5 cannot be encoded"):
        compute_values(apply, list(range(200)))
    # Items already taken by the other worker finish; no new one is taken.
    assert len(started) < 20


@pytest.mark.parametrize("slow", [False, True])
def test_unread_values_are_those_of_each_modify_given_nothing(monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    # Quick modifies run in one C loop, slow ones (chunks being encoded) on helpers too;
    # either way bytes-like results become bytes and None stays a deletion.
    monkeypatch.setattr(_values, "default_concurrency", lambda: 3)
    seen: list[object] = []

    def modify(item: int) -> Callable[[bytes | None], object]:
        def apply(stored: bytes | None) -> object:
            seen.append(stored)
            if slow:
                time.sleep(0.001)
            return None if item % 5 == 0 else bytearray(b"%d" % item) if item % 3 == 0 else b"%d" % item

        return apply

    values = _values.compute_unread_values([modify(item) for item in range(40)])
    assert values == [None if i % 5 == 0 else b"%d" % i for i in range(40)]
    assert {type(value) for value in values} == {bytes, type(None)}
    assert seen == [None] * 40
    assert _values.compute_unread_values([]) == []
