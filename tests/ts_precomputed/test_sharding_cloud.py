"""The sharded kvstore and sharded volumes over cloud kvstores: the kvstore conformance suite
over S3 (the SeaweedFS server of the ts-cloud tests), and reads over read-only HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance

TS_CLOUD_TESTS = Path(__file__).resolve().parent.parent / "ts_cloud"
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0,
    "minishard_bits": 2, "shard_bits": 2, "data_encoding": "gzip", "minishard_index_encoding": "gzip",
}


def cloud_servers() -> Any:
    sys.path.insert(0, str(TS_CLOUD_TESTS))
    import cloud_servers

    return cloud_servers


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    servers = cloud_servers()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with servers.seaweedfs() as endpoint:
        servers.create_s3_bucket(endpoint, servers.S3_BUCKET)
        yield endpoint


class TestShardedOverS3(KvStoreConformance):
    supports_path_prefix = False
    generation_changes_on_identical_rewrite = False
    concurrent_writers = 2
    increments_per_writer = 5

    def key(self, name: str) -> bytes:
        return name.encode().ljust(8, b"\x00")[:8]

    @pytest.fixture
    def kvstore(self, s3_endpoint: str) -> ts.KvStore:
        servers = cloud_servers()
        base = servers.s3_spec(s3_endpoint, servers.unique_prefix("sharded"))
        return ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": base, "metadata": SHARDING}).result()


def test_sharded_volume_reads_over_http(tmp_path: Any) -> None:
    """A sharded volume tensorstore wrote, served read-only over HTTP with range requests."""
    values = np.random.default_rng(5).integers(0, 2**16, (40, 24, 12, 1), dtype=np.uint16)
    written = tensorstore.open(
        {
            "driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/",
            "multiscale_metadata": {"type": "image", "data_type": "uint16", "num_channels": 1},
            "scale_metadata": {"resolution": [4, 4, 40], "size": [40, 24, 12], "voxel_offset": [0, 0, 0],
                               "chunk_size": [8, 8, 4], "encoding": "raw", "sharding": SHARDING},
        },
        create=True,
    ).result()
    written.write(values).result()
    with cloud_servers().static_http_server(str(tmp_path)) as url:
        store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"{url}/"}).result()
        np.testing.assert_array_equal(store.read().result(), values)
        np.testing.assert_array_equal(store[3:17, 5:6, 2:11].read().result(), values[3:17, 5:6, 2:11])
