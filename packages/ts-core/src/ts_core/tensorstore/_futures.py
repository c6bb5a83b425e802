"""The result types of TensorStore operations: ``WriteFutures``, ``StorageStatistics``, and
``then`` to chain a conversion onto a Future without blocking."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from .._future import Future, failed, then

__all__ = ["StorageStatistics", "WriteFutures", "failed", "then"]

T = TypeVar("T")
U = TypeVar("U")


class WriteFutures:
    """The outcome of a write: ``copy`` (the source has been read) and ``commit`` (the
    write is reflected in later reads; durable unless in a transaction).

    Waiting on the object itself (``result()``, ``await``, ``done()``...) waits on ``commit``,
    as tensorstore's ``WriteFutures`` does.
    """

    __slots__ = ("__weakref__", "_commit", "_copy")

    def __init__(self, commit: Future[None], copy: Future[None] | None = None) -> None:
        self._commit = commit
        self._copy = commit if copy is None else copy

    @property
    def copy(self) -> Future[None]:
        return self._copy

    @property
    def commit(self) -> Future[None]:
        return self._commit

    def result(self, timeout: float | None = None, deadline: float | None = None) -> None:
        return self._commit.result(timeout=timeout, deadline=deadline)

    def exception(self, timeout: float | None = None, deadline: float | None = None) -> BaseException | None:
        return self._commit.exception(timeout=timeout, deadline=deadline)

    def done(self) -> bool:
        return self._commit.done()

    def cancelled(self) -> bool:
        return self._commit.cancelled()

    def cancel(self) -> bool:
        return self._commit.cancel()

    def force(self) -> None:
        self._commit.force()

    def add_done_callback(self, callback: Callable[[Future[None]], None]) -> None:
        self._commit.add_done_callback(callback)

    def remove_done_callback(self, callback: Callable[[Future[None]], None]) -> int:
        return self._commit.remove_done_callback(callback)

    def __await__(self) -> Generator[Any, None, None]:
        return self._commit.__await__()

    def __repr__(self) -> str:
        return f"<ts.WriteFutures commit={self._commit!r}>"


class StorageStatistics:
    """Whether a region is stored: ``not_stored`` (nothing) / ``fully_stored`` (everything)."""

    __slots__ = ("fully_stored", "not_stored")

    def __init__(self, not_stored: bool | None = None, fully_stored: bool | None = None) -> None:
        self.not_stored = not_stored
        self.fully_stored = fully_stored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StorageStatistics):
            return NotImplemented
        return (self.not_stored, self.fully_stored) == (other.not_stored, other.fully_stored)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TensorStore.StorageStatistics(not_stored={self.not_stored}, fully_stored={self.fully_stored})"
