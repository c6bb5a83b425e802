"""The ``lazy`` driver: opens its base on first use (from our users' handbook).

Useful when a program prepares many TensorStores and touches few: ``ts.lazy_driver(spec)``
costs no I/O; the first property access or read/write opens the base (once, thread-safe),
and ``resolve()`` forces it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future
from .._driver import Driver

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform

__all__ = ["LazyDriver", "lazy_driver"]


class LazyDriver(Driver):
    """Delegates to the base driver, opening it the first time it is needed."""

    id = "lazy"

    def __init__(self, base_spec: dict[str, Any], open_options: dict[str, Any]) -> None:
        self._base_spec = base_spec
        self._open_options = open_options
        self._lock = threading.Lock()
        self._base: Any = None

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> LazyDriver:
        from ...spec import OPEN_MODE_MEMBERS, parse_spec_json

        passed_on = {
            k: v for k, v in json_value.items()
            if k in OPEN_MODE_MEMBERS or k.startswith("recheck_cached")
        }
        base = parse_spec_json({**json_value["base"], **passed_on})  # validate now; open later
        return cls(base, {"context": context, "transaction": transaction, "read": options.read, "write": options.write})

    @property
    def opened(self) -> bool:
        return self._base is not None

    def resolve(self) -> Any:
        """The base TensorStore, opening it if this is the first use."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    from ..._open import open as ts_open

                    self._base = ts_open(self._base_spec, **self._open_options).result()
        return self._base

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self.resolve()._driver.numpy_dtype  # type: ignore[no-any-return]

    @property
    def domain(self) -> IndexDomain:
        return self.resolve().domain  # type: ignore[no-any-return]

    @property
    def base_transform(self) -> IndexTransform:
        return self.resolve().transform  # type: ignore[no-any-return]

    @property
    def schema(self) -> Any:
        return self.resolve().schema

    @property
    def kvstore(self) -> Any:
        return self.resolve().kvstore

    def read(self, transform: IndexTransform, transaction: Any) -> Future[np.ndarray[Any, Any]]:
        return self.resolve()._driver.read(transform, transaction)  # type: ignore[no-any-return]

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Any) -> Future[None]:
        return self.resolve()._driver.write(transform, source, transaction)  # type: ignore[no-any-return]

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Any) -> tuple[int, int]:
        return self.resolve()._driver.stored_chunk_counts(transform, transaction)  # type: ignore[no-any-return]

    def spec_json(self) -> dict[str, Any]:
        if self._base is None:
            return {"driver": "lazy", "base": dict(self._base_spec)}
        return {"driver": "lazy", "base": self._base.spec().to_json()}


def lazy_driver(spec: Any, **open_options: Any) -> Any:
    """A TensorStore that opens ``spec`` (with ``ts.open`` options) on first use; no I/O now."""
    from ...spec import apply_open_options, parse_spec_json
    from ...tensorstore import TensorStore

    passthrough: dict[str, Any] = {k: open_options.pop(k) for k in ("context", "transaction") if k in open_options}
    read = open_options.pop("read", None)
    write = open_options.pop("write", None)
    if read is None and write is None:
        read = write = True
    base = parse_spec_json(apply_open_options(parse_spec_json(spec), open_options))
    driver = LazyDriver(base, {**passthrough, "read": bool(read), "write": bool(write)})
    return TensorStore(driver, None, passthrough.get("transaction"), bool(read), bool(write))
