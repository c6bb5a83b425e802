"""The ``stack`` driver: a virtual overlay of TensorStore *layers* in one index space.

Each layer is a view (driver + transform) whose domain is its place in the stack's
space. Where layers overlap, the last one that contains a position backs it; a position
no layer contains cannot be read or written. ``ts.stack``/``ts.concat``/``ts.overlay``
(``ts_core._composite``) only choose the layers' transforms.

A read or write is cut along every layer boundary into *cells*; each cell goes to its
backing layer, and the cells of one operation run concurrently on the
``data_copy_concurrency`` pool. Layers given as specs are opened on first use.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._future import Future, failed, then
from ..._validation import SpecError, json_path
from .._driver import Driver
from .._open_spec import open_driver, validate_spec_json
from .._scheduling import run_parts

if TYPE_CHECKING:
    from ...context import Context
    from ...index_space import IndexDomain, IndexTransform
    from ...kvstore import Transaction

__all__ = ["StackDriver", "StackLayer", "explicit_domain", "layer_from_spec", "stack_domain"]

#: (interval index, (input dimension, start, stop) or None for a constant output)
_Piece = tuple[int, tuple[int, int, int] | None]

#: tensorstore's infinite index bound
_MAX_INDEX = 2**62 - 1

_UNSUPPORTED = {"fill_value": "fill value", "chunk_layout": "chunk layout", "codec": "codec"}


def explicit_domain(domain: IndexDomain) -> IndexDomain:
    """``domain`` with every bound explicit (a layer's bounds are fixed once stacked)."""
    from ...index_space import IndexDomain

    return IndexDomain(
        inclusive_min=list(domain.inclusive_min), exclusive_max=list(domain.exclusive_max), labels=list(domain.labels)
    )


class StackLayer:
    """One layer: its domain in stack coordinates, and an open view or a spec opened on demand."""

    def __init__(
        self,
        index: int,
        domain: IndexDomain,
        numpy_dtype: np.dtype[Any] | None,
        *,
        view: tuple[Driver, IndexTransform] | None = None,
        spec_json: dict[str, Any] | None = None,
        context: Context | None = None,
        read: bool = True,
        write: bool = True,
        transaction: Transaction | None = None,
        open_transaction: Transaction | None = None,
    ) -> None:
        self.index = index
        self.transaction = transaction  # an open view's own transaction, if it has one
        self.open_transaction = open_transaction  # the one a spec layer is opened in
        self.domain = domain
        self.numpy_dtype = numpy_dtype
        self._view = view
        self._spec_json = spec_json
        self._context = context
        self._read = read
        self._write = write
        self._lock = threading.Lock()

    def view(self) -> tuple[Driver, IndexTransform]:
        """The layer's driver and transform, opening its spec the first time."""
        if self._view is None:
            with self._lock:
                if self._view is None:
                    assert self._spec_json is not None
                    try:
                        opened = open_driver(
                            dict(self._spec_json), context=self._context, transaction=self.open_transaction,
                            read=self._read, write=self._write,
                        )
                    except ValueError as exc:  # SpecError included: the layer's spec, not the stack's
                        raise ValueError(f"While opening layer {self.index}: {exc}") from exc
                    self._view = (opened.driver, opened.transform)
        return self._view

    def view_units(self) -> list[Any]:
        """The units of the layer's dimensions in stack coordinates (None where unknown; a
        layer given as a spec and not yet opened reports none)."""
        units: list[Any] = [None] * self.domain.rank
        if self._view is None:
            return units
        driver, transform = self._view
        driver_units = driver.schema.dimension_units
        if driver_units is None:
            return units
        for output, unit in zip(transform.output, driver_units, strict=True):
            dim = output.input_dimension
            if dim is not None and unit is not None and abs(output.stride or 1) == 1:
                units[dim] = unit
        return units

    def spec_json(self) -> dict[str, Any]:
        from ..._dtype import dtype

        if self._view is None:
            assert self._spec_json is not None
            return dict(self._spec_json)
        driver, transform = self._view
        json_value = {**driver.spec_json(), "dtype": dtype(driver.numpy_dtype).name, "transform": transform.to_json()}
        return dict(sorted(json_value.items()))


def _spec_domain(json_value: dict[str, Any]) -> IndexDomain | None:
    """The domain a layer spec states without being opened (transform, schema, array)."""
    from ...index_space import IndexDomain, IndexTransform

    if "transform" in json_value:
        return IndexTransform(json=json_value["transform"]).domain
    domain = (json_value.get("schema") or {}).get("domain")
    if domain is not None:
        return IndexDomain(json=domain)
    if json_value.get("driver") == "array" and "array" in json_value:
        return IndexDomain(shape=np.shape(json_value["array"]))
    return None


def layer_from_spec(
    index: int, json_value: dict[str, Any], *, context: Context | None, read: bool = True, write: bool = True,
    transaction: Transaction | None = None,
) -> StackLayer:
    """A layer from validated spec JSON, opened when first read or written."""
    from ..._dtype import to_dtype

    domain = _spec_domain(json_value)
    if domain is None:
        raise ValueError(f"Layer {index}: Domain must be specified")
    dtype = json_value.get("dtype") or (json_value.get("schema") or {}).get("dtype")
    numpy_dtype = None if dtype is None else to_dtype(dtype).numpy_dtype
    return StackLayer(
        index, explicit_domain(domain), numpy_dtype, spec_json=json_value, context=context, read=read, write=write,
        open_transaction=transaction,
    )


def _hull(existing: IndexDomain, domain: IndexDomain, index: int) -> IndexDomain:
    from ...index_space import IndexDomain

    labels = []
    for dim, (a, b) in enumerate(zip(existing.labels, domain.labels, strict=True)):
        if a and b and a != b:
            raise ValueError(
                f"Layer {index}: Cannot hull index domain {existing} with index domain {domain}: "
                f"Mismatch in dimension {dim}: Dimension labels do not match"
            )
        labels.append(a or b)
    return IndexDomain(
        inclusive_min=[min(a, b) for a, b in zip(existing.inclusive_min, domain.inclusive_min, strict=True)],
        exclusive_max=[max(a, b) for a, b in zip(existing.exclusive_max, domain.exclusive_max, strict=True)],
        labels=labels,
    )


def stack_domain(
    layers: Sequence[StackLayer], schema_json: dict[str, Any], rank: int | None, dtype: Any,
    *, from_spec: bool = True,
) -> tuple[IndexDomain, np.dtype[Any]]:
    """The stack's domain (hull of the layers; finite bounds of a schema domain win) and dtype."""
    from ..._dtype import to_dtype
    from ...index_space import IndexDomain

    for member, what in _UNSUPPORTED.items():
        if member in schema_json:
            raise ValueError(f'{what} option not supported by "stack" driver')
    if not layers:
        raise ValueError("At least one layer must be specified for stack")
    constraint = None if dtype is None else to_dtype(dtype).numpy_dtype
    numpy_dtype = constraint
    hull: IndexDomain | None = None
    for layer in layers:
        layer_rank = layer.domain.rank
        if rank is not None and layer_rank != rank:
            raise ValueError(f"Layer {layer.index}: Rank of {layer_rank} does not match existing rank of {rank}")
        if layer.numpy_dtype is not None:
            if numpy_dtype is None:
                numpy_dtype = layer.numpy_dtype
            elif layer.numpy_dtype != numpy_dtype:
                new, old = to_dtype(layer.numpy_dtype).name, to_dtype(numpy_dtype).name
                if constraint is not None and from_spec:
                    raise ValueError(
                        f"Layer {layer.index}: Specified dtype ({new}) does not match existing value ({old})"
                    )
                raise ValueError(f"Layer {layer.index}: Layer dtype of {new} does not match existing dtype of {old}")
        if hull is None:
            hull = layer.domain
            continue
        if layer_rank != hull.rank:
            raise ValueError(
                f"Layer {layer.index}: Layer domain {layer.domain} of rank {layer_rank} "
                f"does not match layer 0 rank of {hull.rank}"
            )
        hull = _hull(hull, layer.domain, layer.index)
    assert hull is not None
    if numpy_dtype is None:
        raise ValueError("dtype must be specified")
    if "domain" in schema_json:
        given = IndexDomain(json=schema_json["domain"])
        if given.rank != hull.rank:
            raise SpecError("schema.domain", f"rank {given.rank} does not match the layers' rank {hull.rank}")
        hull = IndexDomain(
            inclusive_min=[
                g if not implicit and abs(g) < _MAX_INDEX else h
                for g, h, implicit in zip(given.inclusive_min, hull.inclusive_min, given.implicit_lower_bounds, strict=True)
            ],
            exclusive_max=[
                g if not implicit and abs(g) < _MAX_INDEX else h
                for g, h, implicit in zip(given.exclusive_max, hull.exclusive_max, given.implicit_upper_bounds, strict=True)
            ],
            labels=[a or b for a, b in zip(given.labels, hull.labels, strict=True)],
        )
    return hull, numpy_dtype


class _Cell:
    """A piece of one read/write backed by one layer (or by none: ``layer`` is None)."""

    __slots__ = ("array_selection", "layer", "origin", "transform")

    def __init__(self, layer: StackLayer | None, transform: IndexTransform, array_selection: Any, origin: Any) -> None:
        self.layer = layer
        self.transform = transform  # request positions of the cell -> stack coordinates
        self.array_selection = array_selection
        self.origin = origin  # the cell's lower corner in stack coordinates (for errors)


class StackDriver(Driver):
    """Reads and writes go to the layer backing each position (later layers win)."""

    id = "stack"

    def __init__(
        self,
        layers: Sequence[StackLayer],
        numpy_dtype: np.dtype[Any],
        domain: IndexDomain,
        *,
        context: Context,
        data_copy_concurrency: Any = None,
        dimension_units: list[Any] | None = None,
    ) -> None:
        self._layers = list(layers)
        self._dtype = numpy_dtype
        self._domain = domain
        self._data_copy_member = data_copy_concurrency
        self._executor = context.resource("data_copy_concurrency", data_copy_concurrency, "data_copy_concurrency")
        self._dimension_units = dimension_units
        rank = domain.rank
        # Per dimension: every layer bound inside the domain, and which intervals between
        # them each layer covers. The domain's own bounds are the outermost boundaries, so
        # positions outside every interval are outside the domain.
        self._boundaries = []
        self._layer_bounds = [
            {int(b) for layer in layers for b in (layer.domain.inclusive_min[d], layer.domain.exclusive_max[d])}
            for d in range(rank)
        ]
        for d in range(rank):
            lower, upper = int(domain.inclusive_min[d]), int(domain.exclusive_max[d])
            inside = (b for b in self._layer_bounds[d] if lower < b < upper)
            self._boundaries.append(sorted({lower, upper, *inside}))
        self._covers = [
            [
                (np.searchsorted(self._boundaries[d], int(layer.domain.inclusive_min[d])),
                 np.searchsorted(self._boundaries[d], int(layer.domain.exclusive_max[d])))
                for d in range(rank)
            ]
            for layer in layers
        ]

    #: ts.Spec writes each spec in ``layers`` in its canonical form too (see ``spec._normalize``).
    normalizes_layer_specs = True

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """The hull of the (canonical) layers' domains and their dtype, which the spec
        prints at the top level as tensorstore's does; a layer without a domain, or
        layers that disagree, are refused when the spec is parsed, as there."""
        from ...schema import Schema

        layers = json_value.get("layers")
        if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
            return None
        stacked = [layer_from_spec(index, layer, context=None) for index, layer in enumerate(layers)]
        schema_json = dict(json_value.get("schema") or {})
        dtype = json_value.get("dtype") or schema_json.get("dtype")
        domain, numpy_dtype = stack_domain(stacked, schema_json, json_value.get("rank"), dtype)
        return Schema(domain=domain, dtype=numpy_dtype)

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> StackDriver:
        if "layers" not in json_value:
            raise SpecError("layers", "Expected array, but member is missing")
        layers = [
            layer_from_spec(
                index, validate_spec_json(layer, json_path("layers", [index])), context=context,
                read=options.read, write=options.write, transaction=transaction,
            )
            for index, layer in enumerate(json_value["layers"])
        ]
        schema_json = dict(json_value.get("schema") or {})
        dtype = json_value.get("dtype") or schema_json.get("dtype")
        domain, numpy_dtype = stack_domain(layers, schema_json, json_value.get("rank"), dtype)
        return cls(
            layers, numpy_dtype, domain, context=context,
            data_copy_concurrency=json_value.get("data_copy_concurrency"),
            dimension_units=schema_json.get("dimension_units"),
        )

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def domain(self) -> IndexDomain:
        return self._domain

    @property
    def layers(self) -> list[StackLayer]:
        return list(self._layers)

    @property
    def schema(self) -> Any:
        from ...schema import Schema

        return Schema(dtype=self._dtype, domain=self._domain, dimension_units=self._units())

    def _units(self) -> list[Any] | None:
        """Per dimension: the unit the spec gives, else the one every open layer that has a
        unit there agrees on (tensorstore's rule), else None."""
        from ...schema import Unit

        rank = self._domain.rank
        given = list(self._dimension_units) if self._dimension_units is not None else [None] * rank
        agreed: list[Any] = [None] * rank
        conflicting = [False] * rank
        for layer in self._layers:
            for dim, unit in enumerate(layer.view_units()):
                if unit is None or conflicting[dim]:
                    continue
                if agreed[dim] is None:
                    agreed[dim] = unit
                elif agreed[dim] != unit:
                    agreed[dim], conflicting[dim] = None, True
        units = [Unit(g) if g is not None else a for g, a in zip(given, agreed, strict=True)]
        return None if all(u is None for u in units) else units

    # -- cutting an operation into cells ------------------------------------------------------------
    def _backing(self, intervals: Sequence[int]) -> StackLayer | None:
        for layer, covers in zip(reversed(self._layers), reversed(self._covers), strict=True):
            if all(lo <= m < hi for m, (lo, hi) in zip(intervals, covers, strict=True)):
                return layer
        return None

    def _cells(self, transform: IndexTransform) -> list[_Cell]:
        from ...index_space._output_map import ARRAY, CONSTANT

        domain = transform.domain
        if any(a >= b for a, b in zip(domain.inclusive_min, domain.exclusive_max, strict=True)):
            return []
        outputs = list(transform.output)
        used = [m.input_dimension for m in outputs if m.method != CONSTANT and m.method != ARRAY]
        if any(m.method == ARRAY for m in outputs) or len(used) != len(set(used)):
            return self._cells_general(transform)
        lower = [int(v) for v in domain.inclusive_min]
        upper = [int(v) for v in domain.exclusive_max]
        per_dim: list[list[_Piece]] = []
        for dim, output in enumerate(outputs):
            k = output.input_dimension
            if k is None:
                per_dim.append([(self._interval(dim, int(output.offset)), None)])
                continue
            per_dim.append(self._axis_pieces(
                self._boundaries[dim], int(output.offset), int(output.stride or 1), lower[k], upper[k], k
            ))
        cells = []
        for combo in itertools.product(*per_dim):
            selection = [slice(lo, hi) for lo, hi in zip(lower, upper, strict=True)]
            for _, piece in combo:
                if piece is not None:
                    k, start, stop = piece
                    selection[k] = slice(start, stop)
            intervals = [m for m, _ in combo]
            self._check_inside(intervals, transform)
            origin = self._cell_origin(intervals)
            array_selection = tuple(slice(s.start - lo, s.stop - lo) for s, lo in zip(selection, lower, strict=True))
            cells.append(_Cell(self._backing(intervals), transform[tuple(selection)], array_selection, origin))
        return cells

    def _cell_origin(self, intervals: Sequence[int]) -> list[int]:
        """A cell's lower corner as tensorstore names it: a cell below every layer bound
        starts at -inf (its grid has only the layers' bounds)."""
        return [
            self._boundaries[d][m] if m > 0 or self._boundaries[d][0] in self._layer_bounds[d] else -_MAX_INDEX
            for d, m in enumerate(intervals)
        ]

    def _interval(self, dim: int, value: int) -> int:
        """Index of the interval between boundaries holding ``value`` (-1 / len: outside)."""
        return int(np.searchsorted(self._boundaries[dim], value, side="right")) - 1

    def _check_inside(self, intervals: Sequence[int], transform: IndexTransform) -> None:
        for dim, m in enumerate(intervals):
            if m < 0 or m >= len(self._boundaries[dim]) - 1:
                from ...errors import OutOfRangeError

                raise OutOfRangeError(
                    f"{transform.domain} selects positions outside the stack's domain {self._domain} "
                    f"in dimension {dim}"
                )

    @staticmethod
    def _axis_pieces(
        bounds: list[int], offset: int, stride: int, lo: int, hi: int, k: int
    ) -> list[_Piece]:
        """Split input range ``[lo, hi)`` of ``offset + stride * x`` at the boundaries."""
        edges = [-(2**63), *bounds, 2**63]
        pieces: list[_Piece] = []
        for m in range(len(edges) - 1):
            start, stop = edges[m], edges[m + 1] - 1  # closed output interval
            if stride > 0:
                x0, x1 = -((offset - start) // stride), (stop - offset) // stride
            else:
                x0, x1 = -((offset - stop) // stride), (start - offset) // stride
            x0, x1 = max(x0, lo), min(x1, hi - 1)
            if x0 <= x1:
                pieces.append((m - 1, (k, x0, x1 + 1)))
        return pieces

    def _cells_general(self, transform: IndexTransform) -> list[_Cell]:
        """Index arrays and the like: group positions by backing layer element-wise."""
        from ...index_space import IndexTransform, OutputIndexMap
        from ...index_space._transform import map_values

        domain = transform.domain
        shape = tuple(int(n) for n in domain.shape)
        coords = [np.broadcast_to(map_values(m, domain), shape).reshape(-1) for m in transform.output]
        size = int(np.prod(shape))
        intervals = [np.searchsorted(b, c, side="right") - 1 for b, c in zip(self._boundaries, coords, strict=True)]
        backing = np.full(size, -1)
        for index, covers in enumerate(self._covers):
            inside = np.ones(size, dtype=bool)
            for m, (lo, hi) in zip(intervals, covers, strict=True):
                inside &= (m >= lo) & (m < hi)
            backing[inside] = index
        cells = []
        missing = np.flatnonzero(backing < 0)
        if missing.size:
            first = int(missing[0])
            cell = [int(m[first]) for m in intervals]
            self._check_inside(cell, transform)
            origin = self._cell_origin(cell)
            cells.append(_Cell(None, transform, None, origin))
        for index in np.unique(backing[backing >= 0]).tolist():
            positions = np.flatnonzero(backing == index)
            maps = [OutputIndexMap(index_array=c[positions]) for c in coords]
            points = IndexTransform(input_shape=[positions.size], output=maps)
            cells.append(_Cell(self._layers[index], points, np.unravel_index(positions, shape), None))
        return cells

    def _plan(self, transform: IndexTransform) -> list[_Cell]:
        cells = self._cells(transform)
        for cell in cells:
            if cell.layer is None:
                origin = ", ".join(str(v) for v in cell.origin)
                raise ValueError(f'Cell with origin={{{origin}}} missing layer mapping in "stack" driver')
        return cells

    def _layer_transform(self, cell: _Cell, transaction: Transaction | None) -> tuple[Driver, IndexTransform]:
        assert cell.layer is not None
        if cell.layer.transaction is not None and cell.layer.transaction is not transaction:
            raise ValueError(f"Layer {cell.layer.index}: Transaction mismatch")
        driver, layer_transform = cell.layer.view()
        composed: IndexTransform = layer_transform[cell.transform]
        return driver, composed

    # -- I/O ------------------------------------------------------------------------------------
    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        try:
            cells = self._plan(transform)
        except Exception as exc:
            return failed(exc)
        target = np.empty(tuple(int(n) for n in transform.domain.shape), dtype=self._dtype)

        def read_cell(cell: _Cell) -> Future[None]:
            driver, composed = self._layer_transform(cell, transaction)
            selection = cell.array_selection

            def place(values: np.ndarray[Any, Any]) -> None:
                target[selection] = values

            return then(driver.read(composed, transaction), place)

        return run_parts(self._executor, cells, read_cell, lambda: target)

    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        try:
            cells = self._plan(transform)
        except Exception as exc:
            return failed(exc)

        def write_cell(cell: _Cell) -> Future[None]:
            driver, composed = self._layer_transform(cell, transaction)
            values = np.asarray(source[cell.array_selection], dtype=driver.numpy_dtype)
            return driver.write(composed, values, transaction)

        return run_parts(self._executor, cells, write_cell, lambda: None)

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
        stored = total = 0
        for cell in self._plan(transform):
            driver, composed = self._layer_transform(cell, transaction)
            present, count = driver.stored_chunk_counts(composed, transaction)
            stored, total = stored + present, total + count
        return stored, total

    def spec_json(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"domain": self._domain.to_json()}
        if self._dimension_units is not None:
            schema["dimension_units"] = self._dimension_units
        json_value: dict[str, Any] = {
            "driver": "stack",
            "layers": [layer.spec_json() for layer in self._layers],
            "schema": schema,
        }
        if self._data_copy_member is not None:
            json_value["data_copy_concurrency"] = self._data_copy_member
        return json_value
