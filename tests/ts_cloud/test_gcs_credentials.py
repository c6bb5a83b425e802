"""GCS credentials through google-auth, against a token endpoint on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from ts_cloud.gcs._credentials import GcsCredentialsProvider

cryptography = pytest.importorskip("cryptography")


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[bytes]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).requests.append(body)
        payload = json.dumps({"access_token": "local-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def token_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def key_file(token_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path_factory.mktemp("gcs-key") / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem,
        "client_email": "ts-test@test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_url,
    }))
    return path


def test_service_account_key_file(key_file: Path) -> None:
    provider = GcsCredentialsProvider({"type": "service_account", "path": str(key_file)})
    assert provider.authorization() == "Bearer local-token"
    assert provider.authorization() == "Bearer local-token"  # cached until it expires
    assert len(_TokenHandler.requests) >= 1
    assert b"assertion=" in _TokenHandler.requests[-1]  # a signed JWT grant
    assert "PRIVATE" not in repr(provider)


def test_application_default_credentials(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_AUTH_TOKEN_FOR_TESTING")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    assert GcsCredentialsProvider({"type": "default"}).authorization() == "Bearer local-token"


def test_test_token_and_anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_AUTH_TOKEN_FOR_TESTING", "abc")
    assert GcsCredentialsProvider({"type": "default"}).authorization() == "Bearer abc"
    assert GcsCredentialsProvider({"type": "anonymous"}).authorization() is None


def test_bad_key_file_error_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs \"path\""):
        GcsCredentialsProvider({"type": "service_account"})
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "service_account", "private_key": "not a key"}')
    with pytest.raises(ValueError, match="cannot load the service account key file"):
        GcsCredentialsProvider({"type": "service_account", "path": str(bad)}).authorization()
