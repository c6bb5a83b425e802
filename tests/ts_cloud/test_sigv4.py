"""SigV4 signing against the worked example AWS publishes for S3 (GET object with Range)."""

from __future__ import annotations

import datetime

from ts_cloud.s3._sigv4 import EMPTY_SHA256, sign_request, uri_encode

EXAMPLE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_TIME = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)


def test_get_object_example() -> None:
    headers = sign_request(
        method="GET", canonical_path="/test.txt", query={},
        headers={"Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9"},
        payload_sha256=EMPTY_SHA256, access_key=EXAMPLE_ACCESS_KEY, secret_key=EXAMPLE_SECRET_KEY,
        session_token=None, region="us-east-1", now=EXAMPLE_TIME,
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_session_token_is_signed() -> None:
    headers = sign_request(
        method="PUT", canonical_path="/k", query={"partNumber": "1", "uploadId": "a b"},
        headers={"host": "h"}, payload_sha256=EMPTY_SHA256, access_key="A", secret_key="SECRET-KEY",
        session_token="TOKEN", region="eu-west-1", now=EXAMPLE_TIME,
    )
    assert headers["x-amz-security-token"] == "TOKEN"
    assert "x-amz-security-token" in headers["Authorization"]
    assert "SECRET-KEY" not in str(headers)


def test_uri_encode() -> None:
    assert uri_encode("a b/c~d+e", keep_slash=True) == "a%20b/c~d%2Be"
    assert uri_encode("a/b", keep_slash=False) == "a%2Fb"
    assert uri_encode("é", keep_slash=True) == "%C3%A9"


def test_the_current_time_is_stamped_in_utc() -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    headers = sign_request(
        method="GET", canonical_path="/k", query={}, headers={"host": "h"}, payload_sha256=EMPTY_SHA256,
        access_key="A", secret_key="S", session_token=None, region="us-east-1",
    )
    after = datetime.datetime.now(datetime.UTC)
    stamp = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    assert before <= stamp <= after
    assert f"/{headers['x-amz-date'][:8]}/us-east-1/s3/aws4_request" in headers["Authorization"]
    # A time given in another zone is converted, as the signature requires.
    east = datetime.timezone(datetime.timedelta(hours=2))
    shifted = sign_request(
        method="GET", canonical_path="/k", query={}, headers={"host": "h"}, payload_sha256=EMPTY_SHA256,
        access_key="A", secret_key="S", session_token=None, region="us-east-1",
        now=datetime.datetime(2013, 5, 24, 1, 30, tzinfo=east),
    )
    assert shifted["x-amz-date"] == "20130523T233000Z"
