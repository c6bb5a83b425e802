"""Shared indexing surface for anything backed by an index transform (transforms, domains, stores).

A class mixes in ``Indexable`` and provides two hooks: ``_index_transform()`` returning its
current ``IndexTransform`` and ``_with_index_transform(t)`` returning a new object viewing ``t``.
It then gets ``x[...]``, ``x.oindex[...]``, ``x.vindex[...]``, ``x.T``, ``x.transpose()`` and the
dimension-expression shorthands (``x.translate_by[...]``, ``x.label[...]``, ...), which apply to
all dimensions at once, exactly as ``x[ts.d[:].op[...]]``.
"""

from __future__ import annotations

from typing import Any

_MODULES: tuple[Any, Any] | None = None


def _modules() -> tuple[Any, Any]:
    """``(_dim_expression, _indexing)``, imported on first use (they import this module)."""
    global _MODULES
    if _MODULES is None:
        from . import _dim_expression, _indexing

        _MODULES = (_dim_expression, _indexing)
    return _MODULES


class _OpIndexer:
    """``x.<op>[args]``: applies ``ts.d[:].<op>[args]`` to ``x`` (without building it)."""

    __slots__ = ("_op", "_target")

    def __init__(self, target: Any, op: str) -> None:
        self._target = target
        self._op = op

    def __getitem__(self, args: Any) -> Any:
        dim_expression = _modules()[0]
        # What ``getattr(ts.d[:], op)[args]`` checks when the expression is built.
        parsed = dim_expression._parse_op(self._op, args, False)
        target = self._target
        try:
            transform = dim_expression.apply_to_all_dims(
                target._index_transform(), self._op, parsed
            )
        except IndexError as exc:
            # Applied to a whole object these operations raise ValueError in tensorstore.
            raise ValueError(str(exc)) from None
        return target._with_index_transform(transform)

    def __call__(self, *args: Any) -> Any:
        """Handbook spelling: ``x.translate_by(5)`` is ``x.translate_by[5]``."""
        return self[args[0] if len(args) == 1 else args]


class _ModeIndexer:
    """``x.oindex[...]`` / ``x.vindex[...]``."""

    __slots__ = ("_mode", "_target")

    def __init__(self, target: Any, mode: str) -> None:
        self._target = target
        self._mode = mode

    def __getitem__(self, index: Any) -> Any:
        from ._indexing import apply_index

        target = self._target
        return target._with_index_transform(
            apply_index(target._index_transform(), index, self._mode)
        )


class DimOpsMixin:
    """Dimension-expression shorthands applying to every dimension (``translate_by`` ... ``T``)."""

    __slots__ = ()

    def _index_transform(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _with_index_transform(self, transform: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def translate_by(self) -> _OpIndexer:
        return _OpIndexer(self, "translate_by")

    @property
    def translate_backward_by(self) -> _OpIndexer:
        return _OpIndexer(self, "translate_backward_by")

    @property
    def translate_to(self) -> _OpIndexer:
        return _OpIndexer(self, "translate_to")

    @property
    def label(self) -> _OpIndexer:
        return _OpIndexer(self, "label")

    @property
    def mark_bounds_implicit(self) -> _OpIndexer:
        return _OpIndexer(self, "mark_bounds_implicit")

    def transpose(self, axes: Any = None) -> Any:
        """Permute dimensions: ``axes[i]`` (an index or label) is the old dimension that becomes
        dimension ``i``; by default the order is reversed."""
        dim_expression = _modules()[0]
        t = self._index_transform()
        rank = t.input_rank
        if axes is None:
            order: list[int] = list(range(rank - 1, -1, -1))
        else:
            order = []
            try:
                for item in dim_expression._flatten_selection(axes):
                    if isinstance(item, slice):
                        order.extend(dim_expression.resolve_dim_slice(item, rank))
                    else:
                        order.append(dim_expression.resolve_dimension(item, t.domain.labels))
            except IndexError as exc:
                raise ValueError(str(exc)) from None
            if sorted(order) != list(range(rank)):
                raise ValueError(
                    f"Source dimension list {{{', '.join(map(str, order))}}} is not a valid "
                    f"dimension permutation for rank {rank}"
                )
        # What ``ts.d[order].transpose[:]`` does, without building the expression.
        return self._with_index_transform(dim_expression.permute_dimensions(t, order))

    @property
    def T(self) -> Any:
        return self.transpose()


class Indexable(DimOpsMixin):
    """``DimOpsMixin`` plus NumPy-style ``[]``, ``.oindex[]`` and ``.vindex[]``."""

    __slots__ = ()

    def __getitem__(self, index: Any) -> Any:
        return self._with_index_transform(
            _modules()[1].apply_index(self._index_transform(), index, "default")
        )

    @property
    def oindex(self) -> _ModeIndexer:
        return _ModeIndexer(self, "oindex")

    @property
    def vindex(self) -> _ModeIndexer:
        return _ModeIndexer(self, "vindex")
