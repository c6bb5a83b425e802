"""ts_ocdbt.dump / undump_manifest / undump_version_tree_node (also as ts.ocdbt): the same
JSON as tensorstore.ocdbt.dump for manifests, version and B+tree nodes and values of
databases the wheel wrote, the same bytes back from undump, and the same kinds of error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import tensorstore

import ts_core as ts
import ts_ocdbt

#: name -> config of a database the wheel writes with a dozen commits.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "deep": {
        "compression": None,
        "max_decoded_node_bytes": 200,
        "max_inline_value_bytes": 8,
        "version_tree_arity_log2": 1,
    },
    "numbered": {
        "manifest_kind": "numbered",
        "compression": {"id": "zstd", "level": 7},
        "version_tree_arity_log2": 2,
    },
}


class Database:
    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root = root
        spec = {"driver": "ocdbt", "base": f"file://{root}/", "config": config}
        store = tensorstore.KvStore.open(spec).result()
        for commit in range(20):  # 21 generations: past one default (16-ary) version tree leaf
            transaction = tensorstore.Transaction(atomic=True)
            view = store.with_transaction(transaction)
            for i in range(12):
                view[b"k/%02d/%02d" % (i % 5, commit)] = b"%d" % i * (1 + (i * commit) % 40)
            transaction.commit_sync()
        self.wheel_base = tensorstore.KvStore.open(f"file://{root}/").result()
        self.base = ts.KvStore.open(f"file://{root}/").result()


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    return Database(tmp_path_factory.mktemp(request.param), CONFIGS[request.param])


def locations(dumped: Any) -> list[str]:
    """Every reference string in a dumped manifest or node."""
    found: list[str] = []
    for entry in [*dumped.get("versions", []), *dumped.get("version_tree_nodes", []), *dumped.get("entries", [])]:
        for reference in (entry.get("location"), entry.get("indirect_value"), entry.get("root", {}).get("location")):
            if reference is not None:
                found.append(reference)
    return found


def test_dumps_equal_the_wheels_everywhere(database: Database) -> None:
    manifest = ts_ocdbt.dump(database.base).result()
    assert manifest == tensorstore.ocdbt.dump(database.wheel_base).result()
    seen = {"value": 0, "btreenode": 0, "versionnode": 0}
    pending = locations(manifest)
    visited: set[str] = set()
    while pending:
        location = pending.pop()
        if location in visited:
            continue
        visited.add(location)
        ours = ts_ocdbt.dump(database.base, location).result()
        assert ours == tensorstore.ocdbt.dump(database.wheel_base, location).result(), location
        seen[location.split(":", 1)[0]] += 1
        if isinstance(ours, dict):
            pending += locations(ours)
        else:
            assert isinstance(ours, bytes)
    assert seen["btreenode"] >= 12
    assert seen["versionnode"] >= 1
    if database.root.name.startswith("deep"):
        assert seen["value"] > 0


def test_undump_manifest_gives_the_stored_bytes(database: Database) -> None:
    manifest = ts_ocdbt.dump(database.base).result()
    ours = ts_ocdbt.undump_manifest(manifest)
    assert ours == tensorstore.ocdbt.undump_manifest(manifest)
    if database.root.name.startswith("numbered"):
        # Undumped manifests are of kind single, as the numbered files are.
        latest = max(database.root.glob("manifest.0*"))
        assert ours == latest.read_bytes()
    else:
        assert ours == (database.root / "manifest.ocdbt").read_bytes()


def test_undump_version_tree_node_gives_the_wheels_bytes(database: Database) -> None:
    manifest = ts_ocdbt.dump(database.base).result()
    pending = [node["location"] for node in manifest["version_tree_nodes"]]
    assert pending
    while pending:
        location = pending.pop()
        node = ts_ocdbt.dump(database.base, location).result()
        ours = ts_ocdbt.undump_version_tree_node(manifest["config"], node)
        assert ours == tensorstore.ocdbt.undump_version_tree_node(manifest["config"], node)
        _, path, offset, length = location.rsplit(":", 3)
        stored = (database.root / path).read_bytes()[int(offset) : int(offset) + int(length)]
        assert ours == stored
        pending += [entry["location"] for entry in node["entries"] if node["height"] > 0]


def test_ts_ocdbt_module_hands_over(tmp_path: Path) -> None:
    database = Database(tmp_path / "db", {})
    future = ts.ocdbt.dump(database.base)
    assert isinstance(future, ts.Future)
    assert future.result() == tensorstore.ocdbt.dump(database.wheel_base).result()
    assert ts.ocdbt.undump_manifest(future.result()) == (tmp_path / "db" / "manifest.ocdbt").read_bytes()
    # A base whose path lacks the trailing slash names the same directory.
    parent = ts.KvStore.open(f"file://{tmp_path}/").result()
    assert ts_ocdbt.dump(parent / "db").result() == future.result()


def test_dump_errors_are_the_wheels(tmp_path: Path) -> None:
    database = Database(tmp_path / "db", {})
    empty = ts.KvStore.open("memory://").result()
    with pytest.raises(ValueError, match="Manifest not found"):
        ts_ocdbt.dump(empty).result()
    with pytest.raises(ValueError, match="Manifest not found"):
        tensorstore.ocdbt.dump(tensorstore.KvStore.open("memory://").result()).result()
    for node, message in [
        ("bogus", "Invalid indirect data reference"),
        ("thing::d/x:0:3", "Invalid indirect data kind"),
        ("value::d/x:9223372036854775807:3", "Invalid offset/length pair"),
    ]:
        with pytest.raises(ValueError, match=message):
            ts_ocdbt.dump(database.base, node)
        with pytest.raises(ValueError, match=message):
            tensorstore.ocdbt.dump(database.wheel_base, node).result()
    with pytest.raises(ValueError, match=r"d/nonexistent bytes \[0, 3\): the referenced data file does not exist"):
        ts_ocdbt.dump(database.base, "value::d/nonexistent:0:3").result()
    with pytest.raises(TypeError, match="base: expected a KvStore"):
        ts_ocdbt.dump("file:///tmp/")  # type: ignore[arg-type]
    # A version node location dumped as a B+tree node: its magic value gives it away.
    manifest = ts_ocdbt.dump(database.base).result()
    root = manifest["versions"][-1]["root"]["location"]
    with pytest.raises(ValueError, match="not an OCDBT version tree node: expected magic value 0x0cdb1234"):
        ts_ocdbt.dump(database.base, root.replace("btreenode:", "versionnode:", 1)).result()


def bad_manifests(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(what, JSON, part of our message) of invalid undump inputs."""
    cases = []

    def variant(what: str, message: str, change: Any) -> None:
        edited = copy.deepcopy(manifest)
        change(edited)
        cases.append((what, edited, message))

    variant("extra member", "extra members", lambda m: m.update(extra=1))
    variant("manifest_kind", "Config is not fully specified", lambda m: m["config"].update(manifest_kind="single"))
    variant("no uuid", "Config is not fully specified", lambda m: m["config"].pop("uuid"))
    variant("bad uuid", 'member "uuid"', lambda m: m["config"].update(uuid="zz"))
    variant("arity 0", 'member "version_tree_arity_log2"', lambda m: m["config"].update(version_tree_arity_log2=0))
    variant("compression", 'member "compression"', lambda m: m["config"].update(compression={"id": "lz4"}))
    variant(
        "root_height",
        r'member "versions": Error parsing value at position 0: Error parsing object member "root_height"',
        lambda m: m["versions"][0].update(root_height="x"),
    )
    variant(
        "location kind",
        "kind mismatch: expected btreenode, got value",
        lambda m: m["versions"][-1]["root"].update(location="value::d/x:0:1"),
    )
    variant("no versions member", 'member "versions"', lambda m: m.pop("versions"))
    return cases


def test_undump_errors_match_the_wheels_kind(database: Database) -> None:
    manifest = ts_ocdbt.dump(database.base).result()
    for what, edited, message in bad_manifests(manifest):
        with pytest.raises(ValueError, match=message):
            ts_ocdbt.undump_manifest(edited)
        with pytest.raises(ValueError, match=message):  # the wheel says the same
            tensorstore.ocdbt.undump_manifest(edited)
        assert what
    node_location = manifest["version_tree_nodes"][0]["location"]
    node = ts_ocdbt.dump(database.base, node_location).result()
    with pytest.raises(ValueError, match="Config is not fully specified"):
        ts_ocdbt.undump_version_tree_node({}, node)
    with pytest.raises(ValueError, match='member "height"'):
        ts_ocdbt.undump_version_tree_node(manifest["config"], {**node, "height": -1})
    with pytest.raises(ValueError, match="extra members"):
        ts_ocdbt.undump_version_tree_node(manifest["config"], {**node, "x": 1})


def test_dump_json_shape(tmp_path: Path) -> None:
    """The example of tensorstore.ocdbt.dump's documentation, through ts."""
    store = ts.KvStore.open(f"file://{tmp_path}/").result()
    wheel = tensorstore.KvStore.open(
        {"driver": "ocdbt", "config": {"max_inline_value_bytes": 1}, "base": f"file://{tmp_path}/"}
    ).result()
    wheel["a"] = b"b"
    wheel["b"] = b"ce"
    manifest = ts_ocdbt.dump(store).result()
    assert manifest["config"]["compression"] == {"id": "zstd"}
    assert manifest["config"]["max_inline_value_bytes"] == 1
    assert manifest["version_tree_nodes"] == []
    assert [v["generation_number"] for v in manifest["versions"]] == [1, 2, 3]
    assert "location" not in manifest["versions"][0]["root"]
    assert manifest["versions"][0]["root"]["statistics"] == {
        "num_indirect_value_bytes": 0,
        "num_keys": 0,
        "num_tree_bytes": 0,
    }
    btree = ts_ocdbt.dump(store, manifest["versions"][-1]["root"]["location"]).result()
    assert btree["height"] == 0
    assert btree["entries"][0] == {"inline_value": b"b", "key": b"a"}
    assert btree["entries"][1]["key"] == b"b"
    assert btree["entries"][1]["indirect_value"].startswith("value::d/")
    assert ts_ocdbt.dump(store, btree["entries"][1]["indirect_value"]).result() == b"ce"
