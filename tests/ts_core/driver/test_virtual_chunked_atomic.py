"""Atomic transactions over ``virtual_chunked`` views: a write that cannot be committed
atomically fails the whole transaction, so no write function is called for any chunk (no
torn write). Differential: the same scenario on the tensorstore wheel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

LIBRARIES = pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])


class Chunks:
    """A 1-d int32 array behind a virtual_chunked view, recording each write call."""

    def __init__(self, ts: Any, size: int = 4, chunk: int = 2) -> None:
        self.data = np.zeros([size], dtype=np.int32)
        self.writes: list[tuple[int, ...]] = []
        self.view = ts.virtual_chunked(
            self.read, self.write, dtype=ts.int32, domain=ts.IndexDomain(shape=[size]),
            chunk_layout=ts.ChunkLayout(read_chunk_shape=[chunk]),
        )

    def read(self, domain: Any, array: np.ndarray, params: Any) -> None:
        array[...] = self.data[domain.index_exp]

    def write(self, domain: Any, array: np.ndarray, params: Any) -> None:
        self.writes.append(tuple(domain.inclusive_min))
        self.data[domain.index_exp] = array


@LIBRARIES
def test_write_spanning_two_chunks_fails_the_transaction(ts: Any) -> None:
    chunks = Chunks(ts)
    transaction = ts.Transaction(atomic=True)
    with pytest.raises(ValueError, match="single atomic transaction"):
        chunks.view.with_transaction(transaction)[1:3].write([5, 6]).result()
    assert not transaction.open
    assert transaction.aborted
    with pytest.raises(ValueError, match="aborted"):
        chunks.view.with_transaction(transaction)[0].write(9).result()
    with pytest.raises(ValueError, match=r"aborted|atomic"):
        transaction.commit_sync()
    assert chunks.writes == []
    np.testing.assert_array_equal(chunks.data, [0, 0, 0, 0])


@LIBRARIES
def test_second_chunk_in_a_later_write_fails_the_transaction(ts: Any) -> None:
    chunks = Chunks(ts)
    transaction = ts.Transaction(atomic=True)
    chunks.view.with_transaction(transaction)[0:2].write([7, 8]).result()  # one chunk: fine
    with pytest.raises(ValueError, match="atomic"):
        chunks.view.with_transaction(transaction)[2:4].write([1, 2]).result()
    with pytest.raises(ValueError, match=r"aborted|atomic"):
        transaction.commit_sync()
    assert chunks.writes == []  # the first chunk's staged write is not committed either
    np.testing.assert_array_equal(chunks.data, [0, 0, 0, 0])


@LIBRARIES
def test_stack_of_two_virtual_views_fails_the_transaction(ts: Any) -> None:
    layers = [Chunks(ts, size=2), Chunks(ts, size=2)]
    stacked = ts.stack([layer.view for layer in layers])
    transaction = ts.Transaction(atomic=True)
    with pytest.raises(ValueError, match="atomic"):
        stacked.with_transaction(transaction).write([[3, 3], [4, 4]]).result()
    with pytest.raises(ValueError, match=r"aborted|atomic"):
        transaction.commit_sync()
    assert [layer.writes for layer in layers] == [[], []]


@LIBRARIES
def test_one_chunk_commits_atomically(ts: Any) -> None:
    chunks = Chunks(ts)
    transaction = ts.Transaction(atomic=True)
    chunks.view.with_transaction(transaction)[0:2].write([7, 8]).result()
    assert chunks.writes == []  # staged until commit
    transaction.commit_sync()
    assert chunks.writes == [(0,)]
    np.testing.assert_array_equal(chunks.data, [7, 8, 0, 0])


def test_the_transaction_future_reports_the_refusal() -> None:
    chunks = Chunks(ts_core)
    transaction = ts_core.Transaction(atomic=True)
    written = chunks.view.with_transaction(transaction).write([1, 2, 3, 4])
    assert isinstance(written.exception(), ValueError)
    assert transaction.future.exception() is written.exception()


def test_a_non_atomic_transaction_writes_every_chunk_at_commit() -> None:
    chunks = Chunks(ts_core)
    transaction = ts_core.Transaction()
    chunks.view.with_transaction(transaction)[1:3].write([5, 6]).result()
    assert transaction.open
    transaction.commit_sync()
    assert sorted(chunks.writes) == [(0,), (2,)]
    np.testing.assert_array_equal(chunks.data, [0, 5, 6, 0])
