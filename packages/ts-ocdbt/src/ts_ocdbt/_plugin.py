"""ts-ocdbt's registrations; imports no implementation."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add("kvstore", "ocdbt", "ts_ocdbt._driver:OcdbtDriver", schema="ts_ocdbt:schemas/ocdbt.json")
    registry.add(
        "context_resource", "ocdbt_coordinator", "ts_ocdbt._coordinator:OcdbtCoordinator",
        schema="ts_ocdbt:schemas/ocdbt_coordinator.json",
    )
    registry.add("url_scheme", "ocdbt", "ts_ocdbt._spec:parse_ocdbt_url", layer="kvstore_adapter")
    registry.add(
        "auto_detect", "ocdbt", "ts_core.driver.auto:all_files_present",
        layer="kvstore_adapter", spec={"driver": "ocdbt"}, files=["manifest.ocdbt"],
    )
