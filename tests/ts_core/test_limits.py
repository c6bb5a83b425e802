"""Size limits checked before allocation: a chunk above MAX_CHUNK_BYTES and a read result
larger than physical memory fail up front, with errors naming the member or the shape."""

from __future__ import annotations

import re
from typing import Any

import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_core.schema import (
    MAX_CHUNK_BYTES,
    check_chunk_bytes,
    check_read_bytes,
    read_bytes_limit,
    validate_json,
)
from ts_core.testing.safety import peak_while_raising

#: More than the tests themselves should ever allocate while refusing a huge shape.
SMALL_PEAK = 64 * 2**20


def test_chunk_limit_is_exact_and_names_the_path() -> None:
    check_chunk_bytes([2**17, 2**17], 1, "metadata.chunks")  # exactly the limit: accepted
    assert MAX_CHUNK_BYTES == 2**34
    with pytest.raises(SpecError, match=r"^metadata\.chunks: chunk shape \[131072, 131073\] of 1-byte elements is 17180000256 bytes"):
        check_chunk_bytes([2**17, 2**17 + 1], 1, "metadata.chunks")
    # No int64 overflow: the product is computed exactly.
    with pytest.raises(SpecError, match=r"^metadata\.blockSize: block shape") as info:
        check_chunk_bytes([2**62, 2**62, 2**62], 8, "metadata.blockSize", what="block")
    assert str(2**186 * 8) in str(info.value)
    # Unknown element size: counts elements.
    with pytest.raises(SpecError, match=r"^metadata: chunk shape \[1099511627776\] of 1099511627776 elements"):
        check_chunk_bytes([2**40], None, "metadata")


def test_read_limit_is_physical_memory() -> None:
    limit = read_bytes_limit()
    assert 2**20 < limit <= 2**47
    check_read_bytes([limit // 8], 8)
    with pytest.raises(ValueError, match=re.escape(f"read result of shape [{limit // 8 + 1}] and 8-byte elements")):
        check_read_bytes([limit // 8 + 1], 8)


def test_huge_read_fails_before_allocating() -> None:
    store = ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype=ts.int32,
                    shape=[2**40, 2**20]).result()
    expected = 2**60 * 4
    peak = peak_while_raising(
        lambda: store.read().result(),
        rf"^read result of shape \[1099511627776, 1048576\] and 4-byte elements would need {expected} bytes \(4 EiB\)",
    )
    assert peak < SMALL_PEAK
    # A region that fits still reads (the fill value).
    assert store[:2, :3].read().result().tolist() == [[0, 0, 0], [0, 0, 0]]


def test_chunk_limit_backstop_for_any_format() -> None:
    """A format that does not check its chunk size itself (the example chunkdir) is
    still refused by the chunked base, before any chunk is allocated."""
    peak = peak_while_raising(
        lambda: ts.open({"driver": "chunkdir", "kvstore": "memory://huge/",
                         "metadata": {"shape": [2**40], "chunks": [2**40], "dtype": "uint16"}},
                        create=True).result(),
        r"^metadata: chunk shape \[1099511627776\] of 1099511627776 elements", SpecError,
    )
    assert peak < SMALL_PEAK


def test_validate_json_names_the_path_and_words_ranges_like_tensorstore() -> None:
    schema = {"type": "object", "properties": {"level": {"type": "integer", "minimum": 0, "maximum": 9},
                                               "name": {"enum": ["a", "b"]}}}
    validate_json({"level": 3, "name": "a"}, schema, "metadata.compressor")
    with pytest.raises(SpecError, match=r'^metadata\.compressor\.level: expected integer, but received: "x"$'):
        validate_json({"level": "x"}, schema, "metadata.compressor")
    with pytest.raises(SpecError, match=r"^metadata\.compressor\.level: expected integer in the range \[0, 9\], but received: 10$"):
        validate_json({"level": 10}, schema, "metadata.compressor")
    with pytest.raises(SpecError, match=r'^x\.name: expected one of "a", "b", but received: "c"$'):
        validate_json({"name": "c"}, schema, "x")


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"chunk_layout": {"write_chunk": {"shape": [5, -3]}}},
         r"^schema\.chunk_layout\.write_chunk\.shape\[1\]: "),
        ({"chunk_layout": {"read_chunk": {"elements": -1}}}, r"^schema\.chunk_layout\.read_chunk\.elements: "),
        ({"chunk_layout": {"inner_order": [0, 0]}}, r"^schema\.chunk_layout\.inner_order: invalid permutation"),
        ({"domain": {"shape": [-1]}}, r"^schema\.domain"),
        ({"codec": {"driver": 5}}, r"^schema\.codec\.driver: expected string"),
        ({"chunk_layout": {"write_chunk": {"shape": [2, 2, 2]}}},
         r"^schema\.chunk_layout: rank 3 does not match the domain rank 2"),
        ({"fill_value": "abc"}, r'^schema\.fill_value: cannot convert "abc" to int32: expected a number'),
        ({"fill_value": 2**31}, r"^schema\.fill_value: 2147483648 is out of range for int32"),
        ({"fill_value": 1.5}, r"^schema\.fill_value: cannot convert 1\.5 to int32: expected an integer"),
        ({"fill_value": [1, 2, 3]}, r"^schema\.fill_value: shape \[3\] does not broadcast to the domain shape \[4, 4\]"),
    ],
)
def test_schema_errors_name_the_schema_path(schema: dict[str, Any], match: str) -> None:
    spec = {"driver": "zarr", "kvstore": "memory://", "schema": {"domain": {"shape": [4, 4]}, **schema}}
    with pytest.raises(ValueError, match=match):
        ts.open(spec, create=True, dtype=ts.int32).result()


@pytest.mark.parametrize("fill_value", [7, 7.0, [7, 7, 7, 7], [[7], [7], [7], [7]]])
def test_fill_values_that_fit_are_accepted(fill_value: Any) -> None:
    spec = {"driver": "zarr", "kvstore": "memory://", "schema": {"fill_value": fill_value}}
    store = ts.open(spec, create=True, dtype=ts.int32, shape=[4, 4]).result()
    assert store.read().result().tolist() == [[7] * 4] * 4


def test_negative_chunk_size_is_refused_by_spec_parsing() -> None:
    with pytest.raises(SpecError, match=r"^schema\.chunk_layout\.write_chunk\.shape\[1\]: expected a value >= -1, but received: -3"):
        ts.Spec({"driver": "zarr", "kvstore": "memory://", "schema": {"chunk_layout": {"write_chunk": {"shape": [5, -3]}}}})


@pytest.mark.parametrize(
    ("driver", "match"),
    [
        ("zarr", r"^schema\.chunk_layout\.read_chunk\.shape: write_chunk constraints are not compatible"),
        ("n5", r"^schema\.chunk_layout\.read_chunk\.shape: write_chunk constraints are not compatible"),
        ("zarr3", r"^schema\.chunk_layout\.write_chunk\.shape\[0\]: incompatible chunk size constraints"),
    ],
)
def test_conflicts_found_when_choosing_chunk_shapes_name_the_spec_path(driver: str, match: str) -> None:
    layout = {"read_chunk": {"shape": [30, 20]}, "write_chunk": {"shape": [100, 200]}}
    spec = {"driver": driver, "kvstore": "memory://", "schema": {"chunk_layout": layout}}
    with pytest.raises(SpecError, match=match):
        ts.open(spec, create=True, dtype=ts.int32, shape=[1000, 2000]).result()
