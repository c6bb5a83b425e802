"""CodecSpec: JSON round trip, value semantics, merging and the per-driver plugin hook."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from ts_core.plugin import get_registry, reset_registry
from ts_core.schema import CODEC_MERGE_ID, CodecSpec, merge_codec_json

tensorstore = pytest.importorskip("tensorstore")

# Codec JSON the wheel keeps exactly as given (already in its normal form).
NORMALISED = [
    {"driver": "zarr", "compressor": None, "filters": None},
    {"driver": "zarr", "compressor": {"id": "zlib", "level": 1}, "filters": None},
    {"driver": "zarr3"},
    {"driver": "zarr3", "codecs": [{"name": "blosc"}]},
    {"driver": "n5"},
]


@pytest.mark.parametrize("value", NORMALISED)
def test_json_round_trip_matches_wheel(value: dict[str, Any]) -> None:
    expected = tensorstore.CodecSpec(value)
    ours = CodecSpec(value)
    assert ours.to_json() == expected.to_json() == value
    assert repr(ours) == repr(expected)


def test_value_semantics() -> None:
    spec = CodecSpec({"driver": "zarr", "compressor": None})
    assert spec == CodecSpec({"compressor": None, "driver": "zarr"})
    assert hash(spec) == hash(CodecSpec({"compressor": None, "driver": "zarr"}))
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert spec.driver == "zarr"
    json = spec.to_json()
    json["compressor"] = "changed"
    assert spec.to_json()["compressor"] is None  # to_json hands out a copy


@pytest.mark.parametrize(
    ("value", "message"),
    [({}, r"^driver: expected string"), (5, "^expected object"), ({"driver": 3}, r"^driver:")],
)
def test_bad_json(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CodecSpec(value)


def test_member_wise_merge_and_conflicts() -> None:
    a = CodecSpec({"driver": "zarr", "compressor": None})
    merged = a.merge(CodecSpec({"driver": "zarr", "filters": None}))
    assert merged.to_json() == {"driver": "zarr", "compressor": None, "filters": None}
    with pytest.raises(ValueError, match=r"^codec\.compressor: cannot merge codec spec"):
        a.merge(CodecSpec({"driver": "zarr", "compressor": {"id": "zlib"}}))
    with pytest.raises(ValueError, match=r"^codec\.driver: .*drivers differ"):
        a.merge(CodecSpec({"driver": "n5"}))


def _merge_by_union_of_codecs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"driver": a["driver"], "codecs": [*a.get("codecs", []), *b.get("codecs", [])]}


def test_driver_hook_from_the_registry() -> None:
    registry = get_registry()
    namespace = "test-schema-codec-hook"
    registry.add("codec", CODEC_MERGE_ID,
                 f"{__name__}:_merge_by_union_of_codecs", namespace=namespace,
                 distribution="tests")
    try:
        merged = merge_codec_json({"driver": namespace, "codecs": [1]},
                                  {"driver": namespace, "codecs": [2]})
        assert merged == {"driver": namespace, "codecs": [1, 2]}
    finally:
        reset_registry()  # the next lookup rediscovers the installed plugins only
