"""Differential tests: behaviours where ts used to differ from the tensorstore wheel
(creation inside a transaction, transaction rebinding, pickling a memory-backed store,
resizing explicit bounds, zarr v2 chunks with no fill value), each compared with it."""

from __future__ import annotations

import pickle
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
import tensorstore

import ts_core

LIBRARIES = [pytest.param(tensorstore, id="wheel"), pytest.param(ts_core, id="ts")]
ZARR_MEMORY = {"driver": "zarr", "kvstore": "memory://"}


def _create(ts: ModuleType, shape: list[int], **options: Any) -> Any:
    return ts.open(ZARR_MEMORY, dtype=ts.uint8, shape=shape, create=True, **options).result()


def _outcome(call: Any) -> Any:
    """The call's value, or the exception type and message it raised."""
    try:
        return call()
    except Exception as exc:  # the outcome is what is compared
        return (ValueError if isinstance(exc, ValueError) else type(exc), str(exc))


@pytest.mark.parametrize("ts", LIBRARIES)
def test_create_inside_a_transaction_commits_the_metadata_with_it(ts: ModuleType) -> None:
    context = ts.Context()
    txn = ts.Transaction()
    store = _create(ts, [2], transaction=txn, context=context)
    assert store.transaction is txn
    store[0] = 1
    assert store.read().result().tolist() == [1, 0]  # reads its own staged metadata and data
    with pytest.raises(ValueError, match="zarray"):
        ts.open(ZARR_MEMORY, context=context).result()  # nothing visible before commit
    txn.commit_sync()
    assert ts.open(ZARR_MEMORY, context=context).result().read().result().tolist() == [1, 0]


@pytest.mark.parametrize("ts", LIBRARIES)
def test_create_inside_a_transaction_conflicts_with_a_concurrent_creation(ts: ModuleType) -> None:
    context = ts.Context()
    txn = ts.Transaction()
    _create(ts, [2], transaction=txn, context=context)
    _create(ts, [3], context=context)  # another writer creates the array first
    with pytest.raises(ValueError, match="zarray"):
        txn.commit_sync()
    assert ts.open(ZARR_MEMORY, context=context).result().shape == (3,)


@pytest.mark.parametrize("ts", LIBRARIES)
def test_aborted_creation_leaves_nothing(ts: ModuleType) -> None:
    context = ts.Context()
    txn = ts.Transaction()
    _create(ts, [2], transaction=txn, context=context)
    txn.abort()
    with pytest.raises(ValueError, match="zarray"):
        ts.open(ZARR_MEMORY, context=context).result()


def _rebind_outcomes(ts: ModuleType) -> list[Any]:
    store = _create(ts, [2])
    first, second = ts.Transaction(), ts.Transaction()
    bound = store.with_transaction(first)
    outcomes = [
        _outcome(lambda: bound.with_transaction(None)),
        _outcome(lambda: bound.with_transaction(second)),
        _outcome(lambda: bound.with_transaction(first)),
    ]
    aborted = ts.Transaction()
    view = store.with_transaction(aborted)
    aborted.abort()
    outcomes.append(_outcome(lambda: view.with_transaction(None)))
    first.commit_sync()
    outcomes.append(bound.with_transaction(None).transaction)
    return outcomes


def test_rebinding_an_uncommitted_transaction_is_refused() -> None:
    wheel, ours = _rebind_outcomes(tensorstore), _rebind_outcomes(ts_core)
    assert ours == wheel
    assert wheel[0] == (ValueError, "Cannot rebind transaction when existing transaction is uncommitted")


def _pickle_outcome(ts: ModuleType) -> list[Any]:
    store = _create(ts, [4, 5])
    store[1, 2] = 7
    view = store[1:3]
    restored = pickle.loads(pickle.dumps(view))
    restored[2, 0] = 9  # lands in the restored store's own memory store
    return [
        str(restored.domain),
        restored.read().result().tolist(),
        store.read().result().tolist(),
        restored.kvstore.list().result(),
    ]


def test_pickled_memory_store_reopens_with_its_metadata_in_a_new_memory_store() -> None:
    ours = _pickle_outcome(ts_core)
    assert ours == _pickle_outcome(tensorstore)
    assert ours[0] == "{ [1, 3), [0, 5*) }"


@pytest.mark.parametrize("ts", LIBRARIES)
def test_pickled_memory_store_in_another_process(ts: ModuleType) -> None:
    data = pickle.dumps(_create(ts, [3]))
    code = (
        f"import pickle, {ts.__name__}\n"
        f"store = pickle.loads({data!r})\n"
        "print(store.domain, store.read().result().tolist())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "{ [0, 3*) } [0, 0, 0]"


@pytest.mark.parametrize("ts", LIBRARIES)
def test_pickled_file_store_sees_the_stored_data(ts: ModuleType, tmp_path: Any) -> None:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path)}}
    store = ts.open(spec, dtype=ts.uint8, shape=[2], create=True).result()
    store[0] = 5
    assert pickle.loads(pickle.dumps(store)).read().result().tolist() == [5, 0]


def _resize_outcomes(ts: ModuleType) -> list[Any]:
    calls = [
        lambda s: s[1:3].resize(exclusive_max=[4]),
        lambda s: s[:3].resize(exclusive_max=[4]),
        lambda s: s[1:3].resize(inclusive_min=[0]),
        lambda s: s.resize(inclusive_min=[0]),
        lambda s: s[1:3].resize(exclusive_max=[None]),
        lambda s: s[1:].resize(exclusive_max=[4], resize_tied_bounds=True),
        lambda s: s.resize(exclusive_max=[7]),
    ]
    outcomes = []
    for call in calls:
        store = _create(ts, [5])
        outcome = _outcome(lambda call=call, store=store: str(call(store).result().domain))
        outcomes.append(outcome[0] if isinstance(outcome, tuple) else outcome)
    return outcomes


def test_resize_refuses_explicit_bounds() -> None:
    wheel = _resize_outcomes(tensorstore)
    assert _resize_outcomes(ts_core) == wheel
    assert wheel[:4] == [ValueError] * 4


@pytest.mark.parametrize("ts", LIBRARIES)
def test_resize_of_a_view_not_starting_at_the_origin_needs_tied_bounds(ts: ModuleType) -> None:
    with pytest.raises(ValueError, match="resize_tied_bounds"):
        _create(ts, [5])[1:].resize(exclusive_max=[4]).result()


def _stored_keys(ts: ModuleType) -> list[Any]:
    keys = []
    for options in ({}, {"fill_value": 0}, {"fill_value": 3}):
        store = _create(ts, [5], **options)
        store[0] = 0
        keys.append(sorted(store.kvstore.list().result()))
        store[0:5] = 3
        keys.append(sorted(store.kvstore.list().result()))
    return keys


def test_zarr_v2_without_fill_value_stores_every_written_chunk() -> None:
    wheel = _stored_keys(tensorstore)
    assert _stored_keys(ts_core) == wheel
    assert wheel[0] == [b".zarray", b"0"]  # fill_value null: a chunk of zeros is stored
    assert wheel[2] == [b".zarray"]  # fill_value 0: a chunk equal to it is not


def _array_specs(ts: ModuleType) -> list[Any]:
    import numpy as np

    x = ts.array(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    views = [
        x, x[ts.d[0].translate_by[5]], x[1:2, 0:1], x[1, 2], x[np.newaxis], x[:, np.newaxis],
        x[ts.d[0].transpose[1]], x[ts.d[1].translate_to[4]][:, 5:], x[ts.d[1][[1, 1, 0]]], x[1:, ::2],
    ]
    specs = [view.spec().to_json() for view in views]
    specs.append(ts.open({"driver": "array", "array": [[1, 2]], "dtype": "uint8"}).result().spec().to_json())
    specs.append(ts.array(np.zeros((2, 2), dtype=object)).spec().to_json())
    reopened = ts.open(views[7].spec()).result()
    specs.append([str(reopened.domain), reopened.read().result().tolist()])
    return specs


def test_array_spec_folds_the_view_into_the_array() -> None:
    wheel = _array_specs(tensorstore)
    assert _array_specs(ts_core) == wheel
    assert wheel[8]["array"] == [[2, 2, 1], [5, 5, 4]]


@pytest.mark.parametrize("ts", LIBRARIES)
def test_array_spec_transform_outside_the_array_is_a_value_error(ts: ModuleType) -> None:
    spec = {"driver": "array", "array": [1, 2], "dtype": "uint8", "transform": {"input_shape": [3]}}
    with pytest.raises(ValueError, match="OUT_OF_RANGE"):
        ts.open(spec).result()


@pytest.mark.parametrize("ts", LIBRARIES)
def test_repr_of_a_view_without_a_spec(ts: ModuleType) -> None:
    import numpy as np

    view = ts.cast(ts.array(np.array(["a"], dtype=object)), ts.int32)
    assert repr(view) == "TensorStore(...)"
    with pytest.raises(ValueError, match=r"base|dtype"):  # the wheel names the base, ts the dtype
        view.spec().to_json()
