"""The kvstack kvstore: conformance over layered bases, routing and flattening as in the
tensorstore wheel, spec errors naming the layer, and key safety of file bases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.kvstore import KeyRange, KvStore
from ts_core.testing.kvstore import KvStoreConformance
from ts_core.testing.safety import files_below, sandbox

#: The example of tensorstore's kvstack schema.
EXAMPLE = {
    "driver": "kvstack",
    "layers": [
        {"base": "memory://base/"},
        {"base": "memory://prefix/a", "prefix": "a", "strip_prefix": 0},
        {"base": "memory://exact.json", "exact": "metadata.json"},
        {"base": "memory://range/", "inclusive_min": "d", "exclusive_max": "z"},
    ],
}
KEYS = ["x", "a1", "ab", "metadata.json", "e", "zz", "d", "a", "c", "z"]


class TestKvStackConformance(KvStoreConformance):
    increments_per_writer = 10

    @pytest.fixture
    def kvstore(self) -> KvStore:
        return ts.KvStore.open(
            {
                "driver": "kvstack",
                "layers": [
                    {"base": "memory://base/"},
                    {"base": "memory://under_a/", "prefix": "a/"},
                    {"base": "memory://only_c", "exact": "c"},
                    {"base": "memory://range/", "inclusive_min": "b/1", "exclusive_max": "b/3"},
                ],
            }
        ).result()


def _routed(kvstack: Any, module: Any) -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    context = module.Context()
    store = module.KvStore.open(kvstack, context=context).result()
    for key in KEYS:
        store.write(key, key.encode()).result()
    everything = module.KvStore.open("memory://", context=context).result()
    stored = everything.list().result()
    listed = store.list(module.KvStore.KeyRange("a", "e")).result()
    store.delete_range(module.KvStore.KeyRange("a", "e")).result()
    return stored, store.list().result(), listed, everything.list().result()


def test_routing_matches_the_wheel() -> None:
    tensorstore = pytest.importorskip("tensorstore")
    assert _routed(EXAMPLE, ts) == _routed(EXAMPLE, tensorstore)


def test_routing_of_the_example() -> None:
    stored, listed_all, listed_range, after_delete = _routed(EXAMPLE, ts)
    assert b"prefix/aa1" in stored  # prefix "a" kept (strip_prefix 0) below path "prefix/a"
    assert b"range/metadata.json" in stored  # the later range layer wins over the exact key
    assert b"exact.json" not in stored
    assert listed_all == sorted(key.encode() for key in KEYS if not "a" <= key < "e")
    assert listed_range == [b"a", b"a1", b"ab", b"c", b"d"]
    assert all(not key.startswith(b"prefix/") for key in after_delete)


def test_exact_layer_strips_the_whole_key() -> None:
    context = ts.Context()
    store = ts.KvStore.open(
        {"driver": "kvstack", "layers": [{"base": "memory://meta.json", "exact": "metadata.json"}]}, context=context
    ).result()
    store["metadata.json"] = b"{}"
    assert ts.KvStore.open("memory://", context=context).result().list().result() == [b"meta.json"]
    assert store.read("other").result().state == "missing"
    with pytest.raises(ValueError, match="not in any layer"):
        store.write("other", b"1").result()


@pytest.mark.parametrize(
    ("spec", "json"),
    [
        ({"base": "memory://x/", "inclusive_min": "ab", "exclusive_max": "ac"},
         {"base": {"driver": "memory", "path": "x/"}, "prefix": "ab"}),
        ({"base": "memory://x/", "inclusive_min": "b"}, {"base": {"driver": "memory", "path": "x/"}, "inclusive_min": "b"}),
        ({"base": "memory://", "prefix": "p", "strip_prefix": 1}, {"base": {"driver": "memory"}, "prefix": "p"}),
        ({"base": "memory://", "prefix": "pq", "strip_prefix": 1}, {"base": {"driver": "memory"}, "prefix": "pq", "strip_prefix": 1}),
    ],
)
def test_spec_json_matches_the_wheel(spec: dict[str, Any], json: dict[str, Any]) -> None:
    full = {"driver": "kvstack", "layers": [spec]}
    assert ts.KvStore.Spec(full).to_json() == {"driver": "kvstack", "layers": [json]}
    tensorstore = pytest.importorskip("tensorstore")
    assert tensorstore.KvStore.Spec(full).to_json() == {"driver": "kvstack", "layers": [json]}


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (None, 'missing required member "layers"'),
        ([{"prefix": "a"}], r'layers\[0\]: missing required member "base"'),
        ([{"base": "memory://", "prefix": "a", "exact": "b"}], 'At most one of "prefix", "exact", "inclusive_min"'),
        ([{"base": "memory://", "exclusive_max": "b", "strip_prefix": 3}], r'Invalid strip_prefix of 3 for range \["", "b"\)'),
        ([{"base": "memory://", "prefix": "ab", "strip_prefix": 5}], 'Invalid strip_prefix of 5 for prefix "ab"'),
        ([{"base": "memory://", "prefix": "ab", "strip_prefix": -1}], r"layers\[0\].strip_prefix"),
        ([{"base": "memory://", "foo": 1}], r"layers\[0\].foo"),
        ([{"base": "bogus://"}], r'layers\[0\].base: .*unsupported URL scheme "bogus"'),
    ],
)
def test_bad_specs_name_the_layer(layers: Any, message: str) -> None:
    spec = {"driver": "kvstack"} if layers is None else {"driver": "kvstack", "layers": layers}
    with pytest.raises(ValueError, match=message):
        ts.KvStore.Spec(spec)


def test_file_layers_keep_keys_inside_their_roots(tmp_path: Path) -> None:
    root = sandbox(tmp_path)
    before = files_below(tmp_path)
    store = ts.KvStore.open(
        {"driver": "kvstack", "layers": [{"base": f"file://{root}/all/"}, {"base": f"file://{root}/p/", "prefix": "p/"}]}
    ).result()
    for key in ["../outside/secret", "p/../../outside/secret", "p/../x"]:
        with pytest.raises(ValueError, match="Invalid key"):
            store.write(key, b"evil").result()
    store["p/ok"] = b"1"
    assert store.list(KeyRange("p/", "p0")).result() == [b"p/ok"]
    assert files_below(tmp_path)["outside/secret"] == before["outside/secret"]
    assert files_below(root) == {"p/ok": b"1"}


def test_pickles_and_round_trips() -> None:
    import pickle

    store = ts.KvStore.open(EXAMPLE).result()
    assert ts.KvStore.Spec(store.spec().to_json()) == store.spec()
    assert pickle.loads(pickle.dumps(store.spec())) == store.spec()


def test_file_layers_keep_ranges_inside_their_roots(tmp_path: Path) -> None:
    root = sandbox(tmp_path)
    store = ts.KvStore.open({"driver": "kvstack", "layers": [{"base": f"file://{root}/all/"}]}).result()
    store["k"] = b"1"
    with pytest.raises(ValueError, match=r"\.\."):
        store.list(KeyRange("../outside/", "../outside0")).result()
    with pytest.raises(ValueError, match=r"\.\."):
        store.delete_range(KeyRange("../outside/", "../outside0")).result()
    assert (tmp_path / "outside" / "secret").exists()
    assert store.list().result() == [b"k"]
