"""ts: a pure-Python implementation of the TensorStore model.

``import ts_core as ts`` gives tensorstore's Python API by name. Attributes are imported
on first use, so ``import ts_core`` itself stays cheap (no numpy, no jsonschema).
"""

from __future__ import annotations

import importlib
from typing import Any

_DTYPE_NAMES = (
    "dtype",
    "DTypeLike",
    "bool",
    "char",
    "byte",
    "int2",
    "int4",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float4_e2m1fn",
    "float8_e3m4",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e4m3b11fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "string",
    "ustring",
    "json",
)

_INDEX_SPACE_NAMES = (
    "Dim",
    "DimExpression",
    "IndexDomain",
    "IndexTransform",
    "OutputIndexMap",
    "OutputIndexMaps",
    "OutputIndexMethod",
    "d",
    "inf",
    "newaxis",
)

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "Context": "ts_core.context",
    "Future": "ts_core._future",
    "FutureLike": "ts_core._future",
    "KvStore": "ts_core.kvstore",
    "Promise": "ts_core._future",
    "Transaction": "ts_core.kvstore",
    "Spec": "ts_core.spec",
    "Schema": "ts_core.schema",
    "ChunkLayout": "ts_core.schema",
    "CodecSpec": "ts_core.schema",
    "Unit": "ts_core.schema",
    "TensorStore": "ts_core.tensorstore",
    "WriteFutures": "ts_core.tensorstore",
    "open": "ts_core._open",
    "array": "ts_core.driver.array",
    "cast": "ts_core.driver.cast",
    **{name: "ts_core._dtype" for name in _DTYPE_NAMES},
    **{name: "ts_core.index_space" for name in _INDEX_SPACE_NAMES},
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ts_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
