"""Merging two index domains given as schema constraints (tensorstore's ``ts.open`` rules).

1. Ranks must match. 2. Bounds must match, except that an infinite *and* implicit bound
yields to the other domain's bound. 3. A non-empty label wins over an empty one; two
non-empty labels must be equal. Works on any object with the ``IndexDomain`` attributes,
and builds the result with ``factory`` (``ts_core.index_space.IndexDomain`` by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._validation import SpecError

__all__ = ["INF_INDEX", "merge_domains"]

#: Infinite bound, tensorstore's ``kInfIndex`` (``2**62 - 1``).
INF_INDEX = (1 << 62) - 1


def _default_factory() -> Callable[..., Any]:
    from ..index_space import IndexDomain

    return IndexDomain


def merge_domains(existing: Any, new: Any, path: str = "domain",
                  factory: Callable[..., Any] | None = None) -> Any:
    """The domain satisfying both ``existing`` and ``new``; ``SpecError`` on a mismatch."""
    if existing.rank != new.rank:
        raise SpecError(path, f"rank {new.rank} does not match existing rank {existing.rank}")

    def fail(dim: int, what: str) -> SpecError:
        return SpecError(path, f"cannot merge index domain {existing} with index domain {new}: "
                               f"mismatch in dimension {dim}: {what} do not match")

    lower, upper, implicit_lower, implicit_upper, labels = [], [], [], [], []
    for dim in range(existing.rank):
        a_low, b_low = existing.inclusive_min[dim], new.inclusive_min[dim]
        a_low_implicit, b_low_implicit = (existing.implicit_lower_bounds[dim],
                                          new.implicit_lower_bounds[dim])
        low, low_implicit = _merge_bound(a_low, a_low_implicit, b_low, b_low_implicit,
                                         -INF_INDEX)
        if low is None:
            raise fail(dim, "lower bounds")
        a_high, b_high = existing.inclusive_max[dim], new.inclusive_max[dim]
        high, high_implicit = _merge_bound(a_high, existing.implicit_upper_bounds[dim],
                                           b_high, new.implicit_upper_bounds[dim], INF_INDEX)
        if high is None:
            raise fail(dim, "upper bounds")
        a_label, b_label = existing.labels[dim], new.labels[dim]
        if a_label and b_label and a_label != b_label:
            raise fail(dim, "dimension labels")
        lower.append(low)
        upper.append(high)
        implicit_lower.append(low_implicit)
        implicit_upper.append(high_implicit)
        labels.append(a_label or b_label)
    make = factory or _default_factory()
    return make(inclusive_min=lower, inclusive_max=upper, implicit_lower_bounds=implicit_lower,
                implicit_upper_bounds=implicit_upper, labels=labels)


def _merge_bound(a: int, a_implicit: bool, b: int, b_implicit: bool,
                 infinite: int) -> tuple[int | None, bool]:
    if a == infinite and a_implicit:
        return b, b_implicit
    if b == infinite and b_implicit:
        return a, a_implicit
    if a != b:
        return None, False
    return a, a_implicit and b_implicit
