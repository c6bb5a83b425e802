"""The ``json`` driver, differentially against the tensorstore wheel: the same documents
read and written by both, the same stored bytes, the same error types."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.plugin import get_registry
from ts_core.testing.driver import DriverConformance

DOCUMENT = {"a": {"b": 42, "c": [1, 2, {"d": 3}]}, "x/y": "slash", "t~": [True, None], "": 0.5}


def put(tmp_path: Path, name: str, content: bytes | str) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return {"driver": "file", "path": str(path)}


def both(spec: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    return ts.open(spec, **options).result(), tensorstore.open(spec, **options).result()


def error_of(call: Any) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - compared between the libraries
        call()
    return info.value


def test_registered_as_a_built_in_driver() -> None:
    record = get_registry().get("driver", "json")
    assert record.target == "ts_core.driver.json._driver:JsonDriver"
    assert record.schema["$id"] == "urn:ts:driver:json"


def test_a_rank_0_json_store(tmp_path: Path) -> None:
    ours, wheel = both({"driver": "json", "kvstore": put(tmp_path, "d.json", json.dumps(DOCUMENT))})
    assert (ours.rank, ours.shape, ours.dtype.name) == (wheel.rank, wheel.shape, wheel.dtype.name) == (0, (), "json")
    assert repr(ours.domain) == repr(wheel.domain)
    assert ours.schema.to_json() == wheel.schema.to_json()
    assert ours.spec().to_json() == wheel.spec().to_json()
    assert (ours.readable, ours.writable) == (wheel.readable, wheel.writable) == (True, True)
    value = ours.read().result()
    assert value.dtype == wheel.read().result().dtype == np.dtype(object)
    assert value.shape == ()
    assert value.item() == DOCUMENT == wheel.read().result().item()


@pytest.mark.parametrize("pointer", ["", "/a", "/a/b", "/a/c", "/a/c/2/d", "/x~1y", "/t~0/0", "/t~0/1", "/"])
def test_pointers_read_what_the_wheel_reads(tmp_path: Path, pointer: str) -> None:
    kvstore = put(tmp_path, "d.json", json.dumps(DOCUMENT))
    ours, wheel = both({"driver": "json", "kvstore": kvstore, "json_pointer": pointer})
    assert ours.read().result().item() == wheel.read().result().item()
    assert ours.spec().to_json() == wheel.spec().to_json()


@pytest.mark.parametrize(
    ("pointer", "phrase"),
    [
        ("/zz", 'JSON Pointer "/zz" refers to non-existent object member'),
        ("/a/b/c", "/a/b/c"),
        ("/a/c/5", "is out-of-range for array of size 3"),
        ("/a/c/-", "refers to non-existent array element"),
        ("/a/c/01", "is invalid for array value"),
        ("/a/c/x", "is invalid for array value"),
    ],
)
def test_pointers_that_miss_are_value_errors_as_in_the_wheel(tmp_path: Path, pointer: str, phrase: str) -> None:
    spec = {"driver": "json", "kvstore": put(tmp_path, "d.json", json.dumps(DOCUMENT)), "json_pointer": pointer}
    ours, wheel = both(spec)  # opening reads nothing: both open
    mine = error_of(lambda: ours.read().result())
    theirs = error_of(lambda: wheel.read().result())
    assert type(mine) is ValueError
    assert isinstance(theirs, ValueError)
    assert phrase.replace('"', "'") in str(mine)
    assert "d.json" in str(mine)
    assert phrase in str(theirs)


@pytest.mark.parametrize(
    ("pointer", "phrase"),
    [("a", "JSON Pointer does not start with '/'"), ("/a/~2", "JSON Pointer requires '~' to be followed by '0' or '1'")],
)
def test_invalid_pointers_are_spec_errors(tmp_path: Path, pointer: str, phrase: str) -> None:
    spec = {"driver": "json", "kvstore": put(tmp_path, "d.json", "{}"), "json_pointer": pointer}
    with pytest.raises(ts.errors.SpecError, match=f"json_pointer: {phrase}"):
        ts.open(spec).result()
    assert phrase in str(error_of(lambda: tensorstore.open(spec).result()))
    with pytest.raises(ValueError, match="json_pointer: expected string"):
        ts.open({**spec, "json_pointer": 5}).result()


def test_missing_and_invalid_documents(tmp_path: Path) -> None:
    missing = {"driver": "json", "kvstore": {"driver": "file", "path": str(tmp_path / "none.json")}}
    ours, wheel = both(missing)
    assert isinstance(error_of(lambda: wheel.read().result()), ValueError)
    with pytest.raises(ValueError, match=r"none.json': not found"):
        ours.read().result()
    for content in [b"{not json", b"NaN", b'{"a": Infinity}', b"\xff\xfe", b"[" * 100_000]:
        invalid = {"driver": "json", "kvstore": put(tmp_path, "bad.json", content), "json_pointer": "/a"}
        ours, wheel = both(invalid)
        assert isinstance(error_of(lambda wheel=wheel: wheel.read().result()), ValueError)
        with pytest.raises(ValueError, match=r"bad.json': Invalid JSON"):
            ours.read().result()
        with pytest.raises(ValueError, match=r"bad.json': Invalid JSON"):
            ours.write(1).result()  # a pointer write must read the document first


WRITES = [
    ("", 7), ("", [1, 2]), ("", {"q": 1, "a": [None, True]}), ("", float("nan")), ("", "str"),
    ("/a/b", {"x": [1, None]}), ("/a/c/-", 9), ("/a/c/0", "zero"), ("/new/deep/member", 1), ("/x~1y", np.int64(3)),
    ("", np.array({"k": 1}, dtype=object)), ("", np.zeros(3)), ("", {"k": np.float32(1.5), 1: 2}), ("", "é"),
]


@pytest.mark.parametrize(("pointer", "value"), WRITES)
def test_writes_store_what_the_wheel_stores(tmp_path: Path, pointer: str, value: Any) -> None:
    stored = []
    for index, library in enumerate((ts, tensorstore)):
        kvstore = put(tmp_path, f"{index}.json", json.dumps(DOCUMENT))
        library.open({"driver": "json", "kvstore": kvstore, "json_pointer": pointer}).result().write(value).result()
        stored.append(Path(kvstore["path"]).read_bytes())
    assert stored[0] == stored[1]


@pytest.mark.parametrize(
    ("document", "pointer", "phrase"),
    [
        ('{"a": 1}', "/a/b", "cannot be applied to number value: 1"),
        ('{"a": 1}', "/a/0", "cannot be applied to number value: 1"),
        ("[1, 2]", "/x", "is invalid for array value"),
        ("[1, 2]", "/2", "is out-of-range for array of size 2"),
    ],
)
def test_writes_that_do_not_fit_the_document(tmp_path: Path, document: str, pointer: str, phrase: str) -> None:
    spec = {"driver": "json", "kvstore": put(tmp_path, "d.json", document), "json_pointer": pointer}
    ours, wheel = both(spec)
    mine = error_of(lambda: ours.write(5).result())
    theirs = error_of(lambda: wheel.write(5).result())
    assert type(mine) is ValueError
    assert isinstance(theirs, ValueError)
    assert phrase in str(theirs)
    assert phrase in str(mine)
    assert "writing" in str(mine)
    assert (tmp_path / "d.json").read_text() == document  # nothing written


def test_a_pointer_write_creates_the_document(tmp_path: Path) -> None:
    spec = {"driver": "json", "kvstore": {"driver": "file", "path": str(tmp_path / "new.json")}, "json_pointer": "/x/y"}
    ts.open(spec).result().write(1).result()
    assert (tmp_path / "new.json").read_bytes() == b'{"x":{"y":1}}'
    # A whole-document write replaces even invalid content, without reading it (as in the wheel).
    (tmp_path / "new.json").write_bytes(b"{garbage")
    ts.open({**spec, "json_pointer": ""}).result().write({"ok": True}).result()
    assert (tmp_path / "new.json").read_bytes() == b'{"ok":true}'


def test_unconvertible_values_are_type_errors(tmp_path: Path) -> None:
    ours, wheel = both({"driver": "json", "kvstore": put(tmp_path, "d.json", "{}")})
    assert isinstance(error_of(lambda: wheel.write({1, 2}).result()), TypeError)
    with pytest.raises(TypeError):
        ours.write({1, 2}).result()


def test_inspecting_zarr_metadata_the_documented_way(tmp_path: Path) -> None:
    """tensorstore's docs show reading a .zarray with the json driver."""
    tensorstore.open({"driver": "zarr", "kvstore": f"file://{tmp_path}/arr", "metadata": {"chunks": [2, 3]}},
                     create=True, dtype=tensorstore.uint8, shape=[4, 6]).result()
    url = f"file://{tmp_path}/arr/.zarray"
    ours = ts.open({"driver": "json", "kvstore": url}).result().read().result().item()
    assert ours == tensorstore.open({"driver": "json", "kvstore": url}).result().read().result().item()
    assert ours["shape"] == [4, 6]
    assert ours["chunks"] == [2, 3]
    chunks = ts.open({"driver": "json", "kvstore": url, "json_pointer": "/chunks"}).result()
    assert chunks.read().result().item() == [2, 3]
    # The "path" member is joined to the kvstore's path, as in the wheel.
    spec = {"driver": "json", "kvstore": f"file://{tmp_path}/arr/", "path": ".zarray"}
    ours_spec, wheel_spec = both(spec)
    assert ours_spec.spec().to_json() == wheel_spec.spec().to_json()


def test_schema_constraints_json_cannot_meet(tmp_path: Path) -> None:
    spec = {"driver": "json", "kvstore": put(tmp_path, "d.json", "{}")}
    for name, value in [("rank", 1), ("dtype", "uint8"), ("fill_value", 1), ("shape", [2])]:
        with pytest.raises(ValueError, match=name if name != "shape" else "domain"):
            ts.open(spec, **{name: value}).result()
        assert isinstance(error_of(lambda name=name, value=value: tensorstore.open(spec, **{name: value}).result()), ValueError)
    assert ts.open(spec, shape=[], rank=0, dtype=ts.json).result().shape == ()


# -- caching, staleness, transactions ---------------------------------------------------------------
@pytest.mark.parametrize("extra", [{}, {"recheck_cached_data": True}, {"recheck_cached_data": False},
                                   {"cache_pool": {"total_bytes_limit": 1 << 20}}])
def test_staleness_matches_the_wheel(tmp_path: Path, extra: dict[str, Any]) -> None:
    seen = []
    for library in (ts, tensorstore):
        kvstore = put(tmp_path, "d.json", '{"a": 1}')
        store = library.open({"driver": "json", "kvstore": kvstore, **extra}, context=library.Context()).result()
        first = store.read().result().item()
        Path(kvstore["path"]).write_text('{"a": 2}')
        seen.append((first, store.read().result().item()))
    assert seen[0] == seen[1]


@pytest.mark.parametrize("repeatable_read", [False, True])
def test_transactions_match_the_wheel(tmp_path: Path, repeatable_read: bool) -> None:
    """Pointer writes staged in a transaction are seen inside it, not outside, and applied
    at commit to what is stored then; with repeatable_read=True a transaction that read the
    document fails to commit when another writer changed it (in both libraries)."""
    results = []
    for library in (ts, tensorstore):
        kvstore = put(tmp_path, "t.json", '{"a": 1, "b": 2}')
        context = library.Context()
        a = library.open({"driver": "json", "kvstore": kvstore, "json_pointer": "/a"}, context=context).result()
        b = library.open({"driver": "json", "kvstore": kvstore, "json_pointer": "/b"}, context=context).result()
        whole = library.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        transaction = library.Transaction(repeatable_read=repeatable_read)
        a.with_transaction(transaction).write(10).result()
        b.with_transaction(transaction).write(20).result()
        inside = whole.with_transaction(transaction).read().result().item()
        outside = whole.read().result().item()
        Path(kvstore["path"]).write_text('{"a": 1, "b": 2, "c": 3}')  # another writer
        committed = error_of(transaction.commit_sync) if repeatable_read else transaction.commit_sync()
        results.append((inside, outside, json.loads(Path(kvstore["path"]).read_text()), type(committed)))
    assert results[0][:3] == results[1][:3]
    assert results[0][0] == {"a": 10, "b": 20}
    assert results[0][1] == {"a": 1, "b": 2}
    if repeatable_read:
        assert results[0][2] == {"a": 1, "b": 2, "c": 3}
        assert results[0][3] is ts.errors.TransactionConflictError
        assert issubclass(results[1][3], ValueError)
    else:
        assert results[0][2] == {"a": 10, "b": 20, "c": 3}


def test_by_default_a_transaction_that_read_the_document_is_validated(tmp_path: Path) -> None:
    """ts validates what a transaction read by default (the handbook's promise); tensorstore
    only with repeatable_read=True, and otherwise commits over the other writer's change."""
    kvstore = put(tmp_path, "t.json", '{"a": 1}')
    a = ts.open({"driver": "json", "kvstore": kvstore, "json_pointer": "/a"}).result()
    transaction = ts.Transaction()
    view = a.with_transaction(transaction)
    view.write(view.read().result().item() + 1).result()
    Path(kvstore["path"]).write_text('{"a": 100}')
    with pytest.raises(ts.errors.TransactionConflictError):
        transaction.commit_sync()
    assert json.loads(Path(kvstore["path"]).read_text()) == {"a": 100}


def test_an_aborted_transaction_writes_nothing(tmp_path: Path) -> None:
    kvstore = put(tmp_path, "t.json", '{"a": 1}')
    store = ts.open({"driver": "json", "kvstore": kvstore, "json_pointer": "/a"}).result()
    transaction = ts.Transaction()
    store.with_transaction(transaction).write(5).result()
    transaction.abort()
    assert Path(kvstore["path"]).read_text() == '{"a": 1}'


# -- the driver conformance suite, where it applies ----------------------------------------------------
class TestJsonConformance(DriverConformance):
    """The chunked-driver suite, against the json driver. Its arrays have a shape, chunks and
    a numeric dtype; a json store is one rank-0 JSON value, so most checks have no direct
    meaning. Each is overridden below with the json driver's counterpart and why."""

    driver = "json"

    @pytest.fixture
    def kvstore(self) -> dict[str, Any]:
        """A document is one value: the path names its key."""
        return {"driver": "memory", "path": "doc.json"}

    def create(self, kvstore: Any, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any,
               fill_value: Any, context: Any) -> Any:
        """A document holding ``{}``; shape, chunks, dtype and fill value have no json meaning."""
        store = ts.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        store.write({}).result()
        return store

    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        """No fill value (refused); a missing document is an error on read, not a default."""
        store = ts.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        with pytest.raises(ValueError, match="not found"):
            store.read().result()
        with pytest.raises(ValueError, match="fill_value not supported"):
            ts.open({"driver": "json", "kvstore": kvstore}, fill_value=1, context=context).result()

    def test_write_then_read_whole_array(self, kvstore: Any, context: Any) -> None:
        store = self.create(kvstore, (), (), None, None, context)
        store.write({"rows": [[1, 2], [3, 4]]}).result()
        assert store.read().result().item() == {"rows": [[1, 2], [3, 4]]}

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        store = self.create(kvstore, (), (), None, None, context)
        store.write([1, "two"]).result()
        for spec in (store.spec(), {"driver": "json", "kvstore": kvstore}):
            assert ts.open(spec, context=context).result().read().result().item() == [1, "two"]

    def test_open_missing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Opening reads nothing (as in tensorstore: a document is created by its first
        write), so a missing document fails when read."""
        store = ts.open({"driver": "json", "kvstore": kvstore}, open=True, context=context).result()
        with pytest.raises(ValueError, match=r"doc.json': not found"):
            store.read().result()

    def test_create_existing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Does not apply: the open mode has no effect (opening has no side effects)."""
        self.create(kvstore, (), (), None, None, context)
        again = ts.open({"driver": "json", "kvstore": kvstore}, create=True, context=context).result()
        assert again.read().result().item() == {}

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        """Does not apply: delete_existing is ignored, as in the wheel."""
        self.create(kvstore, (), (), None, None, context).write([1]).result()
        again = ts.open({"driver": "json", "kvstore": kvstore}, create=True, delete_existing=True,
                        context=context).result()
        assert again.read().result().item() == [1]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def test_random_slices_match_numpy(self, kvstore: Any, context: Any, data: st.DataObject) -> None:
        """Rank 0 has no slices; the counterpart: random pointer writes and reads checked
        against a dict model."""
        context = ts.Context()
        self.create(kvstore, (), (), None, None, context)
        model: dict[str, Any] = {}
        names = st.sampled_from(["a", "b", "c/d", "e~f"])
        for _ in range(4):
            path = data.draw(st.lists(names, min_size=1, max_size=3))
            value = data.draw(st.integers(-5, 5) | st.text(max_size=3) | st.none())
            pointer = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)
            node = model
            for part in path[:-1]:
                if not isinstance(node.get(part), dict):
                    break
                node = node[part]
            else:
                node[path[-1]] = value
                ts.open({"driver": "json", "kvstore": kvstore, "json_pointer": pointer},
                        context=context).result().write(value).result()
        whole = ts.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        assert whole.read().result().item() == model

    def test_integer_and_array_indexing(self, kvstore: Any, context: Any) -> None:
        """Rank 0 takes no index; new axes view the one value (as in the wheel)."""
        store = self.create(kvstore, (), (), None, None, context)
        store.write([1, 2]).result()
        with pytest.raises(IndexError):
            store[0]
        wide = store[ts.newaxis, ts.newaxis]
        assert wide.shape == (1, 1)
        assert wide.read().result()[0, 0] == [1, 2]

    def test_scalar_broadcast_write(self, kvstore: Any, context: Any) -> None:
        store = self.create(kvstore, (), (), None, None, context)
        store[ts.newaxis][0:1].write(9).result()
        assert store.read().result().item() == 9

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        """Does not apply: no fill value; every written value is stored."""
        store = self.create(kvstore, (), (), None, None, context)
        assert store.kvstore.read("").result().value == b"{}"

    def test_storage_statistics(self, kvstore: Any, context: Any) -> None:
        """The wheel does not support storage statistics for json; ts answers for the one value."""
        store = ts.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        assert store.storage_statistics(query_not_stored=True).result().not_stored is True
        store.write(1).result()
        stats = store.storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        assert (stats.not_stored, stats.fully_stored) == (False, True)

    def test_out_of_bounds(self, kvstore: Any, context: Any) -> None:
        store = self.create(kvstore, (), (), None, None, context)
        with pytest.raises(IndexError):
            store[5].read().result()

    def test_wrong_shape_write(self, kvstore: Any, context: Any) -> None:
        """A sequence written to a rank-0 json store is one JSON array, not a shape error
        (as in the wheel); a view with a new axis takes one value per position."""
        store = self.create(kvstore, (), (), None, None, context)
        store.write(np.zeros((3, 3))).result()
        assert store.read().result().item() == [[0.0] * 3] * 3
        with pytest.raises(ValueError, match="broadcast"):
            store[ts.newaxis][0:1].write([1, 2])

    def test_concurrent_writers_to_one_chunk(self, kvstore: Any, context: Any) -> None:
        """Writers to different pointers of one document lose nothing."""
        self.create(kvstore, (), (), None, None, context)

        def write_member(i: int) -> None:
            ts.open({"driver": "json", "kvstore": kvstore, "json_pointer": f"/m{i}"},
                    context=context).result().write(i).result()

        threads = [threading.Thread(target=write_member, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        whole = ts.open({"driver": "json", "kvstore": kvstore}, context=context).result()
        assert whole.read().result().item() == {f"m{i}": i for i in range(32)}

    def test_pickle_reopens(self, kvstore: Any, context: Any, tmp_path: Any) -> None:
        store = self.create({"driver": "file", "path": f"{tmp_path}/p.json"}, (), (), None, None, context)
        store.write({"k": [1]}).result()
        pointer = ts.open({"driver": "json", "kvstore": f"file://{tmp_path}/p.json", "json_pointer": "/k"}).result()
        for original in (store, pointer[ts.newaxis]):
            clone = pickle.loads(pickle.dumps(original))
            np.testing.assert_array_equal(clone.read().result(), original.read().result())


def test_json_urls_carry_the_pointer(tmp_path: Path) -> None:
    kvstore = put(tmp_path, "d.json", json.dumps(DOCUMENT))
    for pointer in ["", "/a/b", "/x~1y", "/a/c/2/d"]:
        url = f"file://{kvstore['path']}|json:{pointer}"
        ours, wheel = ts.Spec(url).to_json(), tensorstore.Spec(url).to_json()
        members = ("driver", "kvstore", "json_pointer")
        assert {k: ours.get(k) for k in members} == {k: wheel.get(k) for k in members}
        assert ts.open(url).result().read().result().item() == tensorstore.open(url).result().read().result().item()
    spaced = {"driver": "json", "kvstore": "memory://d.json", "json_pointer": "/a b"}
    from ts_core.kvstore import tensorstore_url

    assert tensorstore_url(ts.Spec(spaced).to_json()) == tensorstore.Spec(spaced).url == "memory://d.json|json:/a%20b"
    assert ts.Spec("memory://d.json|json:/a%20b").to_json()["json_pointer"] == "/a b"


def test_an_unopened_spec_knows_dtype_and_rank() -> None:
    spec = {"driver": "json", "kvstore": "memory://a.json", "json_pointer": "/a"}
    assert ts.Spec(spec).to_json() == tensorstore.Spec(spec).to_json()
    assert (ts.Spec(spec).rank, ts.Spec(spec).dtype.name) == (0, "json")


def test_a_forked_child_keeps_using_a_store_opened_before(tmp_path: Path) -> None:
    import multiprocessing

    kvstore = put(tmp_path, "f.json", '{"a": 1}')
    store = ts.open({"driver": "json", "kvstore": kvstore, "json_pointer": "/a"}).result()
    assert store.read().result().item() == 1
    child = multiprocessing.get_context("fork").Process(target=lambda: store.write(2).result())
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert json.loads(Path(kvstore["path"]).read_text()) == {"a": 2}
