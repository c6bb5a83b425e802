"""ts-zarr's registrations; imports no implementation."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl

#: The built-in zarr v3 codecs (name -> class in ts_zarr.zarr3).
_ZARR3_CODECS = {
    "transpose": "ts_zarr.zarr3._codecs:TransposeCodec",
    "bytes": "ts_zarr.zarr3._codecs:BytesCodec",
    "gzip": "ts_zarr.zarr3._codecs:GzipCodec",
    "blosc": "ts_zarr.zarr3._codecs:BloscCodec",
    "zstd": "ts_zarr.zarr3._codecs:ZstdCodec",
    "crc32c": "ts_zarr.zarr3._codecs:Crc32cCodec",
    "sharding_indexed": "ts_zarr.zarr3._sharding:ShardingCodec",
}


@hookimpl
def ts_register(registry: Registrar) -> None:
    # "zarr2" is tensorstore's other name for the zarr v2 driver; specs normalise it to "zarr".
    registry.add(
        "driver", "zarr", "ts_zarr._driver:ZarrDriver", aliases=["zarr2"], schema="ts_zarr:schemas/zarr.json"
    )
    registry.add("driver", "zarr3", "ts_zarr.zarr3._driver:Zarr3Driver", schema="ts_zarr:schemas/zarr3.json")
    registry.add(
        "kvstore", "zarr3_sharding_indexed", "ts_zarr.zarr3._sharding_kvstore:ShardingIndexedKvStore",
        schema="ts_zarr:schemas/zarr3_sharding_indexed.json",
    )
    registry.add("url_scheme", "zarr3", "ts_core.kvstore:kvstore_based_driver_url", layer="driver", driver="zarr3")
    registry.add("url_scheme", "zarr2", "ts_core.kvstore:kvstore_based_driver_url", layer="driver", driver="zarr")
    registry.add("auto_detect", "zarr3", "ts_core.driver.auto:all_files_present", spec={"driver": "zarr3"}, files=["zarr.json"])
    registry.add("auto_detect", "zarr2", "ts_core.driver.auto:all_files_present", spec={"driver": "zarr"}, files=[".zarray"])
    for name, target in _ZARR3_CODECS.items():
        registry.add("codec", name, target, namespace="zarr3", schema=f"ts_zarr:schemas/zarr3_codecs/{name}.json")
