"""Call signatures of the tensorstore wheel (from its pybind11 docstrings) against ts_core's.

Code written for tensorstore passes arguments by position and by keyword; ts must accept
the same calls. For every public function, method and constructor of the wheel,
:func:`signature_differences` checks ts_core's ``inspect.signature``:

* each parameter the wheel takes is accepted by ts under the same name (as a keyword), and,
  for a wheel parameter that can be passed by position, at the same position;
* a parameter the wheel lets callers omit (it has a default) may be omitted on ts too;
* ts requires no parameter the wheel does not have.

A ts signature with ``*args``/``**kwargs`` accepts anything it does not name, so those
checks pass for it. For overloaded wheel functions (several signatures) only the keyword
names are checked: positions differ between the overloads.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

from compat_api import OURS, WHEEL, lookup, wheel_public_names

_SIGNATURE_LINE = r"^(?:\d+\. )?{name}\((?P<params>.*)\)(?: -> .*)?$"


@dataclass(frozen=True)
class WheelParameter:
    name: str
    has_default: bool
    keyword_only: bool


def _split_top_level(text: str) -> list[str]:
    parts, depth, current, quote = [], 0, [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _parse(params: str) -> list[WheelParameter] | None:
    """Parameters of one pybind11 signature, without ``self``; None for ``*args, **kwargs``."""
    found: list[WheelParameter] = []
    keyword_only = False
    for part in _split_top_level(params):
        if part == "*":
            keyword_only = True
            continue
        if part.startswith("*") or part == "/":
            return None if part.startswith("*") else found
        name = part.split(":", 1)[0].split("=", 1)[0].strip()
        if name in ("self", "cls"):
            continue
        has_default = " = " in part  # pybind11 writes defaults as ``name: type = value``
        found.append(WheelParameter(name, has_default, keyword_only))
    return found


def wheel_signatures(obj: Any, name: str) -> list[list[WheelParameter]]:
    """Every signature the wheel documents for ``obj`` (several when overloaded)."""
    doc = getattr(obj, "__doc__", None) or ""
    pattern = re.compile(_SIGNATURE_LINE.format(name=re.escape(name)), re.MULTILINE)
    signatures = [_parse(match["params"]) for match in pattern.finditer(doc)]
    return [signature for signature in signatures if signature is not None]


@functools.cache
def checked_callables() -> dict[str, tuple[Any, str]]:
    """Dotted name -> (wheel object, name in its signature line) for every public routine
    of the wheel and every public class's constructor (``Dim.__init__``)."""
    wheel = importlib.import_module(WHEEL)
    found: dict[str, tuple[Any, str]] = {}
    for dotted in wheel_public_names():
        value = lookup(wheel, dotted)
        if inspect.isclass(value) and getattr(value, "__module__", "") == WHEEL:
            init = vars(value).get("__init__")
            if init is not None and wheel_signatures(init, "__init__"):
                found[f"{dotted}.__init__"] = (init, "__init__")
        elif callable(value) and not inspect.isclass(value):
            leaf = dotted.rsplit(".", 1)[-1]
            if wheel_signatures(value, leaf):
                found[dotted] = (value, leaf)
    return found


def _ours_signature(dotted: str) -> inspect.Signature:
    ours = importlib.import_module(OURS)
    if dotted.endswith(".__init__"):
        return inspect.signature(lookup(ours, dotted.removesuffix(".__init__")))
    owner_name, _, leaf = dotted.rpartition(".")
    obj = lookup(ours, dotted)
    signature = inspect.signature(obj)
    owner = lookup(ours, owner_name) if owner_name else None
    if inspect.isclass(owner) and inspect.isfunction(inspect.getattr_static(owner, leaf)):
        # A plain method looked up on its class: drop ``self``.
        parameters = list(signature.parameters.values())[1:]
        signature = signature.replace(parameters=parameters)
    return signature


def signature_differences(dotted: str) -> list[str]:
    wheel_obj, leaf = checked_callables()[dotted]
    overloads = wheel_signatures(wheel_obj, leaf)
    try:
        ours = _ours_signature(dotted)
    except (AttributeError, ValueError, TypeError) as error:
        return [f"no signature on ts: {type(error).__name__}: {str(error)[:100]}"]
    kinds = inspect.Parameter
    params = list(ours.parameters.values())
    by_name = {p.name: p for p in params if p.kind is not kinds.POSITIONAL_ONLY}
    var_keyword = any(p.kind is kinds.VAR_KEYWORD for p in params)
    positional = [
        p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    found: list[str] = []
    for signature in overloads:
        for index, wheel_param in enumerate(signature):
            ours_param = by_name.get(wheel_param.name)
            if ours_param is None:
                if not var_keyword:
                    found.append(f"no parameter {wheel_param.name!r}")
                continue
            if ours_param.kind is kinds.POSITIONAL_ONLY:
                found.append(f"{wheel_param.name!r} cannot be passed by keyword")
            if len(overloads) > 1 or wheel_param.keyword_only:
                continue
            if ours_param.kind is kinds.KEYWORD_ONLY:
                found.append(f"{wheel_param.name!r} is keyword-only on ts, positional on the wheel")
            elif index < len(positional) and positional[index] != wheel_param.name:
                found.append(
                    f"positional parameter {index + 1} is {positional[index]!r} on ts, "
                    f"{wheel_param.name!r} on the wheel"
                )
            if wheel_param.has_default and ours_param.default is kinds.empty:
                found.append(f"{wheel_param.name!r} is optional on the wheel, required on ts")
    if len(overloads) == 1:
        wheel_names = {param.name for param in overloads[0]}
        for param in params:
            required = param.default is kinds.empty and param.kind not in (
                kinds.VAR_POSITIONAL,
                kinds.VAR_KEYWORD,
            )
            if required and param.name not in wheel_names:
                found.append(f"ts requires {param.name!r}, which the wheel does not have")
    return list(dict.fromkeys(found))
