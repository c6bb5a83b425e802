"""The read-only ``http`` kvstore against a stdlib server with Range/ETag support."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_servers import FAST_RETRIES, static_http_server

import ts_core as ts
from ts_core.kvstore import NO_VALUE, UNKNOWN


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("http-root")
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "r").write_bytes(b"0123456789")
    (root / "dir" / "sub" / "leaf").write_bytes(b"x")
    (root / "binary").write_bytes(bytes(range(256)) * 4)
    (root / "large").write_bytes(bytes(range(251)) * (4 << 10))
    (root / "empty").write_bytes(b"")
    for name in ("sp ace", "q?x=1", "50%", "h#t", "\u00fc"):
        (root / name).write_bytes(name.encode())
    with static_http_server(str(root)) as url:
        yield root, url


@pytest.fixture
def store(served: tuple[Path, str]) -> ts.KvStore:
    return ts.KvStore.open({"driver": "http", "base_url": served[1], "path": "/",
                            "http_request_retries": FAST_RETRIES}).result()


def test_read_missing(store: ts.KvStore) -> None:
    result = store.read("missing").result()
    assert (result.state, result.value, result.stamp.generation) == ("missing", b"", NO_VALUE)
    assert store.read("missing", if_not_equal=NO_VALUE).result().state == "unspecified"


def test_read_values(store: ts.KvStore) -> None:
    assert store["r"] == b"0123456789"
    assert store["dir/sub/leaf"] == b"x"
    assert store["binary"] == bytes(range(256)) * 4
    assert store["large"] == bytes(range(251)) * (4 << 10)
    empty = store.read("empty").result()
    assert (empty.state, empty.value) == ("value", b"")


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [(slice(2, 5), b"234"), (slice(None, 3), b"012"), (slice(7, None), b"789"),
     (slice(-3, None), b"789"), (slice(4, 4), b""), (slice(0, 10), b"0123456789")],
)
def test_byte_range(store: ts.KvStore, byte_range: slice, expected: bytes) -> None:
    assert store.read("r", byte_range=byte_range).result().value == expected


@pytest.mark.parametrize("byte_range", [slice(5, 11), slice(-11, None), slice(6, 5), slice(11, None)])
def test_byte_range_out_of_bounds(store: ts.KvStore, byte_range: slice) -> None:
    with pytest.raises(ValueError, match="byte range"):
        store.read("r", byte_range=byte_range).result()


def test_byte_range_of_missing_key(store: ts.KvStore) -> None:
    assert store.read("none", byte_range=slice(0, 5)).result().state == "missing"


def test_etag_generation_and_if_not_equal(served: tuple[Path, str], store: ts.KvStore) -> None:
    first = store.read("r").result()
    assert first.stamp.generation not in (UNKNOWN, NO_VALUE)
    unchanged = store.read("r", if_not_equal=first.stamp.generation).result()
    assert unchanged.state == "unspecified"
    path = served[0] / "changing"
    path.write_bytes(b"1")
    before = store.read("changing").result()
    time.sleep(0.01)
    path.write_bytes(b"22")
    os.utime(path)
    after = store.read("changing", if_not_equal=before.stamp.generation).result()
    assert (after.state, after.value) == ("value", b"22")
    assert after.stamp.generation != before.stamp.generation


def test_unusual_names(store: ts.KvStore) -> None:
    for name in ("sp ace", "q?x=1", "50%", "h#t", "\u00fc"):
        assert store[name] == name.encode()


def test_writes_are_refused(store: ts.KvStore) -> None:
    with pytest.raises(ValueError, match="read-only"):
        store.write("r", b"x").result()
    with pytest.raises(ValueError, match="read-only"):
        store.delete("r").result()
    with pytest.raises(ValueError, match="listing"):
        store.list().result()


def test_headers_are_sent_and_validated(served: tuple[Path, str]) -> None:
    store = ts.KvStore.open({"driver": "http", "base_url": served[1], "headers": ["X-Test: 1"]}).result()
    assert store["/r"] == b"0123456789"
    with pytest.raises(ValueError, match=r"headers\[0\]"):
        ts.KvStore.open({"driver": "http", "base_url": served[1], "headers": ["no colon"]}).result()


def test_url_round_trip(served: tuple[Path, str]) -> None:
    url = served[1] + "/dir/sub/"
    spec = ts.KvStore.Spec(url)
    assert spec.to_json() == {"driver": "http", "base_url": served[1], "path": "/dir/sub/"}
    assert spec.url == url
    store = ts.KvStore.open(url).result()
    assert store["leaf"] == b"x"
    assert ts.KvStore.Spec("https://example.com").to_json() == {"driver": "http", "base_url": "https://example.com"}


@pytest.fixture
def echo_server() -> Iterator[tuple[str, list[str]]]:
    """A server answering every GET with the request target it received (path + query)."""
    import http.server
    import threading

    seen: list[str] = []

    class Echo(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_base_url_query_is_sent_with_every_request_as_the_wheel_does(echo_server: tuple[str, list[str]]) -> None:
    import tensorstore

    base, seen = echo_server
    spec = {"driver": "http", "base_url": f"{base}/data?token=a%20b&x=1", "path": "sub/"}
    ours = ts.KvStore.open(spec).result()
    theirs = tensorstore.KvStore.open(spec).result()
    assert ours.spec().to_json() == theirs.spec().to_json() == {
        "driver": "http", "base_url": f"{base}?token=a%20b&x=1", "path": "/data/sub/"}
    assert ours.spec().url == theirs.spec().url == f"{base}/data/sub/?token=a%20b&x=1"
    for store in (ours, theirs):
        assert store["k 1"] == b"/data/sub/k%201?token=a%20b&x=1"
    assert seen == ["/data/sub/k%201?token=a%20b&x=1"] * 2


@pytest.mark.parametrize(("json", "member", "message"), [
    ({"base_url": "http://h/p", "path": "/a"}, "kvstore.path", 'Cannot specify absolute path "/a"'),
    ({"base_url": "http://h/p#frag"}, "kvstore.base_url", "Fragment identifier not supported"),
])
def test_bad_base_url_and_path_name_the_member(json: dict[str, str], member: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(member)}: {re.escape(message)}"):
        ts.KvStore.Spec({"driver": "http", **json}, json_path="kvstore")
