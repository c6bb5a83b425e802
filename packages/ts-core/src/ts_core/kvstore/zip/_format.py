"""The ZIP file format (PKWARE APPNOTE.TXT): reading the central directory, extracting a
member with bounded decompression, and writing a whole archive.

Nothing stored in an archive is trusted: every offset and size is checked against the
archive's size before it is used, and a member never decompresses past the size its
directory entry declares (nor past what deflate could produce from its compressed bytes).
"""

from __future__ import annotations

import lzma
import struct
import time
import zlib
from collections.abc import Iterable

import attrs

from ...decompression import decompress_bz2, decompress_lzma, decompress_zlib, decompress_zstd
from ...errors import ChunkError

__all__ = [
    "EOCD_SEARCH_BYTES",
    "ZipEntry",
    "ZipFormatError",
    "build_archive",
    "extract",
    "find_end_of_central_directory",
    "has_zip_signature",
    "local_data_span",
    "parse_central_directory",
]


class ZipFormatError(ValueError):
    """The bytes are not a (supported) ZIP archive."""


# APPNOTE 4.3.16: end of central directory record (22 bytes plus a comment <= 65535 bytes).
_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_MAX_COMMENT = 0xFFFF
#: Bytes at the end of an archive that always hold its end-of-central-directory record.
EOCD_SEARCH_BYTES = _EOCD.size + _MAX_COMMENT
#: Bytes at the end of a file auto-detection looks at (a comment of at most 4 KiB, as tensorstore).
DETECT_SUFFIX_BYTES = _EOCD.size + 4096
# APPNOTE 4.3.14 / 4.3.15: zip64 end of central directory record and its locator.
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
# APPNOTE 4.3.12: central directory file header.
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
# APPNOTE 4.3.7: local file header.
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
#: APPNOTE 4.5.3: the zip64 extended information extra field.
_ZIP64_EXTRA_ID = 0x0001
_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
#: APPNOTE 4.4.5 compression methods: those tensorstore reads (zstd and xz) and lzma,
#: which Python's zipfile writes.
STORED, DEFLATED, BZIP2, LZMA, ZSTD, XZ = 0, 8, 12, 14, 93, 95
_METHOD_NAMES = {STORED: "stored", DEFLATED: "deflate", BZIP2: "bzip2", LZMA: "lzma", ZSTD: "zstd", XZ: "xz"}
#: Deflate expands at most 1032:1 (a 258-byte match per 2 bits); the others are bounded
#: generously (a zstd RLE block: 128 KiB from 4 bytes). A declared size beyond this is a
#: lie, refused before decoding; decoding never goes past the declared size either.
_MAX_RATIO = {STORED: 1, DEFLATED: 1032, BZIP2: 50_000, LZMA: 50_000, ZSTD: 32_768, XZ: 50_000}
#: APPNOTE 4.4.3.2: the version needed to extract each method (2.0 deflate, 4.6 bzip2, 6.3 lzma).
_VERSION_NEEDED = {STORED: 20, DEFLATED: 20, BZIP2: 46, LZMA: 63, ZSTD: 63, XZ: 63}
_MAX_32 = 0xFFFFFFFF


@attrs.frozen
class ZipEntry:
    """One member of the central directory; ``name`` is the member's key."""

    name: bytes
    method: int
    flags: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    header_offset: int
    dos_time: int = 0
    dos_date: int = 0
    external_attr: int = 0


#: MS-DOS directory attribute (low byte of the external attributes) and the Unix file
#: type bits of a directory (high 16 bits), either of which marks a directory entry.
_DOS_DIRECTORY = 0x10
_UNIX_TYPE_MASK, _UNIX_DIRECTORY = 0o170000, 0o040000


def is_directory_entry(entry: ZipEntry) -> bool:
    """A directory placeholder (``dir/``, as ``zip -r`` and ``ZipFile.mkdir`` write): not a
    key, as in tensorstore, but kept when the archive is rewritten."""
    unix_type = (entry.external_attr >> 16) & _UNIX_TYPE_MASK
    return entry.name.endswith(b"/") and bool(entry.external_attr & _DOS_DIRECTORY or unix_type == _UNIX_DIRECTORY)


def has_zip_signature(suffix: bytes) -> bool:
    """Whether ``suffix`` (the end of a file) ends with an end-of-central-directory record."""
    try:
        find_end_of_central_directory(suffix, None)
    except ZipFormatError:
        return False
    return True


def find_end_of_central_directory(suffix: bytes, archive_size: int | None) -> tuple[int, int, int, int]:
    """``(entries, directory_offset, directory_size, archive_size)`` from an archive's end.

    ``suffix`` is the last ``len(suffix)`` bytes of the archive. When the archive's size is
    not known (``None``, a suffix read), it follows from the directory's location: the
    central directory ends where the end-of-directory records begin.
    """
    position = suffix.rfind(_EOCD_SIGNATURE)
    while position >= 0:
        if position + _EOCD.size <= len(suffix):
            fields = _EOCD.unpack_from(suffix, position)
            if position + _EOCD.size + fields[7] == len(suffix):
                return _directory_location(suffix, position, fields, archive_size)
        position = suffix.rfind(_EOCD_SIGNATURE, 0, position)
    raise ZipFormatError("Failed to find valid ZIP EOCD (end of central directory record)")


def _directory_location(
    suffix: bytes, position: int, fields: tuple[int, ...], archive_size: int | None
) -> tuple[int, int, int, int]:
    _, disk, directory_disk, disk_entries, entries, directory_size, directory_offset, _ = fields
    if disk != directory_disk or disk_entries != entries:
        raise ZipFormatError("multi-disk ZIP archives are not supported")
    locator_at = position - _ZIP64_LOCATOR.size
    zip64 = locator_at >= 0 and suffix[locator_at:locator_at + 4] == _ZIP64_LOCATOR_SIGNATURE
    if not zip64:
        if _MAX_32 in (directory_size, directory_offset):
            raise ZipFormatError("ZIP64 end of central directory locator is missing")
        if archive_size is None:
            archive_size = directory_offset + directory_size + len(suffix) - position
        return _check_directory(entries, directory_offset, directory_size, archive_size, len(suffix))
    _, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(suffix, locator_at)
    if archive_size is not None:
        start = len(suffix) - (archive_size - record_offset)
    else:  # the record ends at the locator; its size field says where it starts
        start = suffix.rfind(_ZIP64_EOCD_SIGNATURE, 0, locator_at)
        while start >= 0 and start + 12 + struct.unpack_from("<Q", suffix, start + 4)[0] != locator_at:
            start = suffix.rfind(_ZIP64_EOCD_SIGNATURE, 0, start)
        archive_size = record_offset + len(suffix) - start
    if start < 0 or start + _ZIP64_EOCD.size > len(suffix):
        raise ZipFormatError(f"ZIP64 end of central directory record at offset {record_offset} is out of range")
    record = _ZIP64_EOCD.unpack_from(suffix, start)
    if record[0] != _ZIP64_EOCD_SIGNATURE:
        raise ZipFormatError("ZIP64 end of central directory record has a bad signature")
    return _check_directory(record[7], record[9], record[8], archive_size, len(suffix))


def _check_directory(entries: int, offset: int, size: int, archive_size: int, seen: int) -> tuple[int, int, int, int]:
    if archive_size < seen:
        raise ZipFormatError("the end of central directory record is inconsistent with the archive's size")
    if offset + size > archive_size:
        raise ZipFormatError(
            f"central directory [{offset}, {offset + size}) is beyond the end of the {archive_size}-byte archive"
        )
    if entries * _CENTRAL.size > size:
        raise ZipFormatError(f"central directory of {size} bytes cannot hold {entries} entries")
    return entries, offset, size, archive_size


def _zip64_values(extra: bytes, wanted: list[bool], name: bytes) -> list[int]:
    """Values of the zip64 extra field for the header fields that are saturated."""
    position = 0
    while position + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4:position + 4 + size]
        if tag == _ZIP64_EXTRA_ID:
            values = []
            for index in range(sum(wanted)):
                if 8 * index + 8 > len(body):
                    raise ZipFormatError(f"member {name!r}: truncated ZIP64 extra field")
                values.append(struct.unpack_from("<Q", body, 8 * index)[0])
            return values
        position += 4 + size
    raise ZipFormatError(f"member {name!r}: ZIP64 extra field is missing")


def _member_name(raw: bytes, flags: int) -> bytes:
    if flags & _FLAG_UTF8 or raw.isascii():
        return raw
    return raw.decode("cp437").encode("utf-8")  # APPNOTE appendix D: the historical encoding


def parse_central_directory(directory: bytes, entries: int, archive_size: int) -> dict[bytes, ZipEntry]:
    """Members of a central directory (the bytes at its offset), by name; later entries of a
    name replace earlier ones, as Python's ``zipfile`` reads them."""
    members: dict[bytes, ZipEntry] = {}
    position = 0
    for index in range(entries):
        if position + _CENTRAL.size > len(directory):
            raise ZipFormatError(f"central directory entry {index} is truncated")
        fields = _CENTRAL.unpack_from(directory, position)
        if fields[0] != _CENTRAL_SIGNATURE:
            raise ZipFormatError(f"central directory entry {index} has a bad signature")
        flags, method, dos_time, dos_date, crc = fields[3], fields[4], fields[5], fields[6], fields[7]
        compressed, uncompressed = fields[8], fields[9]
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        external_attr, offset = fields[15], fields[16]
        start = position + _CENTRAL.size
        end = start + name_length + extra_length + comment_length
        if end > len(directory):
            raise ZipFormatError(f"central directory entry {index} is truncated")
        raw_name = directory[start:start + name_length]
        extra = directory[start + name_length:start + name_length + extra_length]
        wanted = [uncompressed == _MAX_32, compressed == _MAX_32, offset == _MAX_32]
        if any(wanted):
            values = iter(_zip64_values(extra, wanted, raw_name))
            uncompressed = next(values) if wanted[0] else uncompressed
            compressed = next(values) if wanted[1] else compressed
            offset = next(values) if wanted[2] else offset
        if offset + _LOCAL.size + compressed > archive_size:
            raise ZipFormatError(f"member {raw_name!r}: data is beyond the end of the {archive_size}-byte archive")
        name = _member_name(raw_name, flags)
        members[name] = ZipEntry(
            name, method, flags, crc, compressed, uncompressed, offset, dos_time, dos_date, external_attr
        )
        position = end
    return members


def local_data_span(entry: ZipEntry, header: bytes, archive_size: int) -> tuple[int, int]:
    """``[start, stop)`` of a member's stored bytes, from its local header's first bytes."""
    if len(header) < _LOCAL.size:
        raise ZipFormatError(f"member {entry.name!r}: local header is truncated")
    fields = _LOCAL.unpack_from(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise ZipFormatError(f"member {entry.name!r}: local header has a bad signature")
    start = entry.header_offset + _LOCAL.size + fields[9] + fields[10]
    stop = start + entry.compressed_size
    if stop > archive_size:
        raise ZipFormatError(f"member {entry.name!r}: data is beyond the end of the {archive_size}-byte archive")
    return start, stop


def local_header_guess(entry: ZipEntry) -> int:
    """Bytes to read at a member's offset to get its header and data in one request (most
    writers repeat the central directory's name and little extra in the local header)."""
    return _LOCAL.size + len(entry.name) + 64 + entry.compressed_size


def extract(entry: ZipEntry, stored: bytes) -> bytes:
    """The member's bytes from its stored bytes; ``ChunkError`` if corrupt or if it
    would decompress past its declared size."""
    if entry.flags & _FLAG_ENCRYPTED:
        raise ZipFormatError(f"member {entry.name!r} is encrypted, which is not supported")
    ratio = _MAX_RATIO.get(entry.method)
    if ratio is None:
        raise ZipFormatError(f"member {entry.name!r}: compression method {entry.method} is not supported")
    if entry.uncompressed_size > ratio * entry.compressed_size + 64:
        raise ZipFormatError(
            f"member {entry.name!r}: {entry.compressed_size} {_METHOD_NAMES[entry.method]} bytes cannot "
            f"decompress to the {entry.uncompressed_size} bytes its directory entry declares"
        )
    size = entry.uncompressed_size
    try:
        if entry.method == STORED:
            value = bytes(stored)
        elif entry.method == DEFLATED:
            value = decompress_zlib(stored, size, wbits=-zlib.MAX_WBITS)
        elif entry.method == BZIP2:
            value = decompress_bz2(stored, size)
        elif entry.method == XZ:
            value = decompress_lzma(stored, size, format=lzma.FORMAT_XZ)
        elif entry.method == ZSTD:
            value = _decompress_zip_zstd(stored, size, entry.name)
        else:
            value = _decompress_zip_lzma(stored, size, entry.name)
    except ChunkError as exc:
        raise ZipFormatError(f"member {entry.name!r}: {exc}") from None
    if len(value) != size:
        raise ZipFormatError(f"member {entry.name!r}: holds {len(value)} bytes, but its directory entry declares {size}")
    if zlib.crc32(value) != entry.crc32:
        raise ZipFormatError(f"member {entry.name!r}: CRC-32 mismatch")
    return value


def _decompress_zip_zstd(stored: bytes, size: int, name: bytes) -> bytes:
    try:
        import numcodecs  # noqa: F401 (ts_core.decompression decodes zstd with numcodecs)
    except ImportError:
        raise ZipFormatError(f"member {name!r} is zstd-compressed: reading it needs numcodecs") from None
    return decompress_zstd(stored, size)


def _decompress_zip_lzma(stored: bytes, size: int, name: bytes) -> bytes:
    """APPNOTE 5.8.8: a 4-byte header (version, properties size) then LZMA1 properties."""
    if len(stored) < 4:
        raise ZipFormatError(f"member {name!r}: truncated LZMA header")
    properties_size = struct.unpack_from("<H", stored, 2)[0]
    properties = stored[4:4 + properties_size]
    if len(properties) != properties_size or properties_size != 5:
        raise ZipFormatError(f"member {name!r}: bad LZMA properties")
    try:
        filter_ = lzma._decode_filter_properties(lzma.FILTER_LZMA1, properties)  # type: ignore[attr-defined]
    except lzma.LZMAError as exc:
        raise ZipFormatError(f"member {name!r}: bad LZMA properties: {exc}") from None
    if filter_.get("dict_size", 0) > 1 << 28:
        raise ZipFormatError(f"member {name!r}: LZMA dictionary too large")
    return decompress_lzma(stored[4 + properties_size:], size, format=lzma.FORMAT_RAW, filters=[filter_])


def _dos_now() -> tuple[int, int]:
    now = time.localtime()
    dos_date = max(now.tm_year - 1980, 0) << 9 | now.tm_mon << 5 | now.tm_mday
    dos_time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
    return dos_time, dos_date


def compress_member(name: bytes, value: bytes) -> tuple[ZipEntry, bytes]:
    """A new deflated member (what tensorstore writes), its entry and stored bytes."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    stored = compressor.compress(value) + compressor.flush()
    dos_time, dos_date = _dos_now()
    flags = 0 if name.isascii() else _FLAG_UTF8
    return ZipEntry(name, DEFLATED, flags, zlib.crc32(value), len(stored), len(value), 0, dos_time, dos_date), stored


def build_archive(members: Iterable[tuple[ZipEntry, bytes]]) -> bytes:
    """A complete archive of ``members`` (entry, stored bytes), in the order given.

    Sizes go in the local headers (no data descriptors); archives that need ZIP64 are
    refused: a whole-archive rewrite in memory is not the tool for 4 GiB.
    """
    parts: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    count = 0
    for entry, stored in members:
        flags = entry.flags & ~_FLAG_DATA_DESCRIPTOR  # sizes go in the local header instead
        if not entry.name.isascii():
            flags |= _FLAG_UTF8  # names are stored as UTF-8 (a cp437 name was converted on reading)
        version = _VERSION_NEEDED.get(entry.method, 20)
        if max(entry.compressed_size, entry.uncompressed_size, offset) >= _MAX_32:
            raise ValueError("the archive would need ZIP64 (a member or offset of 4 GiB or more); not supported")
        local = _LOCAL.pack(
            _LOCAL_SIGNATURE, version, flags, entry.method, entry.dos_time, entry.dos_date,
            entry.crc32, entry.compressed_size, entry.uncompressed_size, len(entry.name), 0,
        )
        directory.append(
            _CENTRAL.pack(
                _CENTRAL_SIGNATURE, version, version, flags, entry.method, entry.dos_time,
                entry.dos_date, entry.crc32, entry.compressed_size, entry.uncompressed_size, len(entry.name),
                0, 0, 0, 0, entry.external_attr, offset,
            )
            + entry.name
        )
        parts += (local, entry.name, stored)
        offset += len(local) + len(entry.name) + len(stored)
        count += 1
    if count >= 0xFFFF or offset >= _MAX_32:
        raise ValueError("the archive would need ZIP64 (65535 members or 4 GiB); not supported")
    central = b"".join(directory)
    end = _EOCD.pack(_EOCD_SIGNATURE, 0, 0, count, count, len(central), offset, 0)
    return b"".join([*parts, central, end])


def detect_zip(prefix: bytes, suffix: bytes) -> bool:
    """``auto_detect`` matcher: the file ends with an end-of-central-directory record."""
    return has_zip_signature(suffix)
