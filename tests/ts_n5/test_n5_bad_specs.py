"""N5: bad compressions, fill values, chunk layouts and absurd block sizes fail with a
ValueError whose message starts with the full JSON path, in a spec and in a stored
``attributes.json`` alike, and huge blocks fail before anything large is allocated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_core.plugin import get_registry
from ts_core.testing.safety import peak_while_raising

SMALL_PEAK = 64 * 2**20


def create(**members: Any) -> Any:
    metadata = {"dimensions": [10], "blockSize": [5], "dataType": "int32", **members}
    return ts.open({"driver": "n5", "kvstore": "memory://", "metadata": metadata}, create=True).result()


def open_stored(tmp_path: Path, **members: Any) -> Any:
    attributes = {"dimensions": [10], "blockSize": [5], "dataType": "int32", "compression": {"type": "raw"}, **members}
    (tmp_path / "attributes.json").write_text(json.dumps(attributes))
    return ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": str(tmp_path)}}).result()


BAD_COMPRESSIONS = [
    ({"type": "gzip", "level": "abc"}, r"level: expected integer"),
    ({"type": "gzip", "level": 10}, r"level: expected integer in the range \[-1, 9\], but received: 10"),
    ({"type": "gzip", "useZlib": 1}, r"useZlib: expected boolean, but received: 1"),
    ({"type": "bzip2", "blockSize": 0}, r"blockSize: expected integer in the range \[1, 9\], but received: 0"),
    ({"type": "xz", "preset": 10}, r"preset: expected integer in the range \[0, 9\], but received: 10"),
    ({"type": "zstd", "level": 23}, r"level: expected integer in the range \[-131072, 22\], but received: 23"),
    ({"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 3}, r"shuffle: expected integer in the range \[0, 2\]"),
    ({"type": "blosc", "cname": "lz4", "clevel": "5", "shuffle": 1}, r'clevel: expected integer.*, but received: "5"'),
    ({"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": -1},
     r"blocksize: expected integer in the range \[0, 2147483647\]"),
    ({"type": "raw", "level": 1}, r"level: unexpected member"),
]


@pytest.mark.parametrize(("compression", "message"), BAD_COMPRESSIONS)
def test_bad_compression_in_spec(compression: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^metadata\.compression\.{message}"):
        create(compression=compression)


@pytest.mark.parametrize(("compression", "message"), BAD_COMPRESSIONS)
def test_bad_compression_in_stored_metadata(tmp_path: Path, compression: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"attributes\.json': compression\.{message}"):
        open_stored(tmp_path, compression=compression)


def test_missing_blosc_member_names_the_compression() -> None:
    with pytest.raises(SpecError, match=r'^metadata\.compression: missing required member "shuffle"'):
        create(compression={"type": "blosc", "cname": "lz4", "clevel": 5})


def test_the_compression_schemas_are_part_of_the_driver_schema() -> None:
    schema = get_registry().get("driver", "n5").schema
    assert schema is not None
    assert set(schema["$defs"]) >= {"compression", "raw", "gzip", "bzip2", "xz", "zstd", "blosc"}


def test_fill_value_of_the_wrong_type_names_fill_value() -> None:
    with pytest.raises(SpecError, match=r'^schema\.fill_value: cannot convert "abc" to int32'):
        ts.open({"driver": "n5", "kvstore": "memory://"}, create=True, dtype=ts.int32, shape=[10],
                fill_value="abc").result()


def test_negative_chunk_size_names_chunk_layout() -> None:
    spec = {"driver": "n5", "kvstore": "memory://",
            "schema": {"chunk_layout": {"chunk": {"shape_soft_constraint": [4, -7]}}}}
    with pytest.raises(SpecError, match=r"^schema\.chunk_layout\.chunk\.shape_soft_constraint\[1\]: "):
        ts.open(spec, create=True, dtype=ts.int32, shape=[10, 10]).result()
    with pytest.raises(SpecError, match=r"^metadata\.blockSize\[0\]: "):
        create(blockSize=[-5])


def test_huge_block_in_spec_fails_before_allocating() -> None:
    create(compression={"type": "raw"})
    peak = peak_while_raising(lambda: create(dimensions=[2**40], blockSize=[2**40], compression={"type": "raw"}),
                 r"^metadata\.blockSize: block shape \[1099511627776\] of 4-byte elements is 4398046511104 bytes")
    assert peak < SMALL_PEAK


def test_huge_block_in_stored_metadata_fails_before_allocating(tmp_path: Path) -> None:
    peak = peak_while_raising(lambda: open_stored(tmp_path, dimensions=[2**20, 2**20], blockSize=[2**20, 2**20]),
                 r"attributes\.json': blockSize: block shape \[1048576, 1048576\] of 4-byte elements")
    assert peak < SMALL_PEAK


def test_integral_float_level_is_an_integer_as_in_tensorstore() -> None:
    store = ts.open(
        {"driver": "n5", "kvstore": "memory://integral-level/", "metadata": {"compression": {"type": "gzip", "level": 1.0}}},
        create=True, shape=[4], dtype=ts.uint8,
    ).result()
    assert store.spec().to_json()["metadata"]["compression"] == {"type": "gzip", "level": 1, "useZlib": False}
    with pytest.raises(ValueError, match=r"^metadata\.compression\.level: expected integer, but received: 1\.5"):
        ts.open({"driver": "n5", "kvstore": "memory://fractional-level/",
                 "metadata": {"compression": {"type": "gzip", "level": 1.5}}}, create=True, shape=[4], dtype=ts.uint8).result()
