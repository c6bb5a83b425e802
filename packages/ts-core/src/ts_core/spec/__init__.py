"""ts.Spec and URL parsing for TensorStore specs."""

from ._spec import OPEN_MODE_MEMBERS, Spec, apply_open_options, parse_spec_json

__all__ = ["OPEN_MODE_MEMBERS", "Spec", "apply_open_options", "parse_spec_json"]
