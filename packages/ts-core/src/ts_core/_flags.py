"""tensorstore's process-wide flags: verbose logging and ``parse_tensorstore_flags``.

ts logs through :mod:`logging`, one logger per component (``ts_cloud.gcs``, ...). A verbose
logging flag ``name`` (or ``name=level``) turns on DEBUG output of the ts loggers for that
component, which is what tensorstore's ``--tensorstore_verbose_logging`` does for its own.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence

__all__ = [
    "VERBOSE_LOGGING_ENV_VAR",
    "apply_environment",
    "experimental_update_verbose_logging",
    "parse_tensorstore_flags",
    "verbose_logging_flags",
]

#: The ts distributions whose ``<distribution>.<component>`` loggers a flag reaches.
_PACKAGES = ("ts_core", "ts_zarr", "ts_n5", "ts_cloud", "ts_ocdbt")
#: Components whose messages come from a logger named otherwise (HTTP retries: ``ts_cloud``).
_EXTRA_LOGGERS = {"http": ("ts_cloud",), "curl": ("ts_cloud",)}

_lock = threading.Lock()
_flags: dict[str, int] = {}
_handler: logging.Handler | None = None


def _parse(flags: str) -> dict[str, int]:
    if not isinstance(flags, str):
        raise TypeError(f"flags: expected str, but received {type(flags).__name__}")
    parsed: dict[str, int] = {}
    for item in flags.split(","):
        name, _, level = item.strip().partition("=")
        if not name:
            continue
        try:
            parsed[name] = int(level) if level else 0
        except ValueError:
            raise ValueError(f"verbose logging flag {item.strip()!r}: the level must be an integer") from None
    return parsed


def _loggers(name: str) -> list[logging.Logger]:
    names = [f"{package}.{name}" for package in _PACKAGES] + list(_EXTRA_LOGGERS.get(name, ()))
    return [logging.getLogger(logger_name) for logger_name in names]


def _enabled_logger_names() -> set[str]:
    return {logger.name for name, level in _flags.items() if level >= 0 for logger in _loggers(name)}


class _VerboseFilter(logging.Filter):
    """Lets through what the flags turned on (and warnings, which Python prints anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        enabled = _enabled_logger_names()
        return any(record.name == name or record.name.startswith(name + ".") for name in enabled)


def _apply(old: dict[str, int], new: dict[str, int]) -> None:
    global _handler
    for name in old.keys() - new.keys():
        for logger in _loggers(name):
            logger.setLevel(logging.NOTSET)
    for name, level in new.items():
        for logger in _loggers(name):
            logger.setLevel(logging.DEBUG if level >= 0 else logging.NOTSET)
    # Print somewhere, as tensorstore does, unless the application configured logging: one
    # handler on each distribution's root logger, so a message is printed once.
    if new and _handler is None and not logging.getLogger().handlers:
        _handler = logging.StreamHandler(sys.stderr)
        _handler.setFormatter(logging.Formatter("%(levelname).1s %(asctime)s %(name)s] %(message)s"))
        _handler.addFilter(_VerboseFilter())
        for package in _PACKAGES:
            logging.getLogger(package).addHandler(_handler)


def experimental_update_verbose_logging(flags: str = "", overwrite: bool = False) -> None:
    """Turn on verbose (DEBUG) logging for the comma-separated components in ``flags``
    (``"gcs,http=1"``); with ``overwrite`` the components not named are turned off."""
    parsed = _parse(flags)
    with _lock:
        old = dict(_flags)
        if overwrite:
            _flags.clear()
        _flags.update(parsed)
        _apply(old, dict(_flags))


def verbose_logging_flags() -> dict[str, int]:
    """The verbose logging components now on, with their levels (a ts extension)."""
    with _lock:
        return dict(_flags)


#: ``--tensorstore_<name>`` flags and what ts does with them.
_VERBOSE_FLAG = "tensorstore_verbose_logging"
#: The environment variable tensorstore reads its verbose logging flags from at startup.
VERBOSE_LOGGING_ENV_VAR = "TENSORSTORE_VERBOSE_LOGGING"


def apply_environment() -> None:
    """Apply ``TENSORSTORE_VERBOSE_LOGGING`` (done when ``ts_core`` is imported with it set)."""
    flags = os.environ.get(VERBOSE_LOGGING_ENV_VAR, "")
    if flags:
        experimental_update_verbose_logging(flags)


def parse_tensorstore_flags(argv: Sequence[str]) -> None:
    """Apply the ``--tensorstore_*`` flags in ``argv`` (``sys.argv``: program name first).

    Flags of other programs are ignored, as tensorstore ignores them. A tensorstore flag ts
    has no equivalent for raises NotImplementedError naming it rather than being dropped.
    """
    if isinstance(argv, str) or not all(isinstance(arg, str) for arg in argv):
        raise TypeError("argv: expected a sequence of str, such as sys.argv")
    if not argv:
        raise ValueError("argv: expected at least the program name (argv[0])")
    arguments = list(argv[1:])
    unsupported = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        index += 1
        if argument == "--":
            break
        name, has_value, value = argument.lstrip("-").partition("=")
        if not argument.startswith("-") or not name.startswith("tensorstore_"):
            continue
        if name == _VERBOSE_FLAG:
            if not has_value and index < len(arguments) and not arguments[index].startswith("-"):
                value = arguments[index]
                index += 1
            experimental_update_verbose_logging(value, overwrite=True)
        else:
            unsupported.append(name)
    if unsupported:
        raise NotImplementedError(
            f"tensorstore flag(s) {', '.join('--' + name for name in unsupported)} have no ts equivalent; "
            f"only --{_VERBOSE_FLAG} is supported (ts configures HTTP and cloud access through Context resources)"
        )
