"""KvStore.Spec: JSON and URL parsing, errors naming the JSON path, value semantics."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import ts_core as ts


@pytest.mark.parametrize(
    ("url", "json"),
    [
        ("memory://", {"driver": "memory"}),
        ("memory://a/b", {"driver": "memory", "path": "a/b"}),
        ("memory://a%20b/", {"driver": "memory", "path": "a b/"}),
        ("file:///abs/path/", {"driver": "file", "path": "/abs/path/"}),
        ("FILE:///x", {"driver": "file", "path": "/x"}),
    ],
)
def test_url_parsing(url: str, json: dict[str, str]) -> None:
    spec = ts.KvStore.Spec(url)
    assert spec.to_json() == json
    assert spec.path == json.get("path", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bogus://x", 'unsupported URL scheme "bogus"'),
        ("no-scheme", 'invalid URL "no-scheme"'),
        ("memory://a?x=1", "Query string not supported"),
        ("file:///x#frag", "Fragment identifier not supported"),
        ("memory://|zarr:", "composite URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ts.KvStore.Spec(url)


@pytest.mark.parametrize(
    ("json", "message"),
    [
        ({"driver": "file", "path": 3}, "kvstore.path: expected string, but received: 3"),
        ({"driver": 3}, "kvstore.driver: expected string, but received: 3"),
        ({"path": "x"}, "kvstore.driver: expected string, but received: null"),
        ({"driver": "nope"}, 'kvstore.driver: "nope" is not a registered kvstore driver; known: '),
        ({"driver": "memory", "extra": 1}, "kvstore.extra: unexpected member"),
        ({"driver": "memory", "atomic": "yes"}, 'kvstore.atomic: expected boolean, but received: "yes"'),
        ({"driver": "memory", "context": []}, "kvstore.context: expected object"),
        ([1, 2], "kvstore: expected object or URL string"),
    ],
)
def test_bad_specs(json: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^kvstore") as info:
        ts.KvStore.Spec(json)
    assert str(info.value).startswith(message), str(info.value)


def test_url_and_path_properties() -> None:
    spec = ts.KvStore.Spec({"driver": "file", "path": "/data/x y/"})
    assert spec.url == "file:///data/x%20y/"
    assert ts.KvStore.Spec(spec.url) == spec
    spec.path = "/other/"
    assert spec.to_json() == {"driver": "file", "path": "/other/"}


def test_path_joining() -> None:
    spec = ts.KvStore.Spec("memory://a/b")
    assert (spec / "c").path == "a/b/c"
    assert (spec + "c").path == "a/bc"
    assert (ts.KvStore.Spec("memory://a/") / "c").path == "a/c"
    assert (ts.KvStore.Spec("memory://") / "c").path == "c"
    assert spec.path == "a/b"  # operators return new specs


def test_update_context() -> None:
    spec = ts.KvStore.Spec(
        {"driver": "memory", "path": "abc/", "memory_key_value_store": "memory_key_value_store#a"}
    )
    spec.update(context=ts.Context({"memory_key_value_store#a": {}}))
    assert spec.to_json()["context"] == {"memory_key_value_store#a": {}}
    store = ts.KvStore.open(spec).result()
    store["k"] = b"v"
    spec.update(strip_context=True)
    assert "context" not in spec.to_json()


def test_equality_copy_and_pickle() -> None:
    spec = ts.KvStore.Spec({"driver": "memory", "path": "p/", "atomic": False})
    assert spec == ts.KvStore.Spec({"driver": "memory", "path": "p/", "atomic": False})
    assert spec != ts.KvStore.Spec({"driver": "memory", "path": "p/"})
    assert spec.copy() == spec
    assert spec.copy() is not spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert repr(spec) == "KvStore.Spec({'atomic': False, 'driver': 'memory', 'path': 'p/'})"


def test_defaults_are_omitted_from_json() -> None:
    spec = ts.KvStore.Spec({"driver": "memory", "atomic": True, "memory_key_value_store": "memory_key_value_store"})
    assert spec.to_json() == {"driver": "memory"}


def test_kvstore_pickles_and_reopens(tmp_path: object) -> None:
    store = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/"}).result()
    store["k"] = b"v"
    clone = pickle.loads(pickle.dumps(store))
    assert clone["k"] == b"v"
    assert clone.spec() == store.spec()


def test_kvstore_properties() -> None:
    store = ts.KvStore.open("memory://x/").result()
    assert store.path == "x/"
    assert store.url == "memory://x/"
    assert store.transaction is None
    assert store.base is None
    copy = store.copy()
    copy.path = "y/"
    assert store.path == "x/"
    txn = ts.Transaction()
    assert store.with_transaction(txn).transaction is txn
    with pytest.raises(TypeError, match="transaction"):
        store.with_transaction("not a transaction")  # type: ignore[arg-type]


def test_import_is_cheap_and_lazy() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import ts_core; "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in ('numpy', 'jsonschema', 'pluggy', 'cattrs') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, modules = output.splitlines()
    assert modules == "[]"
    assert float(seconds) < 0.15
