"""The xarray backend (engine="ts") against xarray's own zarr engine on stores xarray wrote,
and against xarray-tensorstore."""

from __future__ import annotations

import asyncio
import itertools
import json
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")

from xarray.core import indexing  # noqa: E402

import ts_core as ts  # noqa: E402
from ts_core.xarray_backend import TsBackendArray, TsBackendEntrypoint  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:Consolidated metadata is currently not part:UserWarning",
    "ignore:Failed to open Zarr store with consolidated metadata:RuntimeWarning",
)

#: Encoding members both engines report (zarr's codec objects are zarr-python's own).
_ENCODING_KEYS = (
    "chunks",
    "preferred_chunks",
    "shards",
    "fill_value",
    "_FillValue",
    "missing_value",
    "scale_factor",
    "add_offset",
    "units",
    "calendar",
    "dtype",
    "coordinates",
)


def _dataset() -> Any:
    time = pd.date_range("2000-01-01", periods=8, freq="D")
    temperature = np.arange(8 * 6 * 4, dtype="float32").reshape(8, 6, 4)
    temperature[0, 0, 0] = np.nan
    return xr.Dataset(
        {
            "temperature": (("time", "x", "y"), temperature, {"units": "K", "long_name": "air"}),
            "counts": (("x", "y"), np.arange(24, dtype="int16").reshape(6, 4)),
            "scaled": (("time",), np.array([1.5, 2.5, np.nan, 4.0, 5.25, 6.0, 7.0, 8.5])),
            "flags": (("y",), np.array([True, False, True, True])),
            "origin": ((), np.int32(7), {"comment": "a scalar"}),
            "latitude": (("x",), np.linspace(-10.0, 10.0, 6)),
        },
        coords={"time": time, "x": np.arange(6) * 10.0, "label": ("y", np.arange(1, 5))},
        attrs={"title": "test data", "version": 3, "sizes": [1, 2]},
    ).set_coords("latitude")


def _encoding(zarr_format: int) -> dict[str, Any]:
    encoding = {
        "scaled": {"dtype": "int16", "scale_factor": 0.25, "add_offset": 1.0, "_FillValue": -999},
        "temperature": {"chunks": (2, 3, 2)},
        "counts": {"_FillValue": -1, "chunks": (3, 4)},
    }
    if zarr_format == 3:  # a sharded array: chunks of (2, 2) in shards of (6, 4)
        encoding["counts"] = {"_FillValue": -1, "chunks": (3, 2), "shards": (6, 4)}
    return encoding


def _write(path: Path, zarr_format: int, **options: Any) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _dataset().to_zarr(
            path, zarr_format=zarr_format, encoding=_encoding(zarr_format), mode="w", **options
        )
    return path


@pytest.fixture(scope="module", params=[2, 3], ids=["zarr2", "zarr3"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    zarr_format = request.param
    path = _write(tmp_path_factory.mktemp("xarray") / f"data{zarr_format}.zarr", zarr_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"inner": (("z",), np.arange(5, dtype="uint8"))}, attrs={"level": 2}).to_zarr(
            path, group="sub/deeper", zarr_format=zarr_format, mode="w"
        )
    return path, zarr_format


def _reads() -> int:
    """Reads the file kvstore has served, process-wide (tensorstore's metric)."""
    found = ts.experimental_collect_matching_metrics("/tensorstore/kvstore/file/read")
    return int(found[0]["values"][0]["value"]) if found else 0


def _assert_same(ours: Any, theirs: Any) -> None:
    xr.testing.assert_identical(ours, theirs)
    for name, variable in theirs.variables.items():
        expected = {
            key: variable.encoding[key] for key in _ENCODING_KEYS if key in variable.encoding
        }
        actual = {
            key: ours[name].encoding[key] for key in _ENCODING_KEYS if key in ours[name].encoding
        }
        assert actual.keys() == expected.keys(), name
        for key, value in expected.items():
            if isinstance(value, float | np.floating) and np.isnan(value):
                assert np.isnan(actual[key]), (name, key)
            else:
                assert actual[key] == value, (name, key)
                assert type(actual[key]) is type(value), (name, key)


def test_entry_point_registered() -> None:
    assert isinstance(xr.backends.list_engines()["ts"], TsBackendEntrypoint)


def test_open_equals_zarr_engine(store: tuple[Path, int]) -> None:
    path, _ = store
    ours = xr.open_dataset(path, engine="ts")
    theirs = xr.open_dataset(path, engine="zarr")
    _assert_same(ours, theirs)
    assert set(ours.coords) == {"time", "x", "label", "latitude"}
    assert ours.temperature.dims == ("time", "x", "y")
    assert ours.temperature.attrs == {"units": "K", "long_name": "air"}
    assert ours.time.dtype.kind == "M"
    assert ours.scaled.values[2] != ours.scaled.values[2]  # the _FillValue masked
    assert ours.counts.encoding["chunks"] == theirs.counts.encoding["chunks"]


@pytest.mark.parametrize(
    "options",
    [
        {"mask_and_scale": False},
        {"decode_times": False},
        {"decode_coords": False},
        {"use_zarr_fill_value_as_mask": True},
        {"use_zarr_fill_value_as_mask": False},
        {"drop_variables": ["scaled", "time"]},
        {"drop_variables": "counts"},
    ],
)
def test_decoding_options_as_zarr_engine(store: tuple[Path, int], options: dict[str, Any]) -> None:
    path, _ = store
    their_options = dict(options)
    if "use_zarr_fill_value_as_mask" in options:
        # xarray's zarr engine takes this only through a ZarrStore (its open_dataset drops it)
        their_options["store"] = xr.backends.ZarrStore.open_group(
            str(path), use_zarr_fill_value_as_mask=their_options.pop("use_zarr_fill_value_as_mask")
        )
    _assert_same(
        xr.open_dataset(path, engine="ts", **options),
        xr.open_dataset(path, engine="zarr", **their_options),
    )


@pytest.mark.parametrize("consolidated", [None, True, False])
def test_groups(store: tuple[Path, int], consolidated: bool | None) -> None:
    path, _ = store
    for group in ("sub/deeper", "/sub/deeper/", "sub"):
        ours = xr.open_dataset(path, engine="ts", group=group, consolidated=consolidated)
        theirs = xr.open_dataset(path, engine="zarr", group=group, consolidated=consolidated)
        _assert_same(ours, theirs)
    assert xr.open_dataset(path, engine="ts", group="sub/deeper").attrs == {"level": 2}


@pytest.mark.parametrize("consolidated", [None, False])
def test_datatree_equals_zarr_engine(store: tuple[Path, int], consolidated: bool | None) -> None:
    path, _ = store
    for group in (None, "sub"):
        ours = xr.open_datatree(path, engine="ts", group=group, consolidated=consolidated)
        theirs = xr.open_datatree(path, engine="zarr", group=group, consolidated=consolidated)
        xr.testing.assert_identical(ours, theirs)
    tree = xr.open_datatree(path, engine="ts")
    assert [node.path for node in tree.subtree] == ["/", "/sub", "/sub/deeper"]
    assert list(xr.open_groups(path, engine="ts", group="sub")) == ["/", "/deeper"]


_SELECTIONS = [
    {"time": 3},
    {"time": -1, "x": slice(1, 5)},
    {"time": slice(None, None, 3), "y": slice(3, 0, -1)},
    {"time": slice(None, None, -2), "x": -2},
    {"time": slice(5, 2)},
    {"time": [0, 7, 2], "y": [3, 0]},
    {"time": [-1, 0], "x": slice(2, None)},
    {"time": np.array([], dtype=int)},
    # vectorized: points along a new dimension
    {"time": xr.DataArray([0, 7, 3], dims="p"), "x": xr.DataArray([5, 0, 2], dims="p")},
    {
        "time": xr.DataArray([[0, 1], [6, 7]], dims=("a", "b")),
        "y": xr.DataArray([3, 0], dims="b"),
        "x": 1,
    },
]


@pytest.mark.parametrize("selection", _SELECTIONS)
def test_indexing_equals_zarr_engine(store: tuple[Path, int], selection: dict[str, Any]) -> None:
    path, _ = store
    ours = xr.open_dataset(path, engine="ts")
    theirs = xr.open_dataset(path, engine="zarr")
    for name in ("temperature", "scaled", "counts"):
        wanted = {dim: index for dim, index in selection.items() if dim in ours[name].dims}
        xr.testing.assert_identical(ours[name].isel(wanted), theirs[name].isel(wanted))
    xr.testing.assert_identical(ours.origin, theirs.origin)  # a rank-0 array


def test_lazy_indexing_reads_only_the_chunks_needed(store: tuple[Path, int]) -> None:
    path, _ = store
    ds = xr.open_dataset(path, engine="ts")  # temperature: shape (8, 6, 4), chunks (2, 3, 2)
    before = _reads()
    values = ds.temperature.isel(time=1, x=slice(0, 2)).values
    assert values.shape == (2, 4)  # one chunk along time and x, two along y
    assert _reads() - before == 2
    before = _reads()
    values = ds.temperature.isel(time=[0, 7], x=[1, 4], y=[0]).values  # 2 x 2 x 1 chunks
    assert values.shape == (2, 2, 1)
    assert _reads() - before == 4
    before = _reads()
    points = {
        dim: xr.DataArray(index, dims="p")
        for dim, index in {"time": [0, 1, 7], "x": [0, 2, 5], "y": [0, 1, 3]}.items()
    }
    np.testing.assert_array_equal(ds.temperature.isel(points).values[1:], [33.0, 191.0])
    # points 0 and 1 share a chunk; a vectorized read fetches no box around the points
    assert _reads() - before == 2
    before = _reads()
    # within one shard (v3): the shard index and one inner chunk
    assert ds.counts.isel(x=4, y=3).values == 19
    assert _reads() - before == (1 if store[1] == 2 else 2)


def test_opening_reads_no_data_variable(store: tuple[Path, int]) -> None:
    path, _ = store
    before = _reads()
    ds = xr.open_dataset(path, engine="ts")
    # metadata (4 keys probed) and the two index coordinates, time read 3 times by xarray's
    # time decoding (first, last, all) and x once; no chunk of a data variable
    assert _reads() - before == 8
    assert isinstance(ds.temperature.variable._data, xr.core.indexing.MemoryCachedArray)


def test_unconsolidated_store_is_listed(tmp_path: Path) -> None:
    for zarr_format in (2, 3):
        path = _write(tmp_path / f"plain{zarr_format}.zarr", zarr_format, consolidated=False)
        _assert_same(
            xr.open_dataset(path, engine="ts"),
            xr.open_dataset(path, engine="zarr", consolidated=False),
        )
        with pytest.raises(ValueError, match="consolidated=True"):
            xr.open_dataset(path, engine="ts", consolidated=True)


def test_consolidated_metadata_is_what_is_read(tmp_path: Path) -> None:
    """A consolidated store is opened from its consolidated metadata alone, as zarr's engine
    does: an array's own metadata object is not read."""
    path = _write(tmp_path / "c.zarr", 2)
    (path / "counts" / ".zattrs").write_text(json.dumps({"_ARRAY_DIMENSIONS": ["a", "b"]}))
    assert xr.open_dataset(path, engine="ts").counts.dims == ("x", "y")
    assert xr.open_dataset(path, engine="ts", consolidated=False).counts.dims == ("a", "b")


def test_locations(store: tuple[Path, int]) -> None:
    path, zarr_format = store
    expected = xr.open_dataset(path, engine="zarr")
    driver = {2: "zarr", 3: "zarr3"}[zarr_format]
    url = f"file://{path}/"
    locations = [
        str(path),
        url,
        f"{url}|{driver.replace('zarr', 'zarr2') if zarr_format == 2 else driver}:",
        {"driver": "file", "path": str(path)},
        {"driver": driver, "kvstore": url},
        {
            "driver": driver,
            "kvstore": {"driver": "file", "path": str(path.parent)},
            "path": path.name,
        },
        ts.KvStore.open(url).result(),
        ts.KvStore.Spec(url),
    ]
    for location in locations:
        xr.testing.assert_identical(xr.open_dataset(location, engine="ts"), expected)
    # a URL naming a zarr driver is recognised without engine=
    xr.testing.assert_identical(
        xr.open_dataset(f"{url}|{'zarr2' if zarr_format == 2 else 'zarr3'}:"), expected
    )


def test_guess_can_open() -> None:
    entry = TsBackendEntrypoint()
    assert entry.guess_can_open("file:///data/x.zarr|zarr3:")
    assert entry.guess_can_open("memory://x/|zarr2:")
    assert entry.guess_can_open({"driver": "zarr3", "kvstore": "memory://"})
    assert entry.guess_can_open(ts.KvStore.Spec("memory://x/"))
    assert not entry.guess_can_open("/data/x.zarr")  # plain paths stay with the zarr engine
    assert not entry.guess_can_open("/data/x.nc")
    assert not entry.guess_can_open("file:///data/x.zip|zip:")


def test_memory_kvstore_in_a_shared_context() -> None:
    context = ts.Context()
    array = ts.open(
        {"driver": "zarr3", "kvstore": "memory://g/a/", "metadata": {"dimension_names": ["d"]}},
        create=True,
        dtype=ts.float64,
        shape=[4],
        context=context,
    ).result()
    array[...] = np.arange(4.0)
    kvstore = ts.KvStore.open("memory://g/", context=context).result()
    kvstore["zarr.json"] = json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": {"k": 1}}
    )
    ds = xr.open_dataset("memory://g/", engine="ts", context=context)
    assert ds.attrs == {"k": 1}
    np.testing.assert_array_equal(ds.a.values, np.arange(4.0))
    assert ds.a.encoding["fill_value"] == 0.0
    assert xr.open_dataset(kvstore, engine="ts").a.dims == ("d",)


def test_errors(store: tuple[Path, int], tmp_path: Path) -> None:
    path, zarr_format = store
    with pytest.raises(FileNotFoundError, match=r"no zarr group at file://.*/missing/"):
        xr.open_dataset(path, engine="ts", group="missing")
    with pytest.raises(FileNotFoundError, match=r"zarr\.json or \.zgroup"):
        xr.open_dataset(tmp_path, engine="ts")
    other = 3 if zarr_format == 2 else 2
    with pytest.raises(FileNotFoundError):
        xr.open_dataset(path, engine="ts", zarr_format=other)
    with pytest.raises(ValueError, match="zarr_format: expected 2, 3 or None"):
        xr.open_dataset(path, engine="ts", zarr_format=4)
    with pytest.raises(ValueError, match="contradicts"):
        xr.open_dataset(
            {"driver": "zarr3", "kvstore": f"file://{path}/"}, engine="ts", zarr_format=2
        )
    with pytest.raises(ValueError, match="driver: engine='ts' opens zarr groups"):
        xr.open_dataset({"driver": "n5", "kvstore": f"file://{path}/"}, engine="ts")
    with pytest.raises(TypeError, match="received int"):
        xr.open_dataset(5, engine="ts")
    if zarr_format == 3:
        with pytest.raises(ValueError, match="a zarr array, not a group"):
            xr.open_dataset(path / "counts", engine="ts")


def test_missing_dimension_names_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.zarr", 2, consolidated=False)
    (path / "counts" / ".zattrs").write_text("{}")
    with pytest.raises(KeyError, match=r"'counts' .* lacks the _ARRAY_DIMENSIONS attribute"):
        xr.open_dataset(path, engine="ts")
    path = _write(tmp_path / "d3.zarr", 3, consolidated=False)
    metadata = json.loads((path / "counts" / "zarr.json").read_text())
    del metadata["dimension_names"]
    (path / "counts" / "zarr.json").write_text(json.dumps(metadata))
    with pytest.raises(KeyError, match="lacks the dimension_names metadata"):
        xr.open_dataset(path, engine="ts")


def test_unsupported_dtype_names_variable_and_drop_variables_skips_it(tmp_path: Path) -> None:
    dataset = xr.Dataset({"a": (("x",), np.arange(3.0))}, coords={"name": ("x", ["p", "q", "r"])})
    for zarr_format in (2, 3):
        path = tmp_path / f"s{zarr_format}.zarr"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.to_zarr(path, zarr_format=zarr_format, mode="w")
        with pytest.raises(ValueError, match=r"variable 'name' .*drop_variables=\['name'\]"):
            xr.open_dataset(path, engine="ts")
        _assert_same(
            xr.open_dataset(path, engine="ts", drop_variables=["name"]),
            xr.open_dataset(path, engine="zarr", drop_variables=["name"]),
        )


def test_dask_chunks_follow_the_stored_chunks(store: tuple[Path, int]) -> None:
    pytest.importorskip("dask")
    path, _ = store
    ours = xr.open_dataset(path, engine="ts", chunks={})
    theirs = xr.open_dataset(path, engine="zarr", chunks={})
    assert ours.temperature.chunks == theirs.temperature.chunks == ((2,) * 4, (3, 3), (2, 2))
    xr.testing.assert_identical(ours.compute(), theirs.compute())


def test_pickled_lazy_dataset_reads_in_the_copy(store: tuple[Path, int]) -> None:
    path, _ = store
    ds = xr.open_dataset(path, engine="ts")
    copy = pickle.loads(pickle.dumps(ds))
    xr.testing.assert_identical(
        copy.isel(time=slice(2, 5)), xr.open_dataset(path, engine="zarr").isel(time=slice(2, 5))
    )


def test_async_load(store: tuple[Path, int]) -> None:
    path, _ = store
    ours = xr.open_dataset(path, engine="ts").isel(time=[1, 6], x=slice(None, None, 2))
    loaded = asyncio.run(ours.load_async())
    xr.testing.assert_identical(
        loaded, xr.open_dataset(path, engine="zarr").isel(time=[1, 6], x=slice(None, None, 2))
    )


def test_same_values_as_xarray_tensorstore(tmp_path: Path) -> None:
    xarray_tensorstore = pytest.importorskip("xarray_tensorstore")
    pytest.importorskip("tensorstore")
    for zarr_format in (2, 3):
        path = tmp_path / f"xt{zarr_format}.zarr"
        # xarray-tensorstore decodes no fill value or scaling of data variables: floats only
        dataset = _dataset().drop_vars(["scaled", "counts", "flags", "origin"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.to_zarr(
                path,
                zarr_format=zarr_format,
                encoding={"temperature": {"chunks": (2, 3, 2)}},
                mode="w",
            )
            theirs = xarray_tensorstore.open_zarr(str(path))
        ours = xr.open_dataset(path, engine="ts")
        for selection in ({}, {"time": 2}, {"time": slice(1, 7, 2), "y": [3, 1]}, {"x": -1}):
            xr.testing.assert_equal(
                ours.isel(selection).compute(), theirs.isel(selection).compute()
            )


def test_chunks_removed_after_open_read_as_fill_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "gone.zarr", 3)
    ds = xr.open_dataset(path, engine="ts")
    shutil.rmtree(path / "temperature")
    # missing chunks read as the fill value, as in zarr
    assert np.isnan(ds.temperature.isel(time=0).values).all()


def test_backend_array_indexes_as_numpy() -> None:
    """Every slice NumPy takes (negative bounds and steps, empty, past the ends), integers
    counted from the end, and outer and vectorized index arrays with negative entries."""
    data = np.arange(30).reshape(6, 5)
    array = TsBackendArray(ts.array(data))
    bounds = [None, -8, -6, -2, -1, 0, 1, 3, 5, 6, 9]
    for start, stop, step in itertools.product(bounds, bounds, [None, 1, 2, -1, -3]):
        term = slice(start, stop, step)
        if (step or 1) < 0 and not range(*term.indices(6)):
            continue  # xarray's own key decomposition fails on these; its lazy indexing sends none
        key = indexing.BasicIndexer((term, -2))
        np.testing.assert_array_equal(array[key], data[term, -2], err_msg=str(term))
    outer = indexing.OuterIndexer((np.array([-1, 0, 2]), slice(None, None, -2)))
    np.testing.assert_array_equal(array[outer], data[[-1, 0, 2]][:, ::-2])
    points = indexing.VectorizedIndexer((np.array([[-1], [0]]), np.array([[1, -1]])))
    np.testing.assert_array_equal(array[points], data[np.array([[-1], [0]]), np.array([[1, -1]])])
    assert array.dtype == data.dtype
    assert array.shape == (6, 5)
