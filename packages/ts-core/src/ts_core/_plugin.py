"""ts-core's own plugins, registered through the ``ts`` entry point like any third party's.

Light on purpose: names lazy targets and schema files, imports no implementation.
"""

from __future__ import annotations

from .plugin import Registrar, hookimpl

_RESOURCES = {
    "cache_pool": "ts_core.context._builtin:CachePoolProvider",
    "data_copy_concurrency": "ts_core.context._builtin:DataCopyConcurrency",
    "file_io_concurrency": "ts_core.context._builtin:FileIoConcurrency",
    "file_io_sync": "ts_core.context._builtin:FileIoSync",
    "file_io_locking": "ts_core.context._builtin:FileIoLocking",
    "file_io_mode": "ts_core.context._builtin:FileIoMode",
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
    registry.add(
        "kvstore", "memory", "ts_core.kvstore.memory._driver:MemoryKvStore",
        schema="ts_core.kvstore.memory:schema.json",
    )
    registry.add(
        "kvstore", "file", "ts_core.kvstore.file._driver:FileKvStore",
        schema="ts_core.kvstore.file:schema.json",
    )
    registry.add(
        "driver", "array", "ts_core.driver.array._driver:ArrayDriver",
        schema="ts_core.driver.array:schema.json",
    )
    registry.add(
        "driver", "cast", "ts_core.driver.cast._driver:CastDriver",
        schema="ts_core.driver.cast:schema.json",
    )
    registry.add(
        "driver", "downsample", "ts_core.driver.downsample._driver:DownsampleDriver",
        schema="ts_core.driver.downsample:schema.json",
    )
    registry.add(
        "driver", "lazy", "ts_core.driver.lazy._driver:LazyDriver",
        schema="ts_core.driver.lazy:schema.json",
    )
    registry.add("url_scheme", "memory", "ts_core.kvstore.memory._driver:parse_memory_url")
    registry.add("url_scheme", "file", "ts_core.kvstore.file._driver:parse_file_url")
