"""The zarr3 driver passes the chunked-driver conformance suite, with and without sharding."""

from __future__ import annotations

from typing import Any

import ts_core as ts
from ts_core.testing.driver import DriverConformance


class TestZarr3Conformance(DriverConformance):
    driver = "zarr3"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        return ts.open(
            {"driver": "zarr3", "kvstore": kvstore, "metadata": {"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}}}},
            create=True, shape=shape, dtype=dtype, fill_value=fill_value, context=context,
        ).result()


class TestZarr3ShardedConformance(DriverConformance):
    """Shards of 2 x 2 (or 2) inner chunks of the suite's chunk shape, index at the start."""

    driver = "zarr3"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        sharding = {
            "name": "sharding_indexed",
            "configuration": {"chunk_shape": list(chunks), "codecs": ["bytes", "zstd"], "index_location": "start"},
        }
        return ts.open(
            {
                "driver": "zarr3", "kvstore": kvstore,
                "metadata": {
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2 * c for c in chunks]}},
                    "codecs": [sharding],
                },
            },
            create=True, shape=shape, dtype=dtype, fill_value=fill_value, context=context,
        ).result()
