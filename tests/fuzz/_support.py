"""Shared pieces of the fuzz tests: what counts as a clear error, and JSON strategies.

Every fuzz test feeds hostile input (metadata, chunk bytes, URLs, transform JSON) to a
parser and accepts exactly two outcomes: a result, or one of our clear errors -- a
``ValueError``/``TypeError``/``KeyError``/``IndexError`` (``SpecError``, ``ChunkError``
included) with a message. A programming error (``AttributeError``, ``ZeroDivisionError``,
``struct.error``, ...) anywhere in the raised exception's chain is a bug, even when a
caller wrapped it into a ``ChunkError``.
"""

from __future__ import annotations

import copy
import json
import os
import struct
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Multiplies every fuzz test's example count: a longer session runs with, say,
#: ``HYPOTHESIS_PROFILE=explore TS_FUZZ_SCALE=50`` (docs/security.md, "Fuzzing").
FUZZ_SCALE = int(os.environ.get("TS_FUZZ_SCALE", "1"))


def fuzz_settings(max_examples: int) -> settings:
    """A fuzz test's settings: ``max_examples`` (times ``TS_FUZZ_SCALE``) examples on top of
    the loaded profile, which decides whether they are fixed or fresh."""
    return settings(
        max_examples=max_examples * FUZZ_SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )

#: What a parser may raise on bad input.
CLEAR_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, KeyError, IndexError)

#: Exceptions that mean our code mishandled the input, wherever they appear in the chain
#: (UnicodeDecodeError is a ValueError, but one that leaked from a decode we did not guard).
BUG_ERRORS: tuple[type[BaseException], ...] = (
    AttributeError,
    ZeroDivisionError,
    RecursionError,
    MemoryError,
    struct.error,
    UnicodeDecodeError,
    UnicodeEncodeError,
    OverflowError,
    NameError,
    AssertionError,
    SystemError,
)


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (``__cause__``, else ``__context__``)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def check_clear_error(exc: BaseException, *, allowed: tuple[type[BaseException], ...] = CLEAR_ERRORS) -> None:
    """Fail (re-raising ``exc`` as the cause) unless ``exc`` is a clear error of ours."""
    if not isinstance(exc, allowed):
        raise AssertionError(f"unclear error {type(exc).__name__}: {exc}") from exc
    for link in exception_chain(exc):
        if isinstance(link, BUG_ERRORS):
            raise AssertionError(f"{type(exc).__name__} hides a bug: {type(link).__name__}: {link}") from exc
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    if not str(message).strip():
        raise AssertionError(f"{type(exc).__name__} without a message") from exc


# -- strategies -----------------------------------------------------------------------------------
#: Integers that sit on the edges parsers get wrong: signed/unsigned 64-bit limits and beyond.
EDGE_INTEGERS = st.sampled_from(
    [0, 1, -1, 2, 255, 256, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**62, 2**63 - 2, 2**63 - 1, 2**63,
     2**64 - 1, 2**64, 2**100, 10**400, -(2**63), -(2**63) - 1, -(2**64)]
)
JSON_ATOMS = (
    st.none()
    | st.booleans()
    | st.integers(-10, 100)
    | EDGE_INTEGERS
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", "NaN", "Infinity", "-Infinity", "+inf", "-inf", "/", ".", "..", "c", "0", "|"])
)
#: Any JSON value json.loads can produce (NaN and Infinity included), small and shallow.
JSON_VALUES = st.recursive(
    JSON_ATOMS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list within ``value`` (the root included)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        found.append(path)
        for key, item in value.items():
            found += _containers(item, (*path, key))
    elif isinstance(value, list):
        found.append(path)
        for index, item in enumerate(value):
            found += _containers(item, (*path, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated_json(draw: st.DrawFn, base: Any, member_names: tuple[str, ...] = (), max_mutations: int = 3) -> Any:
    """``base`` with one to ``max_mutations`` members replaced, removed or added.

    Starting from a valid document keeps most examples deep in the parser (a random
    document would stop at the first missing member).
    """
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _containers(document)
        if not paths:
            return draw(JSON_VALUES)
        path = draw(st.sampled_from(paths))
        container = _at(document, path)
        operation = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if isinstance(container, dict):
            keys = list(container)
            if operation == "add" or not keys:
                name = draw(st.sampled_from(member_names) | st.text(max_size=8)) if member_names else draw(st.text(max_size=8))
                container[name] = draw(JSON_VALUES)
            elif operation == "delete":
                del container[draw(st.sampled_from(keys))]
            else:
                container[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
        else:
            if operation == "add" or not container:
                container.insert(draw(st.integers(0, len(container))), draw(JSON_VALUES))
            elif operation == "delete":
                del container[draw(st.integers(0, len(container) - 1))]
            else:
                container[draw(st.integers(0, len(container) - 1))] = draw(JSON_VALUES)
    return document


@st.composite
def mutated_bytes(draw: st.DrawFn, base: bytes, max_size: int = 256) -> bytes:
    """``base`` with bytes flipped, cut, inserted or appended (or replaced wholesale)."""
    data = bytearray(base)
    choice = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "append", "random"]))
    if choice == "random" or not data:
        return draw(st.binary(max_size=max_size))
    if choice == "flip":
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] = draw(st.integers(0, 255))
    elif choice == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif choice == "insert":
        position = draw(st.integers(0, len(data)))
        data[position:position] = draw(st.binary(min_size=1, max_size=16))
    else:
        data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@st.composite
def document_bytes(draw: st.DrawFn, base: Any, member_names: tuple[str, ...] = ()) -> bytes:
    """A stored metadata object: the mutated valid document as JSON text, often, else its
    bytes damaged (bad UTF-8, truncation), else random bytes."""
    kind = draw(st.sampled_from(["json", "json", "json", "damaged", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=64))
    document = draw(mutated_json(base, member_names))
    text = json.dumps(document).encode()
    if kind == "damaged":
        return draw(mutated_bytes(text))
    return text
