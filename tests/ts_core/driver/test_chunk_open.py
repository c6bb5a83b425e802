"""Opening chunked arrays: the kvstore member of a spec is parsed once and handed out as
copies, and parsed afresh once the plugin registry is rebuilt."""

from __future__ import annotations

from unittest import mock

import ts_core as ts
from ts_core.driver import _chunk_open
from ts_core.kvstore import KvStoreSpec
from ts_core.plugin import get_registry, reset_registry


def test_kvstore_specs_are_parsed_once_and_copied() -> None:
    first = _chunk_open._kvstore_spec({"driver": "memory", "path": "a/"})
    first.path = "elsewhere/"  # a KvStoreSpec's path can be set: the cache must not see it
    with mock.patch.object(_chunk_open, "KvStoreSpec", wraps=KvStoreSpec) as parse:
        second = _chunk_open._kvstore_spec({"driver": "memory", "path": "a/"})
    assert parse.call_count == 1
    assert isinstance(parse.call_args.args[0], KvStoreSpec)  # a copy of the parsed spec, not a parse
    assert second.to_json() == {"driver": "memory", "path": "a/"}
    assert second is not first


def test_a_rebuilt_registry_parses_again() -> None:
    _chunk_open._kvstore_spec({"driver": "memory", "path": "b/"})
    reset_registry()
    spec = _chunk_open._kvstore_spec({"driver": "memory", "path": "b/"})
    assert spec._record is get_registry().find("kvstore", "memory")


def test_reopening_reads_the_same_array() -> None:
    context = ts.Context()
    spec = {"driver": "zarr3", "kvstore": {"driver": "memory", "path": "c/"}}
    created = ts.open(spec, create=True, dtype=ts.int16, shape=[3], context=context).result()
    created[...] = [1, 2, 3]
    for _ in range(2):
        assert ts.open(spec, context=context).result().read().result().tolist() == [1, 2, 3]


def test_a_validated_spec_leaves_its_kvstore_parsed_for_the_open() -> None:
    """``validate_spec_json`` parses the kvstore member; the open that follows finds that
    parse instead of parsing the normalised member again (a copy, as always)."""
    from ts_core.driver import validate_spec_json

    validated = validate_spec_json({"driver": "zarr3", "kvstore": "memory://validated/"})
    assert validated["kvstore"] == {"driver": "memory", "path": "validated/"}
    with mock.patch.object(_chunk_open, "KvStoreSpec", wraps=KvStoreSpec) as parse:
        spec = _chunk_open._kvstore_spec(validated["kvstore"])
    assert [isinstance(call.args[0], KvStoreSpec) for call in parse.call_args_list] == [True]
    assert spec.to_json() == {"driver": "memory", "path": "validated/"}
    spec.path = "changed/"
    assert _chunk_open._kvstore_spec(validated["kvstore"]).path == "validated/"
