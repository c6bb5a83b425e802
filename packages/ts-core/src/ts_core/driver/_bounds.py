"""The bounds check every driver makes before it copies between its array and a request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import OutOfRangeError

__all__ = ["check_in_bounds"]


def check_in_bounds(transform: Any, shape: Sequence[int], origin: Sequence[int] | None = None) -> None:
    """Raise ``OutOfRangeError`` when ``transform`` reaches outside ``[origin, origin + shape)``.

    Call it before indexing a NumPy array with a transform's partition: NumPy would wrap a
    negative index, or an index array past the end, into a silently wrong element.
    """
    from ..index_space import output_index_bounds

    for dim, (low, high) in enumerate(output_index_bounds(transform)):
        start = 0 if origin is None else int(origin[dim])
        stop = start + int(shape[dim])
        if low <= high and (low < start or high >= stop):
            raise OutOfRangeError(
                f"index range [{low}, {high + 1}) is out of bounds for dimension {dim} "
                f"with domain [{start}, {stop})"
            )
