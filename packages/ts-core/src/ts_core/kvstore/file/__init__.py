"""The ``file`` kvstore driver."""

from ._driver import LOCK_SUFFIX, FileKvStore, FileKvStoreSpec

__all__ = ["LOCK_SUFFIX", "FileKvStore", "FileKvStoreSpec"]
