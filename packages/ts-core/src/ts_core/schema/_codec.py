"""``CodecSpec``: driver-specific codec constraints, held as JSON until a driver reads them.

Merging two codec specs goes through ``merge_codec_json``: a plugin can register a
``codec`` record in the namespace of its driver (``registry.add("codec", "merge",
"pkg.mod:merge", namespace="zarr")``) whose target ``merge(a, b) -> dict`` validates and
combines; without one, top-level members are united and a member present in both with
different values is an error naming it.
"""

from __future__ import annotations

import copy
import json as _json
from collections.abc import Callable, Mapping
from typing import Any

from .._validation import SpecError, describe, json_path
from ._pretty import pretty_repr

__all__ = ["CODEC_MERGE_ID", "CodecSpec", "merge_codec_json"]

#: The id under which a driver's codec merge/validate callable is registered (kind "codec").
CODEC_MERGE_ID = "merge"

CodecMerge = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class CodecSpec:
    """Codec constraints for one driver: a JSON object with a ``"driver"`` member."""

    __slots__ = ("_json",)

    _json: dict[str, Any]

    def __init__(self, json: Any) -> None:
        if isinstance(json, CodecSpec):
            json = json.to_json()
        object.__setattr__(self, "_json", _validated(json, ""))

    @property
    def driver(self) -> str:
        """The driver whose codec this describes (``"zarr"``, ``"zarr3"``, ...)."""
        return str(self._json["driver"])

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The JSON form (a deep copy)."""
        return copy.deepcopy(self._json)

    def merge(self, other: CodecSpec, json_path_prefix: str = "codec") -> CodecSpec:
        """A new spec with both sets of constraints; conflicts raise ``ValueError``."""
        return CodecSpec(merge_codec_json(self._json, other._json, json_path_prefix))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("CodecSpec is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CodecSpec):
            return NotImplemented
        return _canonical(self._json) == _canonical(other._json)

    def __hash__(self) -> int:
        return hash(_canonical(self._json))

    def __reduce__(self) -> tuple[Any, ...]:
        return (CodecSpec, (self._json,))

    def __repr__(self) -> str:
        return pretty_repr("CodecSpec(", dict(sorted(self._json.items())))


def _canonical(value: Any) -> str:
    return _json.dumps(value, sort_keys=True, separators=(",", ":"))


def _validated(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(path, f"expected object, but received: {describe(value)}")
    driver = value.get("driver")
    if not isinstance(driver, str):
        raise SpecError(json_path(path, ["driver"]),
                        f"expected string, but received: {describe(driver)}")
    if not _is_registered_driver(driver):
        raise SpecError(json_path(path, ["driver"]), f'"{driver}" is not registered')
    # Members sorted by name, as tensorstore writes a codec's JSON; a driver's optional
    # ``normalize_codec_json`` classmethod fills in its format's defaults.
    normalized = copy.deepcopy(dict(sorted(value.items())))
    normalize = _driver_codec_hook(driver)
    return normalized if normalize is None else dict(normalize(normalized))


def _driver_codec_hook(driver: str) -> Any:
    from ..plugin import get_registry

    record = get_registry().find("driver", driver)
    return None if record is None else getattr(record.load(), "normalize_codec_json", None)


def _is_registered_driver(driver: str) -> bool:
    """A codec names a TensorStore driver, or a namespace a plugin registered codecs in."""
    from ..plugin import get_registry

    registry = get_registry()
    return registry.find("driver", driver) is not None or find_codec_merge(driver) is not None


def find_codec_merge(driver: str) -> CodecMerge | None:
    """The merge/validate callable a plugin registered for ``driver``'s codecs, if any."""
    from ..plugin import get_registry

    record = get_registry().find("codec", CODEC_MERGE_ID, namespace=driver)
    return None if record is None else record.load()


def merge_codec_json(a: Mapping[str, Any], b: Mapping[str, Any],
                     json_path_prefix: str = "codec") -> dict[str, Any]:
    """Merge two codec JSON objects of the same driver (plugin hook, else member-wise)."""
    left = _validated(a, json_path_prefix)
    right = _validated(b, json_path_prefix)
    if left["driver"] != right["driver"]:
        raise SpecError(
            json_path(json_path_prefix, ["driver"]),
            f"cannot merge codec spec {_canonical(left)} with {_canonical(right)}: "
            "drivers differ",
        )
    merge = find_codec_merge(left["driver"])
    if merge is not None:
        return _validated(merge(left, right), json_path_prefix)
    # Without a driver hook, a member present in both must be equal as a whole: merging
    # inside e.g. a compressor object could invent a combination neither side meant.
    out = dict(left)
    for key, value in right.items():
        if key in out and _canonical(out[key]) != _canonical(value):
            raise SpecError(
                json_path(json_path_prefix, [key]),
                f"cannot merge codec spec {_canonical(left)} with {_canonical(right)}: "
                f"{describe(out[key])} does not match {describe(value)}",
            )
        out.setdefault(key, copy.deepcopy(value))
    return out
