"""The ``array`` driver: a TensorStore over an in-memory NumPy array."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._executor import run_inline
from ..._future import Future
from ..._validation import SpecError
from .._bounds import check_in_bounds
from .._driver import Driver

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform

__all__ = ["ArrayDriver"]


class ArrayDriver(Driver):
    """Reads and writes an in-memory array; the spec embeds its contents as JSON."""

    id = "array"

    def __init__(self, data: np.ndarray[Any, Any]) -> None:
        self._data = data
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> ArrayDriver:
        from ..._dtype import to_dtype

        if "dtype" not in json_value:
            raise SpecError("dtype", 'the "array" driver needs a "dtype"')
        dtype = to_dtype(json_value["dtype"], json_path="dtype")
        if "array" not in json_value:
            raise SpecError("array", 'the "array" driver needs an "array" member')
        try:
            data = np.array(json_value["array"], dtype=dtype.numpy_dtype)
        except (TypeError, ValueError) as exc:
            raise SpecError("array", f"cannot convert to {dtype.name}: {exc}") from None
        if "transform" in json_value:
            from ...index_space import IndexDomain, IndexTransform, propagate_bounds

            try:
                propagate_bounds(IndexDomain(shape=data.shape), IndexTransform(json=json_value["transform"]))
            except IndexError as exc:  # tensorstore reports a transform that misses the array so
                raise ValueError(f"transform: {exc}") from None
        return cls(data)

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What an array spec implies: its dtype and the array's shape as the domain, so
        the spec prints the identity transform over it, as tensorstore's does (None when
        the members do not say; opening then reports what is wrong)."""
        from ..._dtype import to_dtype
        from ...index_space import IndexDomain
        from ...schema import Schema

        try:
            dtype = to_dtype(json_value["dtype"], json_path="dtype")
            shape = np.shape(np.array(json_value["array"], dtype=dtype.numpy_dtype))
        except (KeyError, TypeError, ValueError):
            return None
        return Schema(dtype=dtype, domain=IndexDomain(shape=shape))

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self._data.dtype
        return dtype

    @property
    def domain(self) -> IndexDomain:
        from ...index_space import IndexDomain

        return IndexDomain(shape=self._data.shape)

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        def read_now() -> np.ndarray[Any, Any]:
            from ...index_space import partition_index_transform

            check_in_bounds(transform, self._data.shape)
            target = np.empty(transform.domain.shape, dtype=self._data.dtype)
            if target.size == 0:  # nothing to copy (the array may have an empty dimension)
                return target
            with self._lock:
                for part in partition_index_transform(transform, self._data.shape):
                    target[part.array_selection] = self._data[part.cell_selection]
            return target

        return run_inline(read_now)

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        if transaction is not None:
            raise NotImplementedError('transactional writes to the "array" driver are not implemented')

        def write_now() -> None:
            from ...index_space import partition_index_transform

            check_in_bounds(transform, self._data.shape)
            if 0 in transform.domain.shape:
                return
            with self._lock:
                for part in partition_index_transform(transform, self._data.shape):
                    self._data[part.cell_selection] = source[part.array_selection]

        return run_inline(write_now)

    def spec_json(self) -> dict[str, Any]:
        return {"driver": "array", "array": self._data.tolist(), "dtype": self._dtype_name()}

    def _dtype_name(self) -> str:
        from ..._dtype import dtype

        # NumPy object arrays hold JSON values, as in tensorstore.
        return "json" if self._data.dtype.kind == "O" else dtype(self._data.dtype).name

    def view_spec_json(self, transform: IndexTransform) -> dict[str, Any]:
        """The spec of a view, as tensorstore writes it: the view's elements become the
        stored array (its size-1 dimensions dropped) and the transform maps the view's
        domain onto it."""
        from ...index_space import IndexTransform, OutputIndexMap

        view = self.read(transform, None).result()
        domain = transform.domain
        kept = [dim for dim in range(domain.rank) if view.shape[dim] != 1]
        folded = view.reshape([view.shape[dim] for dim in kept])
        outputs = [OutputIndexMap(input_dimension=dim, offset=-domain[dim].inclusive_min) for dim in kept]
        spec_transform = IndexTransform(domain=domain, output=outputs)
        return {
            "driver": "array", "array": folded.tolist(), "dtype": self._dtype_name(),
            "transform": spec_transform.to_json(),
        }

