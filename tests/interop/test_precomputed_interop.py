"""Neuroglancer precomputed volumes written by ts are read by the tensorstore wheel, and the reverse.

Every case is one volume of three scales added to one ``info`` one after the other: an
unsharded scale, a scale sharded with the murmurhash and gzip, and one sharded with the
identity hash and raw indices. Each scale has a non-zero ``voxel_offset`` and a size that is
not a multiple of its chunk size (truncated edge chunks). The cases cover every encoding,
multi-channel volumes and both compressed_segmentation data types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

LIBRARIES: dict[str, Any] = {"ts": ts, "tensorstore": tensorstore}

MURMUR_SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "murmurhash3_x86_128",
    "minishard_bits": 2, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip",
}
IDENTITY_SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
    "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "raw", "data_encoding": "raw",
}
#: The three scales of every case: geometry and chunk storage.
SCALES: list[dict[str, Any]] = [
    {"size": [37, 21, 9], "voxel_offset": [5, -3, 2], "chunk_size": [16, 8, 4], "resolution": [4, 4, 40]},
    {"size": [19, 11, 9], "voxel_offset": [2, -2, 1], "chunk_size": [8, 8, 4], "resolution": [8, 8, 40],
     "sharding": MURMUR_SHARDING},
    {"size": [10, 6, 5], "voxel_offset": [1, -1, 3], "chunk_size": [4, 4, 2], "resolution": [16, 16, 80.5],
     "key": "coarse", "sharding": IDENTITY_SHARDING},
]


@dataclass(frozen=True)
class Case:
    encoding: str
    data_type: str
    num_channels: int
    #: Encoding members of each scale's ``scale_metadata`` (block size, jpeg quality, ...).
    members: tuple[dict[str, Any], ...] = field(default=({}, {}, {}))

    @property
    def lossy(self) -> bool:
        return self.encoding == "jpeg"

    @property
    def segmentation(self) -> bool:
        return self.encoding == "compressed_segmentation"

    def __str__(self) -> str:
        return f"{self.encoding}-{self.data_type}x{self.num_channels}"


BLOCKS = ({"compressed_segmentation_block_size": [8, 8, 8]}, {"compressed_segmentation_block_size": [4, 4, 4]},
          {"compressed_segmentation_block_size": [3, 2, 2]})
CASES = [
    Case("raw", "uint16", 2),
    Case("raw", "float32", 1),
    Case("raw", "uint64", 1),
    Case("jpeg", "uint8", 1, ({"jpeg_quality": 95}, {}, {"jpeg_quality": 60})),
    Case("jpeg", "uint8", 3),
    Case("png", "uint8", 2),
    Case("png", "uint16", 1),
    Case("png", "uint8", 4),
    Case("compressed_segmentation", "uint64", 1, BLOCKS),
    Case("compressed_segmentation", "uint32", 2, BLOCKS),
]
CASE_IDS = [str(case) for case in CASES]


def file_kvstore(path: Path) -> dict[str, Any]:
    """A file kvstore at ``path``, without fsync: the tests need no durability."""
    return {"driver": "file", "path": f"{path}/", "file_io_sync": False}


def spec(path: Path, case: Case | None = None, scale: int | None = None, **members: Any) -> dict[str, Any]:
    """The same JSON spec for both libraries: opening (``case`` None) or creating ``scale``."""
    json_value: dict[str, Any] = {"driver": "neuroglancer_precomputed", "kvstore": file_kvstore(path)}
    if case is not None and scale is not None:
        json_value["scale_metadata"] = {**SCALES[scale], "encoding": case.encoding, **case.members[scale]}
        if scale == 0:
            # The wheel refuses to add a scale without multiscale_metadata to a uint32/uint64
            # volume of type "image" (it takes such a spec to mean "segmentation"); ts adds it.
            json_value["multiscale_metadata"] = {
                "type": "segmentation" if case.data_type in ("uint32", "uint64") else "image",
                "data_type": case.data_type, "num_channels": case.num_channels,
            }
    return {**json_value, **members}


def volume(case: Case, scale: int) -> np.ndarray[Any, Any]:
    """Data of ``scale`` in (x, y, z, channel) order: smooth for images (so jpeg keeps it
    close), blocks of large labels for segmentations."""
    shape = [*SCALES[scale]["size"], case.num_channels]
    x, y, z, c = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    if case.segmentation:
        labels = (x // 3 + 5 * (y // 4) + 31 * (z // 2) + 1000 * c + 1).astype(np.uint64)
        if case.data_type == "uint64":
            labels *= np.uint64(2**33 + 7)
        return labels.astype(case.data_type)
    if case.lossy:
        return (x * 2 + y * 3 + z * 5 + c * 20 + 10).astype(case.data_type)
    values = (x * 7919 + y * 613 + z * 37 + c * 101 + scale) % 60013
    if case.data_type == "uint8":
        values %= 251
    if case.data_type == "float32":
        return (values / 7 - 300).astype(np.float32)
    return values.astype(case.data_type)


def create(library: Any, path: Path, case: Case, scale: int) -> Any:
    return library.open(spec(path, case, scale), create=True).result()


def write_volume(library: Any, path: Path, case: Case, scales: range = range(3)) -> None:
    for scale in scales:
        store = create(library, path, case, scale)
        store.write(volume(case, scale)).result()


def info(path: Path) -> Any:
    return json.loads((path / "info").read_text())


def describe(store: Any) -> dict[str, Any]:
    """What both libraries must report alike for one scale."""
    domain = store.domain
    return {
        "labels": list(domain.labels),
        "inclusive_min": list(domain.inclusive_min),
        "exclusive_max": list(domain.exclusive_max),
        "dtype": store.dtype.name,
        "units": [None if unit is None else (unit.multiplier, unit.base_unit) for unit in store.dimension_units],
        "chunk_layout": store.chunk_layout.to_json(),
    }


def stored_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_values(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any], case: Case, sharp: bool = False) -> None:
    """Equal, or for jpeg close: ``sharp`` data (an unwritten region's border) rings more
    than the smooth volumes, and 3-channel jpeg subsamples the chroma."""
    if case.lossy:
        error = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
        assert error.max() <= (48 if sharp else 16), error.max()
        assert error.mean() <= (5 if sharp else 2.5), error.mean()
    else:
        np.testing.assert_array_equal(actual, expected)


def scale_selectors(scale: int) -> dict[str, Any]:
    """Three ways to name a scale: by index, by key, by resolution."""
    return [{"scale_index": 0}, {"scale_metadata": {"key": "8_8_40"}},
            {"scale_metadata": {"resolution": SCALES[2]["resolution"]}}][scale]


SCALE_IDS = ["unsharded", "murmurhash-shards", "identity-shards"]


@pytest.mark.parametrize("scale", range(3), ids=SCALE_IDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_tensorstore_writes_ts_reads(tmp_path: Path, case: Case, scale: int) -> None:
    """The wheel writes the scales up to ``scale``; ts reads the last one."""
    write_volume(tensorstore, tmp_path, case, range(scale + 1))
    written_info = info(tmp_path)
    theirs = tensorstore.open(spec(tmp_path, **scale_selectors(scale))).result()
    store = ts.open(spec(tmp_path, **scale_selectors(scale))).result()
    assert describe(store) == describe(theirs)
    values = store.read().result()
    # Lossy or not, both libraries decode the same stored bytes to the same values.
    np.testing.assert_array_equal(values, theirs.read().result())
    assert_values(values, volume(case, scale), case)
    # A region across edge chunks, indexed in the volume's (offset) coordinates.
    x0, y0, z0 = SCALES[scale]["voxel_offset"]
    _, size_y, size_z = SCALES[scale]["size"]
    region = (slice(x0 + 3, None), slice(y0 + 1, y0 + size_y - 1), z0 + size_z - 1)
    np.testing.assert_array_equal(store[region].read().result(), theirs[region].read().result())
    assert info(tmp_path) == written_info  # reading rewrites nothing


@pytest.mark.parametrize("scale", range(3), ids=SCALE_IDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_ts_writes_tensorstore_reads(tmp_path: Path, case: Case, scale: int) -> None:
    """ts creates the scales up to ``scale`` and writes the last one; the wheel reads it,
    and the wheel's own ``info`` for the same scales is the same."""
    path = tmp_path / "ts"
    for earlier in range(scale):
        create(ts, path, case, earlier)
    store = create(ts, path, case, scale)
    data = volume(case, scale)
    x0, y0, _ = SCALES[scale]["voxel_offset"]
    # Two partial writes that leave x < x0 + 3, y >= y0 + 5 unwritten (read back as 0),
    # both crossing chunk boundaries.
    store[:, : y0 + 5].write(data[:, :5]).result()
    store[x0 + 3 :, y0 + 5 :].write(data[3:, 5:]).result()
    data[:3, 5:] = 0
    theirs = tensorstore.open(spec(path, **scale_selectors(scale))).result()
    assert describe(theirs) == describe(store)
    assert_values(theirs.read().result(), data, case, sharp=True)
    np.testing.assert_array_equal(theirs.read().result(), store.read().result())

    reference = tmp_path / "reference"
    for earlier in range(scale + 1):
        create(tensorstore, reference, case, earlier)
    assert info(path) == info(reference)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_scales_added_by_both_libraries(tmp_path: Path, case: Case) -> None:
    """One info grown alternately by each library equals the one the wheel grows alone; each
    reads the scales the other wrote."""
    for scale, library in enumerate((tensorstore, ts, tensorstore)):
        write_volume(library, tmp_path / "mixed", case, range(scale, scale + 1))
    write_volume(tensorstore, tmp_path / "reference", case)
    assert info(tmp_path / "mixed") == info(tmp_path / "reference")
    for library in LIBRARIES.values():
        for scale in range(3):
            store = library.open(spec(tmp_path / "mixed", scale_index=scale)).result()
            assert_values(store.read().result(), volume(case, scale), case)


@pytest.mark.parametrize("case", [case for case in CASES if case.encoding in ("raw", "compressed_segmentation")],
                         ids=lambda case: str(case))
def test_same_keys_and_bytes_as_tensorstore(tmp_path: Path, case: Case) -> None:
    """Both libraries store the same chunk keys and shard files; unsharded raw and
    compressed_segmentation chunks are byte for byte the same (the shards' minishards hold
    the same chunks, but their order and gzip streams are each library's own)."""
    for name, library in LIBRARIES.items():
        write_volume(library, tmp_path / name, case)
    ours, theirs = stored_files(tmp_path / "ts"), stored_files(tmp_path / "tensorstore")
    assert sorted(ours) == sorted(theirs)
    unsharded = [key for key in theirs if key.startswith("4_4_40/")]
    assert len(unsharded) == 3 * 3 * 3  # edge chunks included
    for key in unsharded:
        assert ours[key] == theirs[key], key


def test_unwritten_chunks_read_as_zero(tmp_path: Path) -> None:
    case = CASES[0]
    for name, library in LIBRARIES.items():
        store = create(library, tmp_path / name, case, 0)
        x0, y0, z0 = SCALES[0]["voxel_offset"]
        store[x0 + 16 : x0 + 32, y0 : y0 + 8, z0 + 4 : z0 + 8].write(np.full((16, 8, 4, 2), 7, np.uint16)).result()
    for writer in LIBRARIES:
        assert len(list((tmp_path / writer / "4_4_40").iterdir())) == 1  # one chunk stored
        for reader, library in LIBRARIES.items():
            values = library.open(spec(tmp_path / writer)).result().read().result()
            assert values.sum() == 7 * 16 * 8 * 4 * 2, (writer, reader)
            assert values[16:32, :8, 4:8].min() == 7


KVSTORE_SHARDINGS = {
    "murmurhash-raw": {**MURMUR_SHARDING, "minishard_index_encoding": "raw", "data_encoding": "raw"},
    "murmurhash-gzip": MURMUR_SHARDING,
    "identity-raw": IDENTITY_SHARDING,
    "one-shard": {**IDENTITY_SHARDING, "preshift_bits": 3, "shard_bits": 0, "minishard_bits": 0},
}


@pytest.mark.parametrize("name", list(KVSTORE_SHARDINGS))
def test_sharded_kvstore_interop(tmp_path: Path, name: str) -> None:
    """The neuroglancer_uint64_sharded kvstore alone: chunk ids written one at a time by
    either library are read by the other, deletions included; with raw encodings the shard
    files are byte for byte the same."""
    rng = np.random.default_rng(len(name))
    values = {int(chunk_id): rng.bytes(int(rng.integers(0, 200))) for chunk_id in rng.integers(0, 2**40, 60)}
    deleted = sorted(values)[::7]

    def spec(path: Path) -> dict[str, Any]:
        return {"driver": "neuroglancer_uint64_sharded", "base": file_kvstore(path),
                "metadata": KVSTORE_SHARDINGS[name]}

    for library_name, library in LIBRARIES.items():
        kvstore = library.KvStore.open(spec(tmp_path / library_name)).result()
        for chunk_id, value in values.items():
            kvstore.write(chunk_id.to_bytes(8, "big"), value).result()
        for chunk_id in deleted:
            del kvstore[chunk_id.to_bytes(8, "big")]
    for writer in LIBRARIES:
        for reader, library in LIBRARIES.items():
            kvstore = library.KvStore.open(spec(tmp_path / writer)).result()
            for chunk_id, value in values.items():
                result = kvstore.read(chunk_id.to_bytes(8, "big")).result()
                if chunk_id in deleted:
                    assert result.state == "missing", (writer, reader, chunk_id)
                else:
                    assert result.value == value, (writer, reader, chunk_id)
    ours, theirs = stored_files(tmp_path / "ts"), stored_files(tmp_path / "tensorstore")
    assert sorted(ours) == sorted(theirs)
    if "raw" in name:
        assert ours == theirs


def test_sharded_kvstore_transaction_read_by_tensorstore(tmp_path: Path) -> None:
    """Chunks staged in one ts transaction land in their shards at commit, and the wheel
    reads every one of them."""
    spec = {"driver": "neuroglancer_uint64_sharded", "base": file_kvstore(tmp_path),
            "metadata": MURMUR_SHARDING}
    rng = np.random.default_rng(1)
    values = {int(chunk_id).to_bytes(8, "big"): rng.bytes(50) for chunk_id in rng.integers(0, 2**40, 80)}
    transaction = ts.Transaction()
    kvstore = ts.KvStore.open(spec).result().with_transaction(transaction)
    for key, value in values.items():
        kvstore.write(key, value).result()
    assert not tmp_path.joinpath("0.shard").exists()
    transaction.commit_sync()
    theirs = tensorstore.KvStore.open(spec).result()
    assert {key: theirs.read(key).result().value for key in values} == values


def test_url_opens_first_scale(tmp_path: Path) -> None:
    write_volume(tensorstore, tmp_path, CASES[0], range(1))
    url = f"file://{tmp_path}/|neuroglancer-precomputed:"
    store, theirs = ts.open(url).result(), tensorstore.open(url).result()
    assert describe(store) == describe(theirs)
    np.testing.assert_array_equal(store.read().result(), volume(CASES[0], 0))


@pytest.mark.parametrize("scale", range(2), ids=SCALE_IDS[:2])
def test_transaction_writes_read_by_tensorstore(tmp_path: Path, scale: int) -> None:
    """Writes staged in a ts transaction (into shards or plain chunks) reach storage at
    commit, where the wheel reads them."""
    case = CASES[-1]  # compressed_segmentation, 2 channels
    for earlier in range(scale + 1):
        create(ts, tmp_path, case, earlier)
    transaction = ts.Transaction()
    store = ts.open(spec(tmp_path, scale_index=scale)).result().with_transaction(transaction)
    data = volume(case, scale)
    store.write(data).result()
    np.testing.assert_array_equal(store.read().result(), data)  # read-your-writes
    assert not tensorstore.open(spec(tmp_path, scale_index=scale)).result().read().result().any()
    transaction.commit_sync()
    np.testing.assert_array_equal(tensorstore.open(spec(tmp_path, scale_index=scale)).result().read().result(), data)
