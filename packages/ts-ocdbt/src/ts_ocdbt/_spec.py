"""The ``ocdbt`` kvstore's spec: its JSON members, the ``version`` it may pin, and its URL.

Members and defaults follow tensorstore's ``kvstore/ocdbt/schema.yml``; the JSON schema
beside this package (``schemas/ocdbt.json``) checks types and ranges first, this module
normalises what tensorstore normalises (the base names a directory, a zstd level of 0 is
the default, hex digits are lower case, a commit time is printed with the fewest digits).
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any, Final

import attrs

from ts_core.kvstore import KvStoreSpec, kvstore_adapter_url, kvstore_url, quote_url_path

from .format import Config, ZstdCompression

__all__ = [
    "DEFAULT_DATA_PREFIX",
    "DEFAULT_TARGET_DATA_FILE_SIZE",
    "OcdbtSpec",
    "VersionSpec",
    "config_json",
    "format_commit_time",
    "format_version",
    "parse_commit_time",
    "parse_ocdbt_url",
    "parse_version",
    "url_for",
]

#: Where data files go unless a ``*_data_prefix`` member says otherwise.
DEFAULT_DATA_PREFIX: Final = "d/"
#: A data file is flushed once it reaches this size (tensorstore's 2 GiB default).
DEFAULT_TARGET_DATA_FILE_SIZE: Final = 2 << 30

#: A pinned version: a generation number (int) or "the latest version committed at or
#: before" a commit time (str, tensorstore's ``CommitTimeUpperBound``).
VersionSpec = int | str

_COMMIT_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z")
_NANOSECONDS_PER_SECOND: Final = 10**9
_NANOSECOND_DIGITS: Final = 9
_MAX_GENERATION_NUMBER: Final = 2**64 - 1


def parse_commit_time(text: str) -> int:
    """``2025-01-01T01:23:45.678Z`` -> nanoseconds since the Unix epoch (UTC only, as
    tensorstore accepts); digits past nanoseconds are dropped."""
    match = _COMMIT_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f'Invalid OCDBT commit time "{text}": expected YYYY-MM-DDThh:mm:ss[.fraction]Z')
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
            raise ValueError("no such date")
        if hour > 23 or minute > 59 or second > 60:
            raise ValueError("no such time")
    except ValueError as exc:
        raise ValueError(f'Invalid OCDBT commit time "{text}": {exc}') from None
    fraction = (match.group(7) or "")[:_NANOSECOND_DIGITS].ljust(_NANOSECOND_DIGITS, "0")
    return seconds * _NANOSECONDS_PER_SECOND + int(fraction)


def format_commit_time(nanoseconds: int) -> str:
    """Nanoseconds since the epoch as tensorstore prints a commit time (no trailing zeros)."""
    seconds, fraction = divmod(nanoseconds, _NANOSECONDS_PER_SECOND)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_version(value: Any) -> VersionSpec:
    """A ``version`` member (generation number >= 1, or commit time) normalised."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"version: expected a generation number or a commit time, but received {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= _MAX_GENERATION_NUMBER:
            raise ValueError(f"version: expected integer in the range [1, {_MAX_GENERATION_NUMBER}], but received: {value}")
        return value
    return format_commit_time(parse_commit_time(value))


def format_version(version: VersionSpec) -> str:
    """A version as the URL names it: ``v3``, or the commit time."""
    return f"v{version}" if isinstance(version, int) else version


def _version_from_url(text: str) -> VersionSpec:
    """The ``<version>`` of ``ocdbt:@<version>/path``: ``v<generation>`` or a commit time."""
    try:
        if text.startswith("v"):
            digits = text[1:]
            if not digits.isdigit() or not 1 <= int(digits) <= _MAX_GENERATION_NUMBER:
                raise ValueError("Invalid generation number")
            return int(digits)
        return parse_version(text)
    except ValueError as exc:
        raise ValueError(f'Invalid OCDBT version: "{text}": {exc}') from None


def _directory_base(value: Any) -> Any:
    """The base kvstore's spec JSON, its path naming a directory (ending in ``/``)."""
    if value is None:
        return None
    json = KvStoreSpec(value, json_path="base").to_json()
    path = json.get("path", "")
    if path and not path.endswith("/"):
        json["path"] = path + "/"
    return json


def _optional_directory_base(value: Any) -> Any:
    return None if value is None else _directory_base(value)


def _normalise_config(value: Any) -> dict[str, Any]:
    """``config`` constraints as tensorstore writes them back (see the module docstring)."""
    config = dict(value or {})
    if "uuid" in config:
        config["uuid"] = str(config["uuid"]).lower()
    compression = config.get("compression")
    if isinstance(compression, dict):
        compression = {"id": "zstd", **({"level": compression["level"]} if compression.get("level") else {})}
        config["compression"] = compression
    return dict(sorted(config.items()))


def _optional_version(value: Any) -> VersionSpec | None:
    return None if value is None else parse_version(value)


@attrs.define
class OcdbtSpec:
    """Members of an ``ocdbt`` kvstore spec (besides ``driver``, ``path`` and ``context``)."""

    base: Any = attrs.field(default=None, converter=_directory_base)
    manifest: Any = attrs.field(default=None, converter=_optional_directory_base)
    config: dict[str, Any] = attrs.field(factory=dict, converter=_normalise_config)
    value_data_prefix: str = DEFAULT_DATA_PREFIX
    btree_node_data_prefix: str = DEFAULT_DATA_PREFIX
    version_tree_node_data_prefix: str = DEFAULT_DATA_PREFIX
    assume_config: bool = False
    target_data_file_size: int | None = None
    experimental_read_coalescing_threshold_bytes: int | None = None
    experimental_read_coalescing_merged_bytes: int | None = None
    experimental_read_coalescing_interval: str | None = None
    coordinator: Any = None
    cache_pool: Any = "cache_pool"
    data_copy_concurrency: Any = "data_copy_concurrency"
    version: Any = attrs.field(default=None, converter=_optional_version)


def config_json(config: Config) -> dict[str, Any]:
    """A database's config as the ``config`` member of its spec (tensorstore leaves out the
    manifest kind there)."""
    json: dict[str, Any] = {
        "uuid": config.uuid.hex(),
        "max_inline_value_bytes": config.max_inline_value_bytes,
        "max_decoded_node_bytes": config.max_decoded_node_bytes,
        "version_tree_arity_log2": config.version_tree_arity_log2,
        "compression": None if config.compression is None else _compression_json(config.compression),
    }
    return dict(sorted(json.items()))


def _compression_json(compression: ZstdCompression) -> dict[str, Any]:
    return {"id": "zstd", **({"level": compression.level} if compression.level else {})}


def parse_ocdbt_url(component: str, base: dict[str, Any]) -> dict[str, Any]:
    """``ocdbt:path`` or ``ocdbt:@<version>/path`` after the URL of the base kvstore."""
    _, _, rest = component.partition(":")
    version: VersionSpec | None = None
    if rest.startswith("@"):
        version_text, _, rest = rest[1:].partition("/")
        version = _version_from_url(version_text)
    spec = kvstore_adapter_url("ocdbt", f"ocdbt:{rest}", base, directory_base=True)
    if version is not None:
        spec["version"] = version
    return spec


def url_for(spec: OcdbtSpec, path: str) -> str:
    """The URL of an ocdbt kvstore: the base's URL, then ``|ocdbt:[@<version>/]<path>``."""
    if spec.manifest is not None:
        raise ValueError("OCDBT URL syntax not supported with separate manifest kvstore")
    version = "" if spec.version is None else f"@{format_version(spec.version)}/"
    return f"{kvstore_url(spec.base)}|ocdbt:{version}{quote_url_path(path)}"
