"""Discovery: loads every ``ts`` entry point with pluggy and builds the registry once."""

from __future__ import annotations

import os
import threading
from typing import Any

import pluggy

from . import _hookspecs
from ._registry import Registry

__all__ = ["DISABLE_ENV_VAR", "PluginLoadError", "get_registry", "register_plugin", "reset_registry"]

#: Comma-separated entry-point or distribution names whose plugins are not loaded.
DISABLE_ENV_VAR = "TS_DISABLE_PLUGINS"

_lock = threading.RLock()
_state: dict[str, Any] = {}


def _blocked_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


class PluginLoadError(ImportError):
    """A ``ts`` entry point could not be imported."""


def _new_manager() -> tuple[pluggy.PluginManager, dict[int, str]]:
    """Load every unblocked ``ts`` entry point; returns the manager and plugin -> distribution."""
    from ._entry_points import entry_points

    manager = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    manager.add_hookspecs(_hookspecs)
    blocked = _blocked_names()
    distributions: dict[int, str] = {}
    seen: set[str] = set()
    for entry_point in entry_points(_hookspecs.ENTRY_POINT_GROUP):
        if entry_point.name in seen:
            continue
        seen.add(entry_point.name)  # the first of duplicate installs on sys.path wins, as in importlib
        dist_name = entry_point.distribution
        if entry_point.name in blocked or dist_name in blocked:
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:
            raise PluginLoadError(
                f"ts plugin {entry_point.name!r} ({entry_point.value}) of distribution "
                f"{dist_name!r} failed to import: {exc}; set {DISABLE_ENV_VAR}={entry_point.name} "
                "to skip it"
            ) from exc
        manager.register(plugin, name=entry_point.name)
        distributions[id(plugin)] = dist_name
    return manager, distributions


def _register_all(manager: pluggy.PluginManager, distributions: dict[int, str], registry: Registry) -> None:
    for impl in manager.hook.ts_register.get_hookimpls():
        distribution = distributions.get(id(impl.plugin), impl.plugin_name)
        impl.function(registry=registry.scoped(distribution))


def get_registry() -> Registry:
    """The process-wide registry, built from the ``ts`` entry points on first use."""
    registry = _state.get("registry")
    if registry is not None:
        return registry  # type: ignore[no-any-return]
    with _lock:
        if "registry" not in _state:
            manager, distributions = _new_manager()
            registry = Registry()
            _register_all(manager, distributions, registry)
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
