"""The ``info`` file: validation names the bad member, unknown members are kept, and the
encoding is byte-identical to tensorstore's."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_precomputed._metadata import parse_info, scale_key_from_resolution

INFO: dict[str, Any] = {
    "@type": "neuroglancer_multiscale_volume",
    "type": "image",
    "data_type": "uint8",
    "num_channels": 1,
    "scales": [
        {"key": "8_8_8", "size": [64, 64, 32], "voxel_offset": [0, 0, 0], "chunk_sizes": [[32, 32, 32]],
         "resolution": [8, 8, 8], "encoding": "raw"},
        {"key": "16_16_16", "size": [32, 32, 16], "voxel_offset": [1, 2, 3],
         "chunk_sizes": [[16, 16, 16], [32, 32, 8]], "resolution": [16, 16, 16], "encoding": "raw"},
    ],
}


def changed(path: list[Any], value: Any) -> dict[str, Any]:
    """INFO with the member at ``path`` set to ``value`` (deleted for ``...``)."""
    info = copy.deepcopy(INFO)
    target: Any = info
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return info


def test_valid_info_round_trips() -> None:
    info = parse_info(INFO)
    assert info.dtype.name == "uint8"
    assert [scale.key for scale in info.scales] == ["8_8_8", "16_16_16"]
    assert info.scales[1].chunk_sizes == ((16, 16, 16), (32, 32, 8))
    assert info.to_json()["scales"][0]["resolution"] == [8.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("path", "value", "member", "message"),
    [
        (["@type"], "neuroglancer_skeletons", "@type", "neuroglancer_multiscale_volume"),
        (["type"], 3, "type", "expected string"),
        (["type"], ..., "", 'missing required member "type"'),
        (["data_type"], "float64", "data_type", "expected one of uint8, uint16"),
        (["num_channels"], 0, "num_channels", "expected integer >= 1"),
        (["num_channels"], "1", "num_channels", "expected integer >= 1"),
        (["scales"], {}, "scales", "expected array"),
        (["scales", 1], [], "scales[1]", "expected object"),
        (["scales", 1, "key"], 16, "scales[1].key", "expected string"),
        (["scales", 1, "key"], ..., "scales[1]", 'missing required member "key"'),
        (["scales", 1, "size"], [1, 2], "scales[1].size", "should have length 3"),
        (["scales", 1, "size", 2], -1, "scales[1].size[2]", "expected integer in the range"),
        (["scales", 1, "voxel_offset", 0], 1.5, "scales[1].voxel_offset[0]", "expected integer"),
        (["scales", 1, "chunk_sizes"], [], "scales[1].chunk_sizes", "At least one chunk size"),
        (["scales", 1, "chunk_sizes"], [16, 16, 16], "scales[1].chunk_sizes[0]", "expected array"),
        (["scales", 1, "chunk_sizes", 1, 2], 0, "scales[1].chunk_sizes[1][2]", "expected integer in the range [1,"),
        (["scales", 1, "resolution"], [1, 2, "3"], "scales[1].resolution[2]", "expected number"),
        (["scales", 1, "encoding"], "webp", "scales[1].encoding", '"webp" is not a registered precomputed encoding'),
        (["scales", 1, "encoding"], 1, "scales[1].encoding", "expected string"),
        (["scales", 1, "sharding"], "yes", "scales[1].sharding", "expected object or null"),
        (["scales", 0, "jpeg_quality"], 75, "scales[0].jpeg_quality", 'Only valid for "jpeg" encoding'),
        (["scales", 0, "compressed_segmentation_block_size"], [8, 8, 8],
         "scales[0].compressed_segmentation_block_size", 'Only valid for "compressed_segmentation" encoding'),
    ],
)
def test_bad_member_is_named(path: list[Any], value: Any, member: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_info(changed(path, value))
    assert caught.value.json_path == member
    assert message in str(caught.value)


def test_unknown_encoding_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        parse_info(changed(["scales", 0, "encoding"], "webp"))
    assert "raw" in str(caught.value).split("known: ")[1]


def test_sharded_scale_has_one_chunk_size() -> None:
    info = changed(["scales", 1, "sharding"], {"@type": "neuroglancer_uint64_sharded_v1"})
    with pytest.raises(SpecError, match="Sharded format does not support more than one chunk size"):
        parse_info(info)


def test_unknown_members_are_kept() -> None:
    info = changed(["mesh"], "mesh")
    info["scales"][0]["note"] = {"made_by": "test"}
    parsed = parse_info(info)
    assert parsed.to_json()["mesh"] == "mesh"
    assert parsed.to_json()["scales"][0]["note"] == {"made_by": "test"}


def test_encoding_matches_tensorstore() -> None:
    tensorstore = pytest.importorskip("tensorstore")
    spec = {
        "driver": "neuroglancer_precomputed", "kvstore": "memory://v/",
        "multiscale_metadata": {"data_type": "int16", "num_channels": 3, "type": "image"},
        "scale_metadata": {"size": [9, 8, 7], "voxel_offset": [-4, 0, 9], "resolution": [0.5, 2, 40],
                           "encoding": "raw", "chunk_size": [4, 4, 4]},
    }
    infos = []
    for library in (ts, tensorstore):
        context = library.Context()
        library.open(spec, create=True, context=context).result()
        infos.append(library.KvStore.open("memory://v/", context=context).result().read("info").result().value)
    assert infos[0] == infos[1]
    assert parse_info(json.loads(infos[1])).encode() == infos[1]


@pytest.mark.parametrize(
    ("resolution", "key"), [((4.0, 4.0, 40.0), "4_4_40"), ((0.5, 1.25, 3.0), "0.5_1.25_3"), ((1e7, 1.0, 1234567.0), "1e+07_1_1.23457e+06")]
)
def test_default_scale_key(resolution: tuple[float, float, float], key: str) -> None:
    assert scale_key_from_resolution(resolution) == key


def test_bad_stored_info_names_key_and_member() -> None:
    context = ts.Context()
    store = ts.KvStore.open("memory://bad/", context=context).result()
    store.write("info", json.dumps(changed(["scales", 1, "chunk_sizes", 0, 1], "16")).encode()).result()
    with pytest.raises(ValueError, match=r"invalid metadata in 'bad/info': scales\[1\]\.chunk_sizes\[0\]\[1\]: expected integer"):
        ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://bad/"}, context=context).result()
    store.write("info", b"{not json").result()
    with pytest.raises(ValueError, match="invalid metadata in 'bad/info': invalid JSON"):
        ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://bad/"}, context=context).result()
