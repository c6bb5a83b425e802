"""ts quickstart: the same code you would write for tensorstore, with ``import ts_core as ts``.

Runs on local storage only (a temporary directory and memory).
"""

from __future__ import annotations

import tempfile

import numpy as np

import ts_core as ts


def main() -> None:
    # 1. A kvstore spec, validated against the driver's schema, from JSON or a URL.
    spec = ts.KvStore.Spec("memory://quickstart/")
    print("spec from URL:      ", spec.to_json())
    print("joined with / :     ", (spec / "arrays").to_json())
    try:
        ts.KvStore.Spec({"driver": "file", "path": 3})
    except ValueError as error:
        print("invalid spec:       ", error)

    # 2. In-memory kvstore.
    memory = ts.KvStore.open(spec).result()
    memory["greeting"] = b"hello"
    print("memory read:        ", memory.read("greeting").result())

    # 3. Local files, with a conditional write (optimistic concurrency).
    with tempfile.TemporaryDirectory() as root:
        store = ts.KvStore.open({"driver": "file", "path": root + "/"}).result()
        stamp = store.write("counter", b"0").result()
        ok = store.write("counter", b"1", if_equal=stamp.generation).result()
        stale = store.write("counter", b"99", if_equal=stamp.generation).result()
        print("conditional write:   succeeded =", ok.generation != b"",
              "| stale write rejected =", stale.generation == b"")
        print("file value:         ", store["counter"])
        store["a/b/c"] = b"nested"
        print("file keys:          ", store.list().result())
        print("url:                ", store.url.replace(root, "<tmp>"))

    # 4. A Context shares resources such as the cache pool between stores.
    context = ts.Context({"cache_pool": {"total_bytes_limit": 64 << 20}})
    print("context resource:   ", context["cache_pool"].to_json())

    # 5. A zarr array on local files: create, write a region, read through views.
    with tempfile.TemporaryDirectory() as root:
        array = ts.open(
            {"driver": "zarr", "kvstore": {"driver": "file", "path": root + "/"}},
            create=True, dtype=ts.uint16, shape=[100, 200],
            chunk_layout=ts.ChunkLayout(chunk_shape=[50, 50]), context=context,
        ).result()
        array[10:20, 30:40].write(np.arange(100, dtype=np.uint16).reshape(10, 10)).result()
        print("zarr view:          ", array[10:12, 30:35].read().result().tolist())
        labelled = array[ts.d[:].label["y", "x"]][ts.d["y"][10:20:5], ts.d["x"].translate_to[0]]
        print("dimension expr:     ", labelled.domain)
        print("stored chunks:      ", sorted(k.decode() for k in array.kvstore.list().result()))

        # 6. A transaction: read-modify-write that either commits or reports a conflict.
        with ts.Transaction() as txn:
            staged = array.with_transaction(txn)
            staged[0, 0].write(staged[0, 0].read().result() + 1).result()
        print("after transaction:  ", int(array[0, 0].read().result()))


if __name__ == "__main__":
    main()
