"""ts.experimental_* metrics functions: tensorstore's return shapes over ts's registry."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tensorstore

import ts_core
from ts_core import metrics


def _shape(entries: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """Which keys each value row has, by metric kind (value / max_value / histogram)."""
    return {tuple(sorted(key for key in row if not key.isdigit())) for entry in entries for row in entry["values"]}


def test_kvstore_counters_have_the_wheels_names_and_shapes() -> None:
    recorded = metrics.kvstore_metrics("file")
    recorded.read.increment()
    recorded.bytes_read.increment(26)
    recorded.read_latency_ms.observe(0.4)
    ours = ts_core.experimental_collect_matching_metrics("/tensorstore/kvstore/file/", include_zero_metrics=True)
    theirs = tensorstore.experimental_collect_matching_metrics("/tensorstore/kvstore/file/", include_zero_metrics=True)
    our_names = {entry["name"] for entry in ours}
    assert our_names <= {entry["name"] for entry in theirs}
    assert {"/tensorstore/kvstore/file/read", "/tensorstore/kvstore/file/write",
            "/tensorstore/kvstore/file/bytes_read", "/tensorstore/kvstore/file/read_latency_ms"} <= our_names
    assert _shape(ours) == _shape(theirs) == {("value",), ("count", "mean", "sum_of_squared_deviation")}
    read = next(entry for entry in ours if entry["name"] == "/tensorstore/kvstore/file/read")
    assert read["values"][0]["value"] >= 1
    latency = next(entry for entry in ours if entry["name"] == "/tensorstore/kvstore/file/read_latency_ms")
    assert latency["values"][0]["1"] >= 1  # 0.4 ms lands in the bucket below 1


def test_zero_metrics_are_left_out_unless_asked() -> None:
    counter = metrics.counter("/ts_test/zero_or_not", "test counter", "category")
    counter.increment(0, "a")
    assert ts_core.experimental_collect_matching_metrics("/ts_test/zero_or_not") == []
    counter.increment(2, "b")
    # a metric with any non-zero value is reported whole, zero rows included (as tensorstore does)
    assert ts_core.experimental_collect_matching_metrics("/ts_test/zero_or_not") == [
        {"name": "/ts_test/zero_or_not", "values": [{"category": "a", "value": 0}, {"category": "b", "value": 2}]}
    ]


def test_gauge_and_histogram_rows() -> None:
    gauge = metrics.gauge("/ts_test/in_flight", "in flight")
    gauge.increment()
    gauge.increment()
    gauge.decrement()
    histogram = metrics.histogram("/ts_test/sizes", "sizes", unit="bytes")
    for value in (0.5, 3, 3):
        histogram.observe(value)
    collected = {entry["name"]: entry["values"] for entry in ts_core.experimental_collect_matching_metrics("/ts_test/")}
    assert collected["/ts_test/in_flight"] == [{"max_value": 2, "value": 1}]
    row = collected["/ts_test/sizes"][0]
    assert {key: row[key] for key in ("0", "1", "2", "4", "count")} == {"0": 0, "1": 1, "2": 0, "4": 2, "count": 3}
    assert row["mean"] == pytest.approx(6.5 / 3)
    assert row["sum_of_squared_deviation"] == pytest.approx(sum((v - 6.5 / 3) ** 2 for v in (0.5, 3, 3)))


def test_prometheus_lines_follow_the_wheels_format() -> None:
    metrics.kvstore_metrics("file").read.increment()
    ours = ts_core.experimental_collect_prometheus_format_metrics("/tensorstore/kvstore/file/read")
    theirs = tensorstore.experimental_collect_prometheus_format_metrics("/tensorstore/kvstore/file/read")
    assert [line.split(" ")[0] for line in ours if line.startswith("#")] == [
        line.split(" ")[0] for line in theirs if line.startswith("#")
    ]
    assert "# HELP tensorstore_kvstore_file_read file kvstore::Read calls" in ours
    assert '# TYPE tensorstore_kvstore_file_read_latency_ms histogram' in ours
    assert any(line.startswith("tensorstore_kvstore_file_read ") for line in ours)
    assert ours[-1].startswith('tensorstore_kvstore_file_read_latency_ms_bucket {le="+Inf"}')


def test_kinds_and_fields_are_fixed_once_registered() -> None:
    metrics.counter("/ts_test/fixed", "a counter")
    with pytest.raises(ValueError, match="already registered as a counter"):
        metrics.gauge("/ts_test/fixed", "now a gauge")
    with pytest.raises(ValueError, match="must start with '/'"):
        metrics.counter("no_slash", "bad name")


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.command, self.path, body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", received
    server.shutdown()
    server.server_close()


def test_push_to_a_pushgateway(pushgateway: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, received = pushgateway
    metrics.counter("/ts_test/pushed", "pushed counter").increment(7)
    future = ts_core.experimental_push_metrics_to_prometheus(url, job="j", instance="i", metric_prefix="/ts_test/pushed")
    assert isinstance(future, ts_core.Future)
    assert future.result(timeout=30) == 202
    assert received == [("PUT", "/metrics/job/j/instance/i", b"# HELP ts_test_pushed pushed counter\nts_test_pushed 7\n")]


@pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])
def test_push_errors(ts: Any) -> None:
    with pytest.raises(ValueError, match="bad job"):
        ts.experimental_push_metrics_to_prometheus("http://127.0.0.1:9/").result(timeout=30)
    with pytest.raises(ValueError, match="UNAVAILABLE"):
        ts.experimental_push_metrics_to_prometheus("http://127.0.0.1:9/", job="j").result(timeout=30)
