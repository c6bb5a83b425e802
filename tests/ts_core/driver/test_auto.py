"""The auto driver: formats detected from what is stored, compared with the tensorstore wheel,
errors when nothing or several formats match, and detectors a third party registers."""

from __future__ import annotations

import io
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver.auto import DetectedFormat, detect_format
from ts_core.plugin import hookimpl, register_plugin, reset_registry

ARRAY = np.arange(6, dtype=np.int16).reshape(2, 3)


def create(url: str, module: Any = ts, **options: Any) -> Any:
    store = module.open(url, dtype="int16", shape=[2, 3], create=True, **options).result()
    store.write(ARRAY).result()
    return store


@pytest.mark.parametrize(("scheme", "driver"), [("zarr3", "zarr3"), ("zarr2", "zarr"), ("n5", "n5"), ("chunkdir", "chunkdir")])
def test_detects_each_format(scheme: str, driver: str) -> None:
    context = ts.Context()
    create(f"memory://array/|{scheme}:", context=context)
    for url in ("memory://array/", "memory://array", "memory://array/|auto", "memory://array/|auto:"):
        opened = ts.open(url, context=context).result()
        spec = opened.spec().to_json()
        assert spec["driver"] == driver
        assert spec["kvstore"] == {"driver": "memory", "path": "array/"}
        np.testing.assert_array_equal(opened.read().result(), ARRAY)


@pytest.mark.parametrize("scheme", ["zarr3", "zarr2", "n5"])
def test_wheel_and_ts_detect_each_others_arrays(tmp_path: Path, scheme: str) -> None:
    tensorstore = pytest.importorskip("tensorstore")
    create(f"file://{tmp_path}/ours/|{scheme}:")
    create(f"file://{tmp_path}/theirs/|{scheme}:", module=tensorstore)
    theirs_of_ours = tensorstore.open(f"file://{tmp_path}/ours").result()
    ours_of_theirs = ts.open(f"file://{tmp_path}/theirs").result()
    assert ours_of_theirs.spec().to_json()["driver"] == theirs_of_ours.spec().to_json()["driver"]
    np.testing.assert_array_equal(ours_of_theirs.read().result(), ARRAY)
    np.testing.assert_array_equal(theirs_of_ours.read().result(), ARRAY)


def _error(call: Any) -> str:
    with pytest.raises(ValueError, match=r"\w") as info:  # any message; callers compare it
        call()
    return str(info.value)


@pytest.fixture
def both() -> tuple[Any, Any]:
    tensorstore = pytest.importorskip("tensorstore")
    return ts.Context(), tensorstore.Context()


def test_nothing_detected_says_so_like_the_wheel(tmp_path: Path, both: tuple[Any, Any]) -> None:
    import tensorstore

    for url in ("memory://x/", f"file://{tmp_path}/nothing/", f"file://{tmp_path}/nothing"):
        ours = _error(lambda url=url: ts.open(url).result())
        theirs = _error(lambda url=url: tensorstore.open(url).result())
        assert ours.startswith('Error opening "auto" driver: Failed to detect format for ')
        assert ours in theirs


def test_several_formats_say_so_like_the_wheel(both: tuple[Any, Any]) -> None:
    import tensorstore

    ours_context, theirs_context = both
    for module, context in ((ts, ours_context), (tensorstore, theirs_context)):
        create("memory://z/|zarr3:", module=module, context=context)
        create("memory://z/|zarr2:", module=module, context=context)
    ours = _error(lambda: ts.open("memory://z/", context=ours_context).result())
    theirs = _error(lambda: tensorstore.open("memory://z/", context=theirs_context).result())
    assert ours == 'Error opening "auto" driver: Multiple possible formats detected for "z/": {zarr2, zarr3}'
    assert ours in theirs


def test_create_is_refused_like_the_wheel(both: tuple[Any, Any]) -> None:
    import tensorstore

    ours = _error(lambda: ts.open("memory://x/", create=True, dtype="int32", shape=[3]).result())
    theirs = _error(lambda: tensorstore.open("memory://x/", create=True, dtype="int32", shape=[3]).result())
    assert ours == theirs == "create mode not compatible with format auto-detection"


def test_a_zip_is_detected_then_what_it_holds(tmp_path: Path) -> None:
    tensorstore = pytest.importorskip("tensorstore")
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        archive.writestr("readme", b"")
    create(f"file://{tmp_path}/data.zip|zip:|zarr3:", module=tensorstore)
    for url in (f"file://{tmp_path}/data.zip", f"file://{tmp_path}/data.zip|zip:"):
        opened = ts.open(url).result()
        assert opened.spec().to_json()["kvstore"] == {"driver": "zip", "base": {"driver": "file", "path": f"{tmp_path}/data.zip"}}
        np.testing.assert_array_equal(opened.read().result(), ARRAY)


def test_nothing_in_a_zip_names_the_archive(tmp_path: Path) -> None:
    tensorstore = pytest.importorskip("tensorstore")
    (tmp_path / "a.zip").write_bytes(_zip({"x": b"1"}))
    ours = _error(lambda: ts.open(f"file://{tmp_path}/a.zip").result())
    assert ours == f'Error opening "auto" driver: Failed to detect format for "" in local file "{tmp_path}/a.zip"'
    assert ours in _error(lambda: tensorstore.open(f"file://{tmp_path}/a.zip").result())


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in members.items():
            archive.writestr(name, value)
    return buffer.getvalue()


def test_kvstore_specs_where_a_tensorstore_spec_belongs() -> None:
    for value in ({"driver": "file", "path": "/tmp/x"}, ts.KvStore.Spec("file:///tmp/x").to_json(), "file:///tmp/x"):
        assert ts.Spec(value).to_json() == {"driver": "auto", "kvstore": {"driver": "file", "path": "/tmp/x"}}


def test_options_pass_on_to_the_detected_driver() -> None:
    context = ts.Context()
    create("memory://a/|zarr3:", context=context)
    view = ts.open(
        {"driver": "auto", "kvstore": "memory://a/", "transform": {"input_inclusive_min": [0, 1], "input_exclusive_max": [2, 3]}},
        context=context, read=True, write=False,
    ).result()
    np.testing.assert_array_equal(view.read().result(), ARRAY[:, 1:])
    with pytest.raises(ValueError, match="int64"):
        ts.open({"driver": "auto", "kvstore": "memory://a/", "dtype": "int64"}, context=context).result()
    cast = ts.open("memory://a/|cast:float32", context=context).result()
    assert cast.dtype == ts.float32
    np.testing.assert_array_equal(cast.read().result(), ARRAY.astype(np.float32))


def test_path_member_is_joined_onto_the_kvstore() -> None:
    context = ts.Context()
    create("memory://a/b/|n5:", context=context)
    opened = ts.open({"driver": "auto", "kvstore": "memory://a/", "path": "b"}, context=context).result()
    assert opened.spec().to_json()["kvstore"]["path"] == "a/b/"


# -- detectors of third parties ------------------------------------------------------------------
def magic_matcher(prefix: bytes, suffix: bytes) -> bool:
    return prefix.startswith(b"MAGIC")


@pytest.fixture
def third_party() -> Iterator[None]:
    module = types.ModuleType("auto_detect_demo")
    module.magic_matcher = magic_matcher  # type: ignore[attr-defined]
    sys.modules["auto_detect_demo"] = module

    class Plugin:
        @hookimpl
        def ts_register(self, registry: Any) -> None:
            registry.add("auto_detect", "magic", "auto_detect_demo:magic_matcher",
                         spec={"driver": "magic"}, prefix_length=5)
            registry.add("auto_detect", "also_chunkdir", "ts_core.driver.auto:all_files_present",
                         spec={"driver": "chunkdir"}, files=["chunkdir.json", "marker"])

    register_plugin(Plugin(), name="auto-detect-demo")
    yield
    reset_registry()
    del sys.modules["auto_detect_demo"]


@pytest.mark.usefixtures("third_party")
def test_third_party_detectors() -> None:
    context = ts.Context()
    root = ts.KvStore.open("memory://", context=context).result()
    root["file.bin"] = b"MAGIC and more"
    matches, _ = detect_format(ts.KvStore.open("memory://file.bin", context=context).result())
    assert matches == [DetectedFormat("magic", "driver", {"driver": "magic"})]
    create("memory://d/|chunkdir:", context=context)
    assert ts.open("memory://d/", context=context).result().spec().to_json()["driver"] == "chunkdir"
    root["d/marker"] = b""
    message = _error(lambda: ts.open("memory://d/", context=context).result())
    assert message.endswith('Multiple possible formats detected for "d/": {also_chunkdir, chunkdir}')


def test_a_file_that_no_format_claims_is_not_a_directory() -> None:
    context = ts.Context()
    ts.KvStore.open("memory://", context=context).result()["plain"] = b"just bytes"
    matches, store = detect_format(ts.KvStore.open("memory://plain", context=context).result())
    assert (matches, store.path) == ([], "plain")


def test_a_kvstore_spec_object_opens_with_auto_detection() -> None:
    context = ts.Context()
    create("memory://k/|zarr2:", context=context)
    spec = ts.KvStore.open("memory://k/", context=context).result().spec()
    assert ts.Spec(spec).to_json() == {"driver": "auto", "kvstore": {"driver": "memory", "path": "k/"}}
    assert ts.open(spec, context=context).result().spec().to_json()["driver"] == "zarr"
