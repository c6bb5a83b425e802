"""Conformance suite every kvstore driver passes.

Subclass :class:`KvStoreConformance` in your plugin's tests and provide a ``kvstore``
fixture yielding an open, empty ``ts.KvStore``::

    class TestMyStore(KvStoreConformance):
        @pytest.fixture
        def kvstore(self, tmp_path):
            return ts.KvStore.open({"driver": "mystore", ...}).result()

Set the class attributes below to declare what the driver cannot do.
"""

from __future__ import annotations

import pickle
import threading

import pytest

from ..kvstore import NO_VALUE, UNKNOWN, KeyRange, KvStore, Transaction

__all__ = ["KvStoreConformance"]


class KvStoreConformance:
    """Read/write/delete/list/ranges/byte ranges/conditional writes/concurrency."""

    #: Threads used by the concurrent conditional-increment test.
    concurrent_writers = 4
    #: Increments per thread in that test.
    increments_per_writer = 25
    #: False for stores whose generation is a content hash (S3 ETags): rewriting identical
    #: bytes then keeps the generation, and the suite checks with different bytes instead.
    generation_changes_on_identical_rewrite = True

    # -- reads and writes ---------------------------------------------------------------
    def test_read_missing(self, kvstore: KvStore) -> None:
        result = kvstore.read("missing").result()
        assert result.state == "missing"
        assert result.value == b""
        assert result.stamp.generation == NO_VALUE

    def test_write_then_read(self, kvstore: KvStore) -> None:
        stamp = kvstore.write("a", b"value").result()
        assert stamp.generation not in (UNKNOWN, NO_VALUE)
        result = kvstore.read("a").result()
        assert result.state == "value"
        assert result.value == b"value"
        assert result.stamp.generation == stamp.generation

    def test_str_and_bytes_keys_are_the_same(self, kvstore: KvStore) -> None:
        kvstore.write(b"k", "text").result()
        assert kvstore.read("k").result().value == b"text"

    def test_overwrite_changes_generation(self, kvstore: KvStore) -> None:
        first = kvstore.write("a", b"1").result()
        second = kvstore.write("a", b"1" if self.generation_changes_on_identical_rewrite else b"2").result()
        assert first.generation != second.generation
        assert kvstore.read("a").result().stamp.generation == second.generation

    def test_empty_and_binary_values(self, kvstore: KvStore) -> None:
        every_byte = bytes(range(256)) * 4
        kvstore.write("empty", b"").result()
        kvstore.write("binary", every_byte).result()
        empty = kvstore.read("empty").result()
        assert (empty.state, empty.value) == ("value", b"")
        assert kvstore.read("binary").result().value == every_byte

    def test_large_value(self, kvstore: KvStore) -> None:
        value = bytes(range(251)) * (4 << 10)  # ~1 MiB, not a multiple of page sizes
        kvstore.write("large", value).result()
        assert kvstore.read("large").result().value == value

    def test_nested_keys(self, kvstore: KvStore) -> None:
        kvstore.write("dir/sub/leaf", b"x").result()
        kvstore.write("dir/other", b"y").result()
        assert kvstore.read("dir/sub/leaf").result().value == b"x"
        assert kvstore.list().result() == [b"dir/other", b"dir/sub/leaf"]

    def test_mapping_interface(self, kvstore: KvStore) -> None:
        kvstore["m"] = b"1"
        assert kvstore["m"] == b"1"
        del kvstore["m"]
        with pytest.raises(KeyError):
            kvstore["m"]

    def test_wrong_key_and_value_types(self, kvstore: KvStore) -> None:
        with pytest.raises(TypeError, match="key"):
            kvstore.read(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="value"):
            kvstore.write("a", 3)  # type: ignore[arg-type]

    # -- byte ranges -------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("byte_range", "expected"),
        [
            (slice(2, 5), b"234"),
            (slice(None, 3), b"012"),
            (slice(7, None), b"789"),
            (slice(-3, None), b"789"),
            (slice(4, 4), b""),
            (slice(0, 10), b"0123456789"),
        ],
    )
    def test_byte_range(self, kvstore: KvStore, byte_range: slice, expected: bytes) -> None:
        kvstore.write("r", b"0123456789").result()
        assert kvstore.read("r", byte_range=byte_range).result().value == expected

    @pytest.mark.parametrize("byte_range", [slice(5, 11), slice(-11, None), slice(6, 5)])
    def test_byte_range_out_of_bounds(self, kvstore: KvStore, byte_range: slice) -> None:
        kvstore.write("r", b"0123456789").result()
        with pytest.raises(ValueError, match="byte range"):
            kvstore.read("r", byte_range=byte_range).result()

    def test_byte_range_of_missing_key(self, kvstore: KvStore) -> None:
        assert kvstore.read("none", byte_range=slice(0, 5)).result().state == "missing"

    # -- conditions --------------------------------------------------------------------
    def test_if_not_equal(self, kvstore: KvStore) -> None:
        stamp = kvstore.write("c", b"1").result()
        unchanged = kvstore.read("c", if_not_equal=stamp.generation).result()
        assert unchanged.state == "unspecified"
        assert unchanged.stamp.generation == stamp.generation
        kvstore.write("c", b"2").result()
        changed = kvstore.read("c", if_not_equal=stamp.generation).result()
        assert (changed.state, changed.value) == ("value", b"2")
        missing = kvstore.read("none", if_not_equal=NO_VALUE).result()
        assert missing.state == "unspecified"

    def test_conditional_write(self, kvstore: KvStore) -> None:
        first = kvstore.write("c", b"1").result()
        second = kvstore.write("c", b"2", if_equal=first.generation).result()
        assert second.generation not in (UNKNOWN, first.generation)
        stale = kvstore.write("c", b"3", if_equal=first.generation).result()
        assert stale.generation == UNKNOWN
        assert kvstore["c"] == b"2"

    def test_create_only_if_absent(self, kvstore: KvStore) -> None:
        created = kvstore.write("new", b"1", if_equal=NO_VALUE).result()
        assert created.generation != UNKNOWN
        again = kvstore.write("new", b"2", if_equal=NO_VALUE).result()
        assert again.generation == UNKNOWN
        assert kvstore["new"] == b"1"

    def test_conditional_delete(self, kvstore: KvStore) -> None:
        stamp = kvstore.write("d", b"1").result()
        kvstore.write("d", b"2").result()
        assert kvstore.delete("d", if_equal=stamp.generation).result().generation == UNKNOWN
        assert kvstore["d"] == b"2"
        current = kvstore.read("d").result().stamp.generation
        assert kvstore.delete("d", if_equal=current).result().generation == NO_VALUE
        assert kvstore.read("d").result().state == "missing"

    def test_delete_missing_key(self, kvstore: KvStore) -> None:
        assert kvstore.delete("never").result().generation == NO_VALUE
        missing_condition = kvstore.delete("never", if_equal=NO_VALUE).result()
        assert missing_condition.generation == NO_VALUE

    def test_write_none_deletes(self, kvstore: KvStore) -> None:
        kvstore.write("w", b"1").result()
        kvstore.write("w", None).result()
        assert kvstore.read("w").result().state == "missing"

    # -- listing and ranges ---------------------------------------------------------------
    def _fill(self, kvstore: KvStore, keys: list[str]) -> None:
        for key in keys:
            kvstore.write(key, key.encode()).result()

    def test_list_sorted(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["b", "a/2", "a/1", "c"])
        assert kvstore.list().result() == [b"a/1", b"a/2", b"b", b"c"]

    def test_list_range_and_strip(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["a/1", "a/2", "b/1", "b/2", "c/1"])
        assert kvstore.list(KeyRange("a/2", "b/2")).result() == [b"a/2", b"b/1"]
        assert kvstore.list(KeyRange("b/", "b0"), strip_prefix_length=2).result() == [b"1", b"2"]
        assert kvstore.list(KeyRange("x", "y")).result() == []
        assert kvstore.list(KeyRange("c", "a")).result() == []

    def test_delete_range(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["a/1", "a/2", "b/1", "b/2", "c"])
        kvstore.delete_range(KeyRange("a/2", "b/2")).result()
        assert kvstore.list().result() == [b"a/1", b"b/2", b"c"]
        kvstore.delete_range(KeyRange()).result()
        assert kvstore.list().result() == []

    def test_path_prefix(self, kvstore: KvStore) -> None:
        child = kvstore / "child/"
        assert child.path.endswith("child/")
        child.write("key", b"v").result()
        assert kvstore.read("child/key").result().value == b"v"
        assert child.list().result() == [b"key"]
        (kvstore + "childish").write("x", b"1").result()
        assert child.list().result() == [b"key"]
        assert sorted(kvstore.list().result()) == [b"child/key", b"childishx"]

    # -- identity --------------------------------------------------------------------------
    def test_spec_round_trip(self, kvstore: KvStore) -> None:
        spec = kvstore.spec()
        assert isinstance(spec, KvStore.Spec)
        assert KvStore.Spec(spec.to_json()) == spec
        assert pickle.loads(pickle.dumps(spec)) == spec

    # -- concurrency -----------------------------------------------------------------------
    def test_concurrent_conditional_increments(self, kvstore: KvStore) -> None:
        kvstore.write("counter", b"0").result()

        def increment(count: int) -> None:
            for _ in range(count):
                while True:
                    current = kvstore.read("counter").result()
                    value = str(int(current.value) + 1).encode()
                    stamp = kvstore.write("counter", value, if_equal=current.stamp.generation).result()
                    if stamp.generation != UNKNOWN:
                        break

        threads = [
            threading.Thread(target=increment, args=(self.increments_per_writer,))
            for _ in range(self.concurrent_writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert int(kvstore["counter"]) == self.concurrent_writers * self.increments_per_writer

    def test_many_writes_in_flight(self, kvstore: KvStore) -> None:
        futures = [kvstore.write(f"k{i:03d}", str(i).encode()) for i in range(100)]
        for future in futures:
            future.result(timeout=60)
        reads = [kvstore.read(f"k{i:03d}") for i in range(100)]
        assert [int(f.result().value) for f in reads] == list(range(100))

    # -- transactions ------------------------------------------------------------------------
    def test_transaction_isolation_and_commit(self, kvstore: KvStore) -> None:
        kvstore.write("t", b"old").result()
        txn = Transaction()
        staged = kvstore.with_transaction(txn)
        staged.write("t", b"new").result()
        staged.write("t2", b"added").result()
        assert staged["t"] == b"new"  # read-your-writes
        assert kvstore["t"] == b"old"  # others see nothing yet
        assert sorted(staged.list().result()) == [b"t", b"t2"]
        txn.commit_sync()
        assert kvstore["t"] == b"new"
        assert kvstore["t2"] == b"added"

    def test_transaction_abort(self, kvstore: KvStore) -> None:
        txn = Transaction()
        kvstore.with_transaction(txn).write("t", b"x").result()
        txn.abort()
        assert kvstore.read("t").result().state == "missing"
        with pytest.raises(ValueError, match="aborted"):
            txn.commit_sync()

    def test_transaction_conflict(self, kvstore: KvStore) -> None:
        kvstore.write("n", b"1").result()
        txn = Transaction()
        staged = kvstore.with_transaction(txn)
        value = int(staged["n"])
        kvstore.write("n", b"10").result()  # a concurrent writer
        staged.write("n", str(value + 1).encode()).result()
        with pytest.raises(ValueError, match="conflict"):
            txn.commit_sync()
        assert kvstore["n"] == b"10"


