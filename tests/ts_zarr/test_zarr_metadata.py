"""zarr v2 ``.zarray`` parsing: every field, fill-value encodings, and errors with JSON paths."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ts_zarr._metadata import encode_fill_value, parse_metadata

BASE = {
    "chunks": [5, 5],
    "compressor": None,
    "dimension_separator": ".",
    "dtype": "<u2",
    "fill_value": 0,
    "filters": None,
    "order": "C",
    "shape": [10, 20],
    "zarr_format": 2,
}


def metadata(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


def test_round_trip_bytes_match_tensorstore_layout() -> None:
    parsed = parse_metadata(metadata())
    assert parsed.encode() == json.dumps(BASE, sort_keys=True, separators=(",", ":")).encode()
    assert parsed.shape == (10, 20)
    assert parsed.chunks == (5, 5)


def test_unknown_members_are_preserved() -> None:
    parsed = parse_metadata(metadata(extension={"a": 1}))
    assert parsed.to_json()["extension"] == {"a": 1}


@pytest.mark.parametrize(
    ("dtype", "fill", "expected"),
    [
        ("<f4", "NaN", math.nan),
        ("<f8", "Infinity", math.inf),
        (">f8", "-Infinity", -math.inf),
        ("<f4", 1.5, 1.5),
        ("|b1", True, True),
        ("<i8", -3, -3),
        ("<c8", [1.0, "NaN"], complex(1, math.nan)),
        ("bfloat16", 2.0, 2.0),
    ],
)
def test_fill_values(dtype: str, fill: object, expected: object) -> None:
    parsed = parse_metadata(metadata(dtype=dtype, fill_value=fill))
    value = parsed.fill_values[0]
    assert value is not None
    np.testing.assert_equal(value.item(), expected)
    assert encode_fill_value(value, parsed.dtype) == fill


def test_null_fill_value() -> None:
    assert parse_metadata(metadata(fill_value=None)).fill_values == (None,)


def test_structured_dtype_and_base64_fill() -> None:
    raw = np.zeros((), dtype=[("a", "<u2"), ("b", "<f4", (2,))])
    raw["a"], raw["b"] = 7, [1.5, 2.5]
    import base64

    encoded = base64.b64encode(raw.tobytes()).decode()
    parsed = parse_metadata(metadata(dtype=[["a", "<u2"], ["b", "<f4", [2]]], fill_value=encoded))
    a, b = parsed.fill_values
    assert a is not None
    assert b is not None
    assert a.item() == 7
    assert b.tolist() == [1.5, 2.5]
    assert parsed.dtype.field("b").shape == (2,)


def test_bytes_dtype_is_an_inner_dimension() -> None:
    parsed = parse_metadata(metadata(dtype="|S4", fill_value="YWJjZA=="))
    field = parsed.dtype.field(None)
    assert field.shape == (4,)
    fill = parsed.fill_values[0]
    assert fill is not None
    assert fill.tobytes() == b"abcd"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shape": [-1, 2]}, "metadata.shape[0]: expected integer in the range [0,"),
        ({"shape": "x"}, "metadata.shape: expected array"),
        ({"chunks": [0, 1]}, "metadata.chunks[0]: expected integer in the range [1,"),
        ({"chunks": [5]}, "metadata.chunks: rank 1 does not match the rank 2"),
        ({"dtype": "<U4"}, 'metadata.dtype: unsupported zarr dtype: "<U4"'),
        ({"dtype": "<m8[ns]"}, "metadata.dtype: unsupported zarr dtype"),
        ({"dtype": 5}, "metadata.dtype: expected a zarr dtype string"),
        ({"dtype": [["a", "<u2"], ["a", "<u2"]]}, "metadata.dtype[1][0]: field names must be non-empty and unique"),
        ({"compressor": {"id": "no-such-codec"}}, 'metadata.compressor.id: "no-such-codec" is not a registered zarr codec'),
        ({"compressor": {"cname": "zstd"}}, 'metadata.compressor: expected an object with a string "id"'),
        ({"compressor": "zstd"}, 'metadata.compressor: expected an object with a string "id"'),
        ({"filters": {"id": "delta"}}, "metadata.filters: expected array or null"),
        ({"order": "X"}, 'metadata.order: expected one of "C", "F"'),
        ({"dimension_separator": "-"}, "metadata.dimension_separator"),
        ({"zarr_format": 3}, "metadata.zarr_format: expected 2"),
        ({"fill_value": "zero"}, "metadata.fill_value: expected integer"),
        ({"fill_value": 70000}, "metadata.fill_value: 70000 is out of range for uint16"),
        ({"dtype": "|S2", "fill_value": "!!"}, "metadata.fill_value: invalid base64"),
        ({"dtype": "|S2", "fill_value": "YWJj"}, "metadata.fill_value: expected 2 base64-encoded bytes"),
    ],
)
def test_invalid_metadata(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"^metadata") as info:
        parse_metadata(metadata(**changes))
    assert str(info.value).startswith(message), str(info.value)


def test_missing_member() -> None:
    broken = metadata()
    del broken["dtype"]
    with pytest.raises(ValueError, match='missing required member "dtype"'):
        parse_metadata(broken)


def test_every_numcodecs_codec_is_accepted() -> None:
    for config in ({"id": "zstd", "level": 1}, {"id": "gzip", "level": 5}, {"id": "lz4"}, {"id": "bz2"}, {"id": "lzma"}):
        assert parse_metadata(metadata(compressor=config)).compressor is not None
    parsed = parse_metadata(metadata(filters=[{"id": "delta", "dtype": "<u2"}]))
    assert len(parsed.filters) == 1


def test_checked_codecs_are_told_apart_and_handed_out_fresh() -> None:
    """A codec configuration checked once is not checked again, but ``1``, ``1.0`` and
    ``True`` stay different values, and each parse gets its own dict and codec."""
    first = parse_metadata(metadata(compressor={"id": "zstd", "level": 1}))
    first.compressor_json["level"] = 99  # a caller editing its copy changes nothing shared
    again = parse_metadata(metadata(compressor={"id": "zstd", "level": 1}))
    assert again.compressor_json == {"id": "zstd", "level": 1}
    assert again.compressor is not first.compressor
    assert parse_metadata(metadata(compressor={"id": "zstd", "level": 1.0})).compressor_json == {"id": "zstd", "level": 1}
    with pytest.raises(ValueError, match=r"^metadata\.compressor\.level: expected integer, but received: true"):
        parse_metadata(metadata(compressor={"id": "zstd", "level": True}))
    with pytest.raises(ValueError, match=r"^metadata\.compressor\.level"):
        parse_metadata(metadata(compressor={"id": "zstd", "level": "1"}))
    filters = parse_metadata(metadata(filters=[{"id": "delta", "dtype": "<u2"}])).filters_json
    filters[0]["dtype"] = "<u4"
    assert parse_metadata(metadata(filters=[{"id": "delta", "dtype": "<u2"}])).filters_json == [{"id": "delta", "dtype": "<u2"}]


def test_parsed_dtypes_are_shared_only_when_immutable() -> None:
    from ts_zarr._dtype import parse_dtype

    assert parse_dtype("<u2") is parse_dtype("<u2")
    structured = [["a", "<u2"], ["b", "<f4", [2]]]
    parsed = parse_dtype(structured)
    assert parsed is not parse_dtype(structured)
    with pytest.raises(ValueError, match=r"^metadata\.dtype: unsupported zarr dtype"):
        parse_dtype("<u3")
    with pytest.raises(ValueError, match=r"^metadata\.dtype: unsupported zarr dtype"):
        parse_dtype("<u3")  # errors are never remembered as results
