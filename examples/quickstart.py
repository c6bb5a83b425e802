"""ts quickstart: the same code you would write for tensorstore, with ``import ts_core as ts``.

Runs on local storage only (a temporary directory and memory).
"""

from __future__ import annotations

import tempfile

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


if __name__ == "__main__":
    main()
