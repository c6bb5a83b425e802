"""The ``cast`` driver: a view that converts element types on the fly.

Like tensorstore's, it adds no index space of its own: the view keeps its base's
transform (``base_transform`` is the base's), so a cast of a base transformed to
``[2, 5)`` has domain ``[2, 5)`` and its spec carries that transform at the top level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future, then
from .._driver import Driver
from .._open_spec import base_spec_json, open_driver

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform

__all__ = ["CastDriver"]


class CastDriver(Driver):
    """Reads convert base elements to ``dtype``; writes convert back (numpy casting rules)."""

    id = "cast"

    def __init__(
        self, base: Driver, numpy_dtype: np.dtype[Any], base_transform: IndexTransform | None = None
    ) -> None:
        self._base = base
        self._dtype = numpy_dtype
        self._base_transform = base_transform  # None: the base driver's own

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> CastDriver:
        from ..._dtype import to_dtype

        numpy_dtype = to_dtype(json_value["dtype"], json_path="dtype").numpy_dtype
        base = open_driver(
            base_spec_json(json_value), context=context, transaction=transaction, read=options.read, write=options.write
        )
        return cls(base.driver, numpy_dtype, base.spec_transform)

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def domain(self) -> IndexDomain:
        return self._base.domain

    @property
    def schema(self) -> Any:
        """The base's schema with the new dtype; its fill value converted to it (as
        tensorstore's cast keeps the base's chunk layout, codec and units)."""
        from ..._dtype import dtype

        schema = self._base.schema.copy()
        schema._dtype = dtype(self._dtype)
        if schema._fill_value is not None:
            schema._fill_value = np.asarray(schema._fill_value).astype(self._dtype)
        return schema

    @property
    def base_transform(self) -> IndexTransform:
        return self._base_transform if self._base_transform is not None else self._base.base_transform

    @property
    def kvstore(self) -> Any:
        return self._base.kvstore

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        return then(self._base.read(transform, transaction), lambda array: array.astype(self._dtype))

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        return self._base.write(transform, source.astype(self._base.numpy_dtype), transaction)

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Any) -> tuple[int, int]:
        return self._base.stored_chunk_counts(transform, transaction)

    def spec_json(self) -> dict[str, Any]:
        from ..._dtype import dtype

        # No base transform: the view's transform (which includes it) goes at the top level.
        base = dict(self._base.spec_json())
        base["dtype"] = dtype(self._base.numpy_dtype).name
        return {"driver": "cast", "base": base, "dtype": dtype(self._dtype).name}
