"""Listing keys (ts_ocdbt._traversal.list_keys, a leaf at a time) against the entry-by-entry
iteration, over trees of several levels and arbitrary key ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ts_core.context import Context
from ts_core.kvstore import KeyRange, KvStore
from ts_ocdbt._io import OcdbtIO
from ts_ocdbt._traversal import iterate, list_keys
from ts_ocdbt._writer import commit
from ts_ocdbt.format import BtreeGenerationReference, Config

_CONFIG = Config(uuid=b"\x03" * 16, max_decoded_node_bytes=120)
_KEYS = sorted({b"k/%03d" % (i * 37 % 500) for i in range(300)} | {b"", b"a", b"k", b"k/", b"z\x00"})


def _database() -> tuple[OcdbtIO, BtreeGenerationReference]:
    io = OcdbtIO(KvStore.open("memory://", context=Context()).result())
    result = commit(io, None, {key: b"v" for key in _KEYS}, config=_CONFIG)
    assert result.manifest is not None
    for key, data in result.manifest_files:
        io.base.write_blocking(key, data)
    return io, result.manifest.latest_version


_IO, _VERSION = _database()
_bounds = st.one_of(st.sampled_from(_KEYS), st.binary(max_size=6).map(lambda b: b"k/" + b if b[:1] != b"x" else b))


@settings(max_examples=200, deadline=None)
@given(_bounds, _bounds)
def test_list_keys_matches_iteration(low: bytes, high: bytes) -> None:
    key_range = KeyRange(low, high)
    expected = [key for key, _ in iterate(_IO, _VERSION, key_range)]
    assert list_keys(_IO, _VERSION, key_range) == expected
    assert expected == [key for key in _KEYS if key_range.contains(key)]


def test_list_keys_of_a_tree_of_several_levels() -> None:
    assert _VERSION.root_height >= 2
    assert list_keys(_IO, _VERSION, KeyRange()) == _KEYS
