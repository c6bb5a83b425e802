"""The ``downsample`` driver: a read-only view aggregating blocks of a base array.

Output cell ``i`` of a dimension with factor ``f`` covers base indices ``[i*f, (i+1)*f)``
clipped to the base domain, so edge cells aggregate only the elements that exist.

As in tensorstore, the base is a view (driver + transform): the downsampled domain comes
from the base transform's input domain (bounds, labels, implicit bounds), reads go through
that transform, and the spec keeps it in ``base``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..._executor import run_inline
from ..._future import Future
from ..._validation import SpecError, describe
from .._driver import Driver
from .._open_spec import base_spec_json, open_driver

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform

__all__ = ["METHODS", "DownsampleDriver", "downsampled_domain"]

#: tensorstore's methods, plus ``add`` (sum of the block) from our users' handbook.
METHODS = ("stride", "mean", "min", "max", "median", "mode", "add")


class DownsampleDriver(Driver):
    """Aggregates ``factors``-sized blocks of the view (``base``, ``base_transform``) with ``method``."""

    id = "downsample"

    def __init__(self, base: Driver, base_transform: IndexTransform, factors: tuple[int, ...], method: str) -> None:
        rank = base_transform.input_rank
        if len(factors) != rank:
            raise SpecError("downsample_factors", f"has {len(factors)} entries but the base has rank {rank}")
        if any(f < 1 for f in factors):
            raise SpecError("downsample_factors", f"factors must be >= 1, got {list(factors)}")
        if method not in METHODS:
            raise SpecError("downsample_method", f"expected one of {', '.join(METHODS)}, but received: {describe(method)}")
        self._base = base
        self._base_transform = base_transform
        self._factors = factors
        self._method = method
        domain = base_transform.domain
        if any(abs(v) >= 2**62 - 1 for v in (*domain.inclusive_min, *domain.exclusive_max)):
            raise ValueError("downsample needs a base with finite bounds")
        self._lower = tuple(int(v) for v in domain.inclusive_min)
        self._upper = tuple(int(v) for v in domain.exclusive_max)
        self._base_domain = domain

    #: ts.Spec writes the ``base`` member in its canonical form too (see ``spec._normalize``).
    normalizes_base_spec = True

    @classmethod
    def normalize_spec_members(cls, json_value: dict[str, Any]) -> dict[str, Any]:
        """The view's dtype is its base's: printed once, at the top, as tensorstore's."""
        base = json_value.get("base")
        if not isinstance(base, dict) or "dtype" not in base:
            return json_value
        return {**json_value, "base": {name: value for name, value in base.items() if name != "dtype"}}

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """The downsampled domain of the (canonical) base's transform, or without one the
        rank of the factors, and the base's dtype: the spec prints them at the top level,
        as tensorstore's does."""
        from ...index_space import IndexTransform
        from ...schema import Schema

        base = json_value.get("base")
        factors = json_value.get("downsample_factors")
        method = json_value.get("downsample_method")
        if not isinstance(base, dict) or method not in METHODS or not isinstance(factors, list) \
                or not all(type(f) is int and f >= 1 for f in factors):
            return None
        dtype = base.get("dtype")
        domain = IndexTransform(json=base["transform"]).domain if "transform" in base else None
        rank = domain.rank if domain is not None else base.get("rank")
        if rank is not None and rank != len(factors):
            raise SpecError("downsample_factors", f"Rank specified by downsample_factors ({len(factors)}) "
                                                  f"does not match the rank of the base ({rank})")
        if domain is None:
            return Schema(rank=len(factors), dtype=dtype)
        return Schema(domain=downsampled_domain(domain, tuple(factors), method), dtype=dtype)

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> DownsampleDriver:
        base_member = json_value["base"]
        if "dtype" in json_value and isinstance(base_member, dict) and "dtype" not in base_member:
            # tensorstore's downsample spec keeps the dtype at the top: it constrains the base
            json_value = {**json_value, "base": {**base_member, "dtype": json_value["dtype"]}}
        base_json = base_spec_json(json_value)
        base = open_driver(
            base_json, context=context, transaction=transaction, read=options.read, write=options.write
        )
        return cls(base.driver, base.transform, tuple(json_value["downsample_factors"]), json_value["downsample_method"])

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self._base.numpy_dtype

    @property
    def domain(self) -> IndexDomain:
        return downsampled_domain(self._base_domain, self._factors, self._method)

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        return run_inline(self._read_now, transform, transaction)

    def _read_now(self, transform: IndexTransform, transaction: Any) -> np.ndarray[Any, Any]:
        from ...index_space import output_index_bounds, partition_index_transform

        target = np.empty(transform.domain.shape, dtype=self.numpy_dtype)
        if target.size == 0:
            return target
        cells = output_index_bounds(transform)  # inclusive, in downsampled coordinates
        domain = self.domain
        for dim, (lo, hi) in enumerate(cells):
            if lo < domain.inclusive_min[dim] or hi >= domain.exclusive_max[dim]:
                from ...errors import OutOfRangeError

                raise OutOfRangeError(
                    f"index range [{lo}, {hi + 1}) is out of bounds for dimension {dim} "
                    f"with domain [{domain.inclusive_min[dim]}, {domain.exclusive_max[dim]})"
                )
        box_lo = [lo * f for (lo, _), f in zip(cells, self._factors, strict=True)]
        box_hi = [(hi + 1) * f for (_, hi), f in zip(cells, self._factors, strict=True)]
        read_lo = [max(a, b) for a, b in zip(box_lo, self._lower, strict=True)]
        read_hi = [min(a, b) for a, b in zip(box_hi, self._upper, strict=True)]
        region = self._base_transform[tuple(slice(a, b) for a, b in zip(read_lo, read_hi, strict=True))]
        block = self._base.read(region, transaction).result()
        aggregated = self._aggregate(block, box_lo, box_hi, read_lo)
        origin = [lo for lo, _ in cells]
        for part in partition_index_transform(transform, aggregated.shape, origin):
            target[part.array_selection] = aggregated[part.cell_selection]
        return target

    def _aggregate(
        self, block: np.ndarray[Any, Any], box_lo: list[int], box_hi: list[int], read_lo: list[int]
    ) -> np.ndarray[Any, Any]:
        """Aggregate ``block`` (placed at ``read_lo``) over the aligned box's cells."""
        shape = [b - a for a, b in zip(box_lo, box_hi, strict=True)]
        placed = tuple(slice(r - a, r - a + n) for r, a, n in zip(read_lo, box_lo, block.shape, strict=True))
        values = np.zeros(shape, dtype=block.dtype)
        mask = np.zeros(shape, dtype=bool)
        values[placed] = block
        mask[placed] = True
        cells = [n // f for n, f in zip(shape, self._factors, strict=True)]
        blocked_shape = [v for pair in zip(cells, self._factors, strict=True) for v in pair]
        rank = len(shape)
        order = list(range(0, 2 * rank, 2)) + list(range(1, 2 * rank, 2))
        # (cells..., factors...) -> (cells..., elements per cell)
        values = values.reshape(blocked_shape).transpose(order).reshape([*cells, -1])
        mask = mask.reshape(blocked_shape).transpose(order).reshape([*cells, -1])
        return _reduce(values, mask, self._method).astype(self.numpy_dtype, copy=False)

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        raise ValueError("a downsample view is read-only")

    def spec_json(self) -> dict[str, Any]:
        from ..._dtype import dtype

        # As in tensorstore, the dtype is the downsample spec's (opening passes it down).
        base = dict(self._base.spec_json())
        base.pop("dtype", None)
        base["transform"] = self._base_transform.to_json()
        return {
            "driver": "downsample",
            "base": dict(sorted(base.items())),
            "downsample_factors": list(self._factors),
            "downsample_method": self._method,
            "dtype": dtype(self._base.numpy_dtype).name,
        }


#: Bounds at or beyond these are infinite: they stay infinite when downsampled.
_INFINITE = 2**62 - 1


def downsampled_domain(domain: IndexDomain, factors: tuple[int, ...], method: str) -> IndexDomain:
    """The domain a ``factors`` downsampling of ``domain`` has (labels and implicit bounds kept).

    Cell ``i`` covers ``[i*f, (i+1)*f)``; ``stride`` takes element ``i*f``, so it only has
    the cells whose first element exists.
    """
    from ...index_space import IndexDomain

    def lower(bound: int, factor: int) -> int:
        if bound <= -_INFINITE:
            return bound
        return -(-bound // factor) if method == "stride" else bound // factor

    def upper(bound: int, factor: int) -> int:
        return bound if bound >= _INFINITE else -(-bound // factor)

    return IndexDomain(
        inclusive_min=[lower(int(lo), f) for lo, f in zip(domain.inclusive_min, factors, strict=True)],
        exclusive_max=[upper(int(hi), f) for hi, f in zip(domain.exclusive_max, factors, strict=True)],
        labels=list(domain.labels),
        implicit_lower_bounds=list(domain.implicit_lower_bounds),
        implicit_upper_bounds=list(domain.implicit_upper_bounds),
    )


def _reduce(values: np.ndarray[Any, Any], mask: np.ndarray[Any, Any], method: str) -> np.ndarray[Any, Any]:
    """Reduce the last axis over the elements that exist (``mask``)."""
    counts = mask.sum(axis=-1)
    if method == "stride":
        first = np.argmax(mask, axis=-1)
        return np.take_along_axis(values, first[..., None], axis=-1)[..., 0]
    if method in ("mean", "add"):
        kind = values.dtype.kind
        accumulator = np.float64 if kind in "biuf" else values.dtype
        total = np.where(mask, values, 0).sum(axis=-1, dtype=accumulator)
        if method == "add":
            return np.asarray(total)
        mean = total / np.maximum(counts, 1)
        return np.asarray(np.round(mean) if kind in "biu" else mean)
    if method in ("min", "max"):
        reducer = np.min if method == "min" else np.max
        masked = np.ma.masked_array(values, mask=~mask)
        return np.asarray(reducer(masked, axis=-1).filled(0))
    if method == "median":
        # tensorstore's median: the lower middle element of the sorted existing values
        ordered = np.ma.sort(np.ma.masked_array(values, mask=~mask), axis=-1, endwith=True)
        index = ((counts - 1) // 2)[..., None]
        return np.take_along_axis(np.asarray(ordered.data), index, axis=-1)[..., 0]
    # mode: the most frequent existing value (ties: the smallest)
    result = np.empty(values.shape[:-1], dtype=values.dtype)
    for position in np.ndindex(values.shape[:-1]):
        present = values[position][mask[position]]
        unique, frequency = np.unique(present, return_counts=True)
        result[position] = unique[np.argmax(frequency)] if unique.size else 0
    return result

