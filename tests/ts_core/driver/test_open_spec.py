"""validate_spec_json: validated spec JSON is remembered by its text, handed out as copies,
and validated afresh once the plugin registry is rebuilt."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from ts_core.driver import _open_spec
from ts_core.driver._open_spec import validate_spec_json
from ts_core.plugin import reset_registry

SPEC = {"driver": "zarr3", "kvstore": "memory://a/", "metadata": {"shape": [4]}}


def test_a_cached_spec_is_a_copy_equal_to_a_fresh_validation() -> None:
    first = validate_spec_json(SPEC)
    assert first["kvstore"] == {"driver": "memory", "path": "a/"}
    first["metadata"]["shape"].append(9)  # callers edit what they get
    first["open"] = True
    with mock.patch.object(_open_spec, "validate_against", wraps=_open_spec.validate_against) as validate:
        second = validate_spec_json(SPEC)
        validate.assert_not_called()  # from the cache
    assert second == {"driver": "zarr3", "kvstore": {"driver": "memory", "path": "a/"}, "metadata": {"shape": [4]}}
    _open_spec._validated_specs.clear()
    assert validate_spec_json(SPEC) == second
    assert SPEC["kvstore"] == "memory://a/"  # the input is never changed


def test_invalid_specs_fail_every_time() -> None:
    bad = {"driver": "zarr3", "kvstore": {"driver": "memory", "path": 3}}
    for _ in range(2):
        with pytest.raises(ValueError, match=r"kvstore\.path"):
            validate_spec_json(bad)


def test_a_rebuilt_registry_validates_again() -> None:
    validate_spec_json(SPEC)
    reset_registry()
    with mock.patch.object(_open_spec, "validate_against", wraps=_open_spec.validate_against) as validate:
        assert validate_spec_json(SPEC)["driver"] == "zarr3"
        validate.assert_called_once()


def test_values_that_are_not_json_are_validated_without_the_cache() -> None:
    spec = {"driver": "zarr3", "kvstore": "memory://", "metadata": {"shape": [np.int64(4)]}}
    for _ in range(2):
        with pytest.raises(ValueError, match=r"metadata.shape\[0\]: expected integer"):
            validate_spec_json(spec)
    assert not any("int64" in key for key in _open_spec._validated_specs)


def test_tuples_are_json_arrays_before_and_after_caching() -> None:
    """A spec may give JSON arrays as tuples (tensorstore accepts them): the first open
    validates them as arrays, and a cached validation hands back lists either way."""
    import ts_core as ts

    spec = {"driver": "zarr3", "kvstore": "memory://", "metadata": {"shape": (5, 3), "data_type": "uint8"}}
    for _ in range(2):
        store = ts.open(spec, create=True).result()
        assert store.shape == (5, 3)
        assert validate_spec_json(spec)["metadata"]["shape"] == [5, 3]
