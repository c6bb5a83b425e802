"""Where GCS credentials come from: the ``gcs_credentials`` context resource (a ts extension).

``default`` follows tensorstore: a bearer token in ``GOOGLE_AUTH_TOKEN_FOR_TESTING``,
else Google's application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the
gcloud ADC file, the metadata server) through google-auth, else anonymous access.
``service_account`` reads a key file; ``anonymous`` sends no credentials.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, ClassVar

from ts_core.context import Context, ContextResourceProvider

__all__ = ["GcsCredentialsProvider", "GcsCredentialsResource"]

logger = logging.getLogger("ts_cloud.gcs")

SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
TEST_TOKEN_VARIABLE = "GOOGLE_AUTH_TOKEN_FOR_TESTING"


class GcsCredentialsProvider:
    """Yields the ``Authorization`` header value (or None), refreshing tokens as needed."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.source = spec.get("type", "default")
        self._path = spec.get("path")
        if self.source == "service_account" and not self._path:
            raise ValueError('gcs_credentials: type "service_account" needs "path" (a key file)')
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._resolved = False

    def __repr__(self) -> str:
        return f"GcsCredentialsProvider(type={self.source!r})"

    def __reduce__(self) -> Any:
        raise TypeError("GCS credentials are not picklable; pickle the spec instead")

    def authorization(self) -> str | None:
        if self.source == "anonymous":
            return None
        if self.source == "default" and os.environ.get(TEST_TOKEN_VARIABLE):
            return f"Bearer {os.environ[TEST_TOKEN_VARIABLE]}"
        with self._lock:
            if not self._resolved:
                self._credentials = self._load()
                self._resolved = True
            credentials = self._credentials
            if credentials is None:
                return None
            if not credentials.valid:
                import google.auth.transport.urllib3
                import urllib3

                credentials.refresh(google.auth.transport.urllib3.Request(urllib3.PoolManager()))  # type: ignore[no-untyped-call]
            return f"Bearer {credentials.token}"

    def _load(self) -> Any:
        if self.source == "service_account":
            from google.oauth2 import service_account

            try:
                return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    self._path, scopes=SCOPES)
            except (OSError, ValueError) as exc:
                raise ValueError(f"gcs_credentials: cannot load the service account key file "
                                 f"{self._path!r}: {type(exc).__name__}") from None
        import google.auth
        import google.auth.exceptions

        try:
            credentials, _ = google.auth.default(scopes=SCOPES)
        except google.auth.exceptions.DefaultCredentialsError:
            logger.info("no Google credentials found; using anonymous access")
            return None
        return credentials


class GcsCredentialsResource(ContextResourceProvider):
    """``gcs_credentials``: ``{"type": "default" | "anonymous" | "service_account", "path": ...}``."""

    default_spec: ClassVar[dict[str, str]] = {"type": "default"}

    @classmethod
    def create(cls, spec: Any, context: Context) -> GcsCredentialsProvider:
        return GcsCredentialsProvider(spec)
