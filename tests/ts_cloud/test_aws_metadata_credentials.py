"""``imds`` and ``ecs`` AWS credential sources against a metadata stub on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from ts_cloud.s3._credentials import AwsCredentialsProvider

DOCUMENT = {"AccessKeyId": "AKIDMETADATA", "SecretAccessKey": "metadata-secret", "Token": "session",
            "Expiration": "2099-01-01T00:00:00Z"}


class _MetadataHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._send(200, b"imds-token")
        else:
            self._send(400, b"")

    def do_GET(self) -> None:
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
                self._send(401, b"")
            elif self.path.endswith("/"):
                self._send(200, b"test-role")
            elif self.path.endswith("/test-role"):
                self._send(200, json.dumps(DOCUMENT).encode())
            else:
                self._send(404, b"")
        elif self.path == "/ecs-credentials":
            ok = self.headers.get("Authorization") == "ecs-auth"
            self._send(200 if ok else 403, json.dumps(DOCUMENT).encode() if ok else b"")
        else:
            self._send(404, b"")


@pytest.fixture(scope="module")
def metadata_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MetadataHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_imds(metadata_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata_url)
    credentials = AwsCredentialsProvider({"type": "imds"}).get()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key, credentials.session_token) == (
        "AKIDMETADATA", "metadata-secret", "session")
    assert credentials.expiration is not None
    assert "metadata-secret" not in repr(credentials)


def test_imds_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ValueError, match="instance metadata"):
        AwsCredentialsProvider({"type": "imds"}).get()


def test_ecs(metadata_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{metadata_url}/ecs-credentials")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth")
    credentials = AwsCredentialsProvider({"type": "ecs"}).get()
    assert credentials is not None
    assert credentials.access_key == "AKIDMETADATA"
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
    with pytest.raises(ValueError, match="ECS"):
        AwsCredentialsProvider({"type": "ecs"}).get()
