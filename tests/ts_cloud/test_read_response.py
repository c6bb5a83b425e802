"""How a read's HTTP response becomes a ReadResult: the one path of the s3, gcs and http kvstores.

First the function itself on constructed responses (one per status/header case), then
each driver against its local server, showing that the three behave alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_servers import FAST_RETRIES, gcs_spec, s3_spec, static_http_server, unique_prefix

import ts_core as ts
from ts_cloud._http import CloudRequestError, HttpResponse
from ts_cloud._read_response import (
    UNVERSIONED,
    ContentRange,
    ObjectRead,
    parse_content_range,
    read_result,
)
from ts_core.kvstore import NO_VALUE, UNKNOWN, ByteRange, ReadOptions, make_generation

KEY = b"dir/value"
VALUE = b"0123456789"
GENERATION = make_generation(b'"v1"')
STARTED = 1234.5
WHOLE = ByteRange()


def _read(byte_range: ByteRange = WHOLE, if_not_equal: bytes | None = None) -> ObjectRead:
    return ObjectRead("s3", KEY, ReadOptions(if_not_equal=if_not_equal, byte_range=byte_range), STARTED)


def _response(status: int, body: bytes = b"", **headers: str) -> HttpResponse:
    # Header names in lower case, as the transport delivers them.
    return HttpResponse(status, {name.replace("_", "-").lower(): value for name, value in headers.items()}, body)


def _etag(response: HttpResponse) -> bytes | None:
    etag = response.header("etag")
    return make_generation(etag.encode()) if etag else None


def _result(response: HttpResponse, read: ObjectRead) -> ts.KvStore.ReadResult:
    return read_result(response, read, _etag)


# -- the request side ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("byte_range", "header", "metadata_only"),
    [
        (ByteRange(), None, False),
        (ByteRange(0, None), None, False),
        (ByteRange(2, 5), "bytes=2-4", False),
        (ByteRange(0, 3), "bytes=0-2", False),
        (ByteRange(-3, None), "bytes=-3", False),
        # open ranges start one byte early, so that an empty tail is a 206, not a 416
        (ByteRange(7, None), "bytes=6-", False),
        (ByteRange(4, 4), None, True),
        (ByteRange(6, 5), None, True),
    ],
)
def test_range_header(byte_range: ByteRange, header: str | None, metadata_only: bool) -> None:
    read = _read(byte_range)
    assert (read.range_header, read.metadata_only) == (header, metadata_only)


@pytest.mark.parametrize(
    ("if_not_equal", "conditional"),
    [(None, False), (UNKNOWN, False), (NO_VALUE, False), (GENERATION, True)],
)
def test_conditional(if_not_equal: bytes | None, conditional: bool) -> None:
    assert _read(if_not_equal=if_not_equal).conditional is conditional


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("bytes 2-4/10", ContentRange(2, 4, 10)),
        ("BYTES 0-0/1", ContentRange(0, 0, 1)),
        ("bytes 2-4/*", ContentRange(2, 4, None)),
        ("bytes */10", ContentRange(None, None, 10)),
        (None, None),
        ("", None),
        ("bytes */*", None),
        ("bytes 0--1/0", None),  # what fake-gcs-server sends for the last byte of an empty object
        ("bytes 5-4/10", None),
        ("bytes 5-10/10", None),
        ("items 0-4/10", None),
    ],
)
def test_parse_content_range(header: str | None, parsed: ContentRange | None) -> None:
    assert parse_content_range(header) == parsed


# -- missing and unchanged -----------------------------------------------------------
@pytest.mark.parametrize("status", [404, 410])
def test_missing(status: int) -> None:
    result = _result(_response(status, b"<Error/>"), _read(ByteRange(0, 5)))
    assert (result.state, result.value, result.stamp.generation, result.stamp.time) == (
        "missing", b"", NO_VALUE, STARTED)
    unchanged = _result(_response(status), _read(if_not_equal=NO_VALUE))
    assert (unchanged.state, unchanged.stamp.generation) == ("unspecified", NO_VALUE)


def test_not_modified() -> None:
    result = _result(_response(304, etag='"v1"'), _read(ByteRange(2, 5), if_not_equal=GENERATION))
    assert (result.state, result.value, result.stamp.generation, result.stamp.time) == (
        "unspecified", b"", GENERATION, STARTED)


@pytest.mark.parametrize("if_not_equal", [None, NO_VALUE])
def test_not_modified_without_a_condition_is_an_error(if_not_equal: bytes | None) -> None:
    with pytest.raises(CloudRequestError, match=r'read of key "dir/value": HTTP 304') as caught:
        _result(_response(304), _read(if_not_equal=if_not_equal))
    assert (caught.value.status, caught.value.key) == (304, KEY)


def test_condition_checked_again_on_the_response() -> None:
    # A server that ignores If-None-Match (fake-gcs-server ignores ifGenerationNotMatch).
    result = _result(_response(200, VALUE, etag='"v1"'), _read(if_not_equal=GENERATION))
    assert (result.state, result.value, result.stamp.generation) == ("unspecified", b"", GENERATION)
    changed = _result(_response(200, VALUE, etag='"v2"'), _read(if_not_equal=GENERATION))
    assert (changed.state, changed.value) == ("value", VALUE)


def test_unversioned_value_is_never_unchanged() -> None:
    read = _read(if_not_equal=UNVERSIONED)
    result = read_result(_response(200, VALUE), read, lambda response: UNVERSIONED)
    assert (result.state, result.value, result.stamp.generation) == ("value", VALUE, UNVERSIONED)


def test_response_without_generation_is_an_error() -> None:
    with pytest.raises(CloudRequestError, match=r'key "dir/value": the HTTP 200 response names no generation'):
        _result(_response(200, VALUE), _read())


# -- 416 -----------------------------------------------------------------------------
def test_unsatisfiable_range_with_size() -> None:
    with pytest.raises(ValueError, match=r"byte range \[11, \) is not valid for the 10-byte value of key "
                                         r"b'dir/value'") as caught:
        _result(_response(416, b"<Error/>", content_range="bytes */10"), _read(ByteRange(11, None)))
    assert type(caught.value) is ValueError  # an out-of-range read, not a failed request


@pytest.mark.parametrize("byte_range", [ByteRange(11, None), ByteRange(10, 12), ByteRange(-1, None)])
def test_unsatisfiable_range_without_size(byte_range: ByteRange) -> None:
    upper = "" if byte_range.exclusive_max is None else byte_range.exclusive_max
    expected = (rf"byte range \[{byte_range.inclusive_min}, {upper}\) is not valid for the value of key "
                r"b'dir/value' \(s3 answered HTTP 416")
    with pytest.raises(ValueError, match=expected) as caught:
        _result(_response(416, etag='"v1"'), _read(byte_range))
    assert type(caught.value) is ValueError


# -- 206 -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("byte_range", "content_range", "expected"),
    [
        (ByteRange(2, 5), "bytes 2-4/10", b"234"),
        (ByteRange(2, 5), "bytes 2-4/*", b"234"),
        (ByteRange(-3, None), "bytes 7-9/10", b"789"),
        (ByteRange(-3, None), "bytes 7-9/*", b"789"),
        (ByteRange(7, None), "bytes 6-9/10", b"789"),  # asked from the byte before
        (ByteRange(10, None), "bytes 9-9/10", b""),  # an empty tail is valid
        (ByteRange(0, 10), "bytes 0-9/10", VALUE),
    ],
)
def test_partial_content(byte_range: ByteRange, content_range: str, expected: bytes) -> None:
    span = parse_content_range(content_range)
    assert span is not None
    assert span.first is not None
    assert span.last is not None
    body = VALUE[span.first: span.last + 1]
    result = _result(_response(206, body, etag='"v1"', content_range=content_range), _read(byte_range))
    assert (result.state, result.value, result.stamp.generation, result.stamp.time) == (
        "value", expected, GENERATION, STARTED)


@pytest.mark.parametrize("content_range", [None, "bytes 0--1/0", "garbage"])
def test_partial_content_needs_a_usable_content_range(content_range: str | None) -> None:
    headers = {"etag": '"v1"'} if content_range is None else {"etag": '"v1"', "content_range": content_range}
    with pytest.raises(CloudRequestError, match=r'read of key "dir/value": HTTP 206 \(partial content\) '
                                                r"without a usable Content-Range") as caught:
        _result(_response(206, b"234", **headers), _read(ByteRange(2, 5)))
    assert (caught.value.status, caught.value.key) == (206, KEY)


def test_partial_content_length_must_match_its_header() -> None:
    with pytest.raises(CloudRequestError, match=r"announces 3 bytes but the response holds 2"):
        _result(_response(206, b"23", etag='"v1"', content_range="bytes 2-4/10"), _read(ByteRange(2, 5)))


@pytest.mark.parametrize("content_range", ["bytes 5-9/10", "bytes 5-9/*"])
def test_partial_content_cut_short_at_the_end(content_range: str) -> None:
    # [5, 11) of a 10-byte value: the server sends what there is; the range does not fit.
    with pytest.raises(ValueError, match=r"byte range \[5, 11\) is not valid for the 10-byte value of key "
                                         r"b'dir/value'"):
        _result(_response(206, VALUE[5:], etag='"v1"', content_range=content_range), _read(ByteRange(5, 11)))


@pytest.mark.parametrize("content_range", ["bytes 0-9/10", "bytes 0-9/*"])
def test_suffix_longer_than_the_value(content_range: str) -> None:
    with pytest.raises(ValueError, match=r"byte range \[-11, \) is not valid for the 10-byte value"):
        _result(_response(206, VALUE, etag='"v1"', content_range=content_range), _read(ByteRange(-11, None)))


def test_partial_content_of_other_bytes() -> None:
    with pytest.raises(ValueError, match=r"byte range \[2, 5\) of key b'dir/value' was not satisfied: "
                                         r"s3 sent bytes \[3, 6\) of 10"):
        _result(_response(206, b"345", etag='"v1"', content_range="bytes 3-5/10"), _read(ByteRange(2, 5)))


# -- 200 -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [(ByteRange(), VALUE), (ByteRange(2, 5), b"234"), (ByteRange(-3, None), b"789"),
     (ByteRange(7, None), b"789"), (ByteRange(10, None), b"")],
)
def test_whole_value_is_sliced_locally(byte_range: ByteRange, expected: bytes) -> None:
    # No Range was sent, or the server ignored it: a 200 carries the whole value.
    result = _result(_response(200, VALUE, etag='"v1"'), _read(byte_range))
    assert (result.state, result.value, result.stamp.generation) == ("value", expected, GENERATION)


@pytest.mark.parametrize("byte_range", [ByteRange(5, 11), ByteRange(-11, None), ByteRange(11, None)])
def test_whole_value_out_of_range(byte_range: ByteRange) -> None:
    with pytest.raises(ValueError, match=r"is not valid for the 10-byte value of key b'dir/value'"):
        _result(_response(200, VALUE, etag='"v1"'), _read(byte_range))


# -- metadata-only reads (empty byte ranges) ----------------------------------------
def test_metadata_only_read() -> None:
    head = _response(200, etag='"v1"', content_length="10")
    result = _result(head, _read(ByteRange(4, 4)))
    assert (result.state, result.value, result.stamp.generation) == ("value", b"", GENERATION)
    assert _result(head, _read(ByteRange(10, 10))).value == b""
    for invalid in (ByteRange(11, 11), ByteRange(6, 5)):
        with pytest.raises(ValueError, match=r"is not valid for the 10-byte value of key b'dir/value'"):
            _result(head, _read(invalid))


def test_metadata_only_read_with_a_size_function() -> None:
    response = _response(200, b'{"size": "3"}')
    read = _read(ByteRange(3, 3))
    result = read_result(response, read, lambda r: GENERATION, lambda r: 3)
    assert (result.state, result.value) == ("value", b"")
    with pytest.raises(ValueError, match="is not valid for the 3-byte value"):
        read_result(response, _read(ByteRange(4, 4)), lambda r: GENERATION, lambda r: 3)


def test_metadata_only_read_needs_a_size() -> None:
    with pytest.raises(CloudRequestError, match=r'key "dir/value": the response gives no size'):
        _result(_response(200, etag='"v1"'), _read(ByteRange(4, 4)))


@pytest.mark.parametrize(("status", "byte_range"), [(206, ByteRange(4, 4)), (202, ByteRange())])
def test_unexpected_status(status: int, byte_range: ByteRange) -> None:
    with pytest.raises(CloudRequestError, match=rf'read of key "dir/value": unexpected HTTP {status}'):
        _result(_response(status, etag='"v1"', content_range="bytes 0-0/10"), _read(byte_range))


# -- the three drivers against their local servers -----------------------------------
@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("read-response")
    with static_http_server(str(root)) as url:
        yield root, url


@pytest.fixture(params=["s3", "gcs", "http"])
def store(request: pytest.FixtureRequest) -> ts.KvStore:
    """A store of each driver holding "r" = VALUE."""
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        store = ts.KvStore.open(s3_spec(endpoint, unique_prefix("read-response"))).result()
    elif request.param == "gcs":
        request.getfixturevalue("gcs_url")
        store = ts.KvStore.open(gcs_spec(unique_prefix("read-response"))).result()
    else:
        root, url = request.getfixturevalue("http_root")
        prefix = unique_prefix("read-response")
        (root / prefix).mkdir()
        (root / prefix / "r").write_bytes(VALUE)
        return ts.KvStore.open({"driver": "http", "base_url": url, "path": "/" + prefix,
                                "http_request_retries": FAST_RETRIES}).result()
    store.write("r", VALUE).result()
    return store


@pytest.mark.parametrize("byte_range", [slice(11, None), slice(20, 30), slice(-11, None), slice(5, 11)])
def test_out_of_range_raises_value_error(store: ts.KvStore, byte_range: slice) -> None:
    # The size is named when the server gives it (fake-gcs-server's 416 does not).
    with pytest.raises(ValueError, match=r"byte range \[.*\) is not valid for the (10-byte )?value of key "
                                         r"b'.*read-response.*/r'") as caught:
        store.read("r", byte_range=byte_range).result()
    assert type(caught.value) is ValueError


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [(slice(10, None), b""), (slice(9, None), b"9"), (slice(-10, None), VALUE), (slice(4, 4), b""),
     (slice(10, 10), b""), (slice(2, 5), b"234")],
)
def test_in_range(store: ts.KvStore, byte_range: slice, expected: bytes) -> None:
    assert store.read("r", byte_range=byte_range).result().value == expected


def test_empty_range_out_of_range(store: ts.KvStore) -> None:
    with pytest.raises(ValueError, match=r"byte range \[11, 11\) is not valid for the 10-byte value"):
        store.read("r", byte_range=slice(11, 11)).result()


@pytest.mark.parametrize("byte_range", [None, slice(2, 5), slice(11, None), slice(4, 4)])
def test_missing_and_unchanged(store: ts.KvStore, byte_range: slice | None) -> None:
    missing = store.read("none", byte_range=byte_range).result()
    assert (missing.state, missing.stamp.generation) == ("missing", NO_VALUE)
    assert store.read("none", if_not_equal=NO_VALUE, byte_range=byte_range).result().state == "unspecified"
    current = store.read("r").result().stamp.generation
    if byte_range != slice(11, None):  # servers differ in whether the condition or the range comes first
        unchanged = store.read("r", if_not_equal=current, byte_range=byte_range).result()
        assert (unchanged.state, unchanged.value, unchanged.stamp.generation) == ("unspecified", b"", current)
