"""``KvStoreDriver.read_byte_ranges`` / ``KvStore.read_byte_ranges_blocking``: several byte
ranges of one version of a value (the file driver's one open file, the default's ranged
reads checked against each other's generation)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.kvstore import (
    ByteRangesReadResult,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
)
from ts_core.kvstore.file import _driver as file_driver

VALUE = bytes(range(256)) * 4
RANGES = [(0, 3), (10, 12), (500, 500), (1000, 1024)]
EXPECTED = VALUE[0:3] + VALUE[10:12] + VALUE[1000:1024]


@pytest.fixture(params=["file", "memory"])
def kvstore(request: pytest.FixtureRequest, tmp_path: Path) -> ts.KvStore:
    spec = {"driver": "file", "path": str(tmp_path) + "/"} if request.param == "file" else "memory://"
    return ts.KvStore.open(spec).result()


def test_ranges_of_one_value(kvstore: ts.KvStore) -> None:
    kvstore["k"] = VALUE
    result = kvstore.read_byte_ranges_blocking("k", RANGES)
    assert isinstance(result, ByteRangesReadResult)
    assert (result.state, bytes(result.value)) == ("value", EXPECTED)
    assert result.stamp.generation == kvstore.read("k").result().stamp.generation
    assert result.size in (None, len(VALUE))
    if kvstore.driver.id == "file":
        assert result.size == len(VALUE)


def test_missing_key(kvstore: ts.KvStore) -> None:
    result = kvstore.read_byte_ranges_blocking("absent", RANGES)
    assert (result.state, bytes(result.value)) == ("missing", b"")


def test_a_range_outside_the_value_is_an_error_naming_the_key(kvstore: ts.KvStore) -> None:
    kvstore["short"] = b"abc"
    with pytest.raises(ValueError, match=r"\[1, 9\).*3-byte value of key .*short"):
        kvstore.read_byte_ranges_blocking("short", [(0, 1), (1, 9)])


@pytest.mark.parametrize("ranges", [[(0, 2), ("x", 3)], [(0, 2), (1,)], [(0.5, 2)], [(True, 2)]])
def test_a_range_that_is_not_a_pair_of_ints_is_a_type_error_naming_it(
    kvstore: ts.KvStore, ranges: list[Any]
) -> None:
    kvstore.write_blocking("k", b"0123456789")
    index = len(ranges) - 1
    with pytest.raises(TypeError, match=rf"ranges\[{index}\]: expected a \(start, stop\) pair of ints"):
        kvstore.read_byte_ranges_blocking("k", ranges)


def test_in_a_transaction_the_ranges_come_from_the_staged_value(kvstore: ts.KvStore) -> None:
    kvstore["k"] = b"stored"
    txn = ts.Transaction()
    staged = kvstore.with_transaction(txn)
    staged["k"] = VALUE
    result = staged.read_byte_ranges_blocking("k", RANGES)
    assert bytes(result.value) == EXPECTED
    assert result.size == len(VALUE)
    txn.abort()


class _Changing(KvStoreDriver):
    """A store whose value changes after every read (another writer racing the reads)."""

    id = "test_changing"
    spec_class = dict

    def __init__(self) -> None:
        self.version = 0
        self.reads: list[ReadOptions] = []

    @classmethod
    def open(cls, spec: Any, context: Any) -> _Changing:
        return cls()

    @property
    def spec(self) -> Any:
        return {}

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        self.reads.append(options)
        self.version += 1
        value = bytes([self.version % 256]) * 16
        start, stop = options.byte_range.resolve(len(value), key)
        stamp = TimestampedStorageGeneration(self.version.to_bytes(4, "little"), 0.0)
        return ReadResult("value", value[start:stop], stamp)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        raise NotImplementedError

    def delete_range(self, key_range: Any) -> None:
        raise NotImplementedError

    def list(self, key_range: Any) -> list[bytes]:
        return []


def test_the_default_reads_the_value_whole_when_it_keeps_changing() -> None:
    driver = _Changing()
    result = driver.read_byte_ranges(b"k", [(0, 2), (4, 6)])
    # Every attempt saw two generations; then one whole read gave one version.
    assert result.state == "value"
    assert result.size == 16
    assert len(set(bytes(result.value))) == 1
    assert driver.reads[-1].byte_range.is_full
    assert sum(not options.byte_range.is_full for options in driver.reads) > 2


def test_a_file_rewritten_in_place_during_the_reads_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kvstore = ts.KvStore.open({"driver": "file", "path": str(tmp_path) + "/"}).result()
    kvstore["k"] = VALUE
    path = tmp_path / "k"
    real_pread = os.pread
    rewrites = []

    def pread_then_rewrite(fd: int, length: int, offset: int) -> bytes:
        data = real_pread(fd, length, offset)
        if len(rewrites) < 2:  # another program rewrites the file in place, twice
            rewrites.append(offset)
            with open(path, "r+b") as f:
                f.write(b"\xff")
            stat = os.stat(path)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000 * (len(rewrites) + 1)))
        return data

    monkeypatch.setattr(file_driver.os, "pread", pread_then_rewrite)
    result = kvstore.read_byte_ranges_blocking("k", [(0, 2), (10, 12)])
    assert len(rewrites) == 2
    assert bytes(result.value) == b"\xff\x01\x0a\x0b"  # the version after the rewrites
    assert result.stamp.generation == kvstore.read("k").result().stamp.generation
