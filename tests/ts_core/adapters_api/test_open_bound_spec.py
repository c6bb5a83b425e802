"""``ts.open`` of a Spec bound to a context uses the bound resources (memory kvstore,
cache pool), as in the tensorstore wheel; differential where the outcome is visible."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

LIBRARIES = pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])


def _create(ts: Any, context: Any, path: str) -> Any:
    store = ts.open({"driver": "zarr", "kvstore": f"memory://{path}"}, dtype="int32", shape=[4],
                    create=True, context=context).result()
    store[...] = [1, 2, 3, 4]
    return store


@LIBRARIES
def test_retained_context_spec_reopens_the_same_memory_store(ts: Any) -> None:
    store = _create(ts, ts.Context(), "retained/")
    spec = store.spec(retain_context=True)
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), [1, 2, 3, 4])
    # the bound resources win over a context given to open
    np.testing.assert_array_equal(ts.open(spec, context=ts.Context()).result().read().result(), [1, 2, 3, 4])


@LIBRARIES
def test_spec_updated_with_a_context_opens_in_it(ts: Any) -> None:
    context = ts.Context()
    _create(ts, context, "updated/")
    spec = ts.Spec({"driver": "zarr", "kvstore": "memory://updated/"})
    spec.update(context=context)
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), [1, 2, 3, 4])


@LIBRARIES
def test_unbound_spec_opens_in_a_fresh_context(ts: Any) -> None:
    _create(ts, ts.Context(), "unbound/")
    spec = ts.Spec({"driver": "zarr", "kvstore": "memory://unbound/"})
    with pytest.raises(ValueError, match=r"\.zarray"):
        ts.open(spec).result()


@LIBRARIES
def test_two_stores_from_bound_specs_share_writes(ts: Any) -> None:
    context = ts.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})
    spec = ts.Spec({"driver": "zarr", "kvstore": "memory://shared/", "dtype": "int32",
                    "schema": {"domain": {"shape": [3]}}, "create": True})
    spec.update(context=context)
    writer = ts.open(spec).result()
    writer[...] = 5
    reader_spec = ts.Spec({"driver": "zarr", "kvstore": "memory://shared/"})
    reader_spec.update(context=context)
    reader = ts.open(reader_spec).result()
    np.testing.assert_array_equal(reader.read().result(), [5, 5, 5])


def test_stores_from_bound_specs_share_the_bound_cache_pool() -> None:
    context = ts_core.Context({"cache_pool": {"total_bytes_limit": 1 << 20}})
    first = _create(ts_core, context, "pool/")
    spec = ts_core.Spec({"driver": "zarr", "kvstore": "memory://pool/"})
    spec.update(context=context)
    second = ts_core.open(spec).result()
    third = ts_core.open(first.spec(retain_context=True)).result()
    pool = context.resource("cache_pool")
    assert first._driver.chunk_cache.pool is pool
    assert second._driver.chunk_cache.pool is pool
    assert third._driver.chunk_cache.pool is pool


def test_a_spec_context_member_of_its_own_still_applies_over_the_bound_context() -> None:
    context = ts_core.Context()
    _create(ts_core, context, "own/")
    spec = ts_core.Spec({"driver": "zarr", "kvstore": "memory://own/",
                         "context": {"cache_pool": {"total_bytes_limit": 1000}}})
    spec.update(context=context)
    store = ts_core.open(spec).result()
    np.testing.assert_array_equal(store.read().result(), [1, 2, 3, 4])
    assert store._driver.chunk_cache.pool is not context.resource("cache_pool")
