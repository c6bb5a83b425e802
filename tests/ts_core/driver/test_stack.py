"""The stack driver (``ts.stack``, ``ts.concat``, ``ts.overlay``): conformance over zarr
layers, and differential checks against the tensorstore wheel."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import SpecError
from ts_core.testing.driver import DriverConformance

tensorstore = pytest.importorskip("tensorstore")


class TestStackConformance(DriverConformance):
    """Two zarr layers concatenated along the longest dimension."""

    driver = "stack"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        axis = int(np.argmax(shape))
        split = shape[axis] // 2
        layers = []
        for index, size in enumerate((split, shape[axis] - split)):
            layer_shape = list(shape)
            layer_shape[axis] = size
            layer_kvstore = {**kvstore, "path": f"{kvstore['path']}l{index}/"}
            layers.append(ts.open(
                {"driver": "zarr", "kvstore": layer_kvstore, "metadata": {"chunks": list(chunks)}},
                create=True, shape=layer_shape, dtype=dtype, fill_value=fill_value, context=context,
            ).result())
        return ts.concat(layers, axis=axis, context=context)

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        """Reopening from ``spec()`` applies; a minimal ``{"driver", "kvstore"}`` spec does not:
        a stack has no kvstore of its own (its layers have), so that member is refused."""
        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = np.arange(30, dtype=np.uint16).reshape(6, 5)
        store.write(data).result()
        reopened = ts.open(store.spec(), context=self._context).result()
        np.testing.assert_array_equal(reopened.read().result(), data)
        with pytest.raises(SpecError, match="kvstore"):
            ts.open({"driver": "stack", "layers": [], "kvstore": kvstore}).result()

    def test_open_missing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Opening a stack opens no layer (as in tensorstore): a missing layer fails on first use."""
        layer = {"driver": "zarr", "kvstore": kvstore, "dtype": "uint16", "schema": {"domain": {"shape": [2]}}}
        store = ts.open({"driver": "stack", "layers": [layer]}, context=context).result()
        with pytest.raises(ValueError, match="While opening layer 0"):
            store.read().result()

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        """Open modes do not apply: the stack passes none to its layers (nor does tensorstore's),
        so reopening with ``delete_existing`` keeps the layers' data."""
        store = self._create(kvstore, context, (4,), (2,))
        store.write(np.arange(4, dtype=np.uint16)).result()
        again = ts.open(store.spec(), create=True, delete_existing=True, context=self._context).result()
        np.testing.assert_array_equal(again.read().result(), np.arange(4, dtype=np.uint16))

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        """Chunk storage is the layers' business: a stack has no kvstore and no fill value."""
        store = self._create(kvstore, context, (4, 4), (2, 2), fill_value=3)
        assert store.kvstore is None
        assert store.fill_value is None
        np.testing.assert_array_equal(store.read().result(), np.full((4, 4), 3, np.uint16))


def both(function: Any) -> tuple[Any, Any]:
    """``function(library)`` for ts and the wheel: the result, or the exception type."""
    outcomes = []
    for library in (ts, tensorstore):
        try:
            outcomes.append(function(library))
        except Exception as exc:
            outcomes.append(type(exc))
    return outcomes[0], outcomes[1]


def layers(library: Any) -> tuple[Any, Any]:
    a = library.array(np.arange(6, dtype=np.int32).reshape(2, 3))
    b = library.array(np.arange(6, 12, dtype=np.int32).reshape(2, 3))
    return a, b


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.stack(layers(lib)),
        lambda lib: lib.stack(layers(lib), axis=-1),
        lambda lib: lib.stack(layers(lib), axis=1),
        lambda lib: lib.concat(layers(lib), axis=0),
        lambda lib: lib.concat(layers(lib), axis=-1),
        lambda lib: lib.concat([x[lib.d[:].label["x", "y"]] for x in layers(lib)], axis="y"),
        lambda lib: lib.overlay([layers(lib)[0], layers(lib)[1][:, 1:][lib.d[:].translate_by[0, 1]]]),
        lambda lib: lib.overlay([layers(lib)[0], layers(lib)[1][1:]]),
        lambda lib: lib.overlay(layers(lib), domain=lib.IndexDomain(inclusive_min=[0, 0], exclusive_max=[2, 3])),
    ],
)
def test_matches_tensorstore(build: Any) -> None:
    """Domain, dtype, values and the stack's own spec members agree (array layers' JSON may
    differ: the wheel trims a sliced array's data, ts keeps it and the transform)."""
    ours, theirs = build(ts), build(tensorstore)
    assert str(ours.domain) == str(theirs.domain)
    assert ours.dtype.name == theirs.dtype.name
    np.testing.assert_array_equal(ours.read().result(), theirs.read().result())
    for index in (np.s_[..., 1:], np.s_[1, ...], np.s_[::-1]):
        np.testing.assert_array_equal(ours[index].read().result(), theirs[index].read().result())
    ours_json, theirs_json = ours.spec().to_json(), theirs.spec().to_json()
    assert ours_json["schema"] == theirs_json["schema"]
    assert ours_json["transform"] == theirs_json["transform"]
    reopened = ts.open(ours.spec()).result()
    np.testing.assert_array_equal(reopened.read().result(), theirs.read().result())


def test_spec_json_matches_tensorstore() -> None:
    ours, theirs = both(lambda lib: lib.concat(layers(lib), axis=0).spec().to_json())
    assert ours == theirs
    ours, theirs = both(lambda lib: lib.stack(layers(lib), axis=1).spec().to_json())
    assert ours == theirs


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.stack([]),
        lambda lib: lib.overlay([]),
        lambda lib: lib.concat(layers(lib), axis=2),
        lambda lib: lib.concat(layers(lib), axis="x"),
        lambda lib: lib.stack(layers(lib), axis=3),
        lambda lib: lib.concat([layers(lib)[0], lib.array(np.zeros((2, 3), np.float32))], axis=0),
        lambda lib: lib.stack([layers(lib)[0], lib.array(np.zeros(3, np.int32))]),
        lambda lib: lib.overlay([x[lib.d[:].label["x", y]] for x, y in zip(layers(lib), "yz", strict=False)]),
        lambda lib: lib.concat([layers(lib)[0], lib.array(np.zeros((2, 4), np.int32))], axis=0).read().result(),
        lambda lib: lib.concat([layers(lib)[0], lib.array(np.zeros((2, 4), np.int32))], axis=0).write(1).result(),
        lambda lib: lib.concat([1, 2], axis=0),
        lambda lib: lib.stack(layers(lib), axis="x"),
        lambda lib: lib.stack(layers(lib), read=True, write=False).write(1).result(),
        # the hull of layers placed apart has holes: reading them fails in both
        lambda lib: lib.concat([layers(lib)[0][lib.d[:].translate_to[5, 1]], layers(lib)[1]], axis=0).read().result(),
        lambda lib: lib.concat([layers(lib)[0][lib.d[:].translate_to[5, 1]], layers(lib)[1]], axis=1).read().result(),
    ],
)
def test_errors_match_tensorstore(build: Any) -> None:
    ours, theirs = both(build)
    assert isinstance(theirs, type)
    assert issubclass(theirs, Exception)
    assert issubclass(ours, theirs)


def test_uncovered_cell_message_matches_tensorstore() -> None:
    messages = []
    for library in (ts, tensorstore):
        a = library.array(np.arange(6, dtype=np.int32).reshape(2, 3))
        store = library.concat([a, library.array(np.zeros((2, 4), np.int32))], axis=0)
        with pytest.raises(ValueError, match="missing layer mapping") as info:
            store[1:, 3:].read().result()
        messages.append(str(info.value))
        np.testing.assert_array_equal(store[:, :3].read().result()[:2], a.read().result())
        wider = library.overlay([a], domain=library.IndexDomain(inclusive_min=[-1, 0], exclusive_max=[2, 3]))
        with pytest.raises(ValueError, match="missing layer mapping") as info:
            wider.read().result()
        messages.append(str(info.value))
        np.testing.assert_array_equal(wider[0:].read().result(), a.read().result())
    assert messages[:2] == messages[2:]


def test_a_narrower_domain_limits_the_stack() -> None:
    for library in (ts, tensorstore):
        a = library.array(np.arange(6, dtype=np.int32))
        narrow = library.overlay([a], domain=library.IndexDomain(inclusive_min=[1], exclusive_max=[4]))
        assert str(narrow.domain) == "{ [1, 4) }"
        np.testing.assert_array_equal(narrow.read().result(), [1, 2, 3])
        with pytest.raises(IndexError):
            narrow[0:5].read().result()


OPEN_LAYERS = [
    {"driver": "array", "array": [1, 2, 3], "dtype": "int32"},
    {"driver": "array", "array": [4, 5, 6], "dtype": "int32",
     "transform": {"input_inclusive_min": [3], "input_exclusive_max": [6], "output": [{"input_dimension": 0, "offset": -3}]}},
]


@pytest.mark.parametrize(
    "spec",
    [
        {"driver": "stack", "layers": OPEN_LAYERS},
        {"driver": "stack", "layers": OPEN_LAYERS, "schema": {"domain": {"inclusive_min": [-2], "exclusive_max": [10]}}},
        {"driver": "stack", "layers": OPEN_LAYERS, "dtype": "float32"},
        {"driver": "stack", "layers": OPEN_LAYERS, "rank": 2},
        {"driver": "stack", "layers": OPEN_LAYERS, "schema": {"fill_value": 1}},
        {"driver": "stack", "layers": OPEN_LAYERS, "schema": {"codec": {"driver": "zarr"}}},
        {"driver": "stack", "layers": OPEN_LAYERS, "foo": 2},
        {"driver": "stack", "layers": [1]},
        {"driver": "stack"},
        {"driver": "stack", "layers": [{"driver": "zarr", "kvstore": "memory://x/"}]},
    ],
)
def test_open_spec_matches_tensorstore(spec: dict[str, Any]) -> None:
    ours, theirs = both(lambda lib: lib.open(spec).result())
    if isinstance(theirs, type):
        assert issubclass(ours, theirs)
        return
    assert str(ours.domain) == str(theirs.domain)
    assert ours.dtype.name == theirs.dtype.name
    np.testing.assert_array_equal(ours[0:6].read().result(), theirs[0:6].read().result())
    assert ours.spec().to_json()["schema"] == theirs.spec().to_json()["schema"]


def test_writes_go_to_the_backing_layer() -> None:
    a = ts.array(np.zeros((2, 3), np.int32))
    b = ts.array(np.zeros((2, 3), np.int32))
    overlay = ts.overlay([a, b[ts.d[:].translate_by[0, 1]]])
    overlay.write(np.arange(8, dtype=np.int32).reshape(2, 4)).result()
    np.testing.assert_array_equal(a.read().result(), [[0, 0, 0], [4, 0, 0]])  # column 0 only: b wins elsewhere
    np.testing.assert_array_equal(b.read().result(), [[1, 2, 3], [5, 6, 7]])
    stacked = ts.stack([a, b])
    stacked[:, 1, 2].write([10, 20]).result()
    assert a[1, 2].read().result() == 10
    assert b[1, 2].read().result() == 20
    stacked.vindex[[0, 1], [0, 1], [0, 2]].write([30, 40]).result()
    assert (a[0, 0].read().result(), b[1, 2].read().result()) == (30, 40)
    np.testing.assert_array_equal(stacked.vindex[[0, 1], [0, 1], [0, 2]].read().result(), [30, 40])


def test_spec_layers_and_json_layers() -> None:
    """Layers may be ``ts.Spec``s (as in tensorstore) or spec JSON (a ts extension)."""
    spec = ts.Spec({"driver": "array", "array": [1, 2, 3], "dtype": "int32"})
    stacked = ts.stack([spec, {"driver": "array", "array": [4, 5, 6], "dtype": "int32"}])
    np.testing.assert_array_equal(stacked.read().result(), [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="Layer 0: Domain must be specified"):
        ts.stack([{"driver": "zarr", "kvstore": "memory://", "dtype": "int32"}])


def test_transactions_reach_every_layer(tmp_path: Any) -> None:
    layers_open = [
        ts.open({"driver": "zarr", "kvstore": f"memory://t{i}/"}, create=True, dtype=ts.uint8, shape=[3]).result()
        for i in range(2)
    ]
    stacked = ts.stack(layers_open)
    transaction = ts.Transaction()
    stacked.with_transaction(transaction).write(np.array([[1, 2, 3], [4, 5, 6]], np.uint8)).result()
    np.testing.assert_array_equal(stacked.read().result(), np.zeros((2, 3), np.uint8))
    np.testing.assert_array_equal(stacked.with_transaction(transaction).read().result(), [[1, 2, 3], [4, 5, 6]])
    transaction.commit_sync()
    np.testing.assert_array_equal(stacked.read().result(), [[1, 2, 3], [4, 5, 6]])


def test_layers_are_read_concurrently() -> None:
    """A read spanning two layers has both layer reads in flight at once."""
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow_read(domain: Any, array: Any, params: Any) -> None:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.2)
        array[...] = 1
        with lock:
            in_flight[0] -= 1

    context = ts.Context({"data_copy_concurrency": {"limit": 4}})
    layer = ts.virtual_chunked(slow_read, dtype=ts.uint8, shape=[4], context=context)
    stacked = ts.stack([layer, layer], context=context)
    np.testing.assert_array_equal(stacked.read().result(), np.ones((2, 4), np.uint8))
    assert peak[0] == 2


def fill_ones(domain: Any, array: np.ndarray, params: Any) -> None:
    array[...] = 1


@pytest.mark.parametrize(
    "build",
    [
        lambda lib, view: lib.stack([view(["nm", "s"]), view(["nm", "s"])]),
        lambda lib, view: lib.overlay([view(["nm", "s"]), view(["nm", None])]),
        lambda lib, view: lib.overlay([view(["nm", "s"]), view(["m", "s"])]),
        lambda lib, view: lib.concat([view(["nm", "s"]), view(None)], axis=0),
        lambda lib, view: lib.overlay([view(None), view(None)], dimension_units=["um", None]),
    ],
)
def test_dimension_units_match_tensorstore(build: Any) -> None:
    """Units given to the stack win; otherwise the layers' units where they all agree."""
    units = []
    for library in (ts, tensorstore):
        def view(dimension_units: Any, library: Any = library) -> Any:
            return library.virtual_chunked(fill_ones, dtype=library.uint8, shape=[2, 3], dimension_units=dimension_units)

        units.append([None if u is None else u.to_json() for u in build(library, view).dimension_units])
    assert units[0] == units[1]


def test_transaction_mismatch_matches_tensorstore() -> None:
    for library in (ts, tensorstore):
        a, b = layers(library)
        transaction = library.Transaction()
        with pytest.raises(ValueError, match="Layer 1: Transaction mismatch"):
            library.stack([a.with_transaction(transaction), b]).read().result()
        joined = library.stack([a.with_transaction(transaction), b.with_transaction(transaction)])
        assert joined.transaction is transaction
        assert library.stack([a, b], transaction=transaction).transaction is transaction


def test_zarr_layers_spec_and_cross_library_reopen(tmp_path: Any) -> None:
    """Over zarr arrays on disk: the same spec JSON (metadata aside) as the wheel, and each
    library reopens the other's stack spec."""
    specs = {}
    for library in (ts, tensorstore):
        arrays = [
            library.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/{library.__name__}/z{i}/"}},
                         create=True, dtype=library.int16, shape=[2, 3]).result()
            for i in range(2)
        ]
        joined = library.concat(arrays, axis=1)
        joined.write(np.arange(12, dtype=np.int16).reshape(2, 6)).result()
        specs[library] = joined.spec().to_json()
    normalised = []
    for library, spec in specs.items():
        copy = {**spec, "layers": [{**layer} for layer in spec["layers"]]}
        for layer in copy["layers"]:
            layer.pop("metadata", None)
            layer["kvstore"] = {**layer["kvstore"], "path": layer["kvstore"]["path"].replace(library.__name__, "")}
        normalised.append(copy)
    assert normalised[0] == normalised[1]
    expected = np.arange(12, dtype=np.int16).reshape(2, 6)
    np.testing.assert_array_equal(tensorstore.open(specs[ts]).result().read().result(), expected)
    np.testing.assert_array_equal(ts.open(specs[tensorstore]).result().read().result(), expected)
