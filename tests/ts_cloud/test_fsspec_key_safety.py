"""The fsspec kvstore on the local filesystem confines keys to its root as the file
kvstore does; on other filesystems it still refuses '.' and '..' components."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.kvstore import KeyRange
from ts_core.testing.safety import files_below, sandbox

pytest.importorskip("fsspec")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    sandbox(tmp_path)
    os.symlink(tmp_path / "outside", tmp_path / "root" / "dir-link")
    os.symlink(tmp_path / "outside" / "secret", tmp_path / "root" / "file-link")
    return tmp_path / "root"


@pytest.mark.parametrize(
    "key", ["../outside/new", "a/../../outside/new", "/abs", "a\0b", "x" * 256, "dir-link/new", "file-link"]
)
def test_local_keys_stay_inside(root: Path, key: str) -> None:
    store = ts.KvStore.open({"driver": "fsspec", "url": f"file://{root}"}).result()
    before = files_below(root.parent / "outside")
    with pytest.raises(ValueError, match="Invalid key"):
        store.write(key, b"x").result()
    with pytest.raises(ValueError, match="Invalid key"):
        store.read(key).result()
    assert files_below(root.parent / "outside") == before


def test_local_listing_and_paths_stay_inside(root: Path) -> None:
    store = ts.KvStore.open({"driver": "fsspec", "url": f"file://{root}"}).result()
    store["a/b"] = b"1"
    assert store.list().result() == [b"a/b"]  # the links are neither followed nor listed
    with pytest.raises(ValueError, match="key range bound"):
        store.list(KeyRange("../", "../z")).result()
    with pytest.raises(ValueError, match="Invalid kvstore path"):
        _ = store / ".."
    store.delete_range(KeyRange()).result()
    assert (root.parent / "outside" / "secret").read_bytes() == b"secret"


def test_memory_filesystem_keys() -> None:
    store = ts.KvStore.open({"driver": "fsspec", "url": f"memory://ts-test-{uuid.uuid4().hex}"}).result()
    with pytest.raises(ValueError, match="Invalid key"):
        store.write("../x", b"1").result()
    store["a/b"] = b"1"
    assert store.list().result() == [b"a/b"]
