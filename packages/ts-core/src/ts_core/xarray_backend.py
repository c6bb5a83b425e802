"""The xarray backend: ``xr.open_dataset(location, engine="ts")`` opens a zarr v2 or v3 group
of arrays through ts, lazily.

Dimension names, attributes, coordinates and fill values are read as xarray's own zarr engine
reads them, and the CF decoding (masking, scaling, times) is xarray's, so the two engines give
equal datasets. Each variable is a :class:`TsBackendArray`: indexing a variable reads only the
chunks the selection touches. xarray finds the backend through the ``xarray.backends`` entry
point ``ts`` that ts-core declares; the module needs xarray (``pip install "ts-core[xarray]"``).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

try:
    from xarray import DataTree, Variable
    from xarray.backends import (
        AbstractDataStore,
        BackendArray,
        BackendEntrypoint,
        StoreBackendEntrypoint,
    )
    from xarray.core import indexing
except ImportError as error:  # pragma: no cover - exercised only without xarray
    raise ImportError(
        'ts_core.xarray_backend needs xarray; install it with: pip install "ts-core[xarray]"'
    ) from error

import ts_core as ts
from ts_core.kvstore import prefix_range

__all__ = ["TsBackendArray", "TsBackendEntrypoint", "TsZarrGroupStore"]

#: TensorStore driver id -> zarr format, for specs and URLs that name a driver.
_DRIVER_FORMATS = {"zarr": 2, "zarr3": 3}
#: The attribute in which xarray's zarr v2 convention stores an array's dimension names.
_V2_DIMENSIONS_ATTRIBUTE = "_ARRAY_DIMENSIONS"
_V2_GROUP_KEY, _V2_ATTRIBUTES_KEY, _V2_ARRAY_KEY = ".zgroup", ".zattrs", ".zarray"
#: zarr-python's consolidated metadata for v2 (a key at the store's root).
_V2_CONSOLIDATED_KEY = ".zmetadata"
_V3_METADATA_KEY = "zarr.json"


class TsBackendArray(BackendArray):
    """One zarr array as an xarray backend array; every read is one ts read of exactly the
    selection (basic, outer or vectorized), so only the chunks it touches are fetched."""

    __slots__ = ("dtype", "shape", "store")

    def __init__(self, store: ts.TensorStore) -> None:
        self.store = store
        self.shape = tuple(store.shape)
        self.dtype = np.dtype(store.dtype.numpy_dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        return indexing.explicit_indexing_adapter(
            key,
            self.shape,
            indexing.IndexingSupport.VECTORIZED,
            lambda raw_key: self._view(key, raw_key).read().result(),
        )

    async def async_getitem(self, key: indexing.ExplicitIndexer) -> Any:
        async def read(raw_key: tuple[Any, ...]) -> Any:
            return await self._view(key, raw_key).read()

        return await indexing.async_explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.VECTORIZED, read
        )

    def _view(self, key: indexing.ExplicitIndexer, raw_key: tuple[Any, ...]) -> ts.TensorStore:
        """The ts view of ``raw_key``, read as the indexer kind of ``key`` says."""
        terms = tuple(
            _ts_index_term(term, size) for term, size in zip(raw_key, self.shape, strict=True)
        )
        if isinstance(key, indexing.VectorizedIndexer):
            return self.store.vindex[terms]
        if isinstance(key, indexing.OuterIndexer):
            return self.store.oindex[terms]
        return self.store[terms]


def _ts_index_term(term: Any, size: int) -> Any:
    """A NumPy index term as ts takes it: ts indexes by domain coordinates, where -1 is a
    coordinate and not the last element, so negative positions are resolved here."""
    if isinstance(term, slice):
        start, stop, step = term.indices(size)
        if size == 0:
            return slice(0, 0)
        if step > 0:
            return slice(start, max(start, stop), step)
        if stop < 0:
            return slice(start, None, step)  # down to and including element 0
        return slice(start, min(start, stop), step)
    if isinstance(term, np.ndarray):
        return np.where(term < 0, term + size, term) if term.size and term.min() < 0 else term
    index = int(term)
    return index + size if index < 0 else index


class TsZarrGroupStore(AbstractDataStore):
    """A zarr v2 or v3 group read through ts, as the xarray data store that xarray's own
    CF decoding works on (``StoreBackendEntrypoint``)."""

    def __init__(
        self,
        location: Any,
        *,
        group: str | None = None,
        zarr_format: int | None = None,
        consolidated: bool | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
        drop_variables: Iterable[str] = (),
        context: ts.Context | None = None,
    ) -> None:
        root, hinted_format, context = _root_kvstore(location, context)
        if zarr_format is not None and zarr_format not in (2, 3):
            raise ValueError(f"zarr_format: expected 2, 3 or None, but received {zarr_format!r}")
        if hinted_format is not None and zarr_format not in (None, hinted_format):
            raise ValueError(
                f"zarr_format={zarr_format} contradicts the zarr{hinted_format} driver of {location!r}"
            )
        prefix = _group_prefix(group)
        self.zarr_format, self._attributes, members = _read_group(
            root, prefix, zarr_format or hinted_format, consolidated
        )
        self.location = root.url + prefix
        self._mask_with_fill_value = (
            self.zarr_format == 2
            if use_zarr_fill_value_as_mask is None
            else use_zarr_fill_value_as_mask
        )
        dropped = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables)
        members = {name: member for name, member in members.items() if name not in dropped}
        driver = "zarr" if self.zarr_format == 2 else "zarr3"
        group_spec = (root + prefix).spec().to_json()
        opening = {}
        for name, (metadata, _) in sorted(members.items()):
            try:
                opening[name] = _open_array(driver, group_spec, name, metadata, context)
            except Exception as error:
                raise self._variable_error(name, error) from error
        self._arrays: dict[str, tuple[ts.TensorStore, dict[str, Any], dict[str, Any]]] = {}
        for name, future in opening.items():
            try:
                store = future.result()
            except Exception as error:
                raise self._variable_error(name, error) from error
            metadata, attributes = members[name]
            self._arrays[name] = (store, metadata, attributes)

    def _variable_error(self, name: str, error: Exception) -> ValueError:
        """An array ts cannot open (a string dtype, say), named with the way around it."""
        return ValueError(
            f"variable {name!r} of the zarr group {self.location}: {error} "
            f"(drop_variables=[{name!r}] opens the others)"
        )

    def _dimensions_and_attributes(
        self, name: str, store: ts.TensorStore, metadata: dict[str, Any], attributes: dict[str, Any]
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        attributes = dict(attributes)
        if self.zarr_format == 3:
            names = metadata.get("dimension_names")
            dimensions = tuple(names) if names else ()
            missing = "the dimension_names metadata"
        else:
            dimensions = tuple(attributes.pop(_V2_DIMENSIONS_ATTRIBUTE, None) or ())
            missing = f"the {_V2_DIMENSIONS_ATTRIBUTE} attribute"
            attributes = {
                key: value for key, value in attributes.items() if not key.lower().startswith("_nc")
            }
        if len(dimensions) != store.rank or not all(isinstance(dim, str) for dim in dimensions):
            raise KeyError(
                f"zarr array {name!r} in {self.location} lacks {missing} naming each of its "
                f"{store.rank} dimensions, which xarray needs (received {list(dimensions)})"
            )
        return dimensions, attributes

    def open_store_variable(self, name: str) -> Variable:
        store, metadata, attributes = self._arrays[name]
        dimensions, attributes = self._dimensions_and_attributes(name, store, metadata, attributes)
        array = TsBackendArray(store)
        fill_value = store.fill_value
        fill_value = None if fill_value is None else np.asarray(fill_value, dtype=array.dtype)[()]
        layout = store.chunk_layout
        chunks = tuple(int(size) for size in layout.read_chunk.shape or ())
        shards = tuple(int(size) for size in layout.write_chunk.shape or ())
        encoding: dict[str, Any] = {
            "chunks": chunks,
            "preferred_chunks": dict(zip(dimensions, chunks, strict=True)),
            "shards": shards if shards != chunks else None,
        }
        if self._mask_with_fill_value:
            # zarr's fill value read as netCDF's _FillValue: the CF decoding then masks it
            if fill_value is not None:
                attributes["_FillValue"] = fill_value
        else:
            if self.zarr_format == 3:
                encoding["fill_value"] = fill_value
            if "_FillValue" in attributes:
                attributes["_FillValue"] = _decode_fill_value_attribute(
                    attributes["_FillValue"], array.dtype, name
                )
        return Variable(dimensions, indexing.LazilyIndexedArray(array), attributes, encoding)

    def get_variables(self) -> dict[str, Variable]:
        return {name: self.open_store_variable(name) for name in self._arrays}

    def get_attrs(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self._attributes.items()
            if not key.lower().startswith("_nc")
        }

    def get_dimensions(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for name, (store, metadata, attributes) in self._arrays.items():
            dimensions, _ = self._dimensions_and_attributes(name, store, metadata, attributes)
            for dimension, size in zip(dimensions, store.shape, strict=True):
                if sizes.setdefault(dimension, size) != size:
                    raise ValueError(
                        f"found conflicting lengths for dimension {dimension} ({size} != {sizes[dimension]})"
                    )
        return sizes

    def close(self) -> None:
        """Nothing to release: ts arrays hold no open files between reads."""


class TsBackendEntrypoint(BackendEntrypoint):
    """``engine="ts"``: a zarr v2/v3 group opened through ts (see :class:`TsZarrGroupStore`).

    ``filename_or_obj`` is a local path, a kvstore or zarr URL (``"file:///data/x.zarr/"``,
    ``"gs://bucket/x.zarr/|zarr3:"``), a spec (a kvstore spec, or a ``zarr``/``zarr3`` spec
    whose kvstore is the group), a ``ts.Spec`` or a ``ts.KvStore``.
    """

    description = "Open zarr v2 and v3 groups with ts, a pure-Python TensorStore"
    supports_groups = True
    url = "https://github.com/google/tensorstore"
    open_dataset_parameters = (
        "filename_or_obj",
        "mask_and_scale",
        "decode_times",
        "concat_characters",
        "decode_coords",
        "drop_variables",
        "use_cftime",
        "decode_timedelta",
        "group",
        "zarr_format",
        "consolidated",
        "use_zarr_fill_value_as_mask",
        "context",
    )

    def open_dataset(
        self,
        filename_or_obj: Any,
        *,
        mask_and_scale: bool = True,
        decode_times: bool = True,
        concat_characters: bool = True,
        decode_coords: bool = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: bool | None = None,
        decode_timedelta: bool | None = None,
        group: str | None = None,
        zarr_format: int | None = None,
        consolidated: bool | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
        context: ts.Context | None = None,
    ) -> Any:
        store = TsZarrGroupStore(
            filename_or_obj,
            group=group,
            zarr_format=zarr_format,
            consolidated=consolidated,
            use_zarr_fill_value_as_mask=use_zarr_fill_value_as_mask,
            drop_variables=drop_variables or (),
            context=context,
        )
        return StoreBackendEntrypoint().open_dataset(
            store,
            mask_and_scale=mask_and_scale,
            decode_times=decode_times,
            concat_characters=concat_characters,
            decode_coords=decode_coords,
            drop_variables=drop_variables,
            use_cftime=use_cftime,
            decode_timedelta=decode_timedelta,
        )

    def open_groups_as_dict(
        self,
        filename_or_obj: Any,
        *,
        group: str | None = None,
        zarr_format: int | None = None,
        consolidated: bool | None = None,
        context: ts.Context | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Every group from ``group`` (the root by default) down, each opened as a Dataset by
        :meth:`open_dataset`, keyed by its path below ``group`` (``"/"``, ``"/a"``, ``"/a/b"``)."""
        root, hinted_format, context = _root_kvstore(filename_or_obj, context)
        prefix = _group_prefix(group)
        paths = _group_paths(root, prefix, zarr_format or hinted_format, consolidated)
        return {
            "/" + path: self.open_dataset(
                root,
                group=prefix + path,
                zarr_format=zarr_format or hinted_format,
                consolidated=consolidated,
                context=context,
                **options,
            )
            for path in paths
        }

    def open_datatree(self, filename_or_obj: Any, **options: Any) -> Any:
        """The groups of :meth:`open_groups_as_dict` as an ``xarray.DataTree``."""
        return DataTree.from_dict(self.open_groups_as_dict(filename_or_obj, **options))

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Only what is unmistakably for ts: ts objects, zarr driver specs and URL pipelines
        naming a zarr driver. Plain ``*.zarr`` paths stay with xarray's zarr engine."""
        if isinstance(filename_or_obj, ts.KvStore | ts.Spec | ts.KvStore.Spec):
            return True
        if isinstance(filename_or_obj, Mapping):
            return filename_or_obj.get("driver") in _DRIVER_FORMATS
        if isinstance(filename_or_obj, str) and "|" in filename_or_obj:
            last = filename_or_obj.rsplit("|", 1)[1]
            return last.split(":", 1)[0] in ("zarr2", "zarr3")
        return False


def _root_kvstore(
    location: Any, context: ts.Context | None
) -> tuple[ts.KvStore, int | None, ts.Context | None]:
    """The kvstore that ``location`` names (a directory: its path ends in ``/``), the zarr format
    its driver implies (or None) and the context to open arrays in."""
    hinted_format: int | None = None
    if isinstance(location, ts.KvStore):
        kvstore = location
        context = context if context is not None else kvstore.context
    else:
        if isinstance(location, ts.Spec | ts.KvStore.Spec):
            location = location.to_json()
        if isinstance(location, os.PathLike) or (
            isinstance(location, str) and "://" not in location and "|" not in location
        ):
            spec: Any = {"driver": "file", "path": os.path.abspath(os.fspath(location))}
        elif isinstance(location, str):
            spec, hinted_format = _parse_url(location)
        elif isinstance(location, Mapping):
            spec, hinted_format = _kvstore_of_spec(dict(location))
            if context is None and "context" in location:
                context = ts.Context(location["context"])
        else:
            raise TypeError(
                "engine='ts' opens a path, a URL, a spec, a ts.Spec or a ts.KvStore, "
                f"but received {type(location).__name__}"
            )
        if context is None:
            context = ts.Context()
        kvstore = ts.KvStore.open(spec, context=context).result()
    if kvstore.path and not kvstore.path.endswith("/"):
        kvstore = kvstore + "/"
    return kvstore, hinted_format, context


def _parse_url(url: str) -> tuple[Any, int | None]:
    try:
        return ts.KvStore.Spec(url).to_json(), None
    except ValueError as kvstore_error:
        try:
            spec_json = ts.Spec(url).to_json()
        except ValueError:
            raise ValueError(
                f"{url!r} is neither a kvstore URL nor a zarr URL: {kvstore_error}"
            ) from None
        return _kvstore_of_spec(spec_json)


def _kvstore_of_spec(spec: dict[str, Any]) -> tuple[Any, int | None]:
    """A zarr driver spec's kvstore (with its ``path`` joined), or ``spec`` itself as a kvstore
    spec."""
    driver = spec.get("driver")
    if driver not in _DRIVER_FORMATS:
        if "kvstore" in spec or "dtype" in spec:
            raise ValueError(
                f"driver: engine='ts' opens zarr groups (driver 'zarr' or 'zarr3', or a kvstore), "
                f"but received {driver!r}"
            )
        return spec, None
    if "kvstore" not in spec:
        raise ValueError(
            f"kvstore: a {driver!r} spec names the group's kvstore, but {spec} has none"
        )
    kvstore = spec["kvstore"]
    kvstore = ts.KvStore.Spec(kvstore).to_json() if isinstance(kvstore, str) else dict(kvstore)
    if spec.get("path"):
        base = kvstore.get("path", "")
        kvstore["path"] = (base.rstrip("/") + "/" if base else "") + spec["path"]
    return kvstore, _DRIVER_FORMATS[driver]


def _group_prefix(group: str | None) -> str:
    if group is None:
        return ""
    if not isinstance(group, str):
        raise TypeError(f"group: expected a str, but received {type(group).__name__}")
    stripped = group.strip("/")
    return stripped + "/" if stripped else ""


def _read_json_key(kvstore: ts.KvStore, key: str) -> Any:
    return _read_json(kvstore, {key: kvstore.read(key)}, key)


def _read_json(kvstore: ts.KvStore, futures: Mapping[str, Any], key: str) -> Any:
    result = futures[key].result()
    if result.state != "value":
        return None
    try:
        return json.loads(result.value)
    except ValueError as error:
        raise ValueError(f"{kvstore.url}{key}: not valid JSON: {error}") from None


def _settle(futures: Mapping[str, Any]) -> None:
    """Wait for every read in ``futures`` (their errors are left to whoever uses them): an
    open returns with no read of it still in flight, even of keys it did not need."""
    for future in futures.values():
        future.exception()


def _read_group(
    root: ts.KvStore, prefix: str, zarr_format: int | None, consolidated: bool | None
) -> tuple[int, dict[str, Any], dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """The group's zarr format, its attributes, and for each array directly in it, the array's
    metadata and attributes: from consolidated metadata when present (``consolidated`` None or
    True), else by listing the group."""
    keys = []
    if zarr_format in (None, 3):
        keys += [prefix + _V3_METADATA_KEY, _V3_METADATA_KEY]
    if zarr_format in (None, 2):
        keys += [prefix + _V2_GROUP_KEY, prefix + _V2_ATTRIBUTES_KEY]
        if consolidated is not False:
            keys.append(_V2_CONSOLIDATED_KEY)
    futures = {key: root.read(key) for key in dict.fromkeys(keys)}
    _settle(futures)  # the probes of the formats not found are not waited for otherwise
    where = root.url + prefix
    v3_group = _read_json(root, futures, prefix + _V3_METADATA_KEY) if zarr_format != 2 else None
    if v3_group is not None:
        if v3_group.get("node_type") != "group":
            raise ValueError(
                f"{where}{_V3_METADATA_KEY}: a zarr array, not a group (open it with ts.open)"
            )
        attributes = v3_group.get("attributes") or {}
        found = _v3_consolidated(v3_group, "")
        if found is None and prefix:
            root_group = _read_json(root, futures, _V3_METADATA_KEY)
            found = _v3_consolidated(root_group, prefix) if root_group is not None else None
        if found is None:
            if consolidated:
                raise ValueError(
                    f"{where}: consolidated=True, but the group has no consolidated metadata"
                )
            found = _v3_listed(root, prefix)
        return 3, attributes, found
    if zarr_format != 3 and futures[prefix + _V2_GROUP_KEY].result().state == "value":
        attributes = _read_json(root, futures, prefix + _V2_ATTRIBUTES_KEY) or {}
        consolidated_json = (
            _read_json(root, futures, _V2_CONSOLIDATED_KEY) if consolidated is not False else None
        )
        if consolidated_json is not None:
            return 2, attributes, _v2_consolidated(consolidated_json.get("metadata") or {}, prefix)
        if consolidated:
            raise ValueError(
                f"{root.url}{_V2_CONSOLIDATED_KEY}: consolidated=True, but it does not exist"
            )
        return 2, attributes, _v2_listed(root, prefix)
    expected = {
        None: f"{_V3_METADATA_KEY} or {_V2_GROUP_KEY}",
        2: _V2_GROUP_KEY,
        3: _V3_METADATA_KEY,
    }
    raise FileNotFoundError(f"no zarr group at {where}: {expected[zarr_format]} does not exist")


def _child_name(key: str, prefix: str, suffix: str) -> str | None:
    """``name`` when ``key`` is ``prefix + name + "/" + suffix`` for a direct child ``name``."""
    if not key.startswith(prefix) or not key.endswith("/" + suffix):
        return None
    name = key[len(prefix) : -len(suffix) - 1]
    return name if name and "/" not in name else None


def _v3_consolidated(
    group: dict[str, Any], prefix: str
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]] | None:
    consolidated = group.get("consolidated_metadata")
    if not isinstance(consolidated, Mapping) or not isinstance(
        consolidated.get("metadata"), Mapping
    ):
        return None
    found = {}
    for key, metadata in consolidated["metadata"].items():
        name = key[len(prefix) :] if key.startswith(prefix) else ""
        if name and "/" not in name and metadata.get("node_type") == "array":
            found[name] = (metadata, metadata.get("attributes") or {})
    return found


def _v3_listed(root: ts.KvStore, prefix: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    keys = [key.decode() for key in root.list(prefix_range(prefix.encode())).result()]
    names = [name for key in keys if (name := _child_name(key, prefix, _V3_METADATA_KEY))]
    futures = {
        f"{prefix}{name}/{_V3_METADATA_KEY}": root.read(f"{prefix}{name}/{_V3_METADATA_KEY}")
        for name in names
    }
    found = {}
    for name in names:
        metadata = _read_json(root, futures, f"{prefix}{name}/{_V3_METADATA_KEY}")
        if metadata is not None and metadata.get("node_type") == "array":
            found[name] = (metadata, metadata.get("attributes") or {})
    return found


def _v2_consolidated(
    entries: Mapping[str, Any], prefix: str
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    found = {}
    for key, metadata in entries.items():
        name = _child_name(key, prefix, _V2_ARRAY_KEY)
        if name is not None:
            found[name] = (metadata, entries.get(f"{prefix}{name}/{_V2_ATTRIBUTES_KEY}") or {})
    return found


def _group_paths(
    root: ts.KvStore, prefix: str, zarr_format: int | None, consolidated: bool | None
) -> list[str]:
    """The group at ``prefix`` ('') and every group below it, as paths relative to it, parents
    before children: from consolidated metadata when present, else by listing."""
    zarr_format, _, _ = _read_group(root, prefix, zarr_format, consolidated)  # checks it exists
    node_types = (
        _consolidated_node_types(root, prefix, zarr_format) if consolidated is not False else None
    )
    if node_types is None:
        node_types = _listed_node_types(root, prefix, zarr_format)
    paths = {path for path, node_type in node_types.items() if node_type == "group" and path}
    return ["", *sorted(paths, key=lambda path: (path.count("/"), path))]


def _consolidated_node_types(
    root: ts.KvStore, prefix: str, zarr_format: int
) -> dict[str, str] | None:
    """Path below ``prefix`` -> "group" or "array", for every node consolidated metadata lists
    (None without consolidated metadata)."""
    if zarr_format == 3:
        for group_key, key_prefix in ((prefix + _V3_METADATA_KEY, ""), (_V3_METADATA_KEY, prefix)):
            consolidated = (_read_json_key(root, group_key) or {}).get("consolidated_metadata")
            if isinstance(consolidated, Mapping) and isinstance(
                consolidated.get("metadata"), Mapping
            ):
                return {
                    key[len(key_prefix) :]: str(metadata.get("node_type"))
                    for key, metadata in consolidated["metadata"].items()
                    if key.startswith(key_prefix)
                }
        return None
    consolidated_json = _read_json_key(root, _V2_CONSOLIDATED_KEY)
    if consolidated_json is None:
        return None
    return _v2_node_types(list(consolidated_json.get("metadata") or {}), prefix)


def _listed_node_types(root: ts.KvStore, prefix: str, zarr_format: int) -> dict[str, str]:
    keys = [key.decode() for key in root.list(prefix_range(prefix.encode())).result()]
    if zarr_format == 2:
        return _v2_node_types(keys, prefix)
    suffix = "/" + _V3_METADATA_KEY
    reads = {
        key[len(prefix) : -len(suffix)]: root.read(key) for key in keys if key.endswith(suffix)
    }
    node_types = {}
    for path, future in reads.items():
        result = future.result()
        if result.state == "value":
            node_types[path] = str(json.loads(result.value).get("node_type"))
    return node_types


def _v2_node_types(keys: Iterable[str], prefix: str) -> dict[str, str]:
    node_types = {}
    for key in keys:
        for suffix, node_type in (("/" + _V2_GROUP_KEY, "group"), ("/" + _V2_ARRAY_KEY, "array")):
            if key.startswith(prefix) and key.endswith(suffix):
                node_types[key[len(prefix) : -len(suffix)]] = node_type
    return node_types


def _v2_listed(root: ts.KvStore, prefix: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    keys = [key.decode() for key in root.list(prefix_range(prefix.encode())).result()]
    names = [name for key in keys if (name := _child_name(key, prefix, _V2_ARRAY_KEY))]
    wanted = [
        f"{prefix}{name}/{member}"
        for name in names
        for member in (_V2_ARRAY_KEY, _V2_ATTRIBUTES_KEY)
    ]
    futures = {key: root.read(key) for key in wanted}
    _settle(futures)  # attributes of a name without array metadata are not read otherwise
    found = {}
    for name in names:
        metadata = _read_json(root, futures, f"{prefix}{name}/{_V2_ARRAY_KEY}")
        if metadata is not None:
            found[name] = (
                metadata,
                _read_json(root, futures, f"{prefix}{name}/{_V2_ATTRIBUTES_KEY}") or {},
            )
    return found


def _open_array(
    driver: str,
    group_spec: dict[str, Any],
    name: str,
    metadata: dict[str, Any],
    context: ts.Context | None,
) -> Any:
    """Open one array with the metadata already read (``assume_metadata``: no second read)."""
    kvstore = dict(group_spec)
    kvstore["path"] = kvstore.get("path", "") + name + "/"
    spec = {"driver": driver, "kvstore": kvstore, "metadata": metadata}
    return ts.open(spec, read=True, open=True, assume_metadata=True, context=context)


def _decode_fill_value_attribute(value: Any, dtype: np.dtype[Any], name: str) -> Any:
    """A ``_FillValue`` attribute as xarray's zarr engine writes it for zarr v3: floats as the
    base64 of their little-endian float64 bytes (so NaN and infinities survive JSON), complex
    numbers as two such strings, byte strings in base64, other values as JSON numbers."""
    try:
        if dtype.kind == "f" and isinstance(value, str):
            return struct.unpack("<d", base64.standard_b64decode(value))[0]
        if dtype.kind == "c" and isinstance(value, list | tuple) and len(value) == 2:
            real, imag = (struct.unpack("<d", base64.standard_b64decode(part))[0] for part in value)
            return complex(real, imag)
        if dtype.kind == "S" and isinstance(value, str):
            return base64.standard_b64decode(value)
        if dtype.kind == "b":
            return bool(value)
        if dtype.kind in "iu" and isinstance(value, int | float):
            return int(value)
    except (ValueError, struct.error) as error:
        raise ValueError(
            f"variable {name!r}: _FillValue attribute {value!r} is not a {dtype} value: {error}"
        ) from None
    return value
