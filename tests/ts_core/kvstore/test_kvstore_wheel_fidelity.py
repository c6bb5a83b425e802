"""KvStore details compared with the tensorstore wheel: reprs, ``base``, the
``file_io_retries`` resource, and the hint for drivers of distributions not installed."""

from __future__ import annotations

import errno
import io
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
import tensorstore

import ts_core
from ts_core.kvstore.file import _driver as file_driver

LIBRARIES = [tensorstore, ts_core]


@pytest.mark.parametrize(
    ("generation", "time"),
    [(b"abc", 5), (b"abc", 5.5), ("x", 1.25e9), (b"\x01", -math.inf), (b"a", math.inf), (b"a", 1733212345.123456789),
     (b"a", 1e-7)],
)
def test_timestamped_generation_repr(generation: Any, time: float) -> None:
    reprs = [repr(library.KvStore.TimestampedStorageGeneration(generation, time)) for library in LIBRARIES]
    assert reprs[1] == reprs[0]


def test_timestamped_generation_repr_after_assignment() -> None:
    reprs = []
    for library in LIBRARIES:
        stamp = library.KvStore.TimestampedStorageGeneration()
        stamp.generation = b"q"
        stamp.time = 3
        reprs.append(repr(stamp))
    assert reprs[1] == reprs[0] == "KvStore.TimestampedStorageGeneration(b'q', 3.000000)"


def test_read_result_repr() -> None:
    reprs = []
    for library in LIBRARIES:
        stamp = library.KvStore.TimestampedStorageGeneration(b"g", 3)
        reprs.append(repr(library.KvStore.ReadResult(state="value", value=b"xyz", stamp=stamp)))
        reprs.append(repr(library.KvStore.ReadResult()))
    assert reprs[2:] == reprs[:2]


def test_key_range_bounds_become_bytes_when_set() -> None:
    reprs = []
    for library in LIBRARIES:
        key_range = library.KvStore.KeyRange("a", "b")
        key_range.inclusive_min = "0"
        key_range.exclusive_max = "\u00e9"
        reprs.append((repr(key_range), key_range.inclusive_min, key_range.exclusive_max))
    assert reprs[1] == reprs[0]
    with pytest.raises(TypeError, match="inclusive_min"):
        ts_core.KvStore.KeyRange().inclusive_min = 5  # type: ignore[assignment]


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x", b"1")
    return buffer.getvalue()


@pytest.mark.parametrize("url", ["memory://a/d.zip|zip:", "memory://a/d.zip|zip:sub/", "memory://x/"])
def test_spec_base(url: str) -> None:
    results = [repr(library.KvStore.Spec(url).base) for library in LIBRARIES]
    assert results[1] == results[0]


def test_kvstack_spec_has_no_base() -> None:
    spec = {"driver": "kvstack", "layers": [{"base": "memory://a/", "prefix": "p/", "strip_prefix": 2}]}
    assert ts_core.KvStore.Spec(spec).base is None
    assert tensorstore.KvStore.Spec(spec).base is None
    assert ts_core.KvStore.open(spec).result().base is None


def test_kvstore_base() -> None:
    results = []
    for library in LIBRARIES:
        context = library.Context()
        library.KvStore.open("memory://a/", context=context).result().write("d.zip", _zip_bytes()).result()
        kvstore = library.KvStore.open("memory://a/d.zip|zip:", context=context).result()
        base = kvstore.base
        results.append((repr(base), base.url, base.read("").result().value == _zip_bytes()))
        results.append(library.KvStore.open("memory://q/").result().base)
    assert results[2:] == results[:2]


def test_file_kvstore_repr_shows_file_io_retries(tmp_path: Path) -> None:
    reprs = [repr(library.KvStore.open(f"file://{tmp_path}/").result()) for library in LIBRARIES]
    assert reprs[1] == reprs[0]
    assert "'file_io_retries': {}" in reprs[1]


# Members in sorted order and durations in canonical form: ts keeps a resource's JSON as
# written, where tensorstore sorts the members and rewrites durations ("90s" -> "1m30s").
@pytest.mark.parametrize(
    "retries", [{"max_retries": 7}, {"initial_delay": "10ms", "max_delay": "1m30s", "max_retries": 2}]
)
def test_file_io_retries_json(tmp_path: Path, retries: dict[str, Any]) -> None:
    spec = {"driver": "file", "path": f"{tmp_path}/", "file_io_retries": retries}
    reprs = [repr(library.KvStore.open(spec).result()) for library in LIBRARIES]
    assert reprs[1] == reprs[0]
    contexts = [library.Context({"file_io_retries": retries}).spec.to_json() for library in LIBRARIES]
    assert contexts[1] == contexts[0]


@pytest.mark.parametrize(
    ("retries", "member"),
    [({"max_retries": -1}, "max_retries"), ({"initial_delay": 1}, "initial_delay"), ({"foo": 1}, "foo"),
     ({"max_delay": "5 parsecs"}, "max_delay"), (5, "file_io_retries")],
)
def test_file_io_retries_rejects_bad_json(retries: Any, member: str) -> None:
    with pytest.raises(ValueError, match=r"member|received"):  # the wheel's wording
        tensorstore.Context({"file_io_retries": retries})
    with pytest.raises(ValueError, match=member):
        ts_core.Context({"file_io_retries": retries})


def _flaky_open(monkeypatch: pytest.MonkeyPatch, failures: int, code: int) -> list[str]:
    """``os.open`` in the file driver fails ``failures`` times with ``code`` for reads."""
    attempts: list[str] = []
    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and str(path).endswith("key"):
            attempts.append(str(path))
            if len(attempts) <= failures:
                raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(file_driver.os, "open", open_)
    return attempts


def _retry_count() -> float:
    (metric,) = ts_core.experimental_collect_matching_metrics(
        "/tensorstore/kvstore/file/retries", include_zero_metrics=True
    )
    return float(metric["values"][0]["value"])


def test_file_reads_retry_transient_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"driver": "file", "path": f"{tmp_path}/",
            "file_io_retries": {"max_retries": 3, "initial_delay": "1ms", "max_delay": "2ms"}}
    kvstore = ts_core.KvStore.open(spec).result()
    kvstore.write("key", b"value").result()
    before = _retry_count()
    attempts = _flaky_open(monkeypatch, 2, errno.ESTALE)
    assert kvstore.read("key").result().value == b"value"
    assert len(attempts) == 3
    assert _retry_count() - before == 2


def test_file_reads_give_up_after_max_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"driver": "file", "path": f"{tmp_path}/",
            "file_io_retries": {"max_retries": 1, "initial_delay": "1ms", "max_delay": "1ms"}}
    kvstore = ts_core.KvStore.open(spec).result()
    kvstore.write("key", b"value").result()
    attempts = _flaky_open(monkeypatch, 5, errno.EAGAIN)
    with pytest.raises(OSError, match="key"):
        kvstore.read("key").result()
    assert len(attempts) == 2


@pytest.mark.parametrize(("max_retries", "code"), [(0, errno.ESTALE), (3, errno.EACCES)])
def test_no_retry_by_default_or_for_lasting_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_retries: int, code: int
) -> None:
    spec = {"driver": "file", "path": f"{tmp_path}/",
            "file_io_retries": {"max_retries": max_retries, "initial_delay": "1ms"}}
    kvstore = ts_core.KvStore.open(spec).result()
    kvstore.write("key", b"value").result()
    attempts = _flaky_open(monkeypatch, 5, code)
    with pytest.raises(OSError, match=os.strerror(code)):
        kvstore.read("key").result()
    assert len(attempts) == 1


def test_file_listing_retries_transient_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"driver": "file", "path": f"{tmp_path}/",
            "file_io_retries": {"max_retries": 2, "initial_delay": "1ms", "max_delay": "1ms"}}
    kvstore = ts_core.KvStore.open(spec).result()
    kvstore.write("a/key", b"1").result()
    failures = [errno.EBUSY]
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if failures:
            raise OSError(failures.pop(), "busy", str(path))
        return real_scandir(path)

    monkeypatch.setattr(file_driver.os, "scandir", scandir)
    assert kvstore.list().result() == [b"a/key"]
    assert not failures


@pytest.mark.parametrize(
    "make",
    [
        lambda ts: ts.KvStore.Spec({"driver": "ocdbt", "base": "memory://"}),
        lambda ts: ts.KvStore.open({"driver": "ocdbt", "base": "memory://"}).result(),
        lambda ts: ts.Spec({"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": "memory://"}}),
        lambda ts: ts.KvStore.Spec("memory://|ocdbt:"),
    ],
)
def test_ocdbt_names_its_distribution(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_core.plugin import reset_registry

    monkeypatch.setenv("TS_DISABLE_PLUGINS", "ts_ocdbt")  # as if ts-ocdbt were not installed
    reset_registry()
    try:
        _check_ocdbt_hint(make)
    finally:
        monkeypatch.delenv("TS_DISABLE_PLUGINS")
        reset_registry()


def _check_ocdbt_hint(make: Any) -> None:
    with pytest.raises(ValueError, match="provided by the ts-ocdbt distribution, which is not installed"):
        make(ts_core)


def test_unknown_driver_has_no_hint() -> None:
    with pytest.raises(ValueError, match="is not a registered kvstore driver; known:") as raised:
        ts_core.KvStore.Spec({"driver": "no_such_driver"})
    assert "distribution" not in str(raised.value)
