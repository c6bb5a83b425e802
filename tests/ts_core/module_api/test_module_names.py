"""The module-level names of tensorstore's Python API exist in ts_core and behave alike:
typing aliases, Indexable/DimSelection, verbose-logging flags and ts.ocdbt."""

from __future__ import annotations

import logging
import subprocess
import sys
import typing
from typing import Any

import pytest
import tensorstore

import ts_core

#: Names of the wheel's module that are implementation details, not API.
PRIVATE = {"annotations"}


def test_every_public_name_of_the_wheel_is_declared() -> None:
    wheel_names = {name for name in dir(tensorstore) if not name.startswith("_")} - PRIVATE
    assert wheel_names - set(ts_core.__all__) == set()


@pytest.mark.parametrize("name", ["RecheckCacheOption", "DownsampleMethod"])
def test_literal_and_union_aliases_match(name: str) -> None:
    assert repr(getattr(ts_core, name)) == repr(getattr(tensorstore, name))


@pytest.mark.parametrize("name", ["NumpyIndexTerm", "NumpyIndexingSpec", "DimSelectionLike", "FutureLike"])
def test_union_aliases_have_the_wheels_shape(name: str) -> None:
    ours, theirs = getattr(ts_core, name), getattr(tensorstore, name)
    assert typing.get_origin(ours) is typing.get_origin(theirs) is typing.Union
    assert len(typing.get_args(ours)) == len(typing.get_args(theirs))


def test_type_variable() -> None:
    assert isinstance(ts_core.T, typing.TypeVar)
    assert repr(ts_core.T) == repr(tensorstore.T)


def _indexables(ts: Any) -> list[bool]:
    store = ts.open({"driver": "array", "array": [1, 2], "dtype": "int32"}).result()
    spec = ts.Spec({"driver": "array", "array": [1, 2], "dtype": "int32"})
    candidates = [store, spec, ts.IndexTransform(2), ts.IndexDomain(2), 3, ts.d[0]]
    return [isinstance(value, ts.Indexable) for value in candidates]


def test_indexable_covers_the_same_types() -> None:
    assert _indexables(ts_core) == _indexables(tensorstore) == [True, True, True, False, False, False]


@pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])
def test_dim_selection(ts: Any) -> None:
    assert isinstance(ts.d[0, "x"], ts.DimSelection)
    assert isinstance(ts.d[0, "x"], ts.DimExpression)
    assert not isinstance(ts.d[0].translate_by[1], ts.DimSelection)
    assert issubclass(ts.DimSelection, ts.DimExpression)
    with pytest.raises(TypeError):
        ts.DimSelection()


def test_verbose_logging_turns_on_the_components_loggers() -> None:
    gcs = logging.getLogger("ts_cloud.gcs")
    try:
        ts_core.experimental_update_verbose_logging("gcs,s3=1")
        assert gcs.isEnabledFor(logging.DEBUG)
        assert logging.getLogger("ts_cloud.s3").isEnabledFor(logging.DEBUG)
        ts_core.experimental_update_verbose_logging("s3", overwrite=True)
        assert gcs.level == logging.NOTSET
    finally:
        ts_core.experimental_update_verbose_logging("", overwrite=True)
    assert logging.getLogger("ts_cloud.s3").level == logging.NOTSET
    with pytest.raises(ValueError, match="level must be an integer"):
        ts_core.experimental_update_verbose_logging("gcs=high")
    assert tensorstore.experimental_update_verbose_logging("", overwrite=False) is None


def test_parse_tensorstore_flags() -> None:
    script = (
        "import logging, ts_core as ts\n"
        "ts.parse_tensorstore_flags(['prog', '--other=1', '--tensorstore_verbose_logging=gcs', 'x'])\n"
        "logging.getLogger('ts_cloud.gcs').debug('verbose message')\n"
        "try:\n"
        "    ts.parse_tensorstore_flags(['prog', '--tensorstore_http_threads=4'])\n"
        "except NotImplementedError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "verbose message" in done.stderr
    assert "--tensorstore_http_threads" in done.stdout
    assert tensorstore.parse_tensorstore_flags(["prog", "--other=1"]) is None
    with pytest.raises(ValueError, match="program name"):
        ts_core.parse_tensorstore_flags([])  # the wheel aborts the process here
    with pytest.raises(TypeError):
        ts_core.parse_tensorstore_flags("prog --x")


def test_ocdbt_names_exist_and_say_where_the_implementation_comes_from() -> None:
    import ts_core.ocdbt

    assert ts_core.ocdbt is sys.modules["ts_core.ocdbt"]
    public = {name for name in dir(tensorstore.ocdbt) if not name.startswith("_")}
    assert public <= set(dir(ts_core.ocdbt))
    store = ts_core.KvStore.open("memory://").result()
    # The tools are ts-ocdbt's own (installed here): an empty store has no manifest, and an
    # empty dump is not a manifest.
    with pytest.raises(ValueError, match="Manifest not found"):
        ts_core.ocdbt.dump(store).result()
    with pytest.raises(ValueError, match='member "config"'):
        ts_core.ocdbt.undump_manifest({"config": {}, "versions": [], "version_tree_nodes": []})
    with pytest.raises(ValueError, match="Config is not fully specified"):
        ts_core.ocdbt.undump_version_tree_node({}, {})
    # No coordinator server: ts-ocdbt's writers coordinate through the manifest.
    with pytest.raises(
        NotImplementedError, match=r"ts\.ocdbt\.DistributedCoordinatorServer: .*ts-ocdbt distribution"
    ):
        ts_core.ocdbt.DistributedCoordinatorServer()


def test_verbose_logging_from_the_environment() -> None:
    import os

    script = "import logging, ts_core\nlogging.getLogger('ts_cloud.s3').debug('verbose from the environment')\n"
    environment = {**os.environ, "TENSORSTORE_VERBOSE_LOGGING": "s3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment)
    assert done.returncode == 0, done.stderr
    assert "verbose from the environment" in done.stderr
