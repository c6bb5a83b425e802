"""What a ``zarr``/``zarr3`` spec's partial ``metadata`` implies, as a ``ts.Schema``.

tensorstore derives a spec's rank, dtype, domain, chunk layout, codec and fill value from
whatever members of ``metadata`` it gives (before anything is opened). The rules follow
what can be known from the members present: a zarr v2 rank needs ``dtype`` too (a
structured field adds inner dimensions), and a fill value needs the dtype it is read in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ts_core.driver import check_spec_members, spec_rank
from ts_core.errors import SpecError, describe

__all__ = [
    "check_spec_members",
    "normalize_zarr3_metadata",
    "normalize_zarr_metadata",
    "zarr3_spec_rank",
    "zarr3_spec_schema",
    "zarr_spec_schema",
]

#: The parameters tensorstore fills in for a zarr v2 compressor that leaves them out.
COMPRESSOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "blosc": {"blocksize": 0, "clevel": 5, "cname": "lz4", "shuffle": -1},
    "bz2": {"level": 1},
    "gzip": {"level": 1},
    "zlib": {"level": 1},
    "zstd": {"level": 1},
}

def _metadata(json_value: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = json_value.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _index_list(value: Any, json_path: str, minimum: int) -> list[int]:
    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise SpecError(f"{json_path}[{position}]", f"expected integer >= {minimum}, but received: {describe(item)}")
    return list(value)


def _same_length(values: Mapping[str, list[Any]]) -> int | None:
    """The common length of the vectors given (``metadata.<name>``); error if they differ."""
    rank = None
    first = None
    for name, value in values.items():
        if rank is None:
            rank, first = len(value), name
        elif len(value) != rank:
            raise SpecError(f"metadata.{name}", f"array has length {len(value)} but should have length {rank} (the length of metadata.{first})")
    return rank


def _schema(
    *, dtype: Any = None, rank: int | None = None, domain: Any = None, layout: dict[str, Any] | None = None,
    codec: dict[str, Any] | None = None, fill_value: Any = None, dimension_units: Any = None,
) -> Any:
    from ts_core.schema import ChunkLayout, CodecSpec, Schema

    schema = Schema(codec=None if codec is None else CodecSpec(codec))
    if dtype is not None:
        schema.update(dtype=dtype)
    if rank is not None:
        schema.update(rank=rank)
    if domain is not None:
        schema.update(domain=domain)
    if layout:
        schema.update(chunk_layout=ChunkLayout(json=layout))
    if fill_value is not None:
        schema.update(fill_value=fill_value)
    if dimension_units is not None:
        schema.update(dimension_units=dimension_units)
    return schema


# -- zarr v2 -----------------------------------------------------------------------------------
def zarr_spec_schema(json_value: Mapping[str, Any]) -> Any:
    """Schema implied by a ``zarr`` spec's ``metadata`` (and ``field``)."""
    from ts_core.index_space import IndexDomain

    from ._dtype import parse_dtype
    from ._metadata import _parse_codec, decode_fill_value

    metadata = _metadata(json_value)
    codec: dict[str, Any] = {"driver": "zarr"}
    if "compressor" in metadata:
        compressor = metadata["compressor"]
        if compressor is not None:
            compressor = _parse_codec(compressor, "metadata.compressor")[1]
            compressor = dict(sorted({**COMPRESSOR_DEFAULTS.get(compressor["id"], {}), **compressor}.items()))
        codec["compressor"] = compressor
    filters = metadata.get("filters")
    codec["filters"] = None if not filters else [_parse_codec(f, f"metadata.filters[{i}]")[1] for i, f in enumerate(filters)]
    vectors = {name: _index_list(metadata[name], f"metadata.{name}", minimum)
               for name, minimum in (("shape", 0), ("chunks", 1)) if name in metadata}
    outer_rank = _same_length(vectors)
    order = metadata.get("order")
    if order is not None and order not in ("C", "F"):
        raise SpecError("metadata.order", f'expected one of "C", "F", but received: {describe(order)}')
    if "dtype" not in metadata:
        if metadata.get("fill_value") is not None:
            raise SpecError("metadata.fill_value", 'must be specified in conjunction with "dtype"')
        given_rank = spec_rank(json_value)
        if not given_rank:
            return _schema(codec=codec)
        return _schema(codec=codec, layout={"grid_origin": [0] * given_rank})
    zarr_dtype = parse_dtype(metadata["dtype"], "metadata.dtype")
    field = zarr_dtype.field(json_value.get("field"), "field")
    fill_value = None
    if metadata.get("fill_value") is not None:
        fills = decode_fill_value(metadata["fill_value"], zarr_dtype, "metadata.fill_value")
        fill_value = fills[zarr_dtype.fields.index(field)]
        if fill_value is not None and fill_value.ndim and (fill_value == fill_value.flat[0]).all():
            # One value over a field's inner dimensions: a scalar, which a transformed schema can hold.
            fill_value = fill_value.flat[0]
    dtype = field.numpy_dtype.newbyteorder("=")
    inner = list(field.shape)
    if outer_rank is None:
        given_rank = spec_rank(json_value)
        if given_rank is None:
            return _schema(dtype=dtype, codec=codec, fill_value=fill_value)
        if given_rank < len(inner):
            raise SpecError("rank", f"rank {given_rank} is not compatible with metadata.dtype, which has {len(inner)} inner dimensions")
        outer_rank = given_rank - len(inner)
        if outer_rank == 0:
            vectors["shape"] = []  # no outer dimensions: the domain is the field's own
    rank = outer_rank + len(inner)
    layout: dict[str, Any] = {"grid_origin": [0] * rank} if rank else {}
    if "chunks" in vectors or inner:
        chunk = vectors.get("chunks", [None] * outer_rank) + inner
        layout["read_chunk"] = {"shape": chunk}
        layout["write_chunk"] = {"shape": chunk}
    if order is not None:
        outer = list(range(outer_rank))
        layout["inner_order"] = (outer if order == "C" else outer[::-1]) + list(range(outer_rank, rank))
    domain = None
    if "shape" in vectors:
        domain = IndexDomain(
            shape=vectors["shape"] + inner, implicit_upper_bounds=[True] * outer_rank + [False] * len(inner)
        )
    return _schema(dtype=dtype, rank=rank, domain=domain, layout=layout, codec=codec, fill_value=fill_value)


# -- zarr3 -------------------------------------------------------------------------------------
def _codec_json(codec: Any) -> Any:
    """A codec as ``{"name": ...}`` (a bare name is shorthand), sharding chains included."""
    if isinstance(codec, str):
        return {"name": codec}
    if isinstance(codec, Mapping) and codec.get("name") == "sharding_indexed" and isinstance(codec.get("configuration"), Mapping):
        configuration = dict(codec["configuration"])
        for member in ("codecs", "index_codecs"):
            if isinstance(configuration.get(member), list):
                configuration[member] = [_codec_json(c) for c in configuration[member]]
        return {**codec, "configuration": configuration}
    return codec


def _check_codecs(codecs: list[Any], json_path: str) -> None:
    """Each codec must be a registered zarr3 codec with a valid configuration; a sharding
    codec's inner chains may be left out (a partial spec), and are checked where given."""
    from .zarr3._pipeline import _load_codec

    for position, codec in enumerate(codecs):
        path = f"{json_path}[{position}]"
        if isinstance(codec, Mapping) and codec.get("name") == "sharding_indexed":
            configuration = codec.get("configuration")
            if isinstance(configuration, Mapping):
                for member in ("codecs", "index_codecs"):
                    inner = configuration.get(member)
                    if isinstance(inner, list):
                        _check_codecs(inner, f"{path}.configuration.{member}")
            continue
        _load_codec(codec, path)


def _chain_layout(codecs: list[Any], rank: int) -> tuple[list[int] | None, list[int] | None]:
    """(inner order, innermost read chunk shape) a complete codec chain implies; (None, None)
    when a sharding codec leaves its inner chain unspecified."""
    order = None
    read_chunk = None
    chain = codecs
    while True:
        first = chain[0] if chain else None
        name = first.get("name") if isinstance(first, Mapping) else None
        configuration = first.get("configuration") if isinstance(first, Mapping) else None
        configuration = configuration if isinstance(configuration, Mapping) else {}
        if order is None and name == "transpose":
            wanted = configuration.get("order")
            if wanted == "C":
                order = list(range(rank))
            elif wanted == "F":
                order = list(range(rank))[::-1]
            elif isinstance(wanted, list):
                order = list(wanted)
            if order is not None and sorted(order) != list(range(rank)):
                raise SpecError("metadata.codecs", f"transpose order {order} is not a permutation of the {rank} dimensions")
        sharding = next((c for c in chain if isinstance(c, Mapping) and c.get("name") == "sharding_indexed"), None)
        if sharding is None:
            return (order if order is not None else list(range(rank))), read_chunk
        shard_configuration = sharding.get("configuration")
        if not isinstance(shard_configuration, Mapping) or not isinstance(shard_configuration.get("codecs"), list):
            return None, None
        if isinstance(shard_configuration.get("chunk_shape"), list):
            read_chunk = list(shard_configuration["chunk_shape"])
        chain = shard_configuration["codecs"]


def _dimension_units(attributes: Any) -> list[Any] | None:
    """``attributes.dimension_units`` as schema units (tensorstore stores them there)."""
    if not isinstance(attributes, Mapping) or "dimension_units" not in attributes:
        return None
    units = attributes["dimension_units"]
    if not isinstance(units, list) or not all(u is None or isinstance(u, str) for u in units):
        raise SpecError("metadata.attributes.dimension_units", f"expected array of strings or null, but received: {describe(units)}")
    return list(units)


def zarr3_spec_schema(json_value: Mapping[str, Any]) -> Any:
    """Schema implied by a ``zarr3`` spec's ``metadata``."""
    from ts_core.index_space import IndexDomain

    from .zarr3._dtype import decode_fill_value, parse_data_type
    from .zarr3._metadata import _KNOWN, parse_chunk_grid

    metadata = _metadata(json_value)
    for member, item in metadata.items():
        if member not in _KNOWN and not (isinstance(item, Mapping) and item.get("must_understand") is False):
            raise SpecError(f"metadata.{member}", 'unsupported extension member (it does not set "must_understand": false)')
    codec: dict[str, Any] = {"driver": "zarr3"}
    codecs = metadata.get("codecs")
    if isinstance(codecs, list):
        _check_codecs(codecs, "metadata.codecs")
        codecs = [_codec_json(c) for c in codecs]
        codec["codecs"] = codecs
    vectors: dict[str, list[Any]] = {}
    if "shape" in metadata:
        vectors["shape"] = _index_list(metadata["shape"], "metadata.shape", 0)
    if isinstance(metadata.get("dimension_names"), list):
        names = metadata["dimension_names"]
        for position, name in enumerate(names):
            if name is not None and not isinstance(name, str):
                raise SpecError(f"metadata.dimension_names[{position}]", f"expected string or null, but received: {describe(name)}")
        vectors["dimension_names"] = names
    units = _dimension_units(metadata.get("attributes"))
    if units is not None:
        vectors["attributes.dimension_units"] = units
    rank = _same_length(vectors)
    write_chunk = None
    if "chunk_grid" in metadata:
        grid = metadata["chunk_grid"]
        if rank is None:
            configuration = grid.get("configuration") if isinstance(grid, Mapping) else None
            shape = configuration.get("chunk_shape") if isinstance(configuration, Mapping) else None
            grid_rank = len(shape) if isinstance(shape, list) else 0
            write_chunk = list(parse_chunk_grid(grid, "metadata.chunk_grid", grid_rank))  # the grid's own checks
            rank = grid_rank
        else:
            write_chunk = list(parse_chunk_grid(grid, "metadata.chunk_grid", rank))
    data_type = None
    if "data_type" in metadata:
        data_type = parse_data_type(metadata["data_type"], "metadata.data_type")
    fill_value = None
    if metadata.get("fill_value") is not None:
        if data_type is None:
            raise SpecError("metadata.fill_value", 'must be specified in conjunction with "data_type"')
        fill_value = decode_fill_value(metadata["fill_value"], data_type, "metadata.fill_value")
    dtype = None if data_type is None or data_type.is_raw else data_type.numpy_dtype
    inner = list(data_type.inner_shape) if data_type is not None else []
    if rank is None:
        given_rank = spec_rank(json_value)
        if given_rank is None or given_rank < len(inner):
            return _schema(dtype=dtype, codec=codec, fill_value=fill_value)
        rank = given_rank - len(inner)
        if rank == 0:
            vectors["shape"] = []  # no outer dimensions: the domain is the data type's own
    full_rank = rank + len(inner)
    layout: dict[str, Any] = {"grid_origin": [0] * full_rank} if full_rank else {}
    if write_chunk is not None:
        layout["write_chunk"] = {"shape": write_chunk + inner}
    if isinstance(codecs, list):
        order, read_chunk = _chain_layout(codecs, rank)
        if order is not None:
            layout["inner_order"] = order + list(range(rank, full_rank))
            if read_chunk is None:
                read_chunk = write_chunk
            if read_chunk is not None:
                layout["read_chunk"] = {"shape": list(read_chunk) + inner}
    domain = None
    names = vectors.get("dimension_names")
    if "shape" in vectors or names is not None:
        labels = [n or "" for n in names] if names is not None else [""] * rank
        named = [label for label in labels if label]
        if len(set(named)) != len(named):
            labels = [""] * rank  # zarr3 allows repeated names; a domain's labels must be unique
        shape = vectors.get("shape")
        bounds: dict[str, Any] = {} if shape is None else {"exclusive_max": shape + inner}
        domain = IndexDomain(
            inclusive_min=[0] * full_rank, **bounds,
            implicit_upper_bounds=[True] * rank + [False] * len(inner),
            labels=labels + [""] * len(inner),
        )
    schema_units = None if units is None else [*units, *([None] * len(inner))]
    return _schema(
        dtype=dtype, rank=full_rank, domain=domain, layout=layout, codec=codec,
        fill_value=fill_value, dimension_units=schema_units,
    )


def zarr3_spec_rank(json_value: Mapping[str, Any]) -> int | None:
    """The rank a ``zarr3`` spec takes from its ``metadata``: none without a ``data_type``
    (tensorstore's Spec reports none then, though its schema has the chunk grid's rank)."""
    if "data_type" not in _metadata(json_value):
        return None
    rank: int | None = zarr3_spec_schema(json_value).rank
    return rank


# -- the canonical ``metadata`` of a spec ---------------------------------------------------------
def sorted_json(value: Any) -> Any:
    """JSON with the members of every object sorted (as tensorstore prints them)."""
    if isinstance(value, Mapping):
        return {name: sorted_json(value[name]) for name in sorted(value)}
    if isinstance(value, list):
        return [sorted_json(item) for item in value]
    return value


def _as_floats(value: Any) -> Any:
    """Integers (also in a complex value's pair) as floats; "NaN" and the like unchanged."""
    if isinstance(value, list):
        return [_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def normalize_zarr_codec(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """A ``zarr`` CodecSpec's JSON as tensorstore writes it: members sorted, a compressor's
    defaults filled in, absent or empty ``filters`` as null."""
    from ._metadata import _parse_codec

    codec = dict(json_value)
    compressor = codec.get("compressor")
    if isinstance(compressor, Mapping):
        parsed = _parse_codec(compressor, "compressor")[1]
        codec["compressor"] = {**COMPRESSOR_DEFAULTS.get(parsed["id"], {}), **parsed}
    if not codec.get("filters"):
        codec["filters"] = None
    normalized: dict[str, Any] = sorted_json(codec)
    return normalized


def normalize_zarr_metadata(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """A ``zarr`` spec's ``metadata`` as tensorstore's Spec writes it: members sorted, a
    compressor's defaults filled in, empty ``filters`` as null, a float fill value as float."""
    from ._dtype import parse_dtype
    from ._metadata import _parse_codec

    metadata = dict(_metadata(json_value))
    compressor = metadata.get("compressor")
    if isinstance(compressor, Mapping):
        parsed = _parse_codec(compressor, "metadata.compressor")[1]
        metadata["compressor"] = {**COMPRESSOR_DEFAULTS.get(parsed["id"], {}), **parsed}
    if metadata.get("filters") == []:
        metadata["filters"] = None
    if "dtype" in metadata and metadata.get("fill_value") is not None:
        fields = parse_dtype(metadata["dtype"], "metadata.dtype").fields
        if len(fields) == 1 and fields[0].numpy_dtype.kind in "fc" and not fields[0].shape:
            metadata["fill_value"] = _as_floats(metadata["fill_value"])
    normalized: dict[str, Any] = sorted_json(metadata)
    return normalized


def normalize_zarr3_metadata(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """A ``zarr3`` spec's ``metadata`` as tensorstore's Spec writes it: members sorted,
    ``node_type`` spelled out, codecs given by name as objects, a float fill value as float."""
    from .zarr3._dtype import parse_data_type

    metadata = dict(_metadata(json_value))
    metadata.setdefault("node_type", "array")
    if isinstance(metadata.get("codecs"), list):
        metadata["codecs"] = [_codec_json(codec) for codec in metadata["codecs"]]
    if "data_type" in metadata and metadata.get("fill_value") is not None:
        data_type = parse_data_type(metadata["data_type"], "metadata.data_type")
        if not data_type.is_raw and data_type.numpy_dtype.kind in "fc":
            metadata["fill_value"] = _as_floats(metadata["fill_value"])
    normalized: dict[str, Any] = sorted_json(metadata)
    return normalized
