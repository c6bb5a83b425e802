"""Where S3 credentials come from: the ``aws_credentials`` context resource.

The resource JSON names a *source* (``default``, ``anonymous``, ``environment``,
``profile``, ``imds``, ``ecs``, as in tensorstore); secrets are read from that source
when a request needs them and never stored in any spec, repr or message.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any, ClassVar

from ts_core.context import Context, ContextResourceProvider

__all__ = ["AwsCredentials", "AwsCredentialsProvider", "AwsCredentialsResource"]

logger = logging.getLogger("ts_cloud.s3")

#: Refresh temporary credentials this long before they expire.
EXPIRY_MARGIN_SECONDS = 300.0
METADATA_TIMEOUT_SECONDS = 2.0
DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
DEFAULT_ECS_HOST = "http://169.254.170.2"


class AwsCredentials:
    """An access key pair (plus session token); the repr shows the key id's tail only."""

    __slots__ = ("access_key", "expiration", "secret_key", "session_token")

    def __init__(self, access_key: str, secret_key: str, session_token: str | None = None,
                 expiration: float | None = None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token or None
        self.expiration = expiration

    def __repr__(self) -> str:
        return f"AwsCredentials(access_key='...{self.access_key[-4:]}', secret_key=<hidden>)"

    def __reduce__(self) -> Any:
        raise TypeError("AWS credentials are not picklable; pickle the spec instead")


def _from_environment() -> AwsCredentials | None:
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        return None
    return AwsCredentials(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN"))


def _from_profile(spec: dict[str, Any]) -> AwsCredentials | None:
    profile = spec.get("profile") or os.environ.get("AWS_PROFILE") or "default"
    home = os.path.expanduser("~")
    credentials_file = spec.get("credentials_file") or os.environ.get(
        "AWS_SHARED_CREDENTIALS_FILE", os.path.join(home, ".aws", "credentials"))
    config_file = spec.get("config_file") or os.environ.get(
        "AWS_CONFIG_FILE", os.path.join(home, ".aws", "config"))
    for path, section in ((credentials_file, profile),
                          (config_file, profile if profile == "default" else f"profile {profile}")):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ValueError(f"cannot parse AWS credentials file {path!r}: {type(exc).__name__}") from None
        if parser.has_section(section):
            values = dict(parser.items(section))
            if values.get("aws_access_key_id") and values.get("aws_secret_access_key"):
                return AwsCredentials(values["aws_access_key_id"], values["aws_secret_access_key"],
                                      values.get("aws_session_token"))
    return None


def _http_json(url: str, headers: dict[str, str], method: str = "GET") -> Any:
    request = urllib.request.Request(url, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT_SECONDS) as response:
        return response.read()


def _parse_expiration(text: str | None) -> float | None:
    if not text:
        return None
    import datetime

    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _from_imds(spec: dict[str, Any]) -> AwsCredentials | None:
    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return None
    endpoint = (spec.get("endpoint") or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                or DEFAULT_IMDS_ENDPOINT).rstrip("/")
    try:
        token = _http_json(f"{endpoint}/latest/api/token",
                           {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, "PUT").decode()
        headers = {"X-aws-ec2-metadata-token": token}
        base = f"{endpoint}/latest/meta-data/iam/security-credentials/"
        role = _http_json(base, headers).decode().split("\n")[0].strip()
        document = json.loads(_http_json(base + role, headers))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return AwsCredentials(document["AccessKeyId"], document["SecretAccessKey"],
                          document.get("Token"), _parse_expiration(document.get("Expiration")))


def _from_ecs(spec: dict[str, Any]) -> AwsCredentials | None:
    url = spec.get("endpoint") or os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not url:
        relative = os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        if not relative:
            return None
        url = DEFAULT_ECS_HOST + relative
    headers = {}
    token_file = spec.get("auth_token_file") or os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file) as file:
            headers["Authorization"] = file.read().strip()
    elif os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        headers["Authorization"] = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    try:
        document = json.loads(_http_json(url, headers))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return AwsCredentials(document["AccessKeyId"], document["SecretAccessKey"],
                          document.get("Token"), _parse_expiration(document.get("Expiration")))


class AwsCredentialsProvider:
    """Resolves and caches credentials from one source; ``get()`` None means anonymous."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = dict(spec)
        self.source = self._spec.get("type", "default")
        self._lock = threading.Lock()
        self._cached: AwsCredentials | None = None
        self._resolved = False

    def __repr__(self) -> str:
        return f"AwsCredentialsProvider(type={self.source!r})"

    def get(self) -> AwsCredentials | None:
        with self._lock:
            cached = self._cached
            fresh = cached is None or cached.expiration is None or (
                cached.expiration - EXPIRY_MARGIN_SECONDS > time.time())
            if self._resolved and fresh:
                return cached
            self._cached = self._resolve()
            self._resolved = True
            return self._cached

    def _resolve(self) -> AwsCredentials | None:
        source, spec = self.source, self._spec
        if source == "anonymous":
            return None
        if source == "environment":
            found = _from_environment()
            if found is None:
                raise ValueError("aws_credentials: type 'environment' needs AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY to be set")
            return found
        if source == "profile":
            found = _from_profile(spec)
            if found is None:
                raise ValueError(f"aws_credentials: no credentials for profile "
                                 f"{spec.get('profile') or os.environ.get('AWS_PROFILE') or 'default'!r}")
            return found
        if source == "imds":
            found = _from_imds(spec)
            if found is None:
                raise ValueError("aws_credentials: the EC2 instance metadata service gave no credentials")
            return found
        if source == "ecs":
            found = _from_ecs(spec)
            if found is None:
                raise ValueError("aws_credentials: the ECS container metadata service gave no credentials")
            return found
        # default chain: environment, shared files, container, instance; else anonymous.
        for step in (_from_environment, lambda: _from_profile(spec), lambda: _from_ecs({}),
                     lambda: _from_imds({})):
            found = step()
            if found is not None:
                return found
        logger.info("no AWS credentials found by the default chain; using anonymous access")
        return None


class AwsCredentialsResource(ContextResourceProvider):
    """``aws_credentials``: ``{"type": "default" | "anonymous" | "environment" | ...}``."""

    default_spec: ClassVar[dict[str, str]] = {"type": "default"}

    @classmethod
    def create(cls, spec: Any, context: Context) -> AwsCredentialsProvider:
        return AwsCredentialsProvider(spec)


class S3RegionCache(ContextResourceProvider):
    """``s3_region``: bucket -> region discovered from S3, shared within a Context."""

    @classmethod
    def create(cls, spec: Any, context: Context) -> dict[str, str]:
        return {}
