"""ts: a pure-Python implementation of the TensorStore model.

``import ts_core as ts`` gives tensorstore's Python API by name. Attributes are imported
on first use, so ``import ts_core`` itself stays cheap (no numpy, no jsonschema).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what static type checkers see of the lazily imported names
    from . import ocdbt as ocdbt
    from ._flags import experimental_update_verbose_logging as experimental_update_verbose_logging
    from ._flags import parse_tensorstore_flags as parse_tensorstore_flags
    from ._future import Future as Future
    from ._future import FutureLike as FutureLike
    from ._future import Promise as Promise
    from ._metrics import (
        experimental_collect_matching_metrics as experimental_collect_matching_metrics,
    )
    from ._metrics import (
        experimental_collect_prometheus_format_metrics as experimental_collect_prometheus_format_metrics,
    )
    from ._metrics import (
        experimental_push_metrics_to_prometheus as experimental_push_metrics_to_prometheus,
    )
    from ._open_mode import OpenMode as OpenMode
    from ._typing import DimSelection as DimSelection
    from ._typing import DimSelectionLike as DimSelectionLike
    from ._typing import DownsampleMethod as DownsampleMethod
    from ._typing import Indexable as Indexable
    from ._typing import NumpyIndexingSpec as NumpyIndexingSpec
    from ._typing import NumpyIndexTerm as NumpyIndexTerm
    from ._typing import RecheckCacheOption as RecheckCacheOption
    from ._typing import T as T


def _dtype_names() -> tuple[str, ...]:
    from ._dtype import NAMES

    return NAMES


# The dtype module is import-light (numpy is resolved lazily), so its name list is the
# single source for which data type names the package exposes.
_DTYPE_NAMES = ("dtype", "DTypeLike", *_dtype_names())

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

_TYPING_NAMES = (
    "DimSelection",
    "DimSelectionLike",
    "DownsampleMethod",
    "Indexable",
    "NumpyIndexTerm",
    "NumpyIndexingSpec",
    "RecheckCacheOption",
    "T",
)

_METRICS_NAMES = (
    "experimental_collect_matching_metrics",
    "experimental_collect_prometheus_format_metrics",
    "experimental_push_metrics_to_prometheus",
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
    "array": "ts_core._adapters",
    "cast": "ts_core._adapters",
    "downsample": "ts_core._adapters",
    "lazy_driver": "ts_core._adapters",
    "stack": "ts_core._composite",
    "concat": "ts_core._composite",
    "overlay": "ts_core._composite",
    "virtual_chunked": "ts_core._virtual_chunked",
    "VirtualChunkedReadParameters": "ts_core._virtual_chunked",
    "VirtualChunkedWriteParameters": "ts_core._virtual_chunked",
    "Batch": "ts_core._batch",
    "OpenMode": "ts_core._open_mode",
    **{name: "ts_core._typing" for name in _TYPING_NAMES},
    **{name: "ts_core._metrics" for name in _METRICS_NAMES},
    "experimental_update_verbose_logging": "ts_core._flags",
    "parse_tensorstore_flags": "ts_core._flags",
    "ocdbt": "ts_core._submodules",
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


# tensorstore reads its verbose logging flags from the environment at startup; so does ts
# (only then is the flags module imported).
if os.environ.get("TENSORSTORE_VERBOSE_LOGGING"):
    importlib.import_module("ts_core._flags").apply_environment()
