"""ts_ocdbt.format: OCDBT manifests, version tree nodes and B+tree nodes, decoded from
databases the tensorstore wheel wrote (every key and value of every version walked by
hand), re-encoded byte for byte, and corrupt input refused with errors naming the file."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crc32c
import pytest
import tensorstore
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_ocdbt import format as fmt

# -- databases written by the wheel ------------------------------------------------------

#: name -> (config, commits); a commit maps keys to values (None deletes the key).
SCENARIOS: dict[str, tuple[dict[str, Any], list[dict[bytes, bytes | None]]]] = {
    # tensorstore's defaults: zstd level 0, single manifest; inline and out-of-line values,
    # a leaf larger than 4 KiB (streamed zstd), a deletion.
    "default": (
        {},
        [
            {b"a": b"b", b"bb": b"x" * 200},
            {b"key/%04d" % i: bytes([i % 251]) * 40 for i in range(300)},
            {b"a": None, b"key/0007": b"y" * 150, b"\xff\x00binary": b"\x00\x01"},
        ],
    ),
    # Uncompressed, tiny nodes (a deep B+tree with prefix compression) and a binary version
    # tree (many levels after a dozen commits).
    "deep": (
        {
            "compression": None,
            "max_decoded_node_bytes": 256,
            "max_inline_value_bytes": 16,
            "version_tree_arity_log2": 1,
        },
        [
            {b"prefix/%s/%03d" % (group, i): b"v%d" % (i * step) * (1 + i % 9) for i in range(20)}
            for step, group in enumerate([b"aa", b"ab", b"b", b"aa", b"cc/dd", b"ab"] * 2)
        ],
    ),
    # Numbered manifests, zstd at level 5, a 4-ary version tree.
    "numbered": (
        {
            "manifest_kind": "numbered",
            "version_tree_arity_log2": 2,
            "compression": {"id": "zstd", "level": 5},
            "max_decoded_node_bytes": 1024,
        },
        [{b"n%02d/%d" % (c, i): b"%d" % (c * i) * (c + 1) for i in range(15)} for c in range(9)],
    ),
}


class WheelDatabase:
    """A database the wheel wrote, with what each generation should contain."""

    def __init__(self, root: Path, name: str) -> None:
        config, commits = SCENARIOS[name]
        self.root = root
        self.name = name
        spec: dict[str, Any] = {"driver": "ocdbt", "base": f"file://{root}/", "config": config}
        store = tensorstore.KvStore.open(spec).result()
        contents: dict[bytes, bytes] = {}
        # Opening creates generation 1 (empty); each atomic transaction adds one.
        self.generations: dict[int, dict[bytes, bytes]] = {1: {}}
        for commit in commits:
            transaction = tensorstore.Transaction(atomic=True)
            view = store.with_transaction(transaction)
            for key, value in commit.items():
                if value is None:
                    view.delete_range(tensorstore.KvStore.KeyRange(key, key + b"\x00")).result()
                    contents.pop(key, None)
                else:
                    view[key] = value
                    contents[key] = value
            transaction.commit_sync()
            self.generations[len(self.generations) + 1] = dict(contents)
        self.base = ts.KvStore.open(f"file://{root}/").result()

    def file(self, key: bytes) -> bytes:
        return (self.root / key.decode()).read_bytes()


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WheelDatabase:
    return WheelDatabase(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> WheelDatabase:
    return WheelDatabase(tmp_path_factory.mktemp("deep"), "deep")


# -- walking a database by hand -----------------------------------------------------------


def all_versions(db: WheelDatabase, manifest: fmt.Manifest) -> Iterator[fmt.BtreeGenerationReference]:
    """Every version the manifest reaches, through the version tree, oldest first."""

    def walk(reference: fmt.VersionNodeReference) -> Iterator[fmt.BtreeGenerationReference]:
        node = fmt.read_version_tree_node(db.base, reference.location)
        fmt.validate_version_tree_node_reference(
            node, manifest.config, reference.generation_number, reference.height, "test"
        )
        for entry in node.entries:
            if isinstance(entry, fmt.VersionNodeReference):
                yield from walk(entry)
            else:
                assert isinstance(entry, fmt.BtreeGenerationReference)
                yield entry

    for reference in manifest.version_tree_nodes:
        yield from walk(reference)
    yield from manifest.versions


def read_tree(
    db: WheelDatabase, version: fmt.BtreeGenerationReference, config: fmt.Config
) -> tuple[dict[bytes, bytes], fmt.BtreeNodeStatistics, list[fmt.BtreeNode]]:
    """Keys and values of a version's B+tree, its statistics recomputed, and its nodes."""
    contents: dict[bytes, bytes] = {}
    nodes: list[fmt.BtreeNode] = []

    def walk(reference: fmt.IndirectDataReference, height: int, prefix: bytes, lower: bytes) -> fmt.BtreeNodeStatistics:
        node = fmt.read_btree_node(db.base, reference, config)
        fmt.validate_btree_node_reference(node, height, lower, "test")
        nodes.append(node)
        statistics = fmt.BtreeNodeStatistics(num_tree_bytes=reference.length)
        for entry in node.entries:
            if isinstance(entry, fmt.LeafNodeEntry):
                value = entry.value
                if isinstance(value, fmt.IndirectDataReference):
                    statistics += fmt.BtreeNodeStatistics(num_indirect_value_bytes=value.length)
                    value = fmt.read_indirect(db.base, value)
                contents[node.full_key(prefix, entry)] = value
                statistics += fmt.BtreeNodeStatistics(num_keys=1)
            else:
                assert isinstance(entry, fmt.InteriorNodeEntry)
                child = walk(
                    entry.node,
                    height - 1,
                    node.child_prefix(prefix, entry),
                    (node.key_prefix + entry.key)[len(node.key_prefix) + entry.subtree_common_prefix_length :],
                )
                assert child == entry.statistics
                statistics += child
        return statistics

    if version.root is None:
        return contents, fmt.BtreeNodeStatistics(), nodes
    return contents, walk(version.root, version.root_height, b"", b""), nodes


def test_every_version_holds_what_the_wheel_wrote(database: WheelDatabase) -> None:
    manifest = fmt.read_manifest(database.base)
    assert manifest is not None
    versions = list(all_versions(database, manifest))
    assert [v.generation_number for v in versions] == sorted(database.generations)
    assert all(a.commit_time < b.commit_time for a, b in itertools.pairwise(versions))
    for version in versions:
        contents, statistics, _ = read_tree(database, version, manifest.config)
        assert contents == database.generations[version.generation_number]
        assert statistics == version.statistics
    # The wheel reads the latest version the same way.
    wheel = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{database.root}/"}).result()
    latest, _, _ = read_tree(database, manifest.latest_version, manifest.config)
    assert {key: wheel[key] for key in wheel.list().result()} == latest


def test_config_is_decoded_as_given(database: WheelDatabase) -> None:
    manifest = fmt.read_manifest(database.base)
    assert manifest is not None
    config = manifest.config
    given = SCENARIOS[database.name][0]
    assert len(config.uuid) == 16
    assert config.manifest_kind == given.get("manifest_kind", "single")
    assert config.max_decoded_node_bytes == given.get("max_decoded_node_bytes", 8 * 2**20)
    assert config.max_inline_value_bytes == given.get("max_inline_value_bytes", 100)
    assert config.version_tree_arity_log2 == given.get("version_tree_arity_log2", 4)
    compression = given.get("compression", {"id": "zstd"})
    expected = None if compression is None else fmt.ZstdCompression(compression.get("level", 0))
    assert config.compression == expected


def test_encoding_reproduces_every_stored_byte(database: WheelDatabase) -> None:
    """encode(decode(x)) == x for the manifests and every node the wheel wrote, zstd too."""
    raw_manifest = database.file(fmt.MANIFEST_KEY)
    stored = fmt.decode_manifest(raw_manifest, "manifest.ocdbt")
    assert fmt.encode_manifest(stored) == raw_manifest
    manifest = fmt.read_manifest(database.base)
    assert manifest is not None
    numbered = sorted(database.root.glob("manifest.0*"))
    if manifest.config.manifest_kind == "numbered":
        assert numbered
        for path in numbered:
            raw = path.read_bytes()
            decoded = fmt.decode_manifest(raw, path.name)
            assert decoded.config.manifest_kind == "single"  # as numbered files store it
            assert fmt.encode_manifest(decoded) == raw
        assert fmt.encode_manifest(manifest, encode_as_single=True) == numbered[-1].read_bytes()
    else:
        assert not numbered
    checked = 0

    def check_version_node(reference: fmt.VersionNodeReference) -> None:
        nonlocal checked
        raw = fmt.read_indirect(database.base, reference.location)
        node = fmt.decode_version_tree_node(raw, reference.location.file_id.base_path, "test")
        assert fmt.encode_version_tree_node(node, manifest.config) == raw
        checked += 1
        for entry in node.entries:
            if isinstance(entry, fmt.VersionNodeReference):
                check_version_node(entry)

    for reference in manifest.version_tree_nodes:
        check_version_node(reference)
    for version in all_versions(database, manifest):
        if version.root is None:
            continue
        pending = [version.root]
        while pending:
            reference = pending.pop()
            raw = fmt.read_indirect(database.base, reference)
            node = fmt.decode_btree_node(raw, reference.file_id.base_path, "test")
            assert fmt.encode_btree_node(node, manifest.config) == raw
            checked += 1
            pending += [e.node for e in node.entries if isinstance(e, fmt.InteriorNodeEntry)]
    assert checked >= len(database.generations) - 1  # one root per non-empty version, at least


def test_deep_trees_use_every_level_and_prefix_compression(deep: WheelDatabase) -> None:
    manifest = fmt.read_manifest(deep.base)
    assert manifest is not None
    assert manifest.latest_version.root_height >= 2
    assert [n.height for n in manifest.version_tree_nodes] == sorted(
        (n.height for n in manifest.version_tree_nodes), reverse=True
    )
    assert max(n.height for n in manifest.version_tree_nodes) >= 2
    _, _, nodes = read_tree(deep, manifest.latest_version, manifest.config)
    interior = [n for n in nodes if n.height > 0]
    # Children do not repeat the prefix their parent says all their keys share.
    assert any(e.subtree_common_prefix_length for n in interior for e in n.entries)  # type: ignore[union-attr]
    leaf_keys = [e.key for n in nodes if n.height == 0 for e in n.entries]
    assert not any(key.startswith(b"prefix/") for key in leaf_keys)


def test_numbered_manifest_layout(tmp_path: Path) -> None:
    db = WheelDatabase(tmp_path, "numbered")  # 9 commits: generations 1 to 10
    config_only = fmt.decode_manifest(db.file(fmt.MANIFEST_KEY), "manifest.ocdbt")
    assert config_only.config.manifest_kind == "numbered"
    assert config_only.versions == ()
    assert config_only.latest_generation == 0
    latest = fmt.read_manifest(db.base)
    assert latest is not None
    assert latest.config.manifest_kind == "numbered"
    assert latest.latest_generation == 10
    assert fmt.numbered_manifest_key(10) == b"manifest.000000000000000a"
    assert (tmp_path / "manifest.000000000000000a").exists()
    assert fmt.parse_numbered_manifest_key(b"manifest.000000000000000a") == 10
    for other in (b"manifest.ocdbt", b"manifest.0000000000000000", b"manifest.000000000000004", b"manifest.000000000000000G"):
        assert fmt.parse_numbered_manifest_key(other) is None
    older = fmt.read_numbered_manifest(db.base, 9)
    assert older is not None
    assert older.latest_generation == 9
    assert older.config == latest.config
    assert fmt.read_numbered_manifest(db.base, 99) is None


def test_no_manifest_reads_as_none(tmp_path: Path) -> None:
    assert fmt.read_manifest(ts.KvStore.open(f"file://{tmp_path}/").result()) is None


def test_the_wheel_reads_a_database_encoded_here(tmp_path: Path) -> None:
    config = fmt.Config(uuid=bytes(range(16)), compression=fmt.ZstdCompression(3), max_inline_value_bytes=4)
    data_file = fmt.DataFileId(b"", b"d/0123456789abcdef0123456789abcdef")
    value = fmt.IndirectDataReference(data_file, 0, 10)
    leaf = fmt.BtreeNode(
        0,
        b"k",
        (fmt.LeafNodeEntry(b"ey1", b"one"), fmt.LeafNodeEntry(b"ey2", value), fmt.LeafNodeEntry(b"ey3", b"")),
    )
    node_bytes = fmt.encode_btree_node(leaf, config)
    root = fmt.IndirectDataReference(data_file, 10, len(node_bytes))
    (tmp_path / "d").mkdir()
    (tmp_path / data_file.relative_path.decode()).write_bytes(b"0123456789" + node_bytes)
    versions = (
        fmt.BtreeGenerationReference(1, 0, None, fmt.BtreeNodeStatistics(), 1_000),
        fmt.BtreeGenerationReference(2, 0, root, fmt.BtreeNodeStatistics(10, len(node_bytes), 3), 2_000),
    )
    (tmp_path / "manifest.ocdbt").write_bytes(fmt.encode_manifest(fmt.Manifest(config, versions)))
    wheel = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert wheel.list().result() == [b"key1", b"key2", b"key3"]
    assert [wheel[k] for k in (b"key1", b"key2", b"key3")] == [b"one", b"0123456789", b""]


# -- corrupt input ------------------------------------------------------------------------


def frame(body: bytes, magic: int = 0x0CDB3A2A, version: int = 0, compression: int = 0) -> bytes:
    """An encoded manifest/node around ``body``, with a correct length and checksum."""
    tail = bytes((version, compression)) + body
    encoded = struct.pack(">I", magic) + struct.pack("<Q", 12 + len(tail) + 4) + tail
    return encoded + struct.pack("<I", crc32c.crc32c(encoded))


def body_of(encoded: bytes) -> bytes:
    assert encoded[12:14] == b"\x00\x00", "uncompressed"
    return encoded[14:-4]


CONFIG = fmt.Config(uuid=b"U" * 16, compression=None, version_tree_arity_log2=2)
MANIFEST = fmt.Manifest(
    CONFIG,
    (
        fmt.BtreeGenerationReference(
            5,
            1,
            fmt.IndirectDataReference(fmt.DataFileId(b"", b"d/x"), 3, 40),
            fmt.BtreeNodeStatistics(0, 40, 2),
            12345,
        ),
    ),
    (
        fmt.VersionNodeReference(
            fmt.IndirectDataReference(fmt.DataFileId(b"", b"d/y"), 0, 50), 4, 1, 4, 100
        ),
    ),
)


def test_manifest_round_trip_of_a_constructed_manifest() -> None:
    encoded = fmt.encode_manifest(MANIFEST)
    assert fmt.decode_manifest(encoded, "m") == MANIFEST


def test_checksum_mismatch_names_the_file() -> None:
    encoded = bytearray(fmt.encode_manifest(MANIFEST))
    encoded[30] ^= 0x40
    with pytest.raises(fmt.ChecksumMismatchError, match=r"^manifest\.ocdbt: CRC-32C checksum mismatch in manifest"):
        fmt.decode_manifest(bytes(encoded), "manifest.ocdbt")
    encoded = bytearray(fmt.encode_manifest(MANIFEST))
    encoded[-1] ^= 1
    with pytest.raises(fmt.ChecksumMismatchError):
        fmt.decode_manifest(bytes(encoded), "manifest.ocdbt")


@pytest.mark.parametrize("keep", [0, 10, 15, 40, -1])
def test_truncated_data_is_refused(keep: int) -> None:
    encoded = fmt.encode_manifest(MANIFEST)
    with pytest.raises(fmt.TruncatedDataError, match=r"^manifest\.ocdbt: ") as info:
        fmt.decode_manifest(encoded[:keep], "manifest.ocdbt")
    assert isinstance(info.value, ValueError)


def test_bad_magic_version_and_compression() -> None:
    body = body_of(fmt.encode_manifest(MANIFEST))
    node = fmt.encode_btree_node(fmt.BtreeNode(0, b"", (fmt.LeafNodeEntry(b"k", b"v"),)), CONFIG)
    with pytest.raises(fmt.UnsupportedFormatError, match=r"not an OCDBT manifest: expected magic value 0x0cdb3a2a but found 0x0cdb20de"):
        fmt.decode_manifest(node, "manifest.ocdbt")
    with pytest.raises(fmt.UnsupportedFormatError, match="unsupported manifest format version 1"):
        fmt.decode_manifest(frame(body, version=1), "m")
    with pytest.raises(fmt.UnsupportedFormatError, match="unsupported b\\+tree node compression format 2"):
        fmt.decode_btree_node(frame(body_of(node), magic=0x0CDB20DE, compression=2), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match=r"corrupt zstd data|invalid zstd frame"):
        fmt.decode_manifest(frame(body, compression=1), "m")


def test_corrupt_fields_name_what_was_expected() -> None:
    body = body_of(fmt.encode_manifest(MANIFEST))
    # The body starts with the uuid (16 bytes), manifest_kind (1), max_inline_value_bytes
    # (100: 1 byte), max_decoded_node_bytes (8 MiB: 4 bytes), version_tree_arity_log2 (1)
    # and the compression method.
    assert body[16:24] == b"\x00\x64\x80\x80\x80\x04\x02\x00"
    with pytest.raises(fmt.CorruptDataError, match="invalid manifest_kind 7"):
        fmt.decode_manifest(frame(body[:16] + b"\x07" + body[17:]), "m")
    with pytest.raises(fmt.CorruptDataError, match="version_tree_arity_log2 = 0 is outside"):
        fmt.decode_manifest(frame(body[:22] + b"\x00" + body[23:]), "m")
    with pytest.raises(fmt.CorruptDataError, match="invalid compression_method 9"):
        fmt.decode_manifest(frame(body[:23] + b"\x09" + body[24:]), "m")
    with pytest.raises(fmt.CorruptDataError, match="zstd compression level 99 is outside"):
        fmt.decode_manifest(frame(body[:23] + b"\x01" + struct.pack("<i", 99) + body[24:]), "m")
    with pytest.raises(fmt.TruncatedDataError, match="while reading"):
        fmt.decode_manifest(frame(body[:-5]), "m")
    with pytest.raises(fmt.CorruptDataError, match="2 unexpected bytes after the end"):
        fmt.decode_manifest(frame(body + b"\x00\x00"), "m")


def test_version_tree_constraints_are_checked() -> None:
    out_of_order = fmt.Manifest(
        CONFIG,
        (
            fmt.BtreeGenerationReference(6, 0, None, fmt.BtreeNodeStatistics(), 1),
            fmt.BtreeGenerationReference(5, 0, None, fmt.BtreeNodeStatistics(), 2),
        ),
    )
    with pytest.raises(fmt.CorruptDataError, match=r"generation_number\[1\] = 5 is not greater"):
        fmt.decode_manifest(fmt.encode_manifest(out_of_order), "m")
    too_many = fmt.Manifest(
        CONFIG, tuple(fmt.BtreeGenerationReference(g, 0, None, fmt.BtreeNodeStatistics(), g) for g in range(1, 6))
    )
    with pytest.raises(fmt.CorruptDataError, match="num_versions = 5 exceeds the maximum of 4"):
        fmt.decode_manifest(fmt.encode_manifest(too_many), "m")
    # With generation 5 the latest, a height-1 node holds generations 1 to 4.
    misplaced = fmt.Manifest(
        MANIFEST.config,
        MANIFEST.versions,
        (fmt.VersionNodeReference(MANIFEST.version_tree_nodes[0].location, 8, 1, 4, 100),),
    )
    with pytest.raises(fmt.CorruptDataError, match="outside the range"):
        fmt.decode_manifest(fmt.encode_manifest(misplaced), "m")
    empty_with_height = fmt.Manifest(CONFIG, (fmt.BtreeGenerationReference(1, 2, None, fmt.BtreeNodeStatistics(), 1),))
    with pytest.raises(fmt.CorruptDataError, match="non-zero root_height 2 for the empty generation 1"):
        fmt.decode_manifest(fmt.encode_manifest(empty_with_height), "m")
    node = fmt.VersionTreeNode(0, 2, MANIFEST.versions)
    encoded = fmt.encode_version_tree_node(node, CONFIG)
    assert fmt.decode_version_tree_node(encoded, b"", "v") == node
    with pytest.raises(fmt.CorruptDataError, match="expected a version tree node of height 1 but found 0"):
        fmt.validate_version_tree_node_reference(node, CONFIG, 5, 1, "d/v")
    with pytest.raises(fmt.CorruptDataError, match="expected latest generation number 4 but found 5"):
        fmt.validate_version_tree_node_reference(node, CONFIG, 4, 0, "d/v")


def test_transitive_base_path_is_prepended() -> None:
    node = fmt.VersionTreeNode(
        1,
        2,
        (fmt.VersionNodeReference(fmt.IndirectDataReference(fmt.DataFileId(b"sub/", b"d/z"), 0, 9), 4, 0, 4, 7),),
    )
    decoded = fmt.decode_version_tree_node(fmt.encode_version_tree_node(node, CONFIG), b"top/", "v")
    entry = decoded.entries[0]
    assert isinstance(entry, fmt.VersionNodeReference)
    assert entry.location.file_id == fmt.DataFileId(b"top/sub/", b"d/z")
    assert entry.location.file_id.full_path == b"top/sub/d/z"


def test_btree_node_structure_errors() -> None:
    leaf = fmt.BtreeNode(0, b"", (fmt.LeafNodeEntry(b"a", b"1"), fmt.LeafNodeEntry(b"b", b"2")))
    body = body_of(fmt.encode_btree_node(leaf, CONFIG))
    # height, no data files, 2 entries, prefix length, suffix lengths, "a", "b", ...
    assert body[:8] == b"\x00\x00\x02\x00\x01\x01ab"
    magic = 0x0CDB20DE
    with pytest.raises(fmt.CorruptDataError, match=r"key 1 \(b'a'\) does not sort after key 0 \(b'b'\)"):
        fmt.decode_btree_node(frame(body[:6] + b"ba" + body[8:], magic), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match=r"empty b\+tree node"):
        fmt.decode_btree_node(frame(b"\x00\x00\x00", magic), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match=r"value_kind\[0\] = 5"):
        fmt.decode_btree_node(frame(body[:10] + b"\x05" + body[11:], magic), b"", "d/n")
    # A data file index past the table's end.
    indirect = fmt.BtreeNode(0, b"", (fmt.LeafNodeEntry(b"a", fmt.IndirectDataReference(fmt.DataFileId(b"", b"f"), 0, 5)),))
    body = body_of(fmt.encode_btree_node(indirect, CONFIG))
    # height, 1 file: suffix length 1, base length 0, "f"; 1 entry; suffix length 1 "a";
    # value length 5, kind 1, file index 0, offset 0.
    assert body == b"\x00\x01\x01\x00f\x01\x01a\x05\x01\x00\x00"
    with pytest.raises(fmt.CorruptDataError, match=r"data_file_id\[0\] = 3 is outside the data file table \[0, 1\)"):
        fmt.decode_btree_node(frame(body[:-2] + b"\x03\x00", magic), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match=r"exceeds 2\*\*63 - 1"):
        fmt.decode_btree_node(frame(body[:-1] + b"\xff" * 8 + b"\x7f", magic), b"", "d/n")


def test_huge_stored_counts_allocate_nothing() -> None:
    magic = 0x0CDB20DE
    # num_entries = 2**20 (the maximum) but no bytes to hold them.
    with pytest.raises(fmt.TruncatedDataError, match="entries of num_entries"):
        fmt.decode_btree_node(frame(b"\x00\x00\x80\x80\x40", magic), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match="num_entries = 2097152 exceeds the maximum of 1048576"):
        fmt.decode_btree_node(frame(b"\x00\x00\x80\x80\x80\x01", magic), b"", "d/n")
    # 2**62 data files.
    with pytest.raises(fmt.TruncatedDataError, match="entries of the number of data files"):
        fmt.decode_btree_node(frame(b"\x00" + b"\x80" * 8 + b"\x40", magic), b"", "d/n")
    with pytest.raises(fmt.CorruptDataError, match="longer than 10 bytes"):
        fmt.decode_btree_node(frame(b"\x00" + b"\x80" * 11, magic), b"", "d/n")


def test_zstd_bombs_stop_at_the_limit() -> None:
    magic = 0x0CDB20DE
    zeros = bytes(8 * 2**20)
    declared = zstandard.ZstdCompressor().compress(zeros)
    with pytest.raises(fmt.CorruptDataError, match="declares 8388608 bytes, more than 1048576"):
        fmt.decode_btree_node(frame(declared, magic, compression=1), b"", "d/n", max_decoded_bytes=2**20)
    stream = zstandard.ZstdCompressor().compressobj()
    undeclared = stream.compress(zeros) + stream.flush()
    with pytest.raises(fmt.CorruptDataError, match="decodes to more than 1048576 bytes"):
        fmt.decode_btree_node(frame(undeclared, magic, compression=1), b"", "d/n", max_decoded_bytes=2**20)
    with pytest.raises(fmt.CorruptDataError, match="unexpected bytes after the end of the frame"):
        fmt.decode_btree_node(frame(declared + b"junk", magic, compression=1), b"", "d/n")
    with pytest.raises(fmt.TruncatedDataError, match=r"zstd frame in b\+tree node is truncated"):
        fmt.decode_btree_node(frame(undeclared[:-3], magic, compression=1), b"", "d/n")


def test_decoded_size_limit_follows_the_config() -> None:
    from ts_ocdbt.format._btree import DEFAULT_MAX_DECODED_BYTES, decoded_size_limit

    assert decoded_size_limit(None) == DEFAULT_MAX_DECODED_BYTES
    assert decoded_size_limit(fmt.Config(uuid=bytes(16), max_decoded_node_bytes=0)) == DEFAULT_MAX_DECODED_BYTES
    small = decoded_size_limit(fmt.Config(uuid=bytes(16), max_decoded_node_bytes=1000))
    assert 1000 + fmt.MAX_INLINE_VALUE_BYTES < small < 4 * 2**20


def test_reading_missing_and_short_data_files(database: WheelDatabase, tmp_path: Path) -> None:
    manifest = fmt.read_manifest(database.base)
    assert manifest is not None
    root = manifest.latest_version.root
    assert root is not None
    gone = fmt.IndirectDataReference(fmt.DataFileId(b"", b"d/missing"), 0, 4)
    with pytest.raises(fmt.MissingDataError, match=r"^d/missing bytes \[0, 4\): the referenced data file does not exist"):
        fmt.read_indirect(database.base, gone)
    size = (database.root / root.file_id.full_path.decode()).stat().st_size
    past = fmt.IndirectDataReference(root.file_id, size - 2, 10)
    with pytest.raises(fmt.TruncatedDataError, match=root.file_id.relative_path.decode()):
        fmt.read_indirect(database.base, past)
    # A damaged manifest on disk: the error names the key.
    copy = tmp_path / "copy"
    copy.mkdir()
    damaged = bytearray(database.file(fmt.MANIFEST_KEY))
    damaged[20] ^= 0xFF
    (copy / "manifest.ocdbt").write_bytes(bytes(damaged))
    with pytest.raises(fmt.ChecksumMismatchError, match=r"^manifest\.ocdbt: "):
        fmt.read_manifest(ts.KvStore.open(f"file://{copy}/").result())


def test_encoding_refuses_invalid_nodes() -> None:
    with pytest.raises(ValueError, match="out of order"):
        fmt.encode_btree_node(fmt.BtreeNode(0, b"", (fmt.LeafNodeEntry(b"b", b""), fmt.LeafNodeEntry(b"a", b""))), CONFIG)
    with pytest.raises(ValueError, match="at least one entry"):
        fmt.encode_btree_node(fmt.BtreeNode(0, b"", ()), CONFIG)
    with pytest.raises(ValueError, match="holds InteriorNodeEntry entries"):
        fmt.encode_btree_node(fmt.BtreeNode(1, b"", (fmt.LeafNodeEntry(b"a", b""),)), CONFIG)
    with pytest.raises(ValueError, match="at least one version"):
        fmt.encode_manifest(fmt.Manifest(CONFIG))
    with pytest.raises(ValueError, match=r"config\.uuid: expected 16 bytes"):
        fmt.encode_manifest(fmt.Manifest(fmt.Config(uuid=b"short"), MANIFEST.versions))


def test_locations_format_and_parse() -> None:
    reference = fmt.IndirectDataReference(fmt.DataFileId(b"a:b/", b"d/\xff x"), 7, 9)
    text = fmt.format_location("value", reference)
    assert text == "value:a%3Ab/:d/%FF%20x:7:9"
    assert fmt.parse_location(text) == ("value", reference)
    assert fmt.parse_location("btreenode::d/abc:0:35")[1] == fmt.IndirectDataReference(fmt.DataFileId(b"", b"d/abc"), 0, 35)
    for bad, message in [
        ("bogus", "Invalid indirect data reference"),
        ("thing::d/x:0:3", "Invalid indirect data kind"),
        ("value::d/x%zz:0:3", "Invalid percent-encoding"),
        ("value::d/x:9223372036854775807:3", "Invalid offset/length pair"),
    ]:
        with pytest.raises(ValueError, match=message):
            fmt.parse_location(bad)


# -- property: anything encodable decodes to itself ---------------------------------------

_paths = st.binary(min_size=0, max_size=12)
_file_ids = st.builds(fmt.DataFileId, _paths, _paths)
_references = st.builds(
    fmt.IndirectDataReference, _file_ids, st.integers(0, 2**40), st.integers(0, 2**20)
)
_statistics = st.builds(
    fmt.BtreeNodeStatistics, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)
)
_compression = st.sampled_from([None, fmt.ZstdCompression(0), fmt.ZstdCompression(-3)])


@st.composite
def _btree_nodes(draw: st.DrawFn) -> fmt.BtreeNode:
    keys = sorted(draw(st.sets(st.binary(max_size=10), min_size=1, max_size=40)))
    prefix = draw(st.binary(max_size=4))
    height = draw(st.integers(0, 3))
    entries: list[fmt.LeafNodeEntry | fmt.InteriorNodeEntry] = []
    for key in keys:
        if height == 0:
            value = draw(st.one_of(st.binary(max_size=30), _references))
            entries.append(fmt.LeafNodeEntry(key, value))
        else:
            common = draw(st.integers(0, len(key)))
            entries.append(fmt.InteriorNodeEntry(key, common, draw(_references), draw(_statistics)))
    return fmt.BtreeNode(height, prefix, tuple(entries))


@settings(max_examples=60, deadline=None)
@given(node=_btree_nodes(), compression=_compression)
def test_btree_nodes_round_trip(node: fmt.BtreeNode, compression: fmt.ZstdCompression | None) -> None:
    config = fmt.Config(uuid=bytes(16), compression=compression)
    encoded = fmt.encode_btree_node(node, config)
    decoded = fmt.decode_btree_node(encoded, b"", "node")
    # The split between key_prefix and entry keys may differ; the stored keys may not.
    assert [decoded.key_prefix + e.key for e in decoded.entries] == [node.key_prefix + e.key for e in node.entries]
    for ours, theirs in zip(node.entries, decoded.entries, strict=True):
        if isinstance(ours, fmt.LeafNodeEntry):
            assert isinstance(theirs, fmt.LeafNodeEntry)
            assert theirs.value == ours.value
        else:
            assert isinstance(theirs, fmt.InteriorNodeEntry)
            assert (theirs.node, theirs.statistics) == (ours.node, ours.statistics)
            assert (
                decoded.key_prefix + theirs.subtree_common_prefix == node.key_prefix + ours.subtree_common_prefix
            )
    assert fmt.encode_btree_node(decoded, config) == encoded


@settings(max_examples=40, deadline=None)
@given(
    first=st.integers(1, 2**40),
    roots=st.lists(st.one_of(st.none(), _references), min_size=1, max_size=4),
    compression=_compression,
)
def test_manifests_round_trip(first: int, roots: list[fmt.IndirectDataReference | None], compression: Any) -> None:
    first = first - (first - 1) % 4  # the versions inline in a manifest share one leaf of 4
    versions = tuple(
        fmt.BtreeGenerationReference(
            first + i,
            0 if root is None else 1 + i,
            root,
            fmt.BtreeNodeStatistics() if root is None else fmt.BtreeNodeStatistics(i, 2 * i, 3 * i),
            10**18 + i,
        )
        for i, root in enumerate(roots)
    )
    manifest = fmt.Manifest(
        fmt.Config(uuid=b"\x01" * 16, compression=compression, version_tree_arity_log2=2), versions
    )
    encoded = fmt.encode_manifest(manifest)
    assert fmt.decode_manifest(encoded, "m") == manifest
    node = fmt.VersionTreeNode(0, 2, versions)
    assert fmt.decode_version_tree_node(fmt.encode_version_tree_node(node, manifest.config), b"", "v") == node


_SAMPLE_LEAF = fmt.BtreeNode(
    0,
    b"",
    tuple(
        fmt.LeafNodeEntry(b"key/%03d" % i, b"v" * i if i % 3 else fmt.IndirectDataReference(fmt.DataFileId(b"", b"d/f"), i, 7))
        for i in range(40)
    ),
)
_SAMPLE_INTERIOR = fmt.BtreeNode(
    2,
    b"",
    tuple(
        fmt.InteriorNodeEntry(b"k%02d" % i, 1 + i % 2, fmt.IndirectDataReference(fmt.DataFileId(b"a/", b"d/%d" % (i % 3)), i, 9), fmt.BtreeNodeStatistics(i, i, i))
        for i in range(20)
    ),
)
_SAMPLES = [
    (fmt.encode_manifest(MANIFEST), fmt.decode_manifest),
    (fmt.encode_btree_node(_SAMPLE_LEAF, CONFIG), lambda data, where: fmt.decode_btree_node(data, b"", where)),
    (fmt.encode_btree_node(_SAMPLE_INTERIOR, CONFIG), lambda data, where: fmt.decode_btree_node(data, b"", where)),
    (
        fmt.encode_version_tree_node(fmt.VersionTreeNode(1, 2, MANIFEST.version_tree_nodes), CONFIG),
        lambda data, where: fmt.decode_version_tree_node(data, b"", where),
    ),
]


@settings(max_examples=150, deadline=None)
@given(
    sample=st.integers(0, len(_SAMPLES) - 1),
    edits=st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 2), st.binary(max_size=4)), min_size=1, max_size=4),
    compressed=st.booleans(),
)
def test_garbage_with_a_valid_checksum_is_refused_by_name(
    sample: int, edits: list[tuple[int, int, bytes]], compressed: bool
) -> None:
    """Mangled bodies, framed with a correct length and checksum (so the parser sees them),
    fail with CorruptDataError naming the file, never another exception."""
    encoded, decode = _SAMPLES[sample]
    body = bytearray(body_of(encoded))
    for position, operation, data in edits:
        i = position % (len(body) + 1)
        if operation == 0:
            body[i : i + len(data)] = data  # overwrite
        elif operation == 1:
            del body[i : i + 1 + len(data)]
        else:
            body[i:i] = data
    magic = struct.unpack(">I", encoded[:4])[0]
    if compressed:
        reframed = frame(zstandard.ZstdCompressor().compress(bytes(body)), magic, compression=1)
    else:
        reframed = frame(bytes(body), magic)
    try:
        decode(reframed, "d/mangled")
    except fmt.CorruptDataError as exc:
        message = str(exc)
    else:
        return  # some edits leave a valid encoding
    assert message.startswith("d/mangled: ")


def test_reused_zstd_contexts_encode_as_fresh_ones() -> None:
    """Envelopes are compressed with zstd contexts kept for reuse: whatever a context
    compressed before (streamed or in one pass, another level), the bytes are those of a
    new context, as tensorstore writes them."""
    from ts_ocdbt.format._codec import decode_envelope, encode_envelope

    magic = 0x0CDB20DE
    bodies = [bytes(range(256)) * 40, b"small body" * 10, bytes(200_000), b"x" * 5000, b""]

    def fresh(body: bytes, level: int) -> bytes:
        compressor = zstandard.ZstdCompressor(level=level)
        if len(body) < 4096:
            return compressor.compress(body)
        stream = compressor.compressobj()
        return stream.compress(body) + stream.flush()

    for _ in range(3):
        for level in (0, 1, 5, 0):
            for body in bodies:
                encoded = encode_envelope(body, magic, fmt.ZstdCompression(level))
                assert encoded == frame(fresh(body, level), magic, compression=1)
                decoded = decode_envelope(encoded, magic, "b+tree node", "d/n", 2**20)
                assert decoded == body
