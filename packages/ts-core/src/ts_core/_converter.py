"""The one cattrs converter that turns validated spec JSON into attrs spec classes."""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs

from ._validation import SpecError, json_path

__all__ = ["converter", "structure_spec", "unstructure_spec"]

T = TypeVar("T")

# Defaults are omitted on output so that to_json() matches what a user would write.
converter = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)


def structure_spec(value: Any, cls: type[T], prefix: str) -> T:
    """Structure validated JSON into ``cls``; errors name the JSON path under ``prefix``."""
    try:
        return converter.structure(value, cls)
    except cattrs.ClassValidationError as group:
        for exc in group.exceptions:
            note = next(iter(getattr(exc, "__notes__", ())), "")
            member = note.split("'")[1] if note.count("'") >= 2 else None
            inner = exc.exceptions[0] if isinstance(exc, cattrs.BaseValidationError) else exc
            raise SpecError(json_path(prefix, [member] if member else []), str(inner)) from None
        raise SpecError(prefix, str(group)) from None
    except (TypeError, ValueError) as exc:
        raise SpecError(prefix, str(exc)) from None


def unstructure_spec(value: Any) -> dict[str, Any]:
    return converter.unstructure(value)  # type: ignore[no-any-return]
