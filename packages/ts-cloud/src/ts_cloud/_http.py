"""One HTTP layer for the cloud kvstores: pooled connections, retries, clear errors.

Each driver owns an :class:`HttpTransport` (a keep-alive connection pool sized like its
concurrency resource, see ``_connection``) and calls :meth:`HttpTransport.request`, which retries transient failures
(HTTP 408/429/5xx, connection resets, timeouts) with the context's bounded exponential
backoff. When the budget is exhausted the :class:`CloudRequestError` names the
operation, the key and the last HTTP status. Headers that carry credentials are never
put into messages.
"""

from __future__ import annotations

import json
import logging
import os
import time
import weakref
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping

from ts_core.metrics import kvstore_metrics

from ._connection import ConnectFailed, ConnectionPool
from ._resources import RetryPolicy

__all__ = ["TRANSIENT_STATUSES", "CloudRequestError", "HttpResponse", "HttpTransport"]

logger = logging.getLogger("ts_cloud")

#: Statuses worth retrying: request timeout, too many requests, and server errors.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Transient statuses that say the request was refused, not (possibly) applied.
REFUSED_STATUSES = frozenset({408, 429, 503})
#: Seconds to connect and to wait for each read from the socket.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


class CloudRequestError(ValueError):
    """A request failed for good; ``status`` is the last HTTP status (None: no response)."""

    def __init__(self, message: str, status: int | None = None, key: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.key = key


class HttpResponse:
    """Status, headers and the complete body of one response.

    ``headers`` has lower-case names (any mapping whose ``get`` takes them will do);
    :meth:`header` looks a name up in any case.
    """

    __slots__ = ("body", "headers", "maybe_applied_before", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes,
                 maybe_applied_before: bool = False) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        #: Whether an earlier attempt may have reached the server and been applied (its
        #: response was lost): a failed condition on this attempt may then be our own write.
        self.maybe_applied_before = maybe_applied_before

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def describe_key(key: bytes | None) -> str:
    if key is None:
        return ""
    return f' "{key.decode("utf-8", "backslashreplace")}"'


class HttpTransport:
    """A connection pool plus the retry loop; safe to share between threads, reset after fork."""

    def __init__(self, pool_size: int, retry_policy: RetryPolicy, service: str) -> None:
        self._pool_size = pool_size
        self.retry_policy = retry_policy
        self.service = service
        self._make_pool()
        _transports.add(self)

    def _make_pool(self) -> None:
        # More requests than ``pool_size`` may run at once (another executor sharing the
        # transport); connections beyond it are closed after use rather than kept.
        self._pool = ConnectionPool(self._pool_size, CONNECT_TIMEOUT, READ_TIMEOUT)

    @property
    def connections_made(self) -> int:
        """Connections opened so far: stays small while connections are reused."""
        return self._pool.connections_made

    def request(
        self,
        method: str,
        url: str | Callable[[], str],
        *,
        operation: str,
        key: bytes | None = None,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        body: bytes | memoryview | None = None,
        ok: frozenset[int] | set[int] | tuple[int, ...] = (200,),
    ) -> HttpResponse:
        """Send until a non-transient status; statuses outside ``ok`` raise CloudRequestError.

        ``url``/``headers`` may be callables: they are re-evaluated for every attempt
        (a signature has a timestamp, an access token may have been refreshed).
        """
        policy = self.retry_policy
        last_problem = ""
        last_status: int | None = None
        maybe_applied = False
        for attempt in range(policy.max_retries + 1):
            if attempt:
                time.sleep(policy.delay(attempt - 1))
                # /tensorstore/kvstore/<service>/retries, as tensorstore counts them
                kvstore_metrics(self.service).retries.increment()
            target = url() if callable(url) else url
            sent_headers = headers() if callable(headers) else (headers or {})
            try:
                raw = self._pool.request(method, target, sent_headers, body)
            except OSError as exc:
                # Only a failure to connect proves that the server never saw the request.
                if not isinstance(exc, ConnectFailed):
                    maybe_applied = True
                last_status = None
                last_problem = f"{type(exc).__name__}: {_short(exc)}"
                logger.debug("%s %s%s: attempt %d failed: %s", self.service, operation,
                             describe_key(key), attempt + 1, last_problem)
                continue
            response = HttpResponse(raw.status, raw.headers, raw.body, maybe_applied)
            if raw.status in TRANSIENT_STATUSES:
                maybe_applied = maybe_applied or raw.status not in REFUSED_STATUSES
                last_status = raw.status
                last_problem = f"HTTP {raw.status}"
                logger.debug("%s %s%s: attempt %d got HTTP %d", self.service, operation,
                             describe_key(key), attempt + 1, raw.status)
                continue
            if raw.status not in ok:
                raise CloudRequestError(
                    f"{self.service} {operation} of key{describe_key(key)} failed with "
                    f"HTTP {raw.status}: {_error_text(response.body)}",
                    raw.status, key,
                )
            return response
        status_text = f"last HTTP status {last_status}" if last_status else "no HTTP response"
        raise CloudRequestError(
            f"{self.service} {operation} of key{describe_key(key)} failed after "
            f"{policy.max_retries + 1} attempts ({status_text}; last error: {last_problem})",
            last_status, key,
        )


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _error_text(body: bytes) -> str:
    """The code and message of an S3 (XML) or GCS (JSON) error body, nothing else.

    Only those two fields are kept: S3 echoes the canonical request, signed header
    values included (a session token), in the rest of a SignatureDoesNotMatch body.
    """
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("<"):
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError:
            return "(unparsable XML error body)"
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}
        return ": ".join(part for part in (fields.get("Code"), fields.get("Message")) if part) or root.tag
    if text.startswith("{"):
        try:
            error = json.loads(text).get("error", {})
        except (ValueError, AttributeError):
            return "(unparsable JSON error body)"
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "(no message)")
        return str(error)
    return (text if len(text) <= 200 else text[:197] + "...") or "(empty body)"


_transports: weakref.WeakSet[HttpTransport] = weakref.WeakSet()


def _reset_after_fork() -> None:
    # A child must not share the parent's sockets.
    for transport in list(_transports):
        transport._make_pool()


os.register_at_fork(after_in_child=_reset_after_fork)


