"""Discovery: loads every ``ts`` entry point with pluggy and builds the registry once."""

from __future__ import annotations

import os
import threading
from typing import Any

import pluggy

from . import _hookspecs
from ._registry import Registry

__all__ = ["DISABLE_ENV_VAR", "get_registry", "register_plugin", "reset_registry"]

#: Comma-separated entry-point or distribution names whose plugins are not loaded.
DISABLE_ENV_VAR = "TS_DISABLE_PLUGINS"

_lock = threading.RLock()
_state: dict[str, Any] = {}


def _blocked_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    manager.add_hookspecs(_hookspecs)
    blocked = _blocked_names()
    from importlib import metadata

    for dist in metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group != _hookspecs.ENTRY_POINT_GROUP:
                continue
            dist_name = dist.metadata["Name"]
            if entry_point.name in blocked or dist_name in blocked:
                manager.set_blocked(entry_point.name)
    manager.load_setuptools_entrypoints(_hookspecs.ENTRY_POINT_GROUP)
    return manager


def _distribution_of(manager: pluggy.PluginManager, plugin: object) -> str:
    for candidate, dist in manager.list_plugin_distinfo():
        if candidate is plugin:
            return str(dist.project_name)
    return str(manager.get_name(plugin))


def _register_all(manager: pluggy.PluginManager, registry: Registry) -> None:
    for impl in manager.hook.ts_register.get_hookimpls():
        impl.function(registry=registry.scoped(_distribution_of(manager, impl.plugin)))


def get_registry() -> Registry:
    """The process-wide registry, built from the ``ts`` entry points on first use."""
    registry = _state.get("registry")
    if registry is not None:
        return registry  # type: ignore[no-any-return]
    with _lock:
        if "registry" not in _state:
            manager = _new_manager()
            registry = Registry()
            _register_all(manager, registry)
            _state["manager"] = manager
            _state["registry"] = registry
        return _state["registry"]  # type: ignore[no-any-return]


def register_plugin(plugin: object, name: str | None = None, distribution: str | None = None) -> None:
    """Register an in-process plugin object (a module or instance with ``ts_register``)."""
    with _lock:
        registry = get_registry()
        manager: pluggy.PluginManager = _state["manager"]
        plugin_name = manager.register(plugin, name=name)
        hook_impls = [i for i in manager.hook.ts_register.get_hookimpls() if i.plugin is plugin]
        for impl in hook_impls:
            impl.function(registry=registry.scoped(distribution or plugin_name or "<in-process>"))


def reset_registry() -> None:
    """Forget the registry so the next use rediscovers entry points (for tests)."""
    with _lock:
        _state.clear()
