"""ts-precomputed's registrations; imports no implementation."""

from __future__ import annotations

from ts_core.plugin import Registrar, hookimpl


@hookimpl
def ts_register(registry: Registrar) -> None:
    registry.add(
        "kvstore", "neuroglancer_uint64_sharded", "ts_precomputed._sharded_kvstore:ShardedKvStore",
        schema="ts_precomputed:schemas/neuroglancer_uint64_sharded.json",
    )
