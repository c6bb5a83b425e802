"""``ts.overlay``, ``ts.stack`` and ``ts.concat``: TensorStores over the ``stack`` driver.

Each takes TensorStores or Specs (and, as a ts extension, spec JSON) as layers and only
chooses where each layer sits: ``overlay`` keeps the layers' domains, ``stack`` gives
layer ``i`` the index ``i`` of a new dimension, ``concat`` places the layers one after
another along an existing dimension. Layers given as specs are opened on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .context import Context
from .driver.stack._driver import (
    StackDriver,
    StackLayer,
    explicit_domain,
    layer_from_spec,
    stack_domain,
)
from .index_space import IndexTransform, OutputIndexMap
from .spec import Spec, apply_open_options, parse_spec_json
from .tensorstore import TensorStore

__all__ = ["concat", "overlay", "stack"]


class _Input:
    """A layer as given: an open view or spec JSON, with its domain and transform."""

    def __init__(self, index: int, value: Any) -> None:
        self.index = index
        self.store: TensorStore | None = None
        self.spec_json: dict[str, Any] | None = None
        if isinstance(value, TensorStore):
            self.store = value
            self.transform = value.transform
        elif isinstance(value, Spec | Mapping):
            self.spec_json = parse_spec_json(value)
            probe = layer_from_spec(index, self.spec_json, context=None)
            self.transform = (
                IndexTransform(json=self.spec_json["transform"])
                if "transform" in self.spec_json
                else IndexTransform(domain=probe.domain)
            )
        else:
            raise TypeError(f"layers[{index}]: expected a TensorStore or Spec, but received {type(value).__name__}")
        self.domain = explicit_domain(self.transform.domain)


def _rebuild(transform: IndexTransform, *, new_axis: int | None = None, new_index: int = 0,
             shift_axis: int | None = None, shift: int = 0) -> IndexTransform:
    """``transform``, optionally with a new unused dimension ``[new_index,
    new_index + 1)`` inserted at ``new_axis``, or input dimension ``shift_axis`` translated."""
    domain = transform.domain
    lower, upper, labels = list(domain.inclusive_min), list(domain.exclusive_max), list(domain.labels)
    # The layer keeps its implicit bounds in its spec (as in tensorstore); the stack fixes
    # them for itself (``explicit_domain``).
    implicit_lower, implicit_upper = list(domain.implicit_lower_bounds), list(domain.implicit_upper_bounds)
    if shift_axis is not None:
        lower[shift_axis] += shift
        upper[shift_axis] += shift
    outputs = []
    for output in transform.output:
        dim = output.input_dimension
        array = output.index_array
        if dim is not None:
            offset = output.offset - (output.stride or 1) * shift if dim == shift_axis else output.offset
            if new_axis is not None and dim >= new_axis:
                dim += 1
            outputs.append(OutputIndexMap(offset=int(offset), input_dimension=int(dim), stride=int(output.stride or 1)))
        elif array is not None:
            if new_axis is not None:
                array = np.expand_dims(np.asarray(array), new_axis)
            outputs.append(OutputIndexMap(index_array=array, offset=int(output.offset), stride=int(output.stride or 1),
                                          index_range=output.index_range))
        else:
            outputs.append(OutputIndexMap(offset=int(output.offset)))
    if new_axis is not None:
        lower.insert(new_axis, new_index)
        upper.insert(new_axis, new_index + 1)
        labels.insert(new_axis, "")
        implicit_lower.insert(new_axis, False)
        implicit_upper.insert(new_axis, False)
    return IndexTransform(
        input_inclusive_min=lower, input_exclusive_max=upper, input_labels=labels, output=outputs,
        implicit_lower_bounds=implicit_lower, implicit_upper_bounds=implicit_upper,
    )


def _composite(
    layers: Iterable[Any],
    place: Any,
    *,
    read: bool | None,
    write: bool | None,
    context: Context | None,
    transaction: Any,
    options: dict[str, Any],
) -> TensorStore:
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    if isinstance(layers, TensorStore | Spec | Mapping | str):
        raise TypeError("layers: expected a sequence of TensorStore or Spec objects")
    inputs = [_Input(index, value) for index, value in enumerate(layers)]
    if not inputs:
        raise ValueError("At least one layer must be specified for stack")
    for given in inputs[1:]:
        if given.domain.rank != inputs[0].domain.rank:
            raise ValueError(
                f"Layer {given.index}: Layer domain {given.domain} of rank {given.domain.rank} "
                f"does not match layer 0 rank of {inputs[0].domain.rank}"
            )
    transaction = _common_transaction(inputs, transaction)
    transforms = place(inputs)
    if read is None and write is None:
        read = write = True
    read, write = bool(read), bool(write)
    context = context or Context()
    stack_layers = []
    for given, transform in zip(inputs, transforms, strict=True):
        if given.store is not None:
            driver = given.store._driver
            view = (driver, transform)
            stack_layers.append(StackLayer(
                given.index, explicit_domain(transform.domain), driver.numpy_dtype, view=view,
                transaction=given.store.transaction,
            ))
        else:
            assert given.spec_json is not None
            json_value = {**given.spec_json, "transform": transform.to_json()}
            stack_layers.append(layer_from_spec(
                given.index, json_value, context=context, read=read, write=write, transaction=transaction
            ))
    members = apply_open_options({"driver": "stack"}, options)
    schema_json = dict(members.get("schema") or {})
    domain, numpy_dtype = stack_domain(
        stack_layers, schema_json, members.get("rank"), members.get("dtype"), from_spec=False
    )
    driver = StackDriver(
        stack_layers, numpy_dtype, domain, context=context, dimension_units=schema_json.get("dimension_units")
    )
    return TensorStore(driver, None, transaction, read, write)


def _common_transaction(inputs: list[_Input], transaction: Any) -> Any:
    """The stack's transaction: the one given, else the first layer's; an open layer bound
    to another one is refused (tensorstore's "Transaction mismatch")."""
    explicit = transaction is not None
    if not explicit and inputs[0].store is not None:
        transaction = inputs[0].store.transaction
    for given in inputs:
        if given.store is None:
            continue
        layer_transaction = given.store.transaction
        if layer_transaction is not transaction and not (explicit and layer_transaction is None):
            raise ValueError(f"Layer {given.index}: Transaction mismatch")
    return transaction


def _dimension(axis: Any, rank: int, labels: Any) -> int:
    if isinstance(axis, str):
        if axis not in labels:
            listed = ", ".join(f'"{label}"' for label in labels)
            raise ValueError(f'Label "{axis}" does not match one of {{{listed}}}')
        return list(labels).index(axis)
    index = int(axis)
    if not -rank <= index < rank:
        raise ValueError(f"Dimension index {index} is outside valid range [{-rank}, {rank})")
    return index + rank if index < 0 else index


def overlay(
    layers: Iterable[Any], *, read: bool | None = None, write: bool | None = None, context: Context | None = None,
    transaction: Any = None, **options: Any,
) -> TensorStore:
    """Overlay ``layers`` in their own domains; where they overlap, later layers win."""
    return _composite(
        layers, lambda inputs: [_rebuild(given.transform) for given in inputs],
        read=read, write=write, context=context, transaction=transaction, options=options,
    )


def stack(
    layers: Iterable[Any], axis: int = 0, *, read: bool | None = None, write: bool | None = None,
    context: Context | None = None, transaction: Any = None, **options: Any,
) -> TensorStore:
    """Stack ``layers`` along a new dimension ``axis``: layer ``i`` is index ``i`` of it."""

    if not isinstance(axis, int | np.integer):
        raise TypeError(f"stack(): axis must be an integer, not {type(axis).__name__}")

    def place(inputs: list[_Input]) -> list[IndexTransform]:
        new_axis = _dimension(axis, inputs[0].domain.rank + 1, [""] * (inputs[0].domain.rank + 1))
        return [_rebuild(given.transform, new_axis=new_axis, new_index=i) for i, given in enumerate(inputs)]

    return _composite(layers, place, read=read, write=write, context=context, transaction=transaction, options=options)


def concat(
    layers: Iterable[Any], axis: int | str, *, read: bool | None = None, write: bool | None = None,
    context: Context | None = None, transaction: Any = None, **options: Any,
) -> TensorStore:
    """Concatenate ``layers`` along the existing dimension ``axis`` (an index or a label)."""

    def place(inputs: list[_Input]) -> list[IndexTransform]:
        first = inputs[0].domain
        dim = _dimension(axis, first.rank, first.labels)
        transforms = []
        offset = int(first.inclusive_min[dim])
        for given in inputs:
            start = int(given.domain.inclusive_min[dim])
            transforms.append(_rebuild(given.transform, shift_axis=dim, shift=offset - start))
            offset += int(given.domain.shape[dim])
        return transforms

    return _composite(layers, place, read=read, write=write, context=context, transaction=transaction, options=options)

