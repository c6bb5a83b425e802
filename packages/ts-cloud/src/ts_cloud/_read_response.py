"""One way for every object-store kvstore to turn a read's HTTP response into a ReadResult.

The ``s3``, ``gcs`` and ``http`` kvstores differ only in how they address a key, how
they send ``if_not_equal`` and where a response carries the generation; what a status
and a ``Content-Range`` mean is the same for all of them, and is decided here:

* 404 / 410: the key is missing (``unspecified`` when ``if_not_equal`` was "no value");
* 304: the ``if_not_equal`` generation is current (``unspecified``);
* 416: the byte range does not fit the value: ValueError naming the key and the range,
  like every other out-of-range read (tensorstore raises OUT_OF_RANGE);
* 206: the value's bytes that the ``Content-Range`` header says were sent; a 206
  without a usable ``Content-Range``, or one that does not cover the requested range,
  is an error (never bytes that may be the wrong ones), as in tensorstore;
* 200: the whole value (no range was asked for, or the server ignored ``Range``): the
  range is resolved against it and sliced locally. Recent tensorstore versions refuse
  this case to flag the wasted transfer; returning the right bytes keeps servers without
  range support usable.

An open range ``[start, end)`` is requested from the byte *before* ``start``, so that a
value of exactly ``start`` bytes (an empty, valid tail) answers 206 rather than 416:
every 416 then really is an out-of-range read, with no second request to find out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NamedTuple

import attrs

from ts_core.kvstore import (
    NO_VALUE,
    UNKNOWN,
    ByteRange,
    ReadOptions,
    ReadResult,
    TimestampedStorageGeneration,
    make_generation,
)

from ._common import missing_result
from ._http import CloudRequestError, HttpResponse, describe_key

__all__ = [
    "READ_STATUSES",
    "UNVERSIONED",
    "ContentRange",
    "ObjectRead",
    "parse_content_range",
    "read_result",
]

#: Statuses a read takes from the transport; any other status is an error there.
READ_STATUSES = (200, 206, 304, 404, 410, 416)
#: Generation of a value whose server gives no validator (no ETag, no Last-Modified): it
#: never satisfies ``if_not_equal``, since nothing shows the value is unchanged.
UNVERSIONED = make_generation(b"")

# RFC 9110 section 14.4: "bytes first-last/complete-length" (length may be "*"), or
# "bytes */complete-length" in a 416.
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


class ContentRange(NamedTuple):
    """A parsed ``Content-Range``: bytes ``[first, last]`` (None in a 416) of ``total`` (None: ``*``)."""

    first: int | None
    last: int | None
    total: int | None


def parse_content_range(header: str | None) -> ContentRange | None:
    """``bytes 2-4/10`` -> (2, 4, 10); ``bytes */10`` -> (None, None, 10); None if unusable."""
    match = _CONTENT_RANGE.match(header or "")
    if match is None:
        return None
    first, last, total_text = match.groups()
    total = None if total_text == "*" else int(total_text)
    if first is None:
        return None if total is None else ContentRange(None, None, total)
    first_byte, last_byte = int(first), int(last)
    if first_byte > last_byte or (total is not None and last_byte >= total):
        return None
    return ContentRange(first_byte, last_byte, total)


def describe_range(byte_range: ByteRange) -> str:
    """``[2, 5)``, ``[7, )``, ``[-3, )``: the form ts_core's out-of-range errors use."""
    upper = "" if byte_range.exclusive_max is None else byte_range.exclusive_max
    return f"[{byte_range.inclusive_min}, {upper})"


@attrs.frozen
class ObjectRead:
    """One read of ``key`` from an object store: the range it asks for, and when it began.

    ``started`` (taken before the first request) is the time of every stamp the read
    returns: the answer was current at least as of then.
    """

    service: str
    key: bytes
    options: ReadOptions
    started: float = attrs.field(factory=time.time)

    @property
    def metadata_only(self) -> bool:
        """An empty (or inverted) byte range: only existence, generation and size are needed.

        HTTP cannot ask for zero bytes, so the driver sends a HEAD (or a metadata request).
        """
        byte_range = self.options.byte_range
        stop = byte_range.exclusive_max
        return byte_range.inclusive_min >= 0 and stop is not None and stop <= byte_range.inclusive_min

    @property
    def range_header(self) -> str | None:
        """The ``Range`` to send; None for the whole value or a metadata-only read."""
        byte_range = self.options.byte_range
        if byte_range.is_full or self.metadata_only:
            return None
        start, stop = byte_range.inclusive_min, byte_range.exclusive_max
        if start < 0:
            return f"bytes={start}"  # the last -start bytes
        if stop is None:
            return f"bytes={start - 1}-"  # from the byte before: see the module docstring
        return f"bytes={start}-{stop - 1}"

    @property
    def conditional(self) -> bool:
        """Whether ``if_not_equal`` names a stored version (what a server can compare)."""
        return self.options.if_not_equal not in (None, UNKNOWN, NO_VALUE)

    def describe(self) -> str:
        return f"{self.service} read of key{describe_key(self.key)}"


def read_result(
    response: HttpResponse,
    read: ObjectRead,
    generation: Callable[[HttpResponse], bytes | None],
    size: Callable[[HttpResponse], int | None] | None = None,
) -> ReadResult:
    """The ReadResult of ``response`` (one of READ_STATUSES) to ``read``'s request.

    ``generation`` extracts the stored version from a 200/206 response (None when the
    response does not carry it: an error). ``size`` gives the value's size from the
    response to a metadata-only read; by default its ``Content-Length`` (a HEAD).
    """
    options, key, status = read.options, read.key, response.status
    if status in (404, 410):
        return missing_result(options, read.started)
    if status == 304:
        if not read.conditional:
            raise CloudRequestError(f"{read.describe()}: HTTP 304 (not modified) to a read without "
                                    "an if_not_equal generation", status, key)
        assert options.if_not_equal is not None
        return ReadResult("unspecified", b"", TimestampedStorageGeneration(options.if_not_equal, read.started))
    if status == 416:
        raise _unsatisfiable(response, read)
    if status not in (200, 206) or (status == 206 and read.metadata_only):
        raise CloudRequestError(f"{read.describe()}: unexpected HTTP {status}", status, key)
    stored = generation(response)
    if stored is None:
        raise CloudRequestError(f"{read.describe()}: the HTTP {status} response names no generation "
                                "(version) of the value", status, key)
    stamp = TimestampedStorageGeneration(stored, read.started)
    if options.if_not_equal == stored and stored != UNVERSIONED:
        return ReadResult("unspecified", b"", stamp)  # the server did not apply the condition
    if read.metadata_only:
        value_size = size(response) if size is not None else _content_length(response)
        if value_size is None:
            raise CloudRequestError(f"{read.describe()}: the response gives no size of the value", status, key)
        options.byte_range.resolve(value_size, key)  # raises when the range does not fit
        return ReadResult("value", b"", stamp)
    if status == 200:
        return ReadResult("value", _slice_whole_value(response.body, options.byte_range, key), stamp)
    return ReadResult("value", _partial_value(response, read), stamp)


def _slice_whole_value(body: bytes, byte_range: ByteRange, key: bytes) -> bytes:
    if byte_range.is_full:
        return body
    start, stop = byte_range.resolve(len(body), key)
    return body[start:stop]


def _partial_value(response: HttpResponse, read: ObjectRead) -> bytes:
    """The requested bytes of a 206, checked against its ``Content-Range``."""
    header = response.header("Content-Range")
    span = parse_content_range(header)
    if span is None or span.first is None or span.last is None:
        raise CloudRequestError(
            f"{read.describe()}: HTTP 206 (partial content) without a usable Content-Range header "
            f"(received {header!r}); which bytes were sent is unknown", 206, read.key)
    body = response.body
    if span.last - span.first + 1 != len(body):
        raise CloudRequestError(
            f"{read.describe()}: Content-Range {header!r} announces {span.last - span.first + 1} bytes "
            f"but the response holds {len(body)}", 206, read.key)
    # An unknown total ("*"): a server only cuts a range short at the end of the value.
    total = span.total if span.total is not None else span.last + 1
    byte_range = read.options.byte_range
    start, stop = byte_range.resolve(total, read.key)  # raises when the range does not fit
    if start < span.first or stop > span.last + 1:
        of_total = "" if span.total is None else f" of {span.total}"
        raise ValueError(
            f"byte range {describe_range(byte_range)} of key {read.key!r} was not satisfied: "
            f"{read.service} sent bytes [{span.first}, {span.last + 1}){of_total}")
    return body[start - span.first: stop - span.first]


def _unsatisfiable(response: HttpResponse, read: ObjectRead) -> ValueError:
    """The error for a 416; the message of ``ByteRange.resolve`` when the size is known."""
    byte_range = read.options.byte_range
    span = parse_content_range(response.header("Content-Range"))
    if span is not None and span.total is not None:
        try:
            byte_range.resolve(span.total, read.key)
        except ValueError as exc:
            return exc
    return ValueError(
        f"byte range {describe_range(byte_range)} is not valid for the value of key {read.key!r} "
        f"({read.service} answered HTTP 416: range not satisfiable)")


def _content_length(response: HttpResponse) -> int | None:
    text = response.header("Content-Length")
    return int(text) if text and text.strip().isdigit() else None
