"""The ``ocdbt`` kvstore for ts: a versioned B+tree on any kvstore, as tensorstore stores it."""

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

__all__ = [
    "KeyChange",
    "Version",
    "delete_garbage",
    "diff_versions",
    "get_version",
    "list_garbage",
    "list_versions",
    "open_version",
    "pin_version",
]
