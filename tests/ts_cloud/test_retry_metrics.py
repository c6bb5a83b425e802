"""Retries of the cloud transport are counted in /tensorstore/kvstore/<service>/retries."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

import ts_core as ts


def _retries(service: str) -> float:
    name = f"/tensorstore/kvstore/{service}/retries"
    for metric in ts.experimental_collect_matching_metrics(name, include_zero_metrics=True):
        if metric["name"] == name:
            return float(metric["values"][0]["value"])
    return 0.0


@pytest.fixture
def flaky_server() -> Iterator[str]:
    """Answers 503 to the first two GETs, then the value."""
    failures = [503, 503]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if failures:
                self.send_response(failures.pop())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"payload"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_http_retries_are_counted(flaky_server: str) -> None:
    before = _retries("http")
    kvstore = ts.KvStore.open(
        {
            "driver": "http",
            "base_url": flaky_server,
            "context": {"http_request_retries": {"max_retries": 4, "initial_delay": "1ms", "max_delay": "2ms"}},
        }
    ).result()
    assert kvstore.read("value").result().value == b"payload"
    assert _retries("http") - before == 2
