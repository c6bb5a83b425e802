"""The column encoders (ts_ocdbt.format._columns) against the entry-by-entry definitions:
varints one at a time, and prefix compression by comparing neighbouring keys."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_ocdbt.format import Config, ZstdCompression, encode_leaf_node
from ts_ocdbt.format._codec import Writer, common_prefix_length
from ts_ocdbt.format._columns import _key_columns_by_entry, key_columns, varint_column


def _varints_one_by_one(values: list[int]) -> bytes:
    writer = Writer()
    for value in values:
        writer.varint(value)
    return writer.getvalue()


@given(st.lists(st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1)), max_size=40))
@settings(max_examples=200, deadline=None)
def test_varint_column_matches_one_by_one(values: list[int]) -> None:
    assert varint_column(values) == _varints_one_by_one(values)


def test_varint_column_boundaries() -> None:
    values = [0, 127, 128, 2**14 - 1, 2**14, 2**35, 2**63, 2**64 - 1]
    assert varint_column(values) == _varints_one_by_one(values)


def _expected(keys: list[bytes], excluded: int) -> tuple[list[int], list[int], bytes]:
    stored = [key[excluded:] for key in keys]
    prefixes = [0] + [common_prefix_length(a, b) for a, b in itertools.pairwise(stored)]
    suffixes = [key[prefix:] for key, prefix in zip(stored, prefixes, strict=True)]
    return prefixes[1:], [len(s) for s in suffixes], b"".join(suffixes)


# Small alphabets (zero bytes included) make shared prefixes, keys that are prefixes of
# others, and trailing zero bytes (which a zero-padded matrix must not confuse) common.
_keys = st.lists(st.binary(max_size=12).map(lambda b: bytes(x % 3 for x in b)), min_size=1, max_size=30, unique=True)


@given(_keys, st.integers(0, 3), st.booleans())
@settings(max_examples=300, deadline=None)
def test_key_columns_match_the_entry_by_entry_definition(keys: list[bytes], excluded: int, shared: bool) -> None:
    keys = sorted((b"\x00\x01\x02"[:excluded] if shared else b"") + key for key in keys)
    excluded = excluded if shared else 0
    columns = key_columns(keys, excluded)
    by_entry = _key_columns_by_entry(keys, excluded)
    expected = _expected(keys, excluded)
    for found in (columns, by_entry):
        assert (list(found.prefix_lengths), list(found.suffix_lengths), found.suffixes) == expected
        assert found.max_length == max(map(len, keys))


@pytest.mark.parametrize("keys", [[b"b", b"a"], [b"ab", b"a"], [b"a", b"a\x00", b"a\x00"], [b"a\x00", b"a"]])
def test_key_columns_refuse_keys_out_of_order(keys: list[bytes]) -> None:
    for encode in (key_columns, _key_columns_by_entry):
        with pytest.raises(ValueError, match="out of order"):
            encode(keys, 0)


def test_key_columns_refuse_an_excluded_prefix_not_shared() -> None:
    for encode in (key_columns, _key_columns_by_entry):
        with pytest.raises(ValueError, match="do not all share"):
            encode([b"ab", b"b"], 1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=30, unique=True), st.booleans())
def test_a_leaf_encoded_from_given_lengths_is_the_same(keys: list[bytes], compressed: bool) -> None:
    # The writer passes the key and value lengths it already counted: same bytes.
    keys = sorted(keys)
    values = [key * 2 for key in keys]
    config = Config(uuid=bytes(16), compression=ZstdCompression() if compressed else None)
    lengths = np.array([len(key) for key in keys], dtype=np.int64)
    value_lengths = np.array([len(value) for value in values], dtype=np.int64)
    assert encode_leaf_node(keys, values, config, key_lengths=lengths, inline_value_lengths=value_lengths) == (
        encode_leaf_node(keys, values, config)
    )
