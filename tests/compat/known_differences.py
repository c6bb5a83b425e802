"""Known differences between ts_core and the tensorstore wheel, with a reason each.

Every entry is a strict xfail: when ts_core is fixed the test passes, strict mode turns
that into a failure, and the entry must be removed. Regenerate ``DOC_EXAMPLES`` from the
current code with::

    .venv/bin/python tests/compat/doc_examples_report.py --write-known

(it rewrites only the generated block below, keeping everything else in this file).
"""

from __future__ import annotations

#: Docstring examples of the wheel that fail on ts_core: docstring id -> its first failing
#: example and how it fails. See ``doc_examples_report.py`` for expected vs got.
DOC_EXAMPLES: dict[str, str] = {
    # BEGIN GENERATED: doc_examples_report.py --write-known
    "Batch": "example 2 `store[...] = np.arange(5 * 6, dtype=np.uint16).reshape([5...`: TypeError: 'TensorStore' object does not support item assignment",
    "Context.__init__": "example 2 `context.spec is None`: output differs",
    "Context.spec": "example 4 `child.parent.spec`: output differs",
    "DimExpression._MarkBoundsImplicit.__getitem__": "example 3 `await s.resize(exclusive_max=[200, 300])`: output differs",
    "DimExpression.__getitem__": "example 8 `transform[ts.d['x', 'z'][[5, 20]:[10, 30]]]`: IndexError: Only integers, slices (`:`), ellipsis (`...`), tensorstore.newaxis (`None`) and integ...",
    "Future": "example 2 `await future`: output differs",
    "IndexDomain.__getitem__": "example 9 `a['y', 1]`: raises IndexError, expected ValueError: Input dimensions {1} specified more than once",
    "IndexDomain.index_exp": "example 1 `ts.IndexDomain(rank=2).index_exp`: output differs",
    "IndexTransform.__getitem__": "example 12 `a[b]`: output differs",
    "IndexTransform.__init__": "example 2 `ts.IndexTransform(`: TypeError: OutputIndexMap.__init__() got multiple values for argument 'offset'",
    "KvStore.Spec.__eq__": "example 8 `assert a != b`: AssertionError",
    "KvStore.Spec.__truediv__": "example 3 `spec / '/abc'`: output differs",
    "KvStore.Spec.base": "example 1 `spec = ts.KvStore.Spec({'driver': 'ocdbt', 'base': 'memor...`: ts_core.errors.SpecError: kvstore.driver: \"ocdbt\" is not a registered kvstore driver; known: file...",
    "KvStore.Spec.to_json": "example 4 `spec.to_json(include_defaults=True)`: output differs",
    "KvStore.Spec.update": "example 3 `spec`: output differs",
    "KvStore.__add__": "example 2 `store + '/abc'`: output differs",
    "KvStore.__contains__": "example 3 `b'a' in store`: TypeError: key: expected str or bytes, but received int",
    "KvStore.__repr__": "example 2 `kvstore`: output differs",
    "KvStore.__truediv__": "example 2 `store / 'abc'`: output differs",
    "KvStore.base": 'example 1 `store = await ts.KvStore.open({`: ts_core.errors.SpecError: kvstore.driver: "ocdbt" is not a registered kvstore driver; known: file...',
    "KvStore.copy": "example 4 `a`: output differs",
    "KvStore.experimental_copy_range_to": 'example 1 `store = await ts.KvStore.open({`: ts_core.errors.SpecError: kvstore.driver: "ocdbt" is not a registered kvstore driver; known: file...',
    "KvStore.spec": "example 3 `kvstore.spec(unbind_context=True)`: output differs",
    "Schema.__getitem__": "example 3 `schema[transform]`: raises ValueError, expected IndexError: Rank 3 -> 3 transform cannot be composed with rank 1 -> 2...",
    "Spec.__repr__": "example 4 `spec`: output differs",
    "Spec.base": "example 3 `cast_spec = ts.cast(spec, ts.float32)`: AttributeError: 'Spec' object has no attribute '_driver'",
    "Spec.codec": "example 2 `spec.codec`: output differs",
    "Spec.dimension_units": "example 2 `spec.dimension_units`: output differs",
    "Spec.domain": "example 2 `spec.domain`: output differs",
    "Spec.dtype": "example 4 `spec.dtype`: output differs",
    "Spec.fill_value": "example 2 `spec.fill_value`: output differs",
    "Spec.ndim": "example 4 `spec.ndim`: output differs",
    "Spec.open_mode": "example 5 `spec.update(open_mode=ts.OpenMode(open=True, create=True))`: AttributeError: module 'ts_core' has no attribute 'OpenMode'",
    "Spec.rank": "example 4 `spec.rank`: output differs",
    "Spec.schema": "example 2 `spec.schema`: output differs",
    "Spec.to_json": "example 2 `spec = spec[ts.d[0].translate_by[5]]`: ValueError: Cannot perform indexing operations on Spec with unspecified rank",
    "Spec.transform": "example 4 `spec.transform`: output differs",
    "TensorStore": "example 2 `dataset`: output differs",
    "TensorStore._Oindex.__getitem__": "example 3 `view`: output differs",
    "TensorStore._Oindex.__setitem__": "example 2 `dataset.oindex[[5, 6, 8], [2, 5]] = [1, 2]`: TypeError: '_Indexer' object does not support item assignment",
    "TensorStore._Vindex.__getitem__": "example 3 `view`: output differs",
    "TensorStore._Vindex.__setitem__": "example 2 `dataset.vindex[:, [5, 6, 8], [2, 5, 6]] = [[1, 2], [3, 4]...`: TypeError: '_Indexer' object does not support item assignment",
    "TensorStore.__getitem__": "example 3 `dataset[transform]`: output differs",
    "TensorStore.__setitem__": "example 3 `dataset[transform] = [1, 2, 3]`: TypeError: 'TensorStore' object does not support item assignment",
    "TensorStore.astype": "example 2 `store.astype(ts.string)`: ValueError: no ts data type corresponds to NumPy dtype dtype('O')",
    "TensorStore.base": "example 3 `downsampled`: output differs",
    "TensorStore.kvstore": "example 2 `store.kvstore`: output differs",
    "TensorStore.schema": "example 2 `store.schema`: output differs",
    "TensorStore.spec": "example 3 `dataset.spec(minimal_spec=True)`: output differs",
    "TensorStore.url": "example 2 `store.url`: AttributeError: 'TensorStore' object has no attribute 'url'",
    "Transaction": "example 3 `store.with_transaction(txn)[1:4, 2:5] = 42`: TypeError: 'TensorStore' object does not support item assignment",
    "cast": "example 3 `view`: output differs",
    "concat": "example 2 `store`: output differs",
    "open": "example 2 `store`: output differs",
    "overlay": "example 1 `store = ts.overlay([`: AttributeError: 'TensorStore' object has no attribute 'translate_to'",
    "stack": "example 2 `store`: output differs",
    "virtual_chunked": "example 2 `async def do_read(domain: ts.IndexDomain, array: np.ndarray,`: ModuleNotFoundError: No module named 'ts_core._virtual_chunked'",
    # END GENERATED
}
