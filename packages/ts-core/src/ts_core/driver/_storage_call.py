"""Kvstore calls of the chunked driver whose failures name the key involved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ChunkStorageError

__all__ = ["storage_call"]


def storage_call(action: str, full_key: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a kvstore call; failures other than our own input errors name the key."""
    try:
        return call(*args, **kwargs)
    except (ValueError, TypeError, ChunkStorageError):
        raise
    except Exception as exc:
        raise ChunkStorageError(f"{action} {full_key!r} failed: {type(exc).__name__}: {exc}") from exc
