"""Damaged databases: a corrupt manifest, a truncated node, a checksum mismatch and an
unknown version are clear errors naming the file (and place in it) and what was expected,
and nothing in the database changes, whatever the reader or a writer tries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tensorstore

import ts_core as ts
import ts_ocdbt


def make_database(path: Path) -> dict[str, Any]:
    """A database written by the wheel: 3 versions, root node and values in data files."""
    spec = {"driver": "ocdbt", "base": f"file://{path}/"}
    store = tensorstore.KvStore.open(spec).result()
    store["small"] = b"inline"
    store["large"] = b"L" * 400  # out of line
    return spec


def snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def root_location(path: Path) -> tuple[str, int, int]:
    """Data file, offset and length of the newest version's root B+tree node."""
    manifest = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{path}/").result()).result()
    location = manifest["versions"][-1]["root"]["location"]
    _, _, relative, offset, length = location.split(":")
    return relative, int(offset), int(length)


def assert_fails_and_changes_nothing(path: Path, spec: dict[str, Any], pattern: str) -> None:
    """Reading, listing and writing all fail with ``pattern``; no file changes."""
    before = snapshot(path)
    attempts = [
        lambda: ts.KvStore.open(spec).result().read("small").result(),
        lambda: ts.KvStore.open(spec).result().list().result(),
        lambda: ts.KvStore.open(spec).result().write("new", b"value").result(),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match=pattern):
            attempt()
    assert snapshot(path) == before


def test_corrupt_manifest(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    manifest = tmp_path / "manifest.ocdbt"
    manifest.write_bytes(b"\x00\x00\x00\x00" + manifest.read_bytes()[4:])
    assert_fails_and_changes_nothing(tmp_path, spec, r"manifest\.ocdbt: .*expected magic value 0x0cdb3a2a")


def test_manifest_checksum_mismatch(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    manifest = tmp_path / "manifest.ocdbt"
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 0xFF
    manifest.write_bytes(bytes(data))
    assert_fails_and_changes_nothing(tmp_path, spec, r"manifest\.ocdbt: CRC-32C checksum mismatch")


def test_truncated_manifest(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    manifest = tmp_path / "manifest.ocdbt"
    manifest.write_bytes(manifest.read_bytes()[:-9])
    assert_fails_and_changes_nothing(tmp_path, spec, r"manifest\.ocdbt: .*length of \d+ bytes but \d+ are stored")


def test_truncated_node(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    relative, offset, length = root_location(tmp_path)
    data_file = tmp_path / relative
    data_file.write_bytes(data_file.read_bytes()[: offset + length // 2])
    pattern = re.escape(f"{relative} bytes [{offset}, {offset + length})")
    assert_fails_and_changes_nothing(tmp_path, spec, pattern)


def test_node_checksum_mismatch(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    relative, offset, length = root_location(tmp_path)
    data_file = tmp_path / relative
    data = bytearray(data_file.read_bytes())
    data[offset + length - 6] ^= 0x55  # inside the body, not the header's length field
    data_file.write_bytes(bytes(data))
    assert_fails_and_changes_nothing(
        tmp_path, spec, re.escape(f"{relative} bytes [{offset}, {offset + length}): CRC-32C checksum mismatch"))


def test_missing_data_file(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    relative, _, _ = root_location(tmp_path)
    (tmp_path / relative).unlink()
    assert_fails_and_changes_nothing(tmp_path, spec, re.escape(relative) + ".*does not exist")


def test_unknown_version(tmp_path: Path) -> None:
    spec = make_database(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"version 7\b.*generations? 1 to 3"):
        ts_ocdbt.open_version(ts.KvStore.open(spec).result(), 7).result()
    with pytest.raises(ValueError, match=r"7"):
        ts.KvStore.open({**spec, "version": 7}).result().read("small").result()
    assert snapshot(tmp_path) == before
