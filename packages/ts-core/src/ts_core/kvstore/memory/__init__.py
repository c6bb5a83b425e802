"""The ``memory`` kvstore driver."""

from ._driver import MemoryKvStore, MemoryKvStoreSpec, MemoryStorage, MemoryStorageProvider

__all__ = ["MemoryKvStore", "MemoryKvStoreSpec", "MemoryStorage", "MemoryStorageProvider"]
