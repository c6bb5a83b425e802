"""The OCDBT commit algorithm (ts_ocdbt._writer): databases it writes open in the tensorstore
wheel with every key, value and earlier version; it commits on top of databases the wheel
wrote; trees stay valid B+trees (sizes, prefixes, statistics) and are copied on write."""

from __future__ import annotations

import datetime
import os
import random
import re
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import tensorstore as ts
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ts_core.context import Context
from ts_core.kvstore import NO_VALUE, UNKNOWN, KeyRange, KvStore
from ts_ocdbt._io import OcdbtIO, value_generation
from ts_ocdbt._writer import (
    CommitResult,
    DataFilePrefixes,
    DeleteRange,
    Write,
    WriterOptions,
    commit,
    obsolete_numbered_manifests,
    write_value_file,
)
from ts_ocdbt.format import (
    MANIFEST_KIND_NUMBERED,
    BtreeNodeStatistics,
    Config,
    CorruptDataError,
    IndirectDataReference,
    InteriorNodeEntry,
    LeafNodeEntry,
    Manifest,
    ZstdCompression,
    read_btree_node,
    read_manifest,
)

Model = dict[bytes, bytes]


class Database:
    """A database committed to by the writer, with the model of what it should hold."""

    def __init__(
        self, base: KvStore, config: Config | None = None, options: WriterOptions | None = None
    ) -> None:
        self.base = base
        self.io = OcdbtIO(base)
        self.config = config or Config(uuid=uuid.uuid4().bytes)
        self.options = options or WriterOptions()
        self.manifest: Manifest | None = read_manifest(base)
        self.model: Model = {}
        self.history: dict[int, Model] = {}

    def commit(
        self,
        writes: Sequence[Write] = (),
        ranges: Sequence[DeleteRange] = (),
        *,
        atomic: bool = True,
    ) -> CommitResult:
        result = commit(
            self.io,
            self.manifest,
            writes,
            ranges,
            config=self.config,
            options=self.options,
            atomic=atomic,
        )
        if result.manifest is None or result.manifest is result.previous:
            return result
        for key, data in result.manifest_files:
            self.base.write_blocking(key, data)
        self.manifest = result.manifest
        for item in ranges:
            for key in [
                k
                for k in self.model
                if item.inclusive_min <= k and (not item.exclusive_max or k < item.exclusive_max)
            ]:
                del self.model[key]
        for write, generation in zip(writes, result.generations, strict=True):
            if generation == UNKNOWN:
                continue
            if write.value is None:
                self.model.pop(write.key, None)
            else:
                self.model[write.key] = write.value
        self.history[self.manifest.latest_generation] = dict(self.model)
        return result


def walk(io: OcdbtIO, manifest: Manifest, config: Config) -> tuple[Model, list[dict[str, Any]]]:
    """Every key/value of the latest version, and a record per node, checking the B+tree's
    invariants on the way."""
    version = manifest.latest_version
    contents: Model = {}
    nodes: list[dict[str, Any]] = []
    if version.root is None:
        assert version.statistics == BtreeNodeStatistics()
        return contents, nodes

    def visit(
        reference: IndirectDataReference, height: int, prefix: bytes, low: bytes
    ) -> BtreeNodeStatistics:
        node = io.read_btree_node(reference)
        assert node.height == height
        keys = [prefix + node.key_prefix + entry.key for entry in node.entries]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)
        assert keys[0] >= low
        estimate = 0
        statistics = BtreeNodeStatistics(0, reference.length, 0)
        for key, entry in zip(keys, node.entries, strict=True):
            if isinstance(entry, LeafNodeEntry):
                value = entry.value
                if isinstance(value, IndirectDataReference):
                    assert value.length > config.max_inline_value_bytes
                    statistics += BtreeNodeStatistics(value.length, 0, 1)
                    estimate += 32 + len(value.file_id.full_path)
                else:
                    assert len(value) <= config.max_inline_value_bytes
                    statistics += BtreeNodeStatistics(0, 0, 1)
                    estimate += 16 + len(value)
                contents[key] = io.read_value(value)
            else:
                assert isinstance(entry, InteriorNodeEntry)
                child_prefix = prefix + node.key_prefix + entry.subtree_common_prefix
                child = visit(entry.node, height - 1, child_prefix, key)
                assert child == entry.statistics, key
                statistics += child
                estimate += 56 + len(entry.node.file_id.full_path)
        # keys as tensorstore's size estimate counts them: the first whole, the others
        # without the prefix common to all
        common = next(
            (i for i, (a, b) in enumerate(zip(keys[0], keys[-1], strict=False)) if a != b),
            min(len(keys[0]), len(keys[-1])),
        )
        estimate += len(keys[0]) + sum(len(key) - common for key in keys[1:])
        nodes.append(
            {
                "reference": reference,
                "height": height,
                "entries": len(keys),
                "estimate": estimate,
                "prefix": prefix,
                "keys": keys,
            }
        )
        return statistics

    assert visit(version.root, version.root_height, b"", b"") == version.statistics
    return contents, nodes


def wheel_contents(path: Path, version: int | None = None) -> Model:
    spec: dict[str, Any] = {"driver": "ocdbt", "base": f"file://{path}/"}
    if version is not None:
        spec["version"] = version
    kvstore = ts.KvStore.open(spec).result()
    keys = kvstore.list().result()
    reads = [kvstore.read(key) for key in keys]
    return {key: read.result().value for key, read in zip(keys, reads, strict=True)}


def memory_base() -> KvStore:
    """A fresh, empty memory kvstore (its own context)."""
    return KvStore.open("memory://", context=Context()).result()


def file_base(path: Path) -> KvStore:
    return KvStore.open({"driver": "file", "path": f"{path}/"}).result()


def random_batch(
    rng: random.Random, db: Database, key_space: int, count: int
) -> tuple[list[Write], list[DeleteRange]]:
    writes = []
    for _ in range(count):
        key = b"key/%05d" % rng.randrange(key_space)
        if rng.random() < 0.15:
            writes.append(Write(key, None))
        else:
            size = rng.choice([0, 3, 40, 60, 200, 1000])
            writes.append(Write(key, rng.randbytes(size)))
    ranges = []
    if rng.random() < 0.3:
        low, high = sorted(rng.randrange(key_space) for _ in range(2))
        ranges.append(DeleteRange(b"key/%05d" % low, b"key/%05d" % high))
    return writes, ranges


# -- written by ts, read by the wheel ------------------------------------------------------------
@pytest.mark.parametrize(
    "compression",
    [ZstdCompression(), ZstdCompression(level=5), None],
    ids=["zstd", "zstd5", "none"],
)
def test_many_commits_deep_trees_read_by_the_wheel(
    tmp_path: Path, compression: ZstdCompression | None
) -> None:
    config = Config(
        uuid=uuid.uuid4().bytes,
        max_inline_value_bytes=50,
        max_decoded_node_bytes=400,
        version_tree_arity_log2=1,
        compression=compression,
    )
    db = Database(file_base(tmp_path), config)
    rng = random.Random(7)
    for _ in range(40):
        db.commit(*random_batch(rng, db, 400, 25))
    assert db.manifest is not None
    version = db.manifest.latest_version
    assert version.root_height >= 3
    assert len(db.manifest.version_tree_nodes) >= 3  # a version tree several levels deep
    contents, nodes = walk(db.io, db.manifest, config)
    assert contents == db.model
    assert wheel_contents(tmp_path) == db.model
    for generation in (1, 2, 7, 16, 17, 31, 33, 40):
        assert wheel_contents(tmp_path, generation) == db.history[generation], generation
    # each node fits max_decoded_node_bytes by tensorstore's estimate (a leaf of one entry may not)
    for node in nodes:
        assert node["estimate"] <= config.max_decoded_node_bytes or node["entries"] <= 2


def test_numbered_manifest_read_by_the_wheel(tmp_path: Path) -> None:
    config = Config(
        uuid=uuid.uuid4().bytes, manifest_kind=MANIFEST_KIND_NUMBERED, version_tree_arity_log2=2
    )
    db = Database(file_base(tmp_path), config)
    first = db.commit([Write(b"a", b"1"), Write(b"b", b"x" * 500)])
    assert [key for key, _ in first.manifest_files] == [
        b"manifest.ocdbt",
        b"manifest.0000000000000001",
    ]
    for i in range(9):
        result = db.commit([Write(b"k%d" % i, b"v%d" % i)])
        assert [key for key, _ in result.manifest_files] == [b"manifest.%016x" % (i + 2)]
    assert wheel_contents(tmp_path) == db.model
    assert wheel_contents(tmp_path, 3) == db.history[3]
    reread = read_manifest(db.base)
    assert reread is not None
    assert reread.latest_generation == 10


def test_wheel_reads_the_empty_database_and_empty_values(tmp_path: Path) -> None:
    db = Database(file_base(tmp_path))
    db.commit()
    assert db.manifest is not None
    assert db.manifest.latest_version.root is None
    assert wheel_contents(tmp_path) == {}
    db.commit([Write(b"", b""), Write(b"\xff" * 3, b"")])
    assert wheel_contents(tmp_path) == {b"": b"", b"\xff\xff\xff": b""}
    db.commit([], [DeleteRange()])
    assert db.manifest.latest_version.root is None
    assert wheel_contents(tmp_path) == {}
    assert wheel_contents(tmp_path, 2) == {b"": b"", b"\xff\xff\xff": b""}


def test_long_shared_prefixes_are_stored_once(tmp_path: Path) -> None:
    config = Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=1000)
    db = Database(file_base(tmp_path), config)
    prefix = b"some/long/shared/directory/name/" * 8
    db.commit([Write(prefix + b"%04d" % i, b"v") for i in range(300)])
    assert db.manifest is not None
    contents, nodes = walk(db.io, db.manifest, config)
    assert contents == db.model
    leaves = [node for node in nodes if node["height"] == 0]
    assert len(leaves) > 1
    # below the root, the shared prefix is implied by the parent, not stored in each leaf
    for leaf in leaves:
        assert len(leaf["prefix"]) >= len(prefix)
        assert leaf["reference"].length < 1000
    assert wheel_contents(tmp_path) == db.model


def test_data_files_named_as_tensorstore_names_them(tmp_path: Path) -> None:
    options = WriterOptions(
        DataFilePrefixes(value=b"values/", btree_node=b"nodes/", version_tree_node=b"vt/")
    )
    config = Config(uuid=uuid.uuid4().bytes, version_tree_arity_log2=1)
    db = Database(file_base(tmp_path), config, options)
    for i in range(5):
        result = db.commit([Write(b"k%d" % i, b"x" * 300)])
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    pattern = re.compile(r"(values|nodes|vt)/[0-9a-f]{32}|manifest\.ocdbt")
    assert all(pattern.fullmatch(name) for name in names), names
    assert {name.split("/")[0] for name in names} == {"values", "nodes", "vt", "manifest.ocdbt"}
    assert all(path.startswith((b"values/", b"nodes/", b"vt/")) for path in result.data_files)
    assert wheel_contents(tmp_path) == db.model


def test_target_data_file_size_groups_data_into_files(tmp_path: Path) -> None:
    options = WriterOptions(target_data_file_size=2000)
    db = Database(
        file_base(tmp_path), Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=500), options
    )
    result = db.commit([Write(b"k%03d" % i, bytes([i]) * 300) for i in range(40)])
    assert len(result.data_files) >= 6
    sizes = [(tmp_path / path.decode()).stat().st_size for path in result.data_files]
    assert all(size < 2000 + 600 for size in sizes)
    one = Database(file_base(tmp_path / "one"), Config(uuid=uuid.uuid4().bytes))
    assert (
        len(one.commit([Write(b"k%03d" % i, bytes([i]) * 300) for i in range(40)]).data_files) == 1
    )
    assert wheel_contents(tmp_path) == db.model


# -- written by the wheel, continued by ts ----------------------------------------------------------
def test_commit_on_top_of_a_wheel_database(tmp_path: Path) -> None:
    wheel = ts.KvStore.open(
        {
            "driver": "ocdbt",
            "base": f"file://{tmp_path}/",
            "config": {
                "max_decoded_node_bytes": 300,
                "version_tree_arity_log2": 1,
                "max_inline_value_bytes": 20,
            },
        }
    ).result()
    rng = random.Random(3)
    expected: Model = {}
    for _ in range(12):
        txn = ts.Transaction(atomic=True)
        for _ in range(15):
            key = b"w/%04d" % rng.randrange(200)
            value = rng.randbytes(rng.choice([1, 10, 100]))
            wheel.with_transaction(txn)[key] = value
            expected[key] = value
        txn.commit_sync()
    wheel_generation = read_manifest(file_base(tmp_path)).latest_generation  # type: ignore[union-attr]

    db = Database(file_base(tmp_path))
    assert db.manifest is not None
    assert db.manifest.config.max_decoded_node_bytes == 300
    db.model = dict(expected)
    assert walk(db.io, db.manifest, db.manifest.config)[0] == expected
    rng = random.Random(4)
    for _ in range(10):
        writes, ranges = random_batch(rng, db, 300, 20)
        db.commit(
            [Write(b"w/" + w.key[4:], w.value) for w in writes],
            [DeleteRange(b"w/" + r.inclusive_min[4:], b"w/" + r.exclusive_max[4:]) for r in ranges],
        )
    assert walk(db.io, db.manifest, db.manifest.config)[0] == db.model
    assert wheel_contents(tmp_path) == db.model
    assert wheel_contents(tmp_path, wheel_generation) == expected
    assert wheel_contents(tmp_path, wheel_generation + 5) == db.history[wheel_generation + 5]
    # and the wheel keeps writing on top of ours
    wheel = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    wheel[b"after"] = b"wheel"
    assert wheel_contents(tmp_path) == {**db.model, b"after": b"wheel"}


# -- conditions, copy-on-write, retry-friendliness ----------------------------------------------------
def test_conditions_on_per_key_generations() -> None:
    db = Database(memory_base())
    first = db.commit([Write(b"a", b"small"), Write(b"b", b"B" * 500)])
    generation_a, generation_b = first.generations
    contents_generations = {key: value_generation(value) for key, value in _leaf_values(db).items()}
    assert contents_generations == {b"a": generation_a, b"b": generation_b}
    # a stale condition fails the whole atomic commit and writes nothing
    keys_before = set(db.base.list().result())
    stale = db.commit(
        [Write(b"a", b"new", if_equal=generation_a), Write(b"b", b"x", if_equal=generation_a)]
    )
    assert stale.manifest is None
    assert stale.conflicts == [b"b"]
    assert stale.data_files == []
    assert set(db.base.list().result()) == keys_before
    # non-atomic: only the failing write is skipped
    partial = db.commit(
        [
            Write(b"a", b"new", if_equal=generation_a),
            Write(b"b", None, if_equal=b"\x01bogus\x00"),
            Write(b"c", b"C", if_equal=NO_VALUE),
        ],
        atomic=False,
    )
    assert partial.generations[1] == UNKNOWN
    assert partial.conflicts == [b"b"]
    assert partial.generations[2] == value_generation(b"C")
    assert db.model == {b"a": b"new", b"b": b"B" * 500, b"c": b"C"}
    assert _leaf_values_read(db) == db.model
    # a key inside a delete range of the batch has no value when the condition is checked
    ok = db.commit([Write(b"a", b"again", if_equal=NO_VALUE)], [DeleteRange(b"a", b"b")])
    assert ok.manifest is not None
    assert ok.generations[0] == value_generation(b"again")
    missing = db.commit([Write(b"zz", None, if_equal=NO_VALUE)])
    # deleting an absent key is still a new version (the same keys), as the wheel commits it
    assert missing.manifest is not None
    assert missing.manifest.latest_generation == ok.manifest.latest_generation + 1
    assert missing.manifest.latest_version.statistics.num_keys == ok.manifest.latest_version.statistics.num_keys
    assert missing.generations == [NO_VALUE]


def test_only_the_path_to_changed_leaves_is_rewritten() -> None:
    config = Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=300)
    db = Database(memory_base(), config)
    db.commit([Write(b"k%04d" % i, b"v%d" % i) for i in range(2000)])
    assert db.manifest is not None
    height = db.manifest.latest_version.root_height
    assert height >= 3
    _, before = walk(db.io, db.manifest, config)
    result = db.commit([Write(b"k1234", b"changed")])
    contents, after = walk(db.io, db.manifest, config)
    assert contents == db.model
    new_files = set(result.data_files)
    rewritten = [node for node in after if node["reference"].file_id.full_path in new_files]
    assert [node["height"] for node in rewritten] == list(range(height + 1))
    assert len(after) == len(before)
    kept = {node["reference"] for node in before} & {node["reference"] for node in after}
    assert len(kept) == len(before) - height - 1


def test_a_lost_race_leaves_only_unreferenced_data_files() -> None:
    db = Database(memory_base())
    db.commit([Write(b"a", b"1")])
    manifest = db.manifest
    keys_before = set(db.base.list().result())
    winner = commit(db.io, manifest, [Write(b"b", b"2" * 300)])
    loser = commit(db.io, manifest, [Write(b"c", b"3" * 300)])
    written = set(db.base.list().result()) - keys_before
    assert written == set(winner.data_files) | set(loser.data_files)
    assert all(key.startswith(b"d/") for key in written)  # no manifest written by commit itself
    assert read_manifest(db.base) == manifest  # still the old version until the caller publishes


def test_commit_times_increase_and_generations_follow() -> None:
    db = Database(memory_base(), Config(uuid=uuid.uuid4().bytes, version_tree_arity_log2=1))
    result = commit(db.io, None, [Write(b"a", b"1")], config=db.config, commit_time=10**18)
    later = commit(db.io, result.manifest, [Write(b"a", b"2")], commit_time=5)
    assert later.manifest is not None
    versions = later.manifest.versions
    assert [v.generation_number for v in versions] == [1, 2]
    assert versions[1].commit_time == 10**18 + 1


def test_bad_input_is_refused() -> None:
    io = OcdbtIO(memory_base())
    with pytest.raises(ValueError, match="needs a config"):
        commit(io, None, [Write(b"a", b"1")])
    config = Config(uuid=uuid.uuid4().bytes, manifest_kind=MANIFEST_KIND_NUMBERED)
    with pytest.raises(ValueError, match="no versions"):
        commit(io, Manifest(config), [Write(b"a", b"1")])
    with pytest.raises(ValueError, match="65536 bytes long; OCDBT keys are at most 65535"):
        commit(io, None, [Write(b"k" * 65536, b"1")], config=config)
    assert io.base.list().result() == []


def test_delete_range_accepts_key_ranges() -> None:
    db = Database(memory_base())
    db.commit([Write(b"a%d" % i, b"x") for i in range(10)])
    result = commit(db.io, db.manifest, [], [KeyRange("a3", "a7")])
    assert result.manifest is not None
    db.manifest = result.manifest
    assert set(_leaf_values_read(db)) == {b"a0", b"a1", b"a2", b"a7", b"a8", b"a9"}


def _leaf_values(db: Database) -> dict[bytes, bytes | IndirectDataReference]:
    assert db.manifest is not None
    values: dict[bytes, bytes | IndirectDataReference] = {}

    def visit(reference: IndirectDataReference, prefix: bytes) -> None:
        node = db.io.read_btree_node(reference)
        for entry in node.entries:
            if isinstance(entry, LeafNodeEntry):
                values[prefix + node.key_prefix + entry.key] = entry.value
            else:
                visit(entry.node, prefix + node.key_prefix + entry.subtree_common_prefix)

    root = db.manifest.latest_version.root
    if root is not None:
        visit(root, b"")
    return values


def _leaf_values_read(db: Database) -> Model:
    return {key: db.io.read_value(value) for key, value in _leaf_values(db).items()}


# -- against a dict model --------------------------------------------------------------------------------
_keys = st.binary(min_size=0, max_size=6).map(lambda b: b"p/" + b if len(b) % 2 else b)
_conditions = st.sampled_from(["none", "absent", "current", "stale"])
_writes = st.lists(
    st.tuples(_keys, st.one_of(st.none(), st.binary(max_size=120)), _conditions), max_size=12
)
_ranges = st.lists(st.tuples(_keys, _keys), max_size=2)
_STALE = b"\x05stale\x00"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(_writes, _ranges), min_size=1, max_size=8),
    st.sampled_from([60, 250, 4000]),
)
def test_matches_a_dict_model(
    batches: list[tuple[list[tuple[bytes, bytes | None, str]], list[tuple[bytes, bytes]]]],
    node_bytes: int,
) -> None:
    """Batches of conditional writes and delete ranges, committed non-atomically, leave what
    a dict says; the wheel reads the same (now and at the first version)."""
    config = Config(
        uuid=b"\x01" * 16,
        max_inline_value_bytes=30,
        max_decoded_node_bytes=node_bytes,
        version_tree_arity_log2=1,
    )
    with tempfile.TemporaryDirectory() as directory:
        db = Database(file_base(Path(directory)), config)
        expected: Model = {}
        for writes, ranges in batches:
            stored = _leaf_values(db) if db.manifest is not None else {}
            delete_ranges = [DeleteRange(*sorted(pair)) for pair in ranges]
            for item in delete_ranges:
                for key in list(expected):
                    if item.inclusive_min <= key and (
                        not item.exclusive_max or key < item.exclusive_max
                    ):
                        del expected[key]
            staged: dict[bytes, Write] = {}
            for key, value, kind in writes:
                condition = {
                    "none": None,
                    "absent": NO_VALUE,
                    "current": value_generation(stored[key]) if key in stored else NO_VALUE,
                    "stale": _STALE,
                }[kind]
                staged[key] = Write(key, value, condition)
            for write in staged.values():
                generation = (
                    value_generation(stored[write.key]) if write.key in expected else NO_VALUE
                )
                if write.if_equal is None or write.if_equal == generation:
                    if write.value is None:
                        expected.pop(write.key, None)
                    else:
                        expected[write.key] = write.value
            db.commit(list(staged.values()), delete_ranges, atomic=False)
            assert db.manifest is not None
            assert db.model == expected
            assert walk(db.io, db.manifest, config)[0] == expected
        assert wheel_contents(Path(directory)) == expected
        assert wheel_contents(Path(directory), 1) == db.history[1]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(_writes, _ranges), min_size=1, max_size=5),
    st.sampled_from([60, 250, 4000]),
    st.booleans(),
)
@example(  # a root interior node whose children's keys all start with p/
    batches=[([(b"p/\x01", b"", "none"), (b"p/\x00\x00\x00", b"\x00\x00\x00\x00", "none"),
               (b"p/\x00\x00\x01", b"", "none")], [])],
    node_bytes=60,
    conditioned=False,
)
def test_remembered_nodes_equal_their_decoding_and_a_mapping_commits_as_writes(
    batches: list[tuple[list[tuple[bytes, bytes | None, str]], list[tuple[bytes, bytes]]]],
    node_bytes: int,
    conditioned: bool,
) -> None:
    """The writer encodes leaves from columns and remembers them as what builds their
    entries when first read: that node equals the one decoded from the stored bytes. The
    same batch given as a mapping (the driver's form) or as writes (a few with conditions,
    which take the write-by-write path) makes the same tree."""
    config = Config(uuid=b"\x02" * 16, max_inline_value_bytes=30, max_decoded_node_bytes=node_bytes)
    as_writes, as_mapping = Database(memory_base(), config), Database(memory_base(), config)
    for writes, ranges in batches:
        staged = {key: value for key, value, _ in writes}
        delete_ranges = [DeleteRange(*sorted(pair)) for pair in ranges]
        batch = [
            Write(key, value, UNKNOWN if conditioned and i % 2 else None)
            for i, (key, value) in enumerate(staged.items())
        ]
        for db, given_writes in ((as_writes, batch), (as_mapping, staged)):
            result = commit(db.io, db.manifest, given_writes, delete_ranges, config=config)
            assert result.manifest is not None
            for key, data in result.manifest_files:
                db.base.write_blocking(key, data)
            db.manifest = result.manifest
            for value, generation in zip(staged.values(), result.generations, strict=True):
                if value is None or len(value) <= 30:
                    assert generation == (NO_VALUE if value is None else value_generation(value))
                else:  # stored out of line: the generation of its place
                    assert generation not in (NO_VALUE, UNKNOWN)
        assert _leaf_values_read(as_writes) == _leaf_values_read(as_mapping)
    for db in (as_writes, as_mapping):
        assert db.manifest is not None
        root = db.manifest.latest_version.root
        pending = [] if root is None else [root]
        while pending:
            reference = pending.pop()
            decoded = read_btree_node(db.base, reference, config)
            assert db.io.read_btree_node(reference) == decoded
            pending += [entry.node for entry in decoded.entries if isinstance(entry, InteriorNodeEntry)]


def test_remote_base_reads_the_children_to_rewrite_concurrently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=300)
    db = Database(memory_base(), config)
    db.commit([Write(b"k%04d" % i, b"v%d" % i) for i in range(1000)])
    driver_class = type(db.base.driver)
    monkeypatch.setattr(driver_class, "local_io", False)  # as a cloud kvstore is
    threads: set[str] = set()
    read = driver_class.read

    def recording_read(self: Any, key: bytes, options: Any) -> Any:
        threads.add(threading.current_thread().name)
        return read(self, key, options)

    monkeypatch.setattr(driver_class, "read", recording_read)
    db.io = OcdbtIO(db.base)  # nothing cached
    db.commit([Write(b"k%04d" % i, b"changed") for i in range(0, 1000, 7)])
    assert len(threads) > 1
    monkeypatch.undo()
    assert db.manifest is not None
    assert walk(OcdbtIO(db.base), db.manifest, config)[0] == db.model


def _structure(base: KvStore) -> tuple[list[tuple[int, bytes, bytes, int]], Any]:
    """Per node (depth first): height, first and last full key, entry count; and the
    manifest's version tree shape."""
    io = OcdbtIO(base)
    manifest = read_manifest(base)
    assert manifest is not None
    assert manifest.latest_version.root is not None
    out: list[tuple[int, bytes, bytes, int]] = []

    def visit(reference: IndirectDataReference, prefix: bytes) -> None:
        node = io.read_btree_node(reference)
        keys = [prefix + node.key_prefix + entry.key for entry in node.entries]
        out.append((node.height, keys[0], keys[-1], len(keys)))
        for entry in node.entries:
            if isinstance(entry, InteriorNodeEntry):
                visit(entry.node, prefix + node.key_prefix + entry.subtree_common_prefix)

    visit(manifest.latest_version.root, b"")
    version_tree = (
        [v.generation_number for v in manifest.versions],
        [(n.height, n.generation_number, n.num_generations) for n in manifest.version_tree_nodes],
    )
    return out, version_tree


def test_same_tree_and_version_tree_as_the_wheel_builds(tmp_path: Path) -> None:
    """Splitting, prefixes and the version tree follow tensorstore's rules exactly: the same
    batches give the same nodes (only data file names and offsets differ)."""
    options = {"compression": None, "max_decoded_node_bytes": 500, "max_inline_value_bytes": 50}
    wheel = ts.KvStore.open(
        {
            "driver": "ocdbt",
            "base": f"file://{tmp_path}/wheel/",
            "config": {**options, "version_tree_arity_log2": 2},
        }
    ).result()
    config = Config(
        uuid=uuid.uuid4().bytes,
        compression=None,
        max_decoded_node_bytes=500,
        max_inline_value_bytes=50,
        version_tree_arity_log2=2,
    )
    ours = Database(file_base(tmp_path / "ours"), config)
    ours.commit()  # the wheel starts a database with an empty generation 1
    rng = random.Random(11)
    keys = sorted(
        {b"dir%d/key%05d" % (rng.randrange(4), rng.randrange(10**5)) for _ in range(1500)}
    )
    batches = [{key: rng.randbytes(rng.choice([1, 10, 30, 200])) for key in keys}]
    for _ in range(20):
        batches.append({key: rng.randbytes(rng.choice([5, 80])) for key in rng.sample(keys, 40)})
    for batch in batches:
        txn = ts.Transaction(atomic=True)
        for key, value in batch.items():
            wheel.with_transaction(txn)[key] = value
        txn.commit_sync()
        ours.commit([Write(key, value) for key, value in batch.items()])
    assert _structure(file_base(tmp_path / "ours")) == _structure(file_base(tmp_path / "wheel"))


def test_a_delete_range_drops_whole_subtrees_unread(tmp_path: Path) -> None:
    config = Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=300)
    db = Database(file_base(tmp_path), config)
    db.commit([Write(b"k%05d" % i, b"v") for i in range(3000)])
    assert db.manifest is not None
    height = db.manifest.latest_version.root_height
    _, nodes = walk(OcdbtIO(db.base), db.manifest, config)
    db.io = OcdbtIO(db.base)
    reads: list[IndirectDataReference] = []
    read = db.io.read_btree_node

    def counting_read(reference: IndirectDataReference) -> Any:
        reads.append(reference)
        return read(reference)

    db.io.read_btree_node = counting_read  # type: ignore[method-assign]
    db.commit([], [DeleteRange(b"k00100", b"k02900")])
    # only the nodes on the paths to the range's two ends are read, out of hundreds
    assert len(nodes) > 200
    assert len(reads) <= 2 * (height + 1)
    assert wheel_contents(tmp_path) == db.model
    assert len(db.model) == 200


def test_the_wheel_finds_versions_by_commit_time_in_our_version_tree(tmp_path: Path) -> None:
    """Interior version tree entries carry the earliest commit time below them, which the
    wheel's search by commit time relies on."""
    db = Database(file_base(tmp_path), Config(uuid=uuid.uuid4().bytes, version_tree_arity_log2=1))
    start = 1_700_000_000 * 10**9
    for generation in range(1, 40):
        result = commit(
            db.io,
            db.manifest,
            [Write(b"gen", b"%d" % generation)],
            config=db.config,
            commit_time=start + generation * 10**9,
        )
        for key, data in result.manifest_files:
            db.base.write_blocking(key, data)
        db.manifest = result.manifest
    assert db.manifest is not None
    assert len(db.manifest.version_tree_nodes) >= 3

    def url_time(ns: int) -> str:
        moment = datetime.datetime.fromtimestamp(ns // 10**9, datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"

    for generation in (1, 2, 5, 16, 17, 30, 39):
        for offset in (0, 10**9 // 2):
            spec = {
                "driver": "ocdbt",
                "base": f"file://{tmp_path}/",
                "version": url_time(start + generation * 10**9 + offset),
            }
            kvstore = ts.KvStore.open(spec).result()
            assert kvstore.read(b"gen").result().value == b"%d" % generation


def test_large_data_files_are_padded_to_whole_blocks(tmp_path: Path) -> None:
    db = Database(file_base(tmp_path))
    big = random.Random(5).randbytes(4 * 2**20 + 7)
    result = db.commit([Write(b"big", big), Write(b"small", b"s")])
    [path] = result.data_files
    size = (tmp_path / path.decode()).stat().st_size
    assert size % 4096 == 0
    assert size - 4096 < len(big) + 200  # the value, the node and less than a block of zeros
    assert wheel_contents(tmp_path) == {b"big": big, b"small": b"s"}
    assert db.io.read_value(_leaf_values(db)[b"big"], 4 * 2**20, 4 * 2**20 + 7) == big[-7:]


def test_obsolete_numbered_manifests_fall_outside_the_kept_window() -> None:
    assert obsolete_numbered_manifests([1, 2, 3], 4) == []
    assert obsolete_numbered_manifests([300, 5, 171, 172, 173], 300) == [
        b"manifest.0000000000000005",
        b"manifest.00000000000000ab",
    ]


def test_a_damaged_node_fails_the_commit_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    config = Config(uuid=uuid.uuid4().bytes, max_decoded_node_bytes=300)
    db = Database(file_base(tmp_path), config)
    [path] = db.commit([Write(b"k%04d" % i, b"v") for i in range(500)]).data_files
    data_file = tmp_path / path.decode()
    data_file.write_bytes(data_file.read_bytes()[:100])  # cut short: most nodes lost
    files_before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    with pytest.raises(CorruptDataError, match=re.escape(path.decode())):
        commit(OcdbtIO(db.base), db.manifest, [Write(b"k0400", b"new")])  # nothing cached
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files_before
    assert read_manifest(db.base) == db.manifest


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_node_cache_usable_in_a_forked_child_while_a_parent_thread_holds_it(tmp_path: Path) -> None:
    db = Database(file_base(tmp_path))
    db.commit([Write(b"a", b"1")])
    assert db.manifest is not None
    root = db.manifest.latest_version.root
    assert root is not None
    lock = db.io._cache._lock
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:  # the child: the cache lock was held by a thread that does not exist here
        ok = False
        try:
            node = db.io.read_btree_node(root)
            ok = node.key_prefix + node.entries[0].key == b"a"
        finally:
            os._exit(0 if ok else 1)
    release.set()
    holder.join()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child deadlocked on the node cache's lock")


def test_commit_on_top_of_a_numbered_wheel_database(tmp_path: Path) -> None:
    spec = {
        "driver": "ocdbt",
        "base": f"file://{tmp_path}/",
        "config": {"manifest_kind": "numbered"},
    }
    wheel = ts.KvStore.open(spec).result()
    wheel[b"a"] = b"1"
    wheel[b"b"] = b"2" * 300
    db = Database(file_base(tmp_path))
    assert db.manifest is not None
    assert db.manifest.config.manifest_kind == MANIFEST_KIND_NUMBERED
    db.model = {b"a": b"1", b"b": b"2" * 300}
    result = db.commit([Write(b"c", b"3")], [DeleteRange(b"a", b"b")])
    assert [key for key, _ in result.manifest_files] == [b"manifest.0000000000000004"]
    assert wheel_contents(tmp_path) == {b"b": b"2" * 300, b"c": b"3"}
    assert wheel_contents(tmp_path, 3) == {b"a": b"1", b"b": b"2" * 300}
    wheel = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    wheel[b"d"] = b"4"
    assert (
        sorted(name.name for name in tmp_path.glob("manifest.0*"))[-1] == "manifest.0000000000000005"
    )


def test_values_stored_ahead_are_referenced_as_they_are(tmp_path: Path) -> None:
    """A value the caller stored in a data file of its own (write_value_file) before the
    commit is written into the leaf as that reference, counted in the statistics, padded
    as tensorstore pads large files, and read back by the wheel."""
    base = file_base(tmp_path)
    db = Database(base)
    large = random.Random(5).randbytes(5 * 2**20 + 3)
    small = b"s" * 300
    references = [write_value_file(db.io.write_data_file, b"d/", value) for value in (large, small)]
    assert [len(ref.file_id.full_path) for ref in references] == [34, 34]
    assert (tmp_path / references[0].file_id.full_path.decode()).stat().st_size % 4096 == 0
    result = db.commit([Write(b"large", references[0]), Write(b"small", references[1]), Write(b"inline", b"i")])
    assert result.generations[:2] == [value_generation(ref) for ref in references]
    assert len(result.data_files) == 1  # the leaf alone: the values are not written again
    assert result.manifest is not None
    assert result.manifest.latest_version.statistics.num_indirect_value_bytes == len(large) + len(small)
    expected = {b"large": large, b"small": small, b"inline": b"i"}
    assert wheel_contents(tmp_path) == expected
    contents, _ = walk(db.io, result.manifest, db.config)
    assert contents == expected
