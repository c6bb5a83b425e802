"""Schema constraints gathered from a spec (``dtype``, ``rank``, ``schema`` members).

A chunked format receives them as a typed :class:`SchemaConstraints` in its
``metadata_for_create`` and ``check_metadata`` hooks, with the checks every format
repeats (a data type or shape that creation needs, stored metadata members that must
equal the spec's) as methods, so a format spells out only what is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._validation import SpecError, describe

if TYPE_CHECKING:
    import numpy as np

    from .._dtype import dtype as DataType
    from ..index_space import IndexDomain
    from ..schema import ChunkLayout, CodecSpec

__all__ = ["SchemaConstraints", "check_metadata_members", "constraints_from_spec"]


@attrs.define
class SchemaConstraints:
    """What the spec requires of the array; None where unconstrained."""

    dtype: DataType | None = None
    rank: int | None = None
    shape: tuple[int, ...] | None = None
    domain: IndexDomain | None = None
    chunk_layout: ChunkLayout | None = None
    codec: CodecSpec | None = None
    fill_value: np.ndarray[Any, Any] | None = None
    dimension_units: list[Any] | None = None

    @property
    def numpy_dtype(self) -> np.dtype[Any] | None:
        """The constrained data type as a NumPy dtype (None if unconstrained)."""
        return None if self.dtype is None else self.dtype.numpy_dtype

    @property
    def labels(self) -> list[str]:
        """Dimension labels of the constrained domain (empty if there is none)."""
        return [] if self.domain is None else list(self.domain.labels)

    def require_dtype(self, what: str) -> DataType:
        """The data type, which creating ``what`` (e.g. "a zarr array") needs."""
        if self.dtype is None:
            raise SpecError("dtype", f"a data type must be specified to create {what}")
        return self.dtype

    def require_shape(self, what: str) -> tuple[int, ...]:
        """The shape, which creating ``what`` needs."""
        if self.shape is None:
            raise SpecError("schema.domain", f"a shape must be specified to create {what}")
        return self.shape

    def check_chunk_shape(
        self, chunks: Sequence[int], member: str | None = None, stored_name: str = "chunk shape"
    ) -> None:
        """Hard ``read_chunk``/``write_chunk`` shape constraints must match ``chunks`` (for
        formats with one level of chunking; 0 and None entries are unconstrained).

        With ``member`` (the metadata member that gave ``chunks`` for a new array) the
        error names that member; otherwise it names the constraint and the stored value,
        called ``stored_name``.
        """
        if self.chunk_layout is None:
            return
        layout_json = self.chunk_layout.to_json()
        for usage in ("read_chunk", "write_chunk"):
            shape = (layout_json.get(usage) or {}).get("shape")
            if shape is None:
                continue
            if len(shape) != len(chunks) or any(
                wanted not in (None, 0) and wanted != have for wanted, have in zip(shape, chunks, strict=False)
            ):
                if member:
                    raise SpecError(
                        member, f"{list(chunks)} conflicts with schema.chunk_layout.{usage}.shape {describe(shape)}"
                    )
                raise SpecError(
                    f"schema.chunk_layout.{usage}.shape",
                    f"expected {describe(shape)} but the stored {stored_name} is {list(chunks)}",
                )

    def layout(self) -> ChunkLayout:
        """The chunk layout constraint, or an unconstrained layout."""
        from ..schema import ChunkLayout

        return self.chunk_layout if self.chunk_layout is not None else ChunkLayout()


def check_metadata_members(
    stored: Mapping[str, Any],
    wanted: Mapping[str, Any] | None,
    normalize: Callable[[str, Any], Any] | None = None,
    json_path: str = "metadata",
) -> None:
    """Every member of the spec's ``metadata`` must equal the stored one.

    ``normalize(member, value)`` brings a spec value to the stored form first (a codec
    given by name, a list given as a tuple, ...). The error names the member.
    """
    for member, value in (wanted or {}).items():
        expected = value if normalize is None else normalize(member, value)
        have = stored.get(member)
        if have != expected:
            raise SpecError(
                f"{json_path}.{member}",
                f"expected {describe(expected)} but the stored array has {describe(have)}",
            )


def _index_domain(json_value: Any) -> IndexDomain:
    from ..index_space import IndexDomain

    return IndexDomain(json=json_value)


def _under(path: str, parse: Callable[[Any], Any], json_value: Any) -> Any:
    """``parse(json_value)``, its ``SpecError`` (or ``ValueError``) moved under ``path``."""
    try:
        return parse(json_value)
    except SpecError as exc:
        inner = exc.json_path
        message = str(exc).removeprefix(f"{inner}: ") if inner else str(exc)
        joined = f"{path}{inner}" if inner.startswith("[") else f"{path}.{inner}" if inner else path
        raise SpecError(joined, message) from None
    except ValueError as exc:
        raise SpecError(path, str(exc)) from None


def _fill_value(json_value: Any, data_type: DataType | None) -> np.ndarray[Any, Any]:
    """The spec's fill value; with a known data type, refused unless it converts to it."""
    import numpy as np

    array = np.asarray(json_value)
    if data_type is None:
        return array
    target = data_type.numpy_dtype
    words_allowed = target.kind in "fc" or data_type.name == "bfloat16"  # "NaN", "Infinity"
    if array.dtype.kind in "USO" and target.kind not in "USO" and not words_allowed:
        raise SpecError("schema.fill_value", f"cannot convert {describe(json_value)} to {data_type.name}: expected a number")
    try:
        array.astype(target)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SpecError(
            "schema.fill_value", f"cannot convert {describe(json_value)} to {data_type.name}: {exc}"
        ) from None
    # NumPy wraps out-of-range integers and truncates fractions silently; tensorstore refuses them.
    if target.kind in "iu" and array.dtype.kind in "iuf" and array.size:
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
            raise SpecError("schema.fill_value", f"cannot convert {describe(json_value)} to {data_type.name}: expected an integer")
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise SpecError(
                "schema.fill_value",
                f"{describe(json_value)} is out of range for {data_type.name} [{info.min}, {info.max}]",
            )
    if target.kind == "b" and array.dtype.kind != "b":
        raise SpecError("schema.fill_value", f"cannot convert {describe(json_value)} to bool: expected true or false")
    return array


def constraints_from_spec(json_value: dict[str, Any]) -> SchemaConstraints:
    """Collect and check the generic schema constraints of a spec."""
    from .._dtype import to_dtype

    constraints = SchemaConstraints()
    if json_value.get("dtype") is not None:
        constraints.dtype = to_dtype(json_value["dtype"], json_path="dtype")
    constraints.rank = json_value.get("rank")
    schema = dict(json_value.get("schema") or {})
    if "dtype" in schema:
        dtype = to_dtype(schema["dtype"], json_path="schema.dtype")
        if constraints.dtype is not None and constraints.dtype != dtype:
            raise SpecError("schema.dtype", f"{dtype.name} conflicts with dtype {constraints.dtype.name}")
        constraints.dtype = dtype
    domain = schema.get("domain")
    if domain is not None:
        parsed = _under("schema.domain", _index_domain, domain)
        constraints.domain = parsed
        constraints.shape = tuple(int(n) for n in parsed.shape)
    if "chunk_layout" in schema:
        from ..schema._chunk_layout import chunk_layout_from_json

        constraints.chunk_layout = chunk_layout_from_json(schema["chunk_layout"], "schema.chunk_layout")
    if "codec" in schema:
        from ..schema import CodecSpec

        constraints.codec = _under("schema.codec", CodecSpec, schema["codec"])
    if "fill_value" in schema:
        constraints.fill_value = _fill_value(schema["fill_value"], constraints.dtype)
    constraints.dimension_units = schema.get("dimension_units")
    if constraints.dimension_units is not None:
        from ..schema._schema import _units_from_json

        _units_from_json(constraints.dimension_units, "schema.dimension_units")  # only checked here
    rank = constraints.rank
    if rank is not None and constraints.shape is not None and len(constraints.shape) != rank:
        raise SpecError("schema.domain", f"rank {len(constraints.shape)} does not match rank {describe(rank)}")
    _check_ranks(constraints)
    return constraints


def _check_ranks(constraints: SchemaConstraints) -> None:
    """The chunk layout and fill value must fit the rank and shape the spec gives."""
    from ..schema._fill_value import broadcast_compatible

    shape = constraints.shape
    rank = len(shape) if shape is not None else constraints.rank
    layout = constraints.chunk_layout
    # A layout without a rank (``ChunkLayout(chunk_elements=20)``: rank -1, as in the wheel)
    # constrains any rank.
    if rank is not None and layout is not None and layout.rank not in (None, -1) and layout.rank != rank:
        raise SpecError("schema.chunk_layout", f"rank {layout.rank} does not match the domain rank {rank}")
    fill = constraints.fill_value
    if shape is not None and fill is not None and not broadcast_compatible(fill, shape):
        raise SpecError(
            "schema.fill_value", f"shape {list(fill.shape)} does not broadcast to the domain shape {list(shape)}"
        )
