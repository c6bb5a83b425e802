"""The ``fsspec`` kvstore over fsspec's memory and local filesystems."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import ts_core as ts
from ts_core.kvstore import NO_VALUE, UNKNOWN, KeyRange

pytest.importorskip("fsspec")


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ts.KvStore:
    url = f"memory://ts-test-{uuid.uuid4().hex}" if request.param == "memory" else f"file://{tmp_path}"
    return ts.KvStore.open({"driver": "fsspec", "url": url}).result()


def test_read_write_list_delete(store: ts.KvStore) -> None:
    assert store.read("missing").result().state == "missing"
    first = store.write("a/b", b"0123456789").result()
    assert first.generation not in (UNKNOWN, NO_VALUE)
    result = store.read("a/b").result()
    assert (result.value, result.stamp.generation) == (b"0123456789", first.generation)
    assert store.read("a/b", byte_range=slice(2, 5)).result().value == b"234"
    assert store.read("a/b", byte_range=slice(-3, None)).result().value == b"789"
    assert store.read("a/b", byte_range=slice(4, 4)).result().value == b""
    with pytest.raises(ValueError, match="byte range"):
        store.read("a/b", byte_range=slice(5, 11)).result()
    assert store.read("a/b", if_not_equal=first.generation).result().state == "unspecified"
    store.write("c", b"").result()
    store.write("b/1", b"x").result()
    assert store.list().result() == [b"a/b", b"b/1", b"c"]
    assert store.list(KeyRange("b", "c")).result() == [b"b/1"]
    store.delete("c").result()
    assert store.read("c").result().state == "missing"
    store.delete_range(KeyRange("a", "b")).result()
    assert store.list().result() == [b"b/1"]


def test_generation_changes_with_the_value(store: ts.KvStore) -> None:
    first = store.write("k", b"1").result()
    second = store.write("k", b"22").result()
    assert first.generation != second.generation
    changed = store.read("k", if_not_equal=first.generation).result()
    assert (changed.state, changed.value) == ("value", b"22")


def test_conditional_writes_are_refused(store: ts.KvStore) -> None:
    stamp = store.write("k", b"1").result()
    with pytest.raises(ValueError, match="cannot honour if_equal"):
        store.write("k", b"2", if_equal=stamp.generation).result()
    with pytest.raises(ValueError, match="cannot honour if_equal"):
        store.write("new", b"2", if_equal=NO_VALUE).result()
    with pytest.raises(ValueError, match="cannot honour if_equal"):
        store.delete("k", if_equal=stamp.generation).result()
    assert store["k"] == b"1"


def test_spec_round_trip() -> None:
    spec = ts.KvStore.Spec({"driver": "fsspec", "url": "memory://x", "storage_options": {"skip_instance_cache": True}})
    assert spec.to_json() == {"driver": "fsspec", "url": "memory://x", "storage_options": {"skip_instance_cache": True}}
    with pytest.raises(ValueError, match="no URL representation"):
        _ = spec.url
