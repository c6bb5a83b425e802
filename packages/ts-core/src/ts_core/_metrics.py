"""A small in-process metrics registry, read through tensorstore's ``experimental_*`` functions.

Components record what they do in named metrics (``/tensorstore/kvstore/file/read``, ...);
``experimental_collect_matching_metrics`` returns them in tensorstore's shape (a list of
``{"name": ..., "values": [...]}``), ``experimental_collect_prometheus_format_metrics`` as
Prometheus exposition lines, and ``experimental_push_metrics_to_prometheus`` sends those to
a Pushgateway. Recording is a lock and an addition, cheap enough for per-request counts.
"""

from __future__ import annotations

import math
import os
import threading
import urllib.parse
from typing import Any

from ._future import Future

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "KvStoreMetrics",
    "counter",
    "experimental_collect_matching_metrics",
    "experimental_collect_prometheus_format_metrics",
    "experimental_push_metrics_to_prometheus",
    "gauge",
    "histogram",
    "kvstore_metrics",
]

_lock = threading.Lock()
_registry: dict[str, Metric] = {}


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


class Metric:
    """Base of the metric kinds: a name (``/component/what``), a description, a unit and
    the names of the fields that split its values (``category``, ``code``, ...)."""

    kind = ""

    def __init__(self, name: str, description: str, fields: tuple[str, ...] = (), unit: str = "") -> None:
        if not name.startswith("/") or name.endswith("/"):
            raise ValueError(f"metric name {name!r} must start with '/' and not end with one")
        self.name = name
        self.description = description
        self.fields = fields
        self.unit = unit
        self._cells: dict[tuple[str, ...], Any] = {}

    def _key(self, field_values: tuple[Any, ...]) -> tuple[str, ...]:
        if len(field_values) != len(self.fields):
            raise TypeError(f"metric {self.name}: expected values for fields {self.fields}, got {field_values!r}")
        return tuple(str(value) for value in field_values)

    def _rows(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        raise NotImplementedError

    def collect(self, include_zero: bool) -> dict[str, Any] | None:
        """This metric in tensorstore's collected shape, or None if all zero (unless asked)."""
        with _lock:
            rows = self._rows()
        values = [{**dict(zip(self.fields, key, strict=True)), **cell} for key, cell in sorted(rows)]
        if not values or not (include_zero or any(value for row in rows for value in row[1].values())):
            return None
        return {"name": self.name, "values": values}


class Counter(Metric):
    """A count that only grows (calls made, bytes moved)."""

    kind = "counter"

    def increment(self, amount: float = 1, *field_values: Any) -> None:
        key = self._key(field_values) if field_values or self.fields else ()
        with _lock:
            self._cells[key] = self._cells.get(key, 0) + amount

    def get(self, *field_values: Any) -> float:
        with _lock:
            return self._cells.get(self._key(field_values), 0)  # type: ignore[no-any-return]

    def _rows(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        cells = self._cells or ({(): 0} if not self.fields else {})
        return [(key, {"value": value}) for key, value in cells.items()]


class Gauge(Metric):
    """A level that goes up and down (operations in flight), with the highest it reached."""

    kind = "gauge"

    def increment(self, amount: float = 1, *field_values: Any) -> None:
        key = self._key(field_values)
        with _lock:
            value, peak = self._cells.get(key, (0, 0))
            value += amount
            self._cells[key] = (value, max(peak, value))

    def decrement(self, amount: float = 1, *field_values: Any) -> None:
        self.increment(-amount, *field_values)

    def set(self, value: float, *field_values: Any) -> None:
        key = self._key(field_values)
        with _lock:
            self._cells[key] = (value, max(self._cells.get(key, (0, 0))[1], value))

    def _rows(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        cells = self._cells or ({(): (0, 0)} if not self.fields else {})
        return [(key, {"max_value": peak, "value": value}) for key, (value, peak) in cells.items()]


class Histogram(Metric):
    """A distribution (latencies, sizes) in power-of-two buckets: bucket ``"b"`` counts the
    values below ``b`` and at or above the previous bound (``"0"`` holds negatives)."""

    kind = "histogram"

    def observe(self, value: float, *field_values: Any) -> None:
        key = self._key(field_values) if field_values or self.fields else ()
        with _lock:
            self._observe_locked(key, value)

    def _observe_locked(self, key: tuple[str, ...], value: float) -> None:
        """Record ``value`` in the cell ``key``; the caller holds ``_lock``."""
        bound = 1 if 0 <= value < 1 else 0 if value < 0 else 2 ** (math.floor(math.log2(value)) + 1)
        cell = self._cells.get(key)
        if cell is None:  # [count, sum, sum of squares, {bound: count}]: cheap to update
            cell = self._cells[key] = [0, 0.0, 0.0, {}]
        cell[0] += 1
        cell[1] += value
        cell[2] += value * value
        buckets = cell[3]
        buckets[bound] = buckets.get(bound, 0) + 1

    def _rows(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        cells = self._cells or ({(): (0, 0.0, 0.0, {})} if not self.fields else {})
        rows = []
        for key, (count, total, total_squares, buckets) in cells.items():
            mean = total / count if count else 0.0
            squares = max(0.0, total_squares - total * mean)  # sum of squared deviations
            cell: dict[str, Any] = {}
            if buckets:
                top = max(buckets)
                bound = 0
                while True:
                    cell[str(bound)] = buckets.get(bound, 0)
                    if bound >= top:
                        break
                    bound = 1 if bound == 0 else bound * 2
            cell.update(count=count, mean=float(mean), sum_of_squared_deviation=float(squares))
            rows.append((key, cell))
        return rows


def _get_or_add(cls: type[Metric], name: str, description: str, fields: tuple[str, ...], unit: str) -> Any:
    with _lock:
        existing = _registry.get(name)
        if existing is None:
            existing = _registry[name] = cls(name, description, fields, unit)
    if type(existing) is not cls or existing.fields != fields:
        raise ValueError(f"metric {name} is already registered as a {existing.kind} with fields {existing.fields}")
    return existing


def counter(name: str, description: str, *fields: str, unit: str = "") -> Counter:
    """The counter called ``name``, registered on first use."""
    return _get_or_add(Counter, name, description, fields, unit)  # type: ignore[no-any-return]


def gauge(name: str, description: str, *fields: str, unit: str = "") -> Gauge:
    """The gauge called ``name``, registered on first use."""
    return _get_or_add(Gauge, name, description, fields, unit)  # type: ignore[no-any-return]


def histogram(name: str, description: str, *fields: str, unit: str = "") -> Histogram:
    """The histogram called ``name``, registered on first use."""
    return _get_or_add(Histogram, name, description, fields, unit)  # type: ignore[no-any-return]


class KvStoreMetrics:
    """The per-driver kvstore metrics tensorstore keeps, under ``/tensorstore/kvstore/<driver>/``."""

    def __init__(self, driver: str) -> None:
        prefix = f"/tensorstore/kvstore/{driver}"
        self.read = counter(f"{prefix}/read", f"{driver} kvstore::Read calls")
        self.write = counter(f"{prefix}/write", f"{driver} kvstore::Write calls")
        self.list = counter(f"{prefix}/list", f"{driver} kvstore::List calls")
        self.delete_range = counter(f"{prefix}/delete_range", f"{driver} kvstore::DeleteRange calls")
        self.bytes_read = counter(f"{prefix}/bytes_read", f"Bytes read by the {driver} kvstore driver")
        self.bytes_written = counter(f"{prefix}/bytes_written", f"Bytes written by the {driver} kvstore driver")
        self.retries = counter(f"{prefix}/retries", f"{driver} kvstore retries")
        self.read_latency_ms = histogram(
            f"{prefix}/read_latency_ms", f"{driver} kvstore::Read latency (ms)", unit="milliseconds"
        )
        self.write_latency_ms = histogram(
            f"{prefix}/write_latency_ms", f"{driver} kvstore::Write latency (ms)", unit="milliseconds"
        )

    # One lock for all the metrics of a call: kvstores record every read and write.
    def record_read(self, value_size: int | None, latency_ms: float) -> None:
        """A read call; one that returned a value (``value_size`` bytes) also counts in
        ``bytes_read`` and ``read_latency_ms``, as in tensorstore."""
        with _lock:  # the counters' cells updated inline: this runs for every read
            calls = self.read._cells
            calls[()] = calls.get((), 0) + 1
            if value_size is not None:
                sizes = self.bytes_read._cells
                sizes[()] = sizes.get((), 0) + value_size
                self.read_latency_ms._observe_locked((), latency_ms)

    def record_write(self, value_size: int | None, latency_ms: float) -> None:
        """A write call; one that stored a value (not a delete) also counts in
        ``bytes_written`` and ``write_latency_ms``, as in tensorstore."""
        with _lock:  # the counters' cells updated inline: this runs for every write
            calls = self.write._cells
            calls[()] = calls.get((), 0) + 1
            if value_size is not None:
                sizes = self.bytes_written._cells
                sizes[()] = sizes.get((), 0) + value_size
                self.write_latency_ms._observe_locked((), latency_ms)


_kvstore_metrics: dict[str, KvStoreMetrics] = {}


def kvstore_metrics(driver: str) -> KvStoreMetrics:
    """The metrics a kvstore driver (``"file"``, ``"gcs"``, ...) records its operations in."""
    found = _kvstore_metrics.get(driver)
    if found is None:
        found = _kvstore_metrics.setdefault(driver, KvStoreMetrics(driver))
    return found


def _matching(metric_prefix: str) -> list[Metric]:
    if not isinstance(metric_prefix, str):
        raise TypeError(f"metric_prefix: expected str, but received {type(metric_prefix).__name__}")
    with _lock:
        metrics = [metric for name, metric in _registry.items() if name.startswith(metric_prefix)]
    return sorted(metrics, key=lambda metric: metric.name)


def experimental_collect_matching_metrics(metric_prefix: str = "", include_zero_metrics: bool = False) -> list[Any]:
    """The metrics whose name starts with ``metric_prefix``, as tensorstore returns them:
    ``[{"name": "/tensorstore/...", "values": [{"value": 3}]}, ...]`` sorted by name."""
    collected = (metric.collect(bool(include_zero_metrics)) for metric in _matching(metric_prefix))
    return [entry for entry in collected if entry is not None]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _prometheus_lines(metric: Metric) -> list[str]:
    name = metric.name.lstrip("/").replace("/", "_")
    lines = [f"# HELP {name} {metric.description}"]
    if metric.unit:
        lines.append(f"# UNIT {name} {metric.unit}")
    if metric.kind == "histogram":
        lines.append(f"# TYPE {name} histogram")
    collected = metric.collect(include_zero=True) or {"values": []}
    for cell in collected["values"]:
        labels = ",".join(f'{field}="{cell[field]}"' for field in metric.fields)
        label_text = f" {{{labels}}}" if labels else ""
        if metric.kind == "counter":
            lines.append(f"{name}{label_text} {_number(cell['value'])}")
        elif metric.kind == "gauge":
            lines.append(f"{name}{label_text} {_number(cell['value'])}")
            lines.append(f"{name}_max{label_text} {_number(cell['max_value'])}")
        else:
            count = cell["count"]
            variance = cell["sum_of_squared_deviation"] / count if count else 0
            lines.append(f"{name}_mean{label_text} {_number(cell['mean'])}")
            lines.append(f"{name}_count{label_text} {count}")
            lines.append(f"{name}_variance{label_text} {_number(variance)}")
            lines.append(f"{name}_sum{label_text} {_number(cell['mean'] * count)}")
            running = 0
            prefix = f"{labels}," if labels else ""
            for bound in (key for key in cell if key.isdigit()):
                running += cell[bound]
                lines.append(f'{name}_bucket {{{prefix}le="{bound}"}} {running}')
            lines.append(f'{name}_bucket {{{prefix}le="+Inf"}} {count}')
    return lines


def experimental_collect_prometheus_format_metrics(metric_prefix: str = "") -> list[str]:
    """The matching metrics as Prometheus exposition-format lines."""
    return [line for metric in _matching(metric_prefix) for line in _prometheus_lines(metric)]


def experimental_push_metrics_to_prometheus(
    pushgateway: str = "", job: str = "", instance: str = "", metric_prefix: str = ""
) -> Future[int]:
    """PUT the matching metrics to a Prometheus Pushgateway; the Future gives the HTTP status
    (a bad configuration fails the Future, as in tensorstore)."""
    result: Future[int] = Future()
    parsed = urllib.parse.urlparse(pushgateway)
    if not job:
        result._set_exception(ValueError("PushGatewayConfig bad job: a job name is required"))
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        result._set_exception(
            ValueError(f"PushGatewayConfig bad pushgateway: expected an http(s) URL, but received {pushgateway!r}")
        )
    else:
        url = f"{pushgateway.rstrip('/')}/metrics/job/{urllib.parse.quote(job, safe='')}"
        if instance:
            url += f"/instance/{urllib.parse.quote(instance, safe='')}"
        body = "".join(f"{line}\n" for line in experimental_collect_prometheus_format_metrics(metric_prefix))
        thread = threading.Thread(target=_push, args=(result, url, body.encode()), name="ts-metrics-push", daemon=True)
        thread.start()
    return result


def _push(result: Future[int], url: str, body: bytes) -> None:
    # Imported here: urllib.request brings http.client and ssl, a few percent of the
    # start-up of every process that touches a kvstore (each one records metrics here).
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            code = int(response.status)
    except urllib.error.HTTPError as error:  # the gateway answered: report its status
        code = int(error.code)
    except (urllib.error.URLError, OSError) as error:
        result._set_exception(ValueError(f"UNAVAILABLE: pushing metrics to {url} failed: {error}"))
        return
    result._set_result(code)
