"""``ts.ocdbt``: tools for tensorstore's OCDBT database format (``dump``, ``undump_*``,
``DistributedCoordinatorServer``).

The ``ocdbt`` kvstore and these tools belong to the ``ts-ocdbt`` distribution (import
``ts_ocdbt``): when it is installed, ``dump``, ``undump_manifest`` and
``undump_version_tree_node`` are its own functions. Without it, every name here raises
``NotImplementedError`` saying so, as does ``DistributedCoordinatorServer`` (cooperative
writers through a coordinator server are not implemented; ts-ocdbt's writers coordinate
through conditional writes of the manifest).
"""

from __future__ import annotations

import importlib
from typing import Any, NoReturn

__all__ = ["DistributedCoordinatorServer", "dump", "undump_manifest", "undump_version_tree_node"]

_MISSING = "the ocdbt kvstore and its tools come from the ts-ocdbt distribution, which is not installed"
_NOT_PROVIDED = "the installed ts-ocdbt distribution does not provide it"


def _unavailable(name: str) -> NoReturn:
    reason = _MISSING if _implementation() is None else _NOT_PROVIDED
    raise NotImplementedError(f"ts.ocdbt.{name}: {reason}")


def _implementation() -> Any:
    try:
        return importlib.import_module("ts_ocdbt")
    except ImportError:
        return None


def dump(base: Any, node: str | None = None, *, context: Any = None) -> Any:
    """Dump the manifest (or the node ``node`` names) of the OCDBT database in ``base``."""
    implementation = _implementation()
    if implementation is None or not hasattr(implementation, "dump"):
        _unavailable("dump")
    return implementation.dump(base, node, context=context)


def undump_manifest(dumped_manifest: Any) -> bytes:
    """The on-disk encoding of a manifest in the JSON form ``dump`` returns."""
    implementation = _implementation()
    if implementation is None or not hasattr(implementation, "undump_manifest"):
        _unavailable("undump_manifest")
    return implementation.undump_manifest(dumped_manifest)  # type: ignore[no-any-return]


def undump_version_tree_node(dumped_config: Any, dumped_node: Any) -> bytes:
    """The on-disk encoding of a version tree node in the JSON form ``dump`` returns."""
    implementation = _implementation()
    if implementation is None or not hasattr(implementation, "undump_version_tree_node"):
        _unavailable("undump_version_tree_node")
    return implementation.undump_version_tree_node(dumped_config, dumped_node)  # type: ignore[no-any-return]


class DistributedCoordinatorServer:
    """Coordinator server for cooperative OCDBT writers (not provided: ts-ocdbt's writers
    coordinate through conditional writes of the manifest instead)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        implementation = _implementation()
        if implementation is None or not hasattr(implementation, "DistributedCoordinatorServer"):
            _unavailable("DistributedCoordinatorServer")
        return implementation.DistributedCoordinatorServer(*args, **kwargs)
