"""Differential tests: type names and small behaviours of ts_core match the tensorstore wheel."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import tensorstore

import ts_core

LIBRARIES = pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])


def _class_text(cls: type) -> str:
    return repr(cls).replace("tensorstore.", "ts_core.")


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda ts: ts.Context.Spec({"cache_pool": {"total_bytes_limit": 5}}), "Context.Spec"),
        (lambda ts: ts.Context({"cache_pool": {}}).spec, "Context.Spec"),
        (lambda ts: ts.Context()["cache_pool"], "Context.Resource"),
        (lambda ts: ts.KvStore.Spec("memory://a/"), "KvStore.Spec"),
    ],
)
def test_nested_class_names_match(make: Any, path: str) -> None:
    ours, theirs = make(ts_core), make(tensorstore)
    assert type(ours).__name__ == type(theirs).__name__ == path.split(".")[-1]
    assert type(ours).__qualname__ == type(theirs).__qualname__ == path
    assert _class_text(type(ours)) == _class_text(type(theirs)) == f"<class 'ts_core.{path}'>"
    outer, inner = path.split(".")
    assert isinstance(ours, getattr(getattr(ts_core, outer), inner))
    assert type(pickle.loads(pickle.dumps(ours))) is type(ours)


@LIBRARIES
def test_context_json_keyword_and_resource_include_defaults(ts: Any) -> None:
    context = ts.Context(json={"cache_pool#a": {"total_bytes_limit": 10}})
    assert context.spec.to_json() == {"cache_pool#a": {"total_bytes_limit": 10}}
    assert context["cache_pool#a"].to_json(include_defaults=False) == {"total_bytes_limit": 10}


@pytest.mark.parametrize("selection", [0, slice(0, 2), slice(None), ("x", 1)])
def test_dim_selection_type(selection: Any) -> None:
    for ts in (ts_core, tensorstore):
        expr = ts.d[selection]
        assert type(expr).__name__ == "DimSelection"
        assert isinstance(expr, ts.DimSelection)
        assert isinstance(expr, ts.DimExpression)
        assert not isinstance(expr.translate_by[1], ts.DimSelection)
        assert repr(pickle.loads(pickle.dumps(expr))) == repr(expr)
    assert repr(ts_core.d[selection]) == repr(tensorstore.d[selection])
    assert _class_text(ts_core.DimSelection) == _class_text(tensorstore.DimSelection)


@LIBRARIES
def test_dim_selection_has_no_constructor(ts: Any) -> None:
    with pytest.raises(TypeError, match="No constructor defined"):
        ts.DimSelection()


@LIBRARIES
def test_output_index_method_is_not_an_int(ts: Any) -> None:
    method = ts.OutputIndexMethod
    assert isinstance(method.name, property)
    assert isinstance(method.value, property)
    assert method.constant.name == "constant"
    assert method.array.value == 2
    assert (method.constant == 0) is False
    assert method.constant != 0
    assert method.single_input_dimension == method.single_input_dimension
    assert int(method.array) == 2
    assert [10, 20, 30][method.array] == 30
    assert bool(method.constant) is True
    assert method(1) == method.single_input_dimension
    assert repr(method.array) == "<OutputIndexMethod.array: 2>"
    assert str(method.array) == "OutputIndexMethod.array"
    with pytest.raises(TypeError):
        _ = method.constant < method.array  # type: ignore[operator]
    transform = ts.IndexTransform(input_shape=[3], output=[ts.OutputIndexMap(index_array=[1, 2, 0])])
    assert pickle.loads(pickle.dumps(transform)) == transform


@LIBRARIES
@pytest.mark.parametrize("path", ["x/", "", "a b/"])
def test_file_url_of_relative_path_is_refused(ts: Any, path: str) -> None:
    spec = ts.KvStore.Spec({"driver": "file", "path": path})
    with pytest.raises(ValueError, match="file: URIs do not support relative paths"):
        spec.url  # noqa: B018


@LIBRARIES
def test_file_url_of_absolute_path(ts: Any) -> None:
    assert ts.KvStore.Spec({"driver": "file", "path": "/data/x y/"}).url == "file:///data/x%20y/"


@LIBRARIES
def test_rankless_schema_transpose_is_unchanged(ts: Any) -> None:
    schema = ts.Schema(dtype=ts.int32)
    assert schema.T.to_json() == {"dtype": "int32"}
    assert schema.transpose().to_json() == {"dtype": "int32"}
    assert ts.Schema(rank=2, dtype=ts.int32).T.to_json() == {"dtype": "int32", "rank": 2}


@LIBRARIES
def test_codec_spec_of_unknown_driver_is_refused(ts: Any) -> None:
    with pytest.raises(ValueError, match='"no_such_driver" is not registered'):
        ts.CodecSpec({"driver": "no_such_driver"})
    assert ts.CodecSpec({"driver": "zarr3"}).to_json() == {"driver": "zarr3"}


@LIBRARIES
def test_codec_spec_json_members_are_sorted(ts: Any) -> None:
    codec = ts.CodecSpec({"driver": "n5", "compression": {"type": "raw"}})
    assert list(codec.to_json()) == ["compression", "driver"]


@LIBRARIES
@pytest.mark.parametrize(
    "codec_json",
    [{"driver": "zarr"}, {"driver": "zarr", "compressor": None}, {"driver": "zarr", "compressor": {"id": "blosc"}}],
)
def test_zarr_codec_spec_json_is_normalised(ts: Any, codec_json: dict[str, Any]) -> None:
    expected = tensorstore.CodecSpec(codec_json).to_json()
    codec = ts.CodecSpec(codec_json)
    assert codec.to_json() == expected
    assert list(codec.to_json()) == list(expected)
    assert pickle.loads(pickle.dumps(codec)).to_json() == expected
