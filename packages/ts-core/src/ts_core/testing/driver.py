"""Conformance suite every chunked TensorStore driver passes.

Subclass :class:`DriverConformance` and implement ``create`` (a new array on the given
kvstore spec) to get tests for create/open/delete modes, spec round-trips, reads and
writes through random index expressions checked against a NumPy model, fill values,
bounds and shape errors, concurrent writers and pickling::

    class TestMyFormat(DriverConformance):
        driver = "myformat"

        def create(self, kvstore, shape, chunks, dtype, fill_value, context):
            return ts.open({"driver": "myformat", "kvstore": kvstore}, create=True,
                           context=context, shape=shape, dtype=dtype, ...).result()

A format that cannot store the suite's default ``uint16`` names the element type it
tests with in ``dtype`` (the suite's values are then taken modulo that type's range),
and a lossy one (JPEG) sets ``tolerance``, the largest difference a read may show from
the values written; ``assert_read_equal`` compares within it.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

__all__ = ["DriverConformance"]


def _slices(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[slice, ...]]:
    """In-bounds slices with explicit start and stop (any step sign) for every dimension.

    Stops are explicit because tensorstore's slice semantics differ from NumPy's for
    omitted or negative bounds (no wrap-around; implicit bounds extend); with explicit
    in-range bounds, ``numpy.arange(start, stop, step)`` lists the selected indices.
    """

    def one(size: int) -> st.SearchStrategy[slice]:
        def build(values: tuple[int, int, int]) -> slice:
            low, high, step = min(values[0], values[1]), max(values[0], values[1]), values[2]
            return slice(low, high + 1, step) if step > 0 else slice(high, low - 1, step)

        return st.tuples(
            st.integers(0, size - 1), st.integers(0, size - 1), st.sampled_from([1, 1, 2, 3, -1, -2])
        ).map(build)

    return st.tuples(*(one(n) for n in shape))


def _model_index(selection: tuple[slice, ...]) -> Any:
    """The NumPy (outer) index equivalent to a tuple of explicit slices."""
    return np.ix_(*(np.arange(s.start, s.stop, s.step) for s in selection))


class DriverConformance:
    """Generic behaviour of a chunked driver; subclasses implement ``create``."""

    #: Registered driver id.
    driver: str = ""

    #: Element type of the arrays the suite creates, writes and reads: a format that
    #: cannot store uint16 names one it can ("uint8" for JPEG, "uint32" for labels).
    dtype: str = "uint16"

    #: Largest absolute difference a read may show from what was written; 0 (exact) for
    #: lossless formats, a small bound for a lossy one such as JPEG.
    tolerance: float = 0

    def assert_read_equal(self, actual: Any, expected: Any) -> None:
        """Assert that values read equal the model, within ``tolerance``."""
        if self.tolerance:
            np.testing.assert_allclose(
                np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                rtol=0, atol=self.tolerance,
            )
        else:
            np.testing.assert_array_equal(actual, expected)

    def _values(self, values: Any) -> Any:
        """``values`` in the suite's element type (wrapping modulo its range)."""
        return np.asarray(values).astype(self.dtype)

    def create(
        self,
        kvstore: Any,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        dtype: Any,
        fill_value: Any,
        context: Any,
    ) -> Any:
        """Create a new array (``create=True``) with these properties, opened in ``context``."""
        raise NotImplementedError

    @pytest.fixture
    def kvstore(self) -> dict[str, Any]:
        """A fresh kvstore spec per test (memory, shared through one Context)."""
        return {"driver": "memory", "path": "array/"}

    @pytest.fixture
    def context(self) -> Any:
        import ts_core as ts

        return ts.Context()

    def _create(self, kvstore: Any, context: Any, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any = None, fill_value: Any = None) -> Any:
        self._context = context
        return self.create(kvstore, shape, chunks, dtype or self.dtype, fill_value, context)

    # -- create/open ----------------------------------------------------------------------
    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4), fill_value=5)
        np.testing.assert_array_equal(store.read().result(), np.full((7, 9), 5, self.dtype))
        assert store.shape == (7, 9)
        assert store.dtype.name == self.dtype

    def test_write_then_read_whole_array(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4))
        data = self._values(np.arange(63).reshape(7, 9))
        store.write(data).result()
        self.assert_read_equal(store.read().result(), data)

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        import ts_core as ts

        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = self._values(np.arange(30).reshape(6, 5))
        store.write(data).result()
        reopened = ts.open(store.spec(), open=True, context=self._context).result()
        self.assert_read_equal(reopened.read().result(), data)
        minimal = ts.open({"driver": self.driver, "kvstore": kvstore}, open=True, context=self._context).result()
        self.assert_read_equal(minimal.read().result(), data)

    def test_open_missing_array_fails(self, kvstore: Any, context: Any) -> None:
        import ts_core as ts

        with pytest.raises(ValueError, match="cannot open"):
            ts.open({"driver": self.driver, "kvstore": kvstore}, open=True, context=context).result()

    def test_create_existing_array_fails(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4,), (2,))
        with pytest.raises(ValueError, match="already exists"):
            self.create(kvstore, (4,), (2,), self.dtype, None, context)
        assert store.shape == (4,)

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        import ts_core as ts

        store = self._create(kvstore, context, (4,), (2,))
        store.write(self._values(np.arange(4))).result()
        spec = store.spec().to_json()
        spec.pop("transform", None)
        fresh = ts.open(spec, create=True, delete_existing=True, context=self._context).result()
        np.testing.assert_array_equal(fresh.read().result(), np.zeros(4, self.dtype))

    # -- reads and writes through index expressions ---------------------------------------------
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def test_random_slices_match_numpy(self, kvstore: Any, context: Any, data: st.DataObject) -> None:
        import ts_core as ts

        shape = (11, 7)
        # A fresh context per example: hypothesis runs many examples in one test call.
        store = self._create(kvstore, ts.Context(), shape, (4, 3))
        model = np.zeros(shape, self.dtype)
        for _ in range(3):
            selection = data.draw(_slices(shape))
            values = data.draw(st.integers(1, 1000))
            target = model[_model_index(selection)]
            source = self._values((np.arange(target.size).reshape(target.shape) + values).astype(np.uint16))
            model[_model_index(selection)] = source
            store[selection].write(source).result()
            read_selection = data.draw(_slices(shape))
            self.assert_read_equal(store[read_selection].read().result(), model[_model_index(read_selection)])
        self.assert_read_equal(store.read().result(), model)

    def test_integer_and_array_indexing(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (6, 8), (4, 3))
        data = self._values(np.arange(48).reshape(6, 8))
        store.write(data).result()
        self.assert_read_equal(store[2, 3].read().result(), data[2, 3])
        self.assert_read_equal(store[[0, 5, 2], 1:4].read().result(), data[[0, 5, 2], 1:4])
        self.assert_read_equal(store.oindex[[1, 4], [0, 7]].read().result(), data[np.ix_([1, 4], [0, 7])])
        written = self._values(np.array([900, 901], np.uint16))
        store[[0, 5], [7, 0]].write(written).result()
        data[[0, 5], [7, 0]] = written
        self.assert_read_equal(store.read().result(), data)

    def test_scalar_broadcast_write(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (5, 5), (2, 2))
        store[1:4, 1:4].write(9).result()
        expected = np.zeros((5, 5), self.dtype)
        expected[1:4, 1:4] = 9
        self.assert_read_equal(store.read().result(), expected)

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2), fill_value=3)
        store[0:2, 0:2].write(np.full((2, 2), 3, self.dtype)).result()
        store[2:4, 2:4].write(np.ones((2, 2), self.dtype)).result()
        chunk_keys = [k for k in store.kvstore.list().result() if not k.startswith(b".") and b"json" not in k and b"attributes" not in k]
        assert len(chunk_keys) == 1

    def test_storage_statistics(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (6,), (2,))
        store[0:2].write(np.array([1, 2], self.dtype)).result()
        whole = store.storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        assert (whole.not_stored, whole.fully_stored) == (False, False)
        first = store[0:2].storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        assert (first.not_stored, first.fully_stored) == (False, True)
        rest = store[2:].storage_statistics(query_not_stored=True).result()
        assert (rest.not_stored, rest.fully_stored) == (True, None)

    # -- errors -----------------------------------------------------------------------------------
    def test_out_of_bounds(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        with pytest.raises(IndexError):
            store[5].read().result()
        with pytest.raises(IndexError):
            store[0:10].read().result()

    def test_wrong_shape_write(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        with pytest.raises(ValueError, match="broadcast"):
            store[0:2, 0:2].write(np.zeros((3, 3), self.dtype))

    # -- concurrency and pickling ------------------------------------------------------------------
    def test_concurrent_writers_to_one_chunk(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (1, 64), (1, 64))

        def write_element(i: int) -> None:
            store[0, i].write(i + 1).result()

        threads = [threading.Thread(target=write_element, args=(i,)) for i in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assert_read_equal(store.read().result()[0], np.arange(1, 65, dtype=self.dtype))

    def test_pickle_reopens(self, kvstore: Any, context: Any, tmp_path: Any) -> None:
        file_kvstore = {"driver": "file", "path": f"{tmp_path}/pickled/"}
        store = self._create(file_kvstore, context, (3, 3), (2, 2))
        store.write(np.eye(3, dtype=self.dtype)).result()
        clone = pickle.loads(pickle.dumps(store[1:]))
        self.assert_read_equal(clone.read().result(), np.eye(3, dtype=self.dtype)[1:])
