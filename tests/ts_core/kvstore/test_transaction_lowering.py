"""Adapters over a store with ``commit_atomic`` in one transaction: each adapter's staged
writes are lowered through its own ``lower_staged`` (never another adapter's), and the
bottom store commits everything in one call; inner conditions fail the commit through
StagedConditionFailed with nothing written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

import ts_core as ts
from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    KeyRange,
    KvStore,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedConditionFailed,
    StagedWrite,
    TimestampedStorageGeneration,
    TransactionConflictError,
    commit_staged,
)


def stamp(generation: bytes) -> TimestampedStorageGeneration:
    return TimestampedStorageGeneration(generation, 0.0)


class Bottom(KvStoreDriver):
    """A dict that commits many keys at once; records each ``commit_atomic`` call."""

    id = "lowering_test_bottom"
    spec_class = dict

    def __init__(self) -> None:
        self.values: dict[bytes, tuple[bytes, bytes]] = {}
        self.version = 0
        self.commits: list[list[bytes]] = []

    @classmethod
    def open(cls, spec: Any, context: Any) -> Bottom:
        raise NotImplementedError

    @property
    def spec(self) -> Any:
        return {}

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        value, generation = self.values.get(key, (None, NO_VALUE))
        if options.if_not_equal == generation:
            return ReadResult("unspecified", b"", stamp(generation))
        return ReadResult("missing", b"", stamp(generation)) if value is None else ReadResult("value", value, stamp(generation))

    def _set(self, values: dict[bytes, tuple[bytes, bytes]], key: bytes, value: bytes | None) -> None:
        if value is None:
            values.pop(key, None)
        else:
            self.version += 1
            values[key] = (value, self.version.to_bytes(8, "little"))

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if if_equal not in (None, UNKNOWN) and if_equal != self.values.get(key, (None, NO_VALUE))[1]:
            return stamp(UNKNOWN)
        self._set(self.values, key, value)
        return stamp(self.values.get(key, (None, NO_VALUE))[1])

    def delete_range(self, key_range: KeyRange) -> None:
        for key in [k for k in self.values if key_range.contains(k)]:
            del self.values[key]

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        return [k for k in self.values if key_range.contains(k)]

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        self.commits.append([write.key for write in writes])
        values = {k: v for k, v in self.values.items() if not any(r.contains(k) for r in deleted_ranges)}
        for write in writes:
            value, generation = values.get(write.key, (None, NO_VALUE))
            if write.condition is not None and write.condition != generation:
                return False
            if write.modify is not None:
                self._set(values, write.key, write.modify(value if write.reads_stored else None))
        self.values = values  # a modify that raised left everything as it was
        return True


class Encoding(KvStoreDriver):
    """An adapter storing each value encoded under the same key of its base."""

    id = "lowering_test_encoding"
    spec_class = dict

    def __init__(self, base: KvStoreDriver, encode: Any, decode: Any) -> None:
        self.base, self.encode, self.decode = base, encode, decode
        self.lowered: list[list[bytes]] = []

    @classmethod
    def open(cls, spec: Any, context: Any) -> Encoding:
        raise NotImplementedError

    @property
    def spec(self) -> Any:
        return {}

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        result = self.base.read(key, options)
        return ReadResult("value", self.decode(result.value), result.stamp) if result.state == "value" else result

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self.base.write(key, None if value is None else self.encode(value), if_equal)

    def delete_range(self, key_range: KeyRange) -> None:
        self.base.delete_range(key_range)

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        return self.base.list(key_range)

    @property
    def commits_atomically(self) -> bool:
        return True

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        return self.base

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> tuple[list[StagedWrite], list[KeyRange]]:
        self.lowered.append([write.key for write in writes])
        return [self.encoded(write) for write in writes], list(deleted_ranges)

    def encoded(self, write: StagedWrite) -> StagedWrite:
        inner = write.modify
        if inner is None:
            return write

        def modify(stored: bytes | None) -> bytes | None:
            new = inner(None if stored is None else self.decode(stored))
            return None if new is None else self.encode(new)

        return StagedWrite(write.key, modify, write.condition, write.reads_stored)

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        return commit_staged(self, writes, deleted_ranges)


def upper(base: KvStoreDriver) -> Encoding:
    return Encoding(base, bytes.upper, bytes.lower)


def reverse(base: KvStoreDriver) -> Encoding:
    return Encoding(base, lambda value: value[::-1], lambda value: value[::-1])


class Pack(KvStoreDriver):
    """An adapter whose keys ``<field>`` are members of one JSON value ``pack`` of its base
    (a shard of chunks): a field's generation is a digest of its value."""

    id = "lowering_test_pack"
    spec_class = dict
    PACK = b"pack"

    def __init__(self, base: KvStoreDriver) -> None:
        self.base = base

    @classmethod
    def open(cls, spec: Any, context: Any) -> Pack:
        raise NotImplementedError

    @property
    def spec(self) -> Any:
        return {}

    @staticmethod
    def fields(stored: bytes | None) -> dict[str, str]:
        return {} if stored is None else dict(json.loads(stored))

    @staticmethod
    def generation(value: str | None) -> bytes:
        return NO_VALUE if value is None else hashlib.sha1(value.encode()).digest()

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        stored = self.base.read(self.PACK, ReadOptions())
        value = self.fields(stored.value if stored.state == "value" else None).get(key.decode())
        generation = self.generation(value)
        if options.if_not_equal == generation:
            return ReadResult("unspecified", b"", stamp(generation))
        return ReadResult("missing", b"", stamp(generation)) if value is None else ReadResult("value", value.encode(), stamp(generation))

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        raise NotImplementedError("only through a transaction")

    def delete_range(self, key_range: KeyRange) -> None:
        raise NotImplementedError

    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        return []

    @property
    def commits_atomically(self) -> bool:
        return True

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        return self.base

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> tuple[list[StagedWrite], list[KeyRange]]:
        def modify(stored: bytes | None) -> bytes | None:
            fields = self.fields(stored)
            for write in writes:
                current = fields.get(write.key.decode())
                if write.condition is not None and write.condition != self.generation(current):
                    raise StagedConditionFailed(write.key)
                if write.modify is not None:
                    new = write.modify(None if current is None else current.encode())
                    if new is None:
                        fields.pop(write.key.decode(), None)
                    else:
                        fields[write.key.decode()] = new.decode()
            return json.dumps(fields, sort_keys=True).encode()

        return [StagedWrite(self.PACK, modify)], list(deleted_ranges)


def put(driver: KvStoreDriver, txn: ts.Transaction, key: bytes, value: bytes) -> None:
    KvStore(driver, "", txn).write(key, value).result()


def get(driver: KvStoreDriver, txn: ts.Transaction | None, key: bytes) -> bytes | None:
    result = KvStore(driver, "", txn).read(key).result()
    return result.value if result.state == "value" else None


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "not-atomic"])
def test_each_adapter_encodes_its_own_writes_in_one_commit_of_the_bottom_store(atomic: bool) -> None:
    bottom = Bottom()
    up, back = upper(bottom), reverse(bottom)
    txn = ts.Transaction(atomic=atomic)
    put(up, txn, b"u", b"abc")
    put(back, txn, b"r", b"abc")
    put(bottom, txn, b"plain", b"abc")
    txn.commit_sync()
    assert len(bottom.commits) == 1
    assert sorted(bottom.commits[0]) == [b"plain", b"r", b"u"]
    assert up.lowered == [[b"u"]]  # never the other adapter's or the bottom store's keys
    assert back.lowered == [[b"r"]]
    assert {key: value for key, (value, _) in bottom.values.items()} == {b"u": b"ABC", b"r": b"cba", b"plain": b"abc"}


def test_two_adapters_lowering_onto_one_key_write_it_once_with_both_changes() -> None:
    bottom = Bottom()
    first, second = Pack(bottom), Pack(bottom)  # two stores of the transaction, one pack
    txn = ts.Transaction(atomic=True)
    put(first, txn, b"a", b"1")
    put(second, txn, b"b", b"2")
    put(bottom, txn, b"plain", b"3")
    txn.commit_sync()
    assert bottom.commits == [[Pack.PACK, b"plain"]]
    assert json.loads(bottom.values[Pack.PACK][0]) == {"a": "1", "b": "2"}


def test_an_inner_condition_that_fails_is_a_conflict_with_nothing_written() -> None:
    bottom = Bottom()
    bottom.write(Pack.PACK, b'{"a": "1"}', None)
    pack, up = Pack(bottom), upper(bottom)
    txn = ts.Transaction(atomic=True)
    assert get(pack, txn, b"a") == b"1"
    put(pack, txn, b"a", b"2")
    put(up, txn, b"u", b"x")
    bottom.write(Pack.PACK, b'{"a": "9"}', None)  # another writer changes the field
    with pytest.raises(TransactionConflictError, match="'a'"):
        txn.commit_sync()
    assert bottom.values[Pack.PACK][0] == b'{"a": "9"}'
    assert b"u" not in bottom.values


def test_two_adapters_that_read_one_key_at_different_generations_conflict() -> None:
    bottom = Bottom()
    bottom.write(b"k", b"A", None)
    first, second = upper(bottom), upper(bottom)
    txn = ts.Transaction(atomic=True)
    assert get(first, txn, b"k") == b"a"
    bottom.write(b"k", b"B", None)
    assert get(second, txn, b"k") == b"b"
    put(first, txn, b"k", b"c")
    put(second, txn, b"k", b"d")
    with pytest.raises(TransactionConflictError):
        txn.commit_sync()
    assert bottom.values[b"k"][0] == b"B"


def test_an_adapter_that_cannot_lower_fails_before_anything_is_written() -> None:
    class NoLowering(Encoding):
        lower_staged = KvStoreDriver.lower_staged

    bottom = Bottom()
    memory = KvStore.open("memory://").result()
    adapter = NoLowering(bottom, bytes.upper, bytes.lower)
    txn = ts.Transaction()
    memory.with_transaction(txn).write(b"m", b"1").result()
    put(adapter, txn, b"u", b"x")
    with pytest.raises(NotImplementedError, match="lowering_test_encoding"):
        txn.commit_sync()
    assert memory.read(b"m").result().state == "missing"
    assert bottom.values == {}
