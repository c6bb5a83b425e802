"""Building the registry imports no implementation: schemas are read beside the modules,
and jsonschema is imported only when a value needs its errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import resources

import pytest

from ts_core.plugin import load_schema
from ts_core.plugin._registry import _file_beside_modules


def test_registry_and_a_valid_open_import_no_driver_package_nor_jsonschema() -> None:
    code = textwrap.dedent(
        """
        import sys
        import ts_core as ts
        from ts_core.plugin import get_registry

        registry = get_registry()
        before = set(sys.modules)
        ts.open({"driver": "array", "array": [1, 2], "dtype": "int32"}).result()
        unrelated = ["ts_core.driver.stack", "ts_core.driver.json", "ts_core.driver.image",
                     "ts_core.kvstore.zip", "ts_core.kvstore.kvstack", "ts_zarr.zarr3._driver"]
        print(sorted(name for name in unrelated if name in sys.modules))
        print("jsonschema" in sys.modules, "jsonschema" in before)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, jsonschema_flags = result.stdout.splitlines()
    assert imported == "[]"
    assert jsonschema_flags == "False False"


def test_an_invalid_spec_still_gets_jsonschema_errors_naming_the_field() -> None:
    import ts_core as ts

    with pytest.raises(ValueError, match="dtype"):
        ts.open({"driver": "array", "array": [1, 2], "dtype": 5}).result()


@pytest.mark.parametrize(
    "reference",
    [
        "ts_core.schemas:driver.json",
        "ts_core.driver.stack:schema.json",
        "ts_core.context:schemas/cache_pool.json",
        "ts_zarr:schemas/zarr3.json",
    ],
)
def test_schema_read_beside_the_modules_equals_the_package_resource(reference: str) -> None:
    package, _, name = reference.partition(":")
    assert _file_beside_modules(package, name) is not None
    expected = json.loads(resources.files(package).joinpath(name).read_text("utf-8"))
    assert load_schema(reference) == expected


def test_a_schema_not_found_beside_the_modules_falls_back_to_package_resources() -> None:
    assert _file_beside_modules("ts_core.no_such_package", "schema.json") is None
    assert _file_beside_modules("no_such_top_level_package_xyz", "schema.json") is None
    with pytest.raises(ModuleNotFoundError):
        load_schema("no_such_top_level_package_xyz:schema.json")
