"""The public names of the tensorstore wheel, and a differential runner for small calls.

:func:`wheel_public_names` lists every public name of the wheel's module and every public
member of its public classes, nested classes included (``KvStore.Spec.copy``).
:func:`compare_call` runs one snippet (api_cases) with ``ts`` bound to the wheel (twice:
what changes between its runs is not compared) and then to ts_core, and lists how the two
differ: a returned value (through ``to_json()`` where the object has one, NumPy values by
dtype, shape and content), its type name and ``repr`` (``tensorstore.`` may read
``ts_core.``, addresses ignored), or the raised exception's type and the shape of its
message: non-empty, and naming at least one of the quoted members or values the wheel's
message names (the field involved).
"""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib
import inspect
import json
import pickle
import re
import threading
import typing
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

WHEEL = "tensorstore"
OURS = "ts_core"

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_QUOTED_MEMBER = re.compile(r'"([A-Za-z_][\w.]*)"')


def _is_public(name: str) -> bool:
    return not name.startswith("_")


@functools.cache
def wheel_public_names() -> tuple[str, ...]:
    """Dotted public names of the wheel: module attributes, then class members."""
    wheel = importlib.import_module(WHEEL)
    names: list[str] = []
    for name in sorted(filter(_is_public, dir(wheel))):
        names.append(name)
        value = getattr(wheel, name)
        if inspect.isclass(value) and value.__module__ == WHEEL:
            names.extend(_members(value, name))
    return tuple(names)


def _members(cls: type, prefix: str) -> list[str]:
    found = []
    for name in sorted(filter(_is_public, dir(cls))):
        found.append(f"{prefix}.{name}")
        value = getattr(cls, name)
        if inspect.isclass(value) and value.__qualname__.startswith(cls.__qualname__ + "."):
            found.extend(_members(value, f"{prefix}.{name}"))
    return found


def lookup(module: ModuleType, dotted: str) -> Any:
    """``module.<dotted>``; raises AttributeError (whatever the lookup raised) if absent."""
    value: Any = module
    for part in dotted.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise
        except Exception as error:  # a lazy import that fails is an absent name
            raise AttributeError(f"{dotted}: {type(error).__name__}: {error}") from error
    return value


def has_name(module: ModuleType, dotted: str) -> bool:
    try:
        lookup(module, dotted)
    except AttributeError:
        return False
    return True


#: Outcomes of this process's tests, for the end-of-run summary: "names", "calls" and
#: "signatures" map an id to whether ts_core agreed.
RESULTS: dict[str, dict[str, bool]] = {"names": {}, "calls": {}, "signatures": {}}


def summary() -> str:
    lines = []
    names, calls = RESULTS["names"], RESULTS["calls"]
    if names:
        lines.append(
            f"public names of the wheel present in ts_core (or absent on purpose): "
            f"{sum(names.values())} of {len(names)} checked ({len(wheel_public_names())} in all)"
        )
    if calls:
        lines.append(
            f"small calls where ts_core agrees with the wheel: {sum(calls.values())} of "
            f"{len(calls)} checked"
        )
    if signatures := RESULTS["signatures"]:
        lines.append(
            f"call signatures ts_core accepts as the wheel does: {sum(signatures.values())} of "
            f"{len(signatures)} checked"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Differential calls


@dataclass
class CallResult:
    value: Any = None
    exception: BaseException | None = None


#: Seconds a case may take before it is reported as hung.
CASE_TIMEOUT = 15.0


class CaseHung(Exception):
    """A case did not finish within CASE_TIMEOUT (its thread is left behind)."""


def run_case(module: ModuleType, code: str, setups: dict[str, str]) -> CallResult:
    """Runs ``code`` (statements, the last one an expression whose value is the result)
    with ``ts`` bound to ``module``, after the setups whose names it uses, in a worker
    thread so that a hang is reported instead of stopping the run."""
    outcome: list[CallResult] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_run_case(module, code, setups)),
        name=f"compat case {code[:40]}",
        daemon=True,
    )
    worker.start()
    worker.join(CASE_TIMEOUT)
    if not outcome:
        return CallResult(exception=CaseHung(f"no result within {CASE_TIMEOUT:g} s"))
    return outcome[0]


def _run_case(module: ModuleType, code: str, setups: dict[str, str]) -> CallResult:
    namespace: dict[str, Any] = {
        "ts": module,
        "np": np,
        "asyncio": asyncio,
        "json": json,
        "pickle": pickle,
        "typing": typing,
    }
    try:
        for name in _needed_setups(code, setups):
            _exec(setups[name], namespace)
        value = _exec(code, namespace)
    except (Exception, asyncio.CancelledError) as error:
        return CallResult(exception=error)
    return CallResult(value=value)


def _needed_setups(code: str, setups: dict[str, str]) -> list[str]:
    """The setups ``code`` reads, each after the setups it reads itself."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(source: str) -> None:
        for node in ast.walk(ast.parse(source)):
            name = node.id if isinstance(node, ast.Name) else None
            if name in setups and name not in ordered and name not in visiting:
                visiting.add(name)
                visit(setups[name])
                ordered.append(name)

    visit(code)
    return ordered


def _exec(code: str, namespace: dict[str, Any]) -> Any:
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        exec(compile(tree, "<case>", "exec"), namespace)
        return eval(compile(ast.Expression(last.value), "<case>", "eval"), namespace)
    exec(compile(tree, "<case>", "exec"), namespace)
    return None


def comparable(value: Any, depth: int = 0) -> Any:
    """A plain value to compare across the libraries, or ``NotImplemented`` when there is
    none (then only type name and repr are compared). Strings name the module as ts does."""
    if depth > 4:
        return NotImplemented
    if isinstance(value, str):
        return value.replace(WHEEL + ".", OURS + ".")
    if value is None or isinstance(value, bool | int | float | bytes | complex):
        return value
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, value.tolist())
    if isinstance(value, np.generic):
        return ("numpy scalar", str(value.dtype), value.item())
    if isinstance(value, tuple | list):
        return type(value).__name__, [comparable(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: comparable(item, depth + 1) for key, item in value.items()}
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        try:
            return ("json", to_json())
        except Exception as error:
            return ("to_json raised", type(error).__name__)
    return NotImplemented


def _agree(wheel: Any, ours: Any) -> bool:
    """Equality of two ``comparable`` values, where the wheel's ``NotImplemented`` parts
    (objects without a plain form) match anything."""
    if wheel is NotImplemented:
        return True
    if isinstance(wheel, tuple | list) and isinstance(ours, tuple | list):
        return len(wheel) == len(ours) and all(map(_agree, wheel, ours))
    if isinstance(wheel, dict) and isinstance(ours, dict):
        return wheel.keys() == ours.keys() and all(_agree(wheel[k], ours[k]) for k in wheel)
    return bool(wheel == ours)


def normalized_repr(value: Any, *, ours: bool) -> str:
    try:
        text = _ADDRESS.sub("0x...", repr(value))
    except Exception as error:
        return f"<repr raised {type(error).__name__}: {error}>"
    return text if ours else text.replace(WHEEL + ".", OURS + ".")


def _short(text: str, limit: int = 160) -> str:
    text = _ADDRESS.sub("0x...", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _named_in_message(message: str) -> list[str]:
    """The quoted JSON members and values a wheel message names, without the spec and
    source location it appends in brackets and the ``Error opening "<driver>" driver``
    context; none for pybind11's signature listings."""
    if "incompatible function arguments" in message or "incompatible constructor" in message:
        return []
    message = re.sub(r"\s*\[(tensorstore_spec|source locations)=.*", "", message, flags=re.DOTALL)
    # The driver named by the context prefix is not the field involved.
    message = re.sub(r'Error opening "[\w.]+" driver: ', "", message)
    return list(dict.fromkeys(_QUOTED_MEMBER.findall(message)))


def differences(
    wheel: CallResult, ours: CallResult, *, compare_value: bool = True, compare_repr: bool = True
) -> list[str]:
    """How ``ours`` differs from ``wheel``; empty when they agree."""
    if wheel.exception is not None:
        expected = type(wheel.exception)
        message = str(wheel.exception)
        if ours.exception is None:
            return [
                f"wheel raises {expected.__name__}: {_short(message)}; "
                f"ts returns {_short(normalized_repr(ours.value, ours=True))}"
            ]
        found = []
        raised = ours.exception
        if not isinstance(raised, expected) and not any(
            cls.__name__ == expected.__name__ for cls in type(raised).__mro__
        ):
            found.append(
                f"raises {type(raised).__name__} ({_short(str(raised), 100)}), "
                f"wheel raises {expected.__name__}"
            )
        ours_message = str(raised)
        if not ours_message.strip():
            found.append("ts's exception message is empty")
        named = _named_in_message(message)
        if named and not found and not any(name in ours_message for name in named):
            found.append(
                f"message names none of {named}: ts {_short(ours_message, 100)!r}; "
                f"wheel {_short(message, 100)!r}"
            )
        return found
    if ours.exception is not None:
        return [
            f"ts raises {type(ours.exception).__name__}: {_short(str(ours.exception))}; "
            f"wheel returns {_short(normalized_repr(wheel.value, ours=False))}"
        ]
    found = []
    wheel_type, ours_type = type(wheel.value).__name__, type(ours.value).__name__
    both_classes = inspect.isclass(wheel.value) and inspect.isclass(ours.value)
    if wheel_type != ours_type and not both_classes:
        found.append(f"returns a {ours_type}, wheel a {wheel_type}")
    wheel_plain, ours_plain = comparable(wheel.value), comparable(ours.value)
    if compare_value and not _agree(wheel_plain, ours_plain):
        found.append(f"value {_short(repr(ours_plain))}, wheel {_short(repr(wheel_plain))}")
    if compare_repr and not found:
        wheel_repr = normalized_repr(wheel.value, ours=False)
        ours_repr = normalized_repr(ours.value, ours=True)
        if wheel_repr != ours_repr:
            shown = normalized_repr(wheel.value, ours=True)  # the wheel's own module name
            found.append(f"repr {_short(ours_repr)}, wheel {_short(shown)}")
    return found


def compare_call(code: str, setups: dict[str, str]) -> list[str]:
    """How ts_core differs from the wheel on ``code``. The wheel runs twice: a value or
    repr that changes between its runs (timestamps, generations) is not compared."""
    wheel = importlib.import_module(WHEEL)
    first = run_case(wheel, code, setups)
    second = run_case(wheel, code, setups)
    stable_value = _agree(comparable(first.value), comparable(second.value))
    stable_repr = normalized_repr(first.value, ours=False) == normalized_repr(
        second.value, ours=False
    )
    ours = run_case(importlib.import_module(OURS), code, setups)
    return differences(second, ours, compare_value=stable_value, compare_repr=stable_repr)
