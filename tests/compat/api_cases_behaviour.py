"""Tables of api_cases about behaviour rather than single members: types and their
relations, pickling, asyncio, and the formats (what lands in the kvstore)."""

from __future__ import annotations

#: Types and their relations, pickling, and asyncio use (``typing``, ``pickle`` and
#: ``asyncio`` are bound).
BEHAVIOUR_CASES: dict[str, list[str]] = {
    "types": [
        "typing.get_origin(ts.DownsampleMethod), typing.get_args(ts.DownsampleMethod)",
        "sorted(map(repr, typing.get_args(ts.RecheckCacheOption)))",
        "typing.get_origin(ts.DTypeLike) is typing.Union",
        "typing.get_origin(ts.FutureLike) is typing.Union",
        "typing.get_origin(ts.DimSelectionLike) is typing.Union",
        "typing.get_origin(ts.NumpyIndexTerm) is typing.Union",
        "typing.get_origin(ts.NumpyIndexingSpec) is typing.Union",
        "isinstance(ts.d[0], ts.DimSelection), isinstance(ts.d[0], ts.DimExpression)",
        "isinstance(ts.d[0].translate_by[1], ts.DimSelection), isinstance(ts.d[0].translate_by[1], ts.DimExpression)",
        "issubclass(ts.DimSelection, ts.DimExpression)",
        "isinstance(store, ts.Indexable), isinstance(ts.IndexTransform(input_rank=1), ts.Indexable), isinstance(ts.IndexDomain(rank=1), ts.Indexable)",
        "isinstance(transform.output, ts.OutputIndexMaps)",
        "isinstance(store[0].write(1), ts.WriteFutures), isinstance(store[0].write(1), ts.Future)",
        "isinstance(store.read(), ts.Future), isinstance(ts.Future(1), ts.Future)",
        "isinstance(kvspec, ts.KvStore.Spec), isinstance(spec, ts.Spec)",
        "isinstance(context['cache_pool'], ts.Context.Resource)",
        "isinstance(ts.Context.Spec({}), ts.Context.Spec)",
        "isinstance(ts.uint8, ts.dtype)",
        "isinstance(store.storage_statistics().result(), ts.TensorStore.StorageStatistics)",
        "isinstance(kv.read(b'a').result(), ts.KvStore.ReadResult)",
        "isinstance(kv.read(b'a').result().stamp, ts.KvStore.TimestampedStorageGeneration)",
        "repr(ts.Future[int])",
        "repr(ts.Promise[int])",
        "ts.OutputIndexMethod.constant == 0, int(ts.OutputIndexMethod.array)",
        "hash(ts.d[0]) is not None",
    ],
    "pickle": [
        "pickle.loads(pickle.dumps(spec)).to_json()",
        "pickle.loads(pickle.dumps(schema)).to_json()",
        "pickle.loads(pickle.dumps(layout)).to_json()",
        "pickle.loads(pickle.dumps(domain))",
        "pickle.loads(pickle.dumps(transform))",
        "pickle.loads(pickle.dumps(dim))",
        "pickle.loads(pickle.dumps(unit))",
        "pickle.loads(pickle.dumps(ts.uint16))",
        "pickle.loads(pickle.dumps(kvspec)).to_json()",
        "pickle.loads(pickle.dumps(ts.Context.Spec({'cache_pool': {}}))).to_json()",
        "pickle.loads(pickle.dumps(ts.d['x'][1:2]))",
        "pickle.loads(pickle.dumps(ts.KvStore.KeyRange(b'a', b'b')))",
        "pickle.loads(pickle.dumps(ts.CodecSpec({'driver': 'zarr', 'compressor': None}))).to_json()",
        "pickle.loads(pickle.dumps(ts.OpenMode(open=True)))",
        "pickle.loads(pickle.dumps(arr)).read().result()",
        "pickle.loads(pickle.dumps(store)).domain",
        "pickle.loads(pickle.dumps(kv)).url",
        "pickle.loads(pickle.dumps(context)).spec",
        "pickle.dumps(ts.Future(1))",
        "pickle.dumps(txn)",
    ],
    "asyncio": [
        "async def main():\n    return await store[1].read()\nasyncio.run(main())",
        "async def main():\n    s = await ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.int8, shape=[3], create=True)\n    await s.write([1, 2, 3])\n    return await s.read()\nasyncio.run(main())",
        "async def main():\n    k = await ts.KvStore.open('memory://')\n    await k.write(b'x', b'1')\n    return (await k.read(b'x')).value, await k.list()\nasyncio.run(main())",
        "async def main():\n    return await ts.Future(7)\nasyncio.run(main())",
        "async def main():\n    w = store[0].write(5)\n    await w.copy\n    await w.commit\n    return await store[0].read()\nasyncio.run(main())",
        "async def main():\n    return await asyncio.wait_for(asyncio.ensure_future(store[0].read()), 5)\nasyncio.run(main())",
        "async def main():\n    promise, future = ts.Promise.new()\n    asyncio.get_running_loop().call_soon(promise.set_result, 9)\n    return await future\nasyncio.run(main())",
        "async def main():\n    promise, future = ts.Promise.new()\n    promise.set_exception(KeyError('k'))\n    return await future\nasyncio.run(main())",
        "async def value():\n    return 3\nasync def main():\n    return await ts.Future(value())\nasyncio.run(main())",
        "async def main():\n    t = ts.Transaction()\n    await store.with_transaction(t)[0].write(8)\n    await t.commit_async()\n    return await store[0].read()\nasyncio.run(main())",
    ],
}


_Z3 = "ts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint16, shape=[4, 6], create=True"
_Z2 = (
    "ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint16, shape=[4, 6], create=True"
)
_N5 = "ts.open({'driver': 'n5', 'kvstore': 'memory://'}, dtype=ts.uint16, shape=[4, 6], create=True"

#: Formats: what lands in the kvstore (keys, metadata), so files stay interchangeable.
FORMAT_CASES: dict[str, list[str]] = {
    "zarr3": [
        f"s = {_Z3}).result()\ns.spec().to_json()",
        f"s = {_Z3}).result()\nsorted(s.kvstore.list().result())",
        f"s = {_Z3}, chunk_layout=ts.ChunkLayout(chunk_shape=[2, 3])).result()\ns[1:3, 2:5] = 7\nsorted(s.kvstore.list().result())",
        f"s = {_Z3}, chunk_layout=ts.ChunkLayout(chunk_shape=[2, 3])).result()\ns.chunk_layout",
        f"s = {_Z3}).result()\njson.loads(s.kvstore[b'zarr.json'])",
        f"s = {_Z3}, fill_value=5).result()\ns.read().result()",
        f"s = {_Z3}).result()\ns.codec",
        f"s = {_Z3}).result()\ns.schema.to_json()",
        f"s = {_Z3}, chunk_layout=ts.ChunkLayout(read_chunk_shape=[2, 3], write_chunk_shape=[4, 6])).result()\njson.loads(s.kvstore[b'zarr.json'])['codecs']",
        f"s = {_Z3}, chunk_layout=ts.ChunkLayout(read_chunk_shape=[2, 3], write_chunk_shape=[4, 6])).result()\ns[0, 0] = 1\nsorted(s.kvstore.list().result())",
        f"s = {_Z3}).result()\ns.resize(exclusive_max=[8, 6]).result().domain",
        f"s = {_Z3}).result()\ns[0] = 3\ns.storage_statistics(query_not_stored=True, query_fully_stored=True).result()",
        "ts.open({'driver': 'zarr3', 'kvstore': 'memory://', 'metadata': {'codecs': [{'name': 'bytes', 'configuration': {'endian': 'big'}}]}}, dtype=ts.uint16, shape=[2], create=True).result().codec",
        "ts.open({'driver': 'zarr3', 'kvstore': 'memory://', 'metadata': {'chunk_key_encoding': {'name': 'v2'}}}, dtype=ts.uint8, shape=[2], create=True).result().spec().to_json()['metadata']",
        "ts.open({'driver': 'zarr3', 'kvstore': 'memory://', 'metadata': {'no_such_member': 1}}, dtype=ts.uint8, shape=[2], create=True).result()",
        "ts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], dimension_units=['4nm'], create=True).result().dimension_units",
        "ts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, domain=ts.IndexDomain(shape=[2], labels=['x']), create=True).result().domain",
        "ts.open('memory://|zarr3:', dtype=ts.int8, shape=[3], create=True).result().url",
        "c = ts.Context()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, open=True, context=c).result().domain",
        "c = ts.Context()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, open=True, dtype=ts.int8, context=c).result()",
        "c = ts.Context()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, open=True, shape=[5, 3], context=c).result()",
        "c = ts.Context()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()",
        "c = ts.Context()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[4], create=True, delete_existing=True, context=c).result().shape",
        "c = ts.Context()\ns = ts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open(s.spec(), open=True, context=c).result().shape",
        "c = ts.Context()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'zarr3', 'kvstore': 'memory://'}, open=True, context=c).result()",
        "c = ts.Context()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2, 3], create=True, context=c).result()\nts.open({'driver': 'auto', 'kvstore': 'memory://'}, context=c).result().spec().to_json()['driver']",
    ],
    "zarr": [
        f"s = {_Z2}).result()\ns.spec().to_json()",
        f"s = {_Z2}, chunk_layout=ts.ChunkLayout(chunk_shape=[2, 3])).result()\ns[1:3, 2:5] = 7\nsorted(s.kvstore.list().result())",
        f"s = {_Z2}).result()\njson.loads(s.kvstore[b'.zarray'])",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'dimension_separator': '/'}}, dtype=ts.uint8, shape=[4, 4], chunk_layout=ts.ChunkLayout(chunk_shape=[2, 2]), create=True).result()[3, 3].write(1).result() is None",
        "s = ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'dimension_separator': '/'}}, dtype=ts.uint8, shape=[4, 4], chunk_layout=ts.ChunkLayout(chunk_shape=[2, 2]), create=True).result()\ns[3, 3] = 1\nsorted(s.kvstore.list().result())",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'compressor': {'id': 'zlib', 'level': 3}}}, dtype=ts.uint8, shape=[2], create=True).result().codec",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'compressor': {'id': 'no_such'}}}, dtype=ts.uint8, shape=[2], create=True).result()",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'order': 'F'}}, dtype=ts.uint8, shape=[2, 3], create=True).result().chunk_layout",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'metadata': {'dtype': '<f8', 'fill_value': 'NaN'}}, shape=[2], create=True).result().read().result()",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://', 'field': 'x', 'metadata': {'dtype': [['x', '<u2'], ['y', '<f4']]}}, shape=[2], create=True).result().dtype",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.bool, shape=[3], create=True).result().read().result()",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.complex64, shape=[1], fill_value=1+2j, create=True).result().read().result()",
        "ts.open('memory://|zarr2:', dtype=ts.int8, shape=[3], create=True).result().url",
        f"s = {_Z2}).result()\ns.fill_value",
    ],
    "n5": [
        f"s = {_N5}).result()\ns.spec().to_json()",
        f"s = {_N5}, chunk_layout=ts.ChunkLayout(chunk_shape=[2, 3])).result()\ns[1:3, 2:5] = 7\nsorted(s.kvstore.list().result())",
        f"s = {_N5}).result()\njson.loads(s.kvstore[b'attributes.json'])",
        f"s = {_N5}).result()\ns.chunk_layout",
        f"s = {_N5}).result()\ns.codec",
        "ts.open({'driver': 'n5', 'kvstore': 'memory://', 'metadata': {'compression': {'type': 'gzip'}}}, dtype=ts.uint8, shape=[2], create=True).result().codec",
        "ts.open({'driver': 'n5', 'kvstore': 'memory://', 'metadata': {'compression': {'type': 'no_such'}}}, dtype=ts.uint8, shape=[2], create=True).result()",
        "ts.open({'driver': 'n5', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], fill_value=3, create=True).result()",
        "ts.open({'driver': 'n5', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], dimension_units=['4nm'], create=True).result().dimension_units",
    ],
    "adapters": [
        "ts.open({'driver': 'cast', 'base': {'driver': 'array', 'array': [1, 2], 'dtype': 'int32'}, 'dtype': 'float64'}).result().read().result()",
        "ts.open({'driver': 'downsample', 'base': {'driver': 'array', 'array': [1, 2, 3, 4], 'dtype': 'float32'}, 'downsample_factors': [2], 'downsample_method': 'mean'}).result().read().result()",
        "ts.open({'driver': 'downsample', 'base': {'driver': 'array', 'array': [1, 2], 'dtype': 'float32'}, 'downsample_factors': [0], 'downsample_method': 'mean'}).result()",
        "ts.open({'driver': 'stack', 'layers': [{'driver': 'array', 'array': [1, 2], 'dtype': 'int32'}, {'driver': 'array', 'array': [3], 'dtype': 'int32', 'transform': {'input_inclusive_min': [2], 'input_exclusive_max': [3], 'output': [{'input_dimension': 0, 'offset': -2}]}}]}).result().read().result()",
        "ts.open({'driver': 'json', 'kvstore': 'memory://x.json'}, create=True).result().dtype",
        "s = ts.open({'driver': 'json', 'kvstore': 'memory://x.json'}).result()\ns.write({'a': 1}).result()\ns.read().result()",
        "ts.open({'driver': 'array', 'array': [[1, 2]], 'dtype': 'uint8'}).result().spec().to_json()",
        "ts.open({'driver': 'array', 'array': [1, 2], 'dtype': 'uint8', 'transform': {'input_shape': [3]}}).result()",
        "ts.open({'driver': 'auto', 'kvstore': 'memory://'}).result()",
        "ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[3], create=True).result().astype(ts.float32).spec().to_json()",
    ],
}

_LOST_UPDATE = (
    "kv = ts.KvStore.open('memory://').result()\n"
    "kv[b'a'] = b'1'\n"
    "t = ts.Transaction(repeatable_read={flag})\n"
    "v = kv.with_transaction(t)[b'a']\n"
    "kv[b'a'] = b'other'\n"
    "kv.with_transaction(t)[b'a'] = v + b'!'\n"
    "t.commit_sync()\n"
    "kv[b'a']"
)

#: Transactions, batches and user-defined chunks. (Reads validated at commit by default is a
#: deliberate difference; both libraries are compared with an explicit repeatable_read.)
TRANSACTION_CASES: dict[str, list[str]] = {
    "transactions": [
        _LOST_UPDATE.format(flag=True),
        _LOST_UPDATE.format(flag=False),
        "t = ts.Transaction()\nkv.with_transaction(t)[b'a'] = b'x'\nkv[b'a'] = b'y'\nt.commit_sync()\nkv[b'a']",
        "t = ts.Transaction()\nkv.with_transaction(t).delete_range(ts.KvStore.KeyRange(b'b', b'c')).result()\n(sorted(kv.list().result()), sorted(kv.with_transaction(t).list().result()))",
        "t = ts.Transaction()\nkv.with_transaction(t)[b'new'] = b'1'\nsorted(kv.with_transaction(t).list().result())",
        "t = ts.Transaction(atomic=True)\nkv.with_transaction(t)[b'p'] = b'1'\nkv.with_transaction(t)[b'q'] = b'2'\nt.commit_sync()\n(kv[b'p'], kv[b'q'])",
        "t = ts.Transaction()\ns = store.with_transaction(t)\ns[0] = 50\n(s[0, 0].read().result(), store[0, 0].read().result())",
        "t = ts.Transaction()\nstore.with_transaction(t)[0] = 50\nt.commit_sync()\nstore[0].read().result()",
        "t = ts.Transaction()\nstore.with_transaction(t)[0] = 50\nt.abort()\nstore[0].read().result()",
        "t = ts.Transaction()\nt.commit_sync()\nstore.with_transaction(t)[0] = 50",
        "t = ts.Transaction()\nt.abort()\nkv.with_transaction(t)[b'a'] = b'x'",
        "t = ts.Transaction()\nstore.with_transaction(t).with_transaction(None).transaction",
        "t = ts.Transaction()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], create=True, transaction=t).result().transaction is t",
        "t = ts.Transaction()\nts.KvStore.open('memory://', transaction=t).result().transaction is t",
        "c = ts.Context()\nt = ts.Transaction()\ns = ts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], create=True, transaction=t, context=c).result()\ns[0] = 1\nt.commit_sync()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, context=c).result().read().result()",
        "c = ts.Context()\nt = ts.Transaction()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, dtype=ts.uint8, shape=[2], create=True, transaction=t, context=c).result()\nts.open({'driver': 'zarr', 'kvstore': 'memory://'}, context=c, open=True).result()",
    ],
    "batch": [
        "b = ts.Batch()\nf = store.read(batch=b)\nb.submit()\nf.result()",
        "with ts.Batch() as b:\n    f = kv.read(b'a', batch=b)\nf.result().value",
        "b = ts.Batch()\nb.submit()\nb.submit()",
        "b = ts.Batch()\nb.submit()\nstore.read(batch=b)",
        "ts.Batch(5)",
    ],
    "virtual_chunked": [
        "def read(domain, array, params):\n    array[...] = np.arange(domain.inclusive_min[0], domain.exclusive_max[0])\nts.virtual_chunked(read, dtype=ts.int64, shape=[6], chunk_layout=ts.ChunkLayout(read_chunk_shape=[4])).read().result()",
        "domains = []\ndef read(domain, array, params):\n    domains.append(domain)\n    array[...] = 0\nts.virtual_chunked(read, dtype=ts.uint8, shape=[6], chunk_layout=ts.ChunkLayout(read_chunk_shape=[4])).read().result()\nsorted(map(str, domains))",
        "v = ts.virtual_chunked(lambda d, a, p: None, dtype=ts.uint8, shape=[4])\n(v.readable, v.writable)",
        "v = ts.virtual_chunked(write_function=lambda d, a, p: None, dtype=ts.uint8, shape=[4])\n(v.readable, v.writable)",
        "ts.virtual_chunked(lambda d, a, p: None, dtype=ts.uint8, shape=[4]).write(1).result()",
        "ts.virtual_chunked(lambda d, a, p: None, dtype=ts.uint8, domain=ts.IndexDomain(shape=[2], labels=['x'])).domain",
        "def read(domain, array, params):\n    raise ValueError('no data here')\nts.virtual_chunked(read, dtype=ts.uint8, shape=[4]).read().result()",
        "ts.virtual_chunked(lambda d, a, p: None, dtype=ts.uint8, shape=[4]).spec()",
        "ts.virtual_chunked(lambda d, a, p: None, shape=[4])",
    ],
}
