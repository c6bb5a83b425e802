"""A spec's ``path`` member, its kvstore's directory path and its open-mode flags print as
tensorstore prints them (the wheel is the oracle)."""

from __future__ import annotations

from typing import Any

import pytest
import tensorstore

import ts_core

SPECS: list[dict[str, Any]] = [
    {"driver": "zarr3", "kvstore": "memory://a/", "path": "x"},
    {"driver": "zarr3", "kvstore": "memory://a", "path": "x/"},
    {"driver": "zarr3", "kvstore": "memory://a", "path": ""},
    {"driver": "zarr3", "kvstore": "memory://a"},
    {"driver": "zarr", "kvstore": {"driver": "file", "path": "/tmp/a"}, "path": "b/c"},
    {"driver": "n5", "kvstore": "memory://", "path": "q"},
    {"driver": "neuroglancer_precomputed", "kvstore": "memory://a"},
    {"driver": "json", "kvstore": "memory://", "path": "q.json"},
    {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": "memory://b", "path": "c"}},
    {"driver": "zarr3", "kvstore": "memory://", "open": False, "create": False, "delete_existing": False,
     "assume_metadata": False, "assume_cached_metadata": False},
    {"driver": "zarr3", "kvstore": "memory://", "open": True},
    {"driver": "zarr3", "kvstore": "memory://", "open": True, "create": True},
    {"driver": "auto", "kvstore": "memory://a"},
]


@pytest.mark.parametrize("json_value", SPECS, ids=range(len(SPECS)))
def test_spec_json_matches_the_wheel(json_value: dict[str, Any]) -> None:
    assert ts_core.Spec(json_value).to_json() == tensorstore.Spec(json_value).to_json()


def test_a_path_without_a_kvstore_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^path: .*kvstore"):
        ts_core.Spec({"driver": "zarr3", "path": "x"})


def test_the_folded_path_opens_the_same_array() -> None:
    context = ts_core.Context()
    created = ts_core.open({"driver": "zarr3", "kvstore": "memory://a", "path": "x"}, create=True,
                           dtype="uint8", shape=[3], context=context).result()
    created[...] = [1, 2, 3]
    spec = ts_core.Spec({"driver": "zarr3", "kvstore": "memory://a", "path": "x"})
    assert ts_core.open(spec, context=context).result().read().result().tolist() == [1, 2, 3]
    assert ts_core.open("memory://a/x/|zarr3:", context=context).result().read().result().tolist() == [1, 2, 3]


@pytest.mark.parametrize("library", [ts_core, tensorstore], ids=["ts", "tensorstore"])
def test_open_mode_options_replace_the_spec_flags_as_in_the_wheel(library: Any) -> None:
    """``open: true`` is not printed (it is the default), and ``create=True`` given to open
    replaces the spec's flags: an existing array is then an error, in both libraries."""
    context = library.Context()
    library.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype="uint8", shape=[2],
                 context=context).result()
    spec = library.Spec({"driver": "zarr3", "kvstore": "memory://", "open": True})
    assert "open" not in spec.to_json()
    assert library.open(spec, context=context).result().shape == (2,)
    with pytest.raises(ValueError, match=r"zarr\.json"):
        library.open(spec, create=True, context=context).result()
