"""The ``ocdbt`` kvstore for ts: a versioned B+tree on any kvstore, as tensorstore stores it.

The public names are imported on first use, so that plugin discovery (which imports
``ts_ocdbt._plugin`` in every process that opens anything) does not load the format code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # tensorstore.ocdbt's tools: the database as JSON, and JSON back to bytes.
    from ._dump import dump, undump_manifest, undump_version_tree_node

    # Data versioning and garbage listing (ts extensions beyond tensorstore's Python API).
    from ._gc import delete_garbage, list_garbage
    from .versions import (
        KeyChange,
        Version,
        diff_versions,
        get_version,
        list_versions,
        open_version,
        pin_version,
    )

_HOMES = {
    "dump": "._dump",
    "undump_manifest": "._dump",
    "undump_version_tree_node": "._dump",
    "delete_garbage": "._gc",
    "list_garbage": "._gc",
    "KeyChange": ".versions",
    "Version": ".versions",
    "diff_versions": ".versions",
    "get_version": ".versions",
    "list_versions": ".versions",
    "open_version": ".versions",
    "pin_version": ".versions",
}

__all__ = [
    "KeyChange",
    "Version",
    "delete_garbage",
    "diff_versions",
    "dump",
    "get_version",
    "list_garbage",
    "list_versions",
    "open_version",
    "pin_version",
    "undump_manifest",
    "undump_version_tree_node",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ts_ocdbt' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
