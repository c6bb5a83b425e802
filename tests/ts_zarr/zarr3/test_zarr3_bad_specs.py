"""zarr3: bad codec configurations, fill values, chunk layouts and absurd chunk shapes fail
with a ValueError whose message starts with the full JSON path, in a spec (checked by
the codec's registered schema first) and in a stored ``zarr.json`` alike."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_core.plugin import get_registry
from ts_core.testing.safety import peak_while_raising

SMALL_PEAK = 64 * 2**20


def metadata(**members: Any) -> dict[str, Any]:
    return {"shape": [10, 10], "data_type": "int32",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}}, **members}


def create(**members: Any) -> Any:
    return ts.open({"driver": "zarr3", "kvstore": "memory://", "metadata": metadata(**members)}, create=True).result()


def open_stored(tmp_path: Path, **members: Any) -> Any:
    document = {"zarr_format": 3, "node_type": "array", "chunk_key_encoding": {"name": "default"},
                "fill_value": 0, "codecs": [{"name": "bytes"}], **metadata(**members)}
    (tmp_path / "zarr.json").write_text(json.dumps(document))
    return ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path)}}).result()


BAD_CODECS = [
    ({"name": "gzip", "configuration": {"level": "abc"}}, r"level: expected integer"),
    ({"name": "gzip", "configuration": {"level": 10}}, r"level: expected integer in the range \[0, 9\], but received: 10"),
    ({"name": "zstd", "configuration": {"level": 23}}, r"level: expected integer in the range \[-131072, 22\]"),
    ({"name": "zstd", "configuration": {"checksum": 1}}, r"checksum: expected boolean, but received: 1"),
    ({"name": "blosc", "configuration": {"cname": "lz5"}}, r'cname: expected one of .*"lz4".*, but received: "lz5"'),
    ({"name": "blosc", "configuration": {"clevel": -1}}, r"clevel: expected integer in the range \[0, 9\]"),
    ({"name": "blosc", "configuration": {"shuffle": 1}}, r"shuffle: expected one of .*\"bitshuffle\".*, but received: 1"),
    ({"name": "blosc", "configuration": {"typesize": 0}}, r"typesize: expected integer in the range \[1, 255\]"),
    ({"name": "blosc", "configuration": {"blocksize": -1}}, r"blocksize: expected integer in the range \[0, 2147483647\]"),
    ({"name": "crc32c", "configuration": {"x": 1}}, r"x: unexpected member"),
]


@pytest.mark.parametrize(("codec", "message"), BAD_CODECS)
def test_bad_codec_configuration_in_spec(codec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^metadata\.codecs\[1\]\.configuration\.{message}"):
        create(codecs=[{"name": "bytes"}, codec])


@pytest.mark.parametrize(("codec", "message"), BAD_CODECS)
def test_bad_codec_configuration_in_stored_metadata(tmp_path: Path, codec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"zarr\.json': codecs\[1\]\.configuration\.{message}"):
        open_stored(tmp_path, codecs=[{"name": "bytes"}, codec])


@pytest.mark.parametrize(
    ("codec", "message"),
    [
        ({"name": "bytes", "configuration": {"endian": "middle"}}, r'endian: expected one of "little", "big"'),
        ({"name": "sharding_indexed", "configuration": {"chunk_shape": [2, -1]}},
         r"chunk_shape\[1\]: expected (a value >= 1|integer)"),
        ({"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2], "index_location": "middle"}},
         r'index_location: expected one of "start", "end"'),
        ({"name": "sharding_indexed",
          "configuration": {"chunk_shape": [2, 2], "codecs": [{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 11}}]}},
         r"codecs\[1\]\.configuration\.level: expected integer in the range \[0, 9\]"),
    ],
)
def test_bad_array_to_bytes_codec_in_spec(codec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^metadata\.codecs\[0\]\.configuration\.{message}"):
        create(codecs=[codec])


def test_codec_schemas_are_registered() -> None:
    registry = get_registry()
    for name in ("bytes", "transpose", "gzip", "zstd", "blosc", "crc32c", "sharding_indexed"):
        record = registry.get("codec", name, "zarr3")
        assert record.schema is not None
        assert record.schema["$id"] == f"urn:ts:codec:zarr3:{name}"


def test_integral_float_level_is_an_integer() -> None:
    store = create(codecs=[{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1.0}}])
    assert store.spec().to_json()["metadata"]["codecs"][1] == {"name": "gzip", "configuration": {"level": 1}}


def test_fill_value_of_the_wrong_type_names_fill_value() -> None:
    with pytest.raises(SpecError, match=r'^schema\.fill_value: cannot convert "abc" to int32'):
        ts.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype=ts.int32, shape=[10],
                fill_value="abc").result()
    with pytest.raises(SpecError, match=r'^schema\.fill_value: cannot convert "abc" to int32'):
        ts.open({"driver": "zarr3", "kvstore": "memory://", "metadata": metadata()}, create=True,
                fill_value="abc").result()
    with pytest.raises(SpecError, match=r"^metadata\.fill_value: "):
        create(fill_value="abc")


def test_negative_chunk_size_names_chunk_layout() -> None:
    spec = {"driver": "zarr3", "kvstore": "memory://",
            "schema": {"chunk_layout": {"read_chunk": {"shape": [-2, 5]}}}}
    with pytest.raises(SpecError, match=r"^schema\.chunk_layout\.read_chunk\.shape\[0\]: "):
        ts.open(spec, create=True, dtype=ts.int32, shape=[10, 10]).result()


HUGE_GRID = {"name": "regular", "configuration": {"chunk_shape": [2**20, 2**20]}}


def test_huge_chunk_in_spec_fails_before_allocating() -> None:
    create()
    peak = peak_while_raising(lambda: create(shape=[2**20, 2**20], chunk_grid=HUGE_GRID),
                 r"^metadata\.chunk_grid\.configuration\.chunk_shape: chunk shape \[1048576, 1048576\] of 4-byte elements "
                 r"is 4398046511104 bytes \(4 TiB\)")
    assert peak < SMALL_PEAK


def test_huge_inner_chunk_and_shard_index_fail_before_allocating() -> None:
    sharded = {"name": "sharding_indexed", "configuration": {"chunk_shape": [2**20, 2**20]}}
    peak = peak_while_raising(lambda: create(shape=[2**20, 2**20], chunk_grid=HUGE_GRID, codecs=[sharded]),
                 r"^metadata\.codecs\[0\]\.configuration\.chunk_shape: chunk shape \[1048576, 1048576\]")
    assert peak < SMALL_PEAK
    tiny_inner = {"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 1]}}
    peak = peak_while_raising(lambda: create(shape=[2**20, 2**20], chunk_grid=HUGE_GRID, codecs=[tiny_inner]),
                 r"^metadata\.chunk_grid\.configuration\.chunk_shape: shard index grid shape \[1048576, 1048576\] "
                 r"of 16-byte elements")
    assert peak < SMALL_PEAK


def test_huge_chunk_in_stored_metadata_fails_before_allocating(tmp_path: Path) -> None:
    peak = peak_while_raising(lambda: open_stored(tmp_path, shape=[2**40], chunk_grid={
                     "name": "regular", "configuration": {"chunk_shape": [2**40]}}),
                 r"zarr\.json': chunk_grid\.configuration\.chunk_shape: chunk shape \[1099511627776\]")
    assert peak < SMALL_PEAK


def test_fill_value_that_differs_per_element_is_refused() -> None:
    spec = {"driver": "zarr3", "kvstore": "memory://", "schema": {"fill_value": [1, 2, 3, 4]}}
    with pytest.raises(SpecError, match=r"^schema\.fill_value: cannot convert \[1, 2, 3, 4\] to int32: zarr v3 stores one"):
        ts.open(spec, create=True, dtype=ts.int32, shape=[4, 4]).result()


def test_sharding_kvstore_refuses_an_absurd_grid_before_allocating() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^kvstore\.grid_shape: shard index shape \[1048576, 1048576, 2\]"):
            ts.KvStore.open({
                "driver": "zarr3_sharding_indexed", "base": "memory://absurd/", "grid_shape": [1 << 20, 1 << 20],
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            }).result()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
