"""What ``TensorStore.write`` accepts as a source, converted and aligned as tensorstore does.

A NumPy array is converted with NumPy's ``safe`` casting (a TypeError otherwise), anything
else (lists, Python and NumPy scalars) with an ordinary conversion to the target type. A
TensorStore source must convert implicitly (ValueError: "Explicit data type conversion
required"). Source dimensions align with the target's from the right; a size-1 source
dimension broadcasts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..index_space import IndexDomain

__all__ = ["align_shape", "check_implicit_conversion", "convert_array_source"]


def convert_array_source(source: Any, numpy_dtype: np.dtype[Any], rank: int) -> np.ndarray[Any, Any]:
    """``source`` as an array of ``numpy_dtype`` with at most ``rank`` dimensions."""
    if isinstance(source, np.ndarray):
        if source.ndim > rank:
            raise ValueError("object too deep for desired array")
        if source.dtype == numpy_dtype:
            return source
        if numpy_dtype.kind == "O":
            return source.astype(object)
        return source.astype(numpy_dtype, casting="safe")
    array = np.asarray(source, dtype=numpy_dtype)
    if array.ndim > rank:
        raise ValueError("object too deep for desired array")
    return array


def _bounds(domain: IndexDomain | None, shape: tuple[int, ...], dim: int) -> str:
    if domain is None:
        return f"[0, {shape[dim]})"
    return f"[{domain.inclusive_min[dim]}, {domain.exclusive_max[dim]})"


def align_shape(
    source_shape: tuple[int, ...], target: IndexDomain, source_domain: IndexDomain | None = None
) -> tuple[int, ...]:
    """The source shape to broadcast from, once aligned with ``target`` (right-aligned;
    unmatched leading source dimensions must have size 1 and are dropped)."""
    target_shape = tuple(target.shape)
    extra = len(source_shape) - len(target_shape)
    for dim in range(max(0, extra)):
        if source_shape[dim] != 1:
            raise ValueError(
                f"Error aligning dimensions: unmatched source dimension {dim} "
                f"{_bounds(source_domain, source_shape, dim)} does not have a size of 1"
            )
    kept = source_shape[max(0, extra):]
    offset = len(target_shape) - len(kept)
    for position, size in enumerate(kept):
        dim = position + offset
        if size != 1 and size != target_shape[dim]:
            source_dim = position + max(0, extra)
            raise ValueError(
                f"Error aligning dimensions: source dimension {source_dim} "
                f"{_bounds(source_domain, source_shape, source_dim)} mismatch with target dimension "
                f"{dim} [{target.inclusive_min[dim]}, {target.exclusive_max[dim]})"
            )
    return kept


def check_implicit_conversion(source: Any, target: Any) -> None:
    """Raise as tensorstore does when ``source`` dtype does not convert implicitly to ``target``
    (both ``ts.dtype``): NumPy's safe casting, object types only to the same type."""
    if source == target:
        return
    source_numpy, target_numpy = source.numpy_dtype, target.numpy_dtype
    implicit = source_numpy.kind != "O" and target_numpy.kind != "O" and np.can_cast(
        source_numpy, target_numpy, "safe"
    )
    if not implicit:
        raise ValueError(f"Explicit data type conversion required to convert {source.name} -> {target.name}")
