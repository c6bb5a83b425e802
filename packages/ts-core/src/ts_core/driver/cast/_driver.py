"""The ``cast`` driver: a view that converts element types on the fly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future
from .._driver import Driver

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform

__all__ = ["CastDriver", "cast"]


def _then(future: Future[Any], function: Any) -> Future[Any]:
    result: Future[Any] = Future()

    def done(source: Future[Any]) -> None:
        error = source.exception()
        if error is not None:
            result._set_exception(error)
            return
        try:
            result._set_result(function(source.result()))
        except Exception as exc:
            result._set_exception(exc)

    future.add_done_callback(done)
    return result


class CastDriver(Driver):
    """Reads convert base elements to ``dtype``; writes convert back (numpy casting rules)."""

    id = "cast"

    def __init__(self, base: Driver, numpy_dtype: np.dtype[Any]) -> None:
        self._base = base
        self._dtype = numpy_dtype

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> CastDriver:
        from ..._dtype import to_dtype
        from ..._open import open as ts_open

        base = ts_open(json_value["base"], context=context, transaction=transaction).result()
        return cls(base._driver, to_dtype(json_value["dtype"], json_path="dtype").numpy_dtype)

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def domain(self) -> IndexDomain:
        return self._base.domain

    @property
    def base_transform(self) -> IndexTransform:
        return self._base.base_transform

    @property
    def kvstore(self) -> Any:
        return self._base.kvstore

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        return _then(self._base.read(transform, transaction), lambda array: array.astype(self._dtype))

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        return self._base.write(transform, source.astype(self._base.numpy_dtype), transaction)

    def spec_json(self) -> dict[str, Any]:
        from ..._dtype import dtype

        base = dict(self._base.spec_json())
        base["dtype"] = dtype(self._base.numpy_dtype).name
        return {"driver": "cast", "base": base, "dtype": dtype(self._dtype).name}


def cast(store: Any, dtype: Any) -> Any:
    """A view of ``store`` with elements converted to ``dtype`` (tensorstore's ``ts.cast``)."""
    from ..._dtype import to_dtype
    from ...tensorstore import TensorStore

    numpy_dtype = to_dtype(dtype).numpy_dtype
    return TensorStore(
        CastDriver(store._driver, numpy_dtype), store.transform, store.transaction, store.readable, store.writable
    )
