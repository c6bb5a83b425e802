"""The ``s3`` kvstore: S3's REST API with SigV4, conditional writes on ETags.

A key's storage generation is its ETag (quotes included). Writes are made conditional
with ``If-Match`` / ``If-None-Match: *``; a 412 (or 409, a concurrent conditional
write) is a failed condition. S3 ETags are content hashes, so rewriting identical bytes
keeps the generation: conditions compare content, which is what a read-modify-write
needs. Values above ``MULTIPART_THRESHOLD`` bytes go up as a multipart upload whose
completion carries the condition.

Integrity of a PUT: the value's CRC-32 goes in ``x-amz-checksum-crc32`` (S3's flexible
checksums, what current AWS SDKs send by default), so a body that arrives altered or cut
short (a writer killed after its headers) is refused rather than stored. SeaweedFS
checks it, and stores a truncated body otherwise; it does not check
``x-amz-content-sha256``. CRC-32 costs 1.5 ms per 4 MiB where MD5 costs 10 ms. The
payload hash that SigV4 signs is the body's SHA-256 over plain HTTP (the signature then
covers the body) and ``UNSIGNED-PAYLOAD`` over HTTPS, where TLS protects the body in
transit (as AWS permits for header-signed requests); anonymous requests carry none.
Multipart parts and DeleteObjects keep ``Content-MD5``, which S3 requires or accepts
there without extra setup.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import xml.etree.ElementTree as ElementTree
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

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
from ._credentials import AwsCredentialsProvider
from ._sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, sign_request, uri_encode

__all__ = ["S3KvStore", "S3KvStoreSpec", "parse_s3_url"]

_URL_PREFIX = "s3://"
#: Region used in signatures when an endpoint is given without ``aws_region``.
DEFAULT_REGION = "us-east-1"
#: Values larger than this are uploaded in parts (S3 requires parts >= 5 MiB but the last).
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
LIST_PAGE_SIZE = 1000
#: DeleteObjects takes at most 1000 keys per request.
DELETE_BATCH = 1000
_S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
#: S3 flexible checksums: the server refuses a PUT whose body does not match.
CHECKSUM_HEADER = "x-amz-checksum-crc32"
# Bucket names that can be a DNS label (no dots: TLS wildcard certificates do not cover them).
_VIRTUAL_HOST_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@attrs.define
class S3KvStoreSpec:
    bucket: str = ""
    requester_pays: bool = False
    aws_region: str | None = None
    endpoint: str | None = None
    host_header: str | None = None
    aws_credentials: Any = "aws_credentials"
    s3_request_concurrency: Any = "s3_request_concurrency"
    s3_request_retries: Any = "s3_request_retries"
    s3_region: Any = "s3_region"
    data_copy_concurrency: Any = "data_copy_concurrency"


def _etag_generation(etag: str | None) -> bytes:
    if not etag:
        raise CloudRequestError("s3 response carries no ETag")
    return make_generation(etag.encode("utf-8"))


def _response_generation(response: HttpResponse) -> bytes | None:
    etag = response.header("ETag")
    return make_generation(etag.encode("utf-8")) if etag else None


def _etag_of(generation: bytes) -> str:
    return generation[:-1].decode("utf-8")


def _find_text(element: ElementTree.Element, name: str) -> str | None:
    found = element.find(_S3_NAMESPACE + name)
    if found is None:
        found = element.find(name)
    return None if found is None else (found.text or "")


_BUCKET_IP_ADDRESS = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_BUCKET_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_BUCKET_CURRENT = re.compile(rf"{_BUCKET_LABEL}(?:\.{_BUCKET_LABEL})*")
_BUCKET_LABEL_US_EAST_1 = r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?"
_BUCKET_US_EAST_1 = re.compile(rf"{_BUCKET_LABEL_US_EAST_1}(?:\.{_BUCKET_LABEL_US_EAST_1})*")
_BUCKET_RESERVED_PREFIXES = ("sthree-", "xn--")
_BUCKET_RESERVED_SUFFIXES = ("--ol-s3", "-s3alias")


def bucket_name_problem(bucket: str) -> str | None:
    """Why ``bucket`` cannot name an S3 bucket, or None (the rules tensorstore applies:
    AWS's current naming rules, or the longer names with capitals and underscores that
    us-east-1 allowed before 2018)."""
    if not 3 <= len(bucket) <= 255:
        return "a bucket name has 3 to 255 characters"
    if bucket.startswith(_BUCKET_RESERVED_PREFIXES) or bucket.endswith(_BUCKET_RESERVED_SUFFIXES):
        return "the name uses a prefix or suffix S3 reserves"
    if _BUCKET_IP_ADDRESS.fullmatch(bucket):
        return "a bucket name cannot be an IP address"
    if len(bucket) <= 63 and _BUCKET_CURRENT.fullmatch(bucket):
        return None
    if _BUCKET_US_EAST_1.fullmatch(bucket):
        return None
    return ("a bucket name is dot-separated labels of letters, digits, '-' (and, in old "
            "us-east-1 names, '_'), each starting and ending with a letter or digit")


class S3KvStore(KvStoreDriver):
    """Amazon S3 or an S3-compatible server (path-style addressing for custom endpoints)."""

    id = "s3"
    spec_class = S3KvStoreSpec

    @classmethod
    def normalize_spec(cls, spec: Any, path: str) -> tuple[Any, str]:
        """An invalid bucket name is an error naming ``bucket`` when the spec is parsed,
        as in tensorstore (it would otherwise become part of a request's URL)."""
        check_bucket_name(spec.bucket, "S3", bucket_name_problem)
        return spec, path

    def __init__(self, spec: S3KvStoreSpec, executor: Executor, transport: HttpTransport,
                 credentials: AwsCredentialsProvider, regions: dict[str, str]) -> None:
        if not spec.bucket:
            raise ValueError("kvstore.bucket: a bucket name is required")
        if spec.host_header and not spec.endpoint:
            raise ValueError("kvstore.host_header: may only be given together with endpoint")
        if spec.endpoint:
            parts = urlsplit(spec.endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"kvstore.endpoint: expected an http or https URL, "
                                 f"but received: {spec.endpoint!r}")
        self._spec = spec
        self._executor = executor
        self._transport = transport
        self._credentials = credentials
        self._regions = regions
        self._region: str | None = spec.aws_region or (DEFAULT_REGION if spec.endpoint else None)
        self._base_parts: tuple[str, str, str] | None = None

    @classmethod
    def open(cls, spec: Any, context: Context) -> S3KvStore:
        executor = context.resource("s3_request_concurrency", spec.s3_request_concurrency,
                                    "kvstore.s3_request_concurrency")
        retries = context.resource("s3_request_retries", spec.s3_request_retries,
                                   "kvstore.s3_request_retries")
        credentials = context.resource("aws_credentials", spec.aws_credentials, "kvstore.aws_credentials")
        regions = context.resource("s3_region", spec.s3_region, "kvstore.s3_region")
        return cls(spec, executor, HttpTransport(executor.limit, retries, "s3"), credentials, regions)

    @property
    def spec(self) -> S3KvStoreSpec:
        return self._spec

    @property
    def executor(self) -> Executor:
        return self._executor

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        return f"{_URL_PREFIX}{spec.bucket}/{quote(path, safe='/@:!$&()*+,;=-._~')}"

    def __repr__(self) -> str:
        return f"S3KvStore(bucket={self._spec.bucket!r}, endpoint={self._spec.endpoint!r})"

    # -- addressing -------------------------------------------------------------------
    def region(self) -> str:
        """The signing region: given, cached in ``s3_region``, or asked of S3 once."""
        if self._region is None:
            bucket = self._spec.bucket
            region = self._regions.get(bucket)
            if region is None:
                response = self._transport.request(
                    "HEAD", f"https://{bucket}.s3.amazonaws.com/", operation="region lookup",
                    ok=(200, 301, 307, 400, 403))
                region = response.header("x-amz-bucket-region")
                if not region:
                    raise CloudRequestError(
                        f's3 cannot determine the region of bucket "{bucket}" '
                        f"(HTTP {response.status}); set aws_region", response.status)
                self._regions[bucket] = region
            self._region = region
        return self._region

    def _base(self) -> tuple[str, str, str]:
        """(scheme://host, host header, path prefix) for requests to the bucket."""
        if self._base_parts is None:
            self._base_parts = self._find_base()
        return self._base_parts

    def _find_base(self) -> tuple[str, str, str]:
        bucket = self._spec.bucket
        if self._spec.endpoint:
            parts = urlsplit(self._spec.endpoint.rstrip("/"))
            host = self._spec.host_header or parts.netloc
            return f"{parts.scheme}://{parts.netloc}", host, f"{parts.path}/{uri_encode(bucket, False)}"
        region = self.region()
        if _VIRTUAL_HOST_BUCKET.match(bucket):
            host = f"{bucket}.s3.{region}.amazonaws.com"
            return f"https://{host}", host, ""
        host = f"s3.{region}.amazonaws.com"
        return f"https://{host}", host, f"/{uri_encode(bucket, False)}"

    def object_url(self, key: bytes) -> tuple[str, str, str]:
        """(URL without query, host header, canonical path) of ``key``."""
        origin, host, prefix = self._base()
        path = f"{prefix}/{uri_encode(key.decode('utf-8'), True)}"
        return origin + path, host, path

    def _send(self, method: str, key: bytes | None, *, operation: str, query: dict[str, str] | None = None,
              headers: dict[str, str] | None = None, body: bytes | memoryview = b"",
              ok: tuple[int, ...] = (200,), bucket_level: bool = False) -> HttpResponse:
        if bucket_level:
            origin, host, prefix = self._base()
            path = prefix or "/"
            if not path.endswith("/"):
                path += "/"
            base = origin + path
        else:
            assert key is not None
            _check_key(key)
            base, host, path = self.object_url(key)
        query = query or {}
        extra = dict(headers or {})
        if self._spec.requester_pays:
            extra["x-amz-request-payer"] = "requester"
        payload_hash = ""  # computed once, and only when a request is signed
        query_string = "&".join(f"{uri_encode(k, False)}={uri_encode(v, False)}" for k, v in sorted(query.items()))
        url = base + ("?" + query_string if query_string else "")

        def signed_headers() -> dict[str, str]:
            nonlocal payload_hash
            all_headers = {"host": host, **extra}
            credentials = self._credentials.get()
            if credentials is not None:
                if not payload_hash:
                    payload_hash = self._payload_hash(body, url)
                all_headers.update(sign_request(
                    method=method, canonical_path=path, query=query, headers=all_headers,
                    payload_sha256=payload_hash, access_key=credentials.access_key,
                    secret_key=credentials.secret_key, session_token=credentials.session_token,
                    region=self.region()))
            return all_headers

        return self._transport.request(method, url, operation=operation, key=key, headers=signed_headers,
                                       body=body if method in ("PUT", "POST") else None, ok=ok)

    @staticmethod
    def _payload_hash(body: bytes | memoryview, url: str) -> str:
        """What SigV4 signs for the body: see the module docstring."""
        if not body:
            return EMPTY_SHA256
        if url.startswith("https://"):
            return UNSIGNED_PAYLOAD
        return hashlib.sha256(body).hexdigest()

    # -- reads ------------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        read = ObjectRead("s3", key, options)
        headers: dict[str, str] = {}
        if read.range_header:
            headers["Range"] = read.range_header
        if read.conditional:
            assert options.if_not_equal is not None
            headers["If-None-Match"] = _etag_of(options.if_not_equal)
        response = self._send("HEAD" if read.metadata_only else "GET", key, operation="read", headers=headers,
                              ok=READ_STATUSES)
        return read_result(response, read, _response_generation)

    # -- writes -----------------------------------------------------------------------
    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if value is None:
            return self._delete(key, if_equal)
        value = bytes(value)  # no copy of bytes; a mutable buffer must not change between retries
        headers = _condition_headers(if_equal)
        if len(value) > MULTIPART_THRESHOLD:
            return self._multipart_write(key, value, headers)
        headers[CHECKSUM_HEADER] = _crc32_checksum(value)
        response = self._send("PUT", key, operation="write", headers=headers, body=value,
                              ok=(200, 409, 412))
        if response.status in (409, 412):
            if response.maybe_applied_before:
                return self._resolve_lost_response(key, value)
            return TimestampedStorageGeneration(UNKNOWN, now())
        return TimestampedStorageGeneration(_etag_generation(response.header("ETag")), now())

    def _resolve_lost_response(self, key: bytes, value: bytes) -> TimestampedStorageGeneration:
        """A condition failed on a retry after an attempt whose response was lost.

        If the object now holds exactly our bytes, that attempt was applied (the ETag of
        a single-part upload is the MD5 of the content): report it as our write.
        """
        current = self._send("HEAD", key, operation="write (verify)", ok=(200, 404))
        etag = current.header("ETag") if current.status == 200 else None
        if etag and etag.strip('"') == hashlib.md5(value).hexdigest():
            return TimestampedStorageGeneration(_etag_generation(etag), now())
        return TimestampedStorageGeneration(UNKNOWN, now())

    def _delete(self, key: bytes, if_equal: bytes | None) -> TimestampedStorageGeneration:
        if if_equal not in (None, UNKNOWN):
            # S3 deletes are not conditional everywhere: check first (not atomic, as on S3
            # itself), and also send If-Match for servers that do honour it.
            current = self._send("HEAD", key, operation="delete", ok=(200, 404))
            generation = NO_VALUE if current.status == 404 else _etag_generation(current.header("ETag"))
            if generation != if_equal:
                return TimestampedStorageGeneration(UNKNOWN, now())
            if generation == NO_VALUE:
                return TimestampedStorageGeneration(NO_VALUE, now())
        headers = _condition_headers(if_equal) if if_equal not in (None, UNKNOWN, NO_VALUE) else {}
        response = self._send("DELETE", key, operation="delete", headers=headers, ok=(200, 204, 404, 412))
        if response.status == 412:
            return TimestampedStorageGeneration(UNKNOWN, now())
        return TimestampedStorageGeneration(NO_VALUE, now())

    def _multipart_write(self, key: bytes, value: bytes, condition: dict[str, str]) -> TimestampedStorageGeneration:
        if condition:
            # Fail fast rather than upload every part for nothing; the completion request
            # carries the condition, which S3 checks atomically.
            current = self._send("HEAD", key, operation="write", ok=(200, 404))
            etag = current.header("ETag") if current.status == 200 else None
            holds = (etag is None) if "If-None-Match" in condition else (etag == condition["If-Match"])
            if not holds:
                return TimestampedStorageGeneration(UNKNOWN, now())
        created = self._send("POST", key, operation="write (multipart start)", query={"uploads": ""})
        upload_id = _find_text(ElementTree.fromstring(created.body), "UploadId")
        if not upload_id:
            raise CloudRequestError(f"s3 write of key{describe_key(key)}: no UploadId in the response")
        try:
            parts = []
            view = memoryview(value)
            for number, offset in enumerate(range(0, len(value), PART_SIZE), start=1):
                part = view[offset: offset + PART_SIZE]
                response = self._send(
                    "PUT", key, operation=f"write (part {number})", body=part,
                    headers={"Content-MD5": _content_md5(part)},
                    query={"partNumber": str(number), "uploadId": upload_id})
                parts.append((number, response.header("ETag") or ""))
            document = "<CompleteMultipartUpload>" + "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_escape(etag)}</ETag></Part>"
                for n, etag in parts) + "</CompleteMultipartUpload>"
            completed = self._send("POST", key, operation="write (multipart complete)", headers=condition,
                                   query={"uploadId": upload_id}, body=document.encode(),
                                   ok=(200, 409, 412))
        except BaseException:
            self._abort_upload(key, upload_id)
            raise
        if completed.status in (409, 412):
            self._abort_upload(key, upload_id)
            return TimestampedStorageGeneration(UNKNOWN, now())
        root = ElementTree.fromstring(completed.body)
        if root.tag.endswith("Error"):  # S3 may report a failure inside a 200 response
            raise CloudRequestError(f"s3 write of key{describe_key(key)} failed: {_find_text(root, 'Code')}",
                                    completed.status, key)
        return TimestampedStorageGeneration(_etag_generation(_find_text(root, "ETag")), now())

    def _abort_upload(self, key: bytes, upload_id: str) -> None:
        # An unfinished upload is invisible; bucket lifecycle rules clean up what remains.
        with contextlib.suppress(CloudRequestError):
            self._send("DELETE", key, operation="write (multipart abort)", query={"uploadId": upload_id},
                       ok=(200, 204, 404))

    def delete_range(self, key_range: KeyRange) -> None:
        keys = list(self.list(key_range))
        for start in range(0, len(keys), DELETE_BATCH):
            self._delete_batch(keys[start: start + DELETE_BATCH])

    def _delete_batch(self, keys: list[bytes]) -> None:
        """One DeleteObjects request (quiet mode: only failures are reported)."""
        document = "<Delete><Quiet>true</Quiet>" + "".join(
            f"<Object><Key>{_xml_escape(key.decode('utf-8'))}</Key></Object>" for key in keys) + "</Delete>"
        body = document.encode("utf-8")
        response = self._send("POST", None, operation="delete_range", query={"delete": ""}, bucket_level=True,
                              headers={"Content-MD5": _content_md5(body)},
                              body=body)
        errors = [(_find_text(error, "Key"), _find_text(error, "Code"))
                  for error in ElementTree.fromstring(response.body).iter(_S3_NAMESPACE + "Error")]
        if errors:
            key, code = errors[0]
            raise CloudRequestError(f's3 delete_range could not delete {len(errors)} keys, e.g. "{key}": {code}')

    # -- listing ----------------------------------------------------------------------
    def list(self, key_range: KeyRange) -> Iterator[bytes]:
        if key_range.empty:
            return iter(())
        return self._list(key_range)

    def _list(self, key_range: KeyRange) -> Iterator[bytes]:
        prefix = common_prefix(key_range).decode("utf-8", "surrogateescape")
        token: str | None = None
        while True:
            query = {"list-type": "2", "max-keys": str(LIST_PAGE_SIZE), "encoding-type": "url"}
            if prefix:
                query["prefix"] = prefix
            if token:
                query["continuation-token"] = token
            elif len(key_range.inclusive_min) > len(prefix.encode()):
                # start-after is exclusive; every key >= inclusive_min is > its prefix
                # without the last byte (when that prefix is still valid UTF-8).
                with contextlib.suppress(UnicodeDecodeError):
                    query["start-after"] = key_range.inclusive_min[:-1].decode("utf-8")
            response = self._send("GET", None, operation="list", query=query, bucket_level=True)
            root = ElementTree.fromstring(response.body)
            encoded = (_find_text(root, "EncodingType") or "").lower() == "url"
            for contents in root.iter(_S3_NAMESPACE + "Contents"):
                name = _find_text(contents, "Key") or ""
                # S3 form-encodes listed keys (a space is "+"), as botocore decodes them.
                key = (unquote_plus(name) if encoded else name).encode("utf-8")
                if key_range.exclusive_max and key >= key_range.exclusive_max:
                    return
                if key_range.contains(key):
                    yield key
            if (_find_text(root, "IsTruncated") or "").lower() != "true":
                return
            token = _find_text(root, "NextContinuationToken")
            if not token:
                return


def _condition_headers(if_equal: bytes | None) -> dict[str, str]:
    if if_equal in (None, UNKNOWN):
        return {}
    if if_equal == NO_VALUE:
        return {"If-None-Match": "*"}
    return {"If-Match": _etag_of(if_equal)}


def _crc32_checksum(body: bytes | memoryview) -> str:
    """The ``x-amz-checksum-crc32`` header of ``body``: base64 of the big-endian CRC-32."""
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def _content_md5(body: bytes | memoryview) -> str:
    """The ``Content-MD5`` header of ``body`` (hashlib releases the GIL for large bodies)."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _check_key(key: bytes) -> None:
    if not key:
        raise ValueError('Invalid key: "": s3 object keys must not be empty')
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Invalid key: {key!r}: s3 object keys must be UTF-8") from None
    if len(key) > 1024:
        raise ValueError(f"Invalid key: {key[:40]!r}...: s3 object keys are at most 1024 bytes")


def parse_s3_url(url: str) -> dict[str, Any]:
    """``s3://bucket/path`` -> ``{"driver": "s3", "bucket": "bucket", "path": "path"}``."""
    if not url.startswith(_URL_PREFIX):
        raise ValueError('expected "s3://bucket/path"')
    rest = without_url_query(url[len(_URL_PREFIX):])
    bucket, _, path = rest.partition("/")
    if not bucket:
        raise ValueError("the bucket name is empty")
    spec: dict[str, Any] = {"driver": "s3", "bucket": bucket}
    if path:
        spec["path"] = unquote(path)
    return spec
