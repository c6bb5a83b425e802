"""The hook every ts plugin implements: ``ts_register(registry)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._registry import Registrar

PROJECT_NAME = "ts"
ENTRY_POINT_GROUP = "ts"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ts_register(registry: Registrar) -> None:
    """Add this plugin's records (drivers, kvstores, codecs, context resources, ...)."""
