"""The zarr v2 driver: conformance suite, zarr-specific behaviour, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.driver import DriverConformance


class TestZarrConformance(DriverConformance):
    driver = "zarr"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        metadata: dict[str, Any] = {"chunks": list(chunks)}
        return ts.open(
            {"driver": "zarr", "kvstore": kvstore, "metadata": metadata},
            create=True,
            shape=shape,
            dtype=dtype,
            fill_value=fill_value,
            context=context,
        ).result()


def open_zarr(path: Path, **kwargs: Any) -> Any:
    return ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{path}/"}, **kwargs.pop("spec", {})}, **kwargs).result()


def test_default_metadata_matches_tensorstore() -> None:
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "memory"}}, create=True, dtype=ts.uint16, shape=[100, 200]).result()
    assert json.loads(store.kvstore[".zarray"]) == {
        "chunks": [100, 200],
        "compressor": {"blocksize": 0, "clevel": 5, "cname": "lz4", "id": "blosc", "shuffle": -1},
        "dimension_separator": ".",
        "dtype": "<u2",
        "fill_value": None,
        "filters": None,
        "order": "C",
        "shape": [100, 200],
        "zarr_format": 2,
    }


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("separator", [".", "/"])
def test_chunk_keys_and_order(tmp_path: Path, order: str, separator: str) -> None:
    store = open_zarr(
        tmp_path,
        spec={"metadata": {"chunks": [2, 3], "order": order, "dimension_separator": separator, "compressor": None}},
        create=True,
        dtype=ts.int32,
        shape=[4, 6],
    )
    data = np.arange(24, dtype=np.int32).reshape(4, 6)
    store.write(data).result()
    key = f"1{separator}1"
    raw = (tmp_path / key).read_bytes()
    expected = data[2:4, 3:6]
    assert raw == (expected.tobytes(order=order))
    np.testing.assert_array_equal(store.read().result(), data)


def test_structured_field_selection(tmp_path: Path) -> None:
    spec = {"metadata": {"dtype": [["a", "<u2"], ["b", "<f4", [2]]], "chunks": [2], "compressor": None}, "field": "b"}
    store = open_zarr(tmp_path, spec=spec, create=True, shape=[3, 2])  # the domain includes the field shape
    assert store.shape == (3, 2)
    assert store.dtype == ts.float32
    store[1].write([1.5, 2.5]).result()
    a = open_zarr(tmp_path, spec={"field": "a"}, open=True)
    assert a.shape == (3,)
    np.testing.assert_array_equal(a.read().result(), [0, 0, 0])
    np.testing.assert_array_equal(store.read().result(), [[0, 0], [1.5, 2.5], [0, 0]])
    with pytest.raises(ValueError, match=r'must specify a field that is one of: \["a", "b"\]'):
        open_zarr(tmp_path, open=True)


def test_corrupt_chunk_names_key_and_others_still_read(tmp_path: Path) -> None:
    store = open_zarr(tmp_path, spec={"metadata": {"chunks": [2], "compressor": {"id": "zstd", "level": 1}}}, create=True, dtype=ts.uint8, shape=[4])
    store.write(np.arange(4, dtype=np.uint8)).result()
    (tmp_path / "1").write_bytes(b"not zstd at all")
    with pytest.raises(ValueError, match=r"error decoding chunk .*1'"):
        store.read().result()
    np.testing.assert_array_equal(store[0:2].read().result(), [0, 1])


def test_truncated_uncompressed_chunk(tmp_path: Path) -> None:
    store = open_zarr(tmp_path, spec={"metadata": {"chunks": [4], "compressor": None}}, create=True, dtype=ts.uint16, shape=[4])
    store.write(np.arange(4, dtype=np.uint16)).result()
    (tmp_path / "0").write_bytes((tmp_path / "0").read_bytes()[:5])
    with pytest.raises(ValueError, match="expected 8 bytes after decoding, but got 5"):
        store.read().result()


@pytest.mark.parametrize(
    ("zarray", "message"),
    [
        ({"shape": [-4]}, r"\.zarray': shape\[0\]: expected integer"),
        ({"shape": "x"}, r"\.zarray': shape: expected array"),
        ({"compressor": {"id": "nope"}}, r'\.zarray\': compressor.id: "nope" is not a registered zarr codec'),
        ({"dtype": 7}, r"\.zarray': dtype: expected a zarr dtype string"),
        ({"order": "Q"}, r"\.zarray': order: expected one of"),
    ],
)
def test_invalid_stored_zarray(tmp_path: Path, zarray: dict[str, Any], message: str) -> None:
    valid = {"chunks": [2], "compressor": None, "dtype": "<u2", "fill_value": 0, "filters": None, "order": "C", "shape": [4], "zarr_format": 2}
    (tmp_path / ".zarray").write_text(json.dumps({**valid, **zarray}))
    with pytest.raises(ValueError, match=message):
        open_zarr(tmp_path, open=True)


def test_metadata_mismatch_on_open(tmp_path: Path) -> None:
    open_zarr(tmp_path, create=True, dtype=ts.uint16, shape=[4])
    with pytest.raises(ValueError, match=r"metadata\.shape: expected \[5\] but the stored array has \[4\]"):
        open_zarr(tmp_path, spec={"metadata": {"shape": [5]}}, open=True)
    with pytest.raises(ValueError, match="dtype"):
        open_zarr(tmp_path, open=True, dtype=ts.float32)


def test_invalid_spec_members() -> None:
    with pytest.raises(ValueError, match=r"^metadata\.order: expected one of"):
        ts.open({"driver": "zarr", "kvstore": "memory://", "metadata": {"order": "X"}})
    with pytest.raises(ValueError, match=r"^kvstore\.path: expected string"):
        ts.open({"driver": "zarr", "kvstore": {"driver": "memory", "path": 1}})
    with pytest.raises(ValueError, match=r"^bogus: unexpected member"):
        ts.open({"driver": "zarr", "kvstore": "memory://", "bogus": 1})


def test_attributes_file_is_left_alone(tmp_path: Path) -> None:
    store = open_zarr(tmp_path, create=True, dtype=ts.uint8, shape=[2])
    (tmp_path / ".zattrs").write_text('{"units": "nm"}')
    store.write(np.ones(2, np.uint8)).result()
    assert json.loads((tmp_path / ".zattrs").read_text()) == {"units": "nm"}


def test_resize_shrink_then_grow_reads_fill(tmp_path: Path) -> None:
    store = open_zarr(tmp_path, spec={"metadata": {"chunks": [2, 2]}}, create=True, dtype=ts.uint8, shape=[5, 5])
    data = np.arange(25, dtype=np.uint8).reshape(5, 5) + 1
    store.write(data).result()
    smaller = store.resize(exclusive_max=[3, None]).result()
    assert smaller.shape == (3, 5)
    assert not (tmp_path / "2.0").exists()  # chunks wholly outside are deleted
    reopened = open_zarr(tmp_path, open=True)
    assert reopened.shape == (3, 5)
    grown = smaller.resize(exclusive_max=[5, 5]).result()
    expected = data.copy()
    expected[3:] = 0  # the cut-off rows do not come back
    np.testing.assert_array_equal(grown.read().result(), expected)


def test_resize_checks(tmp_path: Path) -> None:
    store = open_zarr(tmp_path, create=True, dtype=ts.uint8, shape=[4, 4])
    with pytest.raises(ValueError, match="expand_only"):
        store.resize(exclusive_max=[2, None], expand_only=True).result()
    with pytest.raises(ValueError, match="shrink_only"):
        store.resize(exclusive_max=[8, None], shrink_only=True).result()
    with pytest.raises(ValueError, match="lower bound"):
        store.resize(inclusive_min=[1, None]).result()
    with pytest.raises(NotImplementedError, match="whole array"):
        store[::2].resize(exclusive_max=[2, 2]).result()
    metadata_only = store.resize(exclusive_max=[6, 4], resize_metadata_only=True).result()
    assert metadata_only.shape == (6, 4)


def test_concurrent_resize_is_conditional(tmp_path: Path) -> None:
    first = open_zarr(tmp_path, create=True, dtype=ts.uint8, shape=[4, 4])
    second = open_zarr(tmp_path, open=True)
    first.resize(exclusive_max=[8, None]).result()
    # second still believes the shape is [4, 4]; its resize applies to the stored metadata
    result = second.resize(exclusive_max=[None, 9]).result()
    assert result.shape == (8, 9)


def test_forked_child_reads_and_writes_parent_store(tmp_path: Path) -> None:
    """A DataLoader-style worker forked after the parent used the store keeps working."""
    import os

    store = open_zarr(tmp_path, spec={"metadata": {"chunks": [2, 2]}}, create=True, dtype=ts.int32, shape=[6, 6])
    store.write(np.arange(36, dtype=np.int32).reshape(6, 6)).result()
    assert store.read().result().sum() == 630  # parent's worker threads are running now
    pid = os.fork()
    if pid == 0:
        try:
            ok = store[1:5, 1:5].read().result().sum() == np.arange(36).reshape(6, 6)[1:5, 1:5].sum()
            store[0].write(-1).result()
            code = 0 if ok else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(store[0].read().result(), np.full(6, -1))


def test_schema_constraints_are_checked_on_open(tmp_path: Path) -> None:
    open_zarr(tmp_path, spec={"metadata": {"chunks": [2, 2], "compressor": None}}, create=True, dtype=ts.uint8, shape=[4, 4])
    assert open_zarr(tmp_path, open=True, shape=[4, 4], dtype=ts.uint8).shape == (4, 4)
    with pytest.raises(ValueError, match=r"schema\.domain: expected shape \[5, 4\]"):
        open_zarr(tmp_path, open=True, shape=[5, 4])
    with pytest.raises(ValueError, match=r"schema\.chunk_layout\.read_chunk\.shape\[0\]: expected 3"):
        open_zarr(tmp_path, open=True, chunk_layout=ts.ChunkLayout(chunk_shape=[3, 2]))
    with pytest.raises(ValueError, match=r"schema\.codec\.compressor"):
        open_zarr(tmp_path, open=True, codec=ts.CodecSpec({"driver": "zarr", "compressor": {"id": "zstd", "level": 1}}))
    with pytest.raises(ValueError, match="rank"):
        open_zarr(tmp_path, open=True, rank=3)


def test_recheck_cached_metadata_sees_resizes_by_others(tmp_path: Path) -> None:
    open_zarr(tmp_path, create=True, dtype=ts.uint8, shape=[4])
    stale = open_zarr(tmp_path, open=True)  # default "open": metadata fixed at open
    fresh = open_zarr(tmp_path, spec={"recheck_cached_metadata": True}, open=True)
    open_zarr(tmp_path, open=True).resize(exclusive_max=[2]).result()
    assert stale[3].read().result() == 0  # it still believes the array has 4 elements
    with pytest.raises(IndexError, match="out of bounds"):
        fresh[3].read().result()
