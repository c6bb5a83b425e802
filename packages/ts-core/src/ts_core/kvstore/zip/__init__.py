"""The ``zip`` kvstore adapter: members of a ZIP archive in a base kvstore."""

from ._driver import ZipKvStore, ZipKvStoreSpec, parse_zip_url
from ._format import DETECT_SUFFIX_BYTES, has_zip_signature

__all__ = ["DETECT_SUFFIX_BYTES", "ZipKvStore", "ZipKvStoreSpec", "has_zip_signature", "parse_zip_url"]
