"""Plugin discovery through the ``ts`` entry-point group, as a third party would use it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ts_core.plugin import DuplicatePluginError, Registry, UnknownPluginError

THIRD_PARTY_DRIVER = '''
"""A toy kvstore that stores values reversed, on top of a dict (third-party code)."""
import time
import attrs
from ts_core.kvstore import KvStoreDriver, ReadResult, TimestampedStorageGeneration, NO_VALUE


@attrs.define
class ReversedSpec:
    label: str = "default"


class ReversedStore(KvStoreDriver):
    id = "reversed"
    spec_class = ReversedSpec

    def __init__(self, spec):
        self._spec, self._values, self._count = spec, {}, 0

    @classmethod
    def open(cls, spec, context):
        return cls(spec)

    @property
    def spec(self):
        return self._spec

    def read(self, key, options):
        if key not in self._values:
            return ReadResult("missing", b"", TimestampedStorageGeneration(NO_VALUE, time.time()))
        value, generation = self._values[key]
        return ReadResult("value", value[::-1], TimestampedStorageGeneration(generation, time.time()))

    def write(self, key, value, if_equal):
        self._count += 1
        generation = self._count.to_bytes(8, "little") + b"\\0"
        self._values[key] = (value[::-1], generation)
        return TimestampedStorageGeneration(generation, time.time())

    def delete_range(self, key_range):
        for key in [k for k in self._values if key_range.contains(k)]:
            del self._values[key]

    def list(self, key_range):
        return [k for k in self._values if key_range.contains(k)]
'''

THIRD_PARTY_PLUGIN = '''
from ts_core.plugin import hookimpl

SCHEMA = {{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:example:{kvstore_id}",
    "allOf": [{{"$ref": "urn:ts:schema:kvstore"}}],
    "properties": {{"driver": {{"const": "{kvstore_id}"}}, "label": {{"type": "string"}}}},
    "unevaluatedProperties": False,
}}


@hookimpl
def ts_register(registry):
    registry.add("kvstore", "{kvstore_id}", "{package}.driver:ReversedStore", schema=SCHEMA)
'''


def make_distribution(site: Path, dist_name: str, package: str, kvstore_id: str) -> None:
    """Write an installed-looking distribution (package + dist-info) under ``site``."""
    pkg = site / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "driver.py").write_text(THIRD_PARTY_DRIVER)
    (pkg / "_plugin.py").write_text(THIRD_PARTY_PLUGIN.format(kvstore_id=kvstore_id, package=package))
    info = site / f"{dist_name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ts]\n{package} = {package}._plugin\n")


def run_python(code: str, site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=120
    )


def test_third_party_kvstore_is_opened_by_id(tmp_path: Path) -> None:
    make_distribution(tmp_path, "example-reversed-kvstore", "example_reversed", "reversed")
    result = run_python(
        """
        import sys
        import ts_core as ts
        store = ts.KvStore.open({"driver": "reversed", "label": "x"}).result()
        store["k"] = b"abc"
        print(store["k"], store.list().result())
        print(store.spec().to_json())
        print("example_reversed.driver" in sys.modules)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "b'abc' [b'k']",
        "{'driver': 'reversed', 'label': 'x'}",
        "True",
    ]


def test_third_party_schema_errors_name_the_field(tmp_path: Path) -> None:
    make_distribution(tmp_path, "example-reversed-kvstore", "example_reversed", "reversed")
    result = run_python(
        """
        import ts_core as ts
        try:
            ts.KvStore.Spec({"driver": "reversed", "label": 5})
        except ValueError as error:
            print(error)
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "kvstore.label: expected string, but received: 5"


def test_plugins_are_imported_lazily(tmp_path: Path) -> None:
    make_distribution(tmp_path, "example-reversed-kvstore", "example_reversed", "reversed")
    result = run_python(
        """
        import sys
        import ts_core as ts
        ts.KvStore.open("memory://").result()
        print("example_reversed._plugin" in sys.modules, "example_reversed.driver" in sys.modules)
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "True False", result.stderr


def test_duplicate_id_fails_loudly_naming_both_distributions(tmp_path: Path) -> None:
    make_distribution(tmp_path, "evil-memory", "evil_memory", "memory")
    result = run_python("import ts_core as ts; ts.KvStore.open('memory://')", tmp_path)
    assert result.returncode != 0
    assert "DuplicatePluginError" in result.stderr
    assert "'ts-core'" in result.stderr
    assert "'evil-memory'" in result.stderr


def test_disable_plugins_environment_variable(tmp_path: Path) -> None:
    make_distribution(tmp_path, "evil-memory", "evil_memory", "memory")
    code = "import ts_core as ts; print(ts.KvStore.open('memory://').result().url)"
    by_distribution = run_python(code, tmp_path, TS_DISABLE_PLUGINS="evil-memory")
    assert by_distribution.stdout.strip() == "memory://", by_distribution.stderr
    by_entry_point = run_python(code, tmp_path, TS_DISABLE_PLUGINS="other, evil_memory")
    assert by_entry_point.stdout.strip() == "memory://", by_entry_point.stderr


def test_unknown_driver_lists_known_ids() -> None:
    import ts_core as ts

    with pytest.raises(ValueError, match=r'kvstore\.driver: "nope" is not a registered kvstore driver; known: .*file.*memory'):
        ts.KvStore.open({"driver": "nope"})


def test_registry_records() -> None:
    registry = Registry()
    record = registry.add("kvstore", "x", "json:loads", aliases=["x-alias"], distribution="dist-a")
    assert registry.get("kvstore", "x-alias") is record
    assert registry.ids("kvstore") == ["x"]
    assert record.load() is __import__("json").loads
    with pytest.raises(DuplicatePluginError, match=r"'dist-a'.*'dist-b'"):
        registry.add("kvstore", "x-alias", "json:dumps", distribution="dist-b")
    with pytest.raises(UnknownPluginError, match="known: x"):
        registry.get("kvstore", "y")


def test_codec_namespaces_are_separate() -> None:
    registry = Registry()
    registry.add("codec", "gzip", "json:loads", namespace="zarr3")
    registry.add("codec", "gzip", "json:dumps", namespace="n5")
    assert registry.get("codec", "gzip", "zarr3").target == "json:loads"
    assert registry.ids("codec", "n5") == ["gzip"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "gadget"}, "unknown plugin kind"),
        ({"target": "no-colon"}, "module:attr"),
        ({"id": ""}, "non-empty"),
        ({"schema": {"type": "no-such-type"}}, "not a valid JSON Schema"),
        ({"schema": {"properties": {"a": {"minimum": "zero"}}}}, "properties/a/minimum"),
    ],
)
def test_bad_registrations(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"kind": "kvstore", "id": "k", "target": "m:a", **kwargs}
    with pytest.raises(ValueError, match=message):
        Registry().add(**arguments)  # type: ignore[arg-type]


def test_broken_plugin_fails_loudly_and_can_be_disabled(tmp_path: Path) -> None:
    make_distribution(tmp_path, "broken-plugin", "broken_plugin", "broken")
    (tmp_path / "broken_plugin" / "_plugin.py").write_text("raise RuntimeError('bad install')\n")
    code = "import ts_core as ts; print(ts.KvStore.open('memory://').result().url)"
    result = run_python(code, tmp_path)
    assert result.returncode != 0
    assert "PluginLoadError" in result.stderr
    assert "'broken-plugin' failed to import: bad install" in result.stderr
    skipped = run_python(code, tmp_path, TS_DISABLE_PLUGINS="broken_plugin")
    assert skipped.stdout.strip() == "memory://", skipped.stderr


def test_every_schema_the_project_ships_is_a_valid_json_schema() -> None:
    """The project's own distributions skip the metaschema check at registration (start-up
    time); this is where their schemas are checked instead."""
    import jsonschema

    from ts_core.plugin import get_registry
    from ts_core.plugin._registry import PROJECT_DISTRIBUTIONS

    records = [r for r in get_registry().records() if r.schema is not None]
    assert {r.distribution for r in records} <= PROJECT_DISTRIBUTIONS
    assert len(records) > 40
    for record in records:
        jsonschema.Draft202012Validator.check_schema(record.schema)


def test_a_third_party_schema_is_checked_at_registration() -> None:
    with pytest.raises(ValueError, match="schema is not a valid JSON Schema"):
        Registry().add("kvstore", "k", "m:a", schema={"type": 5}, distribution="someone-else")
    Registry().add("kvstore", "k", "m:a", schema={"type": "object"}, distribution="someone-else")
