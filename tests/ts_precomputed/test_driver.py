"""The neuroglancer_precomputed driver against the tensorstore wheel: the same info, keys,
bytes, domain, schema and spec; scales opened and added as tensorstore does, with its
errors; damaged chunks reported by key."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.errors import ChunkError, SpecError

tensorstore = pytest.importorskip("tensorstore")

MULTISCALE = {"data_type": "uint16", "num_channels": 2, "type": "image"}
SCALE = {"size": [10, 7, 5], "voxel_offset": [3, -2, 1], "resolution": [4, 5, 6.5], "encoding": "raw", "chunk_size": [4, 4, 3]}


def volume_spec(kvstore: Any, **members: Any) -> dict[str, Any]:
    return {"driver": "neuroglancer_precomputed", "kvstore": kvstore,
            "multiscale_metadata": MULTISCALE, "scale_metadata": SCALE, **members}


def data() -> np.ndarray:
    return np.arange(10 * 7 * 5 * 2, dtype=np.uint16).reshape(10, 7, 5, 2) * 7


def stored(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_same_info_keys_and_bytes_as_tensorstore(tmp_path: Path) -> None:
    for name, library in (("ts", ts), ("wheel", tensorstore)):
        store = library.open(volume_spec(f"file://{tmp_path}/{name}/"), create=True).result()
        store.write(data()).result()
    ours, theirs = stored(tmp_path / "ts"), stored(tmp_path / "wheel")
    assert ours == theirs
    assert "4_5_6.5/11-13_2-5_4-6" in ours  # a truncated corner chunk: 2 x 3 x 2 voxels, 2 channels
    assert len(ours["4_5_6.5/11-13_2-5_4-6"]) == 2 * 3 * 2 * 2 * 2


@pytest.mark.parametrize(("writer", "reader"), [(ts, tensorstore), (tensorstore, ts)])
def test_each_reads_what_the_other_wrote(tmp_path: Path, writer: Any, reader: Any) -> None:
    store = writer.open(volume_spec(f"file://{tmp_path}/v/"), create=True).result()
    store[5:12, -2:1, 1:6].write(data()[2:9, 0:3]).result()
    other = reader.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/v/"}).result()
    expected = np.zeros((10, 7, 5, 2), np.uint16)
    expected[2:9, 0:3] = data()[2:9, 0:3]
    np.testing.assert_array_equal(other.read().result(), expected)
    np.testing.assert_array_equal(other[4:9, 0:4, 2:3, 1].read().result(), expected[1:6, 2:6, 1:2, 1])


def test_domain_schema_and_spec_as_tensorstore() -> None:
    results = []
    for library in (ts, tensorstore):
        store = library.open(volume_spec("memory://a/"), create=True, context=library.Context()).result()
        results.append((
            str(store.domain), [str(unit) for unit in store.dimension_units], store.chunk_layout.to_json(),
            store.schema.to_json(), store.spec().to_json(), store.codec.to_json(), store.fill_value, store.url,
        ))
    assert results[0] == results[1]


def test_spec_implies_what_tensorstore_does() -> None:
    spec = volume_spec("memory://a/")
    ours, theirs = ts.Spec(spec), tensorstore.Spec(spec)
    assert ours.rank == theirs.rank == 4
    assert ours.dtype == ts.uint16
    assert str(ours.domain) == str(theirs.domain)
    assert ours.chunk_layout.to_json() == theirs.chunk_layout.to_json()
    assert ours.codec.to_json() == theirs.codec.to_json()
    assert [str(unit) for unit in ours.dimension_units] == [str(unit) for unit in theirs.dimension_units]


def test_url_as_tensorstore(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/x/|neuroglancer-precomputed:"
    spec = {"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": f"{tmp_path}/x/"}}
    assert ts.Spec(url).to_json()["kvstore"] == spec["kvstore"]
    assert ts.Spec(spec).to_json() == tensorstore.Spec(spec).to_json()
    assert ts.Spec(spec).url == tensorstore.Spec(spec).url == url


def test_auto_detects_a_volume(tmp_path: Path) -> None:
    tensorstore.open(volume_spec(f"file://{tmp_path}/v/"), create=True).result()
    store = ts.open(f"file://{tmp_path}/v/").result()
    assert store.spec().to_json()["driver"] == "neuroglancer_precomputed"
    assert store.domain.labels == ("x", "y", "z", "channel")


# -- scales --------------------------------------------------------------------------------
def test_add_scales_as_tensorstore(tmp_path: Path) -> None:
    second = {"size": [5, 4, 5], "resolution": [8, 10, 6.5], "encoding": "raw", "chunk_size": [2, 2, 5]}
    third = {"size": [3, 2, 2], "voxel_offset": [1, 1, 1], "resolution": [16, 20, 13], "key": "deeper/../s2"}
    for name, library in (("ts", ts), ("wheel", tensorstore)):
        kvstore = f"file://{tmp_path}/{name}/"
        library.open(volume_spec(kvstore), create=True).result()
        added = library.open({"driver": "neuroglancer_precomputed", "kvstore": kvstore, "scale_metadata": second},
                             create=True).result()
        assert added.spec().to_json()["scale_index"] == 1
        added.write(np.ones(added.shape, np.uint16)).result()
        library.open({"driver": "neuroglancer_precomputed", "kvstore": kvstore, "scale_metadata": third,
                      "scale_index": 2}, create=True).result().write(5).result()
    assert stored(tmp_path / "ts") == stored(tmp_path / "wheel")
    assert "ts/s2/1-4_1-3_1-3" in stored(tmp_path)
    for selector, index in (({"scale_index": 1}, 1), ({"scale_metadata": {"key": "8_10_6.5"}}, 1),
                            ({"scale_metadata": {"resolution": [8, 10, 6.5]}}, 1),
                            ({"schema": {"dimension_units": [None, "20nm", None, None]}}, 2), ({}, 0)):
        store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/wheel/", **selector}).result()
        assert store.spec().to_json()["scale_index"] == index


def test_scale_keys_stay_inside_the_volume(tmp_path: Path) -> None:
    """tensorstore lets a key leave the volume's directory; ts refuses (docs/security.md)."""
    outside = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/v/",
               "scale_metadata": {"size": [2, 2, 2], "resolution": [9, 9, 9], "key": "../outside"}}
    ts.open(volume_spec(f"file://{tmp_path}/v/"), create=True).result()
    with pytest.raises(SpecError, match=r"scale_metadata\.key|scales\[1\]\.key") as caught:
        ts.open(outside, create=True).result()
    assert "leaves the volume's directory" in str(caught.value)
    assert not (tmp_path / "outside").exists()
    info = json.loads((tmp_path / "v" / "info").read_text())
    assert len(info["scales"]) == 1  # nothing was added
    info["scales"][0]["key"] = "../../etc"  # a hostile info
    (tmp_path / "v" / "info").write_text(json.dumps(info))
    with pytest.raises(SpecError, match=r"scales\[0\]\.key: '\.\./\.\./etc' leaves the volume's directory"):
        ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/v/"}).result()


CONFLICTS = [
    ({"scale_metadata": {"key": "zz"}}, {"open": True}, "scale_metadata.key", 'No scale found matching key="zz"'),
    ({"scale_metadata": {"size": [1, 2, 3]}}, {"open": True}, "scale_metadata.size", 'Expected "size" of [1,2,3] but received: [10,7,5]'),
    ({"scale_metadata": {"resolution": [1, 2, 3]}}, {"open": True}, "scale_metadata.resolution",
     'No scale found matching dimension_units=["nm", "2 nm", "3 nm", null]'),
    ({"scale_metadata": {"encoding": "raw", "chunk_size": [1, 1, 1]}}, {"open": True}, "scale_metadata.chunk_size",
     'Expected "chunk_size" of [1,1,1] but received: [[4,4,3]]'),
    ({"multiscale_metadata": {"num_channels": 3}}, {"open": True}, "multiscale_metadata.num_channels",
     'Expected "num_channels" of 3 but received: 2'),
    ({"multiscale_metadata": {"type": "segmentation"}}, {"open": True}, "multiscale_metadata.type",
     'Expected "type" of "segmentation" but received: "image"'),
    ({"multiscale_metadata": {"data_type": "uint8"}}, {"open": True}, "multiscale_metadata.data_type",
     'Expected "data_type" of "uint8" but received: "uint16"'),
    ({"scale_index": 3}, {"open": True}, "scale_index", "Scale 3 does not exist, number of scales is 1"),
    ({"scale_index": 2, "scale_metadata": {"size": [1, 1, 1], "resolution": [8, 5, 6]}}, {"create": True},
     "scale_index", "Scale index to create (2) must equal the existing number of scales (1)"),
    ({"scale_metadata": {"size": [10, 7, 5], "key": "other", "resolution": [1, 5, 6], "encoding": "raw"},
      "multiscale_metadata": {"num_channels": 3}}, {"create": True}, "multiscale_metadata.num_channels",
     'Expected "num_channels" of 3 but received: 2'),
    ({"scale_metadata": {"voxel_offset": [1, 2, 3]}}, {"open": True}, "scale_metadata.voxel_offset",
     'cannot be specified without "size"'),
    ({"scale_metadata": {"encoding": "raw", "jpeg_quality": 3}}, {"open": True}, "scale_metadata.jpeg_quality",
     'Only valid for "jpeg" encoding'),
    ({}, {"open": True, "dimension_units": ["4um", None, None, None]}, "dimension_units",
     'neuroglancer_precomputed format requires a base unit of "nm" for the "x", "y", and "z" dimensions'),
    ({}, {"open": True, "fill_value": 3}, "fill_value", "fill_value not supported by neuroglancer_precomputed format"),
]


@pytest.mark.parametrize(("members", "options", "member", "message"), CONFLICTS)
def test_conflicts_as_tensorstore(members: dict[str, Any], options: dict[str, Any], member: str, message: str) -> None:
    for library in (ts, tensorstore):
        context = library.Context()
        library.open(volume_spec("memory://a/"), create=True, context=context).result()
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            library.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://a/", **members},
                         context=context, **options).result()
        if library is ts:
            assert isinstance(caught.value, SpecError)
            assert caught.value.json_path == member


@pytest.mark.parametrize(
    "members",
    [{"scale_index": 0, "scale_metadata": {"size": [10, 7, 5], "voxel_offset": [3, -2, 1], "resolution": [4, 5, 6.5]}},
     {"scale_metadata": {"size": [10, 7, 5], "voxel_offset": [3, -2, 1], "resolution": [4, 5, 6.5]}},
     {"scale_metadata": {"size": [10, 7, 5], "key": "4_5_6.5", "resolution": [8, 5, 6]}}],
)
def test_creating_an_existing_scale_fails_as_tensorstore(members: dict[str, Any]) -> None:
    """create alone fails; with open too, the existing scale is opened if it matches."""
    for library in (ts, tensorstore):
        context = library.Context()
        library.open(volume_spec("memory://a/"), create=True, context=context).result()
        with pytest.raises(ValueError, match="already exists") as caught:
            library.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://a/", **members},
                         create=True, context=context).result()
        if library is ts:
            assert isinstance(caught.value, SpecError)
            assert caught.value.json_path == ("scale_index" if "scale_index" in members else "scale_metadata.key")
        both = library.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://a/", **members},
                            create=True, open=True, context=context)
        if "key" in members["scale_metadata"]:  # its resolution differs from the scale's
            with pytest.raises(ValueError, match=r'No scale found matching dimension_units=.*key="4_5_6\.5"'):
                both.result()
        else:
            assert both.result().shape == (10, 7, 5, 2)


def test_unknown_encoding_is_named() -> None:
    with pytest.raises(SpecError, match=r"scale_metadata\.encoding: \"webp\" is not a registered precomputed encoding \(known: .*raw"):
        ts.open({**volume_spec("memory://a/"), "scale_metadata": {**SCALE, "encoding": "webp"}}, create=True).result()


def test_new_volume_from_schema_constraints() -> None:
    schema = {"dtype": "uint32", "domain": {"inclusive_min": [2, 0, -1, 0], "shape": [50, 60, 7, 1]},
              "dimension_units": ["4nm", "4nm", "30nm", None], "chunk_layout": {"read_chunk": {"shape": [16, 16, 7, 1]}},
              "codec": {"driver": "neuroglancer_precomputed", "encoding": "raw"}}
    infos = []
    for library in (ts, tensorstore):
        context = library.Context()
        store = library.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://s/", "schema": schema},
                             create=True, context=context).result()
        infos.append(library.KvStore.open("memory://s/", context=context).result().read("info").result().value)
        assert store.schema.to_json() == tensorstore.Schema(store.schema.to_json()).to_json()
    assert infos[0] == infos[1]
    assert json.loads(infos[0])["type"] == "segmentation"


def test_concurrent_creators_both_add_their_scale() -> None:
    context = ts.Context()
    ts.open(volume_spec("memory://c/"), create=True, context=context).result()
    errors: list[BaseException] = []

    def add(resolution: int) -> None:
        try:
            ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://c/",
                     "scale_metadata": {"size": [4, 4, 4], "resolution": [resolution, 1, 1]}},
                    create=True, context=context).result()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(resolution,)) for resolution in range(10, 18)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    info = json.loads(ts.KvStore.open("memory://c/", context=context).result().read("info").result().value)
    assert sorted(scale["key"] for scale in info["scales"][1:]) == [f"{r}_1_1" for r in range(10, 18)]


# -- damaged chunks ---------------------------------------------------------------------------
def test_raw_chunk_of_wrong_length_is_named_and_others_still_read() -> None:
    context = ts.Context()
    store = ts.open(volume_spec("memory://d/"), create=True, context=context).result()
    store.write(data()).result()
    kvstore = ts.KvStore.open("memory://d/", context=context).result()
    kvstore.write("4_5_6.5/7-11_-2-2_1-4", b"\x00" * 10).result()
    reopened = ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://d/", "cache_pool": {"total_bytes_limit": 0}},
                       context=context).result()
    with pytest.raises(ChunkError, match=r"d/4_5_6.5/7-11_-2-2_1-4.*should have 192 bytes, but has 10"):
        reopened.read().result()
    np.testing.assert_array_equal(reopened[3:7].read().result(), data()[0:4])
    np.testing.assert_array_equal(reopened[11:13].read().result(), data()[8:10])


def test_transaction_commits_chunks_and_info() -> None:
    context = ts.Context()
    transaction = ts.Transaction()
    store = ts.open(volume_spec("memory://t/"), create=True, context=context, transaction=transaction).result()
    store[3:9].write(data()[0:6]).result()
    kvstore = ts.KvStore.open("memory://t/", context=context).result()
    assert kvstore.list().result() == []
    transaction.commit_sync()
    reopened = ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://t/"}, context=context).result()
    np.testing.assert_array_equal(reopened[3:9].read().result(), data()[0:6])


# -- every encoding: what the driver reports ----------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "data_type", "size"),
    [("raw", "float32", [9, 8, 7]), ("jpeg", "uint8", [9, 8, 7]), ("png", "uint16", [9, 8, 7]),
     ("compressed_segmentation", "uint32", [9, 8, 7]), ("compressed_segmentation", "uint64", [64, 64, 64]),
     ("compressed_segmentation", "uint64", [100, 30, 2])],
)
def test_each_encoding_reports_as_tensorstore(encoding: str, data_type: str, size: list[int]) -> None:
    """info (jpeg_quality's default, compressed_segmentation's chosen block size), codec,
    chunk layout (with the codec chunk) and spec."""
    results = []
    for library in (ts, tensorstore):
        context = library.Context()
        store = library.open(
            {"driver": "neuroglancer_precomputed", "kvstore": "memory://e/",
             "multiscale_metadata": {"data_type": data_type, "num_channels": 1},
             "scale_metadata": {"size": size, "voxel_offset": [1, 2, 3], "chunk_size": size, "encoding": encoding}},
            create=True, context=context).result()
        info = library.KvStore.open("memory://e/", context=context).result().read("info").result().value
        results.append((info, store.codec.to_json(), store.chunk_layout.to_json(), store.spec().to_json()))
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("codec", "member", "message"),
    [({"encoding": 3}, "codec.encoding", "expected string"),
     ({"encoding": "webp"}, "codec.encoding", '"webp" is not a registered precomputed encoding'),
     ({"encoding": "raw", "jpeg_quality": 50}, "codec.jpeg_quality", 'Only valid for "jpeg" encoding'),
     ({"png_level": 5}, "codec.png_level", 'Only valid for "png" encoding'),
     ({"encoding": "png", "png_level": 10}, "codec.png_level", "expected integer in the range [0, 9]"),
     ({"shard_data_encoding": "zstd"}, "codec.shard_data_encoding", 'Expected one of "raw", "gzip", but received: "zstd"'),
     ({"foo": 1}, "codec", 'Object includes extra members: "foo"')],
)
def test_codec_spec_is_checked_as_tensorstore_checks_it(codec: dict[str, Any], member: str, message: str) -> None:
    json_value = {"driver": "neuroglancer_precomputed", **codec}
    with pytest.raises(ValueError):  # noqa: PT011 - the wheel's wording differs; ours is checked below
        tensorstore.CodecSpec(json_value)
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        ts.CodecSpec(json_value)
    assert caught.value.json_path == member
    assert ts.CodecSpec({"driver": "neuroglancer_precomputed", "encoding": "jpeg", "jpeg_quality": 50}).to_json() == \
        tensorstore.CodecSpec({"driver": "neuroglancer_precomputed", "encoding": "jpeg", "jpeg_quality": 50}).to_json()


def test_reread_info_must_describe_the_same_scale() -> None:
    """With recheck_cached_metadata, a changed info is picked up if compatible (a scale
    added) and refused, naming the member, if the open scale changed."""
    context = ts.Context()
    ts.open(volume_spec("memory://r/"), create=True, context=context).result()
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://r/", "recheck_cached_metadata": True},
                    context=context).result()
    ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://r/",
             "scale_metadata": {"size": [5, 4, 3], "resolution": [8, 10, 13]}}, create=True, context=context).result()
    assert store[3:5].read().result().shape == (2, 7, 5, 2)
    kvstore = ts.KvStore.open("memory://r/", context=context).result()
    info = json.loads(kvstore.read("info").result().value)
    info["scales"][0]["size"] = [11, 7, 5]
    kvstore.write("info", json.dumps(info).encode()).result()
    with pytest.raises(SpecError, match=re.escape('scales[0].size: Expected "size" of [10,7,5] but received: [11,7,5]')):
        store[3:5].read().result()


def test_chunk_size_selects_one_of_several(tmp_path: Path) -> None:
    """An info may list several chunk sizes; scale_metadata.chunk_size picks one (both
    libraries then write the same keys), the first is the default."""
    info = {"@type": "neuroglancer_multiscale_volume", "type": "image", "data_type": "uint8", "num_channels": 1,
            "mesh": "mesh", "scales": [{"key": "s0", "size": [8, 8, 8], "voxel_offset": [1, 1, 1],
                                        "chunk_sizes": [[4, 4, 4], [8, 8, 2]], "resolution": [1, 1, 1],
                                        "encoding": "raw", "made_by": "a test"}]}
    for name, library in (("ts", ts), ("wheel", tensorstore)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "info").write_text(json.dumps(info))
        default = library.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/{name}/"}).result()
        assert default.chunk_layout.read_chunk.shape == (4, 4, 4, 1)
        flat = library.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/{name}/",
                             "scale_metadata": {"chunk_size": [8, 8, 2]}}).result()
        flat.write(np.arange(512, dtype=np.uint8).reshape(8, 8, 8, 1)).result()
        library.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/{name}/",
                      "scale_metadata": {"size": [4, 4, 4], "resolution": [2, 2, 2]}}, create=True).result()
    assert stored(tmp_path / "ts") == stored(tmp_path / "wheel")
    written = json.loads((tmp_path / "ts" / "info").read_text())
    assert written["mesh"] == "mesh"  # unknown members survive adding a scale
    assert written["scales"][0]["made_by"] == "a test"
    assert "s0/1-9_1-9_1-3" in stored(tmp_path / "ts")
    # The spec names the scale with tensorstore's members only, so it reopens it.
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/ts/"}).result()
    spec = store.spec().to_json()
    assert spec["multiscale_metadata"] == {"num_channels": 1, "type": "image"}
    assert "made_by" not in spec["scale_metadata"]
    assert ts.open(spec).result().spec().to_json() == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [({"dtype": "uint16", "multiscale_metadata": {"data_type": "uint8"}}, "uint8"),
     ({"rank": 3}, "rank"),
     ({"dtype": "float64"}, "float64 data type is not one of the supported data types"),
     ({"scale_metadata": {"size": [2, 2, 2]}, "schema": {"domain": {"shape": [3, 2, 2, 1]}}}, "domain")],
)
def test_spec_contradictions_refused_as_tensorstore(spec: dict[str, Any], message: str) -> None:
    json_value = {"driver": "neuroglancer_precomputed", "kvstore": "memory://", **spec}
    with pytest.raises(ValueError, match=message):
        tensorstore.Spec(json_value)
    with pytest.raises(SpecError, match=message):
        ts.Spec(json_value)


@pytest.mark.parametrize(
    ("scale", "num_channels", "message"),
    [({"chunk_sizes": [[2**40, 2**40, 2**40]]}, 1, "invalid metadata in 'h/info': metadata: chunk shape"),
     ({}, 2**40, "invalid metadata in 'h/info': metadata: chunk shape .* above the limit"),
     ({"voxel_offset": [2**62 - 3, 0, 0]}, 1, r'"size" of \[4, 4, 4\] and "voxel_offset" of \[4611686018427387901, 0, 0\] '
                                             "do not specify a valid region")],
)
def test_absurd_stored_sizes_are_refused_before_allocating(scale: dict[str, Any], num_channels: int, message: str) -> None:
    context = ts.Context()
    info = {"@type": "neuroglancer_multiscale_volume", "type": "image", "data_type": "uint8", "num_channels": num_channels,
            "scales": [{"key": "s", "size": [4, 4, 4], "chunk_sizes": [[4, 4, 4]], "resolution": [1, 1, 1],
                        "encoding": "raw", **scale}]}
    ts.KvStore.open("memory://h/", context=context).result().write("info", json.dumps(info).encode()).result()
    with pytest.raises(ValueError, match=message):
        ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://h/"}, context=context).result()


def test_view_specs_cross_libraries(tmp_path: Path) -> None:
    """The spec of a strided view opens the same view in the other library."""
    wheel = tensorstore.open(volume_spec(f"file://{tmp_path}/v/"), create=True).result()
    wheel.write(data()).result()
    view = wheel[5:9, 0:3, ::2, 1]
    ours = ts.open(view.spec().to_json()).result()
    assert str(ours.domain) == str(view.domain)
    np.testing.assert_array_equal(ours.read().result(), view.read().result())
    back = tensorstore.open(ours.spec().to_json()).result()
    np.testing.assert_array_equal(back.read().result(), view.read().result())
    by_url = ts.open(f"file://{tmp_path}/v/|neuroglancer-precomputed:").result()
    np.testing.assert_array_equal(by_url.read().result(), data())


def test_two_creators_of_one_volume_cannot_both_win(tmp_path: Path) -> None:
    """create=True alone: of several creators of the same new volume exactly one succeeds
    (the info is written only if none exists); the others find the scale and fail."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            ts.open(volume_spec(f"file://{tmp_path}/one/"), create=True).result()
            outcome = "created"
        except ValueError as exc:
            outcome = "exists" if "already exists" in str(exc) else repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created"] + ["exists"] * 5
    info = json.loads((tmp_path / "one" / "info").read_text())
    assert len(info["scales"]) == 1


@settings(max_examples=20, deadline=None)
@given(
    size=st.lists(st.integers(1, 9), min_size=3, max_size=3),
    voxel_offset=st.lists(st.integers(-20, 20), min_size=3, max_size=3),
    chunk_size=st.lists(st.integers(1, 5), min_size=3, max_size=3),
    channels=st.integers(1, 3),
    data_type=st.sampled_from(["uint8", "int16", "uint32", "float32", "uint64"]),
)
def test_random_geometry_same_keys_and_bytes_as_tensorstore(
    size: list[int], voxel_offset: list[int], chunk_size: list[int], channels: int, data_type: str
) -> None:
    """Any size, offset and chunk size: both libraries store the same objects for the same
    values, and each reads the other's."""
    spec = {"driver": "neuroglancer_precomputed",
            "multiscale_metadata": {"data_type": data_type, "num_channels": channels, "type": "image"},
            "scale_metadata": {"size": size, "voxel_offset": voxel_offset, "chunk_size": chunk_size,
                               "resolution": [1, 2, 3], "encoding": "raw"}}
    values = (np.arange(np.prod(size) * channels) % 251 + 1).astype(data_type).reshape(*size, channels)
    objects = []
    for library in (ts, tensorstore):
        context = library.Context()
        store = library.open({**spec, "kvstore": "memory://g/"}, create=True, context=context).result()
        store.write(values).result()
        kvstore = library.KvStore.open("memory://g/", context=context).result()
        objects.append({key: kvstore.read(key).result().value for key in kvstore.list().result()})
    assert objects[0] == objects[1]
    context = ts.Context()
    kvstore = ts.KvStore.open("memory://g/", context=context).result()
    for key, value in objects[1].items():
        kvstore.write(key, value).result()
    np.testing.assert_array_equal(ts.open({"driver": "neuroglancer_precomputed", "kvstore": "memory://g/"},
                                          context=context).result().read().result(), values)
