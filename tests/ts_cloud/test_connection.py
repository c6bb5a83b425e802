"""The cloud kvstores' HTTP/1.1 client: framing, reuse and failures, against scripted servers.

Each scripted server answers the requests on one accepted connection with canned bytes,
so every framing case (Content-Length, chunked, until close, HEAD, 1xx, folded headers)
is exact. The same requests sent with http.client must give the same status, headers
and body (a differential check against the standard library's parser).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_servers import read_http_request, s3_spec, unique_prefix

import ts_core as ts
from ts_cloud._connection import ConnectFailed, ConnectionPool, HttpProtocolError, split_url

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def scripted_server(responses: list[bytes], close_after: bool = False) -> Iterator[tuple[str, list[bytes]]]:
    """Serve ``responses`` in order, one per request, on as many connections as come;
    yields the base URL and the list of requests received."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    requests: list[bytes] = []
    remaining = list(responses)
    stop = threading.Event()

    def serve_connection(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            while remaining:
                request = read_http_request(connection)
                if request is None:
                    return
                requests.append(b"".join(request))
                connection.sendall(remaining.pop(0))
                if close_after:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


CASES = {
    "content-length": b"HTTP/1.1 200 OK\r\nETag: \"a\"\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nX-T: 1\r\n\r\n",
    "empty chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "interim 100": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    "no content": b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
    "not modified": b"HTTP/1.1 304 Not Modified\r\nETag: \"b\"\r\n\r\n",
    "repeated header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n",
    "folded header": b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nContent-Length: 1\r\n\r\n!",
    "until close": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it",
    "error status": b"HTTP/1.1 503 Slow Down\r\nContent-Length: 4\r\nRetry-After: 1\r\n\r\nbusy",
}


def _with_http_client(url: str, method: str) -> tuple[int, dict[str, str], bytes]:
    origin, target = split_url(url)
    connection = http.client.HTTPConnection(origin.host, origin.port, timeout=10)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        body = response.read()
        headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return response.status, headers, body
    finally:
        connection.close()


@pytest.mark.parametrize("case", list(CASES))
def test_framing_matches_http_client(case: str) -> None:
    with scripted_server([CASES[case]], close_after=True) as (url, _):
        ours = ConnectionPool(4, 5.0, 5.0).request("GET", url + "/k", {})
    with scripted_server([CASES[case]], close_after=True) as (url, _):
        status, headers, body = _with_http_client(url + "/k", "GET")
    assert ours.status == status
    assert ours.body == body
    # http.client keeps folded lines as received; we join them with one space.
    assert {name: " ".join(value.split()) for name, value in ours.headers.items()} == \
        {name: " ".join(value.split()) for name, value in headers.items()}


def test_head_reads_no_body_and_keeps_the_connection() -> None:
    responses = [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"x\"\r\n\r\n",
                 b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"]
    with scripted_server(responses) as (url, requests):
        pool = ConnectionPool(4, 5.0, 5.0)
        head = pool.request("HEAD", url + "/k", {})
        get = pool.request("GET", url + "/k", {})
    assert (head.status, head.headers["content-length"], head.body) == (200, "1000", b"")
    assert get.body == b"abc"
    assert pool.connections_made == 1
    assert len(requests) == 2


def test_connections_are_reused_and_closed_when_the_server_says_so() -> None:
    keep = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n2"
    with scripted_server([keep, keep, close, keep]) as (url, _):
        pool = ConnectionPool(4, 5.0, 5.0)
        bodies = [pool.request("GET", url + f"/{i}", {}).body for i in range(4)]
    assert bodies == [b"1", b"1", b"2", b"1"]
    assert pool.connections_made == 2  # a new one only after "Connection: close"


def test_an_idle_connection_closed_by_the_server_is_not_reused() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with scripted_server([response, response], close_after=True) as (url, requests):
        pool = ConnectionPool(4, 5.0, 5.0)
        assert pool.request("GET", url + "/a", {}).body == b"ok"
        # The server hung up after its answer, without saying so: the pool notices.
        for _ in range(100):
            with contextlib.suppress(Exception):
                assert pool.request("GET", url + "/b", {}).body == b"ok"
                break
        else:
            pytest.fail("the second request never succeeded")
    assert len(requests) == 2
    assert pool.connections_made == 2


def test_request_bytes_on_the_wire() -> None:
    with scripted_server([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 3) as (url, requests):
        pool = ConnectionPool(4, 5.0, 5.0)
        pool.request("PUT", url + "/a%20b?x=1#fragment", {"X-Custom": "v"}, b"body")
        pool.request("GET", url + "/c", {"host": "example.test", "User-Agent": "mine"})
        big = bytes(range(256)) * 1024  # sent after the head, from the caller's buffer
        pool.request("POST", url + "/d", {}, memoryview(big))
    put, get, post = requests
    origin = url.removeprefix("http://")
    assert put == (f"PUT /a%20b?x=1 HTTP/1.1\r\nX-Custom: v\r\nHost: {origin}\r\nContent-Length: 4\r\n"
                   "Accept-Encoding: identity\r\nUser-Agent: ts-cloud\r\n\r\nbody").encode()
    assert get == (b"GET /c HTTP/1.1\r\nhost: example.test\r\nUser-Agent: mine\r\n"
                   b"Accept-Encoding: identity\r\n\r\n")
    assert post.endswith(b"\r\n\r\n" + big)
    assert b"Content-Length: 262144\r\n" in post


@pytest.mark.parametrize("headers", [{"X-A": "one\r\nX-Injected: 1"}, {"Bad Name": "v"}, {"X-A": "nul\x00"}])
def test_headers_that_would_break_the_request_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid HTTP header"):
        ConnectionPool(1, 1.0, 1.0).request("GET", "http://127.0.0.1:9/k", headers)


def test_targets_that_would_break_the_request_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot carry"):
        ConnectionPool(1, 1.0, 1.0).request("GET", "http://127.0.0.1:9/a b", {})
    with pytest.raises(ValueError, match="http or https"):
        ConnectionPool(1, 1.0, 1.0).request("GET", "ftp://127.0.0.1/a", {})


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"",
], ids=["short body", "short chunk", "bad chunk size", "conflicting lengths", "unknown coding",
        "bad status line", "bad header", "cut headers", "no response"])
def test_malformed_or_cut_responses_are_protocol_errors(response: bytes) -> None:
    with scripted_server([response], close_after=True) as (url, _), pytest.raises(HttpProtocolError):
        ConnectionPool(1, 5.0, 5.0).request("GET", url + "/k", {})


def test_a_refused_connection_is_connect_failed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    with pytest.raises(ConnectFailed, match="cannot connect"):
        ConnectionPool(1, 5.0, 5.0).request("GET", f"http://127.0.0.1:{port}/k", {})


def test_split_url() -> None:
    origin, target = split_url("https://user:pw@[::1]:8443/a/b?q=1#f")
    assert (origin.scheme, origin.host, origin.port, origin.host_header, target) == \
        ("https", "::1", 8443, "[::1]:8443", "/a/b?q=1")
    origin, target = split_url("HTTP://Example.test?x=1")
    assert (origin.scheme, origin.port, origin.host_header, target) == ("http", 80, "Example.test", "/?x=1")


def test_s3_requests_reuse_one_connection(s3_endpoint: str) -> None:
    """Sequential reads and writes of an s3 store go over one kept-alive connection."""
    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("reuse"))).result()
    transport = store.driver._transport  # type: ignore[attr-defined]
    before = transport.connections_made
    for index in range(8):
        store.write(f"k{index}", b"v" * index).result()
        assert store.read(f"k{index}").result().value == b"v" * index
    assert transport.connections_made - before <= 1


def test_an_early_answer_to_an_upload_is_the_outcome() -> None:
    """A server that refuses an upload after its headers and closes: its 412 is returned,
    not the broken pipe of the unsent body."""
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            connection.sendall(b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 4\r\nConnection: close\r\n\r\nstop")
            connection.shutdown(socket.SHUT_WR)
            # Read a little of the body, then close with unread data: the client's send fails.
            connection.recv(65536)

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        pool = ConnectionPool(1, 5.0, 5.0)
        response = pool.request("PUT", f"http://127.0.0.1:{listener.getsockname()[1]}/k", {}, bytes(32 << 20))
    finally:
        thread.join(timeout=10)
        listener.close()
    assert (response.status, response.body) == (412, b"stop")


@contextlib.contextmanager
def tls_server(responses: list[bytes], directory: Path) -> Iterator[tuple[str, Path]]:
    """``scripted_server`` behind TLS with a fresh self-signed certificate for 127.0.0.1;
    yields the https URL and the certificate's path."""
    # cryptography is locked (through google-auth): a missing install must fail, not skip.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ts-cloud test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    listener = server_context.wrap_socket(socket.create_server(("127.0.0.1", 0)), server_side=True)
    remaining = list(responses)

    def serve() -> None:
        while remaining:
            try:
                connection, _ = listener.accept()
            except (OSError, ssl.SSLError):
                continue  # a client that refused our certificate
            with connection:
                while remaining:
                    if read_http_request(connection) is None:
                        break
                    connection.sendall(remaining.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", cert_path
    finally:
        remaining.clear()
        listener.close()
        thread.join(timeout=10)


def test_https_checks_the_certificate_and_reuses_connections(tmp_path: Path) -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"
    with tls_server([response] * 3, tmp_path) as (url, cert_path):
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            ConnectionPool(1, 5.0, 5.0).request("GET", url + "/k", {})  # the system store: untrusted
        trusted = ssl.create_default_context(cafile=str(cert_path))
        pool = ConnectionPool(1, 5.0, 5.0, trusted)
        bodies = [pool.request("GET", url + f"/k{i}", {}).body for i in range(3)]
    assert bodies == [b"secret"] * 3
    assert pool.connections_made == 1
