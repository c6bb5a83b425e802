"""Spec parsing, URLs, validation errors and addressing for the cloud kvstores (no server)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import ts_core as ts
from ts_cloud._resources import RetryPolicy, parse_duration
from ts_cloud.s3._credentials import AwsCredentialsProvider
from ts_cloud.s3._driver import S3KvStore


@pytest.mark.parametrize(
    ("url", "json"),
    [
        ("s3://bucket", {"driver": "s3", "bucket": "bucket"}),
        ("s3://bucket/a/b/", {"driver": "s3", "bucket": "bucket", "path": "a/b/"}),
        ("gs://bucket/a%20b", {"driver": "gcs", "bucket": "bucket", "path": "a b"}),
        ("https://host:8080/x/y", {"driver": "http", "base_url": "https://host:8080", "path": "/x/y"}),
    ],
)
def test_url_to_json_and_back(url: str, json: dict[str, str]) -> None:
    spec = ts.KvStore.Spec(url)
    assert spec.to_json() == json
    assert ts.KvStore.Spec(spec.url) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(
    ("json", "message"),
    [
        ({"driver": "s3"}, "bucket"),
        ({"driver": "s3", "bucket": 3}, "kvstore.bucket: expected string"),
        ({"driver": "s3", "bucket": "bkt", "aws_secret": "x"}, "aws_secret"),
        ({"driver": "gcs", "bucket": "bkt", "user_project": 1}, "user_project"),
        ({"driver": "http"}, "base_url"),
        ({"driver": "fsspec"}, "url"),
    ],
)
def test_invalid_specs_name_the_member(json: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ts.KvStore.Spec(json)


def test_invalid_url() -> None:
    with pytest.raises(ValueError, match="bucket name is empty"):
        ts.KvStore.Spec("s3:///path")
    with pytest.raises(ValueError, match="Query string not supported"):
        ts.KvStore.Spec("gs://bucket/a?x=1")


def test_s3_open_errors() -> None:
    with pytest.raises(ValueError, match="host_header"):
        ts.KvStore.open({"driver": "s3", "bucket": "bkt", "host_header": "h"}).result()
    with pytest.raises(ValueError, match="endpoint"):
        ts.KvStore.open({"driver": "s3", "bucket": "bkt", "endpoint": "ftp://x"}).result()


def _driver(**members: object) -> S3KvStore:
    store = ts.KvStore.open({"driver": "s3", "bucket": "my-bucket", **members}).result()
    return store._driver  # type: ignore[return-value]


def test_s3_addressing() -> None:
    aws = _driver(aws_region="eu-west-1")
    assert aws.object_url(b"a b/c")[:2] == ("https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/c",
                                            "my-bucket.s3.eu-west-1.amazonaws.com")
    dotted = ts.KvStore.open({"driver": "s3", "bucket": "my.bucket", "aws_region": "us-west-2"}).result()._driver
    assert dotted.object_url(b"k")[0] == "https://s3.us-west-2.amazonaws.com/my.bucket/k"  # type: ignore[attr-defined]
    local = _driver(endpoint="http://127.0.0.1:9000/", host_header="my-bucket.localhost")
    assert local.object_url(b"k") == ("http://127.0.0.1:9000/my-bucket/k", "my-bucket.localhost", "/my-bucket/k")
    assert local.region() == "us-east-1"


def test_credentials_never_appear_in_specs_or_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "SECRET/abcdefghijklmnop"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOKEN-xyz")
    store = ts.KvStore.open({"driver": "s3", "bucket": "bkt", "endpoint": "http://127.0.0.1:1",
                             "aws_credentials": {"type": "environment"}}).result()
    provider = store._driver._credentials  # type: ignore[attr-defined]
    credentials = provider.get()
    assert credentials.secret_key == secret
    for text in (repr(store), repr(store.spec()), str(store.spec().to_json()), repr(credentials),
                 repr(provider), repr(store._driver), str(pickle.dumps(store.spec()))):
        assert secret not in text
        assert "TOKEN-xyz" not in text
        assert "AKIDEXAMPLEKEYID" not in text
    with pytest.raises(TypeError):
        pickle.dumps(credentials)


def test_credentials_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert AwsCredentialsProvider({"type": "anonymous"}).get() is None
    with pytest.raises(ValueError, match="AWS_ACCESS_KEY_ID"):
        AwsCredentialsProvider({"type": "environment"}).get()
    credentials_file = tmp_path / "credentials"
    credentials_file.write_text("[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = work-secret\n")
    profile = AwsCredentialsProvider({"type": "profile", "profile": "work",
                                      "credentials_file": str(credentials_file),
                                      "config_file": str(tmp_path / "none")}).get()
    assert (profile.access_key, profile.secret_key) == ("AKIDWORK", "work-secret")
    with pytest.raises(ValueError, match="'other'"):
        AwsCredentialsProvider({"type": "profile", "profile": "other",
                                "credentials_file": str(credentials_file)}).get()
    # The default chain finds the profile, and with nothing at all falls back to anonymous
    # (metadata services are disabled for the test session).
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert AwsCredentialsProvider({"type": "default"}).get().access_key == "AKIDWORK"  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_PROFILE", "missing")
    assert AwsCredentialsProvider({"type": "default"}).get() is None


def test_context_resources() -> None:
    context = ts.Context({"s3_request_concurrency": {"limit": 3},
                          "s3_request_retries": {"max_retries": 2, "initial_delay": "10ms", "max_delay": "1s"}})
    store = ts.KvStore.open({"driver": "s3", "bucket": "bkt", "endpoint": "http://127.0.0.1:1"}, context=context).result()
    assert store._driver.executor.limit == 3  # type: ignore[attr-defined]
    assert store._driver._transport.retry_policy == RetryPolicy(2, 0.01, 1.0)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="s3_request_concurrency"):
        ts.Context({"s3_request_concurrency": {"limit": 0}})
    with pytest.raises(ValueError, match="initial_delay"):
        ts.KvStore.open({"driver": "s3", "bucket": "bkt", "endpoint": "http://127.0.0.1:1",
                         "s3_request_retries": {"initial_delay": "soon"}}).result()


def test_retry_policy_is_bounded() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=0.1, max_delay=1.0)
    delays = [policy.delay(attempt) for attempt in range(10)]
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert max(delays[6:]) <= 1.0
    assert parse_duration("250ms", "x") == 0.25
    assert parse_duration("2m", "x") == 120


def test_gcs_user_project_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", "http://127.0.0.1:1/")
    store = ts.KvStore.open({"driver": "gcs", "bucket": "bkt",
                             "gcs_user_project": {"project_id": "billing"}}).result()
    driver = store._driver  # type: ignore[attr-defined]
    assert driver._object_url(b"a/b c") == "http://127.0.0.1:1/storage/v1/b/bkt/o/a%2Fb%20c"
    assert driver._user_project == "billing"


def test_error_bodies_are_reduced_to_code_and_message() -> None:
    from ts_cloud._http import _error_text

    body = (b"<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code><Message>bad</Message>"
            b"<CanonicalRequest>x-amz-security-token:SESSION-TOKEN</CanonicalRequest></Error>")
    assert _error_text(body) == "SignatureDoesNotMatch: bad"
    assert _error_text(b'{"error": {"code": 403, "message": "denied"}}') == "denied"
    assert _error_text(b"") == "(empty body)"


def test_region_cache_is_shared_within_a_context() -> None:
    context = ts.Context()
    first = ts.KvStore.open({"driver": "s3", "bucket": "shared-bucket"}, context=context).result()
    first._driver._regions["shared-bucket"] = "ap-south-1"  # type: ignore[attr-defined]  # as a lookup would
    second = ts.KvStore.open({"driver": "s3", "bucket": "shared-bucket", "path": "p/"}, context=context).result()
    url, _, _ = second._driver.object_url(b"k")  # type: ignore[attr-defined]  # no request: cached
    assert url == "https://shared-bucket.s3.ap-south-1.amazonaws.com/k"
    other = ts.KvStore.open({"driver": "s3", "bucket": "shared-bucket"}).result()
    assert "shared-bucket" not in other._driver._regions  # type: ignore[attr-defined]


BUCKET_NAMES = [
    "b", "bk", "bkt", "my-bucket", "my.bucket", "1.2.3.4", "a..b", "-ab", "ab-", "UPPER", "Upper_Case.old",
    "ab_c", "_abc", "abc_", "xn--abc", "abc-s3alias", "sthree-x", "a" * 63, "a" * 64, "a" * 64 + ".b",
    "a/b", "../x", "a b", "x?y", "a-.b", "a.-b", "a" * 223, ("a" * 60 + ".") * 3 + "abc", "bucket\n",
]


@pytest.mark.parametrize("driver", ["s3", "gcs"])
def test_bucket_names_are_checked_as_the_wheel_checks_them(driver: str) -> None:
    """A bucket name becomes part of each request's URL: names the wheel refuses are a
    ValueError naming ``bucket`` when the spec is parsed, and the names it accepts open."""
    import tensorstore

    for name in BUCKET_NAMES:
        try:
            tensorstore.KvStore.Spec({"driver": driver, "bucket": name})
        except ValueError:
            with pytest.raises(ValueError, match=r"^kvstore\.bucket: Invalid (S3|GCS) bucket name"):
                ts.KvStore.Spec({"driver": driver, "bucket": name})
        else:
            assert ts.KvStore.Spec({"driver": driver, "bucket": name}).to_json()["bucket"] == name


def test_a_bucket_url_with_an_invalid_name_is_refused() -> None:
    with pytest.raises(ValueError, match="bucket"):
        ts.KvStore.Spec("s3://a/b")
    with pytest.raises(ValueError, match="bucket"):
        ts.Spec({"driver": "zarr", "kvstore": "gs://../x/"})
