"""ts-n5's registrations; imports no implementation."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl

#: N5 compression types, each a codec record in the ``n5`` namespace keyed by its ``type``.
_COMPRESSORS = {
    "raw": "RawCompression",
    "gzip": "GzipCompression",
    "bzip2": "Bzip2Compression",
    "xz": "XzCompression",
    "blosc": "BloscCompression",
    "zstd": "ZstdCompression",
}


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add("driver", "n5", "ts_n5._driver:N5Driver", schema="ts_n5:schemas/n5.json")
    registry.add("url_scheme", "n5", "ts_core.kvstore:kvstore_based_driver_url", layer="driver", driver="n5")
    registry.add("auto_detect", "n5", "ts_core.driver.auto:all_files_present", spec={"driver": "n5"}, files=["attributes.json"])
    for compression_type, class_name in _COMPRESSORS.items():
        registry.add("codec", compression_type, f"ts_n5._compression:{class_name}", namespace="n5")
