"""tensorstore documentation pages whose ``>>>`` examples still fail on ts_core.

Page id (``rst:<path in the tensorstore checkout>``) -> the first failing example and how
it differs. Every entry is a strict xfail in test_tensorstore_rst_examples.py: when ts_core
is fixed the page passes, strict mode turns that into a failure, and the entry must be
removed. The entries only apply when ``TS_TENSORSTORE_REPO`` names a checkout; print the
current failures (all of them with ``--all``) with::

    TS_TENSORSTORE_REPO=/path/to/tensorstore .venv/bin/python tests/compat/compat_rstpages.py
"""

from __future__ import annotations

RST_PAGES: dict[str, str] = {
    "rst:docs/python/indexing.rst": (
        "example 2 `a[1]` (and 44 more): the repr of an indexed `array` TensorStore keeps the "
        "whole array plus an output transform (`'array': [[0, 1, 2], [3, 4, 5]]`, "
        "`'output': [{'offset': 1}, ...]`) where tensorstore shows the selected elements "
        "(`'array': [3, 4, 5]`) with an identity transform; examples 114-118: after "
        "`await s.resize(exclusive_max=[200, 300])`, `(await s.resolve()).domain` is still "
        "`{ [0, 100*), [0, 200*) }` where tensorstore gives `{ [0, 200*), [0, 300*) }`"
    ),
    "rst:docs/python/tutorial.rst": (
        "example 2 `dataset = ts.open({... 'kvstore': {'driver': 'file', 'path': "
        "'tmp/dataset/'}})`: raises ValueError \"file: URIs do not support relative paths\"; "
        "tensorstore opens a relative path (the later examples fail on the missing `dataset`)"
    ),
    "rst:tensorstore/driver/auto/index.rst": (
        'example 1 `await ts.open("file:///tmp/dataset.zarr|zarr3", ...)`: the repr\'s '
        "`kvstore` lacks the `file_io_locking`, `file_io_mode`, `file_io_retries` and "
        "`file_io_sync` members tensorstore prints; example 8 raises SpecError on an "
        '`|ocdbt|` URL (unsupported URL scheme "ocdbt"), example 9 cannot detect an OCDBT '
        "database"
    ),
    "rst:tensorstore/driver/neuroglancer_precomputed/index.rst": (
        "example 3 `metadata = get_metadata({...})`: raises SpecError: the "
        "`neuroglancer_precomputed` driver is not registered (its ts-precomputed distribution "
        "is not installed); every later example depends on it"
    ),
    "rst:tensorstore/driver/zarr/index.rst": (
        'example 3 `get_schema(metadata).to_json()`: raises SpecError: driver "zarr2" is '
        "not registered (tensorstore accepts `zarr2` as a name of its zarr driver)"
    ),
}
