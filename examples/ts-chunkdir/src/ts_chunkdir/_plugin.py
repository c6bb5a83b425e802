"""ts-chunkdir's registration; imports no implementation (numpy and the driver load on
first use of the ``chunkdir`` driver)."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add("driver", "chunkdir", "ts_chunkdir._driver:ChunkdirDriver", schema="ts_chunkdir:schema.json")
    registry.add("url_scheme", "chunkdir", "ts_core.kvstore:kvstore_based_driver_url", layer="driver", driver="chunkdir")
    registry.add("auto_detect", "chunkdir", "ts_core.driver.auto:all_files_present", spec={"driver": "chunkdir"}, files=["chunkdir.json"])
