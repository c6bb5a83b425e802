"""Conformance suite every kvstore driver passes.

Subclass :class:`KvStoreConformance` in your plugin's tests and provide a ``kvstore``
fixture yielding an open, empty ``ts.KvStore``::

    class TestMyStore(KvStoreConformance):
        @pytest.fixture
        def kvstore(self, tmp_path):
            return ts.KvStore.open({"driver": "mystore", ...}).result()

Set the class attributes below to declare what the driver cannot do. A store that takes
only keys of one form (the ``neuroglancer_uint64_sharded`` kvstore's 8-byte chunk ids)
overrides ``key``, which turns the suite's key names into keys of the store.
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
    #: False for stores whose keys cannot take a path prefix (keys of a fixed length): the
    #: path-prefix test does not apply to them.
    supports_path_prefix = True

    def key(self, name: str) -> bytes:
        """The store's key for the suite's key ``name``: a one-to-one map that keeps the
        names' order (the suite compares listings and key ranges)."""
        return name.encode()

    # -- reads and writes ---------------------------------------------------------------
    def test_read_missing(self, kvstore: KvStore) -> None:
        result = kvstore.read(self.key("missing")).result()
        assert result.state == "missing"
        assert result.value == b""
        assert result.stamp.generation == NO_VALUE

    def test_write_then_read(self, kvstore: KvStore) -> None:
        stamp = kvstore.write(self.key("a"), b"value").result()
        assert stamp.generation not in (UNKNOWN, NO_VALUE)
        result = kvstore.read(self.key("a")).result()
        assert result.state == "value"
        assert result.value == b"value"
        assert result.stamp.generation == stamp.generation

    def test_str_and_bytes_keys_are_the_same(self, kvstore: KvStore) -> None:
        key = self.key("k")
        kvstore.write(key, "text").result()
        assert kvstore.read(key.decode()).result().value == b"text"

    def test_overwrite_changes_generation(self, kvstore: KvStore) -> None:
        key = self.key("a")
        first = kvstore.write(key, b"1").result()
        second = kvstore.write(key, b"1" if self.generation_changes_on_identical_rewrite else b"2").result()
        assert first.generation != second.generation
        assert kvstore.read(key).result().stamp.generation == second.generation

    def test_empty_and_binary_values(self, kvstore: KvStore) -> None:
        every_byte = bytes(range(256)) * 4
        kvstore.write(self.key("empty"), b"").result()
        kvstore.write(self.key("binary"), every_byte).result()
        empty = kvstore.read(self.key("empty")).result()
        assert (empty.state, empty.value) == ("value", b"")
        assert kvstore.read(self.key("binary")).result().value == every_byte

    def test_large_value(self, kvstore: KvStore) -> None:
        value = bytes(range(251)) * (4 << 10)  # ~1 MiB, not a multiple of page sizes
        kvstore.write(self.key("large"), value).result()
        assert kvstore.read(self.key("large")).result().value == value

    def test_nested_keys(self, kvstore: KvStore) -> None:
        kvstore.write(self.key("dir/sub/leaf"), b"x").result()
        kvstore.write(self.key("dir/other"), b"y").result()
        assert kvstore.read(self.key("dir/sub/leaf")).result().value == b"x"
        assert kvstore.list().result() == [self.key("dir/other"), self.key("dir/sub/leaf")]

    def test_mapping_interface(self, kvstore: KvStore) -> None:
        key = self.key("m")
        kvstore[key] = b"1"
        assert kvstore[key] == b"1"
        del kvstore[key]
        with pytest.raises(KeyError):
            kvstore[key]

    def test_wrong_key_and_value_types(self, kvstore: KvStore) -> None:
        with pytest.raises(TypeError, match="key"):
            kvstore.read(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="value"):
            kvstore.write(self.key("a"), 3)  # type: ignore[arg-type]

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
        kvstore.write(self.key("r"), b"0123456789").result()
        assert kvstore.read(self.key("r"), byte_range=byte_range).result().value == expected

    @pytest.mark.parametrize("byte_range", [slice(5, 11), slice(-11, None), slice(6, 5)])
    def test_byte_range_out_of_bounds(self, kvstore: KvStore, byte_range: slice) -> None:
        kvstore.write(self.key("r"), b"0123456789").result()
        with pytest.raises(ValueError, match="byte range"):
            kvstore.read(self.key("r"), byte_range=byte_range).result()

    def test_byte_range_of_missing_key(self, kvstore: KvStore) -> None:
        assert kvstore.read(self.key("none"), byte_range=slice(0, 5)).result().state == "missing"

    # -- conditions --------------------------------------------------------------------
    def test_if_not_equal(self, kvstore: KvStore) -> None:
        key = self.key("c")
        stamp = kvstore.write(key, b"1").result()
        unchanged = kvstore.read(key, if_not_equal=stamp.generation).result()
        assert unchanged.state == "unspecified"
        assert unchanged.stamp.generation == stamp.generation
        kvstore.write(key, b"2").result()
        changed = kvstore.read(key, if_not_equal=stamp.generation).result()
        assert (changed.state, changed.value) == ("value", b"2")
        missing = kvstore.read(self.key("none"), if_not_equal=NO_VALUE).result()
        assert missing.state == "unspecified"

    def test_conditional_write(self, kvstore: KvStore) -> None:
        key = self.key("c")
        first = kvstore.write(key, b"1").result()
        second = kvstore.write(key, b"2", if_equal=first.generation).result()
        assert second.generation not in (UNKNOWN, first.generation)
        stale = kvstore.write(key, b"3", if_equal=first.generation).result()
        assert stale.generation == UNKNOWN
        assert kvstore[key] == b"2"

    def test_create_only_if_absent(self, kvstore: KvStore) -> None:
        key = self.key("new")
        created = kvstore.write(key, b"1", if_equal=NO_VALUE).result()
        assert created.generation != UNKNOWN
        again = kvstore.write(key, b"2", if_equal=NO_VALUE).result()
        assert again.generation == UNKNOWN
        assert kvstore[key] == b"1"

    def test_conditional_delete(self, kvstore: KvStore) -> None:
        key = self.key("d")
        stamp = kvstore.write(key, b"1").result()
        kvstore.write(key, b"2").result()
        assert kvstore.delete(key, if_equal=stamp.generation).result().generation == UNKNOWN
        assert kvstore[key] == b"2"
        current = kvstore.read(key).result().stamp.generation
        assert kvstore.delete(key, if_equal=current).result().generation == NO_VALUE
        assert kvstore.read(key).result().state == "missing"

    def test_delete_missing_key(self, kvstore: KvStore) -> None:
        assert kvstore.delete(self.key("never")).result().generation == NO_VALUE
        missing_condition = kvstore.delete(self.key("never"), if_equal=NO_VALUE).result()
        assert missing_condition.generation == NO_VALUE

    def test_write_none_deletes(self, kvstore: KvStore) -> None:
        kvstore.write(self.key("w"), b"1").result()
        kvstore.write(self.key("w"), None).result()
        assert kvstore.read(self.key("w")).result().state == "missing"

    # -- listing and ranges ---------------------------------------------------------------
    def _fill(self, kvstore: KvStore, keys: list[str]) -> None:
        for key in keys:
            kvstore.write(self.key(key), key.encode()).result()

    def test_list_sorted(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["b", "a/2", "a/1", "c"])
        assert kvstore.list().result() == [self.key(k) for k in ["a/1", "a/2", "b", "c"]]

    def test_list_range_and_strip(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["a/1", "a/2", "b/1", "b/2", "c/1"])
        key = self.key
        assert kvstore.list(KeyRange(key("a/2"), key("b/2"))).result() == [key("a/2"), key("b/1")]
        stripped = kvstore.list(KeyRange(key("b/"), key("b0")), strip_prefix_length=2).result()
        assert stripped == [key("b/1")[2:], key("b/2")[2:]]
        assert kvstore.list(KeyRange(key("x"), key("y"))).result() == []
        assert kvstore.list(KeyRange(key("c"), key("a"))).result() == []

    def test_delete_range(self, kvstore: KvStore) -> None:
        self._fill(kvstore, ["a/1", "a/2", "b/1", "b/2", "c"])
        kvstore.delete_range(KeyRange(self.key("a/2"), self.key("b/2"))).result()
        assert kvstore.list().result() == [self.key(k) for k in ["a/1", "b/2", "c"]]
        kvstore.delete_range(KeyRange()).result()
        assert kvstore.list().result() == []

    def test_path_prefix(self, kvstore: KvStore) -> None:
        if not self.supports_path_prefix:
            pytest.skip("the store's keys take no path prefix (supports_path_prefix = False)")
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
        counter = self.key("counter")
        kvstore.write(counter, b"0").result()

        def increment(count: int) -> None:
            for _ in range(count):
                while True:
                    current = kvstore.read(counter).result()
                    value = str(int(current.value) + 1).encode()
                    stamp = kvstore.write(counter, value, if_equal=current.stamp.generation).result()
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
        assert int(kvstore[counter]) == self.concurrent_writers * self.increments_per_writer

    def test_many_writes_in_flight(self, kvstore: KvStore) -> None:
        futures = [kvstore.write(self.key(f"k{i:03d}"), str(i).encode()) for i in range(100)]
        for future in futures:
            future.result(timeout=60)
        reads = [kvstore.read(self.key(f"k{i:03d}")) for i in range(100)]
        assert [int(f.result().value) for f in reads] == list(range(100))

    # -- transactions ------------------------------------------------------------------------
    def test_transaction_isolation_and_commit(self, kvstore: KvStore) -> None:
        key, key2 = self.key("t"), self.key("t2")
        kvstore.write(key, b"old").result()
        txn = Transaction()
        staged = kvstore.with_transaction(txn)
        staged.write(key, b"new").result()
        staged.write(key2, b"added").result()
        assert staged[key] == b"new"  # read-your-writes
        assert kvstore[key] == b"old"  # others see nothing yet
        assert sorted(staged.list().result()) == [key, key2]
        txn.commit_sync()
        assert kvstore[key] == b"new"
        assert kvstore[key2] == b"added"

    def test_transaction_abort(self, kvstore: KvStore) -> None:
        txn = Transaction()
        kvstore.with_transaction(txn).write(self.key("t"), b"x").result()
        txn.abort()
        assert kvstore.read(self.key("t")).result().state == "missing"
        with pytest.raises(ValueError, match="aborted"):
            txn.commit_sync()

    def test_transaction_conflict(self, kvstore: KvStore) -> None:
        key = self.key("n")
        kvstore.write(key, b"1").result()
        txn = Transaction()
        staged = kvstore.with_transaction(txn)
        value = int(staged[key])
        kvstore.write(key, b"10").result()  # a concurrent writer
        staged.write(key, str(value + 1).encode()).result()
        with pytest.raises(ValueError, match="conflict"):
            txn.commit_sync()
        assert kvstore[key] == b"10"


