"""zarr v2: bad specs and bad stored ``.zarray`` fail with a ValueError whose message
starts with the full JSON path (stored metadata: the key, then the path inside it), and
absurd chunk shapes fail before anything large is allocated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_core.schema import MAX_CHUNK_BYTES
from ts_core.testing.safety import peak_while_raising
from ts_zarr._spec_schema import COMPRESSOR_DEFAULTS

SMALL_PEAK = 64 * 2**20


def create(metadata: dict[str, Any], **options: Any) -> Any:
    spec = {"driver": "zarr", "kvstore": "memory://", "metadata": {"dtype": "<i4", "shape": [10], "chunks": [5], **metadata}}
    return ts.open(spec, create=True, **options).result()


def open_stored(tmp_path: Path, zarray: dict[str, Any]) -> Any:
    base = {"zarr_format": 2, "shape": [10], "chunks": [5], "dtype": "<i4", "compressor": None,
            "fill_value": 0, "filters": None, "order": "C"}
    (tmp_path / ".zarray").write_text(json.dumps({**base, **zarray}))
    return ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path)}}).result()


BAD_CODECS = [
    ({"id": "zlib", "level": "abc"}, r'level: expected integer, but received: "abc"'),
    ({"id": "zlib", "level": 10}, r"level: expected integer in the range \[0, 9\], but received: 10"),
    ({"id": "zlib", "level": 1, "extra": 1}, r"extra: unexpected member"),
    ({"id": "gzip", "level": -1}, r"level: expected integer in the range \[0, 9\], but received: -1"),
    ({"id": "bz2", "level": 0}, r"level: expected integer in the range \[1, 9\], but received: 0"),
    ({"id": "zstd", "level": 23}, r"level: expected integer in the range \[-131072, 22\], but received: 23"),
    ({"id": "zstd", "level": 1, "checksum": "yes"}, r'checksum: expected boolean, but received: "yes"'),
    ({"id": "blosc", "cname": "lz5"}, r'cname: expected one of "blosclz", "lz4", .*, but received: "lz5"'),
    ({"id": "blosc", "clevel": 20}, r"clevel: expected integer in the range \[0, 9\], but received: 20"),
    ({"id": "blosc", "shuffle": 3}, r"shuffle: expected integer in the range \[-1, 2\], but received: 3"),
    ({"id": "blosc", "blocksize": -1}, r"blocksize: expected integer in the range \[0, 2147483647\], but received: -1"),
    ({"id": "lzma", "preset": 10}, r"preset: expected integer in the range \[0, 9\], but received: 10"),
    ({"id": "lzma", "check": 2}, r"check: expected one of -1, 0, 1, 4, 10, but received: 2"),
]


@pytest.mark.parametrize(("codec", "message"), BAD_CODECS)
def test_bad_compressor_in_spec(codec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^metadata\.compressor\.{message}"):
        create({"compressor": codec})


@pytest.mark.parametrize(("codec", "message"), BAD_CODECS[:4])
def test_bad_filter_in_spec(codec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^metadata\.filters\[1\]\.{message}"):
        create({"filters": [{"id": "zlib", "level": 1}, codec]})


@pytest.mark.parametrize(("codec", "message"), BAD_CODECS)
def test_bad_compressor_in_stored_metadata(tmp_path: Path, codec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"'{tmp_path}/\.zarray': compressor\.{message}"):
        open_stored(tmp_path, {"compressor": codec})


@pytest.mark.parametrize(
    "codec",
    [{"id": "zlib", "level": 1.0}, {"id": "zstd", "level": 3, "checksum": False}, {"id": "blosc", "shuffle": -1},
     {"id": "blosc", "cname": "zstd", "clevel": 9, "shuffle": 2, "blocksize": 0}, {"id": "bz2"},
     {"id": "lzma", "format": 1, "check": -1, "preset": None, "filters": None}],
)
def test_valid_codec_parameters_are_accepted(codec: dict[str, Any]) -> None:
    store = create({"compressor": codec})
    store.write(list(range(10))).result()
    assert store.read().result().tolist() == list(range(10))
    stored = store.spec().to_json()["metadata"]["compressor"]
    given = {key: int(v) if isinstance(v, float) else v for key, v in codec.items()}
    # The parameters left out are spelled out, as tensorstore's spec does.
    assert stored == {**COMPRESSOR_DEFAULTS.get(codec["id"], {}), **given}


def test_fill_value_of_the_wrong_type_names_fill_value() -> None:
    with pytest.raises(SpecError, match=r'^schema\.fill_value: cannot convert "abc" to int32'):
        ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype=ts.int32, shape=[10],
                fill_value="abc").result()
    # The data type given only by the metadata.
    with pytest.raises(SpecError, match=r'^schema\.fill_value: cannot convert "abc" to int32'):
        create({}, fill_value="abc")
    with pytest.raises(SpecError, match=r'^metadata\.fill_value: expected integer, but received: "abc"'):
        create({"fill_value": "abc"})


def test_stored_fill_value_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.zarray': fill_value: expected integer"):
        open_stored(tmp_path, {"fill_value": [1]})


def test_negative_chunk_size_names_chunk_layout() -> None:
    spec = {"driver": "zarr", "kvstore": "memory://",
            "schema": {"chunk_layout": {"write_chunk": {"shape": [5, -3]}}}}
    with pytest.raises(SpecError, match=r"^schema\.chunk_layout\.write_chunk\.shape\[1\]: "):
        ts.open(spec, create=True, dtype=ts.int32, shape=[10, 10]).result()
    with pytest.raises(SpecError, match=r"^metadata\.chunks\[1\]: "):
        create({"shape": [10, 10], "chunks": [5, -3]})


def test_huge_chunk_in_spec_fails_before_allocating() -> None:
    create({})  # imports done outside the measurement
    peak = peak_while_raising(lambda: create({"shape": [2**40], "chunks": [2**40]}),
                 rf"^metadata\.chunks: chunk shape \[1099511627776\] of 4-byte elements is {2**42} bytes \(4 TiB\) "
                 rf"decoded, above the limit of {MAX_CHUNK_BYTES} bytes")
    assert peak < SMALL_PEAK


def test_huge_chunk_in_stored_metadata_fails_before_allocating(tmp_path: Path) -> None:
    peak = peak_while_raising(lambda: open_stored(tmp_path, {"shape": [2**40], "chunks": [2**40]}),
                 r"\.zarray': chunks: chunk shape \[1099511627776\] of 4-byte elements")
    assert peak < SMALL_PEAK


def test_chunk_of_a_structured_dtype_counts_the_whole_record() -> None:
    # 2**31 records of 8 bytes each: 16 GiB, exactly the limit.
    dtype = [["a", "<i4"], ["b", "<f4"]]
    spec = {"driver": "zarr", "kvstore": "memory://", "field": "a",
            "metadata": {"dtype": dtype, "shape": [2**31 + 1], "chunks": [2**31 + 1], "fill_value": None}}
    with pytest.raises(SpecError, match=r"^metadata\.chunks: chunk shape \[2147483649\] of 8-byte elements"):
        ts.open(spec, create=True).result()
    spec["metadata"].update(shape=[2**31], chunks=[2**31])
    assert ts.open(spec, create=True).result().shape == (2**31,)  # exactly the limit


def test_fill_value_that_differs_per_element_is_refused() -> None:
    spec = {"driver": "zarr", "kvstore": "memory://", "schema": {"fill_value": [1, 2, 3, 4]}}
    with pytest.raises(SpecError, match=r"^schema\.fill_value: cannot convert \[1, 2, 3, 4\] to int32: zarr stores one fill value"):
        ts.open(spec, create=True, dtype=ts.int32, shape=[4, 4]).result()
    spec["schema"]["fill_value"] = [5, 5, 5, 5]
    assert ts.open(spec, create=True, dtype=ts.int32, shape=[4, 4]).result().fill_value == 5
