"""``ts.virtual_chunked``: a TensorStore whose chunks Python functions read and write.

The functions and options become a ``virtual_chunked`` spec (its ``read_function`` and
``write_function`` members are the callables themselves, so the spec is not JSON, but a
TensorStore over it pickles whenever the functions do); the driver lives in
``ts_core.driver.virtual_chunked``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .context import Context
from .driver.virtual_chunked._driver import (
    PythonFunction,
    VirtualChunkedDriver,
    VirtualChunkedReadParameters,
    VirtualChunkedWriteParameters,
)
from .spec import apply_open_options, parse_spec_json
from .tensorstore import TensorStore

__all__ = ["VirtualChunkedReadParameters", "VirtualChunkedWriteParameters", "virtual_chunked"]


def virtual_chunked(
    read_function: Callable[..., Any] | None = None,
    write_function: Callable[..., Any] | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    rank: int | None = None,
    dtype: Any = None,
    domain: Any = None,
    shape: Any = None,
    chunk_layout: Any = None,
    dimension_units: Any = None,
    schema: Any = None,
    context: Context | None = None,
    transaction: Any = None,
) -> TensorStore:
    """A TensorStore whose content ``read_function``/``write_function`` compute/store per chunk.

    Each is called as ``function(domain, array, parameters)`` for one chunk (``domain`` is
    the chunk's part of the domain) and may return ``None`` (content never changes) or a
    ``ts.KvStore.TimestampedStorageGeneration`` (for caching), directly or from a coroutine,
    which runs on ``loop`` (default: the running loop).
    """
    if read_function is None and write_function is None:
        raise ValueError("Must specify `read_function`, `write_function`, or both")
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    for name, function in (("read_function", read_function), ("write_function", write_function)):
        if function is not None and not callable(function):
            raise TypeError(f"{name}: expected a callable, but received {type(function).__name__}")
    options = {"rank": rank, "dtype": dtype, "domain": domain, "shape": shape, "chunk_layout": chunk_layout,
               "dimension_units": dimension_units, "schema": schema}
    json_value: dict[str, Any] = {"driver": "virtual_chunked"}
    if read_function is not None:
        json_value["read_function"] = PythonFunction(read_function)
    if write_function is not None:
        json_value["write_function"] = PythonFunction(write_function)
    json_value = parse_spec_json(apply_open_options(json_value, options))
    driver = VirtualChunkedDriver.from_spec(json_value, context=context or Context(), options=None, transaction=None)
    if loop is not None:
        driver.use_loop(loop)
    return TensorStore(driver, None, transaction, read_function is not None, write_function is not None)
