"""The base of a ``downsample`` spec as ``Spec.base`` shows it (tensorstore's rule).

The downsample spec's ``transform`` indexes the *downsampled* array; its base is the base
view restricted to the elements those cells aggregate: an output index ``i`` of factor
``f`` covers base indices ``[i*f, (i+1)*f)`` (clipped to the base view's domain), and a
fixed index becomes a new dimension of ``f`` elements. ``stride`` takes element ``i*f``
only, so its base transform is the same one scaled by the factors.
"""

from __future__ import annotations

from typing import Any

from ...index_space import IndexTransform, OutputIndexMap

__all__ = ["downsample_base_json"]

#: Bounds at or beyond these are infinite.
_INFINITE = 2**62 - 1


def downsample_base_json(json_value: dict[str, Any], transform: IndexTransform | None) -> dict[str, Any]:
    """The base spec JSON of the ``downsample`` spec ``json_value`` whose transform is
    ``transform`` (None: no transform; the base's own is kept)."""
    base = dict(json_value["base"])
    for name in ("dtype", "rank"):
        if name in json_value and not (name == "rank" and "transform" in base):
            base[name] = json_value[name]
    if transform is None or "transform" not in base:
        return dict(sorted(base.items()))
    base_transform = IndexTransform(json=base["transform"])
    factors = [int(f) for f in json_value["downsample_factors"]]
    if json_value["downsample_method"] == "stride":
        upsampling = _scaled(transform, factors)
    else:
        upsampling = _covering(transform, factors, base_transform)
    base["transform"] = base_transform[upsampling].to_json()
    return dict(sorted(base.items()))


def _scaled(transform: IndexTransform, factors: list[int]) -> IndexTransform:
    """``transform`` with each output index multiplied by its factor."""
    maps = []
    for output, factor in zip(transform.output, factors, strict=True):
        offset, stride = int(output.offset) * factor, int(output.stride or 0) * factor
        if output.index_array is not None:
            maps.append(OutputIndexMap(index_array=output.index_array, offset=offset, stride=stride))
        elif output.input_dimension is None:
            maps.append(OutputIndexMap(offset=offset))
        else:
            maps.append(OutputIndexMap(input_dimension=output.input_dimension, offset=offset, stride=stride))
    return IndexTransform(domain=transform.domain, output=maps)


def _covering(transform: IndexTransform, factors: list[int], base_transform: IndexTransform) -> IndexTransform:
    """An index space covering every base element the cells ``transform`` selects aggregate."""
    lower = [int(v) for v in transform.input_inclusive_min]
    upper = [int(v) for v in transform.input_exclusive_max]
    labels = list(transform.input_labels)
    mapped: dict[int, int] = {}
    maps: list[OutputIndexMap] = []
    base_lower = base_transform.domain.inclusive_min
    base_upper = base_transform.domain.exclusive_max
    for dim, (output, factor) in enumerate(zip(transform.output, factors, strict=True)):
        if output.index_array is not None or (output.input_dimension is not None and output.stride != 1):
            raise ValueError(
                f"Spec.base of a downsample spec: output dimension {dim} of its transform is not a "
                "unit-stride or constant map, which is not supported"
            )
        offset = int(output.offset) * factor
        if output.input_dimension is None:  # a fixed cell: its f elements become a new dimension
            source = len(lower)
            lower.append(0)
            upper.append(factor)
            labels.append("")
        else:
            source = int(output.input_dimension)
            if source in mapped:
                raise ValueError(f"Spec.base of a downsample spec: input dimension {source} is used twice")
            lower[source] = _times(lower[source], factor)
            upper[source] = _times(upper[source], factor)
        mapped[source] = dim
        # clip to the base view's domain (in the new dimension's coordinates)
        if abs(int(base_lower[dim])) < _INFINITE:
            lower[source] = max(lower[source], int(base_lower[dim]) - offset)
        if abs(int(base_upper[dim])) < _INFINITE:
            upper[source] = min(upper[source], int(base_upper[dim]) - offset)
        maps.append(OutputIndexMap(input_dimension=source, offset=offset))
    return IndexTransform(input_inclusive_min=lower, input_exclusive_max=upper, input_labels=labels, output=maps)


def _times(bound: int, factor: int) -> int:
    return bound if abs(bound) >= _INFINITE else bound * factor
