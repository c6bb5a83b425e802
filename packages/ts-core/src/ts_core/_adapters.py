"""``ts.array``, ``ts.cast``, ``ts.downsample`` and ``ts.lazy_driver``: TensorStores built
from an array, another TensorStore or a spec without going through ``ts.open``.

They live above the driver layer because they make ``TensorStore`` objects; the drivers
they wrap (``ts_core.driver.array``, ``.cast``, ``.downsample``, ``.lazy``) only see
drivers and transforms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import describe
from .context import Context
from .driver.array import ArrayDriver
from .driver.cast import CastDriver
from .driver.downsample import DownsampleDriver
from .driver.lazy import LazyDriver
from .spec import apply_open_options, parse_spec_json
from .tensorstore import TensorStore

__all__ = ["array", "cast", "downsample", "lazy_driver"]


def array(data: Any, dtype: Any = None, context: Any = None) -> TensorStore:
    """A TensorStore over a copy of ``data`` (tensorstore's ``ts.array``)."""
    numpy_dtype = None
    if dtype is not None:
        from ._dtype import to_dtype

        numpy_dtype = to_dtype(dtype).numpy_dtype
    try:
        contents = np.array(data, dtype=numpy_dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot make an array from {describe(data)}: {exc}") from None
    return TensorStore(ArrayDriver(contents))


def cast(store: TensorStore, dtype: Any) -> TensorStore:
    """A view of ``store`` with elements converted to ``dtype`` (tensorstore's ``ts.cast``).

    The view keeps ``store``'s transform, so it has the same domain.
    """
    from ._dtype import to_dtype

    numpy_dtype = to_dtype(dtype).numpy_dtype
    return TensorStore(
        CastDriver(store._driver, numpy_dtype), store.transform, store.transaction, store.readable, store.writable
    )


def downsample(store: TensorStore, downsample_factors: Any, method: str) -> TensorStore:
    """A read-only view of ``store`` with blocks aggregated (tensorstore's ``ts.downsample``)."""
    factors = tuple(int(f) for f in downsample_factors)
    driver = DownsampleDriver(store._driver, store.transform, factors, str(method))
    return TensorStore(driver, None, store.transaction, True, False)


def lazy_driver(spec: Any, **open_options: Any) -> TensorStore:
    """A TensorStore that opens ``spec`` (with ``ts.open`` options) on first use; no I/O now."""
    context = open_options.pop("context", None)
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    transaction = open_options.pop("transaction", None)
    read = open_options.pop("read", None)
    write = open_options.pop("write", None)
    if read is None and write is None:
        read = write = True
    base = parse_spec_json(apply_open_options(parse_spec_json(spec), open_options))
    driver = LazyDriver(base, context=context, transaction=transaction, read=bool(read), write=bool(write))
    return TensorStore(driver, None, transaction, bool(read), bool(write))
