"""The ts plugin system: one pluggy project and entry-point group, both named ``ts``."""

from ._hookspecs import ENTRY_POINT_GROUP, hookimpl, hookspec
from ._manager import (
    DISABLE_ENV_VAR,
    PluginLoadError,
    get_registry,
    register_plugin,
    reset_registry,
)
from ._registry import (
    KINDS,
    DuplicatePluginError,
    PluginRecord,
    Registrar,
    Registry,
    UnknownPluginError,
    load_schema,
)

__all__ = [
    "DISABLE_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "DuplicatePluginError",
    "PluginLoadError",
    "PluginRecord",
    "Registrar",
    "Registry",
    "UnknownPluginError",
    "get_registry",
    "hookimpl",
    "hookspec",
    "load_schema",
    "register_plugin",
    "reset_registry",
]
