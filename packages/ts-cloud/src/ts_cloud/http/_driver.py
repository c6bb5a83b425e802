"""The ``http`` kvstore: GET (with ``Range``) of ``base_url`` + path + key; read-only.

The generation of a value is its ``ETag`` when the server sends one, else its
``Last-Modified`` time; ``if_not_equal`` is sent as ``If-None-Match`` for ETags (a 304
is "unchanged") and checked again on the response. Writes, deletes and listing are
not part of HTTP and raise a ValueError saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import attrs

from ts_core.concurrency import Executor
from ts_core.context import Context
from ts_core.errors import SpecError
from ts_core.kvstore import (
    KeyRange,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    make_generation,
)

from .._http import HttpResponse, HttpTransport, describe_key
from .._read_response import READ_STATUSES, UNVERSIONED, ObjectRead, read_result

__all__ = ["HttpKvStore", "HttpKvStoreSpec", "parse_http_url"]

_ETAG_TAG = b"etag:"
_LAST_MODIFIED_TAG = b"last-modified:"


@attrs.define
class HttpKvStoreSpec:
    base_url: str = ""
    headers: list[str] = attrs.field(factory=list)
    http_request_concurrency: Any = "http_request_concurrency"
    http_request_retries: Any = "http_request_retries"


_PATH_SAFE = "/@:!$&'()*+,;=-._~"


def _split_base_url(base_url: str) -> SplitResult:
    """``base_url`` split, checked as tensorstore checks it: an http(s) scheme and host,
    no fragment (an empty ``#`` is none); a query string is kept for every request."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(
            "base_url",
            f'Expected scheme of "http" or "https" and a host, but received: {base_url!r}',
        )
    if parts.fragment:
        raise SpecError("base_url", "Fragment identifier not supported")
    return parts


def _generation(response: HttpResponse) -> bytes:
    etag = response.header("ETag")
    if etag:
        return make_generation(_ETAG_TAG + etag.encode("latin-1"))
    modified = response.header("Last-Modified")
    if modified:
        return make_generation(_LAST_MODIFIED_TAG + modified.encode("latin-1"))
    return UNVERSIONED  # never "unchanged": nothing shows that it is


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers = {}
    for index, line in enumerate(lines):
        name, separator, value = line.partition(":")
        if not separator or not name.strip():
            raise ValueError(f'kvstore.headers[{index}]: expected "Name: value", but received: {line!r}')
        headers[name.strip()] = value.strip()
    return headers


class HttpKvStore(KvStoreDriver):
    """Read-only: keys are URL paths below ``base_url`` + ``path``."""

    id = "http"
    spec_class = HttpKvStoreSpec

    def __init__(self, spec: HttpKvStoreSpec, executor: Executor, transport: HttpTransport) -> None:
        parts = _split_base_url(spec.base_url)
        if parts.path:  # a spec made without normalize_spec (normalized ones have none)
            spec, _ = self.normalize_spec(spec, "")
            parts = _split_base_url(spec.base_url)
        #: Every request is base + quoted key path + query (tensorstore sends base_url's
        #: query string with every request).
        self._base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self._query = f"?{parts.query}" if parts.query else ""
        self._spec = spec
        self._headers = _parse_headers(spec.headers)
        self._executor = executor
        self._transport = transport

    @classmethod
    def open(cls, spec: Any, context: Context) -> HttpKvStore:
        executor = context.resource("http_request_concurrency", spec.http_request_concurrency,
                                    "kvstore.http_request_concurrency")
        retries = context.resource("http_request_retries", spec.http_request_retries,
                                   "kvstore.http_request_retries")
        return cls(spec, executor, HttpTransport(executor.limit, retries, "http"))

    @property
    def spec(self) -> HttpKvStoreSpec:
        return self._spec

    @property
    def executor(self) -> Executor:
        return self._executor

    @classmethod
    def normalize_spec(cls, spec: Any, path: str) -> tuple[Any, str]:
        """As tensorstore: the path of ``base_url`` moves to the front of ``path`` (which
        must then be relative), so ``base_url`` keeps only scheme, host and query."""
        parts = _split_base_url(spec.base_url)
        base_url = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
        base_path = unquote(parts.path)
        if base_path:
            if path.startswith("/"):
                raise SpecError(
                    "path",
                    f'Cannot specify absolute path "{path}" in conjunction with base URL '
                    f'"{spec.base_url}" which already includes the path component "{base_path}"',
                )
            if path:
                path = base_path + path if base_path.endswith("/") else f"{base_path}/{path}"
            else:
                path = base_path
        if base_url != spec.base_url:
            spec = attrs.evolve(spec, base_url=base_url)
        return spec, path

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        parts = _split_base_url(spec.base_url)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        if path and not path.startswith("/"):
            path = "/" + path
        return base + quote(path, safe=_PATH_SAFE) + (f"?{parts.query}" if parts.query else "")

    def _url(self, key: bytes) -> str:
        path = key.decode("utf-8")
        if not path.startswith("/"):
            path = "/" + path
        return self._base + quote(path, safe=_PATH_SAFE) + self._query

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        read = ObjectRead("http", key, options)
        headers = dict(self._headers)
        if read.range_header:
            headers["Range"] = read.range_header
        condition = options.if_not_equal
        if read.conditional and condition is not None and condition.startswith(_ETAG_TAG):
            headers["If-None-Match"] = condition[len(_ETAG_TAG): -1].decode("latin-1")
        response = self._transport.request("HEAD" if read.metadata_only else "GET", self._url(key),
                                           operation="read", key=key, headers=headers, ok=READ_STATUSES)
        return read_result(response, read, _generation)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        raise ValueError(f'the "http" kvstore is read-only: cannot write key{describe_key(key)}')

    def delete_range(self, key_range: KeyRange) -> None:
        raise ValueError('the "http" kvstore is read-only: delete_range is not supported')

    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        raise ValueError('the "http" kvstore does not support listing (HTTP has no directory listing)')


def parse_http_url(url: str) -> dict[str, Any]:
    """``https://host/a/b`` -> ``{"driver": "http", "base_url": "https://host", "path": "/a/b"}``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError('expected "http://host/path" or "https://host/path"')
    if parts.fragment:
        raise ValueError("Fragment identifier not supported")
    base = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    spec: dict[str, Any] = {"driver": "http", "base_url": base}
    if parts.path:
        spec["path"] = unquote(parts.path)
    return spec
