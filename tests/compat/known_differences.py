"""Known differences between ts_core and the tensorstore wheel, with a reason each.

Every entry is a strict xfail: when ts_core is fixed the test passes, strict mode turns
that into a failure, and the entry must be removed. Regenerate the generated blocks
(MISSING_NAMES, CALLS, SIGNATURES, DOC_EXAMPLES) from the current code with::

    .venv/bin/python tests/compat/doc_examples_report.py --write-known

(it rewrites only the generated blocks below, keeping everything else in this file).
``DELIBERATELY_ABSENT`` is kept by hand: docs/tensorstore-compat.md lists it, and a test
checks the page against it.
"""

from __future__ import annotations

#: Public names of the wheel that ts_core does not have, on purpose: name -> why. A test
#: fails when ts_core gains one of them (then remove it here and from the docs page).
DELIBERATELY_ABSENT: dict[str, str] = {
    # None at present: ts aims at every public name of the wheel. An entry looks like
    # "name": "why ts does not offer it, and what to use instead",
}

#: Behaviour where ts differs from the wheel on purpose: title -> explanation. Shown on
#: docs/tensorstore-compat.md (generated block); the tests apply the same rules.
DELIBERATE_DIFFERENCES: dict[str, str] = {
    "Exception messages": (
        "ts raises the exception type tensorstore raises (mostly `ValueError`, also "
        "`IndexError`, `KeyError`, `TypeError`), possibly a subclass such as "
        "`ts_core.errors.SpecError`, so `except` clauses written for tensorstore work. The "
        "message is ts's own wording; it names the field, key or index involved (the tests "
        "check that ts's message names one of the quoted members or values tensorstore's names)."
    ),
    "Module names": (
        "Output that names the module reads `ts_core` where tensorstore's reads `tensorstore`, "
        "and object addresses differ."
    ),
    "Transactions validate what they read": (
        "A transaction's reads are checked at commit by default, so a read-increment-write "
        "never loses an update; tensorstore does this only with `repeatable_read=True`. Pass "
        "`ts.Transaction(repeatable_read=False)` for tensorstore's default (see [transactions](transactions.md))."
    ),
    "Readable reprs": (
        "`ChunkLayout.Grid` shows its constraints (`ChunkLayout.Grid({'shape': [4, 5]})`) where "
        "tensorstore shows `<tensorstore.ChunkLayout.Grid object at 0x...>`."
    ),
    "Equal context specs compare equal": (
        "`ts.Context.Spec({}) == ts.Context.Spec({})` is True in ts (specs with the same JSON are "
        "equal); tensorstore compares them by identity and says False."
    ),
    "KvStore.ReadResult checks its state": (
        "`ts.KvStore.ReadResult(state='no_such_state')` raises `ValueError` naming the allowed "
        "states; tensorstore raises `TypeError`."
    ),
    "KvStore.experimental_copy_range_to between any stores": (
        "ts copies keys between any two kvstores (memory to memory, file to memory, ...); "
        "tensorstore supports only some pairs and raises `NotImplementedError: CopyRange not "
        "supported` for two memory stores. A ts extension."
    ),
}

#: Public names of the wheel that ts_core still lacks (not on purpose): name -> note.
MISSING_NAMES: dict[str, str] = {
    # BEGIN GENERATED: missing names
    # END GENERATED
}

#: api_cases snippets where ts_core still differs from the wheel: case id -> difference.
CALLS: dict[str, str] = {
    # BEGIN GENERATED: calls
    "ChunkLayout|layout.codec_chunk": "repr ChunkLayout.Grid({}), wheel <tensorstore.ChunkLayout.Grid object at 0x...>",
    "ChunkLayout|layout.read_chunk": "repr ChunkLayout.Grid({'shape': [4, 5]}), wheel <tensorstore.ChunkLayout.Grid object at 0x...>",
    "ChunkLayout|layout.write_chunk": "repr ChunkLayout.Grid({'shape': [8, 10]}), wheel <tensorstore.ChunkLayout.Grid object at 0x...>",
    "ChunkLayout|ts.ChunkLayout.Grid(shape=[-1])": "repr ChunkLayout.Grid({'shape_soft_constraint': [-1]}), wheel <tensorstore.ChunkLayout.Grid object at 0x...>",
    "ChunkLayout|ts.ChunkLayout.Grid(shape=[4, 5])": "repr ChunkLayout.Grid({'shape': [4, 5]}), wheel <tensorstore.ChunkLayout.Grid object at 0x...>",
    "Context|ts.Context.Spec({}) == ts.Context.Spec({})": "value True, wheel False",
    "IndexDomain|ts.IndexDomain(shape=[2, 3]) == 5": "wheel raises TypeError: __eq__(): incompatible function arguments. The following argument types are supported: 1. (self: tensorstore.IndexDomain, arg0: tensorstore.IndexDomain) -> b...; ts returns Fal",
    "KvStore.ReadResult|ts.KvStore.ReadResult(state='no_such_state')": "raises ValueError (state: expected one of ('unspecified', 'missing', 'value'), but received 'no_such_state'), wheel raises TypeError",
    "KvStore|kv2 = ts.KvStore.open('memory://').result(); kv.experimental_copy_range_to(kv2).result(); sorted(kv2.list().result())": "wheel raises NotImplementedError: CopyRange not supported; ts returns [b'a', b'b/c', b'b/d']",
    "Spec|s = ts.Spec({'driver': 'zarr', 'kvstore': 'memory://'}); s.update(kvstore={'driver': 'memory', 'path': 'x/'}); s.kvstore.path": 'raises SpecError (kvstore: "kvstore" is already specified), wheel raises TypeError',
    "spec options|s = ts.Spec({'driver': 'zarr', 'kvstore': 'memory://', 'context': {'cache_pool': {'total_bytes_limit': 10}}}); s.update(recheck_cached_data='sometimes')": 'raises SpecError (recheck_cached_data: expected boolean or "open" or number, but received: "sometimes"), wheel raises TypeError',
    "virtual_chunked|ts.virtual_chunked(lambda d, a, p: None, dtype=ts.uint8, shape=[4]).spec()": "value ('json', {'driver': 'virtual_chunked', 'dtype': 'uint8', 'read_function': <function <lambda> at 0x...>, 'schema': {'chunk_layout': {'grid_origin': [0], 'inne..., wheel ('to_json raised', 'NotImp",
    # END GENERATED
}

#: Wheel functions, methods and constructors whose call signature ts_core does not accept
#: the same way: dotted name -> difference (test_signatures.py).
SIGNATURES: dict[str, str] = {
    # BEGIN GENERATED: signatures
    # END GENERATED
}

#: Docstring examples of the wheel that fail on ts_core: docstring id -> its first failing
#: example and how it fails. See ``doc_examples_report.py`` for expected vs got.
DOC_EXAMPLES: dict[str, str] = {
    # BEGIN GENERATED: doc examples
    # END GENERATED
}
