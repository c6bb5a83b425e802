"""Opening a chunked array: its kvstore, the stored metadata, the open/create/delete modes,
the creation race, and re-reading the metadata when ``recheck_cached_metadata`` asks."""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from .._validation import plugin_registry
from ..errors import SpecError
from ..kvstore import NO_VALUE, UNKNOWN, KvStore, KvStoreSpec, prefix_range
from ..kvstore._kvstore import _open_now as _open_kvstore
from ._constraints import constraints_from_spec
from ._storage_call import storage_call

if TYPE_CHECKING:
    from ..context import Context
    from ._chunked import KvsChunkedDriver
    from ._open_options import OpenOptions

__all__ = [
    "GENERIC_MEMBERS",
    "load_metadata_json",
    "open_array",
    "open_from_spec",
    "parse_stored",
    "remember_kvstore_spec",
    "revalidate_metadata",
]

#: Spec members that KvsChunkedDriver interprets itself (the rest go to the format).
GENERIC_MEMBERS = frozenset(
    {
        "driver", "context", "dtype", "rank", "transform", "schema", "kvstore", "path",
        "open", "create", "delete_existing", "assume_metadata", "assume_cached_metadata",
        "recheck_cached_data", "recheck_cached_metadata", "recheck_cached",
    }
)


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON (a non-finite number must be a string such as \"{token}\")")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def load_metadata_json(data: bytes) -> Any:
    """Decode a stored JSON metadata object; invalid JSON is a SpecError, not a traceback.

    Bare ``NaN``/``Infinity`` tokens are not JSON (Python's reader accepts them, tensorstore's
    does not): they are refused too, since such metadata could not be written back.
    """
    try:
        if type(data) is bytes:  # json.loads' own steps, with one decoder for every call
            return _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
        return json.loads(data, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise SpecError("", f"invalid JSON: {exc}") from None


def parse_stored(cls: type[KvsChunkedDriver[Any]], data: bytes, kvstore: KvStore) -> Any:
    """``cls.parse_stored_metadata`` whose errors name the metadata object's full key."""
    try:
        return cls.parse_stored_metadata(data)
    except ValueError as exc:
        raise ValueError(f"invalid metadata in {kvstore.path + cls.metadata_key!r}: {exc}") from exc


#: Parsed kvstore specs by their canonical JSON: the member was validated and normalised
#: with the spec (``validate_spec_json``), so reopening it need not parse it again. Handed
#: out as copies (a KvStoreSpec's path can be set).
_KVSTORE_SPECS_SIZE = 1024
_canonical = json.JSONEncoder(sort_keys=True).encode
_kvstore_specs: dict[str, KvStoreSpec] = {}


def _kvstore_spec(json_value: Any) -> KvStoreSpec:
    try:
        key = _canonical(json_value)
    except (TypeError, ValueError):
        return KvStoreSpec(json_value)
    cached = _kvstore_specs.get(key)
    # A registry rebuilt since (tests reset it) must parse afresh.
    if cached is not None and plugin_registry().find("kvstore", cached.driver) is cached._record:
        return KvStoreSpec(cached)
    parsed = KvStoreSpec(json_value)
    _remember(key, parsed)
    return parsed


def _remember(key: str, parsed: KvStoreSpec) -> None:
    if len(_kvstore_specs) >= _KVSTORE_SPECS_SIZE:
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # another thread evicted it
            del _kvstore_specs[next(iter(_kvstore_specs))]
    _kvstore_specs[key] = KvStoreSpec(parsed)


def remember_kvstore_spec(parsed: KvStoreSpec) -> dict[str, Any]:
    """``parsed.to_json()``, remembered as the JSON ``parsed`` is the parse of: the spec
    validation that parsed a kvstore member says so, and the open that follows it finds
    its kvstore spec without parsing the member again."""
    json_value = parsed.to_json()
    if parsed._bound is None:
        try:
            key = _canonical(json_value)
        except (TypeError, ValueError):
            return json_value
        _remember(key, parsed)
    return json_value


def open_from_spec(
    cls: type[KvsChunkedDriver[Any]], json_value: dict[str, Any], *, context: Context, options: OpenOptions, transaction: Any
) -> KvsChunkedDriver[Any]:
    """Open the kvstore a spec names, gather its constraints, then ``open_driver``."""
    if "kvstore" not in json_value:
        raise ValueError(f'kvstore: the "{cls.id}" driver needs a "kvstore" member')
    kvstore_spec = _kvstore_spec(json_value["kvstore"])
    if json_value.get("path"):
        kvstore_spec = kvstore_spec / json_value["path"]
    if kvstore_spec.path and not kvstore_spec.path.endswith("/"):
        kvstore_spec = kvstore_spec + "/"
    # What ``KvStore.open(...).result()`` does, without a Future: the spec is parsed already.
    kvstore = _open_kvstore(kvstore_spec, context, transaction)
    members = {k: v for k, v in json_value.items() if k not in GENERIC_MEMBERS}
    schema = constraints_from_spec(json_value)
    return cls.open_driver(kvstore, members, schema, context, options)


def _where(kvstore: KvStore) -> str:
    """How error messages name the array's location: its URL, or its path where the
    kvstore has no URL form (a relative file path has none, as in tensorstore)."""
    try:
        return kvstore.url or kvstore.path
    except (ValueError, NotImplementedError):
        return kvstore.path


def open_array(
    cls: type[KvsChunkedDriver[Any]],
    kvstore: KvStore,
    spec_members: dict[str, Any],
    schema: Any,
    context: Context,
    options: OpenOptions,
) -> KvsChunkedDriver[Any]:
    """Open, create or replace the array according to ``options`` (runs synchronously)."""
    if options.delete_existing:
        kvstore.delete_range(prefix_range(b"")).result()
    metadata = None
    if options.assume_metadata:
        metadata = cls.metadata_for_create(spec_members, schema)
    else:
        stored = storage_call("reading metadata", kvstore.path + cls.metadata_key, kvstore.read_blocking, cls.metadata_key)
        if stored.state == "value":
            if not options.open:
                raise ValueError(
                    f"cannot create: an array already exists at {_where(kvstore)!r} "
                    f"({cls.metadata_key} is present); pass open=True to open it"
                )
            metadata = parse_stored(cls, stored.value, kvstore)
            cls.check_metadata(metadata, spec_members, schema)
        elif not options.create:
            raise ValueError(
                f"cannot open: no array at {_where(kvstore)!r} ({cls.metadata_key} is missing); pass create=True to create one"
            )
        else:
            wanted = cls.metadata_for_create(spec_members, schema)
            # Built before anything is written: the driver's own checks (shape and chunk
            # limits) must refuse bad metadata before it is stored.
            checked = cls(kvstore=kvstore, metadata=wanted, context=context, options=options, spec_members=spec_members)
            checked.check_schema_constraints(schema)
            metadata = _create(cls, kvstore, wanted, options)
            if metadata is wanted:
                return checked
    driver = cls(kvstore=kvstore, metadata=metadata, context=context, options=options, spec_members=spec_members)
    driver.check_schema_constraints(schema)
    return driver


def _create(cls: type[KvsChunkedDriver[Any]], kvstore: KvStore, metadata: Any, options: OpenOptions) -> Any:
    """Write new metadata only if none is stored; if another writer created the array
    first, open theirs only if ``options.open`` and it matches what we wanted."""
    stamp = storage_call(
        "writing metadata", kvstore.path + cls.metadata_key,
        lambda: kvstore.write(cls.metadata_key, cls.encode_metadata(metadata), if_equal=NO_VALUE).result(),
    )
    if stamp.generation != UNKNOWN or kvstore.transaction is not None:
        # In a transaction the write is staged (no generation yet); its condition (no
        # metadata stored) is checked at commit, as tensorstore's creation in a transaction.
        return metadata
    where = _where(kvstore)
    stored = kvstore.read_blocking(cls.metadata_key)
    theirs = parse_stored(cls, stored.value, kvstore)
    if cls.encode_metadata(theirs) != cls.encode_metadata(metadata):
        raise ValueError(f"cannot create: another writer created the array at {where!r} concurrently with different metadata")
    if not options.open:
        raise ValueError(f"cannot create: the array at {where!r} was created concurrently; pass open=True to open it")
    return theirs


def revalidate_metadata(driver: KvsChunkedDriver[Any]) -> None:
    """Re-read the metadata (cheaply, with ``if_not_equal``) and apply it if it changed.

    Called when ``recheck_cached_metadata`` says what was read may be stale: with the
    default ("open") never after opening; with ``True`` before every operation, which
    picks up a resize made by another process.
    """
    with driver._metadata_lock:
        now = time.time()
        kvstore = driver._kvstore
        stored = kvstore.read_blocking(driver.metadata_key, if_not_equal=driver._metadata_generation)
        if stored.state == "value":
            driver._configure(parse_stored(type(driver), stored.value, kvstore))
            driver._metadata_generation = stored.stamp.generation
        elif stored.state == "missing":
            raise ValueError(f"the array's {driver.metadata_key!r} was deleted")
        driver._metadata_checked = now
