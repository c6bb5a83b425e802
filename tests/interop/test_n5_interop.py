"""N5 arrays written by ts are read by the tensorstore wheel, and the reverse, byte for byte."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts

COMPRESSIONS: dict[str, dict[str, Any]] = {
    "raw": {"type": "raw"},
    "gzip": {"type": "gzip"},
    "zlib": {"type": "gzip", "useZlib": True, "level": 3},
    "bzip2": {"type": "bzip2"},
    "xz": {"type": "xz", "preset": 2},
    "blosc-lz4": {"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1},
    "blosc-zstd-bitshuffle": {"type": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2, "blocksize": 0},
    "zstd": {"type": "zstd"},
    "zstd-level": {"type": "zstd", "level": 7},
}
SHAPE = [9, 13, 4]
BLOCK = [4, 5, 3]


def sample(dtype: Any = np.int16) -> np.ndarray[Any, Any]:
    return ((np.arange(int(np.prod(SHAPE))) * 7919 % 6007) - 3000).astype(dtype).reshape(SHAPE)


def spec(path: Path, compression: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    json_value: dict[str, Any] = {"driver": "n5", "kvstore": {"driver": "file", "path": f"{path}/"}}
    if compression is not None:
        json_value["metadata"] = {"compression": compression, "blockSize": BLOCK, **metadata}
    return json_value


def stored_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_ts_writes_tensorstore_reads(tmp_path: Path, name: str) -> None:
    data = sample()
    store = ts.open(spec(tmp_path, COMPRESSIONS[name]), create=True, dtype=ts.int16, shape=SHAPE).result()
    store[:, :12].write(data[:, :12]).result()  # the last column of blocks is partly written
    expected = data.copy()
    expected[:, 12] = 0
    theirs = tensorstore.open(spec(tmp_path)).result()
    np.testing.assert_array_equal(theirs.read().result(), expected)
    np.testing.assert_array_equal(theirs[2:7, 11:, 1].read().result(), expected[2:7, 11:, 1])


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_tensorstore_writes_ts_reads(tmp_path: Path, name: str) -> None:
    data = sample()
    theirs = tensorstore.open(spec(tmp_path, COMPRESSIONS[name]), create=True, dtype=tensorstore.int16, shape=SHAPE).result()
    theirs[:, :12].write(data[:, :12]).result()
    expected = data.copy()
    expected[:, 12] = 0
    store = ts.open(spec(tmp_path), open=True).result()
    np.testing.assert_array_equal(store.read().result(), expected)
    assert store.kvstore["attributes.json"] == (tmp_path / "attributes.json").read_bytes()
    assert store.codec == ts.CodecSpec(theirs.codec.to_json())
    assert store.chunk_layout.to_json() == theirs.chunk_layout.to_json()


@pytest.mark.parametrize("name", list(COMPRESSIONS))
def test_same_bytes_as_tensorstore(tmp_path: Path, name: str) -> None:
    """Both libraries store identical files for the same writes.

    Deflate output depends on the zlib build (tensorstore links its own), so gzip/zlib
    blocks are compared by header and decompressed payload; every other compression
    matches byte for byte.
    """
    data = sample()
    ours, theirs = tmp_path / "ts", tmp_path / "tensorstore"
    store = ts.open(spec(ours, COMPRESSIONS[name]), create=True, dtype=ts.int16, shape=SHAPE).result()
    reference = tensorstore.open(spec(theirs, COMPRESSIONS[name]), create=True, dtype=tensorstore.int16, shape=SHAPE).result()
    store[1:, 3:].write(data[1:, 3:]).result()
    reference[1:, 3:].write(data[1:, 3:]).result()
    ours_files, their_files = stored_files(ours), stored_files(theirs)
    if COMPRESSIONS[name]["type"] == "gzip":
        ours_files, their_files = inflate_blocks(ours_files), inflate_blocks(their_files)
    assert ours_files == their_files


def inflate_blocks(files: dict[str, bytes]) -> dict[str, bytes]:
    header = 4 + 4 * len(SHAPE)
    return {
        key: value if key == "attributes.json" else value[:header] + zlib.decompress(value[header:], wbits=47)
        for key, value in files.items()
    }


@pytest.mark.parametrize("data_type", ["uint8", "int8", "uint16", "uint32", "int32", "uint64", "int64", "float32", "float64"])
def test_data_types_both_ways(tmp_path: Path, data_type: str) -> None:
    data = sample(data_type)
    ours, theirs = tmp_path / "ts", tmp_path / "tensorstore"
    ts.open(spec(ours, {"type": "raw"}), create=True, dtype=ts.dtype(data_type), shape=SHAPE).result().write(data).result()
    reference = tensorstore.open(spec(theirs, {"type": "raw"}), create=True, dtype=tensorstore.dtype(data_type), shape=SHAPE).result()
    reference.write(data).result()
    assert stored_files(ours) == stored_files(theirs)
    np.testing.assert_array_equal(tensorstore.open(spec(ours)).result().read().result(), data)
    np.testing.assert_array_equal(ts.open(spec(theirs)).result().read().result(), data)


def test_default_create_and_metadata_members_match(tmp_path: Path) -> None:
    """Default compression and chunk shape, axes, units and extra attributes: same attributes.json."""
    for library, path in ((ts, tmp_path / "ts"), (tensorstore, tmp_path / "tensorstore")):
        library.open(
            {"driver": "n5", "kvstore": {"driver": "file", "path": f"{path}/"}, "metadata": {"foo": {"b": 1, "a": [2]}}},
            create=True, dtype=library.uint8, shape=[300, 4000, 7],
            domain=library.IndexDomain(shape=[300, 4000, 7], labels=["z", "", "c"]),
            dimension_units=["40nm", None, "s"],
        ).result()
    assert (tmp_path / "ts" / "attributes.json").read_bytes() == (tmp_path / "tensorstore" / "attributes.json").read_bytes()
    ours = ts.open(spec(tmp_path / "tensorstore")).result()
    reference = tensorstore.open(spec(tmp_path / "tensorstore")).result()
    assert list(ours.domain.labels) == list(reference.domain.labels)
    assert [None if u is None else (u.multiplier, u.base_unit) for u in ours.dimension_units] == [
        None if u is None else (u.multiplier, u.base_unit) for u in reference.dimension_units
    ]


def test_resize_both_ways(tmp_path: Path) -> None:
    store = ts.open(spec(tmp_path, {"type": "raw"}), create=True, dtype=ts.uint16, shape=SHAPE).result()
    store.write(np.ones(SHAPE, np.uint16)).result()
    store.resize(exclusive_max=[5, None, None]).result()
    reference = tensorstore.open(spec(tmp_path)).result()
    assert reference.shape == (5, 13, 4)
    reference = reference.resize(exclusive_max=[12, None, None]).result()
    expected = np.zeros((12, 13, 4), np.uint16)
    expected[:5] = 1
    np.testing.assert_array_equal(ts.open(spec(tmp_path)).result().read().result(), expected)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_arrays_and_writes_match_tensorstore(tmp_path_factory: Any, data: st.DataObject) -> None:
    """Random shapes, block sizes, compressions and partial writes: identical files, same reads."""
    shape = data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    block = [data.draw(st.integers(1, n)) for n in shape]
    name = data.draw(st.sampled_from([n for n in COMPRESSIONS if COMPRESSIONS[n]["type"] != "gzip"]))
    data_type = data.draw(st.sampled_from(["uint8", "int16", "uint32", "float64"]))
    region = tuple(slice(*sorted(data.draw(st.tuples(st.integers(0, n), st.integers(0, n))))) for n in shape)
    root = tmp_path_factory.mktemp("n5")
    metadata = {"compression": COMPRESSIONS[name], "blockSize": block}
    stores = []
    for library, directory in ((ts, root / "ts"), (tensorstore, root / "tensorstore")):
        stores.append(library.open(
            {"driver": "n5", "kvstore": {"driver": "file", "path": f"{directory}/"}, "metadata": metadata},
            create=True, dtype=library.dtype(data_type), shape=shape,
        ).result())
    values = (np.arange(int(np.prod(shape))) % 200 + 1).astype(data_type).reshape(shape)[region]
    for store in stores:
        store[region].write(values).result()
    assert stored_files(root / "ts") == stored_files(root / "tensorstore")
    ours, theirs = stores
    np.testing.assert_array_equal(ours.read().result(), theirs.read().result())
    assert ours.spec().to_json()["metadata"] == theirs.spec().to_json()["metadata"]
