"""zarr v2 compressors and filters: plugins in the ``zarr`` codec namespace, else numcodecs.

A third party adds a codec by registering ``("codec", id, "module:Class", namespace="zarr")``;
the class is built from the codec JSON like a numcodecs codec (``Class.from_config``).
Any codec id numcodecs knows works without registration.
"""

from __future__ import annotations

from typing import Any, Protocol

from ts_core.errors import SpecError

__all__ = ["Codec", "get_codec"]

#: Plugin namespace of zarr v2 codecs.
CODEC_NAMESPACE = "zarr"


class Codec(Protocol):
    """What the chunk pipeline needs of a codec (numcodecs' interface)."""

    def encode(self, buf: Any) -> Any: ...

    def decode(self, buf: Any, out: Any = None) -> Any: ...

    def get_config(self) -> dict[str, Any]: ...


def get_codec(config: dict[str, Any], json_path: str) -> Codec:
    """Instantiate the codec for ``config`` (a dict with an ``id``)."""
    from ts_core.plugin import get_registry

    codec_id = config["id"]
    record = get_registry().find("codec", codec_id, CODEC_NAMESPACE)
    try:
        if record is not None:
            codec_class = record.load()
            return codec_class.from_config(dict(config))  # type: ignore[no-any-return]
        import numcodecs
        from numcodecs.errors import UnknownCodecError

        try:
            return numcodecs.get_codec(dict(config))  # type: ignore[no-any-return]
        except UnknownCodecError:
            raise KeyError(codec_id) from None
    except KeyError:
        raise SpecError(f"{json_path}.id", f'"{codec_id}" is not a registered zarr codec') from None
    except (TypeError, ValueError) as exc:
        raise SpecError(json_path, f'invalid "{codec_id}" codec configuration: {exc}') from None
