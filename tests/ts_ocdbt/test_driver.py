"""The ``ocdbt`` kvstore driver: spec and URL as tensorstore's, config creation and checks,
pinned versions, byte ranges, concurrent committers, and the same database read and
written by ts and by the tensorstore wheel."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import tensorstore

import ts_core as ts
from ts_core.kvstore import make_generation
from ts_ocdbt._io import value_generation
from ts_ocdbt.format import DataFileId, IndirectDataReference

SPEC_URLS = [
    "file:///tmp/db/|ocdbt:",
    "file:///tmp/db|ocdbt:a/b",
    "file:///tmp/db/|ocdbt:@v1/a",
    "file:///tmp/db/|ocdbt:@v3",
    "file:///tmp/db/|ocdbt:@2025-01-01T01:23:45.678Z/p",
    "file:///tmp/db/|ocdbt:@2025-01-01T01:23:45.670Z",
    "file:///tmp/db/|ocdbt:a%20b",
    "memory://|ocdbt:x",
    "memory://a|ocdbt:@v1/a%2Fb",
]


@pytest.mark.parametrize("url", SPEC_URLS)
def test_url_as_tensorstore(url: str) -> None:
    ours, theirs = ts.KvStore.Spec(url), tensorstore.KvStore.Spec(url)
    assert ours.to_json() == theirs.to_json()
    assert ours.url == theirs.url


SPEC_JSON: list[dict[str, Any]] = [
    {"config": {"compression": {"id": "zstd", "level": 0}}},
    {"config": {"compression": {"id": "zstd", "level": 5}, "uuid": "00112233445566778899AABBCCDDEEFF"}},
    {"config": {"compression": None, "manifest_kind": "numbered", "max_inline_value_bytes": 0}},
    {"assume_config": True, "value_data_prefix": "v/", "target_data_file_size": 100},
    {"experimental_read_coalescing_threshold_bytes": 10, "experimental_read_coalescing_interval": "10ms"},
    {"base": "memory://x", "path": "a"},
    {"version": "2025-01-01T01:23:45.1234567891Z"},
]


@pytest.mark.parametrize("members", SPEC_JSON)
def test_spec_json_as_tensorstore(members: dict[str, Any]) -> None:
    json = {"driver": "ocdbt", "base": "memory://", **members}
    assert ts.KvStore.Spec(json).to_json() == tensorstore.KvStore.Spec(json).to_json()


@pytest.mark.parametrize(
    ("members", "member"),
    [
        ({"version": 0}, "kvstore.version"),
        ({"version": "yesterday"}, "kvstore.version"),
        ({"config": {"uuid": "abc"}}, "kvstore.config.uuid"),
        ({"config": {"max_inline_value_bytes": 2_000_000}}, "kvstore.config.max_inline_value_bytes"),
        ({"config": {"manifest_kind": "x"}}, "kvstore.config.manifest_kind"),
        ({"config": {"foo": 1}}, "kvstore.config"),
        ({"foo": 1}, "kvstore"),
    ],
)
def test_bad_spec_names_the_member(members: dict[str, Any], member: str) -> None:
    with pytest.raises(ValueError, match=member.replace(".", r"\.")):
        ts.KvStore.Spec({"driver": "ocdbt", "base": "memory://", **members})
    with pytest.raises(ValueError, match=member.rpartition(".")[2] if "." in member else "extra members"):
        tensorstore.KvStore.Spec({"driver": "ocdbt", "base": "memory://", **members})


def test_bad_version_in_url() -> None:
    with pytest.raises(ValueError, match='Invalid OCDBT version: "vx"'):
        ts.KvStore.Spec("memory://|ocdbt:@vx/")


def test_a_coordinator_address_is_refused_by_name(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/db/"
    with pytest.raises(NotImplementedError, match="coordinator"):
        ts.KvStore.open({"driver": "ocdbt", "base": base, "coordinator": {"address": "localhost:1"}}).result()
    context = {"ocdbt_coordinator": {"address": "localhost:1"}}
    with pytest.raises(NotImplementedError, match="coordinator"):
        ts.KvStore.open({"driver": "ocdbt", "base": base, "context": context}).result()
    # Without an address (the default resource) writers coordinate through the manifest.
    store = ts.KvStore.open({"driver": "ocdbt", "base": base, "context": {"ocdbt_coordinator": {}}}).result()
    store["a"] = b"1"
    assert store["a"] == b"1"


def test_manifest_in_a_separate_kvstore(tmp_path: Path) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db", "manifest": f"file://{tmp_path}/m"}
    ours = ts.KvStore.open(spec).result()
    ours["a"] = b"1"
    assert (tmp_path / "m" / "manifest.ocdbt").exists()
    assert not (tmp_path / "db" / "manifest.ocdbt").exists()
    theirs = tensorstore.KvStore.open(spec).result()
    assert theirs["a"] == b"1"
    theirs["b"] = b"2"
    assert ours.list().result() == [b"a", b"b"]
    assert ours.spec().to_json()["manifest"] == {"driver": "file", "path": f"{tmp_path}/m/"}
    with pytest.raises(ValueError, match="separate manifest"):
        _ = ours.url


def test_config_created_on_first_write_and_checked(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/db/"
    store = ts.KvStore.open({"driver": "ocdbt", "base": base, "config": {"max_inline_value_bytes": 10}}).result()
    assert "uuid" not in store.spec().to_json().get("config", {})  # nothing written yet
    assert not (tmp_path / "db").exists()
    store["a"] = b"1"
    config = store.spec().to_json()["config"]
    assert config["max_inline_value_bytes"] == 10
    assert len(config["uuid"]) == 32
    theirs = tensorstore.KvStore.open({"driver": "ocdbt", "base": base}).result()
    assert theirs["a"] == b"1"
    assert theirs.spec().to_json()["config"] == config
    other = ts.KvStore.open({"driver": "ocdbt", "base": base, "config": {"max_inline_value_bytes": 5}}).result()
    with pytest.raises(ValueError, match="Configuration mismatch on max_inline_value_bytes: expected 5 but received 10"):
        other.read("a").result()
    numbered = ts.KvStore.open({"driver": "ocdbt", "base": base, "config": {"manifest_kind": "numbered"}}).result()
    with pytest.raises(ValueError, match='Configuration mismatch on manifest_kind: expected "numbered"'):
        numbered.read("a").result()
    # A second database gets its own random uuid.
    second = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db2/"}).result()
    second["a"] = b"1"
    assert second.spec().to_json()["config"]["uuid"] != config["uuid"]


def test_uuid_from_the_spec(tmp_path: Path) -> None:
    uuid = "00112233445566778899aabbccddeeff"
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "config": {"uuid": uuid}}).result()
    store["a"] = b"1"
    assert store.spec().to_json()["config"]["uuid"] == uuid


def test_assume_config_writes_with_the_assumed_config(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/db/"
    store = ts.KvStore.open({"driver": "ocdbt", "base": base, "assume_config": True,
                             "config": {"uuid": "00112233445566778899aabbccddeeff"}}).result()
    store["a"] = b"1"
    assert tensorstore.KvStore.open({"driver": "ocdbt", "base": base}).result()["a"] == b"1"
    mismatch = ts.KvStore.open({"driver": "ocdbt", "base": base, "assume_config": True,
                                "config": {"max_inline_value_bytes": 3}}).result()
    with pytest.raises(ValueError, match="max_inline_value_bytes"):
        mismatch["b"] = b"2"
    assert ts.KvStore.open({"driver": "ocdbt", "base": base}).result().list().result() == [b"a"]


def test_pinned_versions(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/db/"
    store = ts.KvStore.open({"driver": "ocdbt", "base": base}).result()
    store["a"] = b"1"
    generation = store.driver.load_manifest().manifest.latest_generation  # type: ignore[attr-defined]
    commit_time = store.driver.load_manifest().manifest.latest_version.commit_time  # type: ignore[attr-defined]
    store["a"] = b"2"
    store["b"] = b"3"
    old = ts.KvStore.open(f"{base}|ocdbt:@v{generation}/").result()
    assert old["a"] == b"1"
    assert old.list().result() == [b"a"]
    assert store["a"] == b"2"
    from ts_ocdbt._spec import format_commit_time

    by_time = ts.KvStore.open({"driver": "ocdbt", "base": base, "version": format_commit_time(commit_time)}).result()
    assert by_time["a"] == b"1"
    with pytest.raises(ValueError, match=f"Writing is not supported with version=v{generation} specified"):
        old["a"] = b"x"
    with pytest.raises(ValueError, match="Writing is not supported"):
        old.delete_range(ts.KvStore.KeyRange()).result()
    missing = ts.KvStore.open({"driver": "ocdbt", "base": base, "version": 99}).result()
    with pytest.raises(ValueError, match="generation_number=99 not present"):
        missing.read("a").result()
    # The wheel reads the same pinned version.
    assert tensorstore.KvStore.open(f"{base}|ocdbt:@v{generation}/").result()["a"] == b"1"


def test_out_of_line_values_and_byte_ranges(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    value = bytes(range(256)) * 4
    store["big"] = value
    assert list((tmp_path / "db" / "d").iterdir())  # stored in a data file
    assert store.read("big", byte_range=slice(10, 20)).result().value == value[10:20]
    assert store.read("big", byte_range=slice(-5, None)).result().value == value[-5:]
    with pytest.raises(ValueError, match="byte range"):
        store.read("big", byte_range=slice(2000, 3000)).result()


def test_if_not_equal_and_conditional_writes(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    stamp = store.write("k", b"v").result()
    assert store.read("k", if_not_equal=stamp.generation).result().state == "unspecified"
    assert stamp.generation == value_generation(b"v")
    assert store.write("k", b"w", if_equal=b"\x00other").result().generation == b""
    assert store["k"] == b"v"
    assert store.write("k", b"w", if_equal=stamp.generation).result().generation != b""


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/db/"
    stores = [ts.KvStore.open({"driver": "ocdbt", "base": base}).result() for _ in range(4)]

    def writer(index: int) -> None:
        for step in range(10):
            stores[index][f"w{index}/{step}"] = b"x"

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores[0].list().result()) == 40


def test_corrupt_manifest_names_the_file(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    store["a"] = b"1"
    manifest = tmp_path / "db" / "manifest.ocdbt"
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 0xFF
    manifest.write_bytes(bytes(data))
    fresh = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    with pytest.raises(ValueError, match=r"manifest\.ocdbt"):
        fresh.read("a").result()


def test_describe_key_and_identity(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    assert store.driver.describe_key(b"k") == f'"k" in OCDBT database at local file "{tmp_path}/db/"'
    again = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db"}).result()
    assert store.driver.storage_identity == again.driver.storage_identity
    assert store.base is not None
    assert store.base.path.endswith("/db/")


# -- the same database through both libraries ----------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [{}, {"max_decoded_node_bytes": 256, "max_inline_value_bytes": 8}, {"manifest_kind": "numbered"},
     {"compression": None, "version_tree_arity_log2": 1}],
)
def test_wheel_writes_ts_reads(tmp_path: Path, config: dict[str, Any]) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "config": config}
    theirs = tensorstore.KvStore.open(spec).result()
    expected = {}
    for index in range(60):
        key, value = f"k/{index:03d}", str(index).encode() * (1 + index % 5 * 20)
        theirs[key] = value
        expected[key.encode()] = value
    del theirs["k/010"]
    expected.pop(b"k/010")
    ours = ts.KvStore.open(spec).result()
    assert ours.list().result() == sorted(expected)
    assert all(ours[key] == value for key, value in expected.items())
    assert ours.list(ts.KvStore.KeyRange("k/020", "k/030")).result() == [f"k/{i:03d}".encode() for i in range(20, 30)]
    # ... and writes on top of it, which the wheel reads back.
    ours["k/010"] = b"back"
    ours["k/new"] = b"y" * 500
    again = tensorstore.KvStore.open(spec).result()
    assert again["k/010"] == b"back"
    assert again["k/new"] == b"y" * 500
    assert len(again.list().result()) == len(expected) + 2


def test_ts_writes_wheel_reads_every_version(tmp_path: Path) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "config": {"version_tree_arity_log2": 1}}
    ours = ts.KvStore.open(spec).result()
    for index in range(20):
        ours[f"k{index:02d}"] = str(index).encode() * 30
    txn = ts.Transaction(atomic=True)
    view = ours.with_transaction(txn)
    for index in range(20, 30):
        view[f"k{index:02d}"] = b"t"
    txn.commit_sync()
    theirs = tensorstore.KvStore.open(spec).result()
    assert theirs.list().result() == [f"k{i:02d}".encode() for i in range(30)]
    latest = ours.driver.load_manifest().manifest.latest_generation  # type: ignore[attr-defined]
    for generation in range(latest - 10, latest + 1):
        pinned = {**spec, "version": generation}
        assert (
            tensorstore.KvStore.open(pinned).result().list().result()
            == ts.KvStore.open(pinned).result().list().result()
        )


def test_generations_behave_as_the_wheels(tmp_path: Path) -> None:
    """A generation hashes the stored entry, as tensorstore's does: the same inline bytes
    give the same generation (in any process), an out-of-line value keeps its generation
    until rewritten, and a missing key has the wheel's no-value generation. (The digests
    themselves differ from the wheel's: tensorstore hashes with BLAKE3, which ts does not
    depend on.)"""
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}
    theirs = tensorstore.KvStore.open(spec).result()
    theirs["small"], theirs["large"] = b"v", b"w" * 1000
    ours, again = ts.KvStore.open(spec).result(), ts.KvStore.open(spec).result()
    small, large = (ours.read(k).result().stamp.generation for k in ("small", "large"))
    assert again.read("small").result().stamp.generation == small
    assert ours.write("small", b"v").result().generation == small  # identical inline bytes
    ours["other"] = b"x"
    assert ours.read("large").result().stamp.generation == large
    assert ours.write("large", b"w" * 1000).result().generation != large  # a new place
    assert ours.read("absent").result().stamp.generation == theirs.read("absent").result().stamp.generation


def _version_shapes(path: Path) -> list[tuple[int, bool, int]]:
    """Generation number, whether the tree is non-empty, and key count of every version,
    as the wheel's dump lists them (commit times and data file names left out)."""
    dumped = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{path}/").result()).result()
    return [
        (v["generation_number"], "location" in v["root"], v["root"]["statistics"]["num_keys"])
        for v in dumped["versions"]
    ]


def _apply(library: Any, spec: dict[str, Any], operations: list[tuple[Any, ...]]) -> None:
    store = library.KvStore.open(spec).result()
    for name, *arguments in operations:
        if name == "write":
            store.write(*arguments).result()
        elif name == "if_equal":
            key, value, condition = arguments
            store.write(key, value, if_equal=condition).result()
        elif name == "delete_range":
            store.delete_range(library.KvStore.KeyRange(*arguments)).result()
        else:
            txn = library.Transaction(atomic=True)
            for key, value in arguments:
                store.with_transaction(txn).write(key, value).result()
            txn.commit_async().result()


VERSION_SEQUENCES = {
    "one write": [("write", "a", b"1")],
    "two writes": [("write", "a", b"1"), ("write", "b", b"2")],
    "a transaction": [("transaction", ("a", b"1"), ("b", b"2"))],
    "delete an absent key": [("write", "a", b"1"), ("write", "b", None)],
    "delete range of nothing": [("delete_range", "a", "b"), ("write", "a", b"1"), ("delete_range", "x", "y")],
    "delete range": [("write", "a", b"1"), ("delete_range", "a", "b")],
    "failed condition": [("if_equal", "a", b"1", b"bogus"), ("write", "a", b"1"), ("if_equal", "a", b"2", b"bogus")],
    "out of line": [("write", "a", b"x" * 1000), ("write", "a", b"x" * 1000)],
}


@pytest.mark.parametrize("config", [{}, {"manifest_kind": "numbered"}, {"assume_config": True}])
@pytest.mark.parametrize("sequence", list(VERSION_SEQUENCES))
def test_generation_numbers_as_the_wheels(tmp_path: Path, sequence: str, config: dict[str, Any]) -> None:
    """The same operations give the same versions as the wheel: creating a database
    commits an empty generation 1 first (unless the config is assumed), every write whose
    condition holds is a new version, a delete range removing nothing is none."""
    extra = {"assume_config": True} if config.get("assume_config") else {"config": config}
    shapes = []
    for library, name in ((tensorstore, "wheel"), (ts, "ts")):
        spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/{name}/", **extra}
        _apply(library, spec, VERSION_SEQUENCES[sequence])
        shapes.append(_version_shapes(tmp_path / name))
        files = sorted(p.name for p in (tmp_path / name).iterdir() if p.name.startswith("manifest"))
        shapes.append(files)  # type: ignore[arg-type]
    assert shapes[0] == shapes[2]
    assert shapes[1] == shapes[3]


def test_reading_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    assert store.read("a").result().state == "missing"
    assert store.list().result() == []
    assert not (tmp_path / "db").exists()


def test_generation_layout_is_fixed() -> None:
    """A generation is BLAKE2b-160 of a mark byte and what the leaf stores (the fields in
    tensorstore's order); pinned, since ts processes of different versions compare them."""
    assert value_generation(b"v") == make_generation(hashlib.blake2b(b"\x01v", digest_size=20).digest())
    reference = IndirectDataReference(DataFileId(b"d/", b"0123"), 5, 1000)
    fields = (5).to_bytes(8, "little") + (1000).to_bytes(8, "little") + (2).to_bytes(8, "little")
    hashed = b"\x00" + fields + (4).to_bytes(8, "little") + b"d/0123"
    assert value_generation(reference) == make_generation(hashlib.blake2b(hashed, digest_size=20).digest())
    # The split of a path into base and relative part, the offset and the length all count.
    others = [
        IndirectDataReference(DataFileId(b"d/0", b"123"), 5, 1000),
        IndirectDataReference(DataFileId(b"d/", b"0123"), 6, 1000),
        IndirectDataReference(DataFileId(b"d/", b"0123"), 5, 999),
        IndirectDataReference(DataFileId(b"d/", b"0124"), 5, 1000),
    ]
    assert len({value_generation(v) for v in [reference, *others]}) == 5
    assert value_generation(b"") != value_generation(b"\x00")


_PRINT_GENERATIONS = """
import sys, ts_core as ts
store = ts.KvStore.open({"driver": "ocdbt", "base": sys.argv[1]}).result()
print(" ".join(store.read(key).result().stamp.generation.hex() for key in ("small", "large", "absent")))
"""


def test_generations_are_the_same_in_every_process_and_after_reopening(tmp_path: Path) -> None:
    """Another process, even one where a ``blake3`` module happens to be importable,
    computes the same generations as this one; distinct values and places differ."""
    base = f"file://{tmp_path}/db/"
    store = ts.KvStore.open({"driver": "ocdbt", "base": base}).result()
    store["small"], store["large"] = b"v", b"w" * 1000
    reopened = ts.KvStore.open({"driver": "ocdbt", "base": base}).result()
    here = " ".join(reopened.read(k).result().stamp.generation.hex() for k in ("small", "large", "absent"))
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "blake3.py").write_text("import hashlib\nblake3 = hashlib.sha1\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), *sys.path])}
    other = subprocess.run([sys.executable, "-c", _PRINT_GENERATIONS, base], capture_output=True,
                           text=True, env=environment, timeout=60, check=True)
    assert other.stdout.split() == here.split()
    small, large, _ = (bytes.fromhex(g) for g in here.split())
    assert store.write("small2", b"v!").result().generation != small
    # The same bytes out of line again: a new place, a new generation; two keys with one
    # value in one transaction are at different offsets.
    assert store.write("large", b"w" * 1000).result().generation != large
    txn = ts.Transaction(atomic=True)
    store.with_transaction(txn)["p"] = b"q" * 500
    store.with_transaction(txn)["r"] = b"q" * 500
    txn.commit_sync()
    assert store.read("p").result().stamp.generation != store.read("r").result().stamp.generation


def test_auto_detects_a_database_and_the_array_in_it(tmp_path: Path) -> None:
    created = tensorstore.open(
        {"driver": "zarr3", "kvstore": f"file://{tmp_path}/db/|ocdbt:"}, create=True, dtype="int32", shape=[3]
    ).result()
    created[1] = 5
    ours, theirs = ts.open(f"file://{tmp_path}/db/").result(), tensorstore.open(f"file://{tmp_path}/db/").result()
    assert ours.read().result().tolist() == [0, 5, 0]
    assert ours.spec().to_json() == theirs.spec().to_json()


def test_pickles_and_works_in_a_forked_child(tmp_path: Path) -> None:
    import os
    import pickle

    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()
    store["a"] = b"1"
    assert pickle.loads(pickle.dumps(store))["a"] == b"1"
    pid = os.fork()
    if pid == 0:  # the child's locks and pool are its own
        try:
            store["b"] = b"2"
            os._exit(0 if store["a"] == b"1" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store["b"] == b"2"


def test_versions_in_the_version_tree_by_generation_and_commit_time(tmp_path: Path) -> None:
    """With arity 2 most versions live in version tree nodes, not in the manifest."""
    from ts_ocdbt._spec import format_commit_time

    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "config": {"version_tree_arity_log2": 1}}
    store = ts.KvStore.open(spec).result()
    commits = []
    for index in range(20):
        store["counter"] = str(index).encode()
        latest = store.driver.load_manifest().manifest.latest_version  # type: ignore[attr-defined]
        commits.append((latest.generation_number, latest.commit_time, str(index).encode()))
    for generation, commit_time, value in commits[::3]:
        assert ts.KvStore.open({**spec, "version": generation}).result()["counter"] == value
        by_time = {**spec, "version": format_commit_time(commit_time)}
        assert ts.KvStore.open(by_time).result()["counter"] == value
        assert tensorstore.KvStore.open(by_time).result()["counter"] == value
    # Before the first write: the empty generation 1 that created the database.
    before_first = {**spec, "version": format_commit_time(commits[0][1] - 1)}
    assert ts.KvStore.open(before_first).result().read("counter").result().state == "missing"
    before_creation = {**spec, "version": "2000-01-01T00:00:00Z"}
    with pytest.raises(ValueError, match="not present"):
        ts.KvStore.open(before_creation).result().read("counter").result()


@pytest.mark.parametrize("kind", ["single", "numbered"])
def test_a_cached_manifest_sees_other_writers(tmp_path: Path, kind: str) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/", "config": {"manifest_kind": kind}}
    ours = ts.KvStore.open(spec).result()
    ours["a"] = b"1"
    theirs = tensorstore.KvStore.open(spec).result()
    assert ours["a"] == b"1"
    theirs["a"] = b"2"
    assert ours["a"] == b"2"
    theirs["b"] = b"3"
    assert ours.list().result() == [b"a", b"b"]
    ours["c"] = b"4"  # committed on top of the wheel's version
    assert theirs.list().result() == [b"a", b"b", b"c"]


def test_old_numbered_manifests_are_deleted(tmp_path: Path) -> None:
    """As tensorstore, a numbered database keeps its newest 128 manifest.<n> files."""
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/db/",
            "config": {"manifest_kind": "numbered"}, "context": {"file_io_sync": False}}
    store = ts.KvStore.open(spec).result()
    for index in range(143):  # generations 2..144 (1 is the new database's, empty)
        store["k"] = str(index).encode()
    numbered = sorted(p.name for p in (tmp_path / "db").glob("manifest.0*"))
    assert numbered[0] == "manifest.0000000000000010"  # 1..15 deleted at generation 144
    assert numbered[-1] == "manifest.0000000000000090"
    assert tensorstore.KvStore.open(spec).result()["k"] == b"142"
    assert ts.KvStore.open({**spec, "version": 20}).result()["k"] == b"18"


def test_a_written_value_shares_the_commits_data_file_unless_it_is_large(tmp_path: Path) -> None:
    """As tensorstore's, a commit writes one data file (its values and nodes) and then the
    manifest; only a value of 1 MiB or more is stored in a file of its own first."""
    store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    store["warm"] = b"x"

    def new_files(write: Any) -> list[int]:
        before = set((tmp_path / "d").iterdir())
        write()
        return sorted(path.stat().st_size for path in set((tmp_path / "d").iterdir()) - before)

    medium, large = os.urandom(10_000), os.urandom(2**20)
    sizes = new_files(lambda: store.write("medium", medium).result())
    assert len(sizes) == 1
    assert sizes[0] > len(medium)  # the value, then the leaf
    sizes = new_files(lambda: store.write("large", large).result())
    assert len(sizes) == 2
    assert sizes[1] == len(large)
    wheel = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert (wheel["medium"], wheel["large"]) == (medium, large)
    assert (store["medium"], store["large"]) == (medium, large)
