"""The ``gcs`` kvstore: Google Cloud Storage's JSON API.

A key's storage generation is the object's ``generation`` number. Writes use
``ifGenerationMatch`` (0 means "must not exist"), deletes too, so every conditional
operation is atomic on the server. Values above ``RESUMABLE_THRESHOLD`` bytes are sent
as a resumable upload in ``RESUMABLE_CHUNK`` pieces. ``TENSORSTORE_GCS_HTTP_URL``
replaces ``https://storage.googleapis.com`` (for emulators), as in tensorstore.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import attrs

from ts_core.concurrency import Executor
from ts_core.context import Context
from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    KeyRange,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    make_generation,
    without_url_query,
)

from .._common import check_bucket_name, common_prefix, now
from .._http import CloudRequestError, HttpResponse, HttpTransport, describe_key
from .._read_response import READ_STATUSES, ObjectRead, read_result
from ._credentials import GcsCredentialsProvider

__all__ = ["GcsKvStore", "GcsKvStoreSpec", "parse_gs_url"]

_URL_PREFIX = "gs://"
DEFAULT_BASE_URL = "https://storage.googleapis.com"
ENDPOINT_VARIABLE = "TENSORSTORE_GCS_HTTP_URL"
#: Above this size a value is uploaded with the resumable protocol.
RESUMABLE_THRESHOLD = 32 << 20
#: Resumable chunks must be multiples of 256 KiB (the JSON API's rule).
RESUMABLE_CHUNK = 32 * (256 << 10)
LIST_PAGE_SIZE = 1000


@attrs.define
class GcsKvStoreSpec:
    bucket: str = ""
    gcs_request_concurrency: Any = "gcs_request_concurrency"
    gcs_request_retries: Any = "gcs_request_retries"
    gcs_user_project: Any = "gcs_user_project"
    gcs_credentials: Any = "gcs_credentials"
    data_copy_concurrency: Any = "data_copy_concurrency"


def _generation(number: Any) -> bytes:
    if number in (None, ""):
        raise CloudRequestError("gcs response carries no object generation")
    return make_generation(str(int(number)).encode("ascii"))


def _media_generation(response: HttpResponse) -> bytes | None:
    # Only the response's own header: asking for the metadata afterwards could name a
    # newer version than the bytes received.
    number = response.header("x-goog-generation")
    return None if not number else _generation(number)


def _metadata_generation(response: HttpResponse) -> bytes | None:
    number = json.loads(response.body).get("generation")
    return None if number in (None, "") else _generation(number)


def _metadata_size(response: HttpResponse) -> int | None:
    size = json.loads(response.body).get("size")
    return None if size is None else int(size)


def _generation_number(generation: bytes) -> str:
    return generation[:-1].decode("ascii")


def _key_text(key: bytes) -> str:
    if not key:
        raise ValueError('Invalid key: "": gcs object names must not be empty')
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Invalid key: {key!r}: gcs object names must be UTF-8") from None
    if len(key) > 1024 or "\r" in text or "\n" in text:
        raise ValueError(f"Invalid key: {key[:40]!r}: not a valid gcs object name")
    return text


_BUCKET_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def bucket_name_problem(bucket: str) -> str | None:
    """Why ``bucket`` cannot name a GCS bucket, or None (Google's naming rules as
    tensorstore checks them: 3 to 222 characters, dot-separated parts of at most 63 of
    lowercase letters, digits, '-' and '_', starting and ending with a letter or digit)."""
    if not 3 <= len(bucket) <= 222:
        return "a bucket name has 3 to 222 characters"
    for end in (bucket[0], bucket[-1]):
        if not (end.isdigit() or "a" <= end <= "z"):
            return "a bucket name starts and ends with a lowercase letter or digit"
    for part in bucket.split("."):
        if not part or len(part) > 63 or part[0] == "-" or part[-1] == "-":
            return "each dot-separated part has 1 to 63 characters and does not start or end with '-'"
        if not _BUCKET_LABEL_CHARACTERS.issuperset(part):
            return "a bucket name holds only lowercase letters, digits, '-', '_' and '.'"
    return None


class GcsKvStore(KvStoreDriver):
    """A GCS bucket; keys are object names."""

    id = "gcs"
    spec_class = GcsKvStoreSpec

    @classmethod
    def normalize_spec(cls, spec: Any, path: str) -> tuple[Any, str]:
        """An invalid bucket name is an error naming ``bucket`` when the spec is parsed,
        as in tensorstore (it would otherwise become part of a request's URL)."""
        check_bucket_name(spec.bucket, "GCS", bucket_name_problem)
        return spec, path

    def __init__(self, spec: GcsKvStoreSpec, executor: Executor, transport: HttpTransport,
                 credentials: GcsCredentialsProvider, user_project: str | None) -> None:
        if not spec.bucket:
            raise ValueError("kvstore.bucket: a bucket name is required")
        self._spec = spec
        self._executor = executor
        self._transport = transport
        self._credentials = credentials
        self._user_project = user_project
        self._base_url = os.environ.get(ENDPOINT_VARIABLE, DEFAULT_BASE_URL).rstrip("/")

    @classmethod
    def open(cls, spec: Any, context: Context) -> GcsKvStore:
        executor = context.resource("gcs_request_concurrency", spec.gcs_request_concurrency,
                                    "kvstore.gcs_request_concurrency")
        retries = context.resource("gcs_request_retries", spec.gcs_request_retries,
                                   "kvstore.gcs_request_retries")
        user_project = context.resource("gcs_user_project", spec.gcs_user_project, "kvstore.gcs_user_project")
        credentials = context.resource("gcs_credentials", spec.gcs_credentials, "kvstore.gcs_credentials")
        return cls(spec, executor, HttpTransport(executor.limit, retries, "gcs"), credentials, user_project)

    @property
    def spec(self) -> GcsKvStoreSpec:
        return self._spec

    @property
    def executor(self) -> Executor:
        return self._executor

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        return f"{_URL_PREFIX}{spec.bucket}/{quote(path, safe='/@:!$&()*+,;=-._~')}"

    def __repr__(self) -> str:
        return f"GcsKvStore(bucket={self._spec.bucket!r})"

    # -- requests ---------------------------------------------------------------------
    def _bucket_url(self, upload: bool = False) -> str:
        api = "/upload/storage/v1" if upload else "/storage/v1"
        return f"{self._base_url}{api}/b/{quote(self._spec.bucket, safe='')}/o"

    def _object_url(self, key: bytes) -> str:
        return f"{self._bucket_url()}/{quote(_key_text(key), safe='')}"

    def _send(self, method: str, url: str, *, operation: str, key: bytes | None, query: dict[str, str],
              headers: dict[str, str] | None = None, body: bytes | None = None,
              ok: tuple[int, ...] = (200,)) -> HttpResponse:
        if self._user_project:
            query = {**query, "userProject": self._user_project}
        target = url + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()) if query else "")

        def all_headers() -> dict[str, str]:
            result = dict(headers or {})
            authorization = self._credentials.authorization()
            if authorization:
                result["Authorization"] = authorization
            return result

        return self._transport.request(method, target, operation=operation, key=key, headers=all_headers,
                                       body=body, ok=ok)

    # -- reads ------------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        read = ObjectRead("gcs", key, options)
        query: dict[str, str] = {}
        if read.conditional:
            assert options.if_not_equal is not None
            query["ifGenerationNotMatch"] = _generation_number(options.if_not_equal)
        if read.metadata_only:  # the object's metadata (JSON) instead of its bytes
            response = self._send("GET", self._object_url(key), operation="read", key=key, query=query,
                                  ok=READ_STATUSES)
            return read_result(response, read, _metadata_generation, _metadata_size)
        headers = {"Range": read.range_header} if read.range_header else {}
        response = self._send("GET", self._object_url(key), operation="read", key=key,
                              query={**query, "alt": "media"}, headers=headers, ok=READ_STATUSES)
        return read_result(response, read, _media_generation)

    def _metadata(self, key: bytes, query: dict[str, str]) -> dict[str, Any] | None:
        response = self._send("GET", self._object_url(key), operation="read", key=key, query=query,
                              ok=(200, 304, 404))
        if response.status == 404:
            return None
        if response.status == 304:
            return {}
        return json.loads(response.body)  # type: ignore[no-any-return]

    # -- writes -----------------------------------------------------------------------
    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if value is None:
            return self._delete(key, if_equal)
        query = {"name": _key_text(key)}
        query.update(_condition_query(if_equal))
        if len(value) > RESUMABLE_THRESHOLD:
            return self._resumable_write(key, bytes(value), query)
        if "ifGenerationMatch" in query:
            # A multipart upload (metadata + media): both it and uploadType=media carry
            # ifGenerationMatch on GCS, but emulators such as fake-gcs-server enforce it
            # on multipart uploads only.
            boundary = "ts-" + secrets.token_hex(16)
            metadata = json.dumps({"name": _key_text(key)}).encode()
            body = b"".join([
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(), metadata,
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(), value,
                f"\r\n--{boundary}--\r\n".encode(),
            ])
            upload_type, content_type = "multipart", f"multipart/related; boundary={boundary}"
        else:
            # Unconditional: the value alone is the body, with no copy into a multipart
            # document, which fake-gcs-server also parses at half the speed.
            body, upload_type, content_type = value, "media", "application/octet-stream"
        response = self._send("POST", self._bucket_url(upload=True), operation="write", key=key,
                              query={**query, "uploadType": upload_type},
                              headers={"Content-Type": content_type}, body=body, ok=(200, 412))
        if response.status == 412:
            if response.maybe_applied_before:
                return self._resolve_lost_response(key, value)
            return TimestampedStorageGeneration(UNKNOWN, now())
        return TimestampedStorageGeneration(_generation(json.loads(response.body).get("generation")), now())

    def _resolve_lost_response(self, key: bytes, value: bytes) -> TimestampedStorageGeneration:
        """A condition failed on a retry after an attempt whose response was lost.

        If the object now holds exactly our bytes (same MD5), that attempt was applied.
        """
        metadata = self._metadata(key, {})
        digest = base64.b64encode(hashlib.md5(value).digest()).decode()
        if metadata and metadata.get("md5Hash") == digest:
            return TimestampedStorageGeneration(_generation(metadata.get("generation")), now())
        return TimestampedStorageGeneration(UNKNOWN, now())

    def _resumable_write(self, key: bytes, value: bytes, query: dict[str, str]) -> TimestampedStorageGeneration:
        if "ifGenerationMatch" in query:
            # Fail fast rather than upload a large value for nothing; GCS checks the
            # condition again (atomically) when the upload completes.
            metadata = self._metadata(key, {})
            current = "0" if metadata is None else str(metadata.get("generation"))
            if current != query["ifGenerationMatch"]:
                return TimestampedStorageGeneration(UNKNOWN, now())
        started = self._send("POST", self._bucket_url(upload=True), operation="write (resumable start)", key=key,
                             query={**query, "uploadType": "resumable"},
                             headers={"Content-Type": "application/json",
                                      "X-Upload-Content-Type": "application/octet-stream",
                                      "X-Upload-Content-Length": str(len(value))},
                             body=json.dumps({"name": _key_text(key)}).encode(), ok=(200, 412))
        if started.status == 412:
            return TimestampedStorageGeneration(UNKNOWN, now())
        session = started.header("Location")
        if not session:
            raise CloudRequestError(f"gcs write of key{describe_key(key)}: no resumable session URL")
        total = len(value)
        offset = 0
        while True:
            chunk = value[offset: offset + RESUMABLE_CHUNK]
            last = offset + len(chunk) >= total
            content_range = (f"bytes {offset}-{offset + len(chunk) - 1}/{total if last else '*'}"
                             if chunk else f"bytes */{total}")
            response = self._send("PUT", session, operation="write (resumable chunk)", key=key, query={},
                                  headers={"Content-Range": content_range}, body=chunk,
                                  ok=(200, 201, 308, 412))
            if response.status == 412:
                return TimestampedStorageGeneration(UNKNOWN, now())
            if response.status in (200, 201):
                return TimestampedStorageGeneration(_generation(json.loads(response.body).get("generation")), now())
            persisted = response.header("Range")  # "bytes=0-N": what the server has
            offset = int(persisted.rsplit("-", 1)[1]) + 1 if persisted else offset + len(chunk)

    def _delete(self, key: bytes, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if if_equal not in (None, UNKNOWN):
            # GCS enforces ifGenerationMatch on DELETE atomically; emulators may not, so
            # the condition is also checked first (which alone would not be atomic).
            metadata = self._metadata(key, {})
            current = NO_VALUE if metadata is None else _generation(metadata.get("generation"))
            if current != if_equal:
                return TimestampedStorageGeneration(UNKNOWN, now())
            if current == NO_VALUE:
                return TimestampedStorageGeneration(NO_VALUE, now())
        response = self._send("DELETE", self._object_url(key), operation="delete", key=key,
                              query=_condition_query(if_equal), ok=(200, 204, 404, 412))
        if response.status == 404 and response.maybe_applied_before:
            return TimestampedStorageGeneration(NO_VALUE, now())  # our lost attempt deleted it
        if response.status == 412 or (response.status == 404 and if_equal not in (None, UNKNOWN)):
            return TimestampedStorageGeneration(UNKNOWN, now())
        return TimestampedStorageGeneration(NO_VALUE, now())

    def delete_range(self, key_range: KeyRange) -> None:
        for key in list(self.list(key_range)):
            self._delete(key, None)

    # -- listing ----------------------------------------------------------------------
    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        if key_range.empty:
            return iter(())
        return self._list(key_range)

    def _list(self, key_range: KeyRange) -> Iterator[bytes]:
        prefix = common_prefix(key_range).decode("utf-8", "surrogateescape")
        token: str | None = None
        while True:
            query = {"maxResults": str(LIST_PAGE_SIZE)}
            if prefix:
                query["prefix"] = prefix
            if key_range.inclusive_min:
                query["startOffset"] = key_range.inclusive_min.decode("utf-8", "surrogateescape")
            if key_range.exclusive_max:
                query["endOffset"] = key_range.exclusive_max.decode("utf-8", "surrogateescape")
            if token:
                query["pageToken"] = token
            response = self._send("GET", self._bucket_url(), operation="list", key=None, query=query)
            document = json.loads(response.body)
            for item in document.get("items", ()):
                key = item["name"].encode("utf-8")
                if key_range.contains(key):
                    yield key
            token = document.get("nextPageToken")
            if not token:
                return


def _condition_query(if_equal: bytes | None) -> dict[str, str]:
    if if_equal in (None, UNKNOWN):
        return {}
    if if_equal == NO_VALUE:
        return {"ifGenerationMatch": "0"}
    return {"ifGenerationMatch": _generation_number(if_equal)}


def parse_gs_url(url: str) -> dict[str, Any]:
    """``gs://bucket/path`` -> ``{"driver": "gcs", "bucket": "bucket", "path": "path"}``."""
    if not url.startswith(_URL_PREFIX):
        raise ValueError('expected "gs://bucket/path"')
    rest = without_url_query(url[len(_URL_PREFIX):])
    bucket, _, path = rest.partition("/")
    if not bucket:
        raise ValueError("the bucket name is empty")
    spec: dict[str, Any] = {"driver": "gcs", "bucket": bucket}
    if path:
        spec["path"] = unquote(path)
    return spec
