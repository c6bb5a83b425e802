"""The sharded kvstore and sharded volumes over cloud kvstores: the kvstore conformance suite
over S3 (the SeaweedFS server of the ts-cloud tests), reads over read-only HTTP, and volumes
written on S3 and GCS (fake-gcs-server) read back by ts and the tensorstore wheel."""

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


@pytest.fixture(scope="module")
def gcs_url() -> Iterator[str]:
    servers = cloud_servers()
    with servers.fake_gcs_server() as url:
        servers.create_gcs_bucket(url, servers.GCS_BUCKET)
        previous = os.environ.get("TENSORSTORE_GCS_HTTP_URL")
        os.environ["TENSORSTORE_GCS_HTTP_URL"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("TENSORSTORE_GCS_HTTP_URL", None)
            else:
                os.environ["TENSORSTORE_GCS_HTTP_URL"] = previous


@pytest.mark.parametrize("sharding", [None, SHARDING], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("service", ["s3", "gcs"])
def test_volumes_on_object_stores(service: str, sharding: Any, request: pytest.FixtureRequest) -> None:
    """Volumes written by ts on S3 (SeaweedFS) and GCS (fake-gcs-server), with a partial
    write and edge chunks, read back by ts and by the tensorstore wheel."""
    servers = cloud_servers()
    prefix = servers.unique_prefix(f"precomputed-{service}")
    if service == "s3":
        kvstore = servers.s3_spec(request.getfixturevalue("s3_endpoint"), prefix)
    else:
        request.getfixturevalue("gcs_url")
        kvstore = servers.gcs_spec(prefix)
    scale: dict[str, Any] = {"resolution": [4, 4, 40], "size": [40, 24, 12], "voxel_offset": [3, 0, 1],
                             "chunk_size": [16, 16, 8], "encoding": "compressed_segmentation",
                             "compressed_segmentation_block_size": [8, 8, 4]}
    if sharding is not None:
        scale["sharding"] = sharding
    spec = {"driver": "neuroglancer_precomputed", "kvstore": kvstore,
            "multiscale_metadata": {"type": "segmentation", "data_type": "uint64", "num_channels": 1},
            "scale_metadata": scale}
    values = np.random.default_rng(7).integers(0, 50, (40, 24, 12, 1), dtype=np.uint64)
    store = ts.open(spec, create=True).result()
    store.write(values).result()
    store[10:30, 2:9, 3:13].write(values[:20, :7, :10] + 1).result()
    expected = values.copy()
    expected[7:27, 2:9, 2:12] = values[:20, :7, :10] + 1
    np.testing.assert_array_equal(ts.open({**spec, "scale_metadata": {}}).result().read().result(), expected)
    wheel = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": kvstore}).result()
    np.testing.assert_array_equal(wheel.read().result(), expected)
