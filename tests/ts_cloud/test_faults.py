"""Fault injection: a proxy on 127.0.0.1 answers 503, resets connections and delays.

Reads and writes must complete within the retry budget, a conditional write whose
response was lost must not be applied twice, and an exhausted budget must give an error
naming the key and the last HTTP status.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cloud_servers import FaultSchedule, fault_proxy, gcs_spec, s3_spec, unique_prefix

import ts_core as ts
from ts_core.kvstore import UNKNOWN

FAULTS = ["pass", "503", "reset", "pass", "delay", "reset_after", "503", "pass"]


def _open_s3(endpoint: str, **extra: object) -> ts.KvStore:
    return ts.KvStore.open(s3_spec(endpoint, unique_prefix("faults"), **extra)).result()


def _open_gcs(monkeypatch: pytest.MonkeyPatch, url: str, **extra: object) -> ts.KvStore:
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", url)
    return ts.KvStore.open(gcs_spec(unique_prefix("faults"), **extra)).result()


def _increment_many(store: ts.KvStore, count: int) -> int:
    """Conditional read-increment-write ``count`` times; returns the conflicts seen."""
    store.write("counter", b"0").result()
    conflicts = 0
    for _ in range(count):
        while True:
            current = store.read("counter").result()
            value = str(int(current.value) + 1).encode()
            stamp = store.write("counter", value, if_equal=current.stamp.generation).result()
            if stamp.generation != UNKNOWN:
                break
            conflicts += 1
    return conflicts


def _exercise(store: ts.KvStore, schedule: FaultSchedule) -> None:
    payloads = {f"k{i}": bytes([i]) * (1000 + i) for i in range(20)}
    for key, value in payloads.items():
        store.write(key, value).result()
    for key, value in payloads.items():
        assert store[key] == value
        assert store.read(key, byte_range=slice(1, 5)).result().value == value[1:5]
    assert store.list().result() == sorted(k.encode() for k in payloads)
    conflicts = _increment_many(store, 30)
    assert store["counter"] == b"30"
    assert conflicts == 0  # one writer: a lost response must not look like a conflict
    for fault in ("503", "reset", "reset_after", "delay"):
        assert schedule.counts.get(fault, 0) > 0, schedule.counts


def test_s3_survives_faults(s3_endpoint: str) -> None:
    schedule = FaultSchedule(FAULTS, delay=0.05)
    with fault_proxy(s3_endpoint, schedule) as proxy:
        _exercise(_open_s3(proxy), schedule)


def test_gcs_survives_faults(gcs_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = FaultSchedule(FAULTS, delay=0.05)
    with fault_proxy(gcs_url, schedule) as proxy:
        _exercise(_open_gcs(monkeypatch, proxy), schedule)


@pytest.mark.parametrize("service", ["s3", "gcs"])
def test_exhausted_budget_names_key_and_status(
    service: str, s3_endpoint: str, gcs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    retries = {"max_retries": 3, "initial_delay": "1ms", "max_delay": "5ms"}
    schedule = FaultSchedule(["503"])
    with fault_proxy(s3_endpoint if service == "s3" else gcs_url, schedule) as proxy:
        if service == "s3":
            store = _open_s3(proxy, s3_request_retries=retries)
        else:
            store = _open_gcs(monkeypatch, proxy, gcs_request_retries=retries)
        with pytest.raises(ValueError, match=r'"[^"]*doomed/key".*4 attempts.*last HTTP status 503'):
            store.read("doomed/key").result()
        with pytest.raises(ValueError, match=r'write of key "[^"]*doomed/key".*last HTTP status 503'):
            store.write("doomed/key", b"v").result()
    assert schedule.counts["503"] == 8


def test_resets_only_exhaust_with_a_clear_error(s3_endpoint: str) -> None:
    retries = {"max_retries": 2, "initial_delay": "1ms", "max_delay": "5ms"}
    with fault_proxy(s3_endpoint, FaultSchedule(["reset"])) as proxy:
        store = _open_s3(proxy, s3_request_retries=retries)
        with pytest.raises(ValueError, match=r'"[^"]*gone".*no HTTP response'):
            store.read("gone").result()


@pytest.mark.parametrize("service", ["s3", "gcs"])
def test_slow_server_does_not_serialise_requests(
    service: str, s3_endpoint: str, gcs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 reads against a server that takes 0.4 s per request overlap (limit 16)."""
    delay, count = 0.4, 16
    schedule = FaultSchedule(["pass"] * 100)
    with fault_proxy(s3_endpoint if service == "s3" else gcs_url, schedule) as proxy:
        if service == "s3":
            store = _open_s3(proxy, s3_request_concurrency={"limit": count})
        else:
            store = _open_gcs(monkeypatch, proxy, gcs_request_concurrency={"limit": count})
        for i in range(count):
            store.write(f"k{i}", b"v").result()
        schedule.pattern = ["delay"]
        schedule.delay = delay
        started = time.monotonic()
        futures = [store.read(f"k{i}") for i in range(count)]
        assert all(f.result().value == b"v" for f in futures)
        elapsed = time.monotonic() - started
    print(f"{service}: {count} reads with {delay}s server delay took {elapsed:.2f}s")
    assert elapsed < count * delay / 4, f"{count} reads took {elapsed:.2f}s: requests were serialised"




def test_http_reads_survive_faults(tmp_path: Path) -> None:
    from cloud_servers import static_http_server

    for i in range(10):
        (tmp_path / f"f{i}").write_bytes(bytes([i]) * 100)
    schedule = FaultSchedule(["503", "reset", "delay", "pass"], delay=0.05)
    with static_http_server(str(tmp_path)) as url, fault_proxy(url, schedule) as proxy:
        store = ts.KvStore.open({"driver": "http", "base_url": proxy,
                                 "http_request_retries": {"max_retries": 8, "initial_delay": "1ms"}}).result()
        for i in range(10):
            assert store[f"/f{i}"] == bytes([i]) * 100
            assert store.read(f"/f{i}", byte_range=slice(-2, None)).result().value == bytes([i]) * 2
        assert store.read("/missing").result().state == "missing"
    assert schedule.counts["503"] >= 5
    assert schedule.counts["reset"] >= 5
