"""The N5 driver: conformance suite, N5-specific behaviour, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.driver import DriverConformance


class TestN5Conformance(DriverConformance):
    driver = "n5"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        # N5 has no fill value (missing blocks read as 0); only the default is meaningful.
        assert fill_value in (None, 0)
        return ts.open(
            {"driver": "n5", "kvstore": kvstore, "metadata": {"blockSize": list(chunks)}},
            create=True,
            shape=shape,
            dtype=dtype,
            context=context,
        ).result()

    # The suite's fill-value tests use fill values N5 cannot store; the same checks with 0:
    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4), "uint16")
        np.testing.assert_array_equal(store.read().result(), np.zeros((7, 9), np.uint16))
        assert store.shape == (7, 9)
        assert store.dtype.name == "uint16"
        assert store.fill_value is None

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        store[0:2, 0:2].write(np.zeros((2, 2), np.uint16)).result()
        store[2:4, 2:4].write(np.ones((2, 2), np.uint16)).result()
        assert sorted(store.kvstore.list().result()) == [b"1/1", b"attributes.json"]


def open_n5(path: Path, **kwargs: Any) -> Any:
    spec = {"driver": "n5", "kvstore": {"driver": "file", "path": f"{path}/"}, **kwargs.pop("spec", {})}
    return ts.open(spec, **kwargs).result()


def test_default_metadata_matches_tensorstore() -> None:
    store = ts.open({"driver": "n5", "kvstore": "memory://"}, create=True, dtype=ts.uint16, shape=[100, 200]).result()
    assert store.kvstore["attributes.json"] == (
        b'{"blockSize":[100,200],"compression":{"blocksize":0,"clevel":5,"cname":"lz4","shuffle":1,'
        b'"type":"blosc"},"dataType":"uint16","dimensions":[100,200]}'
    )
    one_byte = ts.open({"driver": "n5", "kvstore": "memory://b/"}, create=True, dtype=ts.int8, shape=[4]).result()
    assert json.loads(one_byte.kvstore["attributes.json"])["compression"]["shuffle"] == 2  # bit shuffle


def test_block_layout_header_and_edge_blocks(tmp_path: Path) -> None:
    store = open_n5(
        tmp_path, spec={"metadata": {"blockSize": [2, 3], "compression": {"type": "raw"}}},
        create=True, dtype=ts.uint16, shape=[5, 7],
    )
    data = np.arange(35, dtype=np.uint16).reshape(5, 7)
    store.write(data).result()
    # Header: mode 0, rank 2, sizes in attributes.json order; data big-endian, first dim fastest.
    interior = (tmp_path / "1" / "1").read_bytes()
    assert interior[:12] == b"\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03"
    assert interior[12:] == data[2:4, 3:6].astype(">u2").tobytes(order="F")
    # Edge blocks are written at the full block size (as tensorstore writes them), zero-padded.
    edge = (tmp_path / "2" / "2").read_bytes()
    padded = np.zeros((2, 3), ">u2")
    padded[0, 0] = data[4, 6]
    assert edge == interior[:12] + padded.tobytes(order="F")
    np.testing.assert_array_equal(store.read().result(), data)


def test_chunk_layout_codec_and_spec() -> None:
    store = ts.open(
        {"driver": "n5", "kvstore": "memory://s/", "metadata": {"compression": {"type": "gzip"}}},
        create=True, dtype=ts.float64, shape=[10, 20, 30], chunk_layout=ts.ChunkLayout(chunk_shape=[5, 10, 15]),
    ).result()
    assert store.chunk_layout.inner_order == (2, 1, 0)
    assert store.chunk_layout.read_chunk.shape == (5, 10, 15)
    assert store.codec == ts.CodecSpec({"driver": "n5", "compression": {"type": "gzip", "level": -1, "useZlib": False}})
    metadata = store.spec().to_json()["metadata"]
    assert metadata == {
        "blockSize": [5, 10, 15], "compression": {"level": -1, "type": "gzip", "useZlib": False},
        "dataType": "float64", "dimensions": [10, 20, 30],
    }


def test_codec_from_schema() -> None:
    codec = ts.CodecSpec({"driver": "n5", "compression": {"type": "zstd", "level": 3}})
    store = ts.open({"driver": "n5", "kvstore": "memory://"}, create=True, dtype=ts.int32, shape=[4], codec=codec).result()
    assert json.loads(store.kvstore["attributes.json"])["compression"] == {"level": 3, "type": "zstd"}


def test_axes_and_units_round_trip(tmp_path: Path) -> None:
    store = open_n5(
        tmp_path, create=True, dtype=ts.uint8,
        domain=ts.IndexDomain(shape=[4, 5], labels=["x", "y"]), dimension_units=["4nm", None],
    )
    assert store.dimension_units == (ts.Unit(4, "nm"), ts.Unit(1, ""))
    stored = json.loads((tmp_path / "attributes.json").read_text())
    assert stored["axes"] == ["x", "y"]
    assert (stored["units"], stored["resolution"]) == (["nm", ""], [4.0, 1.0])
    reopened = open_n5(tmp_path, open=True)
    assert reopened.domain.labels == ("x", "y")
    assert reopened.dimension_units == (ts.Unit(4, "nm"), ts.Unit(1, ""))


def test_resolution_without_units_gives_no_units(tmp_path: Path) -> None:
    attributes = {"dimensions": [4], "blockSize": [2], "dataType": "uint8", "compression": {"type": "raw"}, "resolution": [8]}
    (tmp_path / "attributes.json").write_text(json.dumps(attributes))
    assert open_n5(tmp_path, open=True).dimension_units == (None,)


def test_other_attributes_preserved_on_resize(tmp_path: Path) -> None:
    attributes = {
        "dimensions": [4], "blockSize": [2], "dataType": "uint8", "compression": {"type": "raw"},
        "pixelResolution": {"unit": "um", "dimensions": [1]}, "n5": "2.0.0", "axes": None,
    }
    (tmp_path / "attributes.json").write_text(json.dumps(attributes))
    store = open_n5(tmp_path, open=True)
    store.write(np.arange(4, dtype=np.uint8)).result()
    resized = store.resize(exclusive_max=[6]).result()
    assert resized.shape == (6,)
    assert (tmp_path / "attributes.json").read_bytes() == (
        b'{"axes":null,"blockSize":[2],"compression":{"type":"raw"},"dataType":"uint8","dimensions":[6],'
        b'"n5":"2.0.0","pixelResolution":{"dimensions":[1],"unit":"um"}}'
    )
    np.testing.assert_array_equal(resized.read().result(), [0, 1, 2, 3, 0, 0])


def test_rank_zero(tmp_path: Path) -> None:
    store = open_n5(tmp_path, spec={"metadata": {"compression": {"type": "raw"}}}, create=True, dtype=ts.int16, shape=[])
    store.write(5).result()
    assert (tmp_path / "0").read_bytes() == b"\x00\x00\x00\x00\x00\x05"
    assert int(open_n5(tmp_path, open=True).read().result()) == 5


def test_transaction_write(tmp_path: Path) -> None:
    store = open_n5(tmp_path, spec={"metadata": {"blockSize": [3]}}, create=True, dtype=ts.uint32, shape=[7])
    with ts.Transaction() as txn:
        store.with_transaction(txn)[1:5].write(np.array([1, 2, 3, 4], np.uint32)).result()
        assert not (tmp_path / "0").exists()
    np.testing.assert_array_equal(store.read().result(), [0, 1, 2, 3, 4, 0, 0])


def test_metadata_mismatch_on_open(tmp_path: Path) -> None:
    open_n5(tmp_path, spec={"metadata": {"foo": "bar"}}, create=True, dtype=ts.int16, shape=[4])
    with pytest.raises(ValueError, match=r"metadata\.dimensions: expected \[5\] but the stored array has \[4\]"):
        open_n5(tmp_path, spec={"metadata": {"dimensions": [5]}}, open=True)
    with pytest.raises(ValueError, match=r'metadata\.foo: expected "baz" but the stored array has "bar"'):
        open_n5(tmp_path, spec={"metadata": {"foo": "baz"}}, open=True)
    with pytest.raises(ValueError, match=r"^dtype: expected uint8 but the array has int16"):
        open_n5(tmp_path, open=True, dtype=ts.uint8)
    # A compression constraint is compared with its defaults filled in.
    compression = json.loads((tmp_path / "attributes.json").read_text())["compression"]
    open_n5(tmp_path, spec={"metadata": {"compression": {**compression}}}, open=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": ts.bool, "shape": [4]}, r"^dtype: bool is not one of the N5 data types: uint8, .*float64"),
        ({"dtype": ts.uint8, "shape": [4], "fill_value": 0}, r"^schema\.fill_value: a fill value is not supported by the N5 format"),
        ({"shape": [4]}, r"^dtype: a data type must be specified"),
        ({"dtype": ts.uint8}, r"^schema\.domain: a shape must be specified"),
        ({"dtype": ts.uint8, "shape": [4, 4], "chunk_layout": ts.ChunkLayout(inner_order=[0, 1])},
         r"^schema\.chunk_layout\.inner_order: N5 stores blocks in the order \[1, 0\]"),
    ],
)
def test_invalid_create(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ts.open({"driver": "n5", "kvstore": "memory://"}, create=True, **kwargs).result()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"compression": {"type": "lz4"}}, r'^metadata\.compression\.type: "lz4" is not a registered N5 compression \(known: .*blosc'),
        ({"compression": {"type": "gzip", "level": 10}}, r"^metadata\.compression\.level: expected integer in the range \[-1, 9\]"),
        ({"compression": {"type": "blosc", "cname": "lz4", "clevel": 5}}, r'^metadata\.compression: missing required member "shuffle"'),
        ({"compression": {"type": "blosc", "cname": "nope", "clevel": 5, "shuffle": 1}}, r"^metadata\.compression\.cname: expected one of blosclz"),
        ({"compression": {"type": "raw", "x": 1}}, r"^metadata\.compression\.x: unexpected member"),
        ({"compression": {"type": "zstd", "level": 23}}, r"^metadata\.compression\.level: expected integer in the range \[-131072, 22\]"),
        ({"compression": {"type": "bzip2", "blockSize": 0}}, r"^metadata\.compression\.blockSize"),
        ({"compression": {"type": "xz", "preset": 10}}, r"^metadata\.compression\.preset"),
        ({"dataType": "float16"}, r"^metadata\.dataType: expected one of \"uint8\", .*received: \"float16\""),
        ({"blockSize": [2, 2]}, r"^metadata\.blockSize: rank 2 does not match the rank 1 of dimensions"),
        ({"axes": ["a", "b"]}, r"^metadata\.axes: array has length 2 but should have length 1"),
    ],
)
def test_invalid_metadata_constraints(metadata: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ts.open({"driver": "n5", "kvstore": "memory://", "metadata": metadata}, create=True, dtype=ts.uint8, shape=[4]).result()


def test_invalid_spec_members() -> None:
    with pytest.raises(ValueError, match=r"^metadata\.dataType: "):
        ts.open({"driver": "n5", "kvstore": "memory://", "metadata": {"dataType": "bool"}})
    with pytest.raises(ValueError, match=r"^bogus: unexpected member"):
        ts.open({"driver": "n5", "kvstore": "memory://", "bogus": 1})


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"compression": None}, r"attributes\.json': compression: expected object"),
        ({"compression": {"type": "lzf"}}, r'attributes\.json\': compression\.type: "lzf" is not a registered N5 compression'),
        ({"dimensions": [-1]}, r"attributes\.json': dimensions\[0\]: expected integer"),
        ({"axes": ["a", "a"]}, r'attributes\.json\': axes: dimension label\(s\) "a" not unique'),
        ({"units": ["nm"]}, r"attributes\.json': units: array has length 1 but should have length 2"),
        ({"resolution": ["x", 1]}, r"attributes\.json': resolution\[0\]: expected number"),
    ],
)
def test_invalid_stored_attributes(tmp_path: Path, attributes: dict[str, Any], message: str) -> None:
    valid = {"dimensions": [4, 3], "blockSize": [2, 2], "dataType": "uint8", "compression": {"type": "raw"}}
    (tmp_path / "attributes.json").write_text(json.dumps({**valid, **attributes}))
    with pytest.raises(ValueError, match=message):
        open_n5(tmp_path, open=True)


def test_group_attributes_are_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "attributes.json").write_text('{"n5": "2.0.0"}')
    with pytest.raises(ValueError, match=r'missing required member "dimensions" \(not an N5 dataset\)'):
        open_n5(tmp_path, open=True)


def test_schema_constraints_checked_on_open(tmp_path: Path) -> None:
    open_n5(tmp_path, spec={"metadata": {"blockSize": [2, 2]}}, create=True, dtype=ts.uint8, shape=[4, 4])
    open_n5(tmp_path, open=True, domain=ts.IndexDomain(shape=[4, 4], labels=["a", "b"]))  # labels may be added
    open_n5(tmp_path, open=True, chunk_layout=ts.ChunkLayout(chunk_shape=[2, None]))
    with pytest.raises(ValueError, match=r"^schema\.domain: expected shape \[4, 5\] but the array has shape \[4, 4\]"):
        open_n5(tmp_path, open=True, shape=[4, 5])
    with pytest.raises(ValueError, match=r"^schema\.chunk_layout\.read_chunk\.shape: expected \[3, 3\]"):
        open_n5(tmp_path, open=True, chunk_layout=ts.ChunkLayout(chunk_shape=[3, 3]))
    with pytest.raises(ValueError, match=r"^codec\.compression: expected .*raw.* but the stored array has .*blosc"):
        open_n5(tmp_path, open=True, codec=ts.CodecSpec({"driver": "n5", "compression": {"type": "raw"}}))
    with pytest.raises(ValueError, match=r"^rank: expected rank 3"):
        open_n5(tmp_path, open=True, rank=3)
    blosc = json.loads((tmp_path / "attributes.json").read_text())["compression"]
    open_n5(tmp_path, open=True, codec=ts.CodecSpec({"driver": "n5", "compression": blosc}))


def test_metadata_conflicts_with_schema_on_create() -> None:
    with pytest.raises(ValueError, match=r"^metadata\.dimensions: \[4\] conflicts with the schema's shape \[5\]"):
        ts.open({"driver": "n5", "kvstore": "memory://", "metadata": {"dimensions": [4]}}, create=True, dtype=ts.uint8, shape=[5]).result()
    with pytest.raises(ValueError, match=r"^metadata\.blockSize: \[2\] conflicts with schema\.chunk_layout\.read_chunk\.shape \[3\]"):
        ts.open(
            {"driver": "n5", "kvstore": "memory://", "metadata": {"blockSize": [2]}},
            create=True, dtype=ts.uint8, shape=[5], chunk_layout=ts.ChunkLayout(chunk_shape=[3]),
        ).result()
    with pytest.raises(ValueError, match=r"^dtype: int8 conflicts with metadata\.dataType \"uint8\""):
        ts.open({"driver": "n5", "kvstore": "memory://", "metadata": {"dataType": "uint8"}}, create=True, dtype=ts.int8, shape=[5]).result()


def test_origin_and_units_constraints(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^schema\.domain: N5 arrays have origin 0, but the domain has inclusive_min \[1\]"):
        open_n5(tmp_path, create=True, dtype=ts.uint8, domain=ts.IndexDomain(inclusive_min=[1], shape=[4]))
    open_n5(tmp_path, create=True, dtype=ts.uint8, shape=[4], dimension_units=["2nm"])
    open_n5(tmp_path, open=True, dimension_units=[None])
    open_n5(tmp_path, open=True, dimension_units=["2nm"])
    with pytest.raises(ValueError, match=r"^dimension_units\[0\]: expected '3 nm' but the stored array has '2 nm'"):
        open_n5(tmp_path, open=True, dimension_units=["3nm"])
