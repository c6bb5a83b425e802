"""ts-precomputed's registrations; imports no implementation."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add(
        "driver", "neuroglancer_precomputed", "ts_precomputed._driver:PrecomputedDriver",
        schema="ts_precomputed:schemas/neuroglancer_precomputed.json",
    )
    registry.add(
        "url_scheme", "neuroglancer-precomputed", "ts_core.kvstore:kvstore_based_driver_url",
        layer="driver", driver="neuroglancer_precomputed",
    )
    registry.add(
        "auto_detect", "neuroglancer_precomputed", "ts_core.driver.auto:all_files_present",
        spec={"driver": "neuroglancer_precomputed"}, files=["info"],
    )
    # Chunk encodings: codecs in the "neuroglancer_precomputed" namespace (encoding_api).
    registry.add("codec", "raw", "ts_precomputed._raw:RawEncoding", namespace="neuroglancer_precomputed")
    registry.add("codec", "jpeg", "ts_precomputed._jpeg:JpegEncoding", namespace="neuroglancer_precomputed")
    registry.add("codec", "png", "ts_precomputed._png:PngEncoding", namespace="neuroglancer_precomputed")
    registry.add(
        "codec", "compressed_segmentation", "ts_precomputed._compressed_segmentation:CompressedSegmentationEncoding",
        namespace="neuroglancer_precomputed",
    )
    registry.add(
        "kvstore", "neuroglancer_uint64_sharded", "ts_precomputed._sharded_kvstore:ShardedKvStore",
        schema="ts_precomputed:schemas/neuroglancer_uint64_sharded.json",
    )
