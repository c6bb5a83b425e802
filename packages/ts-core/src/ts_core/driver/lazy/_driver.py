"""The ``lazy`` driver: opens its base on first use (from our users' handbook).

Useful when a program prepares many TensorStores and touches few: ``ts.lazy_driver(spec)``
costs no I/O; the first property access or read/write opens the base (once, thread-safe),
and ``resolve()`` forces it. Once open, the view keeps the base's transform (like ``cast``,
a lazy driver adds no index space of its own), so its domain is the base transform's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future
from .._driver import Driver
from .._open_spec import PASSED_TO_BASE, OpenedDriver, open_driver, validate_spec_json

if TYPE_CHECKING:
    from ...context import Context
    from ...index_space import IndexDomain, IndexTransform
    from ...kvstore import Transaction

__all__ = ["LazyDriver"]


class LazyDriver(Driver):
    """Delegates to the base driver, opening it the first time it is needed."""

    id = "lazy"

    def __init__(
        self,
        base_spec: dict[str, Any],
        passed_on: dict[str, Any] | None = None,
        *,
        context: Context | None = None,
        transaction: Transaction | None = None,
        read: bool = True,
        write: bool = True,
    ) -> None:
        """``base_spec`` is validated spec JSON, opened on first use with the lazy spec's
        open-mode and cache members ``passed_on``."""
        self._base_spec = base_spec
        self._passed_on = dict(passed_on or {})
        self._context = context
        self._transaction = transaction
        self._read = read
        self._write = write
        self._lock = threading.Lock()
        self._base: OpenedDriver | None = None

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> LazyDriver:
        base = validate_spec_json(json_value["base"], "base")  # validate now; open later
        passed_on = {name: json_value[name] for name in PASSED_TO_BASE if name in json_value}
        return cls(base, passed_on, context=context, transaction=transaction, read=options.read, write=options.write)

    @property
    def opened(self) -> bool:
        return self._base is not None

    def resolve(self) -> OpenedDriver:
        """The opened base (driver and transform), opening it if this is the first use."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    self._base = open_driver(
                        {**self._base_spec, **self._passed_on},
                        context=self._context,
                        transaction=self._transaction,
                        read=self._read,
                        write=self._write,
                    )
        return self._base

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self.resolve().driver.numpy_dtype

    @property
    def domain(self) -> IndexDomain:
        return self.resolve().driver.domain

    @property
    def base_transform(self) -> IndexTransform:
        return self.resolve().transform

    @property
    def schema(self) -> Any:
        return self.resolve().driver.schema

    @property
    def kvstore(self) -> Any:
        return self.resolve().driver.kvstore

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        return self.resolve().driver.read(transform, transaction)

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        return self.resolve().driver.write(transform, source, transaction)

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Any) -> tuple[int, int]:
        return self.resolve().driver.stored_chunk_counts(transform, transaction)

    def spec_json(self) -> dict[str, Any]:
        if self._base is None:
            return {"driver": "lazy", "base": dict(self._base_spec), **self._passed_on}
        from ..._dtype import dtype

        # Opened: the view's transform (which includes the base's) goes at the top level.
        driver = self._base.driver
        base = {**driver.spec_json(), "dtype": dtype(driver.numpy_dtype).name}
        return {"driver": "lazy", "base": dict(sorted(base.items()))}
