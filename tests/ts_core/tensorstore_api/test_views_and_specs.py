"""TensorStore views, properties, reprs and specs against the tensorstore wheel."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

LIBRARIES = (ts, tensorstore)


def _open(lib: Any, driver: str = "zarr", path: str = "abc/", **options: Any) -> Any:
    return lib.open(
        {"driver": driver, "kvstore": {"driver": "memory", "path": path}},
        dtype=lib.uint32,
        shape=[4, 6],
        create=True,
        **options,
    ).result()


@pytest.mark.parametrize(
    "view",
    [
        lambda s: s.translate_to[3, 4],
        lambda s: s.translate_by[1, -2],
        lambda s: s.translate_backward_by[3],
        lambda s: s.transpose([1, 0]),
        lambda s: s.transpose(),
        lambda s: s.T,
        lambda s: s.label["x", "y"],
        lambda s: s.mark_bounds_implicit[False],
        lambda s: s.label["x", "y"][1:3].T.translate_to[0],
        lambda s: s.oindex[[0, 2], [1, 3, 5]],
        lambda s: s.vindex[[0, 2], [1, 3]],
    ],
)
def test_dimension_shorthands_match_tensorstore(view: Any) -> None:
    ours, theirs = (view(_open(lib)) for lib in LIBRARIES)
    assert str(ours.domain) == str(theirs.domain)
    assert ours.size == theirs.size
    assert ours.spec().to_json()["transform"] == theirs.spec().to_json()["transform"]


def test_size_rank_shape() -> None:
    for lib in LIBRARIES:
        store = _open(lib)[1:, 2]
        assert (store.size, store.rank, store.ndim, store.shape) == (3, 1, 1, (3,))
        assert _open(lib)[1, 2].size == 1


def test_repr_is_pretty_printed_with_the_bound_context() -> None:
    assert repr(_open(ts)) == repr(_open(tensorstore))
    assert repr(_open(ts)[1:3, ::2]) == repr(_open(tensorstore)[1:3, ::2])
    assert repr(_open(ts, "n5")) == repr(_open(tensorstore, "n5"))


def test_repr_context_shows_resources_from_the_given_context() -> None:
    def opened(lib: Any) -> Any:
        context = lib.Context({"cache_pool": {"total_bytes_limit": 1000}, "data_copy_concurrency": {"limit": 2}})
        return _open(lib, context=context)

    assert repr(opened(ts)) == repr(opened(tensorstore))


def test_array_and_cast_reprs() -> None:
    for make in (
        lambda lib: lib.array([1, 2, 3], dtype=lib.uint32),
        lambda lib: lib.array([1, 2, 3], dtype=lib.uint32).astype(lib.int8),
        lambda lib: lib.array([1, 2, 3], dtype=lib.uint32).astype(lib.string),
    ):
        assert repr(make(ts)) == repr(make(tensorstore))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"minimal_spec": True},
        {"minimal_spec": True, "unbind_context": True},
        {"unbind_context": True},
        {"create": True, "minimal_spec": True},
        {"open": True, "minimal_spec": True},
        {"delete_existing": True, "create": True, "minimal_spec": True},
        {"assume_metadata": True, "minimal_spec": True},
        {"recheck_cached": True, "minimal_spec": True},
        {"recheck_cached_data": "open", "minimal_spec": True},
        {"recheck_cached_metadata": True, "minimal_spec": True},
    ],
)
def test_spec_options_match_tensorstore(options: dict[str, Any]) -> None:
    ours, theirs = (_open(lib)[1:].spec(**options).to_json() for lib in LIBRARIES)
    assert ours == theirs


def test_retain_context_binds_the_stores_resources() -> None:
    ours, theirs = (_open(lib).spec(retain_context=True, minimal_spec=True) for lib in LIBRARIES)
    assert repr(ours) == repr(theirs)
    assert ours.to_json() == theirs.to_json()
    for lib in LIBRARIES:  # reopening it shares the store's memory kvstore
        store = _open(lib)
        store[1, 2] = 5
        reopened = lib.open(store.spec(retain_context=True)).result()
        assert int(reopened[1, 2].read().result()) == 5


def test_spec_open_mode_option() -> None:
    ours = _open(ts).spec(open_mode=ts.OpenMode(open=True, create=True), minimal_spec=True).to_json()
    theirs = _open(tensorstore).spec(
        open_mode=tensorstore.OpenMode(open=True, create=True), minimal_spec=True
    ).to_json()
    assert ours == theirs


def test_minimal_spec_of_an_adapter_drops_the_base_metadata() -> None:
    ours, theirs = (lib.cast(_open(lib), lib.int32).spec(minimal_spec=True).to_json() for lib in LIBRARIES)
    assert ours == theirs
    assert "metadata" not in ours["base"]


def test_handbook_spelling_minimal() -> None:
    assert _open(ts).spec(minimal=True) == _open(ts).spec(minimal_spec=True)


def test_spec_rejects_unknown_options() -> None:
    with pytest.raises(TypeError, match="bogus"):
        _open(ts).spec(bogus=True)


def test_base_of_adapters() -> None:
    for lib in LIBRARIES:
        store = _open(lib)
        assert store.base is None
        assert lib.array([1, 2]).base is None
    for make in (
        lambda lib: _open(lib).astype(lib.int64)[1:3].base,
        lambda lib: lib.downsample(_open(lib), [2, 3], "mean").base,
        lambda lib: lib.downsample(_open(lib), [2, 3], "mean")[1:2, 1].base,
        lambda lib: lib.downsample(_open(lib), [2, 3], "mean")[1:2, 1:2].base,
    ):
        ours, theirs = make(ts), make(tensorstore)
        assert str(ours.domain) == str(theirs.domain)
        assert ours.spec().to_json() == theirs.spec().to_json()


def test_kvstore_keeps_the_context_and_transaction() -> None:
    store = _open(ts)
    kvstore = store.kvstore
    assert kvstore.path == "abc/"
    assert kvstore.context is not None
    # the kvstore shares the store's memory: what the store wrote, the kvstore lists
    store[0, 0] = 1
    assert b".zarray" in kvstore.list().result()
    txn = ts.Transaction()
    assert store.with_transaction(txn).kvstore.transaction is txn
    for lib in LIBRARIES:
        adapted = (_open(lib).astype(lib.int8), lib.downsample(_open(lib), [2, 2], "mean"))
        assert [view.kvstore.path for view in adapted] == ["abc/", "abc/"]
        assert lib.array([1]).kvstore is None


def test_url() -> None:
    for lib in LIBRARIES:
        with pytest.raises(NotImplementedError, match="URL representation not supported"):
            _ = lib.array([1, 2]).url


def test_astype_to_object_types_matches_tensorstore() -> None:
    sources = {
        "uint8": [1, 255],
        "int32": [-5, 7],
        "float64": [1.5, 2.0, 1e20, 0.1, float("nan"), float("inf"), 1e-7, 123456789.0],
        "float32": [0.1, 2.0],
        "complex64": [1 + 2j],
    }
    for dtype, values in sources.items():
        for target in ("string", "ustring", "json"):
            results = [
                lib.array(values, dtype=getattr(lib, dtype)).astype(getattr(lib, target)).read().result()
                for lib in LIBRARIES
            ]
            assert [repr(x) for x in results[0]] == [repr(x) for x in results[1]], (dtype, target)


def test_astype_from_json_and_strings() -> None:
    def chain(lib: Any, first: str, second: str) -> Any:
        base = lib.array(np.array([1, 2], dtype=np.int32)).astype(getattr(lib, first))
        return base.astype(getattr(lib, second)).read().result()

    for first, second in [("ustring", "string"), ("ustring", "json"), ("json", "int32"), ("json", "float64"),
                          ("json", "ustring"), ("string", "int32"), ("ustring", "bool")]:
        outcomes = []
        for lib in LIBRARIES:
            try:
                outcomes.append(repr(list(chain(lib, first, second))))
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1], (first, second, outcomes)


def test_astype_object_dtype_property_and_writes() -> None:
    for lib in LIBRARIES:
        base = lib.array(np.array([1, 2], dtype=np.int32))
        view = base.astype(lib.ustring)
        assert view.dtype == lib.ustring
        assert base.astype(lib.json).dtype == lib.json
    view = ts.array(np.array([1, 2], dtype=np.int32)).astype(ts.json)
    view[0] = 5
    np.testing.assert_array_equal(view.base.read().result(), [5, 2])


def test_writes_through_object_views_match_tensorstore() -> None:
    for lib in LIBRARIES:
        base = lib.array(np.array([1, 2, 3], dtype=np.int32))
        base.astype(lib.json).write([4, 5.0, 6]).result()
        np.testing.assert_array_equal(base.read().result(), [4, 5, 6])
        with pytest.raises(ValueError, match="Expected integer in the range"):
            base.astype(lib.json).write(["a", 1, 2]).result()
        with pytest.raises(ValueError, match="Destination does not support writing"):
            base.astype(lib.ustring).write(["7", "8", "9"]).result()


def test_pickle_round_trip_keeps_the_view(tmp_path: Path) -> None:
    store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path)}}, dtype=ts.int16,
                    shape=[3, 4], create=True).result()
    store[...] = np.arange(12, dtype=np.int16).reshape(3, 4)
    view = store[1:, ::2]
    copy = pickle.loads(pickle.dumps(view))
    assert copy.domain == view.domain
    np.testing.assert_array_equal(copy.read().result(), view.read().result())


def test_not_iterable_and_transaction_type_checked() -> None:
    for lib in LIBRARIES:
        store = _open(lib)
        with pytest.raises(TypeError, match="not iterable"):
            iter(store)
        with pytest.raises(TypeError):
            store.with_transaction(5)
        assert store.with_transaction(None).transaction is None


def test_context_member_lists_only_the_stores_own_resources(tmp_path: Path) -> None:
    def contexts(lib: Any) -> list[Any]:
        shared = lib.Context()
        on_disk = lib.open({"driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path / lib.__name__)}},
                           dtype=lib.uint8, shape=[3], create=True, context=shared).result()
        in_memory = _open(lib, context=shared)
        return [store.spec(unbind_context=True).to_json()["context"] for store in (on_disk, in_memory)]

    assert contexts(ts) == contexts(tensorstore)
