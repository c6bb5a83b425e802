"""ts.OpenMode and every keyword of ts.open, against the tensorstore wheel."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import tensorstore

import ts_core

LIBRARIES = [pytest.param(ts_core, id="ts_core"), pytest.param(tensorstore, id="tensorstore")]
FLAGS = ("open", "create", "delete_existing", "assume_metadata", "assume_cached_metadata")
BASE = {"driver": "zarr", "kvstore": "memory://"}


@pytest.mark.parametrize("flags", [(), ("open",), ("create", "open"), ("delete_existing", "create"), FLAGS])
def test_open_mode_repr_and_accessors_match(flags: tuple[str, ...]) -> None:
    ours = ts_core.OpenMode(**dict.fromkeys(flags, True))
    theirs = tensorstore.OpenMode(**dict.fromkeys(flags, True))
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)
    for name in FLAGS:
        assert getattr(ours, name) is getattr(theirs, name)


@pytest.mark.parametrize("ts", LIBRARIES)
def test_open_mode_value_semantics(ts: Any) -> None:
    mode = ts.OpenMode(open=True)
    mode.create = True
    assert repr(mode) == "OpenMode(open=True, create=True)"
    mode.open = None  # pybind11 and ts both read None as False
    assert repr(mode) == "OpenMode(create=True)"
    assert ts.OpenMode(create=True) == mode
    assert ts.OpenMode(open=True) != mode
    assert repr(pickle.loads(pickle.dumps(mode))) == repr(mode)
    assert repr(copy.deepcopy(mode)) == repr(mode)
    with pytest.raises(TypeError):
        hash(mode)
    with pytest.raises(TypeError):
        ts.OpenMode(True)
    with pytest.raises(TypeError):
        mode.open = "yes"


def _outcome(ts: Any, spec: Any, **kwargs: Any) -> tuple[str, Any]:
    context = ts.Context()
    try:
        store = ts.open(spec, context=context, **kwargs).result()
    except (TypeError, ValueError, NotImplementedError) as error:
        return (type(error).__name__, None)
    return ("ok", (store.shape, store.mode))


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("create", BASE, {"create": True}),
    ("open missing", BASE, {"open": True}),
    ("open_mode create", BASE, {"open_mode": "create"}),
    ("open_mode open missing", BASE, {"open_mode": "open"}),
    ("keyword replaces the spec's mode", {**BASE, "create": True}, {"open": True}),
    ("open_mode replaces the spec's mode", {**BASE, "create": True}, {"open_mode": "open"}),
    ("open_mode combines with flags", BASE, {"open_mode": "open", "create": True}),
    ("False flags change nothing", {**BASE, "create": True}, {"open": False}),
    ("no mode means open", BASE, {}),
    ("delete_existing alone", BASE, {"delete_existing": True}),
    ("delete_existing with open", BASE, {"delete_existing": True, "create": True, "open": True}),
    ("assume_metadata alone", BASE, {"assume_metadata": True}),
    ("assume_metadata with create", BASE, {"assume_metadata": True, "create": True}),
    ("assume_cached_metadata of nothing", BASE, {"assume_cached_metadata": True}),
    ("create read-only", BASE, {"create": True, "read": True}),
    ("create write-only", BASE, {"create": True, "write": True}),
    ("read=False write=False", BASE, {"create": True, "read": False, "write": False}),
    ("read=False", BASE, {"create": True, "read": False}),
    ("integer flag", BASE, {"create": 1}),
    ("text flag", BASE, {"create": "yes"}),
    ("dict open_mode", BASE, {"open_mode": {"create": True}}),
    ("recheck text", BASE, {"create": True, "recheck_cached_data": "x"}),
    ("recheck list", BASE, {"create": True, "recheck_cached_metadata": [1]}),
    ("recheck True", BASE, {"create": True, "recheck_cached": True}),
    ("recheck open", BASE, {"create": True, "recheck_cached_data": "open"}),
    ("recheck time", BASE, {"create": True, "recheck_cached_metadata": 5}),
    ("recheck negative", BASE, {"create": True, "recheck_cached": -1.5}),
    ("transaction of the wrong type", BASE, {"create": True, "transaction": 3}),
    ("context of the wrong type", BASE, {"create": True, "context_override": 3}),
    ("unknown keyword", BASE, {"create": True, "bogus": 1}),
    ("dtype equal to the spec's", {**BASE, "dtype": "uint8"}, {"create": True}),
    ("dtype other than the spec's", {**BASE, "dtype": "int8"}, {"create": True}),
    ("rank other than the spec's", {**BASE, "rank": 2}, {"create": True, "rank": 1}),
]


@pytest.mark.parametrize(("name", "spec", "kwargs"), CASES, ids=[case[0] for case in CASES])
def test_open_keywords_match_the_wheel(name: str, spec: dict[str, Any], kwargs: dict[str, Any]) -> None:
    outcomes = []
    for ts in (ts_core, tensorstore):
        options = dict(kwargs)
        if isinstance(options.get("open_mode"), str):
            options["open_mode"] = ts.OpenMode(**{options["open_mode"]: True})
        options.setdefault("dtype", "uint8")
        options.setdefault("shape", [3])
        if "context_override" in options:
            try:
                ts.open(spec, **{**options, "context": options.pop("context_override")})
            except TypeError as error:
                outcomes.append((type(error).__name__, None))
            continue
        outcomes.append(_outcome(ts, spec, **options))
    assert outcomes[0] == outcomes[1]


def test_type_errors_name_the_keyword() -> None:
    with pytest.raises(TypeError, match="Invalid recheck_cached_data"):
        ts_core.open(BASE, recheck_cached_data="x")
    with pytest.raises(TypeError, match="Invalid open_mode"):
        ts_core.open(BASE, open_mode={"open": True})
    with pytest.raises(TypeError, match="Invalid create"):
        ts_core.open(BASE, create="yes")
    with pytest.raises(TypeError, match="Invalid transaction"):
        ts_core.open(BASE, transaction=3)


def test_recheck_cached_wins_over_the_specific_options() -> None:
    # tensorstore applies recheck_cached last, whatever the keyword order.
    store = ts_core.open(BASE, create=True, dtype="uint8", shape=[2], recheck_cached=False,
                         recheck_cached_data=True).result()
    store[0].write(1).result()
    assert store.read().result().tolist() == [1, 0]


@pytest.mark.parametrize("ts", LIBRARIES)
def test_assume_cached_metadata_skips_the_read_and_resize_rereads(ts: Any) -> None:
    context = ts.Context()
    store = ts.open(BASE, open=True, assume_cached_metadata=True, dtype="uint8", shape=[3], context=context).result()
    store[1].write(4).result()
    assert store.read().result().tolist() == [0, 4, 0]
    with pytest.raises(ValueError, match=r"(?i)\.zarray.*(does not|no longer) exist"):  # resize rereads it
        store.resize(exclusive_max=[5]).result()


def test_open_mode_of_a_spec_round_trips_through_open() -> None:
    spec = ts_core.Spec({**BASE, "create": True, "dtype": "uint8", "schema": {"domain": {"shape": [4]}}})
    store = ts_core.open(spec, open_mode=ts_core.OpenMode(create=True)).result()
    assert store.shape == (4,)


N5 = {"driver": "n5", "kvstore": "memory://"}
SCHEMA_CASES: list[tuple[str, dict[str, Any]]] = [
    ("shape tuple", {"shape": (2, 3)}),
    ("shape of numpy integers", {"shape": [__import__("numpy").int64(2)]}),
    ("shape of floats", {"shape": [2.5]}),
    ("shape as an integer", {"shape": 2}),
    ("shape as text", {"shape": "ab"}),
    ("rank as a float", {"shape": [2], "rank": 1.0}),
    ("rank as text", {"shape": [2], "rank": "x"}),
    ("units as text", {"shape": [2], "dimension_units": "nm"}),
    ("units as pairs", {"shape": [2], "dimension_units": [(4, "nm")]}),
    ("units as Unit", {"shape": [2], "dimension_units": ["Unit:4nm"]}),
    ("units of a bad type", {"shape": [2], "dimension_units": [5j]}),
    ("domain as a list", {"domain": [2]}),
    ("domain", {"domain": "IndexDomain"}),
]


@pytest.mark.parametrize(("name", "kwargs"), SCHEMA_CASES, ids=[case[0] for case in SCHEMA_CASES])
def test_schema_keyword_types_match_the_wheel(name: str, kwargs: dict[str, Any]) -> None:
    outcomes = []
    for ts in (ts_core, tensorstore):
        options = dict(kwargs)
        if options.get("domain") == "IndexDomain":
            options["domain"] = ts.IndexDomain(shape=[3], labels=["x"])
        if isinstance(options.get("dimension_units"), list):
            options["dimension_units"] = [
                ts.Unit(unit[5:]) if isinstance(unit, str) and unit.startswith("Unit:") else unit
                for unit in options["dimension_units"]
            ]
        try:
            store = ts.open(N5, create=True, dtype="uint8", context=ts.Context(), **options).result()
            outcomes.append(("ok", store.shape, [str(unit) if unit else None for unit in store.dimension_units]))
        except (TypeError, ValueError) as error:
            outcomes.append((type(error).__name__,))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("ts", LIBRARIES)
def test_batch_defers_the_metadata_read_until_submitted(ts: Any) -> None:
    import time

    context = ts.Context()
    ts.open(BASE, create=True, dtype="uint8", shape=[4], context=context).result()
    batch = ts.Batch()
    opening = ts.open(BASE, batch=batch, context=context)
    time.sleep(0.05)
    assert not opening.done()
    batch.submit()
    assert opening.result(timeout=30).shape == (4,)
    # replacing the array reads no metadata, so it does not wait for the batch
    replacing = ts.open(BASE, batch=ts.Batch(), create=True, delete_existing=True, dtype="uint8", shape=[5],
                        context=context)
    assert replacing.result(timeout=30).shape == (5,)
    submitted = ts.Batch()
    submitted.submit()
    assert ts.open(BASE, batch=submitted, context=context).result(timeout=30).shape == (5,)
    with pytest.raises(TypeError):
        ts.open(BASE, batch=3, context=context)
