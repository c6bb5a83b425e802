"""Keep-alive HTTP/1.1 connections for the cloud kvstores: pooled sockets, lean framing.

The kvstores send small, simple requests (a GET of a chunk, a PUT of a value) from many
worker threads and need only status, headers and the complete body back. urllib3 and
http.client spent 0.1-0.15 ms of Python per request on that (URL parsing, pool lookup,
``email``-based header parsing, response wrappers): on a loopback object store a
quarter of a small read. This module does just what the kvstores need:

* one pool of idle connections per origin (scheme, host, port), most recently used
  first, at most ``max_idle`` kept per origin; DNS is resolved when a connection is made;
* ``TCP_NODELAY`` and the request head sent with a small body in one segment;
* the body is sent from the caller's buffer (no copy) and read in one piece;
* responses framed by ``Content-Length``, chunked transfer coding or end of stream
  (RFC 9112 section 6.3); interim 1xx responses skipped;
* an idle connection the server has closed is noticed before it is reused.

Failures are :class:`OSError`\\ s. :class:`ConnectFailed` means the request never left
this process, so the caller may retry any request; after any other error the server
may have received (and applied) it.
"""

from __future__ import annotations

import functools
import re
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["ConnectFailed", "ConnectionPool", "HttpProtocolError", "RawResponse"]

#: Longest status or header line accepted, and most header fields (as http.client).
MAX_LINE = 65536
MAX_HEADERS = 100
#: Bodies up to this size go out in the same send() as the request head.
COALESCE_BODY_BYTES = 64 << 10
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Header names we add unless the caller gave them (compared in lower case).
_USER_AGENT = "ts-cloud"
# RFC 9110 section 5.6.2 token characters, for header names.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Never allowed in a header value or the request target: they would end the line early.
_LINE_BREAKING = re.compile(r"[\r\n\x00]")
_TARGET_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# Header names already found to be tokens: requests repeat a handful of names.
_CHECKED_NAMES: set[str] = set()
_MAX_CHECKED_NAMES = 256


class ConnectFailed(OSError):
    """No connection could be made: the request was never sent."""


class HttpProtocolError(OSError):
    """The server's response could not be parsed, or ended early."""


class RawResponse(NamedTuple):
    """Status, headers (names in lower case, repeated fields joined by ", ") and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Origin(NamedTuple):
    scheme: str
    host: str  # for connecting: no brackets around IPv6 literals
    port: int
    host_header: str  # as sent in ``Host``


@functools.lru_cache(maxsize=256)
def _parse_origin(origin: str) -> _Origin:
    scheme, _, netloc = origin.partition("://")
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not netloc:
        raise ValueError(f"expected an http or https URL, but received: {origin!r}")
    hostport = netloc.rpartition("@")[2]  # userinfo is never sent
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host or (port_text and not port_text.isdigit()):
        raise ValueError(f"invalid host or port in URL: {origin!r}")
    port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    return _Origin(scheme, host, port, hostport)


def split_url(url: str) -> tuple[_Origin, str]:
    """(origin, request target) of an absolute http(s) URL; the fragment is dropped."""
    scheme_end = url.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    end = len(url)
    for delimiter in "/?#":
        found = url.find(delimiter, start)
        if 0 <= found < end:
            end = found
    target = url[end:].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    if _TARGET_FORBIDDEN.search(target):
        raise ValueError(f"the URL path contains characters HTTP cannot carry: {target!r}")
    return _parse_origin(url[:end]), target


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Certificates are checked against the system's trust store (SSL_CERT_FILE and
    # SSL_CERT_DIR apply), host names are verified.
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Connection:
    """One socket and its buffered reader; used by one thread at a time."""

    __slots__ = ("origin", "poller", "reader", "sock")

    def __init__(self, origin: _Origin, connect_timeout: float, read_timeout: float,
                 tls_context: ssl.SSLContext | None) -> None:
        self.origin = origin
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=connect_timeout)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {origin.host_header}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = (tls_context or _tls_context()).wrap_socket(sock, server_hostname=origin.host)
        except OSError as exc:
            sock.close()
            raise ConnectFailed(f"cannot connect to {origin.host_header}: {exc}") from exc
        sock.settimeout(read_timeout)
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.poller: select.poll | None = None
        if hasattr(select, "poll"):  # not on Windows
            self.poller = select.poll()
            self.poller.register(sock, select.POLLIN)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def dropped(self) -> bool:
        """Whether an idle connection is unusable: readable means closed (or junk sent)."""
        if self.sock.fileno() < 0:
            return True
        if self.poller is None:  # Windows
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable)
        return bool(self.poller.poll(0))

    def send(self, head: bytes, body: bytes | memoryview | None) -> None:
        if body is not None and 0 < len(body) <= COALESCE_BODY_BYTES:
            self.sock.sendall(head + body)
            return
        self.sock.sendall(head)
        if body:
            self.sock.sendall(body)

    def receive(self, method: str) -> tuple[RawResponse, bool]:
        """The next response and whether the connection may be reused."""
        while True:
            version, status = self._status_line()
            headers = self._headers()
            if status >= 200 or status == 101:
                break  # 1xx responses other than 101 are interim: the real one follows
        connection = headers.get("connection", "").lower()
        keep_alive = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
        if method == "HEAD" or status in (101, 204, 304):
            return RawResponse(status, headers, b""), keep_alive and status != 101
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.lower() != "identity":
            if coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
                raise HttpProtocolError(f"unsupported Transfer-Encoding {coding!r}")
            return RawResponse(status, headers, self._chunked_body()), keep_alive
        length_text = headers.get("content-length")
        if length_text is None:
            return RawResponse(status, headers, self.reader.read()), False  # until the server closes
        length = _content_length(length_text)
        body = self.reader.read(length)
        if len(body) != length:
            raise HttpProtocolError(f"the connection closed after {len(body)} of {length} body bytes")
        return RawResponse(status, headers, body), keep_alive

    def _line(self) -> bytes:
        line = self.reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HttpProtocolError("a response line is longer than 64 KiB")
        return line

    def _status_line(self) -> tuple[str, int]:
        line = self._line()
        if not line:
            raise HttpProtocolError("the server closed the connection without a response")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise HttpProtocolError(f"invalid HTTP status line {line[:100]!r}")
        return parts[0].decode("ascii", "replace"), int(parts[1])

    def _headers(self) -> dict[str, str]:
        # The lines are gathered first and parsed after: half the time of parsing each
        # as it is read (this runs for every response).
        readline = self.reader.readline
        lines: list[bytes] = []
        while True:
            line = readline(MAX_LINE + 1)
            if line == b"\r\n" or line == b"\n":
                break
            if not line:
                raise HttpProtocolError("the connection closed inside the response headers")
            if len(line) > MAX_LINE:
                raise HttpProtocolError("a response header line is longer than 64 KiB")
            if len(lines) == MAX_HEADERS:
                raise HttpProtocolError(f"more than {MAX_HEADERS} response headers")
            lines.append(line)
        headers: dict[str, str] = {}
        name = ""
        for line in lines:
            text = line.decode("latin-1")
            if text[0] in " \t" and name:  # obsolete line folding continues the last value
                headers[name] += " " + text.strip()
                continue
            name, separator, value = text.partition(":")
            if not separator:
                raise HttpProtocolError(f"invalid response header line {line[:100]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _chunked_body(self) -> bytes:
        chunks = []
        while True:
            size_line = self._line()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpProtocolError(f"invalid chunk size line {size_line[:100]!r}") from None
            if size == 0:
                break
            chunk = self.reader.read(size)
            if len(chunk) != size or self.reader.read(2) != b"\r\n":
                raise HttpProtocolError("the connection closed inside a chunk of the response")
            chunks.append(chunk)
        while self._line() not in (b"\r\n", b"\n", b""):  # trailer fields are not used
            pass
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _content_length(text: str) -> int:
    if text.isdigit():
        return int(text)
    # A repeated header arrives joined ("5, 5"): acceptable only when all agree.
    values = {value.strip() for value in text.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HttpProtocolError(f"invalid Content-Length {text!r}")
    return int(values.pop())


def _request_head(method: str, target: str, origin: _Origin, headers: Mapping[str, str],
                  body: bytes | memoryview | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    given = set()
    for name, value in headers.items():
        if name not in _CHECKED_NAMES:
            if not _TOKEN.match(name):
                raise ValueError(f"invalid HTTP header {name!r}: {str(value)[:100]!r}")
            if len(_CHECKED_NAMES) < _MAX_CHECKED_NAMES:
                _CHECKED_NAMES.add(name)
        given.add(name.lower())
        lines.append(f"{name}: {value}")
    # One search over all the values (joined by a space, which breaks no line).
    if _LINE_BREAKING.search(" ".join(lines[1:])):
        for name, value in headers.items():
            if _LINE_BREAKING.search(str(value)):
                raise ValueError(f"invalid HTTP header {name!r}: {str(value)[:100]!r}")
    if "host" not in given:
        lines.append(f"Host: {origin.host_header}")
    if body is not None or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {0 if body is None else len(body)}")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: identity")  # the stored bytes, never a transcoding
    if "user-agent" not in given:
        lines.append(f"User-Agent: {_USER_AGENT}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


class ConnectionPool:
    """Idle keep-alive connections by origin; safe to share between threads.

    ``tls_context`` replaces the default (system trust store, host names checked).
    """

    def __init__(self, max_idle: int, connect_timeout: float, read_timeout: float,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.tls_context = tls_context
        self._lock = threading.Lock()
        self._idle: dict[_Origin, list[_Connection]] = {}
        #: Connections made so far (what tests count to see that connections are reused).
        self.connections_made = 0

    def request(self, method: str, url: str, headers: Mapping[str, str],
                body: bytes | memoryview | None = None) -> RawResponse:
        """Send one request and return its complete response."""
        origin, target = split_url(url)
        head = _request_head(method, target, origin, headers, body)
        connection = self._acquire(origin)
        try:
            try:
                connection.send(head, body)
            except (BrokenPipeError, ConnectionResetError) as send_error:
                # A server may answer before reading the whole body (refusing an upload)
                # and close: that answer, if it arrived, is the outcome.
                try:
                    response, _ = connection.receive(method)
                except OSError:
                    raise send_error from None
                connection.close()
                return response
            response, reusable = connection.receive(method)
        except BaseException:
            connection.close()
            raise
        if reusable:
            self._release(connection)
        else:
            connection.close()
        return response

    def _acquire(self, origin: _Origin) -> _Connection:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if not connection.dropped():
                return connection
            connection.close()
        connection = _Connection(origin, self.connect_timeout, self.read_timeout, self.tls_context)
        with self._lock:
            self.connections_made += 1
        return connection

    def _release(self, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(connection.origin, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
                return
        connection.close()
