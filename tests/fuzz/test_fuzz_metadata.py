"""Fuzz the stored-metadata parsers of every format with damaged and hostile documents.

A stored ``.zarray``, ``zarr.json``, ``attributes.json`` or ``chunkdir.json`` comes from
whoever wrote the data set. Parsing one must give validated metadata (which encodes and
parses back to itself) or a clear error naming the member -- nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ts_core as ts
from ts_chunkdir._driver import ChunkdirDriver
from ts_n5._driver import N5Driver
from ts_zarr._driver import ZarrDriver
from ts_zarr.zarr3._driver import Zarr3Driver

from ._support import check_clear_error, document_bytes, fuzz_settings, mutated_json

ZARR = {
    "chunks": [3, 2], "compressor": {"id": "zlib", "level": 1}, "dimension_separator": ".", "dtype": "<i2",
    "fill_value": 3, "filters": [{"id": "delta", "dtype": "<i2"}], "order": "F", "shape": [5, 4], "zarr_format": 2,
}
ZARR3 = {
    "attributes": {"a": 1},
    "chunk_grid": {"configuration": {"chunk_shape": [3, 2]}, "name": "regular"},
    "chunk_key_encoding": {"name": "default"},
    "codecs": [
        {"configuration": {"order": [1, 0]}, "name": "transpose"},
        {"configuration": {"endian": "big"}, "name": "bytes"},
        {"configuration": {"level": 6}, "name": "gzip"},
    ],
    "data_type": "int16", "dimension_names": ["x", None], "fill_value": 3, "node_type": "array",
    "shape": [5, 4], "zarr_format": 3,
}
ZARR3_SHARDED = {
    **ZARR3,
    "codecs": [{
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": [1, 2],
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1}}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end",
        },
    }],
}
N5 = {
    "axes": ["x", "y"], "blockSize": [3, 2], "compression": {"level": -1, "type": "gzip", "useZlib": False},
    "dataType": "int16", "dimensions": [5, 4], "resolution": [1.0, 2.0], "units": ["nm", "nm"],
}
CHUNKDIR = {"shape": [5, 4], "chunks": [3, 2], "dtype": "int16", "fill_value": 3, "compression": "zlib"}

#: (driver class, a valid stored document, member names worth adding).
FORMATS: dict[str, tuple[Any, dict[str, Any], tuple[str, ...]]] = {
    "zarr": (ZarrDriver, ZARR, tuple(ZARR)),
    "zarr3": (Zarr3Driver, ZARR3, (*ZARR3, "storage_transformers", "must_understand", "configuration")),
    "zarr3-sharded": (Zarr3Driver, ZARR3_SHARDED, ("index_location", "index_codecs", "chunk_shape", "codecs")),
    "n5": (N5Driver, N5, (*N5, "type", "level", "blocksize", "cname", "clevel", "shuffle", "useZlib")),
    "chunkdir": (ChunkdirDriver, CHUNKDIR, tuple(CHUNKDIR)),
}


def check_parse(driver_class: Any, data: bytes) -> None:
    """Parse ``data``; a success must encode and parse back to equal metadata."""
    try:
        metadata = driver_class.parse_stored_metadata(data)
    except Exception as exc:
        check_clear_error(exc)
        return
    encoded = driver_class.encode_metadata(metadata)
    assert driver_class.parse_stored_metadata(encoded) == metadata


@pytest.mark.parametrize("name", list(FORMATS))
def test_valid_documents_parse(name: str) -> None:
    import json

    driver_class, document, _ = FORMATS[name]
    check_parse(driver_class, json.dumps(document).encode())
    driver_class.parse_stored_metadata(json.dumps(document).encode())


@pytest.mark.parametrize("name", list(FORMATS))
@fuzz_settings(60)
@given(data=st.data())
def test_stored_metadata_parses_or_names_the_member(name: str, data: st.DataObject) -> None:
    driver_class, document, members = FORMATS[name]
    check_parse(driver_class, data.draw(document_bytes(document, members), label="stored"))


#: Inputs fuzzing found, replayed forever (the test above draws with ``st.data()``, which
#: ``@example`` cannot pin, so its finds live here): (format, stored bytes).
REGRESSIONS = [
    pytest.param(
        "zarr",
        b'{"chunks": [3, 2], "compressor": null, "dtype": "<i2", "fill_value": 0, "order": "C",'
        b' "shape": [5, 4], "zarr_format": 2, "filters": [{"id": "delta", "dtype": "00000001<i2"}]}',
        id="zarr-delta-dtype-syntax-error",
    ),
    # A JSON integer beyond the float range made math.isfinite raise OverflowError.
    pytest.param(
        "n5",
        b'{"blockSize": [3, 2], "compression": {"type": "raw"}, "dataType": "int16", "dimensions": [5, 4],'
        b' "resolution": [1' + b"0" * 400 + b', 2]}',
        id="n5-resolution-beyond-float",
    ),
    *(
        pytest.param(
            name,
            stored,
            id=f"{name}-fill-value-beyond-float",
        )
        for name, stored in [
            ("zarr", b'{"chunks": [3, 2], "compressor": null, "dtype": "<f4", "fill_value": 1' + b"0" * 400
             + b', "filters": null, "order": "C", "shape": [5, 4], "zarr_format": 2}'),
            ("zarr3", b'{"chunk_grid": {"configuration": {"chunk_shape": [3, 2]}, "name": "regular"},'
             b' "chunk_key_encoding": {"name": "default"}, "codecs": [{"name": "bytes"}], "data_type": "float32",'
             b' "fill_value": 1' + b"0" * 400 + b', "node_type": "array", "shape": [5, 4], "zarr_format": 3}'),
            ("chunkdir", b'{"shape": [5, 4], "chunks": [3, 2], "dtype": "float32", "fill_value": 1' + b"0" * 400 + b"}"),
        ]
    ),
    *(
        pytest.param(
            name,
            stored,
            id=f"{name}-bare-infinity-in-preserved-member",
        )
        for name, stored in [
            ("zarr", b'{"chunks": [3, 2], "compressor": null, "dtype": "<i2", "fill_value": 0, "filters": null,'
             b' "order": "C", "shape": [5, 4], "zarr_format": 2, "": Infinity}'),
            ("zarr3", b'{"attributes": {"a": Infinity}, "chunk_grid": {"configuration": {"chunk_shape": [3, 2]},'
             b' "name": "regular"}, "chunk_key_encoding": {"name": "default"}, "codecs": [{"name": "bytes"}],'
             b' "data_type": "int16", "fill_value": 0, "node_type": "array", "shape": [5, 4], "zarr_format": 3}'),
            ("n5", b'{"blockSize": [3, 2], "compression": {"type": "raw"}, "dataType": "int16", "dimensions": [5, 4],'
             b' "extra": NaN}'),
        ]
    ),
]


@pytest.mark.parametrize(("name", "stored"), REGRESSIONS)
def test_regressions(name: str, stored: bytes) -> None:
    driver_class, _, _ = FORMATS[name]
    check_parse(driver_class, stored)


#: Spec metadata (what a caller passes to ts.open) goes through the driver's JSON schema and
#: then the same validation; a create on the memory kvstore runs all of it but allocates nothing.
SPEC_BASES = {
    "zarr": ({"driver": "zarr", "kvstore": "memory://"}, ZARR),
    "zarr3": ({"driver": "zarr3", "kvstore": "memory://"}, ZARR3_SHARDED),
    "n5": ({"driver": "n5", "kvstore": "memory://"}, N5),
    "chunkdir": ({"driver": "chunkdir", "kvstore": "memory://"}, CHUNKDIR),
}


@pytest.mark.parametrize("name", list(SPEC_BASES))
@fuzz_settings(30)
@given(data=st.data())
def test_spec_metadata_creates_or_names_the_member(name: str, data: st.DataObject) -> None:
    _, document = SPEC_BASES[name]
    check_create(name, data.draw(mutated_json(document, tuple(document)), label="metadata"))


def check_create(name: str, metadata: Any) -> None:
    """Create an array from spec ``metadata``: a clear error, or an array whose domain and
    schema can be asked for (an invalid shape must fail at open, not at first use)."""
    base, _ = SPEC_BASES[name]
    try:
        store = ts.open({**base, "metadata": metadata}, create=True, context=ts.Context()).result()
    except Exception as exc:
        check_clear_error(exc)
        return
    assert store.domain.rank == len(store.shape)
    assert store.schema.rank == store.domain.rank


#: Inputs fuzzing found for the test above: (format, spec metadata).
SPEC_REGRESSIONS = [
    pytest.param(
        name,
        metadata,
        id=f"{name}-shape-beyond-index-range",
    )
    for name, metadata in [
        ("chunkdir", {**CHUNKDIR, "shape": [2**63 - 2, 4]}),
        ("zarr", {**ZARR, "shape": [2**63 - 2, 4]}),
        ("zarr3", {**ZARR3_SHARDED, "shape": [2**63 - 2, 4]}),
        ("n5", {**N5, "dimensions": [2**63 - 2, 4]}),
    ]
]


@pytest.mark.parametrize(("name", "metadata"), SPEC_REGRESSIONS)
def test_spec_regressions(name: str, metadata: Any) -> None:
    check_create(name, metadata)
