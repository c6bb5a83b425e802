"""Context specs print as tensorstore's: resources sorted, members at their defaults left
out (or all spelled out with ``include_defaults``), in ``Context.Spec``, in a TensorStore
spec's ``context`` and in a kvstore spec's."""

from __future__ import annotations

from typing import Any

import pytest
import tensorstore

import ts_core

CONTEXT_SPECS: list[dict[str, Any]] = [
    {"file_io_concurrency": {"limit": "shared"}},
    {"file_io_concurrency": {"limit": 4}, "cache_pool": {"total_bytes_limit": 0}, "data_copy_concurrency": {"limit": "shared"}},
    {"cache_pool#a": {"total_bytes_limit": 0}, "cache_pool": "cache_pool#a", "file_io_concurrency": None},
    {"cache_pool": {"total_bytes_limit": 1 << 20}, "data_copy_concurrency": {"limit": 2}},
    {"file_io_retries": {"max_retries": 0, "initial_delay": "1s", "max_delay": "32s"}, "file_io_sync": True},
    {"file_io_retries": {"max_retries": 3}, "file_io_sync": False},
    {"s3_request_concurrency": {"limit": 32}, "gcs_request_retries": {"max_retries": 32, "initial_delay": "1s"}},
    {"s3_request_retries": {}, "http_request_concurrency": {"limit": "shared"}, "gcs_request_concurrency": {}},
]


@pytest.mark.parametrize("include_defaults", [False, True], ids=["defaults-left-out", "include-defaults"])
@pytest.mark.parametrize("json_value", CONTEXT_SPECS, ids=range(len(CONTEXT_SPECS)))
def test_context_spec_json_matches_the_wheel(json_value: dict[str, Any], include_defaults: bool) -> None:
    ours = ts_core.Context.Spec(json_value).to_json(include_defaults=include_defaults)
    theirs = tensorstore.Context.Spec(json_value).to_json(include_defaults=include_defaults)
    assert ours == theirs
    assert list(ours) == list(theirs)  # sorted by identifier


@pytest.mark.parametrize("include_defaults", [False, True], ids=["defaults-left-out", "include-defaults"])
def test_spec_context_members_match_the_wheel(include_defaults: bool) -> None:
    json_value = {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": "/x/", "context": {"file_io_concurrency": {"limit": "shared"}}},
        "context": {"cache_pool": {"total_bytes_limit": 0}, "data_copy_concurrency": {"limit": 3}},
    }
    ours = ts_core.Spec(json_value).to_json(include_defaults=include_defaults)
    theirs = tensorstore.Spec(json_value).to_json(include_defaults=include_defaults)
    assert ours["context"] == theirs["context"]
    assert ours["kvstore"]["context"] == theirs["kvstore"]["context"]


def test_a_context_spec_without_defaults_reopens_the_same_resources() -> None:
    """Leaving defaults out loses nothing: the printed spec makes the same resources."""
    spec = ts_core.Context.Spec({"cache_pool": {"total_bytes_limit": 0}, "data_copy_concurrency": {"limit": 2}})
    reopened = ts_core.Context(ts_core.Context.Spec(spec.to_json()))
    assert reopened["data_copy_concurrency"].to_json() == {"limit": 2}
    assert ts_core.Context.Spec(spec.to_json(include_defaults=True)).to_json() == spec.to_json()


@pytest.mark.parametrize("array", [[1, 2, 3], [[1, 2, 3], [4, 5, 6]], 7])
def test_array_spec_prints_its_domain_as_the_wheel(array: Any) -> None:
    json_value = {"driver": "array", "array": array, "dtype": "int32"}
    assert ts_core.Spec(json_value).to_json() == tensorstore.Spec(json_value).to_json()
    assert ts_core.Spec(json_value).domain == ts_core.IndexDomain(json=tensorstore.Spec(json_value).domain.to_json())


@pytest.mark.parametrize(
    "options",
    [{"recheck_cached_data": True}, {"recheck_cached_data": "open"}, {"recheck_cached_metadata": "open"},
     {"recheck_cached_metadata": True}, {"recheck_cached": True}, {"recheck_cached": False}],
    ids=str,
)
def test_recheck_members_at_their_defaults_are_left_out_as_by_the_wheel(options: dict[str, Any]) -> None:
    specs = []
    for library in (ts_core, tensorstore):
        spec = library.Spec({"driver": "zarr", "kvstore": "memory://"})
        spec.update(**options)
        specs.append(spec.to_json())
    assert specs[0] == specs[1]


def test_resource_json_and_spec_repr_match_the_wheel() -> None:
    json_value = {"file_io_concurrency": {"limit": 10}, "cache_pool": {"total_bytes_limit": 0},
                  "data_copy_concurrency": {}}
    ours, theirs = ts_core.Context(json_value), tensorstore.Context(json_value)
    for identifier in json_value:
        for include_defaults in (False, True):
            assert ours[identifier].to_json(include_defaults) == theirs[identifier].to_json(include_defaults)
    assert repr(ts_core.Context.Spec(json_value)) == repr(tensorstore.Context.Spec(json_value))


def test_bound_specs_write_configuration_resources_inline_as_the_wheel(tmp_path: Any) -> None:
    """A spec bound to a context (``retain_context``, ``update(context=...)``) writes the
    file kvstore's configuration-only resources inline in the kvstore, as the wheel's."""
    results = []
    for library in (ts_core, tensorstore):
        path = f"{tmp_path}/{library.__name__}/"
        spec = library.Spec({"driver": "zarr3", "kvstore": {"driver": "file", "path": path}})
        spec.update(context=library.Context())
        kvstore = library.KvStore.Spec({"driver": "file", "path": path})
        kvstore.update(context=library.Context())
        opened = library.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": path}}, create=True,
                              dtype="uint8", shape=[2]).result()
        retained = opened.spec(retain_context=True).to_json()
        results.append([
            str(value).replace(path, "PATH")
            for value in (spec.to_json(), kvstore.to_json(), retained["kvstore"], retained["context"])
        ])
    assert results[0] == results[1]
