"""Fuzz URL and kvstore-spec parsing: ``ts.KvStore.Spec(url)``, ``ts.Spec(url)`` and JSON.

A URL may come from a config file or a command line. Parsing one gives a spec (whose URL
form, when it has one, parses back to the same spec) or a clear error -- never a crash.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

import ts_core as ts

from ._support import JSON_VALUES, check_clear_error, fuzz_settings, mutated_json

SCHEMES = ["memory", "file", "s3", "gs", "http", "https", "MEMORY", "File", "zarr", "zarr3", "n5", "ftp", "a+b.c-d"]
#: Characters that URL parsers trip on, and a little of everything else.
URL_CHARACTERS = st.sampled_from([*"ab/.%?#|:@[]\\ \t\n\x00é~-_+=&;,'\"", "%2F", "%2e%2e", "%", "%zz", "..", "//", "\udcff"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    """One to three ``|``-joined components, each ``scheme`` + separator + a hostile rest."""
    components = []
    for _ in range(draw(st.integers(1, 3))):
        scheme = draw(st.sampled_from(SCHEMES) | st.from_regex(r"\A[A-Za-z][A-Za-z0-9+.-]{0,5}\Z") | st.text(max_size=4))
        separator = draw(st.sampled_from(["://", ":", ":/", ":///", ""]))
        rest = "".join(draw(st.lists(URL_CHARACTERS | st.characters(), max_size=12)))
        components.append(scheme + separator + rest)
    return "|".join(components)


def check_kvstore_spec(value: Any) -> None:
    """``ts.KvStore.Spec(value)``: a spec that survives JSON and URL round trips, or a clear error."""
    try:
        spec = ts.KvStore.Spec(value)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.KvStore.Spec(spec.to_json()) == spec
    try:
        url = spec.url
    except Exception as exc:
        check_clear_error(exc)
        return
    # The URL form is canonical: it parses to a spec of the same driver with the same URL.
    # (Not always an equal spec: {"base_url": "http://h/"} and "http://h" read the same keys.)
    reparsed = ts.KvStore.Spec(url)
    assert reparsed.driver == spec.driver, f"{url!r} parses to {reparsed.to_json()}"
    assert reparsed.url == url, f"{url!r} parses to {reparsed.to_json()}"


@fuzz_settings(100)
@given(url=urls())
@example(url="memory://")
@example(url="file:///tmp/x/|zarr3:")
@example(url="s3://bucket/a%2Fb?x#y")
@example(url="gs://")
@example(url="http://[::1]:80/p")
@example(url="memory://\udcff")  # a lone surrogate: no UTF-8 key can hold it
def test_kvstore_url_parses_or_explains(url: str) -> None:
    check_kvstore_spec(url)


@fuzz_settings(100)
@given(url=urls())
@example(url="memory://a/|zarr3:")
@example(url="file:///tmp/x|n5:")
@example(url="|")
def test_tensorstore_url_parses_or_explains(url: str) -> None:
    try:
        spec = ts.Spec(url)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.Spec(spec.to_json()).to_json() == spec.to_json()


KVSTORE_SPECS = [
    {"driver": "memory", "path": "a/b"},
    {"driver": "file", "path": "/tmp/a/"},
    {"driver": "s3", "bucket": "bucket", "path": "p/"},
    {"driver": "gcs", "bucket": "bucket", "path": "p/"},
    {"driver": "http", "base_url": "http://127.0.0.1:1/", "path": "p"},
]


@fuzz_settings(30)
@given(value=st.sampled_from(KVSTORE_SPECS).flatmap(lambda spec: mutated_json(spec, ("driver", "path", "context", "bucket", "endpoint", "base_url"))) | JSON_VALUES)
@example(value={"driver": "http", "base_url": "http://127.0.0.1:1/"})
@example(value={"driver": "memory", "path": "a\udc80"})
@example(value={"driver": "http", "base_url": "", "path": "p"})  # was accepted, then lost by to_json()
def test_kvstore_spec_json_parses_or_names_the_member(value: Any) -> None:
    check_kvstore_spec(value)


SPECS = [
    {
        "driver": "zarr3", "kvstore": {"driver": "memory", "path": "a/"}, "dtype": "uint16",
        "schema": {"domain": {"shape": [4, 5]}, "chunk_layout": {"write_chunk": {"shape": [2, 5]}}, "fill_value": 3},
        "transform": {"input_shape": [4, 5], "output": [{"input_dimension": 1}, {"input_dimension": 0}]},
        "context": {"cache_pool": {"total_bytes_limit": 1000}},
        "open": True, "create": True, "recheck_cached_data": False,
    },
    {"driver": "cast", "dtype": "float32", "base": {"driver": "array", "array": [[1, 2], [3, 4]], "dtype": "int32"}},
    {"driver": "downsample", "downsample_factors": [2], "downsample_method": "mean",
     "base": {"driver": "n5", "kvstore": "memory://", "metadata": {"dimensions": [8], "dataType": "uint8"}}},
]
SPEC_MEMBERS = ("driver", "kvstore", "path", "dtype", "rank", "schema", "transform", "context", "base", "metadata", "field")


@fuzz_settings(60)
@given(value=st.sampled_from(SPECS).flatmap(lambda spec: mutated_json(spec, SPEC_MEMBERS)))
def test_spec_json_parses_or_names_the_member(value: Any) -> None:
    try:
        spec = ts.Spec(value)
    except Exception as exc:
        check_clear_error(exc)
        return
    assert ts.Spec(spec.to_json()).to_json() == spec.to_json()
