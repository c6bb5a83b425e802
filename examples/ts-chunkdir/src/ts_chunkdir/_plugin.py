"""ts-chunkdir's registration; imports no implementation (numpy and the driver load on
first use of the ``chunkdir`` driver)."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add("driver", "chunkdir", "ts_chunkdir._driver:ChunkdirDriver", schema="ts_chunkdir:schema.json")
