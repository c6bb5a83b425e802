"""An s3 PUT whose body is cut short is never stored.

A writer killed after sending a PUT's headers but before all of its body used to leave
an empty object on SeaweedFS (an OCDBT ``manifest.ocdbt`` emptied by ``kill -9``). The s3
kvstore sends the value's CRC-32 (``x-amz-checksum-crc32``) with every PUT, so the server
refuses what does not match. SeaweedFS checks that header (and ``Content-MD5``) but not the
signed ``x-amz-content-sha256``, so a signed PUT needs it too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from cloud_servers import (
    S3_ACCESS_KEY,
    S3_BUCKET,
    S3_SECRET_KEY,
    read_http_request,
    s3_spec,
    unique_prefix,
)

import ts_core as ts
from ts_core.kvstore import NO_VALUE

pytestmark = pytest.mark.timeout(120)


@contextlib.contextmanager
def truncating_proxy(upstream: str, requests: list[bytes], fraction: float) -> Iterator[str]:
    """A proxy that passes each request's head and only ``fraction`` of its body to
    ``upstream``, then drops both connections: the server sees what a writer killed
    mid-upload sent. Heads go to ``requests``."""
    parts = urlsplit(upstream)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # closing it does not wake accept(): poll ``stop``
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(10)
            with client:
                request = read_http_request(client)
                if request is None:
                    continue
                head, body = request
                requests.append(head)
                with socket.create_connection(address) as server:
                    server.sendall(head + body[: int(len(body) * fraction)])
                    server.shutdown(socket.SHUT_WR)
                    # Wait for the server's answer (it has then handled the request), and
                    # hang up on the client without one.
                    server.settimeout(10)
                    with contextlib.suppress(OSError):
                        server.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}


def _md5_header(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _crc32_header(body: bytes) -> str:
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("signed", [False, True], ids=["anonymous", "signed"])
@pytest.mark.parametrize("fraction", [0.0, 0.5], ids=["headers only", "half the body"])
def test_a_put_cut_short_stores_nothing(
    s3_endpoint: str, fraction: float, signed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS without a checksum header stores an empty object when only the headers arrive."""
    path = unique_prefix("cut-short")
    store = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    store["manifest.ocdbt"] = b"the committed manifest"
    requests: list[bytes] = []
    credentials: dict[str, object] = {}
    if signed:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        credentials["aws_credentials"] = {"type": "environment"}
    with truncating_proxy(s3_endpoint, requests, fraction) as proxy:
        cut = ts.KvStore.open(s3_spec(proxy, path, s3_request_retries={"max_retries": 1}, **credentials)).result()
        with pytest.raises(Exception, match=r"(?i)s3|manifest\.ocdbt"):
            cut.write("manifest.ocdbt", b"a newer manifest, never fully sent").result()
    assert requests, "the write never reached the proxy"
    assert store["manifest.ocdbt"] == b"the committed manifest"
    new_value = b"a newer manifest, never fully sent"
    for head in requests:
        headers = _headers(head)
        assert headers["x-amz-checksum-crc32"] == _crc32_header(new_value)
        # Signed over plain HTTP, the signature covers the body's SHA-256.
        assert headers.get("x-amz-content-sha256") == (hashlib.sha256(new_value).hexdigest() if signed else None)
    # A key that did not exist is not created empty either.
    with truncating_proxy(s3_endpoint, requests, fraction) as proxy:
        cut = ts.KvStore.open(s3_spec(proxy, path, s3_request_retries={"max_retries": 1})).result()
        with pytest.raises(Exception, match=r"(?i)s3|fresh"):
            cut.write("fresh", b"0123456789").result()
    assert store.read("fresh").result().state == "missing"


@pytest.mark.parametrize(("header", "digest"), [("x-amz-checksum-crc32", _crc32_header),
                                                ("Content-MD5", _md5_header)])
def test_the_server_refuses_a_body_whose_checksum_differs(
    s3_endpoint: str, header: str, digest: Callable[[bytes], str]
) -> None:
    """What the header buys: SeaweedFS (as S3) answers 400 and keeps the old object.
    (Multipart parts carry Content-MD5.)"""
    path = unique_prefix("bad-checksum")
    store = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    store["k"] = b"old"
    parts = urlsplit(s3_endpoint)
    body = b"new value"
    with socket.create_connection((parts.hostname, parts.port)) as connection:
        connection.sendall(
            f"PUT /{S3_BUCKET}/{path}k HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n"
            f"{header}: {digest(b'something else')}\r\nConnection: close\r\n\r\n".encode() + body
        )
        connection.settimeout(10)
        status_line = connection.recv(65536).split(b"\r\n")[0]
    assert b" 400 " in status_line
    assert store["k"] == b"old"


def test_writes_still_work(s3_endpoint: str) -> None:
    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("md5-writes"))).result()
    values = {"empty": b"", "small": b"x", "large": bytes(range(256)) * 4096}
    for key, value in values.items():
        store[key] = value
    assert {key: store[key] for key in values} == values
    generation = store.read("small").result().stamp.generation
    assert store.write("small", b"y", if_equal=generation).result().generation != generation
    assert store.write("absent", b"z", if_equal=NO_VALUE).result().generation
    assert store["absent"] == b"z"
