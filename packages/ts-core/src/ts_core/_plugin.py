"""ts-core's own plugins, registered through the ``ts`` entry point like any third party's.

Light on purpose: names lazy targets and schema files, imports no implementation.
"""

from __future__ import annotations

from .plugin import Registrar, hookimpl

#: context resource id -> provider class (schema: ``ts_core/context/schemas/<id>.json``)
_RESOURCES = {
    "cache_pool": "ts_core.context._builtin:CachePoolProvider",
    "data_copy_concurrency": "ts_core.context._builtin:DataCopyConcurrency",
    "file_io_concurrency": "ts_core.context._builtin:FileIoConcurrency",
    "file_io_sync": "ts_core.context._builtin:FileIoSync",
    "file_io_locking": "ts_core.context._builtin:FileIoLocking",
    "file_io_mode": "ts_core.context._builtin:FileIoMode",
    "file_io_retries": "ts_core.context._builtin:FileIoRetries",
}

#: (kind, id) -> package holding ``_driver.py`` (target class) and ``schema.json``
_DRIVERS = {
    ("kvstore", "memory"): ("ts_core.kvstore.memory", "MemoryKvStore"),
    ("kvstore", "file"): ("ts_core.kvstore.file", "FileKvStore"),
    ("driver", "array"): ("ts_core.driver.array", "ArrayDriver"),
    ("driver", "cast"): ("ts_core.driver.cast", "CastDriver"),
    ("driver", "downsample"): ("ts_core.driver.downsample", "DownsampleDriver"),
    ("driver", "lazy"): ("ts_core.driver.lazy", "LazyDriver"),
    ("kvstore", "zip"): ("ts_core.kvstore.zip", "ZipKvStore"),
    ("kvstore", "kvstack"): ("ts_core.kvstore.kvstack", "KvStackKvStore"),
    ("driver", "auto"): ("ts_core.driver.auto", "AutoDriver"),
    ("driver", "json"): ("ts_core.driver.json", "JsonDriver"),
    ("driver", "png"): ("ts_core.driver.image.png", "PngDriver"),
    ("driver", "jpeg"): ("ts_core.driver.image.jpeg", "JpegDriver"),
    ("driver", "tiff"): ("ts_core.driver.image.tiff", "TiffDriver"),
    ("driver", "webp"): ("ts_core.driver.image.webp", "WebpDriver"),
    ("driver", "avif"): ("ts_core.driver.image.avif", "AvifDriver"),
    ("driver", "bmp"): ("ts_core.driver.image.bmp", "BmpDriver"),
    ("driver", "stack"): ("ts_core.driver.stack", "StackDriver"),
    ("driver", "virtual_chunked"): ("ts_core.driver.virtual_chunked", "VirtualChunkedDriver"),
}


@hookimpl
def ts_register(registry: Registrar) -> None:
    for name, target in _RESOURCES.items():
        registry.add("context_resource", name, target, schema=f"ts_core.context:schemas/{name}.json")
    registry.add(
        "context_resource",
        "memory_key_value_store",
        "ts_core.kvstore.memory._driver:MemoryStorageProvider",
        schema="ts_core.kvstore.memory:resource_schema.json",
    )
    for (kind, name), (package, attribute) in _DRIVERS.items():
        registry.add(kind, name, f"{package}._driver:{attribute}", schema=f"{package}:schema.json")
    registry.add("url_scheme", "memory", "ts_core.kvstore.memory._driver:parse_memory_url")
    registry.add("url_scheme", "file", "ts_core.kvstore.file._driver:parse_file_url")
    registry.add("url_scheme", "zip", "ts_core.kvstore.zip._driver:parse_zip_url", layer="kvstore_adapter")
    registry.add("url_scheme", "auto", "ts_core.driver._url_schemes:parse_auto_url", layer="driver", driver="auto")
    for image_format in ("png", "jpeg", "tiff", "webp", "avif", "bmp"):
        registry.add("url_scheme", image_format, "ts_core.driver.image._url:parse_image_url",
                     layer="driver", driver=image_format)
        registry.add("auto_detect", image_format, f"ts_core.driver.image._url:is_{image_format}",
                     spec={"driver": image_format}, prefix_length=16)
    registry.add("url_scheme", "json", "ts_core.driver.json._url:parse_json_url", layer="driver", driver="json",
                 format="ts_core.driver.json._url:format_json_url")
    registry.add(
        "url_scheme", "cast", "ts_core.driver._url_schemes:parse_cast_url",
        layer="driver_adapter", driver="cast", format="ts_core.driver._url_schemes:format_cast_url",
    )
    registry.add(
        "auto_detect", "zip", "ts_core.kvstore.zip._format:detect_zip",
        layer="kvstore_adapter", spec={"driver": "zip"}, suffix_length=4096 + 22,
    )
