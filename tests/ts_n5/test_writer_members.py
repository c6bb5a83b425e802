"""N5 ``compression`` members other writers add about how they worked (z5py and n5-blosc
write blosc's ``nthreads``): accepted and ignored by ts (tensorstore rejects them), while
members that could change what the data means are still refused, naming the member."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

BLOSC = {"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}


def _z5py_style_array(tmp_path: Any, compression: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """An array written by tensorstore, then given the attributes.json another writer makes."""
    spec = {"driver": "n5", "kvstore": {"driver": "file", "path": str(tmp_path)}}
    data = np.arange(20, dtype=np.uint16).reshape(4, 5)
    store = tensorstore.open(spec, create=True, dtype="uint16", shape=[4, 5], chunk_layout=tensorstore.ChunkLayout(
        read_chunk_shape=[2, 3]), codec=tensorstore.CodecSpec({"driver": "n5", "compression": BLOSC})).result()
    store.write(data).result()
    attributes_path = tmp_path / "attributes.json"
    attributes = json.loads(attributes_path.read_text())
    attributes["compression"] = compression
    attributes_path.write_text(json.dumps(attributes))
    return spec, data


def test_nthreads_is_accepted_and_ignored(tmp_path: Any) -> None:
    spec, data = _z5py_style_array(tmp_path, {**BLOSC, "nthreads": 8})
    store = ts.open(spec).result()
    np.testing.assert_array_equal(store.read().result(), data)
    store[0, 0].write(99).result()  # writes use the same blosc settings
    assert store[0, 0].read().result() == 99
    assert "nthreads" not in store.spec().to_json()["metadata"]["compression"]
    # the tensorstore wheel refuses the member; this is a deliberate ts difference
    with pytest.raises(ValueError, match="nthreads"):
        tensorstore.open(spec).result()


def test_nthreads_in_a_spec_is_accepted_too() -> None:
    store = ts.open(
        {"driver": "n5", "kvstore": "memory://",
         "metadata": {"compression": {**BLOSC, "nthreads": 2}, "dataType": "uint8", "dimensions": [4], "blockSize": [2]}},
        create=True,
    ).result()
    store.write(np.arange(4, dtype=np.uint8)).result()
    assert store.read().result().tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ({**BLOSC, "nthreads": "four"}, r"compression\.nthreads: expected integer"),
        ({**BLOSC, "nthreads": -1}, r"compression\.nthreads: expected integer in the range"),
        ({**BLOSC, "typesize": 4}, r"compression\.typesize: unexpected member \(only members that cannot change"),
        ({"type": "zstd", "level": 3, "dict": "AAAA"}, r"compression\.dict: unexpected member"),
        ({"type": "gzip", "level": 1, "nthreads": 2}, r"compression\.nthreads: unexpected member"),
    ],
)
def test_members_that_may_change_the_data_are_refused(tmp_path: Any, compression: dict[str, Any], message: str) -> None:
    spec, _ = _z5py_style_array(tmp_path, compression)
    with pytest.raises(ValueError, match=message):
        ts.open(spec).result()
