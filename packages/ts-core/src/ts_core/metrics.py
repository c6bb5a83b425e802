"""Metrics services for ts-core and plugins: counters, gauges and histograms, registered by
name and read through ``ts.experimental_collect_matching_metrics`` (tensorstore's shape) or
as Prometheus text.

A kvstore driver records its calls with ``kvstore_metrics("<driver id>")``, whose members are
the per-driver metrics tensorstore keeps (``read``, ``write``, ``bytes_read``, ...)::

    metrics = kvstore_metrics("gcs")
    metrics.read.increment()
    metrics.bytes_read.increment(len(value))
    metrics.read_latency_ms.observe(elapsed_ms)
"""

from __future__ import annotations

from ._metrics import (
    Counter,
    Gauge,
    Histogram,
    KvStoreMetrics,
    counter,
    experimental_collect_matching_metrics,
    experimental_collect_prometheus_format_metrics,
    experimental_push_metrics_to_prometheus,
    gauge,
    histogram,
    kvstore_metrics,
)

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
