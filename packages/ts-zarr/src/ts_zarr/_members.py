"""Member checks shared by the zarr v2 and v3 metadata parsers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ts_core.errors import SpecError, describe

__all__ = ["MAX_INDEX", "index_vector", "integer_range"]

#: Largest index a shape or chunk extent may hold (tensorstore's ``kMaxFiniteIndex``).
MAX_INDEX = 2**63 - 2


def index_vector(value: Any, json_path: str, minimum: int) -> tuple[int, ...]:
    """A JSON array of integers in ``[minimum, MAX_INDEX]`` as a tuple; errors name the
    offending element."""
    if type(value) is list:
        for item in value:
            if type(item) is not int or not minimum <= item <= MAX_INDEX:
                break
        else:  # the common case: plain ints in range
            return tuple(value)
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not minimum <= item <= MAX_INDEX:
            raise SpecError(
                f"{json_path}[{position}]",
                f"expected integer in the range [{minimum}, {MAX_INDEX}], but received: {describe(item)}",
            )
    return tuple(value)


_INTEGER_RANGES: dict[np.dtype[Any], tuple[int, int]] = {}


def integer_range(numpy_dtype: np.dtype[Any]) -> tuple[int, int]:
    """``np.iinfo``'s bounds, computed once per dtype (iinfo is slow to build)."""
    bounds = _INTEGER_RANGES.get(numpy_dtype)
    if bounds is None:
        info = np.iinfo(numpy_dtype)
        bounds = _INTEGER_RANGES[numpy_dtype] = (int(info.min), int(info.max))
    return bounds
