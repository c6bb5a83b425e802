"""The ``ocdbt`` kvstore for ts: a versioned B+tree on any kvstore, as tensorstore stores it."""

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
