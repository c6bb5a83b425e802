"""N5 compressions: plugin records, JSON normalization, and encode/decode round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_core.plugin import get_registry
from ts_n5._compression import parse_compression

PARAMETERS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "raw": st.just({}),
    "gzip": st.fixed_dictionaries({}, optional={"level": st.integers(-1, 9), "useZlib": st.booleans()}),
    "bzip2": st.fixed_dictionaries({}, optional={"blockSize": st.integers(1, 9)}),
    "xz": st.fixed_dictionaries({}, optional={"preset": st.integers(0, 3)}),
    "blosc": st.fixed_dictionaries(
        {
            "cname": st.sampled_from(["blosclz", "lz4", "lz4hc", "zlib", "zstd"]),
            "clevel": st.integers(0, 9),
            "shuffle": st.integers(0, 2),
        },
        optional={"blocksize": st.sampled_from([0, 256, 4096])},
    ),
    "zstd": st.fixed_dictionaries({}, optional={"level": st.integers(-5, 9)}),
}


def test_compressions_are_n5_codec_plugins() -> None:
    assert get_registry().ids("codec", "n5") == sorted(PARAMETERS)
    assert all(get_registry().get("codec", name, "n5").distribution == "ts-n5" for name in PARAMETERS)


@pytest.mark.parametrize(
    ("given_json", "normalized"),
    [
        ({"type": "gzip"}, {"level": -1, "type": "gzip", "useZlib": False}),
        ({"type": "bzip2"}, {"blockSize": 9, "type": "bzip2"}),
        ({"type": "xz"}, {"preset": 6, "type": "xz"}),
        ({"type": "zstd"}, {"level": 0, "type": "zstd"}),
        ({"type": "blosc", "cname": "lz4", "clevel": 1, "shuffle": 0}, {"blocksize": 0, "clevel": 1, "cname": "lz4", "shuffle": 0, "type": "blosc"}),
        ({"type": "raw"}, {"type": "raw"}),
    ],
)
def test_defaults_filled_in(given_json: dict[str, Any], normalized: dict[str, Any]) -> None:
    assert parse_compression(given_json, "compression").to_json() == normalized


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(PARAMETERS)),
    data=st.data(),
    payload=st.binary(min_size=8, max_size=3000),  # blocks hold at least one element
    itemsize=st.sampled_from([1, 2, 4, 8]),
)
def test_round_trip(name: str, data: st.DataObject, payload: bytes, itemsize: int) -> None:
    parameters = data.draw(PARAMETERS[name])
    compression = parse_compression({"type": name, **parameters}, "compression")
    payload = payload[: len(payload) - len(payload) % itemsize]
    encoded = compression.encode(payload, itemsize)
    assert compression.decode(encoded) == payload
    assert parse_compression(compression.to_json(), "compression") == compression
