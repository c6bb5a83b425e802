"""zarr3 arrays (plain and sharded) opened from hostile metadata never touch files
outside their root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.safety import files_below, sandbox


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return sandbox(tmp_path)


def zarr_json(**changes: Any) -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": [4, 4], "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": [{"name": "bytes"}], **changes,
    }


@pytest.mark.parametrize(
    ("encoding", "member"),
    [
        ({"name": "default", "configuration": {"separator": "/../"}}, "separator"),
        ({"name": "v2", "configuration": {"separator": "../"}}, "separator"),
        ({"name": "default", "configuration": {"separator": "\0"}}, "separator"),
        ({"name": "../"}, "chunk_key_encoding.name"),
    ],
)
def test_hostile_chunk_key_encoding_is_refused_at_open(root: Path, encoding: dict[str, Any], member: str) -> None:
    before = files_below(root.parent)
    stored = json.dumps(zarr_json(chunk_key_encoding=encoding)).encode()
    (root / "zarr.json").write_bytes(stored)
    with pytest.raises(ValueError, match=member):
        ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{root}/"}}).result()
    with pytest.raises(ValueError, match=member):
        ts.open(
            {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{root}/new/"},
             "metadata": zarr_json(chunk_key_encoding=encoding)},
            create=True,
        ).result()
    assert files_below(root.parent) == {**before, "root/zarr.json": stored}


def test_sharded_array_keys_stay_below_the_root(root: Path) -> None:
    # Shard keys and inner-chunk positions are built from integers: safe by construction.
    metadata = zarr_json(
        chunk_grid={"name": "regular", "configuration": {"chunk_shape": [4, 2]}},
        chunk_key_encoding={"name": "default", "configuration": {"separator": "/"}},
        codecs=[{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2]}}],
    )
    before = files_below(root.parent)
    store = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{root}/"}, "metadata": metadata}, create=True
    ).result()
    store.write(np.arange(16, dtype=np.uint8).reshape(4, 4)).result()
    np.testing.assert_array_equal(store.read().result(), np.arange(16, dtype=np.uint8).reshape(4, 4))
    assert sorted(files_below(root)) == ["c/0/0", "c/0/1", "zarr.json"]
    assert {k: v for k, v in files_below(root.parent).items() if not k.startswith("root/")} == before


@pytest.mark.parametrize("sharded", [False, True])
def test_symlinked_directory_out_of_the_root_is_refused(root: Path, sharded: bool) -> None:
    # A directory inside the root that links outside it: neither plain nor sharded chunk
    # writes may follow it (the sharded chunk store confines keys like its base).
    codecs = (
        [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2]}}] if sharded else [{"name": "bytes"}]
    )
    metadata = zarr_json(
        chunk_grid={"name": "regular", "configuration": {"chunk_shape": [4, 4] if sharded else [2, 2]}},
        chunk_key_encoding={"name": "default", "configuration": {"separator": "/"}},
        codecs=codecs,
    )
    store = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{root}/"}, "metadata": metadata}, create=True
    ).result()
    os.symlink(root.parent / "outside", root / "c")
    before = files_below(root.parent / "outside")
    with pytest.raises(ValueError, match=r"outside|symbolic link|root"):
        store.write(np.ones((4, 4), dtype=np.uint8)).result()
    with pytest.raises(ValueError, match=r"outside|symbolic link|root"):
        store[0, 0].write(7).result()
    assert files_below(root.parent / "outside") == before
