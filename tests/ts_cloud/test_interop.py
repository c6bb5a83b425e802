"""Kvstore-level interop with the tensorstore wheel through the same local servers."""

from __future__ import annotations

import pytest
from cloud_servers import GCS_BUCKET, S3_BUCKET, gcs_spec, s3_spec, unique_prefix

import ts_core as ts

tensorstore = pytest.importorskip("tensorstore")

VALUES = {
    "small": b"hello",
    "empty": b"",
    "nested/deeper/key": bytes(range(256)),
    "chunk/0.0": bytes(range(251)) * 4096,
}


def _tensorstore_s3(endpoint: str, path: str) -> object:
    return tensorstore.KvStore.open({
        "driver": "s3", "bucket": S3_BUCKET, "path": path, "endpoint": endpoint,
        "aws_region": "us-east-1", "aws_credentials": {"type": "anonymous"},
    }).result()


def _tensorstore_gcs(path: str) -> object:
    return tensorstore.KvStore.open({"driver": "gcs", "bucket": GCS_BUCKET, "path": path}).result()


def _check_reads(reader: object) -> None:
    for key, value in VALUES.items():
        result = reader.read(key).result()  # type: ignore[attr-defined]
        assert result.state == "value", key
        assert bytes(result.value) == value, key
    assert sorted(bytes(k) for k in reader.list().result()) == sorted(k.encode() for k in VALUES)  # type: ignore[attr-defined]


def test_s3_ts_writes_tensorstore_reads(s3_endpoint: str) -> None:
    path = unique_prefix("interop")
    ours = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    for key, value in VALUES.items():
        ours.write(key, value).result()
    _check_reads(_tensorstore_s3(s3_endpoint, path))


def test_s3_tensorstore_writes_ts_reads(s3_endpoint: str) -> None:
    path = unique_prefix("interop")
    theirs = _tensorstore_s3(s3_endpoint, path)
    for key, value in VALUES.items():
        theirs.write(key, value).result()  # type: ignore[attr-defined]
    ours = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    _check_reads(ours)
    assert ours.read("nested/deeper/key", byte_range=slice(10, 20)).result().value == bytes(range(10, 20))


def test_s3_conditions_across_libraries(s3_endpoint: str) -> None:
    """A tensorstore writer and a ts writer honour each other's changes through ETags."""
    path = unique_prefix("interop")
    ours = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    theirs = _tensorstore_s3(s3_endpoint, path)
    stamp = ours.write("k", b"1").result()
    theirs_stamp = theirs.read("k").result().stamp  # type: ignore[attr-defined]
    theirs.write("k", b"2", if_equal=theirs_stamp.generation).result()  # type: ignore[attr-defined]
    assert ours.write("k", b"3", if_equal=stamp.generation).result().generation == b""  # stale
    assert ours["k"] == b"2"
    stale = theirs.write("k", b"4", if_equal=theirs_stamp.generation).result()  # type: ignore[attr-defined]
    assert stale.generation == b""
    assert bytes(theirs.read("k").result().value) == b"2"  # type: ignore[attr-defined]


def test_gcs_ts_writes_tensorstore_reads(gcs_url: str) -> None:
    path = unique_prefix("interop")
    ours = ts.KvStore.open(gcs_spec(path)).result()
    for key, value in VALUES.items():
        ours.write(key, value).result()
    _check_reads(_tensorstore_gcs(path))


def test_gcs_tensorstore_writes_ts_reads(gcs_url: str) -> None:
    path = unique_prefix("interop")
    theirs = _tensorstore_gcs(path)
    for key, value in VALUES.items():
        theirs.write(key, value).result()  # type: ignore[attr-defined]
    ours = ts.KvStore.open(gcs_spec(path)).result()
    _check_reads(ours)
    assert ours.read("chunk/0.0", byte_range=slice(-5, None)).result().value == VALUES["chunk/0.0"][-5:]


def test_specs_and_urls_agree_with_tensorstore() -> None:
    for url in ("s3://bucket/a/b/", "gs://bucket/a/b/", "s3://bucket", "gs://bucket"):
        assert ts.KvStore.Spec(url).to_json() == tensorstore.KvStore.Spec(url).to_json(), url
        assert ts.KvStore.Spec(url).url == tensorstore.KvStore.Spec(url).url, url


def test_s3_signed_requests(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SeaweedFS checks SigV4 for its test identity: ours must be valid, a wrong key refused."""
    from cloud_servers import S3_ACCESS_KEY, S3_SECRET_KEY

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    path = unique_prefix("signed") + "odd key (1)+é/"
    ours = ts.KvStore.open(s3_spec(s3_endpoint, path, aws_credentials={"type": "environment"})).result()
    ours.write("a b", b"signed").result()
    assert ours.read("a b", byte_range=slice(1, 3)).result().value == b"ig"
    assert ours.list().result() == [b"a b"]
    theirs = tensorstore.KvStore.open({
        "driver": "s3", "bucket": S3_BUCKET, "path": path, "endpoint": s3_endpoint,
        "aws_region": "us-east-1", "aws_credentials": {"type": "environment"}}).result()
    assert bytes(theirs.read("a b").result().value) == b"signed"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    wrong = ts.KvStore.open(s3_spec(s3_endpoint, path, aws_credentials={"type": "environment"})).result()
    with pytest.raises(ValueError, match="HTTP 403") as error:
        wrong.read("a b").result()
    assert "wrong-secret" not in str(error.value)
