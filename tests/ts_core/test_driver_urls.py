"""TensorStore and kvstore URLs: each parses to the spec the tensorstore wheel gives, bad ones
fail with the wheel's explanation, and specs format back into URLs as the wheel does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.kvstore import kvstore_url, parse_tensorstore_url, tensorstore_url

tensorstore = pytest.importorskip("tensorstore")

TENSORSTORE_URLS = [
    "memory://a/|zarr3:",
    "memory://a/|zarr2:",
    "memory://a/|n5:",
    "memory://|zarr3:",
    "memory://a|zarr3:",
    "memory://a/|zarr3:b",
    "memory://a/|zarr3:b/",
    "memory://a/|zarr3:%20b",
    "memory://a/|zarr3://",
    "memory://a/|zarr3:/abs",
    "file:///tmp/x.zarr/|zarr2:",
    "file:///tmp/x|zarr3:foo",
    "file:///tmp/a.zip|zip:path/in/zip",
    "file:///tmp/a.zip|zip:path/in/zip|zarr3:",
    "memory://a/|zip:x|zip:y",
    "memory://a/|zip:|zip:",
    "memory://a/",
    "memory://",
    "file:///tmp/x",
    "memory://a/|auto",
    "memory://a/|auto:",
    "memory://a/|cast:int32",
    "memory://a/|zarr3:|cast:int32",
    "memory://a/|cast:int32|cast:int64",
    "file:///tmp/dataset.zarr|auto|cast:int64",
]

BAD_URLS = [
    "memory://a/|zarr:",
    "memory://a/|zarr3:|zarr3:",
    "zarr3:",
    "zip:",
    "auto:",
    "memory://a/|auto:x",
    "memory://a/|cast:",
    "memory://a/|zarr3:?x",
    "memory://a/|zarr3:#x",
    "memory://a/|zip:x?y",
    "memory://a/|zip:x#y",
    "memory://a|memory://b",
    "memory://a/|zarr3:|zip:",
    "memory://a/|cast:int32|zarr3:",
    "memory://a/|auto|zarr3:",
    "memory://a/|",
    "foo://x",
    "memory://a/|foo:",
]


@pytest.mark.parametrize("url", TENSORSTORE_URLS)
def test_tensorstore_urls_parse_as_in_the_wheel(url: str) -> None:
    assert ts.Spec(url).to_json() == tensorstore.Spec(url).to_json()


def _message(call: Any) -> str:
    with pytest.raises(ValueError, match=r"\w") as info:  # any message; callers compare it
        call()
    return str(info.value)


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_explained_as_in_the_wheel(url: str) -> None:
    prefix = f'Parsing spec from url: "{url}": '
    ours, theirs = _message(lambda: ts.Spec(url)), _message(lambda: tensorstore.Spec(url))
    assert ours.startswith(prefix)
    assert theirs.startswith(prefix)
    # The same explanation (ours may add which component it is and how to fix it); the
    # wheel writes 'unsupported URL scheme: "x"' where we write 'unsupported URL scheme "x" in ...'.
    expected = theirs[len(prefix):].replace('scheme: "', 'scheme "').replace("Unsuppported", "Unsupported")  # their typo
    if expected.startswith("unsupported URL scheme"):
        expected = expected.split('" ')[0].rstrip('"')
    assert expected in ours[len(prefix):]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://|ocdbt:", "the ocdbt kvstore is provided by the ts-ocdbt distribution, which is not installed"),
        ("memory://a/|zarr:", 'the URL scheme of the "zarr" driver is "zarr2:"'),
        ("memory://a/|zarr3:|foo", 'unsupported URL scheme "foo" in "foo", component 3 of the composite URL'),
        ("no-scheme", 'invalid URL "no-scheme"'),
    ],
)
def test_errors_say_what_to_do(url: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_core.plugin import reset_registry

    monkeypatch.setenv("TS_DISABLE_PLUGINS", "ts_ocdbt")  # as if ts-ocdbt were not installed
    reset_registry()
    try:
        assert message in _message(lambda: ts.Spec(url))
    finally:
        monkeypatch.delenv("TS_DISABLE_PLUGINS")
        reset_registry()


@pytest.mark.parametrize(
    "url",
    ["memory://a/|zip:x", "memory://a/|zip:x|zip:y/", "file:///tmp/a.zip|zip:", "memory://%41/", "memory://a.zip|zip:c%20d%7C%23%3F%25"],
)
def test_kvstore_urls_as_in_the_wheel(url: str) -> None:
    ours, theirs = ts.KvStore.Spec(url), tensorstore.KvStore.Spec(url)
    assert ours.to_json() == theirs.to_json()
    assert ours.url == theirs.url
    assert kvstore_url(ours.to_json()) == theirs.url


@pytest.mark.parametrize(
    "url", ["memory://a/|zarr3:", "memory://a/|zarr3:|auto", "memory://a/|cast:int32|zarr3:", "zip:x"]
)
def test_kvstore_urls_refuse_what_the_wheel_refuses(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        tensorstore.KvStore.Spec(url)
    with pytest.raises(ValueError, match="Parsing spec from url"):
        ts.KvStore.Spec(url)


@pytest.mark.parametrize(
    "spec",
    [
        "memory://a/|zarr3:",
        "memory://a/|zarr2:",
        "memory://a/",
        "memory://a/|zip:x|zarr3:",
        "memory://a/|cast:int32",
        "memory://a/|zarr3:|cast:int32",
        "memory://|zarr3:",
        "memory://a/|zarr3:b/",
        {"driver": "zarr3", "kvstore": "memory://a/", "dtype": "int32"},
    ],
)
def test_tensorstore_url_formats_specs_as_the_wheel(spec: Any) -> None:
    json = ts.Spec(spec).to_json()
    assert tensorstore_url(json) == tensorstore.Spec(spec).url


def test_specs_without_a_url_form_say_so() -> None:
    with pytest.raises(ValueError, match='TensorStore driver "array" has no URL representation'):
        tensorstore_url({"driver": "array", "array": [1], "dtype": "int32"})


def test_urls_open_arrays() -> None:
    context = ts.Context()
    created = ts.open("memory://x.zarr/|zarr3:", dtype=ts.uint8, shape=[4], create=True, context=context).result()
    created[1:3] = [5, 6]
    assert ts.open("memory://x.zarr/|zarr3:", context=context).result().read().result().tolist() == [0, 5, 6, 0]
    assert ts.open("memory://x.zarr", context=context).result().read().result().tolist() == [0, 5, 6, 0]


COMPONENTS = ["memory://a/", "memory://", "file:///tmp/x", "zip:", "zip:p/q", "zip:%7C", "zarr3:", "zarr2:b",
              "n5:", "auto", "auto:", "cast:int32", "cast:", "ocdbt:", "zarr:", "", "x?y", "zip:#",
              "zip:b?", "zarr3:#x", "memory://a/?#", "file:///tmp/x?q"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4))
@example(components=["memory://a/", "zip:#"])  # found by a fresh run: an empty fragment is no fragment
def test_any_pipeline_parses_like_the_wheel_or_fails_with_a_value_error(components: list[str]) -> None:
    url = "|".join(components)
    try:
        theirs = tensorstore.Spec(url).to_json()
    except ValueError:
        theirs = None
    try:
        ours = ts.Spec(url).to_json()
    except ValueError:
        assert theirs is None or "ocdbt" in url, f"{url!r}: the wheel parses it to {theirs}"
        return
    assert ours == theirs, url
    assert ts.Spec(ours).to_json() == ours


@pytest.mark.parametrize("url", [
    "memory://a/?", "memory://a/#", "memory://a/?#", "memory://?", "memory://#", "file:///tmp/a/?#",
    "memory://a/|zip:b?#", "memory://a/|zarr3:b?", "memory://a/|ocdbt:#",
    "memory://a/#?", "memory://a/?#x", "memory://a/?x#y", "file:///a/?x", "memory://a/|zip:b#?x",
    "s3://bucket/a?", "s3://bucket/a#x", "gs://bucket/a?#", "gs://bucket/a?x",
])
def test_empty_query_and_fragment_are_ignored_as_the_wheel_does(url: str) -> None:
    """An empty ``?`` or ``#`` is no query or fragment; a non-empty one is refused with the
    wheel's message (the query is checked first)."""
    try:
        theirs: Any = tensorstore.Spec(url).to_json()
    except ValueError as exc:
        theirs = str(exc).rpartition(": ")[2]
    try:
        ours: Any = ts.Spec(url).to_json()
    except ValueError as exc:
        ours = str(exc).rpartition(": ")[2]
    assert ours == theirs


def test_a_third_party_adapter_scheme_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_core.plugin import hookimpl, register_plugin, reset_registry

    monkeypatch.setenv("TS_DISABLE_PLUGINS", "ts_ocdbt")  # this plugin stands in for ts-ocdbt's scheme
    reset_registry()

    class Plugin:
        @hookimpl
        def ts_register(self, registry: Any) -> None:
            registry.add("url_scheme", "ocdbt", "ts_core.kvstore:kvstore_adapter_url",
                         layer="kvstore_adapter", driver="ocdbt", directory_base=True)

    register_plugin(Plugin(), name="adapter-url-demo")
    try:
        for url in ("memory://a/|zip:x|ocdbt:", "memory://db|ocdbt:p/q"):  # parsed, not validated:
            assert parse_tensorstore_url(url) == tensorstore.Spec(url).to_json()  # no ocdbt kvstore here
    finally:
        monkeypatch.delenv("TS_DISABLE_PLUGINS")
        reset_registry()
