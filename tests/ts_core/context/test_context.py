"""Context: resources, sharing by name, parents, and errors naming the identifier."""

from __future__ import annotations

import pickle

import pytest

import ts_core as ts
from ts_core._executor import default_concurrency


def test_default_resources() -> None:
    context = ts.Context()
    assert context.parent is None
    assert context.spec is None  # as in tensorstore: no spec was given
    assert context["cache_pool"].value.total_bytes_limit == 0
    assert context["data_copy_concurrency"].value.limit == default_concurrency()
    assert context["file_io_concurrency"].value.limit == max(16, default_concurrency())
    assert context["file_io_sync"].value is True


def test_resource_values_and_sharing() -> None:
    context = ts.Context(
        {
            "cache_pool": {"total_bytes_limit": 1000},
            "cache_pool#small": {"total_bytes_limit": 10},
            "cache_pool#alias": "cache_pool#small",
            "data_copy_concurrency": {"limit": 3},
        }
    )
    assert context["cache_pool"].to_json() == {"total_bytes_limit": 1000}
    assert context["cache_pool#small"].value.total_bytes_limit == 10
    assert context["cache_pool#alias"].value is context["cache_pool#small"].value
    assert context["cache_pool"].value is context["cache_pool"].value
    assert context["data_copy_concurrency"].value.limit == 3


def test_parent_lookup() -> None:
    parent = ts.Context({"cache_pool#shared": {"total_bytes_limit": 5}})
    child = ts.Context({"cache_pool": "cache_pool#shared"}, parent=parent)
    assert child.parent is parent
    assert child["cache_pool"].value is parent["cache_pool#shared"].value
    # An undefined unnamed resource is the parent's default, shared by the whole stack.
    assert child["data_copy_concurrency"].value is parent["data_copy_concurrency"].value


def test_inline_resource_spec_is_not_shared() -> None:
    context = ts.Context()
    first = context.resource("cache_pool", {"total_bytes_limit": 7})
    second = context.resource("cache_pool", {"total_bytes_limit": 7})
    assert first is not second
    assert first.total_bytes_limit == 7


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"bogus": {}}, 'context.bogus: Invalid context resource identifier: "bogus" (no such resource kind; known resources: '),
        ({"Cache": {}}, 'context.Cache: Invalid context resource identifier: "Cache"'),
        ({"cache_pool": {"total_bytes_limit": "x"}}, 'context.cache_pool.total_bytes_limit: expected integer, but received: "x"'),
        ({"cache_pool": {"total_bytes_limit": -1}}, "context.cache_pool.total_bytes_limit: expected a value >= 0"),
        ({"cache_pool": {"size": 1}}, "context.cache_pool.size: unexpected member"),
        ({"data_copy_concurrency": {"limit": 0}}, "context.data_copy_concurrency.limit"),
        ({"cache_pool": "file_io_sync"}, 'context.cache_pool: expected a reference to a "cache_pool" resource'),
        ({"file_io_sync": 1}, "context.file_io_sync: expected boolean"),
    ],
)
def test_bad_context_specs(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        ts.Context(spec)


def test_undefined_named_reference() -> None:
    with pytest.raises(ValueError, match=r'^Resource not defined: "cache_pool#nope"'):
        ts.Context()["cache_pool#nope"]
    with pytest.raises(ValueError, match=r'^Invalid context resource identifier: "nope"'):
        ts.Context()["nope"]


def test_context_spec_value_semantics() -> None:
    spec = ts.Context.Spec({"cache_pool": {"total_bytes_limit": 1}})
    assert spec == ts.Context.Spec({"cache_pool": {"total_bytes_limit": 1}})
    assert pickle.loads(pickle.dumps(spec)) == spec
    context = pickle.loads(pickle.dumps(ts.Context(spec)))
    assert context["cache_pool"].value.total_bytes_limit == 1
    assert repr(spec) == "Context.Spec({'cache_pool': {'total_bytes_limit': 1}})"


def test_kvstore_context_member_errors_name_full_path() -> None:
    with pytest.raises(ValueError, match=r"^kvstore\.context\.bogus: Invalid context resource identifier"):
        ts.KvStore.Spec({"driver": "memory", "context": {"bogus": {}}})


def test_cache_pool_evicts_least_recently_used() -> None:
    pool = ts.Context({"cache_pool": {"total_bytes_limit": 10}})["cache_pool"].value
    pool.put("a", "A", 4)
    pool.put("b", "B", 4)
    assert pool.get("a") == "A"  # a is now more recent than b
    pool.put("c", "C", 4)
    assert pool.get("b") is None
    assert (pool.get("a"), pool.get("c"), pool.total_bytes) == ("A", "C", 8)
    pool.put("huge", "H", 11)
    assert pool.get("huge") is None


def test_shared_concurrency_pools_are_process_wide() -> None:
    # "shared" (the default limit) means one pool per kind for the whole process, as in
    # tensorstore: opening arrays with fresh default contexts does not add thread pools.
    first, second = ts.Context(), ts.Context()
    for kind in ("data_copy_concurrency", "file_io_concurrency"):
        assert first[kind].value is second[kind].value
    own = ts.Context({"data_copy_concurrency": {"limit": 3}})
    assert own["data_copy_concurrency"].value is not first["data_copy_concurrency"].value
    assert own["data_copy_concurrency"].value.limit == 3


def test_resource_identifiers_parse_the_same_every_time() -> None:
    from ts_core.context import parse_resource_identifier

    for _ in range(2):  # the second time from the parsed-identifier cache
        assert parse_resource_identifier("cache_pool") == ("cache_pool", None)
        assert parse_resource_identifier("cache_pool#big") == ("cache_pool", "#big")
        with pytest.raises(ValueError, match="Invalid context resource identifier"):
            parse_resource_identifier("Cache Pool")
        with pytest.raises(ValueError, match="expected a context resource identifier"):
            parse_resource_identifier(3)


def test_immutable_defaults_are_shared_but_resources_stay_per_context() -> None:
    """Default contexts share the live objects of immutable defaults (no new objects per
    open), while each keeps its own handles and its own cache pool."""
    first, second = ts.Context(), ts.Context()
    for kind in ("file_io_sync", "file_io_retries", "data_copy_concurrency"):
        assert first[kind].value is second[kind].value
        assert first[kind] is not second[kind]
        assert first[kind].to_json() == second[kind].to_json()
    assert first["cache_pool"].value is not second["cache_pool"].value
    with pytest.raises(TypeError):  # shared, so read-only
        first["file_io_locking"].value["mode"] = "none"  # type: ignore[index]
    configured = ts.Context({"file_io_retries": {"max_retries": 2}, "file_io_sync": False})
    assert configured["file_io_retries"].value.max_retries == 2
    assert configured["file_io_sync"].value is False
    assert first["file_io_retries"].value.max_retries == 0


def test_a_resolved_reference_is_still_checked_against_the_kind() -> None:
    context = ts.Context()
    assert context.resource("cache_pool", "cache_pool") is context.resource("cache_pool")
    with pytest.raises(ValueError, match='data_copy_concurrency: expected a reference to a "data_copy_concurrency"'):
        context.resource("data_copy_concurrency", "cache_pool", "data_copy_concurrency")
    named = ts.Context({"cache_pool#big": {"total_bytes_limit": 5}})
    assert named.resource("cache_pool", "cache_pool#big").total_bytes_limit == 5
    with pytest.raises(ValueError, match="expected a reference"):
        named.resource("cache_pool_x", "cache_pool#big")
