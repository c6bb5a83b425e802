"""ts-cloud's plugins: lazy targets and schema files only, no implementation imports."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    pass
