"""The KvStore API, its driver contract, and the transactional layer."""

from ._driver import (
    ByteRange,
    ByteRangesReadResult,
    KvStoreDriver,
    ReadOptions,
    ReadResult,
    StagedConditionFailed,
    StagedWrite,
    StagedWrites,
    WriteBatch,
    coalesce_byte_ranges,
    commit_staged,
    lower_staged_to_root,
)
from ._generation import NO_VALUE, UNKNOWN, TimestampedStorageGeneration, make_generation
from ._key_range import KeyRange, prefix_range
from ._keys import NAME_MAX, PATH_MAX, ConfinedRoot, check_key, check_key_range, check_path
from ._kvstore import KvStore
from ._spec import KvStoreSpec
from ._transaction import Transaction, TransactionConflictError
from ._url import (
    URL_LAYERS,
    kvstore_adapter_url,
    kvstore_based_driver_url,
    kvstore_url,
    parse_kvstore_url,
    parse_tensorstore_url,
    quote_url_path,
    tensorstore_url,
    url_component_path,
    without_url_query,
)

__all__ = [
    "NAME_MAX",
    "NO_VALUE",
    "PATH_MAX",
    "UNKNOWN",
    "URL_LAYERS",
    "ByteRange",
    "ByteRangesReadResult",
    "ConfinedRoot",
    "KeyRange",
    "KvStore",
    "KvStoreDriver",
    "KvStoreSpec",
    "ReadOptions",
    "ReadResult",
    "StagedConditionFailed",
    "StagedWrite",
    "StagedWrites",
    "TimestampedStorageGeneration",
    "Transaction",
    "TransactionConflictError",
    "WriteBatch",
    "check_key",
    "check_key_range",
    "check_path",
    "coalesce_byte_ranges",
    "commit_staged",
    "kvstore_adapter_url",
    "kvstore_based_driver_url",
    "kvstore_url",
    "lower_staged_to_root",
    "make_generation",
    "parse_kvstore_url",
    "parse_tensorstore_url",
    "prefix_range",
    "quote_url_path",
    "tensorstore_url",
    "url_component_path",
    "without_url_query",
]
