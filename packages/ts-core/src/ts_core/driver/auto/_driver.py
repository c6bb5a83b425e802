"""The ``auto`` driver: detect the format a kvstore holds, then open it with its driver.

Nothing of ``auto`` remains once opened: the TensorStore's driver is the detected one, so
its spec names that driver, as in tensorstore.
"""

from __future__ import annotations

from typing import Any

from ..._validation import SpecError
from ...kvstore import KvStore
from .._driver import Driver
from .._open_spec import open_driver, validate_spec_json
from ._detect import DetectedFormat, detect_format

__all__ = ["AutoDriver"]

#: Members that describe where to look, not the array detected there.
_NOT_PASSED_ON = ("driver", "kvstore", "path", "transform", "context", "create", "delete_existing")
#: Kvstore adapters nested in one another (a zip in a zip ...) before giving up.
MAX_DETECTION_STEPS = 8


def _where(store: KvStore) -> str:
    """Where detection looked, in the words of tensorstore's messages."""
    spec = store.spec().to_json()
    if spec.get("driver") == "file":
        return f'local file "{store.path}"'
    base = spec.get("base")
    if base is not None:
        try:
            base_store = KvStore.open(base).result()
        except ValueError:
            return f'"{store.path}" in {base}'
        return f'"{store.path}" in {_where(base_store)}'
    return f'"{store.path}"'


def _failure(message: str) -> ValueError:
    return ValueError(f'Error opening "auto" driver: {message}')


class AutoDriver(Driver):
    """Never instantiated: ``from_spec`` returns the detected format's driver."""

    id = "auto"

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> Driver:
        if options.create:
            raise ValueError("create mode not compatible with format auto-detection")
        if "kvstore" not in json_value:
            raise SpecError("kvstore", 'the "auto" driver needs a kvstore to detect a format in')
        kvstore_json = dict(json_value["kvstore"])
        if json_value.get("path"):
            from ...kvstore._spec import join_path

            kvstore_json["path"] = join_path(kvstore_json.get("path", ""), json_value["path"])
        store = KvStore.open(kvstore_json, context=context).result()
        for _ in range(MAX_DETECTION_STEPS):
            matches, detected_in = detect_format(store)
            match = cls._single(matches, store)  # messages name the path as given, like tensorstore's
            store = detected_in
            if match.layer == "kvstore_adapter":
                adapted = {**match.spec, "base": store.spec().to_json()}
                store = KvStore.open(adapted, context=context).result()
                continue
            detected = {**match.spec, "kvstore": store.spec().to_json()}
            detected.update((k, v) for k, v in json_value.items() if k not in _NOT_PASSED_ON)
            opened = open_driver(
                validate_spec_json(detected), context=context, transaction=transaction,
                read=options.read, write=options.write,
            )
            return opened.driver
        raise _failure(f"more than {MAX_DETECTION_STEPS} nested formats detected in {_where(store)}")

    @staticmethod
    def _single(matches: list[DetectedFormat], store: KvStore) -> DetectedFormat:
        if not matches:
            raise _failure(f"Failed to detect format for {_where(store)}")
        if len(matches) > 1:
            names = ", ".join(sorted(match.name for match in matches))
            raise _failure(f"Multiple possible formats detected for {_where(store)}: {{{names}}}")
        return matches[0]

    # A Driver's abstract members; never reached, since from_spec returns another driver.
    numpy_dtype = domain = None  # type: ignore[assignment]

    def read(self, transform: Any, transaction: Any) -> Any:
        raise NotImplementedError

    def write(self, transform: Any, source: Any, transaction: Any) -> Any:
        raise NotImplementedError

    def spec_json(self) -> dict[str, Any]:
        raise NotImplementedError
