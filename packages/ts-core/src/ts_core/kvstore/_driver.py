"""The contract a kvstore plugin implements (import this module, nothing else).

A driver works on *full* keys (the KvStore's ``path`` already prepended) with plain
synchronous methods; the :class:`~ts_core.kvstore.KvStore` front end runs them on the
driver's executor and turns them into Futures. Conditional operations are what make
many writers safe, so every driver must implement ``if_equal`` / ``if_not_equal``
exactly (or refuse them with an error) and never ignore them.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, overload

import attrs

from ._generation import TimestampedStorageGeneration
from ._key_range import KeyRange

if TYPE_CHECKING:
    from .._executor import Executor
    from ..context import Context
    from ._kvstore import KvStore

__all__ = [
    "ByteRange",
    "ByteRangesReadResult",
    "KvStoreDriver",
    "ReadOptions",
    "ReadResult",
    "StagedConditionFailed",
    "StagedWrite",
    "StagedWrites",
    "WriteBatch",
    "coalesce_byte_ranges",
    "commit_staged",
    "lower_staged_to_root",
]


def coalesce_byte_ranges(ranges: Iterable[tuple[int, int]], gap: int = 4096) -> list[tuple[int, int]]:
    """Sorted ``(start, stop)`` byte ranges, those that overlap or lie at most ``gap`` bytes
    apart merged into one: the few ranged reads that fetch many small pieces of one value
    (a shard's chunks, its index entries) at the cost of reading the gaps."""
    merged: list[list[int]] = []
    for start, stop in sorted(ranges):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return [(start, stop) for start, stop in merged]


@attrs.frozen
class ByteRange:
    """Bytes ``[inclusive_min, exclusive_max)`` of a value; a negative min counts from the end."""

    inclusive_min: int = 0
    exclusive_max: int | None = None

    @property
    def is_full(self) -> bool:
        return self.inclusive_min == 0 and self.exclusive_max is None

    def resolve(self, size: int, key: bytes) -> tuple[int, int]:
        """Absolute ``(start, stop)`` within a value of ``size`` bytes; ValueError if invalid."""
        if self.inclusive_min < 0:
            if self.exclusive_max is not None or -self.inclusive_min > size:
                raise ValueError(self._invalid(size, key))
            return size + self.inclusive_min, size
        stop = size if self.exclusive_max is None else self.exclusive_max
        if stop > size or self.inclusive_min > stop:
            raise ValueError(self._invalid(size, key))
        return self.inclusive_min, stop

    def _invalid(self, size: int, key: bytes) -> str:
        upper = "" if self.exclusive_max is None else self.exclusive_max
        return (
            f"byte range [{self.inclusive_min}, {upper}) is not valid for the "
            f"{size}-byte value of key {key!r}"
        )


@attrs.frozen
class ReadOptions:
    """Conditions of one read."""

    if_not_equal: bytes | None = None
    staleness_bound: float = math.inf
    byte_range: ByteRange = ByteRange()


class StagedWrite(NamedTuple):
    """One key of an atomic multi-key commit (:meth:`KvStoreDriver.commit_atomic`).

    ``modify`` maps the stored value (None: missing) to the new one (None: delete); None
    means the key is only checked, not written. ``condition`` is the generation the
    stored value must still have for the commit to happen; None accepts any.
    ``reads_stored`` False says ``modify`` ignores the stored value (a whole new value),
    so a driver need not read it. (Immutable; a named tuple because a transaction makes
    one for every key it commits.)
    """

    key: bytes
    modify: Callable[[bytes | None], bytes | None] | None
    condition: bytes | None = None
    reads_stored: bool = True


class StagedWrites(Sequence[StagedWrite]):
    """A store's staged writes as a transaction hands them to :meth:`KvStoreDriver.commit_atomic`:
    ``writes``, and ``values``, keys set to a whole value (None: deleted) blindly and
    unconditionally, the bulk of a large transaction, kept as one dict (no StagedWrite
    each). No key is in both; every value is bytes or None.

    As a sequence it is ``writes`` followed by a ``StagedWrite`` per value (made when first
    needed), so a driver that does not look at ``values`` works unchanged; one that does
    (OCDBT) takes the dict as its new values in one step.
    """

    __slots__ = ("_all", "values", "writes")

    def __init__(self, writes: Sequence[StagedWrite], values: dict[bytes, bytes | None]) -> None:
        self.writes = writes
        self.values = values
        self._all: list[StagedWrite] | None = None

    def _sequence(self) -> list[StagedWrite]:
        if self._all is None:
            whole = [StagedWrite(key, functools.partial(_whole_value, value), None, False) for key, value in self.values.items()]
            self._all = [*self.writes, *whole]
        return self._all

    def __len__(self) -> int:
        return len(self.writes) + len(self.values)

    @overload
    def __getitem__(self, index: int) -> StagedWrite: ...
    @overload
    def __getitem__(self, index: slice) -> list[StagedWrite]: ...
    def __getitem__(self, index: int | slice) -> StagedWrite | list[StagedWrite]:
        return self._sequence()[index]

    def __iter__(self) -> Iterator[StagedWrite]:
        return iter(self._sequence())

    def __repr__(self) -> str:
        return f"StagedWrites({len(self.writes)} writes, {len(self.values)} whole values)"


def _whole_value(value: bytes | None, stored: bytes | None) -> bytes | None:
    return value


class StagedConditionFailed(Exception):
    """Raised by a lowered :class:`StagedWrite`'s ``modify`` when a condition it carries
    for a key of an adapter (an inner chunk of a shard) does not hold: the commit writes
    nothing and reports a conflict (:func:`commit_staged` returns False). A driver's
    ``commit_atomic`` lets an exception from ``modify`` propagate, having written nothing.
    """


#: What ``lower_staged`` returns: writes and deleted ranges of the adapter's base.
_Lowered = tuple[list[StagedWrite], list[KeyRange]]


class ReadResult:
    """Outcome of a read: ``state`` is ``'value'``, ``'missing'`` or ``'unspecified'``."""

    __slots__ = ("stamp", "state", "value")

    STATES = ("unspecified", "missing", "value")

    def __init__(
        self,
        state: str = "unspecified",
        value: bytes = b"",
        stamp: TimestampedStorageGeneration | None = None,
    ) -> None:
        if state not in self.STATES:
            raise ValueError(f"state: expected one of {self.STATES}, but received {state!r}")
        self.state = state
        self.value = value
        self.stamp = stamp if stamp is not None else TimestampedStorageGeneration()

    @property
    def data(self) -> bytes:
        """The value (the name our users' handbook uses for ``value``)."""
        return self.value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReadResult):
            return NotImplemented
        return (self.state, self.value, self.stamp) == (other.state, other.value, other.stamp)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadResult, (self.state, self.value, self.stamp))

    def __repr__(self) -> str:
        return f"KvStore.ReadResult(state={self.state!r}, value={self.value!r}, stamp={self.stamp!r})"


class ByteRangesReadResult(NamedTuple):
    """What :meth:`KvStoreDriver.read_byte_ranges` returns: the requested ranges of one
    version of a value, concatenated in the order asked."""

    #: ``'value'`` or ``'missing'`` (then ``value`` is empty).
    state: str
    #: The bytes of every range, one after another.
    value: bytes | bytearray
    #: The generation every range was read from.
    stamp: TimestampedStorageGeneration
    #: The size of the whole value when the driver learnt it, else None.
    size: int | None = None


#: Attempts at reading ranges that all report one generation before the default
#: ``read_byte_ranges`` reads the value whole.
RANGED_READ_ATTEMPTS = 3


class KvStoreDriver(abc.ABC):
    """An open kvstore: synchronous leaf operations on full keys.

    Subclasses set ``spec_class`` (an attrs class whose fields are the driver's JSON
    members other than ``driver``, ``path`` and ``context``) and implement ``open``.
    """

    #: Registered driver id, e.g. ``"file"``.
    id: ClassVar[str]
    #: attrs class structured (with cattrs) from the validated spec JSON.
    spec_class: ClassVar[type]
    #: True when reads and writes are quick local calls (files, memory): engines that
    #: already run on a worker thread then call the driver directly instead of handing the
    #: call to ``executor`` and waiting, which saves two thread switches per chunk.
    local_io: ClassVar[bool] = False
    #: True when reading a few byte ranges of a value costs less than reading it whole
    #: (a local file: only the ranges are copied). Array drivers then read only the
    #: elements they need of an uncompressed chunk they will not cache, through
    #: ``read_byte_ranges`` (which should report the value's ``size``).
    ranged_reads_pay: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from ._metered import meter_operations

        meter_operations(cls)  # each call counted in /tensorstore/kvstore/<id>/ metrics

    @classmethod
    @abc.abstractmethod
    def open(cls, spec: Any, context: Context) -> KvStoreDriver:
        """Bind ``spec`` (a ``spec_class`` instance) to ``context``'s resources."""

    @property
    @abc.abstractmethod
    def spec(self) -> Any:
        """The ``spec_class`` instance this driver was opened from."""

    @property
    def executor(self) -> Executor | None:
        """Where blocking operations run; None runs them inline on the caller's thread."""
        return None

    @abc.abstractmethod
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        """Read ``key``; ``if_not_equal`` matching the current generation gives 'unspecified'."""

    def read_byte_ranges(self, key: bytes, ranges: Sequence[tuple[int, int]]) -> ByteRangesReadResult:
        """The bytes ``[start, stop)`` of each of ``ranges`` of ``key``, all from one
        version (one generation) of the value; ValueError naming the key if a range lies
        outside the value.

        The default reads range by range and compares the generations the reads report;
        when the value keeps changing in between it reads the value whole and cuts the
        ranges out of that. A driver that can read several ranges of one version directly
        (``file``: one open file) overrides it.
        """
        for _ in range(RANGED_READ_ATTEMPTS):
            pieces: list[bytes] = []
            generation: bytes | None = None
            stamp = TimestampedStorageGeneration()
            for start, stop in ranges:
                result = self.read(key, ReadOptions(byte_range=ByteRange(start, stop)))
                if result.state != "value":
                    return ByteRangesReadResult("missing", b"", result.stamp)
                if generation is None:
                    generation, stamp = result.stamp.generation, result.stamp
                elif result.stamp.generation != generation:
                    break
                pieces.append(result.value)
            else:
                if generation is None:  # no ranges: learn the generation (and size) whole
                    break
                return ByteRangesReadResult("value", b"".join(pieces), stamp)
        whole = self.read(key, ReadOptions())
        if whole.state != "value":
            return ByteRangesReadResult("missing", b"", whole.stamp)
        size = len(whole.value)
        pieces = []
        for start, stop in ranges:
            ByteRange(start, stop).resolve(size, key)
            pieces.append(whole.value[start:stop])
        return ByteRangesReadResult("value", b"".join(pieces), whole.stamp, size)

    @abc.abstractmethod
    def write(
        self, key: bytes, value: bytes | None, if_equal: bytes | None
    ) -> TimestampedStorageGeneration:
        """Write (or delete, for None) ``key``; a failed ``if_equal`` returns an unknown generation."""

    def write_batch(self) -> WriteBatch:
        """A batch of writes whose durability may be settled together (see WriteBatch)."""
        return WriteBatch(self)

    @abc.abstractmethod
    def delete_range(self, key_range: KeyRange) -> None:
        """Delete every key in ``key_range`` (not atomically)."""

    @abc.abstractmethod
    def list(self, key_range: KeyRange) -> Iterable[bytes]:
        """Full keys in ``key_range``, in any order."""

    # -- key safety: the KvStore front end calls these before handing keys over ------------
    # A driver whose keys name files confines them to the store's ``path`` (its root) here,
    # with the helpers of ``ts_core.kvstore`` (check_key, check_path, check_key_range,
    # ConfinedRoot). The defaults accept everything: any byte string is a key of a store
    # without a filesystem.
    def check_path(self, path: str) -> None:  # noqa: B027 (optional hook)
        """ValueError if a KvStore of this driver cannot be rooted at ``path``."""

    def check_key(self, path: str, key: bytes) -> None:  # noqa: B027 (optional hook)
        """ValueError (naming ``key``) if ``key``, relative to ``path``, is not a key this
        driver can store inside ``path``."""

    def check_key_range(self, path: str, key_range: KeyRange) -> None:  # noqa: B027 (optional hook)
        """ValueError if listing or deleting ``key_range`` (relative to ``path``) could
        reach outside ``path``."""

    @classmethod
    def normalize_spec(cls, spec: Any, path: str) -> tuple[Any, str]:
        """The canonical ``(spec, path)`` of a freshly parsed spec (a ``spec_class``
        instance and the ``path`` member), as ``to_json()`` then writes it. Bad input raises
        ``SpecError(member, message)`` naming the member (``"base_url"``; ts prefixes the
        spec's own JSON path) or a ValueError. The default keeps both (``http`` moves the
        path of its ``base_url`` into ``path``, as tensorstore does)."""
        return spec, path

    @classmethod
    def url_for(cls, spec: Any, path: str) -> str:
        """URL of the store ``spec`` at ``path``; drivers without a URL form raise ValueError."""
        raise ValueError(f'kvstore driver "{cls.id}" has no URL representation')

    # -- adapters: a driver that stores its data in another kvstore names it ("base") ------
    @classmethod
    def base_spec(cls, spec: Any) -> Any:
        """The spec (JSON, URL or KvStore.Spec) of the kvstore this adapter stores its data
        in, for ``KvStore.Spec.base``; None for a root driver."""
        return None

    @property
    def base_kvstore(self) -> KvStore | None:
        """The open kvstore this adapter stores its data in, for ``KvStore.base``; None for
        a root driver."""
        return None

    @property
    def supports_atomic_multi_key(self) -> bool:
        """Whether a transaction may commit several keys of this store all-or-nothing.

        True needs the commit-lock protocol as well (``commit_lock``, ``writes_hold``,
        ``apply_writes``; see the ``memory`` driver): an atomic transaction holds the
        locks of every such store it wrote while it checks and applies its writes, and
        reads the store meanwhile, so ``read`` must not take ``commit_lock``.
        """
        return False

    def commit_atomic(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
        """Commit ``writes`` of several keys as one step: all of them or none.

        ``deleted_ranges`` are deleted first and each ``modify`` then sees the value left
        after them. Returns False, having written nothing, when a ``condition`` does not
        hold; raises (having written nothing) on a storage error. A store that implements
        this gets one commit per transaction instead of one per key, and an atomic
        transaction may hold any number of its keys (see ``commits_atomically``). A driver
        that retries a lost race re-applies each ``modify`` to the value it then finds.
        A transaction passes a :class:`StagedWrites` (a sequence of ``StagedWrite`` whose
        blind whole values a driver may also take as one dict).
        """
        raise NotImplementedError(f'kvstore driver "{self.id}" cannot commit several keys atomically')

    @property
    def commits_atomically(self) -> bool:
        """Whether this driver implements :meth:`commit_atomic`."""
        return type(self).commit_atomic is not KvStoreDriver.commit_atomic

    @property
    def atomic_base(self) -> KvStoreDriver | None:
        """For an adapter that stores its keys in another driver that commits atomically (a
        view of chunks inside shards of its base, an encoding of its base's values): that
        driver, whose writes :meth:`lower_staged` turns this adapter's into. A transaction
        lowers each store's writes through its own chain of adapters and commits all the
        writes that reach one bottom store in one ``commit_atomic`` call. None otherwise."""
        return None

    def lower_staged(self, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> _Lowered:
        """For an adapter with an ``atomic_base``: this adapter's staged ``writes`` and
        ``deleted_ranges`` (all of them keys of this adapter) as writes and deleted ranges of
        ``atomic_base``, encoded as this adapter stores them. A condition that cannot be
        checked on the base's key (an inner chunk's) is checked inside the lowered
        ``modify``, which raises :class:`StagedConditionFailed` when it does not hold."""
        raise NotImplementedError(f'kvstore driver "{self.id}" cannot lower its writes onto its atomic_base')

    @property
    def storage_identity(self) -> Hashable:
        """What this driver stores into: drivers with equal identities hold the same value
        under the same full key (two opens of one ``memory_key_value_store``, any two
        ``file`` kvstores), so a transaction treats their writes as one store's."""
        return self

    def describe_key(self, key: bytes) -> str:
        """How an error names the full key ``key``, e.g. ``local file "/data/a"``."""
        return '"' + key.decode("utf-8", "backslashreplace") + '"'


def lower_staged_to_root(
    driver: KvStoreDriver, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()
) -> tuple[KvStoreDriver, list[StagedWrite], list[KeyRange]]:
    """The driver at the bottom of ``driver``'s ``atomic_base`` chain, and ``driver``'s
    writes and deleted ranges lowered adapter by adapter (``lower_staged``) onto it."""
    lowered, ranges = list(writes), list(deleted_ranges)
    while (base := driver.atomic_base) is not None:
        lowered, ranges = driver.lower_staged(lowered, ranges)
        driver = base
    return driver, lowered, ranges


def commit_staged(driver: KvStoreDriver, writes: Sequence[StagedWrite], deleted_ranges: Sequence[KeyRange] = ()) -> bool:
    """Commit ``driver``'s writes with one ``commit_atomic`` call of the store at the bottom
    of its chain (an adapter's ``commit_atomic`` over an atomic base is this); False,
    with nothing written, when a condition fails."""
    root, lowered, ranges = lower_staged_to_root(driver, writes, deleted_ranges)
    if not lowered and not ranges:
        return True
    try:
        return root.commit_atomic(lowered, ranges)
    except StagedConditionFailed:
        return False


class WriteBatch:
    """Writes that are reported done together, so durability work can be shared.

    ``write`` behaves like the driver's ``write`` (same result, same atomicity: each
    value becomes visible whole) except that it may defer work that only makes writes
    durable, such as the ``file`` driver's directory fsync; ``finish`` does that work.
    Every write of a batch is durable once ``finish`` returns. This default defers
    nothing.
    """

    #: Whether ``write`` is done with ``value`` when it returns (it wrote or copied it
    #: out), so the caller may reuse the value's buffer at once: an array write then
    #: encodes each chunk into a buffer its thread reuses instead of a new bytes object
    #: (``KvsChunkedDriver.encode_chunk_transient``). False by default: a driver's
    #: ``write`` may keep the value it was given.
    copies_values: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from ._metered import meter_batch_writes

        meter_batch_writes(cls)  # a batch that writes by itself is counted as its driver

    def __init__(self, driver: KvStoreDriver) -> None:
        self._driver = driver

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        return self._driver.write(key, value, if_equal)

    def finish(self) -> None:
        """Make every write of the batch durable."""

    def writers(self, key_prefix: bytes, cores: int) -> int:
        """How many threads writing into the batch at once keep ``cores`` cores busy (a
        hint): many when each write blocks for its own durability, fewer otherwise."""
        return 4 * cores
