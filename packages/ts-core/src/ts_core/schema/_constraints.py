"""Value checks and hard/soft merging shared by ``ChunkLayout`` and ``ChunkLayout.Grid``.

Every constraint vector keeps one value per dimension plus a "hard" flag. A hard value
must agree with an existing hard value; it replaces a soft one. A soft value only fills
a dimension that has no value yet. "Unset" is ``0`` for chunk shapes and aspect ratios
and ``None`` for grid origins, as in tensorstore's JSON where ``0`` and ``null`` both
mean "unconstrained" for shapes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

from .._validation import SpecError, describe

__all__ = [
    "MAX_FINITE_INDEX",
    "MAX_RANK",
    "check_rank",
    "json_float_vector",
    "json_int",
    "json_int_vector",
    "merge_vector",
    "py_float_vector",
    "py_int",
    "py_int_vector",
]

#: Largest finite index (tensorstore's ``kMaxFiniteIndex``, ``2**62 - 2``).
MAX_FINITE_INDEX = (1 << 62) - 2
#: Largest supported rank (tensorstore's ``kMaxRank``).
MAX_RANK = 32


def check_rank(rank: int, path: str) -> int:
    if not 0 <= rank <= MAX_RANK:
        raise SpecError(path, f"rank {rank} is outside the valid range [0, {MAX_RANK}]")
    return rank


def merge_vector(
    values: list[Any],
    hard: list[bool],
    new_values: Sequence[Any],
    new_hard: bool,
    unset: Any,
    path: str,
) -> None:
    """Merge ``new_values`` (hard or soft) into ``values``/``hard`` in place."""
    for dim, value in enumerate(new_values):
        if value == unset or value is None:
            continue
        if new_hard:
            if hard[dim]:
                if values[dim] != value:
                    raise SpecError(
                        path,
                        f"new hard constraint ({_show(value)}) for dimension {dim} does not match "
                        f"existing hard constraint ({_show(values[dim])})",
                    )
            else:
                values[dim] = value
                hard[dim] = True
        elif values[dim] == unset or values[dim] is None:
            values[dim] = value


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- Python arguments -----------------------------------------------------------------------


def py_int(value: Any, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"Invalid {name}: expected an integer, got {value!r}") from None


def py_int_vector(value: Any, name: str) -> list[int | None]:
    """A sequence of integers or ``None`` given as a Python argument."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"Invalid {name}: expected a sequence of integers or None, got {value!r}")
    out: list[int | None] = []
    for item in value:
        if item is None:
            out.append(None)
            continue
        try:
            out.append(operator.index(item))
        except TypeError:
            raise TypeError(
                f"Invalid {name}: expected a sequence of integers or None, got {value!r}"
            ) from None
    return out


def py_float_vector(value: Any, name: str) -> list[float | None]:
    """A sequence of numbers or ``None`` given as a Python argument."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"Invalid {name}: expected a sequence of numbers or None, got {value!r}")
    out: list[float | None] = []
    for item in value:
        if item is None:
            out.append(None)
            continue
        try:
            out.append(float(item))
        except (TypeError, ValueError):
            raise TypeError(
                f"Invalid {name}: expected a sequence of numbers or None, got {value!r}"
            ) from None
    return out


# -- JSON members ---------------------------------------------------------------------------


def _is_json_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def json_int(value: Any, path: str) -> int:
    if not _is_json_int(value):
        raise SpecError(path, f"expected integer, but received: {describe(value)}")
    return int(value)


def json_int_vector(value: Any, path: str) -> list[int | None]:
    if not isinstance(value, list | tuple):
        raise SpecError(path, f"expected array, but received: {describe(value)}")
    return [None if item is None else json_int(item, f"{path}[{i}]") for i, item in enumerate(value)]


def json_float_vector(value: Any, path: str) -> list[float | None]:
    if not isinstance(value, list | tuple):
        raise SpecError(path, f"expected array, but received: {describe(value)}")
    out: list[float | None] = []
    for i, item in enumerate(value):
        if item is None:
            out.append(None)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(float(item))
        else:
            raise SpecError(f"{path}[{i}]", f"expected number, but received: {describe(item)}")
    return out
