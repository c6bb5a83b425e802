"""``Schema``: constraints on a TensorStore (rank, dtype, domain, chunk layout, codec, ...).

Constraints accumulate: each keyword (or JSON member) is merged with what is already
there and a conflict raises ``ValueError`` whose message starts with the member's name,
following the rules of tensorstore's ``ts.open`` documentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._validation import SpecError, describe, json_path
from ..index_space._mixin import Indexable
from ._chunk_layout import ChunkLayout, chunk_layout_from_json
from ._codec import CodecSpec, merge_codec_json
from ._constraints import check_rank, json_int, py_int
from ._domain_merge import merge_domains
from ._fill_value import (
    broadcast_compatible,
    fill_value_from_json,
    fill_value_from_python,
    fill_value_to_json,
    fill_values_equal,
)
from ._pretty import pretty_repr
from ._unit import Unit, UnitLike, to_unit, unit_from_json

if TYPE_CHECKING:
    import numpy

    from .._dtype import DTypeLike
    from .._dtype import dtype as DType

__all__ = ["Schema", "check_composable", "schema_from_json", "transform_schema"]

_SCHEMA_MEMBERS = ("rank", "dtype", "domain", "chunk_layout", "codec", "fill_value",
                   "dimension_units")


def _index_domain() -> Any:
    from ..index_space import IndexDomain

    return IndexDomain


class Schema(Indexable):
    """Constraints on a TensorStore: each member may be unspecified (``None``).

    ``Schema(json)`` parses the JSON form; keyword arguments (also accepted by ``update``)
    add constraints, merged with the existing ones. Indexing a schema (``schema[1:3]``,
    ``schema.T``, ``schema.translate_to[...]``) transforms its domain, chunk layout and
    units as tensorstore does.
    """

    def __init__(
        self,
        json: Any = None,
        *,
        rank: int | None = None,
        dtype: DTypeLike | None = None,
        domain: Any = None,
        shape: Sequence[int] | None = None,
        chunk_layout: ChunkLayout | None = None,
        codec: CodecSpec | None = None,
        fill_value: Any = None,
        dimension_units: Sequence[UnitLike | None] | None = None,
        schema: Schema | None = None,
    ) -> None:
        self._rank: int | None = None
        self._dtype: DType | None = None
        self._domain: Any = None
        self._chunk_layout = ChunkLayout()
        self._codec: CodecSpec | None = None
        self._fill_value: numpy.ndarray | None = None
        self._units: list[Unit | None] | None = None
        if json is not None:
            self._parse_json(json, "")
        self.update(rank=rank, dtype=dtype, domain=domain, shape=shape,
                    chunk_layout=chunk_layout, codec=codec, fill_value=fill_value,
                    dimension_units=dimension_units, schema=schema)

    # -- merging one member at a time ------------------------------------------------------------
    def _set_rank(self, rank: int, path: str) -> None:
        check_rank(rank, path)
        if self._rank is None:
            self._rank = rank
            self._check_fill_value(path)
        elif self._rank != rank:
            raise SpecError(path, f"rank {rank} does not match existing rank {self._rank}")

    def _set_dtype(self, value: Any, path: str) -> None:
        from .._dtype import to_dtype

        data_type = to_dtype(value, json_path=path)
        if self._dtype is None:
            # A fill value given earlier is kept as given (as the wheel does); the driver
            # converts it when it opens the array.
            self._dtype = data_type
        elif self._dtype != data_type:
            raise SpecError(path, f"specified dtype ({data_type.name}) does not match existing "
                                  f"value ({self._dtype.name})")

    def _set_domain(self, domain: Any, path: str) -> None:
        self._set_rank(domain.rank, path)
        if self._domain is None:
            self._domain = domain
        else:
            self._domain = merge_domains(self._domain, domain, path, type(self._domain))
        self._check_fill_value(path)

    def _set_chunk_layout(self, layout: ChunkLayout, path: str) -> None:
        if layout.rank != -1:
            self._set_rank(layout.rank, path)
        self._chunk_layout.merge(layout, path)

    def _set_codec(self, codec: CodecSpec, path: str) -> None:
        if self._codec is None:
            self._codec = codec
        else:
            self._codec = CodecSpec(merge_codec_json(self._codec.to_json(), codec.to_json(),
                                                     path))

    def _set_fill_value(self, array: numpy.ndarray, path: str) -> None:
        if self._rank is not None and array.ndim > self._rank:
            raise SpecError(path, f"invalid fill_value for rank {self._rank}: "
                                  f"{describe(fill_value_to_json(array))}")
        if self._fill_value is None:
            self._fill_value = array
            self._check_fill_value(path)
        elif not fill_values_equal(self._fill_value, array):
            raise SpecError(path, f"specified fill_value ({describe(fill_value_to_json(array))}) "
                                  "does not match existing value "
                                  f"({describe(fill_value_to_json(self._fill_value))})")

    def _set_units(self, units: list[Unit | None], path: str) -> None:
        self._set_rank(len(units), path)
        if self._units is None:
            self._units = units
            return
        merged = []
        for old, new in zip(self._units, units, strict=True):
            if old is not None and new is not None and old != new:
                raise SpecError(path, f"cannot merge dimension units {_units_text(units)} and "
                                      f"{_units_text(self._units)}")
            merged.append(old if old is not None else new)
        self._units = merged

    def _check_fill_value(self, path: str) -> None:
        fill = self._fill_value
        if fill is None:
            return
        if self._rank is not None and fill.ndim > self._rank:
            raise SpecError(path, f"invalid fill_value for rank {self._rank}")
        if self._domain is not None and not broadcast_compatible(fill, tuple(self._domain.shape)):
            raise SpecError(path, f"fill_value is incompatible with domain: cannot broadcast "
                                  f"array of shape {list(fill.shape)} to target shape "
                                  f"{list(self._domain.shape)}")

    # -- JSON ---------------------------------------------------------------------------------------
    def _parse_json(self, value: Any, prefix: str) -> None:
        if isinstance(value, Schema):
            value = value.to_json()
        if not isinstance(value, dict):
            raise SpecError(prefix, f"expected object, but received: {describe(value)}")
        for key in value:
            if key not in _SCHEMA_MEMBERS:
                raise SpecError(json_path(prefix, [key]), "unexpected member (not allowed here)")
        for key in _SCHEMA_MEMBERS:
            member = value.get(key)
            if member is None:
                continue
            path = json_path(prefix, [key])
            if key == "rank":
                self._set_rank(json_int(member, path), path)
            elif key == "dtype":
                if not isinstance(member, str):
                    raise SpecError(path, f"expected string, but received: {describe(member)}")
                self._set_dtype(member, path)
            elif key == "domain":
                self._set_domain(_domain_from_json(member, path), path)
            elif key == "chunk_layout":
                self._set_chunk_layout(chunk_layout_from_json(member, path), path)
            elif key == "codec":
                self._set_codec(_codec_from_json(member, path), path)
            elif key == "fill_value":
                self._set_fill_value(fill_value_from_json(member, self._dtype, path), path)
            else:
                self._set_units(_units_from_json(member, path), path)

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The JSON form (members that are unconstrained are omitted)."""
        out: dict[str, Any] = {}
        layout = {k: v for k, v in self._chunk_layout.to_json().items() if k != "rank"}
        if layout:
            out["chunk_layout"] = self._chunk_layout.to_json()
        if self._codec is not None:
            out["codec"] = self._codec.to_json()
        if self._units is not None and any(unit is not None for unit in self._units):
            out["dimension_units"] = [None if u is None else u.to_json() for u in self._units]
        if self._domain is not None:
            out["domain"] = self._domain.to_json()
        if self._dtype is not None:
            out["dtype"] = self._dtype.name
        if self._fill_value is not None:
            out["fill_value"] = fill_value_to_json(self._fill_value)
        if self._rank is not None:
            out["rank"] = self._rank
        return out

    # -- keyword arguments ---------------------------------------------------------------------------
    def update(
        self,
        *,
        rank: int | None = None,
        dtype: DTypeLike | None = None,
        domain: Any = None,
        shape: Sequence[int] | None = None,
        chunk_layout: ChunkLayout | None = None,
        codec: CodecSpec | None = None,
        fill_value: Any = None,
        dimension_units: Sequence[UnitLike | None] | None = None,
        schema: Schema | None = None,
    ) -> None:
        """Add constraints; a conflict raises ``ValueError`` naming the member."""
        if rank is not None:
            self._set_rank(py_int(rank, "rank"), "rank")
        if dtype is not None:
            self._set_dtype(dtype, "dtype")
        if domain is not None:
            self._set_domain(domain, "domain")
        if shape is not None:
            self._set_domain(_index_domain()(shape=list(shape)), "shape")
        if chunk_layout is not None:
            if not isinstance(chunk_layout, ChunkLayout):
                raise TypeError(f"Invalid chunk_layout: expected ChunkLayout, got {chunk_layout!r}")
            self._set_chunk_layout(chunk_layout, "chunk_layout")
        if codec is not None:
            if not isinstance(codec, CodecSpec):
                raise TypeError(f"Invalid codec: expected CodecSpec, got {codec!r}")
            self._set_codec(codec, "codec")
        if fill_value is not None:
            self._set_fill_value(fill_value_from_python(fill_value, self._dtype), "fill_value")
        if dimension_units is not None:
            self._set_units([None if u is None else to_unit(u, f"dimension_units[{i}]")
                             for i, u in enumerate(dimension_units)], "dimension_units")
        if schema is not None:
            if not isinstance(schema, Schema):
                raise TypeError(f"Invalid schema: expected Schema, got {schema!r}")
            self._merge_schema(schema)

    def _merge_schema(self, other: Schema) -> None:
        if other._rank is not None:
            self._set_rank(other._rank, "rank")
        if other._dtype is not None:
            self._set_dtype(other._dtype, "dtype")
        if other._domain is not None:
            self._set_domain(other._domain, "domain")
        self._set_chunk_layout(other._chunk_layout, "chunk_layout")
        if other._codec is not None:
            self._set_codec(other._codec, "codec")
        if other._fill_value is not None:
            fill = other._fill_value
            if self._dtype is not None:
                fill = _cast_fill(fill, self._dtype, "fill_value")
            self._set_fill_value(fill, "fill_value")
        if other._units is not None:
            self._set_units(list(other._units), "dimension_units")

    # -- indexing ---------------------------------------------------------------------------------
    def _index_transform(self) -> Any:
        from ..index_space import IndexTransform

        if self._domain is not None:
            return IndexTransform(domain=self._domain)
        if self._rank is None:
            raise ValueError("Cannot perform indexing operations on Schema with unspecified rank")
        return IndexTransform(input_rank=self._rank)

    def _with_index_transform(self, transform: Any) -> Schema:
        return transform_schema(self, transform)

    def transpose(self, axes: Any = None) -> Schema:
        """Permute dimensions (reversed by default). Reversing all dimensions of a schema of
        unknown rank leaves it unchanged (a copy), as tensorstore's ``Schema.T`` does."""
        if axes is None and self._domain is None and self._rank is None:
            return self.copy()
        result: Schema = super().transpose(axes)
        return result

    def __getitem__(self, index: Any) -> Schema:
        check_composable(self._index_transform(), index)
        result: Schema = Indexable.__getitem__(self, index)
        return result

    # -- accessors --------------------------------------------------------------------------------
    @property
    def rank(self) -> int | None:
        """Number of dimensions, or ``None`` if unconstrained."""
        return self._rank

    @property
    def ndim(self) -> int | None:
        """Alias for ``rank``."""
        return self._rank

    @property
    def dtype(self) -> DType | None:
        """Data type, or ``None`` if unconstrained."""
        return self._dtype

    @property
    def domain(self) -> Any:
        """The ``IndexDomain`` constraint, or ``None``."""
        return self._domain

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the domain (``ValueError`` if the domain is unconstrained)."""
        return tuple(self._require_domain().shape)

    @property
    def origin(self) -> tuple[int, ...]:
        """Origin of the domain (``ValueError`` if the domain is unconstrained)."""
        return tuple(self._require_domain().origin)

    @property
    def size(self) -> int:
        """Number of elements of the domain (``ValueError`` if it is unconstrained)."""
        return int(self._require_domain().size)

    def _require_domain(self) -> Any:
        if self._domain is None:
            raise ValueError("domain is unspecified")
        return self._domain

    @property
    def chunk_layout(self) -> ChunkLayout:
        """The chunk layout constraints (a copy; empty if unconstrained)."""
        return self._chunk_layout.copy()

    @property
    def codec(self) -> CodecSpec | None:
        """The codec constraints, or ``None``."""
        return self._codec

    @property
    def fill_value(self) -> numpy.ndarray | None:
        """The fill value (in its smallest broadcastable form), or ``None``."""
        return None if self._fill_value is None else self._fill_value.copy()

    @property
    def dimension_units(self) -> tuple[Unit | None, ...] | None:
        """Physical unit of each dimension (``None`` entries are unknown)."""
        if self._units is None:
            return None if self._rank is None else (None,) * self._rank
        return tuple(self._units)

    # -- value semantics ------------------------------------------------------------------------------
    def copy(self) -> Schema:
        """An independent copy."""
        return Schema(schema=self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self.to_json() == other.to_json() and _nan_safe_equal(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        # A fill value given before the dtype stays untyped; it is pickled apart so that
        # unpickling does not try to convert it (which could fail, e.g. 0 for bool).
        json = self.to_json()
        fill = json.pop("fill_value", None)
        typed = self._fill_value is not None and self._fill_value.dtype != object
        return (_schema_from_json, (json, fill, typed))

    def __repr__(self) -> str:
        return pretty_repr("Schema(", self.to_json())


def _nan_safe_equal(a: Schema, b: Schema) -> bool:
    if a._fill_value is None or b._fill_value is None:
        return a._fill_value is b._fill_value
    return a._fill_value.shape == b._fill_value.shape and fill_values_equal(a._fill_value,
                                                                            b._fill_value)


def check_composable(transform: Any, index: Any) -> None:
    """IndexError (as tensorstore) if ``index`` is a transform whose output rank is not
    ``transform``'s input rank."""
    from ..index_space import IndexTransform

    if isinstance(index, IndexTransform) and index.output_rank != transform.input_rank:
        raise IndexError(f"Rank {transform.input_rank} -> {transform.output_rank} transform "
                         f"cannot be composed with rank {index.input_rank} -> "
                         f"{index.output_rank} transform.")


def transform_schema(schema: Schema, transform: Any) -> Schema:
    """The constraints of ``schema`` seen through ``transform`` (which maps a new index space
    into the schema's): chunk layout, units and domain follow each dimension that a
    ``single_input_dimension`` map carries over; dimensions made anew are unconstrained."""
    if schema._rank is not None and transform.output_rank != schema._rank:
        raise IndexError(f"Rank {schema._rank} -> {schema._rank} transform cannot be composed "
                         f"with rank {transform.input_rank} -> {transform.output_rank} transform")
    source = _dimension_sources(transform)
    result = Schema()
    result._rank = transform.input_rank
    result._dtype = schema._dtype
    result._codec = schema._codec
    if schema._domain is not None:
        result._domain = _transformed_domain(schema._domain, transform, source)
    layout_json = schema._chunk_layout.to_json()
    if any(name != "rank" for name in layout_json):
        result._chunk_layout = chunk_layout_from_json(_transform_layout_json(layout_json, source))
    if schema._units is not None:
        units = schema._units
        result._units = [None if src is None or units[src[0]] is None
                         else _scaled_unit(units[src[0]], abs(src[2])) for src in source]
    if schema._fill_value is not None:
        if schema._fill_value.ndim and schema._fill_value.size != 1:
            raise ValueError("fill_value: indexing a Schema whose fill_value is an array "
                             "(not one value) is not supported")
        result._fill_value = schema._fill_value.reshape(())
    return result


def _transformed_domain(domain: Any, transform: Any, source: list[tuple[int, int, int] | None]) -> Any:
    """``transform``'s domain, where a bound stays implicit only if the schema's bound it
    maps to is implicit too (an explicit schema bound still constrains the array)."""
    from ..index_space import IndexDomain

    result = transform.domain
    lower = list(result.implicit_lower_bounds)
    upper = list(result.implicit_upper_bounds)
    for dim, src in enumerate(source):
        if src is None:
            continue
        output_dim, _, stride = src
        low_source, high_source = ((domain.implicit_lower_bounds, domain.implicit_upper_bounds)
                                   if stride > 0 else
                                   (domain.implicit_upper_bounds, domain.implicit_lower_bounds))
        lower[dim] = lower[dim] and bool(low_source[output_dim])
        upper[dim] = upper[dim] and bool(high_source[output_dim])
    return IndexDomain(inclusive_min=result.inclusive_min, exclusive_max=result.exclusive_max,
                       implicit_lower_bounds=lower, implicit_upper_bounds=upper,
                       labels=result.labels)


def _scaled_unit(unit: Any, factor: int) -> Unit:
    scaled: Unit = unit * factor
    return scaled


def _dimension_sources(transform: Any) -> list[tuple[int, int, int] | None]:
    """For each input dimension, ``(output_dim, offset, stride)`` of the first output map
    that reads it alone, or None."""
    source: list[tuple[int, int, int] | None] = [None] * transform.input_rank
    for output_dim, output in enumerate(transform.output):
        if str(output.method).rsplit(".", 1)[-1] != "single_input_dimension":
            continue
        input_dim = output.input_dimension
        if source[input_dim] is None and output.stride != 0:
            source[input_dim] = (output_dim, int(output.offset), int(output.stride))
    return source


def _transform_layout_json(layout: dict[str, Any], source: list[tuple[int, int, int] | None]
                           ) -> dict[str, Any]:
    def per_dim(values: list[Any], convert: Any) -> list[Any]:
        return [None if src is None or values[src[0]] is None else convert(values[src[0]], src)
                for src in source]

    def origin(value: int, src: tuple[int, int, int]) -> int:
        _, offset, stride = src
        if stride > 0:
            return -((offset - value) // stride)  # ceil((value - offset) / stride)
        return (value - offset) // stride + 1

    def shape(value: int, src: tuple[int, int, int]) -> int:
        step = abs(src[2])
        return value // step if value % step == 0 else value

    def aspect(value: float, src: tuple[int, int, int]) -> float:
        return float(value) / abs(src[2])

    out: dict[str, Any] = {}
    for name, value in layout.items():
        if name in ("grid_origin", "grid_origin_soft_constraint"):
            out[name] = per_dim(value, origin)
        elif name in ("inner_order", "inner_order_soft_constraint"):
            position = {src[0]: dim for dim, src in enumerate(source) if src is not None}
            order = [position[dim] for dim in value if dim in position]
            out[name] = order + [dim for dim in range(len(source)) if dim not in order]
        elif name in ("write_chunk", "read_chunk", "codec_chunk", "chunk"):
            grid: dict[str, Any] = {}
            for member, member_value in value.items():
                if member.startswith("shape"):
                    grid[member] = per_dim(member_value, shape)
                elif member.startswith("aspect_ratio"):
                    grid[member] = per_dim(member_value, aspect)
                else:
                    grid[member] = member_value
            out[name] = grid
    return out


def schema_from_json(value: Any, json_path_prefix: str = "") -> Schema:
    """Parse schema JSON; errors name members below ``json_path_prefix`` (e.g. ``schema``)."""
    schema = Schema()
    schema._parse_json(value, json_path_prefix)
    return schema


def _schema_from_json(value: dict[str, Any], fill: Any = None, typed: bool = True) -> Schema:
    schema = Schema(value)
    if fill is not None:
        schema._fill_value = fill_value_from_json(fill, schema._dtype if typed else None,
                                                  "fill_value")
    return schema


def _cast_fill(fill: numpy.ndarray, data_type: DType, path: str) -> numpy.ndarray:
    if fill.dtype == object:
        return fill_value_from_json(fill.tolist(), data_type, path)
    return fill_value_from_python(fill, data_type)


def _domain_from_json(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise SpecError(path, f"expected object, but received: {describe(value)}")
    try:
        return _index_domain()(json=value)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(path, str(exc)) from None


def _codec_from_json(value: Any, path: str) -> CodecSpec:
    try:
        return CodecSpec(value)
    except SpecError as exc:
        raise SpecError(json_path(path, [exc.json_path]) if exc.json_path else path,
                        str(exc).removeprefix(f"{exc.json_path}: ")) from None


def _units_from_json(value: Any, path: str) -> list[Unit | None]:
    if not isinstance(value, list):
        raise SpecError(path, f"expected array, but received: {describe(value)}")
    return [None if item is None else unit_from_json(item, f"{path}[{i}]")
            for i, item in enumerate(value)]


def _units_text(units: Sequence[Unit | None]) -> str:
    return "[" + ", ".join("null" if u is None else f'"{u}"' for u in units) + "]"

