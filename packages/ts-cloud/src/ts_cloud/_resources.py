"""Context resources shared by the cloud kvstores: request concurrency and retry policies.

``<service>_request_concurrency`` is a :class:`~ts_cloud._request_executor.RequestExecutor`
(an :class:`~ts_core.concurrency.Executor` whose waiting callers run their own requests)
whose size bounds the requests on its workers; ``<service>_request_retries`` is a :class:`RetryPolicy`.
The JSON follows tensorstore's (``{"limit": 32}``,
``{"max_retries": 32, "initial_delay": "1s", "max_delay": "32s"}``).
"""

from __future__ import annotations

import os
import random
import re
from typing import Any, ClassVar, TypeVar

import attrs

from ts_core.concurrency import Executor
from ts_core.context import Context, ContextResourceProvider

from ._request_executor import RequestExecutor

__all__ = [
    "DEFAULT_REQUEST_CONCURRENCY",
    "GcsRequestConcurrency",
    "GcsRequestRetries",
    "GcsUserProject",
    "HttpRequestConcurrency",
    "HttpRequestRetries",
    "RetryPolicy",
    "S3RequestConcurrency",
    "S3RequestRetries",
    "parse_duration",
]

T = TypeVar("T")

#: tensorstore's default for a "shared" request-concurrency limit.
DEFAULT_REQUEST_CONCURRENCY = 32

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, name: str) -> float:
    """``"1s"``, ``"250ms"``, ``"2m"`` -> seconds; ValueError naming ``name`` otherwise."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'{name}: expected a duration such as "1s" or "250ms", but received: {text!r}')
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@attrs.frozen
class RetryPolicy:
    """Bounded exponential backoff: attempt ``n`` (from 0) waits up to ``initial * 2**n``."""

    max_retries: int = 32
    initial_delay: float = 1.0
    max_delay: float = 32.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry ``attempt`` (0-based), with full jitter in the upper half."""
        ceiling = min(self.max_delay, self.initial_delay * (2.0**attempt))
        return ceiling * (0.5 + random.random() / 2)


class _ConcurrencyProvider(ContextResourceProvider):
    name: ClassVar[str] = "ts-cloud"
    environment_variable: ClassVar[str] = ""

    @classmethod
    def create(cls, spec: Any, context: Context) -> Executor:
        limit = spec.get("limit", "shared")
        if limit == "shared":
            limit = int(os.environ.get(cls.environment_variable, DEFAULT_REQUEST_CONCURRENCY))
        return RequestExecutor(int(limit), cls.name)


class S3RequestConcurrency(_ConcurrencyProvider):
    """``s3_request_concurrency``: how many S3 requests may be in flight."""

    name = "ts-s3"
    environment_variable = "TENSORSTORE_S3_REQUEST_CONCURRENCY"


class GcsRequestConcurrency(_ConcurrencyProvider):
    """``gcs_request_concurrency``: how many GCS requests may be in flight."""

    name = "ts-gcs"
    environment_variable = "TENSORSTORE_GCS_REQUEST_CONCURRENCY"


class HttpRequestConcurrency(_ConcurrencyProvider):
    """``http_request_concurrency``: how many plain HTTP requests may be in flight."""

    name = "ts-http"
    environment_variable = "TENSORSTORE_HTTP_REQUEST_CONCURRENCY"


class _RetriesProvider(ContextResourceProvider):
    @classmethod
    def create(cls, spec: Any, context: Context) -> RetryPolicy:
        return RetryPolicy(
            max_retries=int(spec.get("max_retries", 32)),
            initial_delay=parse_duration(spec.get("initial_delay", "1s"), "initial_delay"),
            max_delay=parse_duration(spec.get("max_delay", "32s"), "max_delay"),
        )


class S3RequestRetries(_RetriesProvider):
    """``s3_request_retries``: backoff for 429/5xx/timeouts on S3."""


class GcsRequestRetries(_RetriesProvider):
    """``gcs_request_retries``: backoff for 429/5xx/timeouts on GCS."""


class HttpRequestRetries(_RetriesProvider):
    """``http_request_retries``: backoff for 429/5xx/timeouts on the http kvstore."""


class GcsUserProject(ContextResourceProvider):
    """``gcs_user_project``: the project billed for requester-pays buckets (``project_id``)."""

    @classmethod
    def create(cls, spec: Any, context: Context) -> str | None:
        project = spec.get("project_id")
        return None if project is None else str(project)
