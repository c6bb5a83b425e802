"""cloud-volume, a second independent implementation of neuroglancer precomputed, reads what
ts writes and writes what ts reads.

cloud-volume runs in a subprocess (``_cloudvolume_worker.py``): it imports gevent and cloud
SDKs that must not patch the test process. One subprocess serves the whole module: the
fixture first writes ts's volumes, then cloud-volume writes its own and reads ts's.

cloud-volume writes a sharded scale a whole shard at a time, so its sharded scales here are
either one shard (murmurhash) or shards that are boxes of chunks (identity hash), written box
by box; ts's sharded scales span several shards of either hash. png goes through
cloud-volume's optional codec, ``pyspng-seunglab`` (in the dev group for this), which handles
uint8 only: it refuses to write 16-bit single-channel png and misreads 16-bit chunks, so
uint16 png is checked against the tensorstore wheel alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

WORKER = Path(__file__).with_name("_cloudvolume_worker.py")


def sharding(hash_: str, preshift_bits: int, minishard_bits: int, shard_bits: int, data_encoding: str) -> dict[str, Any]:
    return {
        "@type": "neuroglancer_uint64_sharded_v1", "hash": hash_, "preshift_bits": preshift_bits,
        "minishard_bits": minishard_bits, "shard_bits": shard_bits,
        "minishard_index_encoding": "gzip", "data_encoding": data_encoding,
    }


UNSHARDED = {"size": [37, 21, 9], "voxel_offset": [5, -3, 2], "chunk_size": [16, 8, 4], "resolution": [4, 4, 40]}
ONE_SHARD = {"size": [19, 11, 9], "voxel_offset": [2, -2, 1], "chunk_size": [8, 8, 4], "resolution": [8, 8, 40],
             "sharding": sharding("murmurhash3_x86_128", 1, 2, 0, "gzip")}
MANY_SHARDS = {**ONE_SHARD, "sharding": sharding("murmurhash3_x86_128", 1, 1, 2, "raw")}
#: Shards that are boxes of 2x2x2 chunks (identity hash, 3 preshift bits): cloud-volume
#: writes them one box at a time.
SHARD_BOXES = {"size": [30, 29, 15], "voxel_offset": [5, -3, 2], "chunk_size": [8, 8, 4], "resolution": [4, 4, 40],
               "sharding": sharding("identity", 3, 0, 3, "gzip")}
ONE_CHUNK = {"size": [16, 8, 4], "voxel_offset": [5, -3, 2], "chunk_size": [16, 8, 4], "resolution": [4, 4, 40]}
IDENTITY_SHARDS = {"size": [10, 6, 5], "voxel_offset": [1, -1, 3], "chunk_size": [4, 4, 2], "resolution": [16, 16, 80],
                   "sharding": sharding("identity", 1, 1, 2, "gzip")}


@dataclass(frozen=True)
class Volume:
    name: str
    encoding: str
    data_type: str
    num_channels: int
    scales: tuple[dict[str, Any], ...]

    @property
    def segmentation(self) -> bool:
        return self.encoding == "compressed_segmentation"

    def scale_metadata(self, scale: int) -> dict[str, Any]:
        members = {"encoding": self.encoding}
        if self.segmentation:
            members["compressed_segmentation_block_size"] = [8, 8, 8] if scale == 0 else [4, 4, 2]
        return {**self.scales[scale], **members}

    def info(self) -> dict[str, Any]:
        """The ``info`` cloud-volume is given (no ``@type``, as cloud-volume writes it)."""
        scales = []
        for scale in range(len(self.scales)):
            members = self.scale_metadata(scale)
            chunk_size = members.pop("chunk_size")
            key = "_".join(str(r) for r in members["resolution"])
            scales.append({"key": key, "chunk_sizes": [chunk_size], **members})
        return {"type": "segmentation" if self.segmentation else "image", "data_type": self.data_type,
                "num_channels": self.num_channels, "scales": scales}

    def data(self, scale: int) -> np.ndarray[Any, Any]:
        shape = [*self.scales[scale]["size"], self.num_channels]
        x, y, z, c = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
        if self.segmentation:
            labels = (x // 3 + 5 * (y // 4) + 31 * (z // 2) + 1000 * c + 1).astype(np.uint64)
            if self.data_type == "uint64":
                labels *= np.uint64(2**33 + 7)
            return labels.astype(self.data_type)
        if self.encoding == "jpeg":
            return (x * 2 + y * 3 + z * 5 + c * 20 + 10).astype(self.data_type)
        return ((x * 7919 + y * 613 + z * 37 + c * 101 + scale) % 60013).astype(self.data_type)


CLOUDVOLUME_WRITES = [
    Volume("raw", "raw", "uint16", 2, (UNSHARDED, ONE_SHARD)),
    Volume("raw-float32", "raw", "float32", 1, (UNSHARDED,)),
    Volume("segmentation", "compressed_segmentation", "uint64", 1, (UNSHARDED, ONE_SHARD)),
    Volume("segmentation-shard-boxes", "compressed_segmentation", "uint64", 1, (SHARD_BOXES,)),
    Volume("jpeg", "jpeg", "uint8", 1, (UNSHARDED, ONE_SHARD)),
    Volume("jpeg-rgb", "jpeg", "uint8", 3, (UNSHARDED,)),
    Volume("png", "png", "uint8", 1, (UNSHARDED, ONE_SHARD)),
]
TS_WRITES = [
    Volume("raw", "raw", "uint16", 2, (UNSHARDED, MANY_SHARDS, IDENTITY_SHARDS)),
    Volume("raw-float32", "raw", "float32", 1, (UNSHARDED,)),
    Volume("segmentation", "compressed_segmentation", "uint64", 1, (UNSHARDED, MANY_SHARDS, IDENTITY_SHARDS)),
    Volume("segmentation-2-channels", "compressed_segmentation", "uint32", 2, (UNSHARDED, MANY_SHARDS)),
    Volume("jpeg", "jpeg", "uint8", 1, (UNSHARDED, MANY_SHARDS)),
    # One chunk: cloud-volume misorders a 3-channel jpeg chunk it reads (see unscramble_rgb).
    Volume("jpeg-rgb", "jpeg", "uint8", 3, (ONE_CHUNK,)),
    Volume("png", "png", "uint8", 1, (UNSHARDED, MANY_SHARDS)),
]
#: cloud-volume's default for file:// (``compress=None``) gzips every chunk into ``<key>.gz``.
GZIP_FILES = Volume("gzip-files", "raw", "uint16", 1, (UNSHARDED,))


@dataclass
class Exchange:
    root: Path
    results: dict[str, str]
    ts_errors: dict[str, BaseException]

    def check(self, job_id: str) -> None:
        assert self.results[job_id] == "ok", self.results[job_id]


def ts_write(path: Path, volume: Volume) -> None:
    for scale in range(len(volume.scales)):
        json_value: dict[str, Any] = {
            "driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": f"{path}/"},
            "scale_metadata": volume.scale_metadata(scale),
        }
        if scale == 0:
            json_value["multiscale_metadata"] = {
                "type": "segmentation" if volume.segmentation else "image",
                "data_type": volume.data_type, "num_channels": volume.num_channels,
            }
        ts.open(json_value, create=True).result().write(volume.data(scale)).result()


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    root = tmp_path_factory.mktemp("cloudvolume")
    jobs: dict[str, list[dict[str, Any]]] = {"write": [], "read": []}
    for volume in [*CLOUDVOLUME_WRITES, GZIP_FILES]:
        data_files = []
        for scale in range(len(volume.scales)):
            data_files.append(str(root / f"input-{volume.name}-{scale}.npy"))
            np.save(data_files[-1], volume.data(scale))
        jobs["write"].append({"id": f"write-{volume.name}", "path": str(root / "cloudvolume" / volume.name),
                              "info": volume.info(), "data": data_files, "compress": None if volume is GZIP_FILES else False,
                              "shard_boxes": volume.scales[0] is SHARD_BOXES})
    ts_errors: dict[str, BaseException] = {}
    for volume in TS_WRITES:
        try:
            ts_write(root / "ts" / volume.name, volume)
        except Exception as error:  # reported by the volume's own test
            ts_errors[volume.name] = error
            continue
        for scale in range(len(volume.scales)):
            jobs["read"].append({"id": f"read-{volume.name}-{scale}", "path": str(root / "ts" / volume.name),
                                 "mip": scale, "out": str(root / f"output-{volume.name}-{scale}.npy")})
    (root / "jobs.json").write_text(json.dumps(jobs))
    worker = subprocess.run([sys.executable, str(WORKER), str(root / "jobs.json"), str(root / "results.json")],
                            capture_output=True, text=True, timeout=300, cwd=root, check=False)
    assert worker.returncode == 0, f"the cloud-volume worker failed:\n{worker.stderr}"
    return Exchange(root, json.loads((root / "results.json").read_text()), ts_errors)


def open_scale(library: Any, path: Path, scale: int) -> Any:
    return library.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": f"{path}/"},
                         "scale_index": scale}).result()


def assert_close(actual: np.ndarray[Any, Any], volume: Volume, scale: int) -> None:
    expected = volume.data(scale)
    if volume.encoding == "jpeg":
        error = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
        assert error.max() <= 16, error.max()
        assert error.mean() <= 2.5, error.mean()
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("volume", CLOUDVOLUME_WRITES, ids=lambda volume: volume.name)
def test_cloudvolume_writes_ts_reads(exchange: Exchange, volume: Volume) -> None:
    exchange.check(f"write-{volume.name}")
    path = exchange.root / "cloudvolume" / volume.name
    for scale in range(len(volume.scales)):
        store = open_scale(ts, path, scale)
        theirs = open_scale(tensorstore, path, scale)
        assert store.domain.to_json() == theirs.domain.to_json()
        assert [str(unit) for unit in store.dimension_units] == [str(unit) for unit in theirs.dimension_units]
        values = store.read().result()
        np.testing.assert_array_equal(values, theirs.read().result())
        assert_close(values, volume, scale)


def unscramble_rgb(chunk: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Undo cloud-volume's reading of one 3-channel jpeg chunk.

    cloud-volume 12.15 decodes the image to its interleaved pixels (channel fastest, then
    x, y, z) and reshapes them to (x, y, z, channel) in Fortran order, as if channel were
    slowest: it reads its own 3-channel jpeg chunks wrongly too (tensorstore reads them
    right). Laid out again in the stored order, the values are the chunk's."""
    size_x, size_y, size_z, channels = chunk.shape
    return chunk.ravel(order="F").reshape(size_z, size_y, size_x, channels).transpose(2, 1, 0, 3)


@pytest.mark.parametrize("volume", TS_WRITES, ids=lambda volume: volume.name)
def test_ts_writes_cloudvolume_reads(exchange: Exchange, volume: Volume) -> None:
    if volume.name in exchange.ts_errors:
        raise exchange.ts_errors[volume.name]
    path = exchange.root / "ts" / volume.name
    for scale in range(len(volume.scales)):
        exchange.check(f"read-{volume.name}-{scale}")
        values = np.load(exchange.root / f"output-{volume.name}-{scale}.npy")
        if volume.encoding == "jpeg" and volume.num_channels == 3:
            values = unscramble_rgb(values)
        # Lossy or not, cloud-volume decodes ts's bytes to what ts decodes them to.
        np.testing.assert_array_equal(values, open_scale(ts, path, scale).read().result())
        assert_close(values, volume, scale)


def test_cloudvolume_gzip_files_are_missing_chunks(exchange: Exchange) -> None:
    """cloud-volume's default ``<key>.gz`` files on file:// are not precomputed chunk keys:
    ts, like tensorstore, finds no chunk there and reads the fill value."""
    exchange.check(f"write-{GZIP_FILES.name}")
    path = exchange.root / "cloudvolume" / GZIP_FILES.name
    assert sorted(p.suffix for p in (path / "4_4_40").iterdir()) == [".gz"] * 27
    np.testing.assert_array_equal(open_scale(ts, path, 0).read().result(), open_scale(tensorstore, path, 0).read().result())
    assert not open_scale(ts, path, 0).read().result().any()
