"""Every example of the users' API handbook runs on ts (``import ts_core as ts``).

The examples are those of ``shared/reference/python-api-handbook.txt``, section by
section, with paths moved into a temporary directory and the ``# Assume ...`` stores
created first. Spellings tensorstore lacks (``ReadResult.data``, dict-like Spec,
``.label('width')`` calls, ``domain.bounds``) are part of what is checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorstore

import ts_core as ts


@pytest.fixture
def store(tmp_path: Path) -> ts.TensorStore:
    """Section 1: a local zarr array (uint8, 100 x 256 x 256, chunks 16 x 64 x 64)."""
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": f"{tmp_path}/my_detailed_zarr"},
        "metadata": {"dtype": "|u1", "shape": [100, 256, 256], "chunks": [16, 64, 64]},
    }
    store_future = ts.open(spec, create=True, delete_existing=True)
    result = store_future.result()
    assert "TensorStore(" in str(result)
    return result


def test_section_1_open_and_cast(store: ts.TensorStore) -> None:
    assert store.shape == (100, 256, 256)
    float_view = ts.cast(store, ts.dtype("float32"))
    assert (store.dtype, float_view.dtype) == (ts.uint8, ts.float32)


def test_section_3_read_write(store: ts.TensorStore) -> None:
    patch = np.ones((20, 20), dtype=np.uint8) * 255
    write_future = store[4, 100:120, 100:120].write(patch)
    write_future.result()
    read_patch = store[4, 100:120, 100:120].read().result()
    np.testing.assert_array_equal(read_patch, patch)
    assert store.rank == store.ndim == 3
    assert store.transaction is None
    assert store.astype("float32").dtype == ts.float32
    assert store.resolve().result().shape == store.shape
    assert store.spec(minimal=True).to_json()["driver"] == "zarr"


def test_section_4_indexing(store: ts.TensorStore) -> None:
    assert store[5].shape == (256, 256)
    assert store[10:20:2].shape == (5, 256, 256)
    assert store[0, ..., 0].shape == (256,)
    assert store[..., np.newaxis].shape == (100, 256, 256, 1)
    points = store[[0, 5], [10, 20]]
    assert points.shape == (2, 256)
    mask = np.zeros(100, dtype=bool)
    mask[[1, 3]] = True
    assert store[mask].shape == (2, 256, 256)


def test_section_4_dimension_expression(tmp_path: Path) -> None:
    store = ts.open(
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/chw"}},
        create=True, dtype=ts.uint8, shape=[3, 100, 200],
    ).result()
    store = store[ts.d[:].label["c", "y", "x"]]
    data = (np.arange(3 * 100 * 200) % 251).astype(np.uint8).reshape(3, 100, 200)
    store.write(data).result()
    view = store[
        ts.d["c"] == 0,
        ts.d["y"][::-1],
        ts.d["x"].label("width"),
    ]
    assert view.shape == (100, 200)
    assert view.domain.labels == ("y", "width")
    np.testing.assert_array_equal(view.read().result(), data[0, ::-1, :])
    assert store[ts.d[0].translate_by(50)].origin[0] == 50
    assert store[ts.d["y"].stride(2)].shape == (3, 50, 200)


def test_section_5_spec(tmp_path: Path) -> None:
    spec_dict = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/my_detailed_zarr"}}
    spec_obj = ts.Spec(spec_dict)
    spec_obj["open"] = True
    spec_obj["create"] = False
    spec_obj["recheck_cached_data"] = "open"
    spec_obj.update({"context": {"cache_pool": {"total_bytes_limit": 100000000}}})
    assert (spec_obj["open"], spec_obj["create"]) == (True, False)  # the spec keeps what was set
    # Printed as tensorstore prints specs: the flags that say nothing left out, the zarr
    # directory ending with "/" (the wheel prints the same for this spec).
    expected = {
        "context": {"cache_pool": {"total_bytes_limit": 100000000}},
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": f"{tmp_path}/my_detailed_zarr/"},
        "recheck_cached_data": "open",
    }
    assert spec_obj.to_json() == expected
    wheel = tensorstore.Spec({**spec_dict, "open": True, "create": False, "recheck_cached_data": "open",
                              "context": {"cache_pool": {"total_bytes_limit": 100000000}}})
    assert wheel.to_json() == expected
    with pytest.raises(ValueError, match="cannot open"):
        ts.open(spec_obj).result()


def test_section_6_schema_copy(store: ts.TensorStore, tmp_path: Path) -> None:
    dest_spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/my_zarr_copy"}}
    dest_store = ts.open(dest_spec, create=True, delete_existing=True, schema=store.schema).result()
    assert dest_store.chunk_layout == store.chunk_layout
    assert dest_store.codec == store.codec
    assert dest_store.shape == store.shape
    assert dest_store.dtype == store.dtype


def test_section_7_kvstore(tmp_path: Path) -> None:
    fs_kvstore = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/kv_test/"}).result()
    fs_kvstore.write("hello.txt", b"Hello, World!").result()
    content_future = fs_kvstore.read("hello.txt")
    assert content_future.result().data == b"Hello, World!"
    keys = [key.decode() for key in fs_kvstore.list().result()]
    assert keys == ["hello.txt"]


def test_section_8_atomic_increment(store: ts.TensorStore) -> None:
    pixel_coord = (10, 20, 30)
    for _ in range(3):
        txn = ts.Transaction()
        try:
            store_in_txn = store.with_transaction(txn)
            current_value = store_in_txn[pixel_coord].read().result()
            store_in_txn[pixel_coord].write(current_value + 1).result()
            txn.commit_async().result()
        except Exception:
            txn.abort()
            raise
    assert store[pixel_coord].read().result() == 3


def test_section_8_conflict_is_reported(store: ts.TensorStore) -> None:
    pixel_coord = (10, 20, 30)
    txn = ts.Transaction()
    store_in_txn = store.with_transaction(txn)
    current_value = store_in_txn[pixel_coord].read().result()
    store[pixel_coord].write(current_value + 10).result()  # another writer
    store_in_txn[pixel_coord].write(current_value + 1).result()
    with pytest.raises(ValueError, match="conflict"):
        txn.commit_async().result()
    assert store[pixel_coord].read().result() == current_value + 10


def test_section_9_future(store: ts.TensorStore) -> None:
    future = store[0, 0:10, 0:10].read()
    data = future.result()
    assert data.shape == (10, 10)
    assert future.done()
    assert future.exception() is None
    seen = []
    store[0, 0:1, 0:1].read().add_done_callback(lambda f: seen.append(f.result().shape))
    assert seen == [(1, 1)]


def test_section_10_context(tmp_path: Path) -> None:
    context = ts.Context(
        {"cache_pool": {"total_bytes_limit": 100000000}, "data_copy_concurrency": {"limit": 16}, "file_io_concurrency": {"limit": 64}}
    )
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/ctx"}}
    ts.open(spec, create=True, dtype=ts.uint8, shape=[4], context=context).result()
    store_with_context = ts.open(spec, context=context).result()
    assert store_with_context.shape == (4,)


def test_section_11_domain(store: ts.TensorStore) -> None:
    domain = store.domain
    assert domain.shape == (100, 256, 256)
    assert domain.rank == 3
    assert domain.labels == ("", "", "")
    assert domain.inclusive_min == (0, 0, 0)
    assert domain.exclusive_max == (100, 256, 256)
    assert str(domain.bounds) == str(domain)
    my_domain = ts.IndexDomain(labels=["channel", "y", "x"], shape=[3, 1024, 1024], inclusive_min=[0, -512, -512])
    assert str(my_domain) == '{ "channel": [0, 3), "y": [-512, 512), "x": [-512, 512) }'
