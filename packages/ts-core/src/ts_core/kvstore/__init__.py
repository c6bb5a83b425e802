"""The KvStore API, its driver contract, and the transactional layer."""

from ._driver import ByteRange, KvStoreDriver, ReadOptions, ReadResult, WriteBatch
from ._generation import NO_VALUE, UNKNOWN, TimestampedStorageGeneration, make_generation
from ._key_range import KeyRange, prefix_range
from ._kvstore import KvStore
from ._spec import KvStoreSpec
from ._transaction import Transaction, TransactionConflictError

__all__ = [
    "NO_VALUE",
    "UNKNOWN",
    "ByteRange",
    "KeyRange",
    "KvStore",
    "KvStoreDriver",
    "KvStoreSpec",
    "ReadOptions",
    "ReadResult",
    "TimestampedStorageGeneration",
    "Transaction",
    "TransactionConflictError",
    "WriteBatch",
    "make_generation",
    "prefix_range",
]
